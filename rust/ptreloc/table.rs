// SPDX-License-Identifier: GPL-2.0

//! Page-table pages and the entries that point to them.
//!
//! A table of some [`Level`] is pointed to by one entry of the level above:
//! a PTE table by a PMD entry, a PMD table by a PUD entry, a PUD table by a
//! P4D entry (the PGD entry itself with 4-level paging). A [`Slot`] is such
//! an entry, an [`Entry`] its value, a [`Table`] a live table page and a
//! [`NewTable`] its replacement before installation.
//!
//! Everything here is reached through an [`MmapWriteGuard`], whose lifetime
//! bounds every pointer into the tables: with the mmap lock held for writing,
//! no PGD, P4D, PUD or PMD table of the mm can be freed or replaced except by
//! us. A PTE table can: file THP collapse (`retract_page_tables`) clears its
//! PMD entry and frees it under the file's rmap lock and the PMD lock only.
//! So a [`Table`] read from an entry is only a hint until the entry is
//! re-checked under the slot's lock with the span's rmap locks held; only
//! then may its lock be used ([`Table::ptl`] is unsafe for that reason).
//!
//! Locks, per level of the table that moves:
//!
//! | table | slot lock                 | the table's own lock      |
//! |-------|---------------------------|---------------------------|
//! | PTE   | PMD lock (split, or mm's) | split PTE lock            |
//! | PMD   | `mm->page_table_lock`     | split PMD lock            |
//! | PUD   | `mm->page_table_lock`     | none (the slot's)         |

use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering};

use kernel::bindings;
use kernel::prelude::*;

use crate::locks::SpinGuard;
use crate::mm::MmapWriteGuard;
pub(crate) use crate::request::{Level, Zone};
use crate::sys::{self, PTRS_PER_TABLE};

impl Level {
    /// Bytes of address space one table of this level maps.
    pub(crate) fn span(self) -> usize {
        match self {
            Level::Pte => sys::PMD_SIZE,
            Level::Pmd => sys::PUD_SIZE,
            Level::Pud => sys::P4D_SIZE,
        }
    }

    /// Index into per-level counters.
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// Bytes mapped by one entry of a table of this level.
    pub(crate) fn entry_span(self) -> usize {
        self.span() / PTRS_PER_TABLE
    }

    /// The index of the entry mapping `addr` in the table of this level
    /// that maps it.
    pub(crate) fn entry_index(self, addr: usize) -> usize {
        (addr / self.entry_span()) % PTRS_PER_TABLE
    }

    /// Whether an entry of a table of this level maps memory (a page or a
    /// huge page) rather than pointing to a lower table.
    pub(crate) fn is_leaf(self, entry: u64) -> bool {
        self == Level::Pte || entry & sys::PTE_PSE != 0
    }
}

/// A range of page frame numbers, `[start, end)`.
#[derive(Clone, Copy)]
pub(crate) struct PfnRange {
    pub(crate) start: u64,
    pub(crate) end: u64,
}

impl PfnRange {
    pub(crate) fn contains(&self, pfn: u64) -> bool {
        (self.start..self.end).contains(&pfn)
    }

    /// Page-table pages of any owner (user, kernel, PGDs) in the range.
    pub(crate) fn count_pgtables(&self) -> u64 {
        let mut n = 0;
        for pfn in self.start..self.end {
            // SAFETY: `ptreloc_pfn_is_pgtable` checks that the PFN is online
            // memory before it looks at its page.
            n += u64::from(unsafe { sys::ptreloc_pfn_is_pgtable(pfn as _) });
            if pfn % (1 << 16) == 0 {
                // SAFETY: process context, no locks held.
                unsafe { sys::ptreloc_cond_resched() };
            }
        }
        n
    }

