// SPDX-License-Identifier: GPL-2.0

//! Step 6 of the protocol: the Accessed/Dirty bits that CPUs set in an old
//! table before the flush, carried over to its replacement. `inject.rs`
//! sets such bits on purpose, to prove this.

use core::sync::atomic::{AtomicU64, Ordering};

use super::page::Table;
use crate::x86::{walker_change, WalkerChange, PTE_DIRTY, PTRS_PER_TABLE};

/// What reconciling a replaced table with its replacement found.
#[derive(Default, Clone, Copy)]
pub(crate) struct Carried {
    /// Entries whose Accessed or Dirty bit was set in the old table only.
    pub(crate) entries: u64,
    /// Of those bits, how many were Dirty.
    pub(crate) dirty: u64,
    /// Entries that differ in anything else: a bug, reported with a WARN.
    pub(crate) anomalies: u64,
}

/// Carries over Accessed/Dirty bits that CPUs set in `old` after it was
/// copied, through paging-structure caches that still pointed to it (the
/// dirty-bit race). Without this, reclaim could find the new entry clean and
/// drop the data written through the old one. At the upper levels the CPU
/// sets Accessed in entries that point to tables, and Accessed/Dirty in huge
/// page (leaf) entries: the same bits, carried the same way.
///
/// # Safety
///
/// `new` must have replaced `old` in the page tables, every CPU that may
/// hold translations through `old` must have been flushed since, and every
/// other made to flush before it runs the mm (so nothing writes to `old` any
/// more), and the
/// caller must hold the locks that keep software from changing either.
pub(crate) unsafe fn reconcile(old: Table, new: Table) -> Carried {
    let mut found = Carried::default();
    let (src, dst) = (old.page().entries(), new.page().entries());
    for i in 0..PTRS_PER_TABLE {
        // SAFETY: both tables are live pages of PTRS_PER_TABLE entries.
        let (was, is) = unsafe { (src.add(i).read_volatile(), dst.add(i).read_volatile()) };
        match walker_change(was, is) {
            WalkerChange::Nothing | WalkerChange::KnlErratum => {}
            WalkerChange::Anomaly => found.anomalies += 1,
            WalkerChange::Carry(missing) => {
                // The CPU may be setting A/D in the new entry right now: OR
                // atomically, like the page walker does.
                // SAFETY: an aligned, live u64 that is only accessed
                // atomically or by the page walker's locked updates from now
                // on.
                unsafe { AtomicU64::from_ptr(dst.add(i)) }.fetch_or(missing, Ordering::Relaxed);
                found.entries += 1;
                if missing & PTE_DIRTY != 0 {
                    found.dirty += 1;
                }
            }
        }
    }
    found
}
