// SPDX-License-Identifier: GPL-2.0

//! Page-table pages: a live [`Table`], and a [`NewTable`] from its
//! allocation to its installation in place of an old one.

use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering};

use kernel::bindings;
use kernel::prelude::*;

use super::reconcile::Watched;
use super::walk::{p4d_is_table, Slot};
use crate::level::Level;
use crate::locks::SpinGuard;
use crate::placement::{Quarantine, Target};
use crate::request::Zone;
use crate::sys;
use crate::x86::{PAGE_SHIFT, PTRS_PER_TABLE};

/// The page of a page-table page, at any level.
///
/// # Invariants
///
/// `page` is the `struct page` of a page-table page, or of a page we
/// allocated to make one. A `struct page` stays valid memory for the
/// kernel's life; whether the page is still that table is for the holder to
/// re-check under the locks that keep it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct TablePage {
    page: NonNull<sys::page>,
}

impl TablePage {
    /// # Safety
    ///
    /// `page` must be null, or as the type invariant says.
    pub(super) unsafe fn new(page: *mut sys::page) -> Option<Self> {
        NonNull::new(page).map(|page| Self { page })
    }

    pub(crate) fn as_ptr(&self) -> *mut sys::page {
        self.page.as_ptr()
    }

    pub(crate) fn node(&self) -> i32 {
        // SAFETY: a valid page (type invariant).
        unsafe { sys::ptreloc_page_to_nid(self.page.as_ptr()) }
    }

    pub(crate) fn zone(&self) -> usize {
        // SAFETY: a valid page (type invariant).
        unsafe { sys::ptreloc_page_zonenum(self.page.as_ptr()) as usize }
    }

    pub(crate) fn pfn(&self) -> u64 {
        // SAFETY: a valid page (type invariant).
        unsafe { sys::ptreloc_page_to_pfn(self.page.as_ptr()) as u64 }
    }

    pub(super) fn entries(&self) -> *mut u64 {
        // SAFETY: page tables are in the direct map (no HIGHPTE on x86-64).
        unsafe { sys::ptreloc_page_address(self.page.as_ptr()) }.cast()
    }

    /// The split page-table lock of this page.
    ///
    /// # Safety
    ///
    /// The page must have a lock: a live PTE or PMD table page, or a new one
    /// without `ALLOC_SPLIT_PTLOCKS` (whose lock `alloc` initialised).
    pub(super) unsafe fn ptl(&self) -> NonNull<sys::spinlock_t> {
        // SAFETY: `ptlock_ptr` is the address of the embedded lock, or the
        // pointer to the separately allocated one, which such a page has.
        unsafe { NonNull::new_unchecked(sys::ptreloc_ptlock_ptr(self.page.as_ptr())) }
    }
}

/// A live page-table page of some level.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Table {
    level: Level,
    page: TablePage,
}

impl Table {
    pub(super) fn new(level: Level, page: TablePage) -> Self {
        Self { level, page }
    }

    pub(crate) fn page(&self) -> TablePage {
        self.page
    }

    pub(crate) fn node(&self) -> i32 {
        self.page.node()
    }

    pub(crate) fn level(&self) -> Level {
        self.level
    }

    /// Reads entry `i` once.
    ///
    /// # Safety
    ///
    /// The table must be live, and `i < PTRS_PER_TABLE`.
    pub(crate) unsafe fn read_entry(&self, i: usize) -> u64 {
        // SAFETY: a live table of PTRS_PER_TABLE aligned u64 entries (caller);
        // a volatile aligned load is READ_ONCE.
        unsafe { self.page.entries().add(i).read_volatile() }
    }

    /// Sets `bits` in entry `i` with an atomic OR, as the CPU's page walker
    /// does when it sets Accessed or Dirty (the `inject=ad` test hook).
    ///
    /// # Safety
    ///
    /// The table must be live, and `i < PTRS_PER_TABLE`.
    pub(crate) unsafe fn or_entry(&self, i: usize, bits: u64) {
        // SAFETY: as for `read_entry`; entries the walker may update are only
        // accessed atomically or under the table's lock.
        unsafe { AtomicU64::from_ptr(self.page.entries().add(i)) }
            .fetch_or(bits, Ordering::Relaxed);
    }

