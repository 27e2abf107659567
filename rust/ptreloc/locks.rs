// SPDX-License-Identifier: GPL-2.0

//! Guards for the kernel locks relocation takes, one type per lock kind.
//!
//! Lock order (`mm/rmap.c`): mmap_lock -> VMA write locks -> i_mmap_rwsem ->
//! anon_vma root rwsem -> PMD page-table lock -> PTE page-table locks. The
//! mmap and VMA locks are in `mm.rs`; this file has the reverse-map locks and
//! the page-table spinlocks.

use core::ptr::NonNull;

use kernel::bindings;
use kernel::prelude::*;

use crate::sys;

/// A held page-table spinlock (a split PMD or PTE lock, or
/// `mm->page_table_lock`).
///
/// # Invariants
///
/// The current task holds `lock`, which stays valid while held: page-table
/// locks live in (or are owned by) a page-table page, which is freed only
/// after an RCU grace period once it is unreachable.
///
/// Not `Send` (the `NonNull` sees to it) on purpose: a spinlock is released
/// by the task that took it.
pub(crate) struct SpinGuard {
    lock: NonNull<sys::spinlock_t>,
}

impl SpinGuard {
    /// Takes `lock` with lockdep subclass `subclass` (0 for the first lock of
    /// its class that the task holds).
    ///
    /// # Safety
    ///
    /// `lock` must be an initialised spinlock that stays valid until the guard
    /// is dropped, and taking it must respect the lock order above.
    pub(crate) unsafe fn lock(lock: NonNull<sys::spinlock_t>, subclass: u32) -> Self {
        if subclass == 0 {
            // SAFETY: the caller guarantees `lock` is valid.
            unsafe { bindings::spin_lock(lock.as_ptr()) };
        } else {
            // SAFETY: as above.
            unsafe { sys::ptreloc_spin_lock_nested(lock.as_ptr(), subclass) };
        }
        // INVARIANT: just taken.
        Self { lock }
    }

    pub(crate) fn ptr(&self) -> NonNull<sys::spinlock_t> {
        self.lock
    }
}

impl Drop for SpinGuard {
    fn drop(&mut self) {
        // SAFETY: held and valid (type invariant).
        unsafe { bindings::spin_unlock(self.lock.as_ptr()) };
    }
}

/// One reverse-map lock, held for writing.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RmapLock {
    /// `mapping->i_mmap_rwsem`: excludes rmap walks of the file's pages
    /// (reclaim, migration, truncate, file THP collapse).
    File(NonNull<sys::address_space>),
    /// The anon_vma root's rwsem: excludes rmap walks of anonymous and KSM
    /// pages of the whole anon_vma family.
    Anon(NonNull<sys::anon_vma>),
}

impl RmapLock {
    /// # Safety
    ///
    /// The lock's object must stay valid until it is unlocked.
    unsafe fn lock(self) {
        match self {
            // SAFETY: valid (caller).
            Self::File(m) => unsafe { sys::ptreloc_i_mmap_lock_write(m.as_ptr()) },
            // SAFETY: valid (caller).
            Self::Anon(a) => unsafe { sys::ptreloc_anon_vma_lock_write(a.as_ptr()) },
        }
    }

    /// # Safety
    ///
    /// As for [`RmapLock::lock`].
    unsafe fn try_lock(self) -> bool {
        match self {
            // SAFETY: valid (caller).
            Self::File(m) => unsafe { sys::ptreloc_i_mmap_trylock_write(m.as_ptr()) },
            // SAFETY: valid (caller).
            Self::Anon(a) => unsafe { sys::ptreloc_anon_vma_trylock_write(a.as_ptr()) },
        }
    }

    /// # Safety
    ///
    /// The lock must be held by the current task.
    unsafe fn unlock(self) {
        match self {
            // SAFETY: held (caller).
            Self::File(m) => unsafe { sys::ptreloc_i_mmap_unlock_write(m.as_ptr()) },
            // SAFETY: held (caller).
            Self::Anon(a) => unsafe { sys::ptreloc_anon_vma_unlock_write(a.as_ptr()) },
        }
    }
}

