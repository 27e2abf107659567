// SPDX-License-Identifier: GPL-2.0

//! The kernel as ptreloc sees it, where the 6.12 `kernel` and `bindings`
//! crates do not reach: the C shim's wrappers (`shim.c`), and field access
//! through bindgen's anonymous unions.
//!
//! Boot-time constants and pure functions of an entry value are wrapped
//! here once, as safe functions; what needs a caller's promise stays
//! `unsafe`. This file, `shim.c` and `common/ksys.rs` are the only places
//! that know which kernel line we are built for.

use kernel::bindings;
use kernel::ffi::{c_char, c_int, c_long, c_uint, c_ulong, c_void};
use kernel::prelude::*;

pub(crate) use crate::ksys::*;
use crate::x86;

pub(crate) use bindings::{
    address_space, anon_vma, gfp_t, mem_cgroup, mm_struct, page, pmd_t, pud_t, spinlock_t,
    vm_area_struct,
};
pub(crate) type P4d = bindings::p4d_t;
pub(crate) use bindings::p4dval_t;
pub(crate) type Pgd = bindings::pgd_t;

// The x86-64 geometry and entry bits in `common/x86.rs` are the kernel's.
const _: () = assert!(
    x86::PMD_SIZE == 1 << bindings::PMD_SHIFT
        && x86::PUD_SIZE == 1 << bindings::PUD_SHIFT
        && x86::PAGE_SIZE == 1 << bindings::PAGE_SHIFT
        && x86::PTE_PRESENT == 1 << bindings::_PAGE_BIT_PRESENT
        && x86::PTE_RW == 1 << bindings::_PAGE_BIT_RW
        && x86::PTE_ACCESSED == 1 << bindings::_PAGE_BIT_ACCESSED
        && x86::PTE_DIRTY == 1 << bindings::_PAGE_BIT_DIRTY
        && x86::PTE_PSE == 1 << bindings::_PAGE_BIT_PSE
);

/// `SINGLE_DEPTH_NESTING`, lockdep subclass for a second lock of one class.
pub(crate) const NESTING_SECOND: c_uint = 1;
/// Lockdep subclass for a third lock of the same class.
pub(crate) const NESTING_THIRD: c_uint = 2;

/// GFP flags that are bits in the bindgen output but not constants.
pub(crate) const GFP_NORETRY: gfp_t = 1 << bindings::___GFP_NORETRY_BIT;
pub(crate) const GFP_NOWARN: gfp_t = bindings::__GFP_NOWARN;
pub(crate) const GFP_ZERO: gfp_t = bindings::__GFP_ZERO;
pub(crate) const GFP_DMA32: gfp_t = 1 << bindings::___GFP_DMA32_BIT;
pub(crate) const GFP_ACCOUNT: gfp_t = 1 << bindings::___GFP_ACCOUNT_BIT;

/// The kernel's index (`enum zone_type`) of a zone a request can name.
pub(crate) fn zone_index(zone: crate::request::Zone) -> usize {
    match zone {
        crate::request::Zone::Dma32 => bindings::zone_type_ZONE_DMA32 as usize,
        crate::request::Zone::Normal => bindings::zone_type_ZONE_NORMAL as usize,
    }
}

