// SPDX-License-Identifier: GPL-2.0

//! Step 5 of the protocol: after new tables are installed, no CPU may keep
//! reaching an old one through its TLB or paging-structure caches.
//!
//! What `flush_tlb_mm_range(.., freed_tables)` does, which neither kernel
//! line exports: bump the mm's TLB generation, then flush the CPUs in its
//! `mm_cpumask`. `Documentation/design.rst` ("Which CPUs are flushed") says
//! why that reaches every CPU that can use an old table, and what the waited
//! IPI still gives lockless walkers.

use kernel::ffi::c_void;

use crate::mm::PinnedMm;
use crate::sys;

/// Makes every CPU drop what its TLB and paging-structure caches hold of
/// `mm`, or flush before it next runs `mm`; waits for the CPUs it flushes.
///
/// Called after the batch's table stores, in process context with
/// interrupts enabled and no spinlock held (the IPIs are waited for).
pub(crate) fn flush_mm(mm: &PinnedMm) {
    let mm = mm.as_ptr();
    // SAFETY: `mm` is pinned (`PinnedMm`). A CPU that switches to `mm` sets
    // its bit in the mask, then reads the generation: the full barrier of
    // the increment, before our read of the mask in `on_each_cpu_mask`,
    // means it either is in the mask we read, or sees the new generation
    // and flushes (its PCID's recorded generation is older).
    unsafe { sys::ptreloc_inc_mm_tlb_gen(mm) };
    // SAFETY: as above. A global ASID is never taken back while the mm
    // lives; one assigned after this read was flushed when allocated.
    if unsafe { sys::ptreloc_mm_global_asid(mm) } != 0 {
        // CPUs outside the mask may hold entries under a global ASID, and
        // do not look at the generation: flush them all.
        // SAFETY: process context with interrupts enabled, as waiting
        // requires; the callback only flushes the local TLB.
        unsafe { sys::ptreloc_on_each_cpu(flush_this_cpu, core::ptr::null_mut(), 1) };
        return;
    }
    // SAFETY: as above; the mask lives as long as `mm`. Real IPIs, so a
    // preempted vCPU (or a CPU with interrupts off in a lockless walk of
    // `mm`, such as GUP-fast) is waited for too.
    unsafe {
        sys::ptreloc_on_each_cpu_mask(
            sys::ptreloc_mm_cpumask(mm),
            flush_this_cpu,
            core::ptr::null_mut(),
            true,
        )
    };
}

/// IPI callback: what `__flush_tlb_all` does, which 7.3 exports only to
/// KVM, through the paravirt operations both lines export. A full flush of
/// every PCID, not only the mm's: a lazy CPU may hold the mm under a PCID
/// that is not current, and `__flush_tlb_local` must not be called for a
/// global ASID (it would index the user-PCID flush mask out of bounds).
///
/// # Safety
///
/// Runs with interrupts (and so preemption) disabled, as both flushes
/// require.
unsafe extern "C" fn flush_this_cpu(_info: *mut c_void) {
    if sys::cpu_has_pge() {
        // SAFETY: see above. Toggling CR4.PGE or INVPCID's all-context
        // flush drops every PCID's entries, global ones and the
        // paging-structure caches of this CPU.
        unsafe { sys::ptreloc___flush_tlb_global() };
    } else {
        // SAFETY: see above. Without PGE there are no PCIDs and no global
        // entries (`setup_pcid`), so reloading CR3 flushes everything.
        unsafe { sys::ptreloc___flush_tlb_local() };
    }
}
