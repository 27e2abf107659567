// SPDX-License-Identifier: GPL-2.0

//! The memory cgroup a new page table is charged to.

use core::cell::Cell;
use core::ptr::NonNull;

use crate::ksys::RcuReadGuard;
use crate::sys;
use crate::table::TablePage;

/// Where the tables that replace an mm's are charged: where each one's
/// predecessor is.
///
/// A fault charged the old table (`__GFP_ACCOUNT`) to the memcg its task was
/// in then. Charges stay behind when a task moves to another cgroup (cgroup
/// v2 never moves them), so charging the mm's memcg of today would move
/// page-table charge from one cgroup to another, and could push the new one
/// over its limit. A table that is not charged (a root-cgroup task's, or
/// with memcg off) is replaced by one that is not either.
///
/// Holds a reference on the memcg it found last: an mm's tables are nearly
/// always charged to one or two, so most look-ups take no reference.
///
/// # Invariants
///
/// `last`, when set, is a memcg on which we own one reference.
pub(crate) struct Charges {
    last: Cell<Option<NonNull<sys::mem_cgroup>>>,
    /// What the latest look-up found.
    latest: Cell<Latest>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Latest {
    Nothing,
    Uncharged,
    Last,
}

impl Charges {
    pub(crate) fn new() -> Self {
        Self {
            last: Cell::new(None),
            latest: Cell::new(Latest::Nothing),
        }
    }

    /// Where the latest table looked up is charged (`Some(None)`: nowhere),
    /// if one was: where spares go (`table::Spares`). Valid until the next
    /// call of [`Charges::of`].
    pub(crate) fn latest(&self) -> Option<Option<NonNull<sys::mem_cgroup>>> {
        match self.latest.get() {
            Latest::Nothing => None,
            Latest::Uncharged => Some(None),
            Latest::Last => Some(self.last.get()),
        }
    }

    /// The memcg to charge `old`'s replacement to; `None`: charge nothing.
    /// Valid until the next call.
    pub(crate) fn of(&self, old: &TablePage) -> Option<NonNull<sys::mem_cgroup>> {
        // `folio_memcg` of a kmem page goes through its obj_cgroup, whose
        // memcg RCU keeps (reparenting swaps it when the memcg goes away).
        let _rcu = RcuReadGuard::new();
        // SAFETY: a page-table page, which we hold the locks of (its folio
        // and charge stay until it is freed); under RCU, as above.
        let Some(mut memcg) = NonNull::new(unsafe {
            sys::ptreloc_folio_memcg(sys::ptreloc_page_folio(old.as_ptr()))
        }) else {
            self.latest.set(Latest::Uncharged);
            return None;
        };
        self.latest.set(Latest::Last);
        if self.last.get() == Some(memcg) {
            return Some(memcg);
        }
        // A memcg going offline refuses references; its charges move to its
        // parent, and so does ours. The root memcg never refuses. We do not
        // wait for the reparenting: it waits for an RCU grace period.
        // SAFETY: memcgs on the parent chain stay valid memory under RCU.
        while !unsafe { sys::ptreloc_mem_cgroup_tryget(memcg.as_ptr()) } {
            // SAFETY: as above; only the root has no parent, and it never
            // refuses.
            memcg = NonNull::new(unsafe { sys::ptreloc_parent_mem_cgroup(memcg.as_ptr()) })?;
        }
        self.put_last();
        // INVARIANT: the reference `tryget` just took.
        self.last.set(Some(memcg));
        Some(memcg)
    }

    fn put_last(&self) {
        if let Some(memcg) = self.last.take() {
            // SAFETY: we owned a reference (type invariant).
            unsafe { sys::ptreloc_mem_cgroup_put(memcg.as_ptr()) };
        }
    }
}

impl Drop for Charges {
    fn drop(&mut self) {
        self.put_last();
    }
}
