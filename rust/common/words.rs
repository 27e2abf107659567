// SPDX-License-Identifier: GPL-2.0

//! The words of a request written to a debugfs control file, of either
//! module: `key=value` words separated by white space, keys in any order,
//! each at most once, and the numbers in them.
//!
//! This file uses only `core`, so the host test crate (`rust/request-tests`)
//! compiles and tests the same source.

/// Why a request was rejected. All of these are `EINVAL` to the writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParseError {
    /// A word that is not `key=value`, or a key not accepted here.
    UnknownKey,
    /// A key given twice.
    DuplicateKey,
    /// A required key is missing.
    MissingKey,
    /// A value that is not a number of the right kind or size.
    BadNumber,
    /// A node id outside `0..nr_node_ids`.
    NodeOutOfRange,
    /// An address that is not page-aligned or not below the user limit.
    BadAddress,
    /// `start` is not below `end`.
    EmptyRange,
    /// The request is longer than [`MAX_REQUEST`] or is not text.
    TooLong,
    /// `levels=` names an unknown level, one twice, or none.
    BadLevels,
    /// `zone=` is neither `dma32` nor `normal`.
    BadZone,
}

/// The longest request accepted, in bytes.
pub(crate) const MAX_REQUEST: usize = 256;

/// Up to this many keys per request.
const MAX_KEYS: usize = 8;

/// The words of a request, checked against the keys a file accepts.
pub(crate) struct Words<'a> {
    values: [Option<&'a str>; MAX_KEYS],
}

impl<'a> Words<'a> {
    pub(crate) fn parse(input: &'a [u8], keys: &[&str]) -> Result<Self, ParseError> {
        debug_assert!(keys.len() <= MAX_KEYS);
        if input.len() > MAX_REQUEST {
            return Err(ParseError::TooLong);
        }
        let text = core::str::from_utf8(input).map_err(|_| ParseError::TooLong)?;
        let mut values = [None; MAX_KEYS];
        for word in text.split_ascii_whitespace() {
            let (key, value) = word.split_once('=').ok_or(ParseError::UnknownKey)?;
            let slot = keys
                .iter()
                .position(|k| *k == key)
                .ok_or(ParseError::UnknownKey)?;
            if values[slot].is_some() {
                return Err(ParseError::DuplicateKey);
            }
            values[slot] = Some(value);
        }
        Ok(Self { values })
    }

    pub(crate) fn get(&self, slot: usize) -> Option<&'a str> {
        self.values[slot]
    }

    pub(crate) fn require(&self, slot: usize) -> Result<&'a str, ParseError> {
        self.get(slot).ok_or(ParseError::MissingKey)
    }
}

/// Parses an unsigned number: decimal, or hexadecimal with a `0x` prefix.
/// No sign, no white space, no empty digits, no overflow.
pub(crate) fn parse_u64(s: &str) -> Result<u64, ParseError> {
    let (digits, radix) = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None => (s, 10),
    };
    if digits.is_empty() || !digits.bytes().all(|b| (b as char).is_digit(radix)) {
        return Err(ParseError::BadNumber);
    }
    u64::from_str_radix(digits, radix).map_err(|_| ParseError::BadNumber)
}

/// Parses a process id: a positive decimal `pid_t`.
pub(crate) fn parse_pid(s: &str) -> Result<i32, ParseError> {
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::BadNumber);
    }
    match parse_u64(s)? {
        pid @ 1..=0x7fff_ffff => Ok(pid as i32),
        _ => Err(ParseError::BadNumber),
    }
}

/// Parses a node id and checks it against the number of possible node ids.
pub(crate) fn parse_node(s: &str, nr_node_ids: u32) -> Result<i32, ParseError> {
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::BadNumber);
    }
    let node = parse_u64(s)?;
    if node >= u64::from(nr_node_ids) {
        return Err(ParseError::NodeOutOfRange);
    }
    Ok(node as i32)
}
