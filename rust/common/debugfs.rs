// SPDX-License-Identifier: GPL-2.0

//! debugfs files backed by Rust types (shared by ptreloc and ptreloc_test).
//!
//! The 6.12 `kernel` crate has no debugfs abstraction. A [`FileKind`] says
//! what one open file of a kind holds and does; [`Dir::create_file`] creates a
//! file of that kind. Files are created with `debugfs_create_file` (not the
//! `_unsafe` variant), so debugfs wraps our `file_operations` in its proxy:
//! `debugfs_remove` waits for operations in progress and makes later ones
//! fail with `EIO`. `release` is still called after removal, so the
//! `file_operations` name the module as owner: an open file pins the module.

use core::ptr::NonNull;

use kernel::bindings;
use kernel::error::from_err_ptr;
use kernel::ffi::{c_char, c_int, c_void};
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::Mutex;

use crate::compat;
use crate::ksys;
use crate::text::TextBuf;

/// The longest write accepted: every request fits on one short line.
pub(crate) const MAX_WRITE: usize = 256;

/// Writes to the control files need `CAP_SYS_ADMIN`, checked against the
/// writer.
pub(crate) fn check_admin() -> Result {
    // SAFETY: `capable` may be called from process context.
    if unsafe { bindings::capable(bindings::CAP_SYS_ADMIN as i32) } {
        Ok(())
    } else {
        Err(EPERM)
    }
}

/// `ENODATA`: a file read before there is anything to show (not in the
/// 6.12 `kernel::error::code`).
pub(crate) fn enodata() -> Error {
    Error::from_errno(-(bindings::ENODATA as c_int))
}

// include/linux/debugfs.h: not in the 6.12 bindings. `debugfs_create_file`
// is a macro in 7.3: see `ksys::ptreloc_debugfs_create_file`.
#[allow(improper_ctypes)]
extern "C" {
    fn debugfs_create_dir(
        name: *const c_char,
        parent: *mut bindings::dentry,
    ) -> *mut bindings::dentry;
    fn debugfs_remove(dentry: *mut bindings::dentry);
}

/// One kind of debugfs file. A value is created per open file and dropped at
/// release; `Ctx` is what every open file of the directory shares.
pub(crate) trait FileKind: Sized + Send + Unpin + 'static {
    /// Shared context, given to the directory's files at creation.
    type Ctx: Sync + 'static;

    /// Creates the per-open state.
    fn open(ctx: &'static Self::Ctx) -> Result<Self>;

    /// Writes the file's content into `out`, at each read from offset 0.
    /// `None`: the file cannot be read.
    fn show(&mut self, _out: &mut TextBuf) -> Option<Result> {
        None
    }

    /// Handles one write of a whole request. `None`: the file cannot be
    /// written.
    fn store(&mut self, _input: &[u8]) -> Option<Result> {
        None
    }
}

/// The state of one open file.
#[pin_data]
struct OpenFile<T> {
    /// `read` and `write` on one file may run concurrently (pread/pwrite).
    #[pin]
    inner: Mutex<(T, TextBuf)>,
}

/// A `file_operations` table for files of kind `T`.
pub(crate) struct FileOps(bindings::file_operations);

// SAFETY: never written after construction; holds function pointers and the
// module pointer only.
unsafe impl Sync for FileOps {}
// SAFETY: as above.
unsafe impl Send for FileOps {}

impl FileOps {
    /// The operations of kind `T`, owned by `module`.
    pub(crate) fn new<T: FileKind>(module: &'static ThisModule) -> Self {
        Self(bindings::file_operations {
            owner: module.as_ptr(),
            open: Some(open::<T>),
            release: Some(release::<T>),
            read: Some(read::<T>),
            write: Some(write::<T>),
            llseek: Some(bindings::default_llseek),
            // SAFETY: all-zero is a valid `file_operations`: null pointers
            // and `None`.
            ..unsafe { core::mem::MaybeUninit::zeroed().assume_init() }
        })
    }
}

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
        let dentry =
            from_err_ptr(unsafe { debugfs_create_dir(name.as_char_ptr(), core::ptr::null_mut()) })?;
        let dentry = NonNull::new(dentry).ok_or(ENOMEM)?;
        // INVARIANT: checked above that this is neither null nor an error.
        Ok(Self { dentry })
    }

    /// Creates file `name` with permissions `mode`, of the kind whose
    /// operations `fops` are (made by `FileOps::new::<T>`), sharing `ctx`.
    ///
    /// # Safety
    ///
    /// `fops` must have been made for a kind `T` with `T::Ctx` the type of
    /// `ctx`, and both must outlive the directory.
    pub(crate) unsafe fn create_file<C>(
        &self,
        name: &CStr,
        mode: u16,
        fops: &FileOps,
        ctx: &C,
    ) -> Result {
        // SAFETY: `name` is NUL-terminated, `self.dentry` a live directory
        // (type invariant), and `fops` and `ctx` outlive it (caller).
        from_err_ptr(unsafe {
            ksys::ptreloc_debugfs_create_file(
                name.as_char_ptr(),
                mode,
                self.dentry.as_ptr(),
                core::ptr::from_ref(ctx).cast_mut().cast::<c_void>(),
                &fops.0,
            )
        })?;
        Ok(())
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        // SAFETY: by the type invariant `dentry` is a live debugfs directory
        // that nobody else removes. This waits for running file operations.
        unsafe { debugfs_remove(self.dentry.as_ptr()) };
    }
}

