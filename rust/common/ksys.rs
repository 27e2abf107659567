// SPDX-License-Identifier: GPL-2.0

//! Kernel functions both modules call, declared once.
//!
//! Their C side is the "Shared with ptreloc_test" section of ptreloc's
//! `shim.c`, exported there: `ptreloc_test` already links against ptreloc,
//! so one copy serves both modules (an object linked into two modules is
//! a Kbuild error in the making).

use kernel::bindings;
use kernel::ffi::{c_char, c_int, c_uint, c_void};

pub(crate) use bindings::gfp_t;

#[allow(improper_ctypes)]
extern "C" {
    fn ptreloc_node_state(nid: c_int, state: c_uint) -> bool;
    fn ptreloc_cond_resched();
    fn ptreloc_next_tgid(nr: c_int) -> c_int;
    pub(crate) fn ptreloc_alloc_pages_node(
        nid: c_int,
        gfp: gfp_t,
        order: c_uint,
    ) -> *mut bindings::page;
    pub(crate) fn ptreloc_page_address(page: *const bindings::page) -> *mut c_void;
    /// `debugfs_create_file()`: a function in 6.12, a `_Generic` macro in 7.3.
    pub(crate) fn ptreloc_debugfs_create_file(
        name: *const c_char,
        mode: bindings::umode_t,
        parent: *mut bindings::dentry,
        data: *mut c_void,
        fops: *const bindings::file_operations,
    ) -> *mut bindings::dentry;
}

/// `__GFP_THISNODE`: a bit in the bindgen output but not a constant.
pub(crate) const GFP_THISNODE: gfp_t = 1 << bindings::___GFP_THISNODE_BIT;

/// `node_state(nid, state)`; `false` for a node id that cannot exist.
pub(crate) fn node_state(nid: i32, state: c_uint) -> bool {
    // SAFETY: reads a variable fixed after boot.
    let nr_node_ids = unsafe { bindings::nr_node_ids };
    // SAFETY: tests a bit of a node mask, which has `nr_node_ids` bits.
    (0..nr_node_ids as i32).contains(&nid) && unsafe { ptreloc_node_state(nid, state) }
}

/// Whether node `nid` has memory.
pub(crate) fn node_has_memory(nid: i32) -> bool {
    node_state(nid, bindings::node_states_N_MEMORY)
}

/// `cond_resched()`: call it in process context with no lock held.
pub(crate) fn cond_resched() {
    // SAFETY: may sleep; every caller is a loop in process context between
    // lock holds.
    unsafe { ptreloc_cond_resched() };
}

/// The lowest thread-group id `>= nr` in the initial pid namespace, if any.
pub(crate) fn next_tgid(nr: i32) -> Option<i32> {
    // SAFETY: looks pids up under RCU, takes no reference.
    let tgid = unsafe { ptreloc_next_tgid(nr) };
    (tgid != 0).then_some(tgid)
}

/// Monotonic time in nanoseconds.
pub(crate) fn now_ns() -> u64 {
    // SAFETY: reads the clock; callable in process and interrupt context.
    unsafe { bindings::ktime_get() as u64 }
}
