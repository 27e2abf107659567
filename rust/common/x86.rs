// SPDX-License-Identifier: GPL-2.0

//! x86-64 page-table geometry and entry bits, as both modules and the host
//! tests see them. Plain constants, so that this file needs only `core`;
//! `ptreloc`'s `sys.rs` checks the sizes and bits against the kernel's own
//! at build time.

/// `PAGE_SIZE`.
pub(crate) const PAGE_SIZE: usize = 4096;
/// `PAGE_SHIFT`.
pub(crate) const PAGE_SHIFT: u32 = PAGE_SIZE.trailing_zeros();
/// Entries in one page-table page (any level below the PGD).
pub(crate) const PTRS_PER_TABLE: usize = 512;
/// Bytes mapped by one PTE table (one PMD entry).
pub(crate) const PMD_SIZE: usize = 1 << 21;
/// Bytes mapped by one PMD table (one PUD entry).
pub(crate) const PUD_SIZE: usize = 1 << 30;
/// Bytes mapped by one PUD table (one P4D entry).
pub(crate) const P4D_SIZE: usize = 1 << 39;
/// Bytes mapped by one P4D table (one PGD entry) with 5-level paging.
pub(crate) const PGDIR_SIZE_L5: usize = 1 << 48;
/// `TASK_SIZE_MAX` with 4-level paging, the largest user address space we
/// walk with one PGD page.
pub(crate) const USER_END_L4: usize = (1 << 47) - PAGE_SIZE;
/// The same with 5-level paging.
pub(crate) const USER_END_L5: usize = (1 << 56) - PAGE_SIZE;

/// Present.
pub(crate) const PTE_PRESENT: u64 = 1 << 0;
/// Writable.
pub(crate) const PTE_RW: u64 = 1 << 1;
/// Accessed.
pub(crate) const PTE_ACCESSED: u64 = 1 << 5;
/// Dirty.
pub(crate) const PTE_DIRTY: u64 = 1 << 6;
/// In a PMD or PUD entry: maps a huge page rather than pointing to a table.
pub(crate) const PTE_PSE: u64 = 1 << 7;
/// The bits the CPU's page walker may set in an entry behind our back.
pub(crate) const PTE_HW_BITS: u64 = PTE_ACCESSED | PTE_DIRTY;

/// The bits that `entry` lacks and that a CPU may set in it: Accessed in any
/// present entry, and Dirty (with Accessed) in a writable entry that maps
/// memory (`leaf`: a PTE, or a huge-page entry). A CPU sets no other bit,
/// and clears none.
pub(crate) fn bits_a_cpu_may_set(entry: u64, leaf: bool) -> u64 {
    if entry & PTE_PRESENT == 0 {
        return 0;
    }
    let mut bits = PTE_ACCESSED;
    if leaf && entry & PTE_RW != 0 {
        bits |= PTE_DIRTY;
    }
    bits & !entry
}

/// 1 if [`bits_a_cpu_may_set`] of `entry` is not empty, else 0, without a
/// branch: the copy of a table is scanned with it, 512 entries each time.
/// `pte`: an entry of a PTE table, which always maps memory; an entry of
/// another level does if it has `PTE_PSE`.
pub(crate) fn cpu_may_set_a_bit(entry: u64, pte: bool) -> u64 {
    let leaf = entry >> PTE_PSE.trailing_zeros() | pte as u64;
    let rw = entry >> PTE_RW.trailing_zeros();
    let no_a = !entry >> PTE_ACCESSED.trailing_zeros();
    let no_d = !entry >> PTE_DIRTY.trailing_zeros();
    entry >> PTE_PRESENT.trailing_zeros() & (no_a | rw & leaf & no_d) & 1
}

/// What may have changed in an entry of an old table between its copy and
/// the TLB flush that ends all use of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WalkerChange {
    /// Nothing to do.
    Nothing,
    /// A CPU set these Accessed/Dirty bits in a present entry: carry them.
    Carry(u64),
    /// Accessed/Dirty in a non-present entry: Knights Landing's erratum
    /// (`_PAGE_KNL_ERRATUM_MASK`). Software ignores those bits there
    /// (`pte_none()`, the swap-entry layout), and so do we.
    KnlErratum,
    /// Anything else: software changed an entry it must have been kept from.
    Anomaly,
}

/// Classifies entry `was` of an old table against `copy`, its replacement.
pub(crate) fn walker_change(was: u64, copy: u64) -> WalkerChange {
    if (was ^ copy) & !PTE_HW_BITS != 0 {
        WalkerChange::Anomaly
    } else if was & PTE_PRESENT == 0 {
        if was == copy {
            WalkerChange::Nothing
        } else {
            WalkerChange::KnlErratum
        }
    } else {
        // Bits the copy has and the old entry lacks were set in the new
        // entry after the install: nothing to carry.
        match was & !copy & PTE_HW_BITS {
            0 => WalkerChange::Nothing,
            missing => WalkerChange::Carry(missing),
        }
    }
}
