// SPDX-License-Identifier: GPL-2.0

//! The `inject=ad` test hook: Accessed and Dirty bits set in old tables
//! between the copy and the TLB flush; the remote-flush probe, which
//! clears one entry's Accessed bit at the same point; and the pause between
//! collecting tables and installing them.
//!
//! A CPU that still caches a translation through an old table may set
//! Accessed or Dirty in the old entry after ptreloc copied it and before the
//! flush; `table::reconcile` carries such bits over. TCG cannot produce that
//! race on demand, so a test asks ptreloc, through the in-kernel API only, to
//! play the CPU: set bits in a sample of old entries at exactly that point,
//! with the same atomic OR the page walker uses, and record each one so the
//! test can check that it reached the live tables.

use core::ops::DerefMut;

use super::page::Table;
use super::reconcile::bits_a_cpu_may_set;
use crate::abi::{PtrelocAdLog, PtrelocAdRecord};
use crate::level::Level;
use crate::x86::{PAGE_SIZE, PMD_SIZE, PTE_ACCESSED, PTRS_PER_TABLE};

/// A test's injection request and its record buffer, for one request.
pub(crate) struct AdInjector<'a> {
    log: &'a mut PtrelocAdLog,
    records: &'a mut [PtrelocAdRecord],
    /// xorshift32 state: where in each table the sample starts.
    rng: u32,
}

impl<'a> AdInjector<'a> {
    /// # Safety
    ///
    /// `log.records` must be null or point to `log.capacity` records, and no
    /// one else may access them during `'a`.
    pub(crate) unsafe fn new(log: &'a mut PtrelocAdLog) -> Self {
        let records: &'a mut [PtrelocAdRecord] = if log.records.is_null() {
            &mut []
        } else {
            // SAFETY: see above.
            unsafe { core::slice::from_raw_parts_mut(log.records, log.capacity as usize) }
        };
        log.len = 0;
        log.aged = 0;
        Self {
            rng: log.seed | 1,
            log,
            records,
        }
    }

    fn next_random(&mut self) -> u32 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng = x;
        x
    }

    /// Sets the bits a CPU could set in up to `per_table` entries of `old`,
    /// whose first entry maps `base`.
    ///
    /// # Safety
    ///
    /// `old` must be live and unlinked from the page tables (copied and
    /// replaced, not yet flushed or retired), so that only CPUs and this hook
    /// write to it.
    pub(crate) unsafe fn inject(&mut self, base: usize, old: &Table) {
        let level = old.level();
        let first = self.next_random() as usize % PTRS_PER_TABLE;
        let mut picked = 0;
        for k in 0..PTRS_PER_TABLE {
            let len = self.log.len as usize;
            if picked == self.log.per_table || len == self.records.len() {
                break;
            }
            let i = (first + k) % PTRS_PER_TABLE;
            // SAFETY: `old` is live (caller) and `i` is in range.
            let was = unsafe { old.read_entry(i) };
            let bits = bits_a_cpu_may_set(level, was);
            if bits == 0 {
                continue;
            }
            // SAFETY: as above.
            unsafe { old.or_entry(i, bits) };
            self.records[len] = PtrelocAdRecord {
                addr: (base + i * level.entry_span()) as u64,
                level: level.mask(),
                _pad: 0,
                was,
                bits,
            };
            self.log.len += 1;
            picked += 1;
        }
    }
}

impl AdInjector<'_> {
    /// The remote-flush probe: if the PTE table `new` (which replaced `old`,
    /// both mapping from `base`) maps the probe's address, clears Accessed
    /// in that entry of both, atomically, as aging does (without a flush: on
    /// x86 a stale Accessed bit in the TLB is harmless). Only a CPU whose TLB
    /// the flush then reaches sets it again, in `new`, at its next access.
    ///
    /// Returns the index of the entry it aged, which reconcile must watch.
    ///
    /// # Safety
    ///
    /// As for [`Self::inject`]; `new` is live and installed in `old`'s place.
    pub(crate) unsafe fn age(&mut self, base: usize, old: &Table, new: &Table) -> Option<usize> {
        let addr = self.log.age as usize;
        if addr == 0 || old.level() != Level::Pte || !(base..base + PMD_SIZE).contains(&addr) {
            return None;
        }
        let i = (addr - base) / PAGE_SIZE;
        // SAFETY: both live (caller), `i` in range.
        unsafe {
            old.and_entry(i, !PTE_ACCESSED);
            new.and_entry(i, !PTE_ACCESSED);
        }
        self.log.aged = 1;
        Some(i)
    }
}

impl AdInjector<'_> {
    /// The pause hook, if the caller gave one and it has not run yet.
    pub(crate) fn pause(&mut self) {
        if let Some(pause) = self.log.pause.take() {
            // SAFETY: the API's caller vouches for its hook (`abi.rs`), which
            // is called where the contract says: by `Batch::run`, between
            // collecting and installing, with no spinlock held.
            unsafe { pause(self.log.pause_ctx) };
        }
    }
}

/// Reborrows an optional injector for a shorter time.
pub(crate) fn reborrow<'s, 'a>(
    inject: &'s mut Option<&mut AdInjector<'a>>,
) -> Option<&'s mut AdInjector<'a>> {
    inject.as_mut().map(|i| i.deref_mut())
}
