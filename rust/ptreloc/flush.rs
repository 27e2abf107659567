// SPDX-License-Identifier: GPL-2.0

//! Step 5 of the protocol: after new tables are installed, no CPU may keep
//! reaching an old one through its TLB or paging-structure caches.

use kernel::ffi::c_void;

use crate::sys;

/// Flushes TLBs and paging-structure caches on every CPU, and waits until
/// all have: real IPIs, so a preempted vCPU is waited for too.
pub(crate) fn flush_all_cpus() {
    // SAFETY: process context with interrupts enabled, as `on_each_cpu`
    // requires to wait; the callback only flushes the local TLB.
    unsafe { sys::ptreloc_on_each_cpu(flush_this_cpu, core::ptr::null_mut(), 1) };
}

/// `on_each_cpu` callback: what `__flush_tlb_all` does, which 7.3 exports
/// only to KVM, through the paravirt operations both lines export.
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
