// SPDX-License-Identifier: GPL-2.0

//! The `pause` file: a relocation that stops between collecting its table
//! and installing it, so that a test can change the page tables in that
//! window, as file THP collapse (`retract_page_tables`, under the rmap and
//! PMD locks only) or a PT_RECLAIM zap may; ptreloc's re-check under the
//! PMD lock must then leave the table alone.
//!
//! Write `pid=<pid> addr=<addr> node=<node>`: the PTE table that maps `addr`
//! in process `pid` moves to `node` (as for `flush_probe`), and the write
//! returns when that is done. The relocation waits at the pause, holding
//! the process's mmap lock, until `resume` is written on another open file,
//! for at most [`PAUSE_MS`]. Read back on the same open file: `moved <n>`,
//! `skipped <n>` and `resumed <0|1>` (0: the pause timed out). Read on a
//! file that ran none: `paused <0|1>`, whether a relocation waits now.
//! One relocation at a time (`EBUSY`).

use core::fmt::Write;
use core::sync::atomic::{AtomicU8, Ordering::SeqCst};

use kernel::bindings;
use kernel::ffi::c_void;
use kernel::prelude::*;

use crate::abi::PtrelocAdLog;
use crate::probe::TableMove;
use crate::text::TextBuf;

/// The longest a relocation waits at the pause.
const PAUSE_MS: u32 = 10_000;

/// Where the one relocation that may use the pause is.
const IDLE: u8 = 0;
const RUNNING: u8 = 1;
const PAUSED: u8 = 2;
const RESUMED: u8 = 3;

static STAGE: AtomicU8 = AtomicU8::new(IDLE);

/// What a paused relocation did.
#[derive(Clone, Copy)]
pub(crate) struct Paused {
    moved: u64,
    skipped: u64,
    resumed: bool,
}

/// The hook ptreloc calls between collecting and installing.
extern "C" fn wait_for_resume(_ctx: *mut c_void) {
    STAGE.store(PAUSED, SeqCst);
    for _ in 0..PAUSE_MS {
        if STAGE.load(SeqCst) == RESUMED {
            return;
        }
        // SAFETY: process context; only sleeping locks (the mmap lock, VMA
        // locks) are held here, by the contract of the hook.
        unsafe { bindings::schedule_timeout_uninterruptible(bindings::__msecs_to_jiffies(1) as _) };
    }
}

/// `resume`: lets the paused relocation go on.
pub(crate) fn resume() -> Result {
    STAGE
        .compare_exchange(PAUSED, RESUMED, SeqCst, SeqCst)
        .map(|_| ())
        .map_err(|_| EINVAL)
}

impl Paused {
    /// Parses and runs one relocation with a pause.
    pub(crate) fn run(input: &[u8]) -> Result<Self> {
        let table = TableMove::parse(input)?;
        STAGE
            .compare_exchange(IDLE, RUNNING, SeqCst, SeqCst)
            .map_err(|_| EBUSY)?;
        let mut log = PtrelocAdLog {
            pause: Some(wait_for_resume),
            ..Default::default()
        };
        let out = table.run(&mut log);
        let resumed = STAGE.swap(IDLE, SeqCst) == RESUMED;
        out.map(|out| Self {
            moved: out.moved[0],
            skipped: out.skipped,
            resumed,
        })
    }

    pub(crate) fn format(this: Option<&Self>, out: &mut TextBuf) -> Result {
        (|| -> core::fmt::Result {
            let Some(p) = this else {
                return writeln!(out, "paused {}", u8::from(STAGE.load(SeqCst) == PAUSED));
            };
            writeln!(out, "moved {}", p.moved)?;
            writeln!(out, "skipped {}", p.skipped)?;
            writeln!(out, "resumed {}", u8::from(p.resumed))
        })()
        .map_err(|_| ENOMEM)
    }
}
