// SPDX-License-Identifier: GPL-2.0

//! The in-kernel API of ptreloc.ko, as seen by both sides.
//!
//! ptreloc exports two GPL symbols from its C shim, each wrapping a Rust
//! `extern "C"` function of `api.rs`:
//!
//! ```c
//! int ptreloc_relocate(const struct ptreloc_request *req,
//!                      struct ptreloc_outcome *out);
//! int ptreloc_read_entry(int pid, unsigned int level, unsigned long addr,
//!                        u64 *entry);
//! ```
//!
//! Both return 0 or a negative errno and may sleep. `ptreloc_relocate` runs
//! one request exactly like a write to `relocate` (same checks, same errnos,
//! same `result` and `stats`), except that the caller is trusted (no
//! `CAP_SYS_ADMIN` check) and chooses the batch size. `ptreloc_read_entry`
//! reads one entry of the page tables of a process, for tests.
//!
//! This file is compiled into both modules; its layout is the contract.

use kernel::ffi::c_void;

/// [`PtrelocRequest::levels`] bits, and [`ptreloc_read_entry`] levels: a
/// table level is named by the entries it holds. ptreloc itself makes them
/// with `Level::mask()`.
#[allow(dead_code)]
pub(crate) const LEVEL_PTE: u32 = 1 << 0;
#[allow(dead_code)]
pub(crate) const LEVEL_PMD: u32 = 1 << 1;
#[allow(dead_code)]
pub(crate) const LEVEL_PUD: u32 = 1 << 2;

// They are `Level::mask()` bits, which both modules use to make and read them.
const _: () = {
    use crate::level::Level;
    assert!(
        LEVEL_PTE == 1 << Level::Pte as u32
            && LEVEL_PMD == 1 << Level::Pmd as u32
            && LEVEL_PUD == 1 << Level::Pud as u32
    );
};

/// One relocation request.
#[repr(C)]
pub(crate) struct PtrelocRequest {
    /// The process (thread-group id) whose page tables move.
    pub(crate) pid: i32,
    /// The node they move to.
    pub(crate) node: i32,
    /// The user range, page-aligned, `start < end`.
    pub(crate) start: u64,
    pub(crate) end: u64,
    /// `LEVEL_*` bits; 0 means all levels.
    pub(crate) levels: u32,
    /// Tables per mmap-lock hold, 1..=4096; 0 means the `batch` file's value.
    pub(crate) batch: u32,
    /// Null, or the Accessed/Dirty injection of a test (see
    /// [`PtrelocAdLog`]).
    pub(crate) inject: *mut PtrelocAdLog,
}

/// Test hooks. Chiefly: ptreloc sets Accessed/Dirty bits in entries of the
/// *old* tables between the copy and the TLB flush, as a CPU still holding
/// a cached translation would, and records each entry here. The caller then
/// checks that every recorded bit reached the live tables.
///
/// ptreloc picks up to `per_table` entries of each table it moves (present
/// entries missing Accessed, or leaf, writable entries missing Dirty),
/// starting at a position derived from `seed`, until `records` is full.
#[repr(C)]
pub(crate) struct PtrelocAdLog {
    /// Room for `capacity` records, owned by the caller for the request.
    pub(crate) records: *mut PtrelocAdRecord,
    pub(crate) capacity: u32,
    /// Records written (set by ptreloc).
    pub(crate) len: u32,
    /// Entries to pick per table moved.
    pub(crate) per_table: u32,
    pub(crate) seed: u32,
    /// The remote-flush probe: a user address (0: none) whose PTE loses its
    /// Accessed bit in both the old and the new table, between the install
    /// and the flush, as aging clears it without a flush
    /// (`ptep_test_and_clear_young()`). A CPU that caches the translation
    /// sets the bit again only once the flush has reached it, at its next
    /// access, in the new table.
    pub(crate) age: u64,
    /// Set by ptreloc: the probe's entry was found and its bit cleared.
    pub(crate) aged: u32,
    pub(crate) _pad: u32,
    /// The pause: called with `pause_ctx` once per request (ptreloc then
    /// clears it), the first time a batch has collected tables, before it
    /// takes any rmap or page-table lock to install them. It runs with the
    /// mmap lock and the VMA locks of the collected tables' spans held for
    /// writing, and may sleep: a test changes the tables in that window, as
    /// file THP collapse (`retract_page_tables`) or a PT_RECLAIM zap may.
    pub(crate) pause: Option<unsafe extern "C" fn(ctx: *mut c_void)>,
    pub(crate) pause_ctx: *mut c_void,
}

impl Default for PtrelocAdLog {
    fn default() -> Self {
        Self {
            records: core::ptr::null_mut(),
            capacity: 0,
            len: 0,
            per_table: 0,
            seed: 0,
            age: 0,
            aged: 0,
            _pad: 0,
            pause: None,
            pause_ctx: core::ptr::null_mut(),
        }
    }
}

/// One entry whose bits ptreloc set in an old table.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct PtrelocAdRecord {
    /// A user address the entry maps, and the level of the table holding
    /// it (`LEVEL_*`).
    pub(crate) addr: u64,
    pub(crate) level: u32,
    pub(crate) _pad: u32,
    /// The entry before the bits were set, and the bits set.
    pub(crate) was: u64,
    pub(crate) bits: u64,
}

/// What a request did (a summary of what `result` shows).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct PtrelocOutcome {
    /// Tables moved per level (PTE, PMD, PUD), and deposited PTE tables
    /// moved with huge pages.
    pub(crate) moved: [u64; 3],
    pub(crate) deposits_moved: u64,
    pub(crate) examined: u64,
    pub(crate) already: u64,
    /// Tables skipped for any reason (changed, contended, crowded, hugetlb).
    pub(crate) skipped: u64,
    /// Entries whose Accessed/Dirty bits were carried over, and entries that
    /// differed in anything else (bugs).
    pub(crate) ad_entries: u64,
    pub(crate) anomalies: u64,
    pub(crate) batches: u64,
    pub(crate) longest_hold_ns: u64,
    pub(crate) elapsed_ns: u64,
}