    /// The node with memory outside the range that is nearest to the node of
    /// the range's first online page (or to node 0).
    pub(crate) fn nearest_node_outside(&self) -> Option<i32> {
        // SAFETY: reads node masks, spans and distances of online nodes.
        unsafe {
            let from = (self.start..self.end)
                .step_by(512)
                .map(|pfn| sys::ptreloc_pfn_to_nid(pfn as _))
                .find(|nid| *nid >= 0)
                .unwrap_or(0);
            (0..bindings::nr_node_ids as i32)
                .filter(|n| sys::ptreloc_node_online(*n) && sys::ptreloc_node_has_memory(*n))
                .filter(|n| {
                    let (start, end) = (
                        sys::ptreloc_node_start_pfn(*n) as u64,
                        sys::ptreloc_node_end_pfn(*n) as u64,
                    );
                    start < self.start || end > self.end
                })
                .min_by_key(|n| sys::ptreloc_node_distance(from, *n))
        }
    }
}

/// Where tables go: a node, optionally one zone of it; or, for an
/// evacuation, anywhere outside a PFN range (new ones from that node).
#[derive(Clone, Copy)]
pub(crate) struct Target {
    pub(crate) node: i32,
    pub(crate) zone: Option<Zone>,
    pub(crate) avoid: Option<PfnRange>,
}

impl Target {
    /// Whether `page` is where this target wants tables.
    fn holds(&self, page: *mut sys::page) -> bool {
        // SAFETY: `page` is a valid page (callers).
        let (node, zone, pfn) = unsafe {
            (
                sys::ptreloc_page_to_nid(page),
                sys::ptreloc_page_zonenum(page),
                sys::ptreloc_page_to_pfn(page) as u64,
            )
        };
        let zone_ok = self.zone.map_or(true, |z| sys::zone_index(z) == zone);
        match self.avoid {
            Some(range) => zone_ok && !range.contains(pfn),
            None => zone_ok && node == self.node,
        }
    }

    /// Whether `table` is where this target wants tables.
    pub(crate) fn holds_table(&self, table: &Table) -> bool {
        self.holds(table.page.page.as_ptr())
    }

    /// Whether the target node has memory in the target zone.
    pub(crate) fn zone_populated(&self) -> bool {
        // SAFETY: `node` is a valid, online node id (checked by the caller).
        self.zone.map_or(true, |z| unsafe {
            sys::ptreloc_node_zone_populated(self.node, sys::zone_index(z))
        })
    }
}

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
    /// The page must have a lock: a live PTE or PMD table page, or a new one
    /// without `ALLOC_SPLIT_PTLOCKS` (whose lock `alloc` initialised).
    unsafe fn ptl(&self) -> NonNull<sys::spinlock_t> {
        // SAFETY: `ptlock_ptr` is the address of the embedded lock, or the
        // pointer to the separately allocated one, which such a page has.
        unsafe { NonNull::new_unchecked(sys::ptreloc_ptlock_ptr(self.page.as_ptr())) }
    }
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

/// Whether a PMD entry points to a PTE table: not empty, not a huge page
/// (leaf), not a migration or device entry, not corrupt.
pub(crate) fn pmd_is_table(e: sys::pmd_t) -> bool {
    // SAFETY: pure functions of the entry value.
    unsafe { sys::ptreloc_pmd_present(e) && !sys::ptreloc_pmd_leaf(e) && !sys::ptreloc_pmd_bad(e) }
}

/// Rounds `addr` up to the next multiple of `size` (a power of two).
fn next_boundary(addr: usize, size: usize) -> usize {
    (addr | (size - 1)).saturating_add(1)
}

/// Where the entry pointing to a table of some level lives.
pub(crate) enum Lookup<'g> {
    /// The entry's slot in its table.
    Slot(Slot<'g>),
    /// The tables above do not reach that far; the next slot could be at
    /// `next`.
    Hole { next: usize },
}

/// The entry that points to a table of `level`, in a live table of an mm
/// whose mmap lock is held.
///
/// # Invariants
///
/// `entry` points into a page-table page of `mm` above `level` that stays
/// allocated for `'g` (only we replace PMD, PUD and P4D tables, and we hold
/// the mmap lock that every other way of freeing them needs).
pub(crate) struct Slot<'g> {
    level: Level,
    entry: NonNull<u64>,
    mm: *mut sys::mm_struct,
    _guard: PhantomData<&'g MmapWriteGuard<'g>>,
}

