// SPDX-License-Identifier: GPL-2.0

//! A process's address space, pinned, and the mmap write lock on it.
//!
//! [`PinnedMm`] holds an `mm_users` reference, so the page tables cannot be torn
//! down by `exit_mmap()` while we hold it. [`MmapWriteGuard`] holds the mmap
//! lock for writing; [`Vma`]s can only be looked up through it, so their
//! lifetime is tied to the lock in the type system.

use core::marker::PhantomData;
use core::ptr::NonNull;

use kernel::bindings;
use kernel::prelude::*;

use crate::ksys::{Pid, RcuReadGuard};
use crate::sys;

/// An `mm_struct` with an `mm_users` reference (from `get_task_mm`).
///
/// # Invariants
///
/// `mm` is a live `mm_struct` on which we own one `mm_users` reference,
/// dropped by `mmput` in `drop`.
pub(crate) struct PinnedMm {
    mm: NonNull<sys::mm_struct>,
}

impl PinnedMm {
    /// Pins the mm of process or thread `pid` (in the caller's pid
    /// namespace).
    ///
    /// `ESRCH` when there is no such process, when it is a kernel thread, or
    /// when every thread of it has released its mm (exiting).
    pub(crate) fn from_pid(pid: i32) -> Result<Self> {
        // SAFETY: `find_get_pid` may be called from process context with any
        // number; it returns a referenced `struct pid` or null.
        let spid = unsafe { bindings::find_get_pid(pid) };
        if spid.is_null() {
            return Err(ESRCH);
        }
        // SAFETY: `spid` is referenced.
        let mm = unsafe { Self::of_raw(spid) };
        // SAFETY: we own the reference taken by `find_get_pid`.
        unsafe { bindings::put_pid(spid) };
        mm
    }

    /// Pins the mm of the task of `pid`: `ESRCH` as for [`Self::from_pid`].
    pub(crate) fn of(pid: &Pid) -> Result<Self> {
        // SAFETY: `Pid` holds a reference.
        unsafe { Self::of_raw(pid.as_ptr()) }
    }

    /// # Safety
    ///
    /// `pid` must be a `struct pid` the caller holds a reference on.
    unsafe fn of_raw(pid: *mut bindings::pid) -> Result<Self> {
        // SAFETY: `pid` is referenced (caller); `get_pid_task` returns a
        // referenced task or null.
        let task = unsafe { bindings::get_pid_task(pid, bindings::pid_type_PIDTYPE_PID) };
        if task.is_null() {
            return Err(ESRCH);
        }
        // SAFETY: `task` is referenced.
        let mm = unsafe { thread_group_mm(task) };
        // SAFETY: we own the reference taken by `get_pid_task`.
        unsafe { bindings::put_task_struct(task) };
        let mm = NonNull::new(mm).ok_or(ESRCH)?;
        // INVARIANT: `get_task_mm` gave us an `mm_users` reference.
        Ok(Self { mm })
    }

    pub(crate) fn as_ptr(&self) -> *mut sys::mm_struct {
        self.mm.as_ptr()
    }

    /// Whether every other user of the mm is gone: the process has exited
    /// (or is exiting) and our reference is the last one.
    pub(crate) fn is_orphaned(&self) -> bool {
        // SAFETY: the mm is live (type invariant).
        unsafe { sys::mm_users(self.as_ptr()) <= 1 }
    }

    /// Whether a device walks this mm's page tables through the IOMMU (SVA):
    /// our TLB flush does not reach it.
    pub(crate) fn bound_to_device(&self) -> bool {
        // SAFETY: the mm is live (type invariant).
        unsafe { sys::ptreloc_mm_valid_pasid(self.as_ptr()) }
    }

    /// The page frame of the mm's PGD (fixed for the mm's life).
    pub(crate) fn pgd_pfn(&self) -> u64 {
        // SAFETY: the mm is live (type invariant); `mm->pgd` is set at
        // creation, freed only with the mm, and in the direct map.
        unsafe {
            let pgd = sys::mm_pgd(self.as_ptr());
            sys::ptreloc_page_to_pfn(sys::ptreloc_virt_to_page(pgd.cast())) as u64
        }
    }

