// SPDX-License-Identifier: GPL-2.0

//! Parsing of the requests written to the debugfs control files.
//!
//! A request is a set of `key=value` words separated by white space, keys in
//! any order, each at most once. This file uses only `core`, so the host test
//! crate (`rust/request-tests`) compiles and tests the same source.

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

/// Limits a request is checked against, taken from the running kernel.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// `nr_node_ids`.
    pub(crate) nr_node_ids: u32,
    /// `PAGE_SIZE`.
    pub(crate) page_size: u64,
    /// The top of the user address space (`TASK_SIZE_MAX`).
    pub(crate) user_end: u64,
    /// One past the highest page frame number (`max_pfn`).
    pub(crate) max_pfn: u64,
}

/// Page-table levels whose tables a request moves: a set of [`Level`]s.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Levels(u8);

/// A level whose tables can move. The PGD cannot: see `Documentation/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    /// Last-level tables, pointed to by PMD entries.
    Pte,
    /// PMD tables, pointed to by PUD entries.
    Pmd,
    /// PUD tables, pointed to by P4D (with 4-level paging, PGD) entries.
    Pud,
}

impl Level {
    /// Every level, in the order a request moves them: the lower tables
    /// first, while the upper tables that lead to them stay put.
    pub(crate) const ALL: [Level; 3] = [Level::Pte, Level::Pmd, Level::Pud];

    /// The name used in requests and reports.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Level::Pte => "pte",
            Level::Pmd => "pmd",
            Level::Pud => "pud",
        }
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl Levels {
    /// All three levels, the default.
    pub(crate) const ALL: Levels = Levels(0b111);

    /// The set whose [`Level::ALL`] members are the bits of `mask`, bit 0
    /// for PTE; `None` if `mask` has other bits.
    pub(crate) fn from_mask(mask: u32) -> Option<Self> {
        (mask <= u32::from(Self::ALL.0)).then_some(Levels(mask as u8))
    }

    pub(crate) fn contains(self, level: Level) -> bool {
        self.0 & level.bit() != 0
    }

    /// The levels in the set, in [`Level::ALL`] order.
    pub(crate) fn iter(self) -> impl Iterator<Item = Level> {
        Level::ALL.into_iter().filter(move |l| self.contains(*l))
    }

    /// The value of an optional `levels=` key: all levels when absent.
    fn parse_or_all(s: Option<&str>) -> Result<Self, ParseError> {
        s.map_or(Ok(Levels::ALL), Levels::parse)
    }

    /// Parses `pte,pmd,pud` or any non-empty subset, each at most once, in
    /// any order.
    pub(crate) fn parse(s: &str) -> Result<Self, ParseError> {
        let mut set = 0u8;
        for name in s.split(',') {
            let level = Level::ALL
                .into_iter()
                .find(|l| l.name() == name)
                .ok_or(ParseError::BadLevels)?;
            if set & level.bit() != 0 {
                return Err(ParseError::BadLevels);
            }
            set |= level.bit();
        }
        Ok(Levels(set))
    }
}

/// A zone of the target node that new tables must come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Zone {
    /// `ZONE_DMA32`: below 4 GiB.
    Dma32,
    /// `ZONE_NORMAL`: above 4 GiB on x86-64.
    Normal,
}

impl Zone {
    /// The name used in requests and reports.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Zone::Dma32 => "dma32",
            Zone::Normal => "normal",
        }
    }

    fn parse(s: &str) -> Result<Self, ParseError> {
        [Zone::Dma32, Zone::Normal]
            .into_iter()
            .find(|z| z.name() == s)
            .ok_or(ParseError::BadZone)
    }
}

/// `pid=<pid> node=<nid> [start=<addr>] [end=<addr>] [levels=<list>]
/// [zone=<zone>]`, written to `relocate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RelocateRequest {
    /// The process whose page tables move.
    pub(crate) pid: i32,
    /// The node they move to.
    pub(crate) node: i32,
    /// First byte of the user range (page-aligned; default 0).
    pub(crate) start: u64,
    /// End of the user range, exclusive (page-aligned; default the user limit).
    pub(crate) end: u64,
    /// The levels to move (default all).
    pub(crate) levels: Levels,
    /// The zone of `node` to move them to (default any).
    pub(crate) zone: Option<Zone>,
}