#[allow(improper_ctypes)]
extern "C" {
    // Nodes
    fn ptreloc_num_node_state(state: c_uint) -> c_uint;
    #[allow(non_snake_case)]
    fn ptreloc_NODE_DATA(nid: c_int) -> *mut bindings::pglist_data;
    fn ptreloc_node_distance(from: c_int, to: c_int) -> c_int;

    // Tasks and mms
    fn ptreloc_xen_pv_domain() -> bool;
    fn ptreloc_fatal_signal_pending(p: *mut bindings::task_struct) -> bool;
    pub(crate) fn ptreloc___next_thread(
        p: *mut bindings::task_struct,
    ) -> *mut bindings::task_struct;
    pub(crate) fn ptreloc_mm_valid_pasid(mm: *mut mm_struct) -> bool;
    pub(crate) fn ptreloc_mmap_write_lock_killable(mm: *mut mm_struct) -> c_int;
    pub(crate) fn ptreloc_mmap_write_unlock(mm: *mut mm_struct);
    pub(crate) fn ptreloc_mmap_lock_is_contended(mm: *mut mm_struct) -> c_int;
    pub(crate) fn ptreloc_vma_start_write(vma: *mut vm_area_struct);
    pub(crate) fn ptreloc_is_vm_hugetlb_page(vma: *mut vm_area_struct) -> bool;

    // Reverse-map locks
    pub(crate) fn ptreloc_i_mmap_lock_write(mapping: *mut address_space);
    pub(crate) fn ptreloc_i_mmap_trylock_write(mapping: *mut address_space) -> bool;
    pub(crate) fn ptreloc_i_mmap_unlock_write(mapping: *mut address_space);
    pub(crate) fn ptreloc_anon_vma_lock_write(anon_vma: *mut anon_vma);
    pub(crate) fn ptreloc_anon_vma_trylock_write(anon_vma: *mut anon_vma) -> bool;
    pub(crate) fn ptreloc_anon_vma_unlock_write(anon_vma: *mut anon_vma);
    pub(crate) fn ptreloc_anon_vma_root(anon_vma: *mut anon_vma) -> *mut anon_vma;

    // Page-table walk
    pub(crate) fn ptreloc_pgd_offset(mm: *mut mm_struct, addr: c_ulong) -> *mut Pgd;
    pub(crate) fn ptreloc_p4d_offset(pgd: *mut Pgd, addr: c_ulong) -> *mut P4d;
    pub(crate) fn ptreloc_pud_offset(p4d: *mut P4d, addr: c_ulong) -> *mut pud_t;
    pub(crate) fn ptreloc_pmd_offset(pud: *mut pud_t, addr: c_ulong) -> *mut pmd_t;
    fn ptreloc_pgtable_l5_enabled() -> bool;
    pub(crate) fn ptreloc_pgdp_get(pgd: *mut Pgd) -> Pgd;
    pub(crate) fn ptreloc_p4dp_get(p4d: *mut P4d) -> P4d;
    pub(crate) fn ptreloc_pudp_get(pud: *mut pud_t) -> pud_t;
    pub(crate) fn ptreloc_pmdp_get(pmd: *mut pmd_t) -> pmd_t;
    fn ptreloc_pgd_none(e: Pgd) -> bool;
    fn ptreloc_pgd_bad(e: Pgd) -> bool;
    fn ptreloc_p4d_none(e: P4d) -> bool;
    fn ptreloc_p4d_bad(e: P4d) -> bool;
    fn ptreloc_p4d_leaf(e: P4d) -> bool;
    fn ptreloc_pud_none(e: pud_t) -> bool;
    fn ptreloc_pud_bad(e: pud_t) -> bool;
    fn ptreloc_pud_leaf(e: pud_t) -> bool;
    fn ptreloc_pmd_bad(e: pmd_t) -> bool;
    fn ptreloc_pmd_leaf(e: pmd_t) -> bool;
    fn ptreloc_pmd_present(e: pmd_t) -> bool;
    fn ptreloc_p4d_flags(e: P4d) -> p4dval_t;
    fn ptreloc_pgd_page(e: Pgd) -> *mut page;
    fn ptreloc_p4d_page(e: P4d) -> *mut page;
    fn ptreloc_pud_page(e: pud_t) -> *mut page;
    fn ptreloc_pmd_page(e: pmd_t) -> *mut page;
    pub(crate) fn ptreloc_virt_to_page(addr: *const c_void) -> *mut page;

    // Pages
    fn ptreloc_gfp_pgtable_user() -> gfp_t;
    pub(crate) fn ptreloc_page_to_nid(page: *const page) -> c_int;
    pub(crate) fn ptreloc_page_zonenum(page: *const page) -> c_int;
    pub(crate) fn ptreloc_page_to_pfn(page: *const page) -> c_ulong;
    pub(crate) fn ptreloc_pfn_to_online_page(pfn: c_ulong) -> *mut page;
    pub(crate) fn ptreloc_page_folio(page: *mut page) -> *mut bindings::folio;
    pub(crate) fn ptreloc_folio_test_pgtable(folio: *const bindings::folio) -> bool;
    #[allow(non_snake_case)]
    fn ptreloc_PageBuddy(page: *const page) -> bool;
    fn ptreloc_page_private(page: *const page) -> c_ulong;
    fn ptreloc_zone_page_state(zone: *mut bindings::zone, item: c_uint) -> c_long;

    // Page-table pages
    fn ptreloc_alloc_split_ptlocks() -> bool;
    pub(crate) fn ptreloc_ptlock_ptr(page: *mut page) -> *mut spinlock_t;
    pub(crate) fn ptreloc_pmd_populate(mm: *mut mm_struct, pmd: *mut pmd_t, pte: *mut page);
    pub(crate) fn ptreloc_pud_populate(mm: *mut mm_struct, pud: *mut pud_t, pmd: *mut pmd_t);
    pub(crate) fn ptreloc_ptdesc_pmd_pts_init(pmd: *mut page);

    // Locks, barriers, warnings
    pub(crate) fn ptreloc_pmd_lockptr(mm: *mut mm_struct, pmd: *mut pmd_t) -> *mut spinlock_t;
    pub(crate) fn ptreloc_spin_lock_nested(lock: *mut spinlock_t, subclass: c_uint);
    pub(crate) fn ptreloc_smp_wmb();
    #[allow(non_snake_case)]
    fn ptreloc_WARN(msg: *const c_char);

    // Memory cgroups
    pub(crate) fn ptreloc_set_active_memcg(memcg: *mut mem_cgroup) -> *mut mem_cgroup;
    pub(crate) fn ptreloc_mem_cgroup_put(memcg: *mut mem_cgroup);
    pub(crate) fn ptreloc_folio_memcg(folio: *mut bindings::folio) -> *mut mem_cgroup;
    pub(crate) fn ptreloc_mem_cgroup_tryget(memcg: *mut mem_cgroup) -> bool;
    pub(crate) fn ptreloc_parent_mem_cgroup(memcg: *mut mem_cgroup) -> *mut mem_cgroup;

    // Cross-CPU calls and TLB flushes
    pub(crate) fn ptreloc_on_each_cpu(
        func: unsafe extern "C" fn(*mut c_void),
        info: *mut c_void,
        wait: c_int,
    );
    pub(crate) fn ptreloc_on_each_cpu_mask(
        mask: *const bindings::cpumask,
        func: unsafe extern "C" fn(*mut c_void),
        info: *mut c_void,
        wait: bool,
    );
    pub(crate) fn ptreloc_mm_cpumask(mm: *mut mm_struct) -> *mut bindings::cpumask;
    pub(crate) fn ptreloc_inc_mm_tlb_gen(mm: *mut mm_struct) -> u64;
    pub(crate) fn ptreloc_mm_global_asid(mm: *mut mm_struct) -> u16;
    fn ptreloc_boot_cpu_has(feature: u16) -> bool;
    pub(crate) fn ptreloc___flush_tlb_global();
    pub(crate) fn ptreloc___flush_tlb_local();
    pub(crate) fn ptreloc___read_cr3() -> c_ulong;
    pub(crate) fn ptreloc_CR3_ADDR_MASK() -> c_ulong;
    pub(crate) fn ptreloc_this_cpu_read_cpu_tlbstate_shared_is_lazy() -> bool;
    pub(crate) fn ptreloc_cpumask_test_cpu(cpu: c_int, cpumask: *const bindings::cpumask) -> bool;
    pub(crate) fn ptreloc_raw_smp_processor_id() -> c_int;
    pub(crate) fn ptreloc_cpumask_clear_cpu(cpu: c_int, dstp: *mut bindings::cpumask);
}

