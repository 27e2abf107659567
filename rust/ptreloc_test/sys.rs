// SPDX-License-Identifier: GPL-2.0

//! What ptreloc_test calls outside Rust: ptreloc's exported API and this
//! module's C shim (`shim.c`). The kernel helpers shared with ptreloc are
//! in `../common/ksys.rs`.

use kernel::bindings::task_struct;
use kernel::ffi::{c_int, c_uint, c_ulong, c_void};

use crate::abi::{PtrelocOutcome, PtrelocRequest};

#[allow(improper_ctypes)]
extern "C" {
    // ptreloc.ko (rust/common/abi.rs)
    pub(crate) fn ptreloc_relocate(req: *const PtrelocRequest, out: *mut PtrelocOutcome) -> c_int;
    pub(crate) fn ptreloc_read_entry(
        pid: c_int,
        level: u32,
        addr: c_ulong,
        entry: *mut u64,
    ) -> c_int;

    // shim.c
    pub(crate) fn ptreloc_test_kthread_run(
        func: unsafe extern "C" fn(*mut c_void) -> c_int,
        data: *mut c_void,
        index: c_uint,
    ) -> *mut task_struct;
    pub(crate) fn ptreloc_test_parent_tgid(tgid: c_int) -> c_int;
    pub(crate) fn ptreloc_test_mm_anchors(tgid: c_int, anchors: *mut c_ulong) -> bool;
}