    /// Clears the bits not in `mask` in entry `i` with an atomic AND, as
    /// aging clears Accessed (the remote-flush probe).
    ///
    /// # Safety
    ///
    /// As for [`Self::or_entry`].
    pub(crate) unsafe fn and_entry(&self, i: usize, mask: u64) {
        // SAFETY: as for `or_entry`.
        unsafe { AtomicU64::from_ptr(self.page.entries().add(i)) }
            .fetch_and(mask, Ordering::Relaxed);
    }

    /// The table's own lock, if its level has one (PUD tables use the
    /// slot's lock).
    ///
    /// # Safety
    ///
    /// The table must be live: its entry re-checked under the slot lock with
    /// the rmap locks of its span held, or unlinked by us and not yet
    /// retired.
    pub(crate) unsafe fn ptl(&self) -> Option<NonNull<sys::spinlock_t>> {
        match self.level {
            // SAFETY: a live PTE or PMD table has a lock (caller).
            Level::Pte | Level::Pmd => Some(unsafe { self.page.ptl() }),
            Level::Pud => None,
        }
    }
}

/// A new page-table page: allocated and accounted as a page table, not yet
/// reachable. Freed on drop unless installed.
///
/// # Invariants
///
/// `page` is an order-0 page accounted with `ptreloc_pgtable_account`, owned
/// by this value, and mapped in no page table.
pub(crate) struct NewTable {
    level: Level,
    page: TablePage,
}

impl NewTable {
    /// Allocates a page for a `level` table on the target node only (no
    /// fallback), in the target zone if there is one, without waiting long in
    /// reclaim, charged to `memcg` (its predecessor's, see `Charges`), or to
    /// nothing when `None`. A page in the range an evacuation empties goes to
    /// its `quarantine`, and another is tried.
    ///
    /// The allocator cannot be told "this zone only": `__GFP_DMA32` caps the
    /// zones at DMA32, and without it NORMAL comes first. A page from a lower
    /// zone than wanted means the wanted one is at its watermark: `ENOMEM`.
    pub(crate) fn alloc(
        level: Level,
        target: Target,
        memcg: Option<NonNull<sys::mem_cgroup>>,
        quarantine: Option<&Quarantine>,
    ) -> Result<Self> {
        let node = target.node;
        // Every entry is copied over, so the page need not be zeroed.
        let mut gfp = (sys::gfp_pgtable_user() & !sys::GFP_ZERO)
            | sys::GFP_THISNODE
            | sys::GFP_NORETRY
            | sys::GFP_NOWARN;
        if target.zone == Some(Zone::Dma32) {
            gfp |= sys::GFP_DMA32;
        }
        if memcg.is_none() {
            gfp &= !sys::GFP_ACCOUNT;
        }
        let memcg = memcg.map_or(core::ptr::null_mut(), |m| m.as_ptr());
        let page = loop {
            // SAFETY: `set_active_memcg` only redirects `__GFP_ACCOUNT`
            // charges of the current task until it is restored just below;
            // `node` is online with memory (checked by the caller, and
            // THISNODE fails otherwise).
            let page = unsafe {
                let old = sys::ptreloc_set_active_memcg(memcg);
                let page = sys::ptreloc_alloc_pages_node(node, gfp, 0);
                sys::ptreloc_set_active_memcg(old);
                page
            };
            // SAFETY: a freshly allocated page, ours.
            let page = unsafe { TablePage::new(page) }.ok_or(ENOMEM)?;
            if target.holds(page) {
                break page;
            }
            // SAFETY: ours, not yet anything.
            if !quarantine.is_some_and(|q| unsafe { q.hold(page.page) }) {
                // SAFETY: ours, not yet anything, not held.
                unsafe { bindings::__free_pages(page.as_ptr(), 0) };
                return Err(ENOMEM);
            }
        };
        let p = page.as_ptr();
        // SAFETY: the page is ours and not yet a page table.
        unsafe {
            if level != Level::Pud && !sys::alloc_split_ptlocks() {
                sys::ptreloc_ptlock_init(p);
            }
            if level == Level::Pmd {
                *sys::ptreloc_pmd_huge_pte(p) = core::ptr::null_mut();
                sys::ptreloc_ptdesc_pmd_pts_init(p);
            }
            sys::ptreloc_pgtable_account(p);
        }
        // INVARIANT: allocated and accounted just above, mapped nowhere.
        Ok(Self { level, page })
    }

