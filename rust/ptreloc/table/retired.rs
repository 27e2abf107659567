// SPDX-License-Identifier: GPL-2.0

//! Old tables, waiting for an RCU grace period before they are freed.

use kernel::bindings;
use kernel::prelude::*;

use super::page::{destruct, Table};
use crate::level::Level;
use crate::sys;

/// Old tables that a request unlinked, freed together once an RCU grace
/// period has passed since the last of them was added: then no lockless
/// walker (GUP-fast, `pte_offset_map()`) can still be reading one.
///
/// [`Retired::start_grace_period`] starts a normal grace period in the
/// background (no IPI), while the request goes on. [`Retired::free`] then
/// waits only if that one has not completed yet, and then expedites it. A
/// request frees its tables before it reports, so per-node counters are
/// settled by then, and along the way once [`Retired::MAX`] wait: about one
/// expedited grace period per request. That interrupts every CPU that is
/// not idle; with `rcupdate.rcu_normal=1` (real-time systems) it is a
/// normal one.
///
/// # Invariants
///
/// Every table in `tables` is owned by this value, unreachable from any page
/// table, and in no TLB or paging-structure cache that a CPU can use
/// without flushing first (a CPU outside the mm's `mm_cpumask` may keep
/// entries under a PCID that is not current; it flushes them when it makes
/// that PCID current again, as the mm's TLB generation moved on). `gp`,
/// when set, is a grace-period cookie taken after the last of them was
/// added.
pub(crate) struct Retired {
    tables: KVec<Table>,
    gp: Option<kernel::ffi::c_ulong>,
}

impl Retired {
    /// Old tables a request lets wait before it frees them (2 MiB).
    pub(crate) const MAX: usize = 512;

    pub(crate) fn new() -> Self {
        // INVARIANT: empty.
        Self {
            tables: KVec::new(),
            gp: None,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.tables.len()
    }

    /// Makes room for `n` more tables, so that [`Retired::add`] cannot fail.
    pub(crate) fn reserve(&mut self, n: usize) -> Result {
        Ok(self.tables.reserve(n, GFP_KERNEL)?)
    }

    /// Takes over `table`. Does not sleep.
    ///
    /// # Safety
    ///
    /// Room must have been reserved for it; it must be ours to free,
    /// unreachable from any page table, and, if it was ever mapped, flushed
    /// since it was unlinked from every TLB a CPU can use without flushing
    /// first.
    pub(crate) unsafe fn add(&mut self, table: Table) {
        // INVARIANT: as the caller guarantees; no cookie covers it yet.
        // Cannot fail: the room was reserved.
        let _ = self.tables.push(table, GFP_NOWAIT);
        self.gp = None;
    }

    /// Starts a grace period for the tables added so far, unless one that
    /// covers them has started already.
    pub(crate) fn start_grace_period(&mut self) {
        if self.gp.is_some() || self.tables.is_empty() {
            return;
        }
        // INVARIANT: taken after every table was added.
        // SAFETY: no requirement (it wakes the grace-period kthread at most).
        self.gp = Some(unsafe { bindings::start_poll_synchronize_rcu() });
    }

    /// Waits for the grace period, then destructs and frees every table.
    /// Sleeps: call it in process context with no spinlock held.
    pub(crate) fn free(&mut self) {
        if self.tables.is_empty() {
            return;
        }
        // SAFETY: process context without spinlocks (above).
        unsafe {
            match self.gp {
                Some(gp) => bindings::cond_synchronize_rcu_expedited(gp),
                None => bindings::synchronize_rcu_expedited(),
            }
        }
        for table in core::mem::take(&mut self.tables) {
            let page = table.page().as_ptr();
            // SAFETY: ours, unreachable, and no CPU or lockless walker can
            // see it any more (type invariant and the grace period).
            unsafe {
                if table.level() == Level::Pmd {
                    // Its deposits moved to the replacement.
                    *sys::ptreloc_pmd_huge_pte(page) = core::ptr::null_mut();
                }
                destruct(page);
                bindings::__free_pages(page, 0);
            }
        }
    }
}

impl Drop for Retired {
    fn drop(&mut self) {
        self.free();
    }
}
