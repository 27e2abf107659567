// SPDX-License-Identifier: GPL-2.0

//! Replacement tables allocated before a batch takes the mmap lock.

use core::ptr::NonNull;

use kernel::prelude::*;

use super::page::NewTable;
use crate::compat;
use crate::level::Level;
use crate::outcome::Outcome;
use crate::placement::{Quarantine, Target};
use crate::sys;

/// Replacements allocated ahead, with no lock held, so that a batch holds
/// the mmap write lock to swap tables rather than to allocate them.
///
/// A replacement must be charged where its predecessor is (`memcg.rs`),
/// which is known only once the walk under the lock finds it; an mm's tables
/// are nearly always charged to one memcg. So spares are charged where the
/// last table looked up was, and a batch takes one only for a table whose
/// predecessor is charged to the same memcg (it allocates any other under
/// the lock, as without spares). What no batch takes is freed when the
/// request ends, when it moves on to another level, or when the next spares
/// are to be charged elsewhere.
pub(crate) struct Spares {
    level: Level,
    tables: KVec<NewTable>,
    /// The memcg `tables` are charged to (`None`: to none), on which we
    /// hold a reference, so that no other memcg can take its address while
    /// it is compared with the old tables' memcgs.
    memcg: Option<NonNull<sys::mem_cgroup>>,
    /// Allocated and taken since the last [`Spares::account`].
    allocated: u64,
    taken: u64,
}

impl Spares {
    pub(crate) fn new() -> Self {
        Self {
            level: Level::Pte,
            tables: KVec::new(),
            memcg: None,
            allocated: 0,
            taken: 0,
        }
    }

    /// Adds what was allocated and taken since the last call to `out`.
    pub(crate) fn account(&mut self, out: &mut Outcome) {
        out.spares_allocated += core::mem::take(&mut self.allocated);
        out.spares_used += core::mem::take(&mut self.taken);
    }

    /// Allocates `level` tables on `target` charged to `memcg` (`None`:
    /// charged to none; else a memcg the caller holds a reference on) until
    /// there are `n`; drops spares of another level or memcg first. Stops at the first failure: the batch then allocates under the
    /// lock, and reports a failure there. May sleep and reclaim: call it
    /// with no lock held.
    pub(crate) fn fill(
        &mut self,
        level: Level,
        n: usize,
        target: Target,
        memcg: Option<NonNull<sys::mem_cgroup>>,
        quarantine: Option<&Quarantine>,
    ) {
        if level != self.level {
            self.tables = KVec::new();
            self.level = level;
        }
        // Spares charged elsewhere (the batch before found the charges
        // change) would never be taken, and would keep these from being
        // allocated: free them.
        if memcg != self.memcg {
            self.tables = KVec::new();
            self.put_memcg();
            // SAFETY: `memcg` is live: the caller holds a reference on it.
            if memcg.is_some_and(|m| !unsafe { sys::ptreloc_mem_cgroup_tryget(m.as_ptr()) }) {
                return;
            }
            self.memcg = memcg;
        }
        if n <= self.tables.len()
            || self
                .tables
                .reserve(n - self.tables.len(), GFP_KERNEL)
                .is_err()
        {
            return;
        }
        while self.tables.len() < n {
            let Ok(table) = NewTable::alloc(level, target, memcg, quarantine) else {
                return;
            };
            // Cannot fail: room was reserved.
            let _ = self.tables.push(table, GFP_NOWAIT);
            self.allocated += 1;
        }
    }

    fn put_memcg(&mut self) {
        if let Some(memcg) = self.memcg.take() {
            // SAFETY: the reference taken in `fill`.
            unsafe { sys::ptreloc_mem_cgroup_put(memcg.as_ptr()) };
        }
    }

    /// A spare for a `level` table whose predecessor is charged to `memcg`,
    /// if there is one. Does not sleep.
    pub(crate) fn take(
        &mut self,
        level: Level,
        memcg: Option<NonNull<sys::mem_cgroup>>,
    ) -> Option<NewTable> {
        if level != self.level || memcg != self.memcg {
            return None;
        }
        let table = compat::pop(&mut self.tables)?;
        self.taken += 1;
        Some(table)
    }
}

impl Drop for Spares {
    fn drop(&mut self) {
        // The tables first: they are charged to the memcg.
        self.tables = KVec::new();
        self.put_memcg();
    }
}