    /// Copies `old` into this table and installs it in `slot` in place of
    /// `old`; returns it as a live table, and the entries of `old` that a CPU
    /// may still change (for `reconcile`). A PMD table also takes over the
    /// PTE tables deposited for `old`'s huge pages.
    ///
    /// With `ALLOC_SPLIT_PTLOCKS`, `ptlock_alloc()` cannot be called from a
    /// module, so the new table takes over the old one's lock: anyone still
    /// spinning on the old table's lock is then spinning on the new table's,
    /// and re-checks the entry when they get it (`pte_offset_map_lock`).
    ///
    /// # Safety
    ///
    /// `slot` must hold an entry pointing to `old`, of this table's level,
    /// and the caller must hold the slot's lock, `old`'s lock, and this
    /// table's lock when it has its own (see [`NewTable::lock_if_distinct`]).
    pub(crate) unsafe fn install(self, slot: &Slot<'_>, old: Table) -> (Table, Watched) {
        let new = self.page;
        let watched;
        let (o, n) = (old.page.as_ptr(), new.as_ptr());
        // SAFETY: both are table pages of PTRS_PER_TABLE entries of one
        // level; `new` is ours and unreachable, `old` is live and locked
        // (caller), so only the CPU's page walker can change it now, one
        // whole entry at a time (it sets Accessed/Dirty; see `reconcile`).
        unsafe {
            if self.level != Level::Pud && sys::alloc_split_ptlocks() {
                sys::ptreloc_ptlock_set(n, sys::ptreloc_ptlock_ptr(o));
            }
            if self.level == Level::Pmd {
                // The deposit list is reached only through this pointer, under
                // the PMD table's lock, which we hold.
                *sys::ptreloc_pmd_huge_pte(n) = *sys::ptreloc_pmd_huge_pte(o);
            }
            // One copy of the page (the kernel's memcpy), then a look at the
            // copy for the entries a CPU may still change. A CPU only sets
            // Accessed and Dirty, in the low byte of an entry, by a locked
            // update of the whole entry: however memcpy splits its reads,
            // each copied entry is the old one from before or after such an
            // update, and reconcile carries over what came after.
            let (src, dst) = (old.page.entries(), new.entries());
            core::ptr::copy_nonoverlapping(src, dst, PTRS_PER_TABLE);
            watched = Watched::scan(self.level, dst);
            // Entries and lock must be visible before the table is: lockless
            // walkers (GUP-fast) may follow the entry as soon as it is set.
            sys::ptreloc_smp_wmb();
            let (mm, entry) = (slot.mm(), slot.entry_ptr());
            match self.level {
                Level::Pte => sys::ptreloc_pmd_populate(mm, entry.cast(), n),
                Level::Pmd => sys::ptreloc_pud_populate(mm, entry.cast(), new.entries().cast()),
                Level::Pud => replace_p4d_table(entry.cast(), old, new),
            }
        }
        core::mem::forget(self);
        let table = Table {
            level: old.level,
            page: new,
        };
        (table, watched)
    }

