// SPDX-License-Identifier: GPL-2.0

//! Kernel interfaces that the 6.12 `kernel` and `bindings` crates do not
//! provide, and x86-64 page-table constants.
//!
//! Two kinds of functions: exported ones whose headers `bindings_helper.h`
//! does not include (debugfs), and the out-of-line wrappers in `shim.c` for
//! static inlines and macros. This file and `shim.c` are the only places that
//! know which kernel line and architecture we are built for.

use kernel::bindings;
use kernel::ffi::{c_char, c_int, c_uint, c_ulong, c_void};

pub(crate) use bindings::{
    address_space, anon_vma, gfp_t, mem_cgroup, mm_struct, page, pmd_t, pud_t, spinlock_t,
    vm_area_struct,
};
pub(crate) type P4d = bindings::p4d_t;
pub(crate) type Pgd = bindings::pgd_t;

/// Bits of a present x86-64 PTE that the CPU's page walker sets by itself.
pub(crate) const PTE_PRESENT: u64 = 1 << 0;
/// Accessed.
pub(crate) const PTE_ACCESSED: u64 = 1 << 5;
/// Dirty.
pub(crate) const PTE_DIRTY: u64 = 1 << 6;
/// Writable.
pub(crate) const PTE_RW: u64 = 1 << 1;
/// In a PMD or PUD entry: maps a huge page rather than pointing to a table.
pub(crate) const PTE_PSE: u64 = 1 << 7;
/// The bits hardware may set in an entry behind our back.
pub(crate) const PTE_HW_BITS: u64 = PTE_ACCESSED | PTE_DIRTY;
/// Entries in one page-table page (any level below the PGD).
pub(crate) const PTRS_PER_TABLE: usize = 512;
/// Bytes mapped by one PTE table (one PMD entry).
pub(crate) const PMD_SIZE: usize = 1 << bindings::PMD_SHIFT;
/// Bytes mapped by one PMD table (one PUD entry).
pub(crate) const PUD_SIZE: usize = 1 << bindings::PUD_SHIFT;
/// Bytes mapped by one PUD table (one P4D entry).
pub(crate) const P4D_SIZE: usize = 1 << 39;
/// Bytes mapped by one P4D table (one PGD entry) with 5-level paging.
pub(crate) const PGDIR_SIZE_L5: usize = 1 << 48;
/// `PAGE_SIZE`.
pub(crate) const PAGE_SIZE: usize = 4096;
/// `TASK_SIZE_MAX` with 4-level paging, the largest user address space we
/// walk with one PGD page.
pub(crate) const USER_END_L4: usize = (1 << 47) - PAGE_SIZE;
/// The same with 5-level paging.
pub(crate) const USER_END_L5: usize = (1 << 56) - PAGE_SIZE;
/// `SINGLE_DEPTH_NESTING`, lockdep subclass for a second lock of one class.
pub(crate) const NESTING_SECOND: c_uint = 1;
/// Lockdep subclass for a third lock of the same class.
pub(crate) const NESTING_THIRD: c_uint = 2;

/// GFP flags that are bits in the bindgen output but not constants.
pub(crate) const GFP_THISNODE: gfp_t = 1 << bindings::___GFP_THISNODE_BIT;
pub(crate) const GFP_NORETRY: gfp_t = 1 << bindings::___GFP_NORETRY_BIT;
pub(crate) const GFP_NOWARN: gfp_t = bindings::__GFP_NOWARN;
pub(crate) const GFP_ZERO: gfp_t = bindings::__GFP_ZERO;
pub(crate) const GFP_DMA32: gfp_t = 1 << bindings::___GFP_DMA32_BIT;

/// The kernel's index (`enum zone_type`) of a zone a request can name.
pub(crate) fn zone_index(zone: crate::request::Zone) -> c_int {
    match zone {
        crate::request::Zone::Dma32 => bindings::zone_type_ZONE_DMA32 as c_int,
        crate::request::Zone::Normal => bindings::zone_type_ZONE_NORMAL as c_int,
    }
}