    /// The end of the user address space of this mm.
    pub(crate) fn user_end(&self) -> usize {
        // SAFETY: the mm is live (type invariant).
        unsafe { sys::mm_task_size(self.as_ptr()) }
    }

    /// Takes the mmap lock for writing; `EINTR` if a fatal signal arrives
    /// while waiting.
    pub(crate) fn write_lock(&self) -> Result<MmapWriteGuard<'_>> {
        // SAFETY: the mm is live (type invariant).
        if unsafe { sys::ptreloc_mmap_write_lock_killable(self.as_ptr()) } != 0 {
            return Err(EINTR);
        }
        // INVARIANT: the lock was just taken.
        Ok(MmapWriteGuard { mm: self })
    }
}

/// `get_task_mm(task)`, or, when `task` has left its mm, `get_task_mm` of
/// any other thread of its group: a main thread that called `pthread_exit()`
/// stays behind as a zombie without an mm while the others run on in it.
///
/// # Safety
///
/// `task` must be a task the caller holds a reference on.
unsafe fn thread_group_mm(task: *mut bindings::task_struct) -> *mut sys::mm_struct {
    // SAFETY: `task` is referenced (caller). `get_task_mm` returns null for
    // kernel threads and tasks past `exit_mm`, else an mm with `mm_users`
    // raised.
    let mm = unsafe { bindings::get_task_mm(task) };
    if !mm.is_null() {
        return mm.cast();
    }
    // The thread list is RCU-protected: a thread that exits meanwhile is
    // either skipped or found without an mm (`get_task_mm` checks under
    // `task_lock`, which `exit_mm` clears `task->mm` under). `get_task_mm`
    // only spins, which a read-side section allows.
    let _rcu = RcuReadGuard::new();
    // SAFETY: a referenced task's `group_leader` is valid under RCU.
    let mut thread = unsafe { (*task).group_leader };
    while !thread.is_null() {
        // SAFETY: a task on the thread list, valid memory under RCU.
        let mm = unsafe { bindings::get_task_mm(thread) };
        if !mm.is_null() {
            return mm.cast();
        }
        // SAFETY: as above; null after the last thread.
        thread = unsafe { sys::ptreloc___next_thread(thread) };
    }
    core::ptr::null_mut()
}

impl Drop for PinnedMm {
    fn drop(&mut self) {
        // SAFETY: we own one `mm_users` reference (type invariant). If it is
        // the last one, `mmput` tears the address space down here, in process
        // context, which it allows.
        unsafe { bindings::mmput(self.as_ptr()) };
    }
}

/// The mmap lock of a [`PinnedMm`], held for writing.
///
/// It excludes page faults, fork, munmap/mremap/mprotect/madvise, GUP, and
/// every page-table walker that works under the mmap lock. What works under
/// per-VMA locks instead (faults; on 7.3 also madvise DONTNEED/FREE/GUARD,
/// PT_RECLAIM's zaps, smaps and DAMON walks) is excluded by
/// [`Vma::write_lock`]. Dropping the guard also releases every
/// VMA write lock (`vma_end_write_all`).
///
/// # Invariants
///
/// The current task holds `mm`'s mmap lock for writing.
///
/// Not `Send` (through `PinnedMm`'s `NonNull`) on purpose: the lock is
/// released by the task that took it, and the VMA write locks taken under
/// it are the current task's too.
pub(crate) struct MmapWriteGuard<'a> {
    mm: &'a PinnedMm,
}