    /// Copies the deposited PTE table `old` into this one, which takes over
    /// its lock with `ALLOC_SPLIT_PTLOCKS`; returns the page, now owned by the
    /// deposit list (the caller links it in place of `old`).
    ///
    /// # Safety
    ///
    /// `old` must be a deposited PTE table whose PMD table's lock the caller
    /// holds.
    pub(super) unsafe fn into_deposit(self, old: *mut sys::page) -> *mut sys::page {
        let new = self.page;
        // SAFETY: both are PTE table pages; `old` is only reachable through
        // the locked deposit list (caller), `new` is ours.
        unsafe {
            if sys::alloc_split_ptlocks() {
                sys::ptreloc_ptlock_set(new.as_ptr(), sys::ptreloc_ptlock_ptr(old));
            }
            let (src, dst) = (sys::ptreloc_page_address(old).cast::<u64>(), new.entries());
            core::ptr::copy_nonoverlapping(src, dst, PTRS_PER_TABLE);
        }
        core::mem::forget(self);
        new.as_ptr()
    }

    /// Takes this table's own lock if it has one that is not the same lock as
    /// any in `held` (it is the old table's lock with `ALLOC_SPLIT_PTLOCKS`,
    /// and `mm->page_table_lock` without split page-table locks).
    pub(crate) fn lock_if_distinct(&self, held: &[NonNull<sys::spinlock_t>]) -> Option<SpinGuard> {
        if self.level == Level::Pud || sys::alloc_split_ptlocks() {
            return None;
        }
        // SAFETY: without ALLOC_SPLIT_PTLOCKS, `alloc` initialised the lock.
        let ptl = unsafe { self.page.ptl() };
        if held.contains(&ptl) {
            return None;
        }
        // SAFETY: initialised in `alloc`; nobody else can see this table yet,
        // so taking it after the slot and old table locks cannot deadlock.
        Some(unsafe { SpinGuard::lock(ptl, sys::NESTING_THIRD) })
    }
}

/// Points the P4D entry `p4d`, which points to `old`, to `new` instead, and
/// its PTI user-half copy too if it has one (what `p4d_populate` does, which
/// a module cannot link on 6.12 with PTI: see `shim.c`). The copy is updated
/// first, only if it points to `old`; both keep their own flags (the kernel
/// half of a PGD has NX under PTI).
///
/// # Safety
///
/// The caller holds `mm->page_table_lock`; `p4d` is a live P4D entry.
unsafe fn replace_p4d_table(p4d: *mut sys::P4d, old: Table, new: TablePage) {
    // `p4d_flags()`, not a constant mask: with memory encryption the
    // encryption bit is outside the kernel's (run-time) PFN mask, a flag.
    let pointing_to_new = |entry: sys::P4d| sys::P4d {
        p4d: sys::p4d_flags(entry) | ((new.pfn() << PAGE_SHIFT) as sys::p4dval_t),
    };
    // SAFETY: `p4d` is live (caller); the user copy, if any, is the entry at
    // the same index of the PGD's user half, which lives as long as it. Both
    // are aligned 64-bit entries: a volatile store is WRITE_ONCE.
    unsafe {
        let user = sys::ptreloc_pti_user_p4dp(p4d);
        if !user.is_null() {
            let copy = sys::ptreloc_p4dp_get(user);
            if p4d_is_table(copy) && sys::p4d_page(copy) == old.page.as_ptr() {
                user.write_volatile(pointing_to_new(copy));
            }
        }
        p4d.write_volatile(pointing_to_new(sys::ptreloc_p4dp_get(p4d)));
    }
}

impl Drop for NewTable {
    fn drop(&mut self) {
        let page = self.page.as_ptr();
        // SAFETY: never installed, so unreachable; undo `alloc`. Its lock was
        // never shared, so there is nothing to hand back.
        unsafe {
            sys::ptreloc_pgtable_unaccount(page);
            bindings::__free_pages(page, 0);
        }
    }
}

/// Undoes what [`NewTable::alloc`] did to make `page` a table, for a page
/// being freed.
///
/// # Safety
///
/// `page` must be an unreachable page-table page that we own.
pub(super) unsafe fn destruct(page: *mut sys::page) {
    // SAFETY: ours (caller).
    unsafe {
        if sys::alloc_split_ptlocks() {
            // The lock object now belongs to the replacement table (PTE and
            // PMD); a PUD page never had one.
            sys::ptreloc_ptlock_set(page, core::ptr::null_mut());
        }
        sys::ptreloc_pgtable_unaccount(page);
    }
}