impl RelocateRequest {
    /// Parses a `relocate` request.
    pub(crate) fn parse(input: &[u8], limits: &Limits) -> Result<Self, ParseError> {
        const KEYS: [&str; 6] = ["pid", "node", "start", "end", "levels", "zone"];
        let words = Words::parse(input, &KEYS)?;
        let pid = parse_pid(words.require(0)?)?;
        let node = parse_node(words.require(1)?, limits.nr_node_ids)?;
        let start = words.get(2).map_or(Ok(0), parse_u64)?;
        let end = words.get(3).map_or(Ok(limits.user_end), parse_u64)?;
        let levels = Levels::parse_or_all(words.get(4))?;
        let zone = words.get(5).map(Zone::parse).transpose()?;
        Self::new(pid, node, start..end, levels, zone, limits)
    }

    /// A request from its parts, checked as [`parse`](Self::parse) checks
    /// them; the in-kernel API builds requests with it.
    pub(crate) fn new(
        pid: i32,
        node: i32,
        range: core::ops::Range<u64>,
        levels: Levels,
        zone: Option<Zone>,
        limits: &Limits,
    ) -> Result<Self, ParseError> {
        if pid <= 0 {
            return Err(ParseError::BadNumber);
        }
        if node < 0 || node as u32 >= limits.nr_node_ids {
            return Err(ParseError::NodeOutOfRange);
        }
        for addr in [range.start, range.end] {
            if addr.checked_rem(limits.page_size) != Some(0) || addr > limits.user_end {
                return Err(ParseError::BadAddress);
            }
        }
        if range.start >= range.end {
            return Err(ParseError::EmptyRange);
        }
        if levels == Levels::default() {
            return Err(ParseError::BadLevels);
        }
        Ok(Self {
            pid,
            node,
            start: range.start,
            end: range.end,
            levels,
            zone,
        })
    }
}

/// `pfn_start=<pfn> pfn_end=<pfn> [node=<nid>] [levels=<list>] [zone=<zone>]`,
/// written to `evacuate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EvacuateRequest {
    /// The physical range to empty of user page tables, in page frames.
    pub(crate) pfn_start: u64,
    pub(crate) pfn_end: u64,
    /// Where the tables go (default: the nearest node with memory outside
    /// the range).
    pub(crate) node: Option<i32>,
    /// The levels to move (default all).
    pub(crate) levels: Levels,
    /// The zone of the node to move them to (default any).
    pub(crate) zone: Option<Zone>,
}

impl EvacuateRequest {
    /// Parses an `evacuate` request.
    pub(crate) fn parse(input: &[u8], limits: &Limits) -> Result<Self, ParseError> {
        const KEYS: [&str; 5] = ["pfn_start", "pfn_end", "node", "levels", "zone"];
        let words = Words::parse(input, &KEYS)?;
        let pfn_start = parse_u64(words.require(0)?)?;
        let pfn_end = parse_u64(words.require(1)?)?;
        if pfn_end > limits.max_pfn {
            return Err(ParseError::BadAddress);
        }
        if pfn_start >= pfn_end {
            return Err(ParseError::EmptyRange);
        }
        let node = words
            .get(2)
            .map(|s| parse_node(s, limits.nr_node_ids))
            .transpose()?;
        let levels = Levels::parse_or_all(words.get(3))?;
        let zone = words.get(4).map(Zone::parse).transpose()?;
        Ok(Self {
            pfn_start,
            pfn_end,
            node,
            levels,
            zone,
        })
    }
}

/// `pid=<pid>`, written to `census`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CensusRequest {
    /// The process whose page tables are counted.
    pub(crate) pid: i32,
}

impl CensusRequest {
    /// Parses a `census` request.
    pub(crate) fn parse(input: &[u8]) -> Result<Self, ParseError> {
        let words = Words::parse(input, &["pid"])?;
        Ok(Self {
            pid: parse_pid(words.require(0)?)?,
        })
    }
}

/// Parses the value written to `batch`: tables per mmap-lock hold.
pub(crate) fn parse_batch(input: &[u8], max: u64) -> Result<usize, ParseError> {
    if input.len() > MAX_REQUEST {
        return Err(ParseError::TooLong);
    }
    let text = core::str::from_utf8(input).map_err(|_| ParseError::TooLong)?;
    let mut words = text.split_ascii_whitespace();
    let value = words.next().ok_or(ParseError::MissingKey)?;
    if words.next().is_some() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::BadNumber);
    }
    match parse_u64(value)? {
        n @ 1.. if n <= max => Ok(n as usize),
        _ => Err(ParseError::BadNumber),
    }
}