impl<'a> MmapWriteGuard<'a> {
    pub(crate) fn mm(&self) -> &'a PinnedMm {
        self.mm
    }

    /// The first VMA that ends above `addr`, as `find_vma` returns it.
    pub(crate) fn find_vma(&self, addr: usize) -> Option<Vma<'_>> {
        // SAFETY: the mm is live and its mmap lock is held (type invariants).
        let vma = unsafe { bindings::find_vma(self.mm.as_ptr(), addr) };
        // INVARIANT: `vma` belongs to this mm, and the lock keeps it alive.
        NonNull::new(vma).map(|vma| Vma {
            vma,
            _lock: PhantomData,
        })
    }

    /// Whether a task is queued for the lock (a fault, a `/proc` walker,
    /// `madvise`): it waited for this hold.
    pub(crate) fn is_contended(&self) -> bool {
        // SAFETY: the mm is live (type invariant); reads its wait list.
        unsafe { sys::ptreloc_mmap_lock_is_contended(self.mm.as_ptr()) != 0 }
    }

    /// The VMAs that intersect `[start, end)`, in address order.
    pub(crate) fn vmas(&self, start: usize, end: usize) -> impl Iterator<Item = Vma<'_>> + '_ {
        let mut next = start;
        core::iter::from_fn(move || {
            if next >= end {
                return None;
            }
            let vma = self.find_vma(next)?;
            if vma.start() >= end {
                return None;
            }
            next = vma.end();
            Some(vma)
        })
    }
}

impl Drop for MmapWriteGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: we hold the lock (type invariant).
        unsafe { sys::ptreloc_mmap_write_unlock(self.mm.as_ptr()) };
    }
}

/// A VMA of an mm whose mmap lock is held for writing.
///
/// # Invariants
///
/// `vma` is a live VMA of the mm, which cannot change or go away while the
/// [`MmapWriteGuard`] it borrows is alive.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Vma<'g> {
    vma: NonNull<sys::vm_area_struct>,
    _lock: PhantomData<&'g MmapWriteGuard<'g>>,
}

impl Vma<'_> {
    pub(crate) fn start(&self) -> usize {
        // SAFETY: live and stable (type invariant).
        unsafe { sys::vma_range(self.vma.as_ptr()) }.0
    }

    pub(crate) fn end(&self) -> usize {
        // SAFETY: live and stable (type invariant).
        unsafe { sys::vma_range(self.vma.as_ptr()) }.1
    }

    pub(crate) fn is_hugetlb(&self) -> bool {
        // SAFETY: live (type invariant).
        unsafe { sys::ptreloc_is_vm_hugetlb_page(self.vma.as_ptr()) }
    }

    /// Write-locks the VMA against per-VMA-lock page faults, until the mmap
    /// lock is released. Waits for faults in progress to finish.
    pub(crate) fn write_lock(&self) {
        // SAFETY: live, and the mmap lock is held for writing (invariant).
        unsafe { sys::ptreloc_vma_start_write(self.vma.as_ptr()) };
    }

    /// The file mapping whose `i_mmap` tree holds this VMA, if file-backed.
    pub(crate) fn mapping(&self) -> Option<NonNull<sys::address_space>> {
        // SAFETY: live (type invariant); `vm_file` is fixed for the VMA's
        // life and pins the file, whose `f_mapping` is set at open.
        let file = unsafe { (*self.vma.as_ptr()).vm_file };
        if file.is_null() {
            return None;
        }
        // SAFETY: `file` is pinned by the VMA (see above).
        NonNull::new(unsafe { (*file).f_mapping })
    }

    /// The root of the anon_vma tree whose lock covers this VMA's anonymous
    /// pages, if it has any. Can only be set under the mmap lock or the VMA
    /// lock, both of which we hold.
    pub(crate) fn anon_vma_root(&self) -> Option<NonNull<sys::anon_vma>> {
        // SAFETY: live (type invariant).
        let anon_vma = unsafe { (*self.vma.as_ptr()).anon_vma };
        if anon_vma.is_null() {
            return None;
        }
        // SAFETY: the VMA holds a reference on its anon_vma, whose root is
        // fixed at creation and referenced by it.
        NonNull::new(unsafe { sys::ptreloc_anon_vma_root(anon_vma) })
    }
}
