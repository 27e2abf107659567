// SPDX-License-Identifier: GPL-2.0

//! The requests written to ptreloc's debugfs control files.
//!
//! Built from the words and numbers of `words.rs`. This file uses only
//! `core`, so the host test crate (`rust/request-tests`) compiles and tests
//! the same source.

use crate::level::Levels;
use crate::words::{parse_node, parse_pid, parse_u64, ParseError, Words, MAX_REQUEST};

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
        // A range may end past memory (whole memory blocks; evacuate clamps
        // it), but must start inside it.
        if pfn_start >= limits.max_pfn {
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