/// The most reverse-map locks held at once. A real 2 MiB span can need more
/// than a dozen: glibc maps each locale category file as its own page.
/// Lockdep tracks at most 48 held locks per task (`MAX_LOCK_DEPTH`); while
/// rmap locks are held, a task holds only the mmap lock, a PMD lock and two
/// PTE locks besides them (nothing is allocated then).
pub(crate) const MAX_RMAP_LOCKS: usize = 32;

/// The set of reverse-map locks held for a batch of tables, released in
/// reverse order on drop.
///
/// A lock is waited for only when that keeps the lock order (see
/// `may_block_on`): the first file lock, and the first anon_vma lock. Any other
/// is only tried, because two locks of one kind have no defined order between
/// them, and a file lock may be needed after an anon_vma lock taken for an
/// earlier table. A failed trylock ends the batch early instead of waiting.
///
/// # Invariants
///
/// `held[..len]` are `Some`, the rest `None`. Every lock in it is held for
/// writing by the current task and its object is pinned by a VMA of an mm
/// whose mmap lock the task holds.
///
/// Not `Send` (the `NonNull`s see to it) on purpose: a rwsem held for
/// writing is released by the task that took it.
pub(crate) struct RmapLocks {
    held: [Option<RmapLock>; MAX_RMAP_LOCKS],
    len: usize,
}

/// Why a set of rmap locks could not be extended.
pub(crate) enum Contended {
    /// A trylock failed: someone else holds the lock.
    Busy,
    /// The set is full ([`MAX_RMAP_LOCKS`]).
    Full,
}

impl RmapLocks {
    pub(crate) fn new() -> Self {
        Self {
            held: [None; MAX_RMAP_LOCKS],
            len: 0,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds the locks of `files` and then of `anons` (in that order, as the
    /// lock order wants) that the set does not hold yet. On failure the set
    /// is left as it was before the call.
    ///
    /// # Safety
    ///
    /// Every mapping and anon_vma root passed must belong to a VMA of an mm
    /// whose mmap lock the current task holds for writing until the set is
    /// dropped.
    pub(crate) unsafe fn add(
        &mut self,
        files: &[NonNull<sys::address_space>],
        anons: &[NonNull<sys::anon_vma>],
    ) -> Result<(), Contended> {
        let before = self.len;
        let files = files.iter().map(|m| RmapLock::File(*m));
        let wanted = Iterator::chain(files, anons.iter().map(|a| RmapLock::Anon(*a)));
        for lock in wanted {
            if self.held[..self.len].contains(&Some(lock)) {
                continue;
            }
            let outcome = if self.len == MAX_RMAP_LOCKS {
                Err(Contended::Full)
            } else if self.may_block_on(lock) {
                // SAFETY: pinned by a VMA (caller); `may_block_on` keeps the
                // lock order.
                unsafe { lock.lock() };
                Ok(())
            // SAFETY: pinned by a VMA (caller).
            } else if unsafe { lock.try_lock() } {
                Ok(())
            } else {
                Err(Contended::Busy)
            };
            if let Err(why) = outcome {
                self.release_from(before);
                return Err(why);
            }
            // INVARIANT: just taken, recorded below `len`.
            self.held[self.len] = Some(lock);
            self.len += 1;
        }
        Ok(())
    }

    /// Whether waiting for `lock` keeps the lock order: i_mmap_rwsem before
    /// anon_vma, and never two of one kind (they have no order among
    /// themselves), so only while nothing of its kind, nor of a later kind,
    /// is held.
    fn may_block_on(&self, lock: RmapLock) -> bool {
        self.held[..self.len]
            .iter()
            .flatten()
            .all(|held| match (lock, held) {
                (RmapLock::File(_), _) => false,
                (RmapLock::Anon(_), RmapLock::File(_)) => true,
                (RmapLock::Anon(_), RmapLock::Anon(_)) => false,
            })
    }

    /// Unlocks, newest first, every lock but the first `keep`.
    fn release_from(&mut self, keep: usize) {
        while self.len > keep {
            self.len -= 1;
            if let Some(lock) = self.held[self.len].take() {
                // SAFETY: every recorded lock is held (type invariant).
                unsafe { lock.unlock() };
            }
        }
    }
}

impl Drop for RmapLocks {
    fn drop(&mut self) {
        self.release_from(0);
    }
}