impl<'g> Slot<'g> {
    /// Walks the upper levels to the entry that points to the `level` table
    /// mapping `addr`.
    pub(crate) fn lookup(guard: &'g MmapWriteGuard<'_>, level: Level, addr: usize) -> Lookup<'g> {
        let mm = guard.mm().as_ptr();
        let hole = |size| Lookup::Hole {
            next: next_boundary(addr, size),
        };
        // INVARIANT: each pointer below is an entry in a table of `mm` that
        // the mmap lock keeps, reached through entries that point to tables.
        let slot = |entry: *mut u64| match NonNull::new(entry) {
            Some(entry) => Lookup::Slot(Slot {
                level,
                entry,
                mm,
                _guard: PhantomData,
            }),
            None => hole(level.span()),
        };
        // SAFETY: with the mmap lock held for writing, the PGD, P4D and PUD
        // tables of the mm stay allocated; the entries are read once each and
        // only followed when they point to a table.
        unsafe {
            let pgd = sys::ptreloc_pgd_offset(mm, addr);
            if !pgd_is_table(sys::ptreloc_pgdp_get(pgd)) {
                return hole(pgd_entry_size());
            }
            let p4d = sys::ptreloc_p4d_offset(pgd, addr);
            if level == Level::Pud {
                return slot(p4d.cast());
            }
            if !p4d_is_table(sys::ptreloc_p4dp_get(p4d)) {
                return hole(sys::P4D_SIZE);
            }
            let pud = sys::ptreloc_pud_offset(p4d, addr);
            if level == Level::Pmd {
                return slot(pud.cast());
            }
            if !pud_is_table(sys::ptreloc_pudp_get(pud)) {
                return hole(sys::PUD_SIZE);
            }
            slot(sys::ptreloc_pmd_offset(pud, addr).cast())
        }
    }

    /// Reads the entry once.
    pub(crate) fn read(&self) -> Entry {
        // SAFETY: `entry` is valid (type invariant); entries are 64-bit and
        // aligned, so a volatile read is a single load (READ_ONCE).
        let raw = unsafe { self.entry.as_ptr().read_volatile() };
        Entry {
            level: self.level,
            raw,
        }
    }

    /// The page-table page this entry is in.
    pub(crate) fn table_page(&self) -> NonNull<sys::page> {
        // SAFETY: `entry` is in a live page-table page (type invariant), in
        // the direct map.
        unsafe { NonNull::new_unchecked(sys::ptreloc_virt_to_page(self.entry.as_ptr().cast())) }
    }

    /// Takes the lock that covers this entry (see the module docs).
    pub(crate) fn lock(&self) -> SpinGuard {
        // SAFETY: `entry` is valid (type invariant): a PMD entry's lock is in
        // its table's page or the mm; the others use `mm->page_table_lock`.
        let ptl = unsafe {
            match self.level {
                Level::Pte => sys::ptreloc_pmd_lockptr(self.mm, self.entry.as_ptr().cast()),
                Level::Pmd | Level::Pud => sys::ptreloc_mm_page_table_lock(self.mm),
            }
        };
        // SAFETY: valid and initialised as above; the slot lock is the first
        // page-table lock taken.
        unsafe { SpinGuard::lock(NonNull::new_unchecked(ptl), 0) }
    }
}

/// The value of an entry that may point to a table of `level`.
#[derive(Clone, Copy)]
pub(crate) struct Entry {
    level: Level,
    raw: u64,
}

impl Entry {
    /// A PMD entry value read by other means (the census walk).
    pub(crate) fn from_pmd(e: sys::pmd_t) -> Self {
        Self {
            level: Level::Pte,
            raw: e.pmd as u64,
        }
    }

