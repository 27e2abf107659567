// SPDX-License-Identifier: GPL-2.0

//! Owned debugfs entries.
//!
//! The 6.12 `kernel` crate has no debugfs abstraction. Files are created with
//! `debugfs_create_file` (not the `_unsafe` variant), so debugfs wraps our
//! `file_operations` in its proxy: `debugfs_remove` waits for operations that
//! are running and makes later ones fail with `EIO`. That is what makes it safe
//! to unload the module while a file is open, without a module reference.

use core::ptr::NonNull;

use kernel::bindings;
use kernel::error::from_err_ptr;
use kernel::ffi::{c_char, c_void};
use kernel::prelude::*;

use crate::sys;

/// A debugfs directory, removed with everything below it when dropped.
///
/// # Invariants
///
/// `dentry` was returned by `debugfs_create_dir`, is not an error pointer, and
/// is removed only by `drop`.
pub(crate) struct Dir {
    dentry: NonNull<bindings::dentry>,
}

// SAFETY: a debugfs dentry may be used and removed from any thread.
unsafe impl Send for Dir {}
// SAFETY: `&Dir` only creates children, which debugfs serialises itself.
unsafe impl Sync for Dir {}

impl Dir {
    /// Creates the directory `name` at the root of debugfs.
    pub(crate) fn new(name: &CStr) -> Result<Self> {
        // SAFETY: `name` is NUL-terminated; a null parent means the debugfs root.
        let dentry = from_err_ptr(unsafe {
            sys::debugfs_create_dir(name.as_char_ptr(), core::ptr::null_mut())
        })?;
        let dentry = NonNull::new(dentry).ok_or(ENOMEM)?;
        // INVARIANT: checked above that this is neither null nor an error.
        Ok(Self { dentry })
    }

    /// Creates a read-only file in this directory that reads back `text`.
    pub(crate) fn create_text(&self, name: &CStr, text: &'static Text) -> Result {
        // SAFETY: `name` is NUL-terminated and `self.dentry` a live directory
        // (type invariant). `text` outlives the file: it is 'static. The
        // fops read `private_data` only as a `&Text` (see `text_read`).
        from_err_ptr(unsafe {
            sys::debugfs_create_file(
                name.as_char_ptr(),
                0o444,
                self.dentry.as_ptr(),
                core::ptr::from_ref(text).cast_mut().cast::<c_void>(),
                &TEXT_FOPS.0,
            )
        })?;
        Ok(())
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        // SAFETY: by the type invariant `dentry` is a live debugfs directory
        // that nobody else removes. This waits for running file operations.
        unsafe { sys::debugfs_remove(self.dentry.as_ptr()) };
    }
}

/// Constant text served by a read-only debugfs file.
pub(crate) struct Text(pub(crate) &'static str);

/// A `file_operations` table that lives for as long as the module.
struct FileOps(bindings::file_operations);

// SAFETY: the table is never written after it is built, and holds only
// function pointers.
unsafe impl Sync for FileOps {}

static TEXT_FOPS: FileOps = FileOps(bindings::file_operations {
    // `simple_open` copies the inode's `i_private` (the `&Text` given to
    // `debugfs_create_file`) into `file->private_data`.
    open: Some(bindings::simple_open),
    read: Some(text_read),
    llseek: Some(bindings::default_llseek),
    // SAFETY: all-zero is a valid `file_operations`: null pointers and `None`.
    ..unsafe { core::mem::MaybeUninit::zeroed().assume_init() }
});

/// `read` of a [`Text`] file.
///
/// # Safety
///
/// Called by the VFS only, on a file opened through `TEXT_FOPS`.
unsafe extern "C" fn text_read(
    file: *mut bindings::file,
    buf: *mut c_char,
    count: usize,
    ppos: *mut bindings::loff_t,
) -> isize {
    // SAFETY: `file` is live for the call, and `simple_open` set its
    // `private_data` to the `&'static Text` passed in `create_text`.
    let text = unsafe { &*(*file).private_data.cast::<Text>() };
    // SAFETY: `buf`, `count` and `ppos` come unchanged from the VFS, which
    // checked them; the source is `text.0`, valid for its whole length.
    unsafe {
        bindings::simple_read_from_buffer(
            buf.cast(),
            count,
            ppos,
            text.0.as_ptr().cast(),
            text.0.len(),
        )
    }
}
