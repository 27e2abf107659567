// SPDX-License-Identifier: GPL-2.0

//! Old tables, waiting for an RCU grace period before they are freed.

use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use kernel::bindings;
use kernel::prelude::*;

use super::page::{destruct, Table};
use crate::level::Level;
use crate::sys;

/// Old tables that a batch unlinked, to be freed once an RCU grace period
/// has passed since: then no lockless walker (GUP-fast, `pte_offset_map()`)
/// can still be reading one.
///
/// [`Retired::release`] hands them to `call_rcu()` once [`Retired::MAX`]
/// are gathered and when the request ends, and the request goes on: no
/// request waits for a grace period, and a normal one interrupts no CPU
/// (each handoff is an allocation and a `call_rcu()`: few per request). The callback frees them (softirq context, or an
/// rcuo kthread). So a per-node counter may still count an old table when a
/// request returns; [`wait_for_released`] (an `rcu_barrier()`) settles
/// them, as an evacuation does before it counts what is left in its range,
/// and the module does before it unloads, its callback being module text.
///
/// # Invariants
///
/// Every table in `tables` is owned by this value, unreachable from any page
/// table, and in no TLB or paging-structure cache that a CPU can use
/// without flushing first (a CPU outside the mm's `mm_cpumask` may keep
/// entries under a PCID that is not current; it flushes them when it makes
/// that PCID current again, as the mm's TLB generation moved on).
pub(crate) struct Retired {
    tables: KVec<Table>,
}

/// Tables handed to RCU and not freed yet, of every request.
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// Past this many tables in flight (64 MiB), a request waits for them
/// before it goes on, so that a storm of requests cannot outrun grace
/// periods without bound.
const MAX_IN_FLIGHT: usize = 16384;

/// One [`Retired::release`]'s tables, in the hands of RCU.
#[repr(C)]
struct Handoff {
    /// First, so that the callback finds the handoff from it.
    head: bindings::callback_head,
    tables: KVec<Table>,
}

impl Retired {
    /// Old tables a request gathers before it hands them to RCU (2 MiB);
    /// it hands over the rest when it ends.
    pub(crate) const MAX: usize = 512;

    pub(crate) fn new() -> Self {
        // INVARIANT: empty.
        Self {
            tables: KVec::new(),
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
        // INVARIANT: as the caller guarantees.
        // Cannot fail: the room was reserved.
        let _ = self.tables.push(table, GFP_NOWAIT);
    }

    /// Hands every table added so far to RCU, to be freed after a grace
    /// period that starts now. Sleeps only without memory for the handoff
    /// (it waits for the grace period then) or with too many tables in
    /// flight: call it in process context with no spinlock held.
    pub(crate) fn release(&mut self) {
        if self.tables.is_empty() {
            return;
        }
        let tables = core::mem::take(&mut self.tables);
        let n = tables.len();
        let Ok(slot) = KBox::<Handoff>::new_uninit(GFP_KERNEL) else {
            // SAFETY: process context without spinlocks (above).
            unsafe { bindings::synchronize_rcu() };
            // SAFETY: ours, unreachable and flushed (type invariant), and a
            // grace period has passed since they were unlinked.
            unsafe { free_tables(tables) };
            return;
        };
        let handoff = KBox::into_raw(KBox::write(
            slot,
            Handoff {
                head: bindings::callback_head::default(),
                tables,
            },
        ));
        IN_FLIGHT.fetch_add(n, Relaxed);
        // SAFETY: `handoff` is ours until the callback takes it back; the
        // callback is module text, and the module waits for it before it
        // unloads (`wait_for_released`).
        unsafe {
            bindings::call_rcu(
                core::ptr::addr_of_mut!((*handoff).head),
                Some(free_after_grace_period),
            )
        };
        if IN_FLIGHT.load(Relaxed) > MAX_IN_FLIGHT {
            wait_for_released();
        }
    }
}

impl Drop for Retired {
    fn drop(&mut self) {
        self.release();
    }
}

/// Tables released and not freed yet, of every request (the `stats` file's
/// `tables_awaiting_free`).
pub(crate) fn awaiting_free() -> usize {
    IN_FLIGHT.load(Relaxed)
}

/// Returns once every table released so far is freed. Sleeps.
pub(crate) fn wait_for_released() {
    // SAFETY: process context (callers), no locks held.
    unsafe { bindings::rcu_barrier() };
}

/// `call_rcu()` callback of [`Retired::release`].
///
/// # Safety
///
/// `head` is the `head` of a [`Handoff`] that `release` leaked, and a grace
/// period has passed since.
unsafe extern "C" fn free_after_grace_period(head: *mut bindings::callback_head) {
    // SAFETY: `head` is the first field of a `repr(C)` `Handoff` from
    // `KBox::into_raw` (caller), which we take back once.
    let mut handoff = unsafe { KBox::from_raw(head.cast::<Handoff>()) };
    let tables = core::mem::take(&mut handoff.tables);
    let n = tables.len();
    // SAFETY: ours, unreachable and flushed (`Retired`'s invariant), and a
    // grace period has passed since they were unlinked (caller).
    unsafe { free_tables(tables) };
    IN_FLIGHT.fetch_sub(n, Relaxed);
}

/// Destructs and frees `tables`. Any context but NMI.
///
/// # Safety
///
/// Every table is ours, unreachable from any page table and from any TLB a
/// CPU can use without flushing, and an RCU grace period has passed since it
/// was unlinked, so no lockless walker can see it any more.
unsafe fn free_tables(tables: KVec<Table>) {
    for table in tables {
        let page = table.page().as_ptr();
        // SAFETY: see above.
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
