// SPDX-License-Identifier: GPL-2.0

//! Step 5 of the protocol: after new tables are installed, no CPU may keep
//! reaching an old one through its TLB or paging-structure caches.

use kernel::bindings;
use kernel::ffi::c_void;

use crate::sys;

/// Flushes TLBs and paging-structure caches on every CPU, and waits until
/// all have: real IPIs, so a preempted vCPU is waited for too.
pub(crate) fn flush_all_cpus() {
    // SAFETY: process context with interrupts enabled, as `on_each_cpu`
    // requires to wait; the callback only flushes the local TLB.
    unsafe { sys::ptreloc_on_each_cpu(flush_this_cpu, core::ptr::null_mut(), 1) };
}

/// `on_each_cpu` callback.
///
/// # Safety
///
/// Runs with interrupts (and so preemption) disabled, as `__flush_tlb_all`
/// requires.
unsafe extern "C" fn flush_this_cpu(_info: *mut c_void) {
    // SAFETY: see above. `__flush_tlb_all` flushes every PCID, global
    // entries and the paging-structure caches of this CPU.
    unsafe { bindings::__flush_tlb_all() };
}
