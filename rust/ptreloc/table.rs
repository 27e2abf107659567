// SPDX-License-Identifier: GPL-2.0

//! Page-table pages and the entries that point to them, one type per level.
//!
//! Everything here is reached through an [`MmapWriteGuard`], whose lifetime
//! bounds every pointer into the tables: with the mmap lock held for writing,
//! no PGD, P4D, PUD or PMD table of the mm can be freed or replaced except by
//! us. A PTE table can: file THP collapse (`retract_page_tables`) clears its
//! PMD entry and frees it under the file's rmap lock and the PMD lock only.
//! So a [`PteTable`] read from an entry is only a hint until the entry is
//! re-checked under the PMD lock with that rmap lock held; only then may its
//! lock be used ([`PteTable::ptl`] is unsafe for that reason).

use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering};

use kernel::bindings;
use kernel::prelude::*;

use crate::locks::SpinGuard;
use crate::mm::MmapWriteGuard;
use crate::sys::{self, PTRS_PER_TABLE};

/// The page of a page-table page, at any level.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct TablePage {
    page: NonNull<sys::page>,
}

impl TablePage {
    /// # Safety
    ///
    /// `page` must be a page-table page that stays allocated while the value
    /// is used.
    unsafe fn new(page: *mut sys::page) -> Option<Self> {
        NonNull::new(page).map(|page| Self { page })
    }

    pub(crate) fn node(&self) -> i32 {
        // SAFETY: a valid page (type invariant of the constructors).
        unsafe { sys::ptreloc_page_to_nid(self.page.as_ptr()) }
    }

    fn entries(&self) -> *mut u64 {
        // SAFETY: page tables are in the direct map (no HIGHPTE on x86-64).
        unsafe { sys::ptreloc_page_address(self.page.as_ptr()) }.cast()
    }

    /// The split page-table lock of this page.
    ///
    /// # Safety
    ///
    /// The page must have a lock: a live page-table page, or a new one
    /// without `ALLOC_SPLIT_PTLOCKS` (whose lock `alloc` initialised).
    unsafe fn ptl(&self) -> NonNull<sys::spinlock_t> {
        // SAFETY: `ptlock_ptr` is the address of the embedded lock, or the
        // pointer to the separately allocated one, which such a page has.
        unsafe { NonNull::new_unchecked(sys::ptreloc_ptlock_ptr(self.page.as_ptr())) }
    }
}

/// Where the PMD entry for an address lives, if its upper tables exist.
pub(crate) enum PmdLookup<'g> {
    /// The entry's slot in a PMD table.
    Slot(PmdSlot<'g>),
    /// No PMD table covers the address; the next one could start at `next`.
    Hole { next: usize },
}

/// A PMD entry in a live PMD table of an mm whose mmap lock is held.
///
/// # Invariants
///
/// `pmd` points into a PMD table of `mm` that stays allocated for `'g`.
pub(crate) struct PmdSlot<'g> {
    pmd: NonNull<sys::pmd_t>,
    mm: *mut sys::mm_struct,
    _guard: PhantomData<&'g MmapWriteGuard<'g>>,
}

/// Bytes mapped by one PGD entry: 256 TiB with 5-level paging, else 512 GiB
/// (the P4D level is folded into the PGD).
pub(crate) fn pgd_entry_size() -> usize {
    // SAFETY: reads a boot-time constant.
    if unsafe { sys::ptreloc_pgtable_l5_enabled() } {
        sys::PGDIR_SIZE_L5
    } else {
        sys::P4D_SIZE
    }
}

/// Whether a PGD entry points to a (P4D or, folded, PUD) table.
pub(crate) fn pgd_is_table(e: sys::Pgd) -> bool {
    // SAFETY: pure functions of the entry value.
    unsafe { !sys::ptreloc_pgd_none(e) && !sys::ptreloc_pgd_bad(e) }
}

/// Whether a P4D entry points to a PUD table.
pub(crate) fn p4d_is_table(e: sys::P4d) -> bool {
    // SAFETY: pure functions of the entry value.
    unsafe { !sys::ptreloc_p4d_none(e) && !sys::ptreloc_p4d_bad(e) && !sys::ptreloc_p4d_leaf(e) }
}

