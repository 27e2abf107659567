// SPDX-License-Identifier: GPL-2.0

//! PTE tables deposited in a PMD table, one per huge page it maps, for
//! splitting that huge page later (`pgtable_trans_huge_deposit`).
//!
//! A deposited table is mapped by no entry, so no CPU and no lockless
//! walker can see it: it is reached only through the PMD table's deposit
//! list, under the PMD table's lock, which is all that is needed to swap it.
//! The old table waits for a grace period all the same, like every other.

use kernel::prelude::*;

use super::page::{NewTable, Table, TablePage};
use super::retired::Retired;
use super::walk::Slot;
use crate::level::Level;
use crate::placement::Target;
use crate::sys;

/// How many PTE tables are deposited in the PMD table that holds `slot` and
/// are not where `target` wants them.
///
/// # Safety
///
/// `slot` must be a PMD entry (a [`Level::Pte`] slot) of an mm whose mmap
/// lock is held for writing.
pub(crate) unsafe fn count_deposits(slot: &Slot<'_>, target: Target) -> usize {
    // The deposit list changes only under the PMD table's lock.
    let _pmd = slot.lock();
    let mut off_target = 0;
    // SAFETY: the PMD table is live (caller) and its lock held.
    unsafe {
        for_each_deposit(slot, |page| {
            off_target += usize::from(!target.holds(page));
            None
        })
    };
    off_target
}

/// Moves the PTE tables deposited in the PMD table that holds `slot` to
/// `target`, as many as `spares` has replacements for, the old ones to
/// `retired`. Returns how many moved; unused spares are freed.
///
/// # Safety
///
/// As for [`count_deposits`], and `retired` has room for every spare.
pub(crate) unsafe fn move_deposits(
    slot: &Slot<'_>,
    target: Target,
    spares: KVec<NewTable>,
    retired: &mut Retired,
) -> u64 {
    let mut spares = spares.into_iter();
    // Racing with a THP split or collapse (they deposit and withdraw under
    // it)? The list is stable under the PMD table's lock; it may have
    // changed since it was counted, which the spares' count allows for.
    let _pmd = slot.lock();
    let mut moved = 0;
    // SAFETY: the PMD table is live and locked (caller, and above), and
    // `retired` has room for one table per spare (caller).
    unsafe {
        for_each_deposit(slot, |old| {
            if target.holds(old) {
                return None;
            }
            let new = spares.next()?;
            moved += 1;
            // Mapped by no entry while deposited, and unlinked now.
            retired.add(Table::new(Level::Pte, old));
            // `old` is deposited and its PMD table locked (above).
            Some(new.into_deposit(old.as_ptr()))
        })
    };
    moved
}

/// Calls `f` on every deposited table of `slot`'s PMD table, once each. A
/// page `f` returns takes the table's place in the list.
///
/// # Safety
///
/// As for [`count_deposits`], and the caller holds the PMD table's lock.
unsafe fn for_each_deposit(
    slot: &Slot<'_>,
    mut f: impl FnMut(TablePage) -> Option<*mut sys::page>,
) {
    let pmd_page = slot.table_page().as_ptr();
    // SAFETY: see above. The list is circular with no separate head: count
    // it first, then visit each element once, taking the next one before
    // the current one may be replaced. Every element is a deposited PTE
    // table page.
    unsafe {
        let head = sys::ptreloc_pmd_huge_pte(pmd_page);
        let first = *head;
        if first.is_null() {
            return;
        }
        let next = |page| sys::ptreloc_pt_list_page((*sys::ptreloc_pt_list(page)).next);
        let mut n = 1;
        let mut pos = next(first);
        while pos != first {
            n += 1;
            pos = next(pos);
        }
        for _ in 0..n {
            let following = next(pos);
            if let Some(replacement) = TablePage::new(pos).and_then(&mut f) {
                replace_in_deposit_list(head, pos, replacement);
            }
            pos = following;
        }
    }
}

/// Puts `new` in the place of `old` in a circular deposit list whose first
/// element `*head` points to (see `pgtable_trans_huge_deposit`).
///
/// # Safety
///
/// The caller holds the lock of the list; `old` is on it, `new` is not.
unsafe fn replace_in_deposit_list(
    head: *mut *mut sys::page,
    old: *mut sys::page,
    new: *mut sys::page,
) {
    // SAFETY: both pages' `pt_list` are valid list heads (caller).
    unsafe {
        let (o, n) = (sys::ptreloc_pt_list(old), sys::ptreloc_pt_list(new));
        if (*o).next == o {
            // The only element: `list_replace` would link `new` to `old`.
            (*n).next = n;
            (*n).prev = n;
        } else {
            (*n).next = (*o).next;
            (*n).prev = (*o).prev;
            (*(*n).next).prev = n;
            (*(*n).prev).next = n;
        }
        if *head == old {
            *head = new;
        }
    }
}
