// SPDX-License-Identifier: GPL-2.0

//! The Rust half of the version layer: the `kernel` crate's APIs that
//! differ between the two kernel lines ptreloc builds for, 6.12 and 7.3,
//! each behind one name. `Kbuild` sets `cfg(kernel_7)` on the 7.x line (and
//! `PTRELOC_KERNEL_7` for the C half, `ptreloc/compat.h`); nothing else
//! tests it.

use kernel::ffi::c_char;
use kernel::prelude::*;
use kernel::uaccess::UserSlice;

/// Shortens `v` to `len` elements; no-op if it is not longer. For elements
/// that need no drop: 6.12's `KVec` can only set its length, 7.3's only
/// truncate.
pub(crate) fn truncate<T: Copy>(v: &mut KVec<T>, len: usize) {
    #[cfg(kernel_7)]
    v.truncate(len);
    #[cfg(not(kernel_7))]
    if len < v.len() {
        // SAFETY: `T: Copy` needs no drop, and `len` is within the length.
        unsafe { v.set_len(len) };
    }
}

/// Removes the last element of `v` and returns it; `None` if `v` is empty.
/// 6.12's `KVec` has no `pop`.
#[allow(dead_code)] // ptreloc's only
pub(crate) fn pop<T>(v: &mut KVec<T>) -> Option<T> {
    #[cfg(kernel_7)]
    return v.pop();
    #[cfg(not(kernel_7))]
    {
        let len = v.len().checked_sub(1)?;
        // SAFETY: `len` is in bounds and initialised; the length is cut
        // to it just below, so the element read out is not dropped twice.
        let last = unsafe { v.as_ptr().add(len).read() };
        // SAFETY: shorter than the length, and the element past it was
        // moved out above.
        unsafe { v.set_len(len) };
        Some(last)
    }
}

/// Takes the first `len` elements of the spare capacity of the empty `v`,
/// which C code filled, as its contents.
///
/// # Safety
///
/// `v` is empty, `len` is at most its capacity, and its first `len`
/// elements have been initialised.
#[allow(dead_code)] // ptreloc_test's only
pub(crate) unsafe fn take_filled<T: Copy>(v: &mut KVec<T>, len: usize) {
    debug_assert!(v.is_empty());
    #[cfg(kernel_7)]
    // SAFETY: per the caller, `len` elements past the length of 0 are
    // initialised and within the capacity.
    unsafe {
        v.inc_len(len)
    };
    #[cfg(not(kernel_7))]
    // SAFETY: as above.
    unsafe {
        v.set_len(len)
    };
}

/// The user buffer of `len` bytes at `ptr`, as a system call handed it in.
pub(crate) fn user_slice(ptr: *const c_char, len: usize) -> UserSlice {
    #[cfg(kernel_7)]
    let ptr = kernel::uaccess::UserPtr::from_addr(ptr as usize);
    #[cfg(not(kernel_7))]
    let ptr = ptr as usize;
    UserSlice::new(ptr, len)
}