    /// The table this entry points to, if it points to one.
    pub(crate) fn table(self) -> Option<Table> {
        let raw = self.raw;
        // SAFETY: the predicates are pure functions of the value; an entry
        // that points to a table gives that table's page. It may be freed
        // under us (PTE tables, see the module docs), but its `struct page`
        // stays valid memory: only its node is read before a re-check.
        let page = unsafe {
            match self.level {
                Level::Pte => {
                    let e = sys::pmd_t { pmd: raw as _ };
                    pmd_is_table(e).then(|| sys::ptreloc_pte_page(e))
                }
                Level::Pmd => {
                    let e = sys::pud_t { pud: raw as _ };
                    pud_is_table(e).then(|| sys::ptreloc_pmd_page(e))
                }
                Level::Pud => {
                    let e = sys::P4d { p4d: raw as _ };
                    p4d_is_table(e).then(|| sys::ptreloc_pud_page(e))
                }
            }
        }?;
        // SAFETY: see above.
        let page = unsafe { TablePage::new(page) }?;
        Some(Table {
            level: self.level,
            page,
        })
    }

    /// Whether this PMD entry maps a huge page (a THP, or a migration entry
    /// for one), which may have a PTE table deposited for it in the PMD
    /// table: anything but empty or a table pointer.
    pub(crate) fn may_have_deposit(self) -> bool {
        self.level == Level::Pte && self.raw != 0 && self.table().is_none()
    }

    /// Whether two reads of a slot found the same value.
    pub(crate) fn same(self, other: Entry) -> bool {
        self.raw == other.raw
    }
}

/// A live page-table page of some level.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Table {
    level: Level,
    page: TablePage,
}