/// Recovers the per-open state.
///
/// # Safety
///
/// `file` must have been opened by [`open`] for kind `T` and not released.
unsafe fn open_file<'a, T: FileKind>(file: *mut bindings::file) -> &'a OpenFile<T> {
    // SAFETY: `open` stored a pinned, leaked `OpenFile<T>` in `private_data`.
    unsafe { &*(*file).private_data.cast::<OpenFile<T>>() }
}

/// `open` of kind `T`: creates the per-open state.
///
/// # Safety
///
/// Called by the VFS only, for an inode created by [`Dir::create_file`] with
/// operations made for `T`.
unsafe extern "C" fn open<T: FileKind>(
    inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    // SAFETY: the VFS passes a live inode; its `i_private` is the `ctx` given
    // to `create_file`, which outlives the directory (and so this open).
    let ctx = unsafe { &*(*inode).i_private.cast::<T::Ctx>() };
    let opened = T::open(ctx).and_then(|state| {
        KBox::pin_init(
            pin_init!(OpenFile {
                inner <- new_mutex!((state, TextBuf::new())),
            }),
            GFP_KERNEL,
        )
    });
    match opened {
        Ok(boxed) => {
            // SAFETY: the box is only turned back into a `Pin<KBox>` in
            // `release`, so the value never moves.
            let raw = KBox::into_raw(unsafe { Pin::into_inner_unchecked(boxed) });
            // SAFETY: `file` is live and being opened by us.
            unsafe { (*file).private_data = raw.cast() };
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// `release` of kind `T`: drops the per-open state.
///
/// # Safety
///
/// Called by the VFS only, once, for a file opened by [`open`] for `T`.
unsafe extern "C" fn release<T: FileKind>(
    _inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    // SAFETY: `open` stored a leaked `KBox<OpenFile<T>>`; release is the last
    // operation on the file, so nobody else uses it.
    drop(unsafe { KBox::from_raw((*file).private_data.cast::<OpenFile<T>>()) });
    0
}

/// `read` of kind `T`: [`FileKind::show`] at offset 0, then the cached text.
///
/// # Safety
///
/// Called by the VFS only, for a file opened by [`open`] for `T`, with a
/// user buffer of `count` bytes and a valid position.
unsafe extern "C" fn read<T: FileKind>(
    file: *mut bindings::file,
    buf: *mut c_char,
    count: usize,
    ppos: *mut bindings::loff_t,
) -> isize {
    // SAFETY: opened by `open::<T>` (we are its `read`), not yet released.
    let this = unsafe { open_file::<T>(file) };
    let mut guard = this.inner.lock();
    let (state, text) = &mut *guard;
    // SAFETY: the VFS passes a valid position pointer.
    if unsafe { *ppos } == 0 {
        text.clear();
        match state.show(text) {
            None => return EINVAL.to_errno() as isize,
            Some(Err(e)) => return e.to_errno() as isize,
            Some(Ok(())) => {}
        }
    }
    let bytes = text.as_bytes();
    // SAFETY: `buf`, `count` and `ppos` come unchanged from the VFS, which
    // checked them; the source is `bytes`, valid for its whole length.
    unsafe {
        bindings::simple_read_from_buffer(
            buf.cast(),
            count,
            ppos,
            bytes.as_ptr().cast(),
            bytes.len(),
        )
    }
}

/// `write` of kind `T`: one whole request to [`FileKind::store`].
///
/// # Safety
///
/// Called by the VFS only, for a file opened by [`open`] for `T`, with a
/// user buffer of `count` bytes and a valid position.
unsafe extern "C" fn write<T: FileKind>(
    file: *mut bindings::file,
    buf: *const c_char,
    count: usize,
    ppos: *mut bindings::loff_t,
) -> isize {
    // SAFETY: opened by `open::<T>` (we are its `write`), not yet released.
    let this = unsafe { open_file::<T>(file) };
    if count > MAX_WRITE {
        return EINVAL.to_errno() as isize;
    }
    let mut input = KVec::new();
    if let Err(e) = compat::user_slice(buf, count).read_all(&mut input, GFP_KERNEL) {
        return e.to_errno() as isize;
    }
    let mut guard = this.inner.lock();
    match guard.0.store(&input) {
        None => EINVAL.to_errno() as isize,
        Some(Err(e)) => e.to_errno() as isize,
        Some(Ok(())) => {
            // SAFETY: the VFS passes a valid position pointer.
            unsafe { *ppos += count as bindings::loff_t };
            count as isize
        }
    }
}