#[allow(improper_ctypes)]
extern "C" {
    // shim.c: nodes
    pub(crate) fn ptreloc_num_memory_nodes() -> c_uint;
    pub(crate) fn ptreloc_node_has_memory(nid: c_int) -> bool;
    pub(crate) fn ptreloc_node_online(nid: c_int) -> bool;

    // shim.c: tasks and mms
    pub(crate) fn ptreloc_xen_pv_domain() -> bool;
    pub(crate) fn ptreloc_fatal_signal_pending() -> bool;
    pub(crate) fn ptreloc_cond_resched();
    pub(crate) fn ptreloc_mm_users(mm: *mut mm_struct) -> c_int;
    pub(crate) fn ptreloc_mm_valid_pasid(mm: *mut mm_struct) -> bool;
    pub(crate) fn ptreloc_mmap_write_lock_killable(mm: *mut mm_struct) -> c_int;
    pub(crate) fn ptreloc_mmap_write_unlock(mm: *mut mm_struct);
    pub(crate) fn ptreloc_vma_start_write(vma: *mut vm_area_struct);
    pub(crate) fn ptreloc_vma_is_hugetlb(vma: *mut vm_area_struct) -> bool;

    // shim.c: reverse-map locks
    pub(crate) fn ptreloc_i_mmap_lock_write(mapping: *mut address_space);
    pub(crate) fn ptreloc_i_mmap_trylock_write(mapping: *mut address_space) -> bool;
    pub(crate) fn ptreloc_i_mmap_unlock_write(mapping: *mut address_space);
    pub(crate) fn ptreloc_anon_vma_lock_write(anon_vma: *mut anon_vma);
    pub(crate) fn ptreloc_anon_vma_trylock_write(anon_vma: *mut anon_vma) -> bool;
    pub(crate) fn ptreloc_anon_vma_unlock_write(anon_vma: *mut anon_vma);
    pub(crate) fn ptreloc_anon_vma_root(anon_vma: *mut anon_vma) -> *mut anon_vma;

    // shim.c: page-table walk
    pub(crate) fn ptreloc_pgd_offset(mm: *mut mm_struct, addr: c_ulong) -> *mut Pgd;
    pub(crate) fn ptreloc_p4d_offset(pgd: *mut Pgd, addr: c_ulong) -> *mut P4d;
    pub(crate) fn ptreloc_pud_offset(p4d: *mut P4d, addr: c_ulong) -> *mut pud_t;
    pub(crate) fn ptreloc_pmd_offset(pud: *mut pud_t, addr: c_ulong) -> *mut pmd_t;
    pub(crate) fn ptreloc_pgtable_l5_enabled() -> bool;
    pub(crate) fn ptreloc_pgdp_get(pgd: *mut Pgd) -> Pgd;
    pub(crate) fn ptreloc_p4dp_get(p4d: *mut P4d) -> P4d;
    pub(crate) fn ptreloc_pudp_get(pud: *mut pud_t) -> pud_t;
    pub(crate) fn ptreloc_pmdp_get(pmd: *mut pmd_t) -> pmd_t;
    pub(crate) fn ptreloc_pgd_none(e: Pgd) -> bool;
    pub(crate) fn ptreloc_pgd_bad(e: Pgd) -> bool;
    pub(crate) fn ptreloc_p4d_none(e: P4d) -> bool;
    pub(crate) fn ptreloc_p4d_bad(e: P4d) -> bool;
    pub(crate) fn ptreloc_p4d_leaf(e: P4d) -> bool;
    pub(crate) fn ptreloc_pud_none(e: pud_t) -> bool;
    pub(crate) fn ptreloc_pud_bad(e: pud_t) -> bool;
    pub(crate) fn ptreloc_pud_leaf(e: pud_t) -> bool;
    pub(crate) fn ptreloc_pmd_bad(e: pmd_t) -> bool;
    pub(crate) fn ptreloc_pmd_leaf(e: pmd_t) -> bool;
    pub(crate) fn ptreloc_pmd_present(e: pmd_t) -> bool;
    pub(crate) fn ptreloc_pgd_page(pgd: *mut Pgd) -> *mut page;
    pub(crate) fn ptreloc_p4d_page(e: Pgd) -> *mut page;
    pub(crate) fn ptreloc_pud_page(e: P4d) -> *mut page;
    pub(crate) fn ptreloc_pmd_page(e: pud_t) -> *mut page;
    pub(crate) fn ptreloc_pte_page(e: pmd_t) -> *mut page;

    // shim.c: page-table pages
    pub(crate) fn ptreloc_gfp_pgtable_user() -> gfp_t;
    pub(crate) fn ptreloc_alloc_page_node(nid: c_int, gfp: gfp_t) -> *mut page;
    pub(crate) fn ptreloc_page_to_nid(page: *mut page) -> c_int;
    pub(crate) fn ptreloc_page_zonenum(page: *mut page) -> c_int;
    pub(crate) fn ptreloc_page_to_pfn(page: *mut page) -> c_ulong;
    pub(crate) fn ptreloc_pfn_is_pgtable(pfn: c_ulong) -> bool;
    pub(crate) fn ptreloc_pfn_to_nid(pfn: c_ulong) -> c_int;
    pub(crate) fn ptreloc_node_start_pfn(nid: c_int) -> c_ulong;
    pub(crate) fn ptreloc_node_end_pfn(nid: c_int) -> c_ulong;
    pub(crate) fn ptreloc_node_distance(from: c_int, to: c_int) -> c_int;
    pub(crate) fn ptreloc_next_tgid(nr: c_int) -> c_int;
    pub(crate) fn ptreloc_mm_pgd_pfn(mm: *mut mm_struct) -> c_ulong;
    pub(crate) fn ptreloc_node_zone_populated(nid: c_int, zone: c_int) -> bool;
    pub(crate) fn ptreloc_page_address(page: *mut page) -> *mut c_void;
    pub(crate) fn ptreloc_alloc_split_ptlocks() -> bool;
    pub(crate) fn ptreloc_ptlock_ptr(page: *mut page) -> *mut spinlock_t;
    pub(crate) fn ptreloc_pgtable_account(page: *mut page);
    pub(crate) fn ptreloc_pgtable_unaccount(page: *mut page);
    pub(crate) fn ptreloc_pmd_populate(mm: *mut mm_struct, pmd: *mut pmd_t, pte: *mut page);
    pub(crate) fn ptreloc_pud_populate(mm: *mut mm_struct, pud: *mut pud_t, pmd: *mut page);
    pub(crate) fn ptreloc_p4d_with_table(entry: P4d, pud: *mut page) -> P4d;
    pub(crate) fn ptreloc_pti_user_p4dp(p4d: *mut P4d) -> *mut P4d;
    pub(crate) fn ptreloc_write_p4d(p4d: *mut P4d, entry: P4d);
    pub(crate) fn ptreloc_pmd_huge_pte(pmd: *mut page) -> *mut *mut page;
    pub(crate) fn ptreloc_pmd_pts_init(pmd: *mut page);
    pub(crate) fn ptreloc_pt_list(page: *mut page) -> *mut bindings::list_head;
    pub(crate) fn ptreloc_pt_list_page(list: *mut bindings::list_head) -> *mut page;
    pub(crate) fn ptreloc_virt_to_page(addr: *mut c_void) -> *mut page;

    // shim.c: locks and barriers
    pub(crate) fn ptreloc_pmd_lockptr(mm: *mut mm_struct, pmd: *mut pmd_t) -> *mut spinlock_t;
    pub(crate) fn ptreloc_mm_page_table_lock(mm: *mut mm_struct) -> *mut spinlock_t;
    pub(crate) fn ptreloc_spin_lock_nested(lock: *mut spinlock_t, subclass: c_uint);
    pub(crate) fn ptreloc_smp_wmb();
    pub(crate) fn ptreloc_warn(msg: *const c_char);

    // shim.c: memory cgroups
    pub(crate) fn ptreloc_set_active_memcg(memcg: *mut mem_cgroup) -> *mut mem_cgroup;
    pub(crate) fn ptreloc_mem_cgroup_put(memcg: *mut mem_cgroup);

    // shim.c: cross-CPU calls
    pub(crate) fn ptreloc_on_each_cpu(func: unsafe extern "C" fn(*mut c_void));
}

