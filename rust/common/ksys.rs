// SPDX-License-Identifier: GPL-2.0

//! Kernel functions both modules call, declared once.
//!
//! Their C side is the "Shared with ptreloc_test" section of ptreloc's
//! `shim.c`, exported there: `ptreloc_test` already links against ptreloc,
//! so one copy serves both modules (an object linked into two modules is
//! a Kbuild error in the making).

use core::marker::PhantomData;
use core::ptr::NonNull;

use kernel::bindings;
use kernel::ffi::{c_char, c_int, c_uint, c_void};

pub(crate) use bindings::gfp_t;

#[allow(improper_ctypes)]
extern "C" {
    fn ptreloc_node_state(nid: c_int, state: c_uint) -> bool;
    fn ptreloc_cond_resched();
    fn ptreloc_rcu_read_lock();
    fn ptreloc_rcu_read_unlock();
    fn ptreloc_pid_nr(pid: *mut bindings::pid) -> bindings::pid_t;
    fn ptreloc_get_pid(pid: *mut bindings::pid) -> *mut bindings::pid;
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

/// An RCU read-side critical section, `rcu_read_lock()` until dropped. Not
/// `Send`: it must end on the task that began it.
pub(crate) struct RcuReadGuard(PhantomData<*mut ()>);

impl RcuReadGuard {
    pub(crate) fn new() -> Self {
        // SAFETY: may nest; ended by `drop`, on this task (not `Send`).
        unsafe { ptreloc_rcu_read_lock() };
        Self(PhantomData)
    }
}

impl Drop for RcuReadGuard {
    fn drop(&mut self) {
        // SAFETY: began in `new`.
        unsafe { ptreloc_rcu_read_unlock() };
    }
}

/// A `struct pid` we hold a reference on: a process that keeps its identity
/// in every pid namespace, however its numbers are reused.
///
/// # Invariants
///
/// `pid` is a `struct pid` on which we own one reference, put in `drop`.
pub(crate) struct Pid(NonNull<bindings::pid>);

impl Pid {
    /// The lowest thread group whose id in the initial pid namespace is
    /// `>= nr`: its pid, and that id. Evacuations and storms walk every
    /// process with it, whatever namespace the caller is in.
    pub(crate) fn next_thread_group(mut nr: i32) -> Option<(Self, i32)> {
        let _rcu = RcuReadGuard::new();
        loop {
            // SAFETY: under RCU, as `find_ge_pid` wants; `init_pid_ns` lives
            // for ever. A pid it returns stays valid memory until we leave
            // the critical section.
            let pid = NonNull::new(unsafe {
                bindings::find_ge_pid(nr, core::ptr::addr_of_mut!(bindings::init_pid_ns))
            })?;
            // SAFETY: as above; `pid_nr` reads the initial-namespace number.
            let found = unsafe { ptreloc_pid_nr(pid.as_ptr()) };
            // SAFETY: under RCU; a thread-group leader (live or a zombie
            // whose threads still run) is attached as PIDTYPE_TGID.
            if !unsafe { bindings::pid_task(pid.as_ptr(), bindings::pid_type_PIDTYPE_TGID) }
                .is_null()
            {
                // SAFETY: a pid that is still valid memory under RCU;
                // `get_pid` takes a reference of our own.
                // INVARIANT: that reference.
                return Some((
                    Self(unsafe { NonNull::new_unchecked(ptreloc_get_pid(pid.as_ptr())) }),
                    found,
                ));
            }
            nr = found.checked_add(1)?;
        }
    }

    pub(crate) fn as_ptr(&self) -> *mut bindings::pid {
        self.0.as_ptr()
    }
}

impl Drop for Pid {
    fn drop(&mut self) {
        // SAFETY: we own a reference (type invariant).
        unsafe { bindings::put_pid(self.as_ptr()) };
    }
}

/// Monotonic time in nanoseconds.
pub(crate) fn now_ns() -> u64 {
    // SAFETY: reads the clock; callable in process and interrupt context.
    unsafe { bindings::ktime_get() as u64 }
}
