// SPDX-License-Identifier: GPL-2.0

//! The `flush_probe` file: proof that a batch's TLB flush reaches the other
//! CPUs.
//!
//! Write `pid=<pid> addr=<addr> node=<node>`: the PTE table that maps
//! `addr` in process `pid` moves to `node`, and between its install and the
//! flush, ptreloc clears the Accessed bit of `addr`'s entry in both tables
//! (`PtrelocAdLog::age`). A thread of the process spinning on `addr` on
//! another CPU keeps its cached translation, and so never sets the bit
//! again, unless the flush reached its CPU. Read back, on the same open
//! file, `moved <n>`, `aged <0|1>` and `accessed <0|1>`: the bit as it is
//! at the time of the read.

use core::fmt::Write;

use kernel::bindings;
use kernel::prelude::*;

use crate::abi::{PtrelocAdLog, PtrelocOutcome, PtrelocRequest, LEVEL_PTE};
use crate::sys;
use crate::text::TextBuf;
use crate::words::{parse_node, parse_pid, parse_u64, ParseError, Words};
use crate::x86::{PAGE_SIZE, PMD_SIZE, PTE_ACCESSED};

/// A probe that ran: what to read back.
#[derive(Clone, Copy)]
pub(crate) struct Probe {
    pid: i32,
    addr: u64,
    moved: u64,
    aged: bool,
}

/// One page-table move that a probe makes: `pid=<pid> addr=<addr>
/// node=<node>` names the PTE table that maps `addr` in process `pid` and
/// the node it moves to.
pub(crate) struct TableMove {
    pub(crate) pid: i32,
    pub(crate) addr: u64,
    node: i32,
}

impl TableMove {
    pub(crate) fn parse(input: &[u8]) -> Result<Self> {
        const KEYS: [&str; 3] = ["pid", "addr", "node"];
        // SAFETY: fixed after boot.
        let nr_node_ids = unsafe { bindings::nr_node_ids };
        let parse = || -> Result<Self, ParseError> {
            let words = Words::parse(input, &KEYS)?;
            let addr = parse_u64(words.require(1)?)?;
            if addr == 0 || addr % PAGE_SIZE as u64 != 0 {
                return Err(ParseError::BadAddress);
            }
            Ok(Self {
                pid: parse_pid(words.require(0)?)?,
                addr,
                node: parse_node(words.require(2)?, nr_node_ids)?,
            })
        };
        parse().map_err(|_| EINVAL)
    }

    /// Moves the table, in one batch, with the test hooks of `log`.
    pub(crate) fn run(&self, log: &mut PtrelocAdLog) -> Result<PtrelocOutcome> {
        let start = self.addr & !(PMD_SIZE as u64 - 1);
        let req = PtrelocRequest {
            pid: self.pid,
            node: self.node,
            start,
            end: start + PMD_SIZE as u64,
            levels: LEVEL_PTE,
            batch: 1,
            inject: log,
        };
        let mut out = PtrelocOutcome::default();
        // SAFETY: `req`, `out` and the log (the caller's: no records) are
        // valid and ours for the call.
        match unsafe { sys::ptreloc_relocate(&req, &mut out) } {
            0 => Ok(out),
            ret => Err(Error::from_errno(ret)),
        }
    }
}

impl Probe {
    /// Parses and runs one probe.
    pub(crate) fn run(input: &[u8]) -> Result<Self> {
        let table = TableMove::parse(input)?;
        let mut log = PtrelocAdLog {
            age: table.addr,
            ..Default::default()
        };
        let out = table.run(&mut log)?;
        Ok(Self {
            pid: table.pid,
            addr: table.addr,
            moved: out.moved[0],
            aged: log.aged != 0,
        })
    }

    pub(crate) fn format(&self, out: &mut TextBuf) -> Result {
        let mut entry = 0;
        // SAFETY: `entry` is ours.
        let ret =
            unsafe { sys::ptreloc_read_entry(self.pid, LEVEL_PTE, self.addr as _, &mut entry) };
        if ret != 0 {
            return Err(Error::from_errno(ret));
        }
        let accessed = entry & PTE_ACCESSED != 0;
        (|| -> core::fmt::Result {
            writeln!(out, "moved {}", self.moved)?;
            writeln!(out, "aged {}", u8::from(self.aged))?;
            writeln!(out, "accessed {}", u8::from(accessed))
        })()
        .map_err(|_| ENOMEM)
    }
}
