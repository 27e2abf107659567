// SPDX-License-Identifier: GPL-2.0

//! Step 6 of the protocol: the Accessed/Dirty bits that CPUs set in an old
//! table before the flush, carried over to its replacement. `inject.rs`
//! sets such bits on purpose, to prove this.

use core::sync::atomic::{AtomicU64, Ordering};

use super::page::Table;
use crate::level::Level;
use crate::x86::{
    self, walker_change, WalkerChange, PTE_ACCESSED, PTE_DIRTY, PTE_PRESENT, PTRS_PER_TABLE,
};

/// The bits that `entry`, in a table of `level`, lacks and that a CPU may
/// set in it (see [`x86::bits_a_cpu_may_set`]).
pub(crate) fn bits_a_cpu_may_set(level: Level, entry: u64) -> u64 {
    x86::bits_a_cpu_may_set(entry, level.is_leaf(entry))
}

/// The entries of an old table that a CPU may still change once it was
/// copied: those that lacked a bit a CPU may set ([`bits_a_cpu_may_set`])
/// when they were copied. Only these are read again by [`reconcile`]; in a
/// table of memory that was written, there are none.
#[derive(Default, Clone, Copy)]
pub(crate) struct Watched([u64; PTRS_PER_TABLE / 64]);

impl Watched {
    /// The entries of the copy `entries`, of a `level` table, that lack a
    /// bit a CPU may set.
    ///
    /// # Safety
    ///
    /// `entries` is a table of `PTRS_PER_TABLE` entries that no CPU or
    /// other thread writes to meanwhile (a copy not yet installed).
    pub(crate) unsafe fn scan(level: Level, entries: *const u64) -> Self {
        let pte = level == Level::Pte;
        let settled = PTE_PRESENT | PTE_ACCESSED | PTE_DIRTY;
        let mut watched = Self::default();
        for (w, word) in watched.0.iter_mut().enumerate() {
            // SAFETY: 64 entries in bounds, not written to (caller).
            let chunk = unsafe { core::slice::from_raw_parts(entries.add(w * 64), 64) };
            // Most runs of entries are all empty, or all present with both
            // bits (memory that was written): one pass of ANDs and ORs says.
            let (all, any) = chunk
                .iter()
                .fold((!0, 0), |(all, any), e| (all & e, any | e));
            if any & PTE_PRESENT == 0 || all & settled == settled {
                continue;
            }
            for (b, entry) in chunk.iter().enumerate() {
                *word |= x86::cpu_may_set_a_bit(*entry, pte) << b;
            }
        }
        watched
    }

    /// Watches entry `i` whatever it holds (a test hook cleared a bit).
    pub(crate) fn add(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }

    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(w, &word)| {
            (0..64)
                .filter(move |b| word & (1 << b) != 0)
                .map(move |b| w * 64 + b)
        })
    }
}

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
/// dirty-bit race), in the `watched` entries: no other can have changed. Without this, reclaim could find the new entry clean and
/// drop the data written through the old one. At the upper levels the CPU
/// sets Accessed in entries that point to tables, and Accessed/Dirty in huge
/// page (leaf) entries: the same bits, carried the same way.
///
/// # Safety
///
/// `new` must have replaced `old` in the page tables, every CPU that may
/// hold translations through `old` must have been flushed since, and every
/// other made to flush before it runs the mm (so nothing writes to `old` any
/// more), the caller must hold the locks that keep software from changing
/// either, and `watched` must hold every entry that lacked a bit a CPU may
/// set when it was copied.
pub(crate) unsafe fn reconcile(old: Table, new: Table, watched: &Watched) -> Carried {
    let mut found = Carried::default();
    let (src, dst) = (old.page().entries(), new.page().entries());
    for i in watched.iter() {
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