impl Table {
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

/// Old tables that a request unlinked, freed together once an RCU grace
/// period has passed since the last of them was added: then no lockless
/// walker (GUP-fast, `pte_offset_map()`) can still be reading one.
///
/// [`Retired::start_grace_period`] starts a normal grace period in the
/// background (no IPI), while the request goes on. [`Retired::free`] then
/// waits only if that one has not completed yet, and then expedites it. A
/// request frees its tables before it reports, so per-node counters are
/// settled by then, and along the way once [`Retired::MAX`] wait: about one
/// expedited grace period per request. That interrupts every CPU, as the TLB
/// flush of every batch already does; with `rcupdate.rcu_normal=1`
/// (real-time systems) it is a normal one.
///
/// # Invariants
///
/// Every table in `tables` is owned by this value, unreachable from any page
/// table, and in no CPU's TLB or paging-structure cache. `gp`, when set, is
/// a grace-period cookie taken after the last of them was added.
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
    /// unreachable from any page table, and flushed from every CPU's TLB
    /// since it was unlinked (if it was ever mapped).
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
            let page = table.page.page.as_ptr();
            // SAFETY: ours, unreachable, and no CPU or lockless walker can
            // see it any more (type invariant and the grace period).
            unsafe {
                if table.level == Level::Pmd {
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

/// Undoes what [`NewTable::alloc`] did to make `page` a table, for a page
/// being freed.
///
/// # Safety
///
/// `page` must be an unreachable page-table page that we own.
unsafe fn destruct(page: *mut sys::page) {
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
    /// reclaim, charged to `memcg` (the target mm's) when given.
    ///
    /// The allocator cannot be told "this zone only": `__GFP_DMA32` caps the
    /// zones at DMA32, and without it NORMAL comes first. A page from a lower
    /// zone than wanted means the wanted one is at its watermark: `ENOMEM`.
    pub(crate) fn alloc(
        level: Level,
        target: Target,
        memcg: Option<NonNull<sys::mem_cgroup>>,
    ) -> Result<Self> {
        let node = target.node;
        // Every entry is copied over, so the page need not be zeroed.
        // SAFETY: reads a constant.
        let mut gfp = (unsafe { sys::ptreloc_gfp_pgtable_user() } & !sys::GFP_ZERO)
            | sys::GFP_THISNODE
            | sys::GFP_NORETRY
            | sys::GFP_NOWARN;
        if target.zone == Some(Zone::Dma32) {
            gfp |= sys::GFP_DMA32;
        }
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
        let p = page.page.as_ptr();
        if !target.holds(p) {
            // SAFETY: ours, not yet anything.
            unsafe { bindings::__free_pages(p, 0) };
            return Err(ENOMEM);
        }
        // SAFETY: the page is ours and not yet a page table.
        unsafe {
            if level != Level::Pud && !sys::alloc_split_ptlocks() {
                sys::ptreloc_ptlock_init(p);
            }
            if level == Level::Pmd {
                *sys::ptreloc_pmd_huge_pte(p) = core::ptr::null_mut();
                sys::ptreloc_pmd_pts_init(p);
            }
            sys::ptreloc_pgtable_account(p);
        }
        // INVARIANT: allocated and accounted just above, mapped nowhere.
        Ok(Self { level, page })
    }

    /// Copies `old` into this table and installs it in `slot` in place of
    /// `old`; returns it as a live table. A PMD table also takes over the
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
    pub(crate) unsafe fn install(self, slot: &Slot<'_>, old: Table) -> Table {
        let new = self.page;
        let (o, n) = (old.page.page.as_ptr(), new.page.as_ptr());
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
            let (src, dst) = (old.page.entries(), new.entries());
            for i in 0..PTRS_PER_TABLE {
                dst.add(i).write(src.add(i).read_volatile());
            }
            // Entries and lock must be visible before the table is: lockless
            // walkers (GUP-fast) may follow the entry as soon as it is set.
            sys::ptreloc_smp_wmb();
            let entry = slot.entry.as_ptr();
            match self.level {
                Level::Pte => sys::ptreloc_pmd_populate(slot.mm, entry.cast(), n),
                Level::Pmd => sys::ptreloc_pud_populate(slot.mm, entry.cast(), n),
                Level::Pud => replace_p4d_table(entry.cast(), old, n),
            }
        }
        core::mem::forget(self);
        Table {
            level: old.level,
            page: new,
        }
    }

    /// Copies the deposited PTE table `old` into this one, which takes over
    /// its lock with `ALLOC_SPLIT_PTLOCKS`; returns the page, now owned by the
    /// deposit list (the caller links it in place of `old`).
    ///
    /// # Safety
    ///
    /// `old` must be a deposited PTE table whose PMD table's lock the caller
    /// holds.
    unsafe fn into_deposit(self, old: *mut sys::page) -> *mut sys::page {
        let new = self.page;
        // SAFETY: both are PTE table pages; `old` is only reachable through
        // the locked deposit list (caller), `new` is ours.
        unsafe {
            if sys::alloc_split_ptlocks() {
                sys::ptreloc_ptlock_set(new.page.as_ptr(), sys::ptreloc_ptlock_ptr(old));
            }
            let (src, dst) = (sys::ptreloc_page_address(old).cast::<u64>(), new.entries());
            core::ptr::copy_nonoverlapping(src, dst, PTRS_PER_TABLE);
        }
        core::mem::forget(self);
        new.page.as_ptr()
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
/// first, only if it points to `old`; both keep their own flags.
///
/// # Safety
///
/// The caller holds `mm->page_table_lock`; `p4d` is a live P4D entry.
unsafe fn replace_p4d_table(p4d: *mut sys::P4d, old: Table, new: *mut sys::page) {
    // SAFETY: `p4d` is live (caller); the user copy, if any, is the entry at
    // the same index of the PGD's user half, which lives as long as it.
    unsafe {
        let user = sys::ptreloc_pti_user_p4dp(p4d);
        if !user.is_null() {
            let copy = sys::ptreloc_p4dp_get(user);
            if p4d_is_table(copy) && sys::ptreloc_pud_page(copy) == old.page.page.as_ptr() {
                sys::ptreloc_write_p4d(user, sys::ptreloc_p4d_with_table(copy, new));
            }
        }
        let entry = sys::ptreloc_p4dp_get(p4d);
        sys::ptreloc_write_p4d(p4d, sys::ptreloc_p4d_with_table(entry, new));
    }
}

impl Drop for NewTable {
    fn drop(&mut self) {
        let page = self.page.page.as_ptr();
        // SAFETY: never installed, so unreachable; undo `alloc`. Its lock was
        // never shared, so there is nothing to hand back.
        unsafe {
            sys::ptreloc_pgtable_unaccount(page);
            bindings::__free_pages(page, 0);
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
/// drop the data written through the old one. At the upper levels the CPU
/// sets Accessed in entries that point to tables, and Accessed/Dirty in huge
/// page (leaf) entries: the same bits, carried the same way.
///
/// # Safety
///
/// `new` must have replaced `old` in the page tables, every CPU's TLB must
/// have been flushed since (so nothing writes to `old` any more), and the
/// caller must hold the locks that keep software from changing either.
pub(crate) unsafe fn reconcile(old: Table, new: Table) -> Reconciled {
    let mut found = Reconciled::default();
    let (src, dst) = (old.page.entries(), new.page.entries());
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

/// The PTE tables deposited in the PMD table that holds `slot` (one per
/// huge page, kept for splitting it: `pgtable_trans_huge_deposit`): how many
/// there are, and how many of them are not where `target` wants them.
///
/// # Safety
///
/// `slot` must be a PMD entry (a [`Level::Pte`] slot) of an mm whose mmap
/// lock is held for writing.
pub(crate) unsafe fn count_deposits(slot: &Slot<'_>, target: Target) -> (usize, usize) {
    let _pmd = slot.lock();
    let mut counts = (0, 0);
    // SAFETY: the PMD table is live (caller) and its lock held, so the list
    // is stable; every element is a deposited PTE table page.
    unsafe {
        for_each_deposit(slot, |page| {
            counts.0 += 1;
            if !target.holds(page) {
                counts.1 += 1;
            }
            None
        })
    };
    counts
}

/// Calls `f` on every deposited table of `slot`'s PMD table, once each. A
/// page `f` returns takes the table's place in the list.
///
/// # Safety
///
/// As for [`count_deposits`], and the caller holds the PMD table's lock.
unsafe fn for_each_deposit(
    slot: &Slot<'_>,
    mut f: impl FnMut(*mut sys::page) -> Option<*mut sys::page>,
) {
    let pmd_page = slot.table_page().as_ptr();
    // SAFETY: see above. The list is circular with no separate head: count
    // it first, then visit each element once, taking the next one before
    // the current one may be replaced.
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
            if let Some(replacement) = f(pos) {
                replace_in_deposit_list(head, pos, replacement);
            }
            pos = following;
        }
    }
}

/// Moves the PTE tables deposited in the PMD table that holds `slot` to
/// `target`, as many as `spare` has replacements for, the old ones to
/// `retired`. Returns how many moved.
///
/// A deposited table is mapped by no entry, so no CPU and no lockless walker
/// can see it: it is reached only through the PMD table's deposit list,
/// under the PMD table's lock, which is all that is needed to swap it. The
/// old table waits for a grace period all the same, like every other.
///
/// # Safety
///
/// As for [`count_deposits`], and `retired` has room for every spare.
pub(crate) unsafe fn move_deposits(
    slot: &Slot<'_>,
    target: Target,
    spare: &mut impl Iterator<Item = NewTable>,
    retired: &mut Retired,
) -> u64 {
    let _pmd = slot.lock();
    let mut moved = 0;
    // SAFETY: the PMD table is live and locked (caller, and above), and
    // `retired` has room for one table per spare (caller).
    unsafe {
        for_each_deposit(slot, |old| {
            if target.holds(old) {
                return None;
            }
            let page = TablePage::new(old)?;
            let new = spare.next()?;
            moved += 1;
            // Mapped by no entry while deposited, and unlinked now.
            retired.add(Table {
                level: Level::Pte,
                page,
            });
            // `old` is deposited and its PMD table locked (above).
            Some(new.into_deposit(old))
        })
    };
    moved
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