/// Whether a PUD entry points to a PMD table (not a 1 GiB leaf).
pub(crate) fn pud_is_table(e: sys::pud_t) -> bool {
    // SAFETY: pure functions of the entry value.
    unsafe { !sys::ptreloc_pud_none(e) && !sys::ptreloc_pud_bad(e) && !sys::ptreloc_pud_leaf(e) }
}

/// Rounds `addr` up to the next multiple of `size` (a power of two).
fn next_boundary(addr: usize, size: usize) -> usize {
    (addr | (size - 1)).saturating_add(1)
}

impl<'g> PmdSlot<'g> {
    /// Walks the upper levels to the PMD entry that maps `addr`.
    pub(crate) fn lookup(guard: &'g MmapWriteGuard<'_>, addr: usize) -> PmdLookup<'g> {
        let mm = guard.mm().as_ptr();
        // SAFETY: with the mmap lock held for writing, the PGD, P4D and PUD
        // tables of the mm stay allocated; the entries are read once each and
        // only followed when they point to a table.
        unsafe {
            let pgd = sys::ptreloc_pgd_offset(mm, addr);
            if !pgd_is_table(sys::ptreloc_pgdp_get(pgd)) {
                return PmdLookup::Hole {
                    next: next_boundary(addr, pgd_entry_size()),
                };
            }
            let p4d = sys::ptreloc_p4d_offset(pgd, addr);
            if !p4d_is_table(sys::ptreloc_p4dp_get(p4d)) {
                return PmdLookup::Hole {
                    next: next_boundary(addr, sys::P4D_SIZE),
                };
            }
            let pud = sys::ptreloc_pud_offset(p4d, addr);
            if !pud_is_table(sys::ptreloc_pudp_get(pud)) {
                return PmdLookup::Hole {
                    next: next_boundary(addr, sys::PUD_SIZE),
                };
            }
            match NonNull::new(sys::ptreloc_pmd_offset(pud, addr)) {
                // INVARIANT: a slot in a PMD table of `mm`, which the mmap
                // lock keeps (only we replace PMD tables).
                Some(pmd) => PmdLookup::Slot(PmdSlot {
                    pmd,
                    mm,
                    _guard: PhantomData,
                }),
                None => PmdLookup::Hole {
                    next: next_boundary(addr, sys::PUD_SIZE),
                },
            }
        }
    }

    /// Reads the entry once.
    pub(crate) fn read(&self) -> PmdVal {
        // SAFETY: `pmd` is valid (type invariant); `pmdp_get` is a READ_ONCE.
        PmdVal(unsafe { sys::ptreloc_pmdp_get(self.pmd.as_ptr()) })
    }

    /// Takes the PMD page-table lock that covers this entry.
    pub(crate) fn lock(&self) -> SpinGuard {
        // SAFETY: `pmd` is valid (type invariant); its lock lives in the PMD
        // table's page (or the mm) and is initialised.
        // The lock is in the PMD table's page, or `mm->page_table_lock`.
        let ptl =
            unsafe { NonNull::new_unchecked(sys::ptreloc_pmd_lockptr(self.mm, self.pmd.as_ptr())) };
        // SAFETY: valid as above; the PMD lock is the first page-table lock.
        unsafe { SpinGuard::lock(ptl, 0) }
    }
}

/// A PMD entry value.
#[derive(Clone, Copy)]
pub(crate) struct PmdVal(sys::pmd_t);

impl PmdVal {
    /// An entry value read by other means (the census walk).
    pub(crate) fn from_raw(entry: sys::pmd_t) -> Self {
        Self(entry)
    }

    /// The PTE table this entry points to: `None` for an empty entry, a huge
    /// page (leaf), a migration or device entry, or a corrupt one.
    pub(crate) fn pte_table(self) -> Option<PteTable> {
        // SAFETY: pure functions of the entry value.
        let is_table = unsafe {
            sys::ptreloc_pmd_present(self.0)
                && !sys::ptreloc_pmd_leaf(self.0)
                && !sys::ptreloc_pmd_bad(self.0)
        };
        if !is_table {
            return None;
        }
        // SAFETY: a present non-leaf entry points to a PTE table page. It may
        // be freed under us (see the module docs), but its `struct page`
        // stays valid memory: only its node is read before a re-check.
        unsafe { TablePage::new(sys::ptreloc_pte_page(self.0)) }.map(PteTable)
    }

    pub(crate) fn same(self, other: PmdVal) -> bool {
        // SAFETY: a pure function of the two values.
        unsafe { sys::ptreloc_pmd_same(self.0, other.0) }
    }
}