/// Whether the CPUs have global pages (`X86_FEATURE_PGE`).
pub(crate) fn cpu_has_pge() -> bool {
    // SAFETY: reads the boot CPU's feature bits, fixed after boot.
    unsafe { ptreloc_boot_cpu_has(bindings::X86_FEATURE_PGE as u16) }
}

// shim.c's composites: see there why each is in C.
#[allow(improper_ctypes)]
extern "C" {
    pub(crate) fn ptreloc_ptlock_set(page: *mut page, ptl: *mut spinlock_t);
    pub(crate) fn ptreloc_ptlock_init(page: *mut page);
    pub(crate) fn ptreloc_pgtable_account(page: *mut page);
    pub(crate) fn ptreloc_pgtable_unaccount(page: *mut page);
    pub(crate) fn ptreloc_pti_user_p4dp(p4d: *mut P4d) -> *mut P4d;
    pub(crate) fn ptreloc_pmd_huge_pte(pmd: *mut page) -> *mut *mut page;
    pub(crate) fn ptreloc_pt_list(page: *mut page) -> *mut bindings::list_head;
    pub(crate) fn ptreloc_pt_list_page(list: *mut bindings::list_head) -> *mut page;
}

/// Defines a safe function for each shim function that takes and returns
/// values only and has no precondition: a pure function of its arguments,
/// or a constant of the boot or of the kernel config.
macro_rules! pure {
    ($($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty = $shim:ident;)*) => {
        $(
            $(#[$doc])*
            pub(crate) fn $name($($arg: $ty),*) -> $ret {
                // SAFETY: no precondition (see the macro).
                unsafe { $shim($($arg),*) }
            }
        )*
    };
}

pure! {
    /// `pgd_none()`.
    fn pgd_none(e: Pgd) -> bool = ptreloc_pgd_none;
    /// `pgd_bad()`.
    fn pgd_bad(e: Pgd) -> bool = ptreloc_pgd_bad;
    /// `p4d_none()`.
    fn p4d_none(e: P4d) -> bool = ptreloc_p4d_none;
    /// `p4d_bad()`.
    fn p4d_bad(e: P4d) -> bool = ptreloc_p4d_bad;
    /// `p4d_leaf()`.
    fn p4d_leaf(e: P4d) -> bool = ptreloc_p4d_leaf;
    /// `pud_none()`.
    fn pud_none(e: pud_t) -> bool = ptreloc_pud_none;
    /// `pud_bad()`.
    fn pud_bad(e: pud_t) -> bool = ptreloc_pud_bad;
    /// `pud_leaf()`.
    fn pud_leaf(e: pud_t) -> bool = ptreloc_pud_leaf;
    /// `pmd_bad()`.
    fn pmd_bad(e: pmd_t) -> bool = ptreloc_pmd_bad;
    /// `pmd_leaf()`.
    fn pmd_leaf(e: pmd_t) -> bool = ptreloc_pmd_leaf;
    /// `pmd_present()`.
    fn pmd_present(e: pmd_t) -> bool = ptreloc_pmd_present;
    /// `p4d_flags()`: the entry without its frame number.
    fn p4d_flags(e: P4d) -> p4dval_t = ptreloc_p4d_flags;
    /// `pgd_page()`: the page of the table a PGD entry points to.
    fn pgd_page(e: Pgd) -> *mut page = ptreloc_pgd_page;
    /// `p4d_page()`: the page of the table a P4D entry points to.
    fn p4d_page(e: P4d) -> *mut page = ptreloc_p4d_page;
    /// `pud_page()`: the page of the table a PUD entry points to.
    fn pud_page(e: pud_t) -> *mut page = ptreloc_pud_page;
    /// `pmd_page()`: the page of the table a PMD entry points to.
    fn pmd_page(e: pmd_t) -> *mut page = ptreloc_pmd_page;
    /// `pgtable_l5_enabled()`: whether the CPU uses 5-level paging.
    fn pgtable_l5_enabled() -> bool = ptreloc_pgtable_l5_enabled;
    /// `ALLOC_SPLIT_PTLOCKS`: whether page-table locks are allocated
    /// separately from their page (`spinlock_t` is larger than a word, e.g.
    /// with lockdep) instead of embedded in it.
    fn alloc_split_ptlocks() -> bool = ptreloc_alloc_split_ptlocks;
    /// `GFP_PGTABLE_USER`.
    fn gfp_pgtable_user() -> gfp_t = ptreloc_gfp_pgtable_user;
    /// `xen_pv_domain()`.
    fn xen_pv_domain() -> bool = ptreloc_xen_pv_domain;
}

/// Whether node `nid` is online.
pub(crate) fn node_online(nid: i32) -> bool {
    node_state(nid, bindings::node_states_N_ONLINE)
}

/// How many nodes have memory.
pub(crate) fn num_memory_nodes() -> u32 {
    // SAFETY: reads the node state mask.
    unsafe { ptreloc_num_node_state(bindings::node_states_N_MEMORY) }
}

/// The first page frame of node `nid`, and one past its last; empty if
/// the node is not online.
pub(crate) fn node_pfn_span(nid: i32) -> (u64, u64) {
    if !node_online(nid) {
        return (0, 0);
    }
    // SAFETY: an online node has its `pglist_data` (checked above), whose
    // span is read with plain loads, as `node_start_pfn()` and
    // `node_end_pfn()` do.
    unsafe {
        let pgdat = ptreloc_NODE_DATA(nid);
        let start = (*pgdat).node_start_pfn as u64;
        (start, start + (*pgdat).node_spanned_pages as u64)
    }
}

/// Free pages of node `nid` (its zones' `NR_FREE_PAGES`); 0 if the node is
/// not online.
pub(crate) fn node_free_pages(nid: i32) -> u64 {
    if !node_online(nid) {
        return 0;
    }
    // SAFETY: an online node has its `pglist_data`; zone counters are read
    // racily, as `zone_page_state()` does.
    unsafe {
        let pgdat = ptreloc_NODE_DATA(nid);
        (*pgdat)
            .node_zones
            .iter_mut()
            .map(|zone| {
                ptreloc_zone_page_state(zone, bindings::zone_stat_item_NR_FREE_PAGES).max(0) as u64
            })
            .sum()
    }
}

/// The order of the free buddy block `page` heads, if it heads one; racy
/// (the allocator may take it meanwhile), so capped at `MAX_PAGE_ORDER`.
///
/// # Safety
///
/// `page` must be an online page.
pub(crate) unsafe fn free_order(page: *mut page) -> Option<u32> {
    // SAFETY: an online page (caller); `PageBuddy` reads its type, and a
    // buddy page's private field is its order.
    unsafe {
        ptreloc_PageBuddy(page)
            .then(|| (ptreloc_page_private(page) as u32).min(bindings::MAX_PAGE_ORDER))
    }
}

/// Whether zone `zone` (a [`zone_index`]) of node `nid` has memory
/// (`populated_zone()`); `false` if the node is not online.
pub(crate) fn node_zone_populated(nid: i32, zone: usize) -> bool {
    // SAFETY: as for `node_pfn_span`; `zone_index` is below `MAX_NR_ZONES`.
    node_online(nid) && unsafe { (*ptreloc_NODE_DATA(nid)).node_zones[zone].present_pages != 0 }
}

/// `node_distance()` between two online nodes.
pub(crate) fn node_distance(from: i32, to: i32) -> i32 {
    // SAFETY: reads the distance table, fixed after boot.
    unsafe { ptreloc_node_distance(from, to) }
}

/// Sleeps for `us` microseconds, or up to an eighth longer so that timer
/// wakeups can coalesce, uninterruptibly but not counted as load
/// (`usleep_idle_range()`): the sleeps are short, no longer than a hold of
/// the mmap lock. Process context, no lock held.
pub(crate) fn sleep_idle_us(us: u64) {
    let us = us as kernel::ffi::c_ulong;
    // SAFETY: process context without spinlocks (caller); an hrtimer sleep.
    unsafe { bindings::usleep_range_state(us, us + us / 8, bindings::TASK_IDLE) };
}

/// Whether the current task has a fatal signal pending.
pub(crate) fn fatal_signal_pending() -> bool {
    // SAFETY: `current` is a live task, ours.
    unsafe { ptreloc_fatal_signal_pending(bindings::get_current()) }
}

/// `WARN(1, ...)` with `msg`, once per call.
pub(crate) fn warn(msg: &CStr) {
    // SAFETY: `msg` is NUL-terminated.
    unsafe { ptreloc_WARN(msg.as_char_ptr()) };
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

/// `atomic_read(&mm->mm_users)`.
///
/// # Safety
///
/// `mm` must point to a live `mm_struct`.
pub(crate) unsafe fn mm_users(mm: *const mm_struct) -> i32 {
    // SAFETY: live (caller); an aligned `int` read once, as `atomic_read`.
    unsafe { core::ptr::addr_of!((*mm).__bindgen_anon_1.mm_users.counter).read_volatile() }
}

/// `mm->pgd`.
///
/// # Safety
///
/// `mm` must point to a live `mm_struct`.
pub(crate) unsafe fn mm_pgd(mm: *const mm_struct) -> *mut Pgd {
    // SAFETY: live (caller); set at creation, freed with the mm.
    unsafe { (*mm).__bindgen_anon_1.pgd }
}

/// `&mm->page_table_lock`: the lock of PUD and P4D entries (`pud_lockptr()`,
/// `__pud_alloc()`).
///
/// # Safety
///
/// `mm` must point to a live `mm_struct`.
pub(crate) unsafe fn mm_page_table_lock(mm: *mut mm_struct) -> *mut spinlock_t {
    // SAFETY: live (caller); only the address is taken.
    unsafe { core::ptr::addr_of_mut!((*mm).__bindgen_anon_1.page_table_lock) }
}
