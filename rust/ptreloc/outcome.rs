// SPDX-License-Identifier: GPL-2.0

//! What a request did: counted per level as it goes, summed when read.

use kernel::prelude::*;

use crate::level::{Level, Levels};
use crate::request::Zone;
use crate::sys::now_ns;

/// Tables of one level that a request looked at.
#[derive(Default, Clone, Copy)]
pub(crate) struct LevelCounts {
    /// Tables found in the range.
    pub(crate) examined: u64,
    /// Tables moved to the target node.
    pub(crate) moved: u64,
    /// Tables that were on the target node already.
    pub(crate) already: u64,
}

/// Tables examined and not moved, by why.
#[derive(Default, Clone, Copy)]
pub(crate) struct Skipped {
    /// PMD and PUD tables whose span includes a hugetlb VMA (whose PMD tables
    /// may be shared with other processes).
    pub(crate) hugetlb_tables: u64,
    /// Tables whose entry changed between collection and locking.
    pub(crate) changed: u64,
    /// Tables whose rmap locks stayed contended after a retry.
    pub(crate) contended: u64,
    /// Tables whose span has more files and anon_vma families than
    /// [`MAX_RMAP_LOCKS`](crate::locks::MAX_RMAP_LOCKS) locks can cover.
    pub(crate) crowded: u64,
}

impl Skipped {
    pub(crate) fn total(&self) -> u64 {
        self.hugetlb_tables + self.changed + self.contended + self.crowded
    }
}

/// What an evacuation did besides moving tables.
#[derive(Default, Clone, Copy)]
pub(crate) struct Evacuation {
    pub(crate) pfn_start: u64,
    pub(crate) pfn_end: u64,
    /// Processes whose page tables were walked (in the first pass).
    pub(crate) processes: u64,
    /// Passes over every process; another pass runs while one moves tables.
    pub(crate) passes: u64,
    /// Page-table pages (any owner) in the range before and after.
    pub(crate) in_range_before: u64,
    pub(crate) in_range_after: u64,
    /// PGDs of those processes in the range: never moved.
    pub(crate) pgds_in_range: u64,
    /// Processes refused because a device walks their tables (IOMMU SVA).
    pub(crate) busy_processes: u64,
    /// Processes some of whose tables could not move for want of memory
    /// (their memcg's limit, no free page outside the range), in the last
    /// pass: their tables are left in the range.
    pub(crate) short_of_memory: u64,
}

/// What one relocation request did.
#[derive(Default, Clone, Copy)]
pub(crate) struct Outcome {
    /// The request, as parsed (the range clamped to the mm).
    pub(crate) pid: i32,
    pub(crate) node: i32,
    pub(crate) start: usize,
    pub(crate) end: usize,
    /// 0, or the errno the request failed with.
    pub(crate) errno: i32,
    /// The zone requested, if any.
    pub(crate) zone: Option<Zone>,
    /// For an evacuation: its range and what else it found.
    pub(crate) evacuation: Option<Evacuation>,
    /// The levels requested, and what was found at each ([`Level::index`]).
    pub(crate) levels: Levels,
    pub(crate) per_level: [LevelCounts; 3],
    /// PTE tables deposited for huge pages that moved (mapped by no entry,
    /// so not in `per_level` nor in the census).
    pub(crate) deposits_moved: u64,
    /// Hugetlb VMAs in the range (their page tables are not ours to move).
    pub(crate) skipped_hugetlb_vmas: u64,
    pub(crate) skipped: Skipped,
    /// Entries whose Accessed/Dirty bits were carried over, and of those how
    /// many had Dirty.
    pub(crate) ad_entries: u64,
    pub(crate) ad_dirty: u64,
    /// Entries that differed in more than A/D after the flush: bugs.
    pub(crate) anomalies: u64,
    /// mmap-lock holds.
    pub(crate) batches: u64,
    /// TLB flushes: one per batch that installed a table.
    pub(crate) flushes: u64,
    /// Replacements allocated before a batch took the mmap lock, and of
    /// those, how many a batch used (the others were freed).
    pub(crate) spares_allocated: u64,
    pub(crate) spares_used: u64,
    /// Rests between holds that tasks waited for, and their total length
    /// (`duty.rs`).
    pub(crate) rests: u64,
    pub(crate) rest_ns: u64,
    /// The longest of them, and the whole request, in nanoseconds.
    pub(crate) longest_hold_ns: u64,
    pub(crate) elapsed_ns: u64,
}

impl Outcome {
    fn sum(&self, f: impl Fn(&LevelCounts) -> u64) -> u64 {
        self.per_level.iter().map(f).sum()
    }

    /// Tables examined, of every level.
    pub(crate) fn examined(&self) -> u64 {
        self.sum(|c| c.examined)
    }

    /// Page-table pages that changed node: tables of every level, and
    /// deposited tables.
    pub(crate) fn moved(&self) -> u64 {
        self.sum(|c| c.moved) + self.deposits_moved
    }

    /// Tables on the target node already, of every level.
    pub(crate) fn already(&self) -> u64 {
        self.sum(|c| c.already)
    }

    pub(crate) fn level(&mut self, level: Level) -> &mut LevelCounts {
        &mut self.per_level[level.index()]
    }

    /// Runs a request that fills in this outcome, and records how long it
    /// took and the errno it failed with, if it did.
    pub(crate) fn record(&mut self, run: impl FnOnce(&mut Self) -> Result) -> Result {
        let t0 = now_ns();
        let result = run(self);
        self.elapsed_ns = now_ns() - t0;
        if let Err(e) = result {
            self.errno = -e.to_errno();
        }
        result
    }
}
