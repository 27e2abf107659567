// SPDX-License-Identifier: GPL-2.0

//! Walking the upper levels of an mm's page tables to the entry that points
//! to a table of some level.

use core::marker::PhantomData;
use core::ptr::NonNull;

use super::page::{Table, TablePage};
use crate::level::Level;
use crate::locks::SpinGuard;
use crate::mm::MmapWriteGuard;
use crate::sys;
use crate::x86::{P4D_SIZE, PGDIR_SIZE_L5, PMD_SIZE, PTRS_PER_TABLE, PUD_SIZE};

/// Bytes mapped by one PGD entry: 256 TiB with 5-level paging, else 512 GiB
/// (the P4D level is folded into the PGD).
pub(crate) fn pgd_entry_size() -> usize {
    if sys::pgtable_l5_enabled() {
        PGDIR_SIZE_L5
    } else {
        P4D_SIZE
    }
}

/// Whether a PGD entry points to a (P4D or, folded, PUD) table.
pub(crate) fn pgd_is_table(e: sys::Pgd) -> bool {
    !sys::pgd_none(e) && !sys::pgd_bad(e)
}

/// Whether a P4D entry points to a PUD table.
pub(crate) fn p4d_is_table(e: sys::P4d) -> bool {
    !sys::p4d_none(e) && !sys::p4d_bad(e) && !sys::p4d_leaf(e)
}

/// Whether a PUD entry points to a PMD table (not a 1 GiB leaf).
pub(crate) fn pud_is_table(e: sys::pud_t) -> bool {
    !sys::pud_none(e) && !sys::pud_bad(e) && !sys::pud_leaf(e)
}

/// Whether a PMD entry points to a PTE table: not empty, not a huge page
/// (leaf), not a migration or device entry, not corrupt.
pub(crate) fn pmd_is_table(e: sys::pmd_t) -> bool {
    sys::pmd_present(e) && !sys::pmd_leaf(e) && !sys::pmd_bad(e)
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
                return hole(P4D_SIZE);
            }
            let pud = sys::ptreloc_pud_offset(p4d, addr);
            if level == Level::Pmd {
                return slot(pud.cast());
            }
            if !pud_is_table(sys::ptreloc_pudp_get(pud)) {
                return hole(PUD_SIZE);
            }
            slot(sys::ptreloc_pmd_offset(pud, addr).cast())
        }
    }

    /// Where the entry is.
    pub(super) fn entry_ptr(&self) -> *mut u64 {
        self.entry.as_ptr()
    }

    /// The mm whose tables hold the entry.
    pub(super) fn mm(&self) -> *mut sys::mm_struct {
        self.mm
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
    pub(crate) fn table_page(&self) -> TablePage {
        // SAFETY: `entry` is in a live page-table page (type invariant), in
        // the direct map; `virt_to_page` of it is that table's page, never
        // null.
        unsafe {
            TablePage::new(sys::ptreloc_virt_to_page(self.entry.as_ptr().cast())).unwrap_unchecked()
        }
    }

    /// Takes the lock that covers this entry (see the module docs).
    pub(crate) fn lock(&self) -> SpinGuard {
        // SAFETY: `entry` is valid (type invariant): a PMD entry's lock is in
        // its table's page or the mm; the others use `mm->page_table_lock`.
        let ptl = unsafe {
            match self.level {
                Level::Pte => sys::ptreloc_pmd_lockptr(self.mm, self.entry.as_ptr().cast()),
                Level::Pmd | Level::Pud => sys::mm_page_table_lock(self.mm),
            }
        };
        // SAFETY: valid and initialised as above; the slot lock is the first
        // page-table lock taken.
        unsafe { SpinGuard::lock(NonNull::new_unchecked(ptl), 0) }
    }
}

/// Slot lookups of one mmap-lock hold, in address order: for PTE tables,
/// the PMD table of the 1 GiB span looked up last is kept, so that the
/// tables of one span cost one walk of the upper levels, not one each.
///
/// Keeping it is as safe as keeping a [`Slot`] for the hold, which a batch
/// does from collection to installation: the PMD table stays allocated
/// (the invariant of `Slot`), and stays the one the PUD entry points to,
/// since nothing but ptreloc's PMD-level pass replaces a PMD table, and
/// freeing one needs the mmap lock (hugetlb's shared PMD tables are never
/// looked up here: PTE-level walks skip hugetlb VMAs).
pub(crate) struct Walker<'g> {
    guard: &'g MmapWriteGuard<'g>,
    level: Level,
    /// The first address of a span, and its PMD table's first entry.
    pmd_table: Option<(usize, NonNull<u64>)>,
}

impl<'g> Walker<'g> {
    pub(crate) fn new(guard: &'g MmapWriteGuard<'g>, level: Level) -> Self {
        Self {
            guard,
            level,
            pmd_table: None,
        }
    }

    /// [`Slot::lookup`] of the `level` table that maps `addr`.
    pub(crate) fn lookup(&mut self, addr: usize) -> Lookup<'g> {
        let span = addr & !(PUD_SIZE - 1);
        let index = (addr / PMD_SIZE) % PTRS_PER_TABLE;
        if let Some((_, table)) = self.pmd_table.filter(|(s, _)| *s == span) {
            // INVARIANT: entry `index` of the PMD table that maps `addr`,
            // which stays for the hold (see the type's docs).
            return Lookup::Slot(Slot {
                level: Level::Pte,
                // SAFETY: `index` < PTRS_PER_TABLE, within the table, so
                // not null.
                entry: unsafe { NonNull::new_unchecked(table.as_ptr().add(index)) },
                mm: self.guard.mm().as_ptr(),
                _guard: PhantomData,
            });
        }
        let found = Slot::lookup(self.guard, self.level, addr);
        if let (Level::Pte, Lookup::Slot(slot)) = (self.level, &found) {
            // SAFETY: the slot is entry `index` of its PMD table, whose
            // first entry is not null.
            let table = unsafe { NonNull::new_unchecked(slot.entry.as_ptr().sub(index)) };
            self.pmd_table = Some((span, table));
        }
        found
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
        let page = match self.level {
            Level::Pte => {
                let e = sys::pmd_t { pmd: raw as _ };
                pmd_is_table(e).then(|| sys::pmd_page(e))
            }
            Level::Pmd => {
                let e = sys::pud_t { pud: raw as _ };
                pud_is_table(e).then(|| sys::pud_page(e))
            }
            Level::Pud => {
                let e = sys::P4d { p4d: raw as _ };
                p4d_is_table(e).then(|| sys::p4d_page(e))
            }
        }?;
        // SAFETY: an entry that points to a table gives that table's page. It
        // may be freed under us (PTE tables, see the module docs), but its
        // `struct page` stays valid memory: only its node is read before a
        // re-check.
        let page = unsafe { TablePage::new(page) }?;
        Some(Table::new(self.level, page))
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