/// A live PTE table (last level).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct PteTable(TablePage);

impl PteTable {
    pub(crate) fn node(&self) -> i32 {
        self.0.node()
    }

    /// The table's lock.
    ///
    /// # Safety
    ///
    /// The table must be live: its PMD entry re-checked under the PMD lock
    /// with the rmap locks of its span held, or unlinked by us and not yet
    /// retired.
    pub(crate) unsafe fn ptl(&self) -> NonNull<sys::spinlock_t> {
        // SAFETY: a live PTE table has a lock (caller).
        unsafe { self.0.ptl() }
    }

    /// Hands the page over to RCU: it is freed after a grace period, when no
    /// lockless walker and no CPU's paging-structure cache can still see it.
    ///
    /// # Safety
    ///
    /// The table must be unreachable from any page table, and every CPU's TLB
    /// flushed since it was unlinked.
    pub(crate) unsafe fn retire(self) {
        let page = self.0.page.as_ptr();
        // SAFETY: the page is ours to free (caller); its `pt_rcu_head` is
        // unused by a PTE table page.
        unsafe { bindings::call_rcu(sys::ptreloc_page_rcu_head(page), Some(free_retired_table)) };
    }
}

/// RCU callback: destructs and frees a retired page-table page.
///
/// # Safety
///
/// Called by RCU only, for a head passed to `call_rcu` by [`PteTable::retire`].
unsafe extern "C" fn free_retired_table(head: *mut sys::callback_head) {
    // SAFETY: `head` is the `pt_rcu_head` of a retired table page.
    unsafe {
        let page = sys::ptreloc_rcu_head_page(head);
        if sys::alloc_split_ptlocks() {
            // The lock object now belongs to the replacement table.
            sys::ptreloc_ptlock_set(page, core::ptr::null_mut());
        }
        sys::ptreloc_pgtable_unaccount(page);
        bindings::__free_pages(page, 0);
    }
}

/// A new PTE table page: allocated and accounted as a page table, not yet
/// reachable. Freed on drop unless installed.
///
/// # Invariants
///
/// `page` is an order-0 page accounted with `ptreloc_pgtable_account`, owned
/// by this value, and mapped in no page table.
pub(crate) struct NewPteTable {
    page: TablePage,
}

impl NewPteTable {
    /// Allocates a page on `node` only (no fallback), without waiting long in
    /// reclaim, charged to `memcg` (the target mm's) when given.
    pub(crate) fn alloc(node: i32, memcg: Option<NonNull<sys::mem_cgroup>>) -> Result<Self> {
        // Every entry is copied over, so the page need not be zeroed.
        // SAFETY: reads a constant.
        let gfp = (unsafe { sys::ptreloc_gfp_pgtable_user() } & !sys::GFP_ZERO)
            | sys::GFP_THISNODE
            | sys::GFP_NORETRY
            | sys::GFP_NOWARN;
        let memcg = memcg.map_or(core::ptr::null_mut(), |m| m.as_ptr());
        // SAFETY: `set_active_memcg` only redirects `__GFP_ACCOUNT` charges of
        // the current task until it is restored just below; `node` is online
        // with memory (checked by the caller, and THISNODE fails otherwise).
        let page = unsafe {
            let old = sys::ptreloc_set_active_memcg(memcg);
            let page = sys::ptreloc_alloc_page_node(node, gfp);
            sys::ptreloc_set_active_memcg(old);
            page
        };
        // SAFETY: a freshly allocated page, ours.
        let page = unsafe { TablePage::new(page) }.ok_or(ENOMEM)?;
        // SAFETY: the page is ours and not yet a page table.
        unsafe {
            if !sys::alloc_split_ptlocks() {
                sys::ptreloc_ptlock_init(page.page.as_ptr());
            }
            sys::ptreloc_pgtable_account(page.page.as_ptr());
        }
        // INVARIANT: allocated and accounted just above, mapped nowhere.
        Ok(Self { page })
    }

