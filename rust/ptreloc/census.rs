// SPDX-License-Identifier: GPL-2.0

//! Counting an mm's page-table pages per level and node.
//!
//! Read by writing `pid=<pid>` to `census` and reading the same open file.
//! The format is one line per level, after a header naming the nodes:
//!
//! ```text
//! level node0 node1
//! pgd 1 0
//! p4d folded
//! pud 2 0
//! pmd 2 0
//! pte 37 512
//! ```
//!
//! `p4d folded` means the CPU uses 4-level paging, where the P4D level has no
//! pages of its own. PTE tables deposited for transparent huge pages are not
//! linked in the tree and not counted here, nor are the PMD tables of
//! hugetlb VMAs that span a whole 1 GiB range (they can be shared).

use core::fmt::Write;

use kernel::prelude::*;

use crate::mm::{MmapWriteGuard, PinnedMm};
use crate::sys;
use crate::table::{self, Entry};
use crate::text::TextBuf;
use crate::x86::{P4D_SIZE, PMD_SIZE, PTRS_PER_TABLE, PUD_SIZE};

/// Whether the 1 GiB span at `addr` lies inside one hugetlb VMA: its PMD
/// table may then be shared with other processes and unshared under their
/// rmap lock alone (`huge_pmd_unshare`), so we must not walk it.
fn shared_hugetlb_span(guard: &MmapWriteGuard<'_>, addr: usize) -> bool {
    guard
        .find_vma(addr)
        .is_some_and(|vma| vma.is_hugetlb() && vma.start() <= addr && vma.end() >= addr + PUD_SIZE)
}

/// Counts per level (`pgd`, `p4d`, `pud`, `pmd`, `pte`) and node.
pub(crate) struct Census {
    nodes: usize,
    /// `counts[level * nodes + node]`.
    counts: KVec<u64>,
    p4d_folded: bool,
}

const LEVELS: [&str; 5] = ["pgd", "p4d", "pud", "pmd", "pte"];
const PGD: usize = 0;
const P4D: usize = 1;
const PUD: usize = 2;
const PMD: usize = 3;
const PTE: usize = 4;

impl Census {
    /// Counts the page-table pages of process `pid`. Takes the mmap lock for
    /// writing, so that munmap (which frees tables under the read lock after
    /// detaching VMAs) cannot free a table while we look at it.
    pub(crate) fn of_pid(pid: i32) -> Result<Self> {
        let mm = PinnedMm::from_pid(pid)?;
        let guard = mm.write_lock()?;
        Self::of(&guard)
    }

    fn of(guard: &MmapWriteGuard<'_>) -> Result<Self> {
        // SAFETY: reads a variable that is fixed after boot.
        let nodes = unsafe { kernel::bindings::nr_node_ids } as usize;
        let mut census = Self {
            nodes,
            counts: KVec::from_elem(0, nodes * LEVELS.len(), GFP_KERNEL)?,
            p4d_folded: !sys::pgtable_l5_enabled(),
        };
        let mm = guard.mm().as_ptr();
        let user_end = guard.mm().user_end();
        // SAFETY: the mmap write lock keeps every table of the mm allocated;
        // each entry is read once and followed only if it points to a table.
        unsafe {
            let pgd0 = sys::ptreloc_pgd_offset(mm, 0);
            census.count(PGD, sys::ptreloc_virt_to_page(pgd0.cast()));
            let pgd_size = table::pgd_entry_size();
            let mut addr = 0;
            while addr < user_end {
                let pgd = sys::ptreloc_pgd_offset(mm, addr);
                let e = sys::ptreloc_pgdp_get(pgd);
                if table::pgd_is_table(e) {
                    if !census.p4d_folded {
                        census.count(P4D, sys::pgd_page(e));
                    }
                    census.p4d_span(guard, pgd, addr, (addr + pgd_size).min(user_end));
                }
                addr += pgd_size;
            }
        }
        Ok(census)
    }

    /// # Safety
    ///
    /// `pgd` must be a present PGD entry of an mm whose mmap lock is held.
    unsafe fn p4d_span(
        &mut self,
        guard: &MmapWriteGuard<'_>,
        pgd: *mut sys::Pgd,
        start: usize,
        end: usize,
    ) {
        let mut addr = start;
        while addr < end {
            // SAFETY: (all below) as for `of`.
            unsafe {
                let p4d = sys::ptreloc_p4d_offset(pgd, addr);
                let e = sys::ptreloc_p4dp_get(p4d);
                if table::p4d_is_table(e) {
                    self.count(PUD, sys::p4d_page(e));
                    self.pud_table(guard, p4d, addr);
                }
            }
            addr += P4D_SIZE;
        }
    }

    /// # Safety
    ///
    /// `p4d` must point to a PUD table of the mm whose mmap lock `guard` holds.
    unsafe fn pud_table(&mut self, guard: &MmapWriteGuard<'_>, p4d: *mut sys::P4d, base: usize) {
        for i in 0..PTRS_PER_TABLE {
            let addr = base + i * PUD_SIZE;
            if shared_hugetlb_span(guard, addr) {
                continue;
            }
            // SAFETY: (all below) as for `of`.
            unsafe {
                let pud = sys::ptreloc_pud_offset(p4d, addr);
                let e = sys::ptreloc_pudp_get(pud);
                if table::pud_is_table(e) {
                    self.count(PMD, sys::pud_page(e));
                    self.pmd_table(pud, addr);
                }
            }
        }
    }

    /// # Safety
    ///
    /// `pud` must point to a PMD table of an mm whose mmap lock is held.
    unsafe fn pmd_table(&mut self, pud: *mut sys::pud_t, base: usize) {
        for i in 0..PTRS_PER_TABLE {
            // SAFETY: as for `of`.
            let e =
                unsafe { sys::ptreloc_pmdp_get(sys::ptreloc_pmd_offset(pud, base + i * PMD_SIZE)) };
            if let Some(table) = Entry::from_pmd(e).table() {
                self.count_on(PTE, table.node());
            }
        }
    }

    /// # Safety
    ///
    /// `page` must be a valid page.
    unsafe fn count(&mut self, level: usize, page: *mut sys::page) {
        // SAFETY: valid (caller).
        self.count_on(level, unsafe { sys::ptreloc_page_to_nid(page) });
    }

    fn count_on(&mut self, level: usize, node: i32) {
        if let Some(c) = self.counts.get_mut(level * self.nodes + node as usize) {
            *c += 1;
        }
    }

    /// How many tables of `level` are on `node`.
    pub(crate) fn get(&self, level: usize, node: usize) -> u64 {
        self.counts
            .get(level * self.nodes + node)
            .copied()
            .unwrap_or(0)
    }

    /// Formats the census as documented above.
    pub(crate) fn format(&self, out: &mut TextBuf) -> core::fmt::Result {
        write!(out, "level")?;
        for node in 0..self.nodes {
            write!(out, " node{node}")?;
        }
        writeln!(out)?;
        for (level, name) in LEVELS.iter().enumerate() {
            write!(out, "{name}")?;
            if level == P4D && self.p4d_folded {
                write!(out, " folded")?;
            } else {
                for node in 0..self.nodes {
                    write!(out, " {}", self.get(level, node))?;
                }
            }
            writeln!(out)?;
        }
        Ok(())
    }
}
