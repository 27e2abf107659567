// SPDX-License-Identifier: GPL-2.0

//! Step 5 of the protocol: after new tables are installed, no CPU may keep
//! reaching an old one through its TLB or paging-structure caches.
//!
//! What `flush_tlb_mm_range(.., freed_tables)` does, which neither kernel
//! line exports: bump the mm's TLB generation, then flush the CPUs in its
//! `mm_cpumask`. `Documentation/design.rst` ("Which CPUs are flushed") says
//! why that reaches every CPU that can use an old table, and what the waited
//! IPI still gives lockless walkers.

use kernel::bindings;
use kernel::ffi::c_void;

use crate::mm::PinnedMm;
use crate::sys;
use crate::x86::PAGE_SHIFT;

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
        unsafe { sys::ptreloc_on_each_cpu(flush_this_cpu, mm.cast(), 1) };
        return;
    }
    // SAFETY: as above; the mask lives as long as `mm`, and so does `mm`
    // for the callbacks, which are waited for. Real IPIs, so a preempted
    // vCPU (or a CPU with interrupts off in a lockless walk of `mm`, such as
    // GUP-fast) is waited for too.
    unsafe {
        sys::ptreloc_on_each_cpu_mask(sys::ptreloc_mm_cpumask(mm), flush_this_cpu, mm.cast(), true)
    };
}

/// IPI callback, `info` the mm: what `__flush_tlb_all` does, which 7.3
/// exports only to KVM, through the paravirt operations both lines export.
/// A full flush of every PCID, not only the mm's: a lazy CPU may hold the
/// mm under a PCID that is not current, and `__flush_tlb_local` must not be
/// called for a global ASID (it would index the user-PCID flush mask out of
/// bounds). Then, as the kernel's `flush_tlb_func()` does, a CPU that only
/// borrows the mm (lazy TLB: a kernel thread or the idle task runs on the
/// tables of whoever ran last) switches to `init_mm`, and a CPU that does
/// not have the mm loaded leaves its `mm_cpumask`: it will not be
/// interrupted again until it switches to the mm, which sets its bit and
/// flushes if the generation moved on. The lazy flag is the kernel's own
/// (`compat.h`): `current->mm` does not say, a kworker back from an EFI
/// call runs on a borrowed mm without being lazy.
///
/// # Safety
///
/// Runs with interrupts (and so preemption) disabled, as both flushes
/// require, on a CPU in `info`'s `mm_cpumask` or in an `on_each_cpu()`;
/// `info` is a live mm.
unsafe extern "C" fn flush_this_cpu(info: *mut c_void) {
    let mm = info.cast::<sys::mm_struct>();
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
    // SAFETY: interrupts are off, so `switch_mm_irqs_off()`, which runs with
    // them off, is not half done on this CPU: CR3, the lazy flag and our bit
    // in the mask agree. `mm` is live (caller).
    unsafe {
        if loads(mm) {
            if !sys::ptreloc_this_cpu_read_cpu_tlbstate_shared_is_lazy() {
                return;
            }
            // What the kernel's flush does for a lazy CPU when tables are
            // freed; 6.12 clears our bit in the switch, 7.3 below.
            bindings::leave_mm();
        }
        // 7.3 leaves a CPU in the mask of an mm it switched away from until
        // a flush finds it so (`flush_tlb_func()`); 6.12 cleared it in the
        // switch already. Tested first: the line is shared by every CPU.
        let (cpu, mask) = (
            sys::ptreloc_raw_smp_processor_id(),
            sys::ptreloc_mm_cpumask(mm),
        );
        if sys::ptreloc_cpumask_test_cpu(cpu, mask) {
            sys::ptreloc_cpumask_clear_cpu(cpu, mask);
        }
    }
}

/// Whether this CPU's page tables are `mm`'s: its CR3 (the kernel half's
/// under PTI, as in any interrupt) holds `mm`'s PGD.
///
/// # Safety
///
/// `mm` is live; interrupts are off.
unsafe fn loads(mm: *mut sys::mm_struct) -> bool {
    // SAFETY: reading CR3 has no side effect; `mm->pgd` is in the direct
    // map for the mm's life (caller).
    unsafe {
        let pgd = sys::ptreloc_page_to_pfn(sys::ptreloc_virt_to_page(sys::mm_pgd(mm).cast()));
        sys::ptreloc___read_cr3() & sys::ptreloc_CR3_ADDR_MASK() == pgd << PAGE_SHIFT
    }
}
