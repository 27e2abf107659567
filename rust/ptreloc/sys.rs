// SPDX-License-Identifier: GPL-2.0

//! Kernel interfaces that the 6.12 `kernel` and `bindings` crates do not
//! provide.
//!
//! Two kinds: exported functions whose headers `bindings_helper.h` does not
//! include (debugfs), and the out-of-line wrappers in `shim.c` for static
//! inlines. This file and `shim.c` are the only places that know which kernel
//! line we are built against.

use kernel::bindings;
use kernel::ffi::{c_char, c_uint, c_void};

// The bindgen structs carry zero-sized lockdep fields, which `improper_ctypes`
// objects to; they are only passed by pointer here.
#[allow(improper_ctypes)]
extern "C" {
    // include/linux/debugfs.h
    pub(crate) fn debugfs_create_dir(
        name: *const c_char,
        parent: *mut bindings::dentry,
    ) -> *mut bindings::dentry;
    pub(crate) fn debugfs_create_file(
        name: *const c_char,
        mode: bindings::umode_t,
        parent: *mut bindings::dentry,
        data: *mut c_void,
        fops: *const bindings::file_operations,
    ) -> *mut bindings::dentry;
    pub(crate) fn debugfs_remove(dentry: *mut bindings::dentry);

    // shim.c
    pub(crate) fn ptreloc_num_memory_nodes() -> c_uint;
}