    /// Copies `old` into this table and installs it in `slot` in place of
    /// `old`; returns it as a live table.
    ///
    /// With `ALLOC_SPLIT_PTLOCKS`, `ptlock_alloc()` cannot be called from a
    /// module, so the new table takes over the old one's lock: anyone still
    /// spinning on the old table's lock is then spinning on the new table's,
    /// and re-checks the PMD entry when they get it (`pte_offset_map_lock`).
    ///
    /// # Safety
    ///
    /// `slot` must hold a table entry pointing to `old`, and the caller must
    /// hold the PMD lock of `slot`, `old`'s lock, and this table's lock when
    /// it has its own (see [`NewPteTable::lock_if_distinct`]).
    pub(crate) unsafe fn install(self, slot: &PmdSlot<'_>, old: PteTable) -> PteTable {
        let new = self.page;
        // SAFETY: both are PTE table pages of PTRS_PER_TABLE entries; `new` is
        // ours and unreachable, `old` is live and locked (caller), so only the
        // CPU's page walker can change it now, one whole entry at a time.
        unsafe {
            if sys::alloc_split_ptlocks() {
                sys::ptreloc_ptlock_set(new.page.as_ptr(), old.ptl().as_ptr());
            }
            // (`old.ptl()`: `old` is live, the caller holds its lock.)
            let (src, dst) = (old.0.entries(), new.entries());
            for i in 0..PTRS_PER_TABLE {
                dst.add(i).write(src.add(i).read_volatile());
            }
            // Entries and lock must be visible before the table is: lockless
            // walkers (GUP-fast) may follow the entry as soon as it is set.
            sys::ptreloc_smp_wmb();
            sys::ptreloc_pmd_populate(slot.mm, slot.pmd.as_ptr(), new.page.as_ptr());
        }
        core::mem::forget(self);
        PteTable(new)
    }

    /// Takes this table's own lock if it is not the same lock as any in
    /// `held` (it is the old table's lock with `ALLOC_SPLIT_PTLOCKS`, and
    /// `mm->page_table_lock` without split PTE locks).
    pub(crate) fn lock_if_distinct(&self, held: &[NonNull<sys::spinlock_t>]) -> Option<SpinGuard> {
        if sys::alloc_split_ptlocks() {
            return None;
        }
        // SAFETY: without ALLOC_SPLIT_PTLOCKS, `alloc` initialised the lock.
        let ptl = unsafe { self.page.ptl() };
        if held.contains(&ptl) {
            return None;
        }
        // SAFETY: initialised in `alloc`; nobody else can see this table yet,
        // so taking it after the PMD and old PTE locks cannot deadlock.
        Some(unsafe { SpinGuard::lock(ptl, sys::NESTING_THIRD) })
    }
}

impl Drop for NewPteTable {
    fn drop(&mut self) {
        // SAFETY: never installed, so unreachable; undo `alloc`.
        unsafe {
            sys::ptreloc_pgtable_unaccount(self.page.page.as_ptr());
            bindings::__free_pages(self.page.page.as_ptr(), 0);
        }
    }
}

/// What reconciling a replaced table with its replacement found.
#[derive(Default, Clone, Copy)]
pub(crate) struct Reconciled {
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
/// drop the data written through the old one.
///
/// # Safety
///
/// `new` must have replaced `old` in the page tables, every CPU's TLB must
/// have been flushed since (so nothing writes to `old` any more), and the
/// caller must hold the locks that keep software from changing either.
pub(crate) unsafe fn reconcile(old: PteTable, new: PteTable) -> Reconciled {
    let mut found = Reconciled::default();
    let (src, dst) = (old.0.entries(), new.0.entries());
    for i in 0..PTRS_PER_TABLE {
        // SAFETY: both tables are live pages of PTRS_PER_TABLE entries.
        let (was, is) = unsafe { (src.add(i).read_volatile(), dst.add(i).read_volatile()) };
        if was == is {
            continue;
        }
        let only_hw = was & sys::PTE_PRESENT != 0 && (was ^ is) & !sys::PTE_HW_BITS == 0;
        if !only_hw {
            found.anomalies += 1;
            continue;
        }
        let missing = was & !is & sys::PTE_HW_BITS;
        if missing != 0 {
            // The CPU may be setting A/D in the new entry right now: OR
            // atomically, like the page walker does.
            // SAFETY: an aligned, live u64 that is only accessed atomically
            // or by the page walker's locked updates from now on.
            unsafe { AtomicU64::from_ptr(dst.add(i)) }.fetch_or(missing, Ordering::Relaxed);
            found.entries += 1;
            if missing & sys::PTE_DIRTY != 0 {
                found.dirty += 1;
            }
        }
    }
    found
}
