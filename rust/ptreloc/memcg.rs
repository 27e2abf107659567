// SPDX-License-Identifier: GPL-2.0

//! The memory cgroup an mm's new page tables are charged to.

use core::ptr::NonNull;

use kernel::bindings;

use crate::mm::PinnedMm;
use crate::sys;

/// A reference on the memory cgroup of an mm, which new tables are charged
/// to (as the tables they replace were).
pub(crate) struct Memcg(Option<NonNull<sys::mem_cgroup>>);

impl Memcg {
    pub(crate) fn of(mm: &PinnedMm) -> Self {
        // SAFETY: the mm is live; returns a referenced memcg, or null when
        // memcg is disabled.
        Self(NonNull::new(
            unsafe { bindings::get_mem_cgroup_from_mm(mm.as_ptr().cast()) }.cast(),
        ))
    }

    pub(crate) fn ptr(&self) -> Option<NonNull<sys::mem_cgroup>> {
        self.0
    }
}

impl Drop for Memcg {
    fn drop(&mut self) {
        if let Some(memcg) = self.0 {
            // SAFETY: we own the reference from `get_mem_cgroup_from_mm`.
            unsafe { sys::ptreloc_mem_cgroup_put(memcg.as_ptr()) };
        }
    }
}