// shim.c: the page-table lock of a new table; see there.
#[allow(improper_ctypes)]
extern "C" {
    pub(crate) fn ptreloc_ptlock_set(page: *mut page, ptl: *mut spinlock_t);
    pub(crate) fn ptreloc_ptlock_init(page: *mut page);
}

// Field access whose path through bindgen's anonymous unions is specific to
// the 6.12 struct layouts.

/// `vma->vm_start` and `vma->vm_end`.
///
/// # Safety
///
/// `vma` must point to a live VMA whose range cannot change (mmap lock held).
pub(crate) unsafe fn vma_range(vma: *const vm_area_struct) -> (usize, usize) {
    // SAFETY: the caller guarantees `vma` is live and stable.
    let range = unsafe { &(*vma).__bindgen_anon_1.__bindgen_anon_1 };
    (range.vm_start, range.vm_end)
}

/// `mm->task_size`: the top of this mm's user address space.
///
/// # Safety
///
/// `mm` must point to a live `mm_struct`.
pub(crate) unsafe fn mm_task_size(mm: *const mm_struct) -> usize {
    // SAFETY: the caller guarantees `mm` is live; `task_size` is set at exec.
    unsafe { (*mm).__bindgen_anon_1.task_size }
}

/// Whether page-table locks are allocated separately from their page
/// (`ALLOC_SPLIT_PTLOCKS`: `spinlock_t` is larger than a word, e.g. with
/// lockdep) instead of embedded in it.
pub(crate) fn alloc_split_ptlocks() -> bool {
    // SAFETY: returns a compile-time constant of the kernel config.
    unsafe { ptreloc_alloc_split_ptlocks() }
}
