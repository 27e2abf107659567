// SPDX-License-Identifier: GPL-2.0

//! Relocation of a process's page tables (PTE, PMD and PUD tables) to a
//! target node.
//!
//! A request moves the levels it names one after the other, PTE tables
//! first. Tables move in batches; each batch holds the mmap lock for writing
//! once:
//!
//! 1. Collect up to `batch` tables of the level that are not on the target
//!    node, and allocate a replacement for each on that node (mmap and VMA
//!    write locks only: the allocator may reclaim, and reclaim takes rmap
//!    locks).
//! 2. For each table: take the rmap write locks of every VMA its span (2 MiB,
//!    1 GiB or 512 GiB) touches, the lock of the entry pointing to it and the
//!    table's own lock; re-check the entry; copy the 512 entries verbatim;
//!    install the copy with `pmd_populate`, `pud_populate` or
//!    `p4d_populate`.
//! 3. Flush the TLB and paging-structure caches of every CPU, once.
//! 4. For each table, under its lock: carry over the Accessed/Dirty bits that
//!    CPUs set in the old copy before the flush (see `table::reconcile`).
//! 5. Drop the rmap locks. The old tables are freed once an RCU grace
//!    period has passed (`table::Retired`), at the latest before the request
//!    returns.
//!
//! The rmap locks are held from step 2 to step 4, so no rmap walker (reclaim,
//! migration, `folio_mkclean`) can look at a new entry before its A/D bits are
//! complete. Software cannot change either copy in between: everything that
//! writes PTEs holds the mmap lock, the VMA lock of every VMA in the table's
//! span (all write-locked in step 1), or one of their rmap locks.

use core::num::NonZeroI32;
use core::ptr::NonNull;

use kernel::bindings;
use kernel::c_str;
use kernel::ffi::c_void;
use kernel::prelude::*;

use crate::claims::Claims;
use crate::inject::{self, AdInjector};
use crate::locks::{Contended, RmapLocks, SpinGuard, MAX_RMAP_LOCKS};
use crate::mm::{MmapWriteGuard, PinnedMm};
use crate::request::{EvacuateRequest, Level, Levels, RelocateRequest};
use crate::sys;
use crate::table::{self, Entry, Lookup, NewTable, PfnRange, Retired, Slot, Table, Target};

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

/// What one relocation request did. Counters are of tables of every level
/// unless said otherwise.
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
    pub(crate) zone: Option<crate::request::Zone>,
    /// For an evacuation: its range and what else it found.
    pub(crate) evacuation: Option<Evacuation>,
    /// The levels requested, and what was found at each ([`Level::index`]).
    pub(crate) levels: Levels,
    pub(crate) per_level: [LevelCounts; 3],
    /// PTE tables deposited for huge pages that moved (mapped by no entry,
    /// so not in `per_level` nor in the census).
    pub(crate) deposits_moved: u64,
    /// Sums over the levels; `moved` includes `deposits_moved`, so that it
    /// is every page-table page that changed node.
    pub(crate) examined: u64,
    pub(crate) moved: u64,
    pub(crate) already: u64,
    /// Hugetlb VMAs in the range (their page tables are not ours to move).
    pub(crate) skipped_hugetlb_vmas: u64,
    /// PMD and PUD tables not moved because their span includes a hugetlb
    /// VMA (whose PMD tables may be shared with other processes).
    pub(crate) skipped_hugetlb_tables: u64,
    /// Tables whose PMD entry changed between collection and locking.
    pub(crate) skipped_changed: u64,
    /// Tables skipped because an rmap lock stayed contended after a retry.
    pub(crate) skipped_contended: u64,
    /// Tables skipped because their span has more files and anon_vma
    /// families than [`MAX_RMAP_LOCKS`] locks can cover.
    pub(crate) skipped_crowded: u64,
    /// Entries whose Accessed/Dirty bits were carried over, and of those how
    /// many had Dirty.
    pub(crate) ad_entries: u64,
    pub(crate) ad_dirty: u64,
    /// Entries that differed in more than A/D after the flush: bugs.
    pub(crate) anomalies: u64,
    /// mmap-lock holds.
    pub(crate) batches: u64,
    /// The longest of them, and the whole request, in nanoseconds.
    pub(crate) longest_hold_ns: u64,
    pub(crate) elapsed_ns: u64,
}

fn now_ns() -> u64 {
    // SAFETY: `ktime_get` may be called from any context.
    unsafe { bindings::ktime_get() as u64 }
}

/// Runs one request; `out` is filled in whether it fails or not. Requests on
/// one mm are serialised through `claims`.
pub(crate) fn relocate(
    claims: &Claims,
    req: &RelocateRequest,
    batch: usize,
    inject: Option<&mut AdInjector<'_>>,
    out: &mut Outcome,
) -> Result {
    *out = Outcome {
        pid: req.pid,
        node: req.node,
        start: req.start as usize,
        end: req.end as usize,
        levels: req.levels,
        zone: req.zone,
        ..Default::default()
    };
    let t0 = now_ns();
    let result = run(claims, req, batch, inject, out);
    out.elapsed_ns = now_ns() - t0;
    if let Err(e) = result {
        out.errno = -e.to_errno();
    }
    result
}

/// Whether `node` can take page tables: online, with memory.
fn node_usable(node: i32) -> bool {
    // SAFETY: the helpers only test node masks; `node` is below `nr_node_ids`
    // (checked by the parser).
    unsafe { sys::ptreloc_node_online(node) && sys::ptreloc_node_has_memory(node) }
}

fn run(
    claims: &Claims,
    req: &RelocateRequest,
    batch: usize,
    inject: Option<&mut AdInjector<'_>>,
    out: &mut Outcome,
) -> Result {
    if !node_usable(req.node) {
        return Err(ENODEV);
    }
    let target = Target {
        node: req.node,
        zone: req.zone,
        avoid: None,
    };
    if !target.zone_populated() {
        return Err(EINVAL);
    }
    let mm = PinnedMm::from_pid(req.pid)?;
    let end = (req.end as usize).min(mm.user_end());
    out.end = end;
    let span = Span {
        levels: req.levels,
        start: req.start as usize,
        end,
    };
    relocate_mm(claims, &mm, target, span, batch, inject, out)
}

/// What of an mm a request covers.
#[derive(Clone, Copy)]
struct Span {
    levels: Levels,
    start: usize,
    end: usize,
}

/// Moves the tables of `span` in `mm` that `target` does not hold, adding
/// what it did to `out`.
fn relocate_mm(
    claims: &Claims,
    mm: &PinnedMm,
    target: Target,
    span: Span,
    batch: usize,
    mut inject: Option<&mut AdInjector<'_>>,
    out: &mut Outcome,
) -> Result {
    let _claim = claims.claim(mm)?;
    let memcg = Memcg::of(mm);
    // Dropped after every mmap-lock guard below, freeing what is left.
    let mut retired = Retired::new();
    let end = span.end.min(mm.user_end());
    let mut first_hold = true;
    for level in span.levels.iter() {
        let mut addr = span.start & !(level.span() - 1);
        let mut contended_at = None;
        while addr < end {
            // SAFETY: tests the current task's signals.
            if unsafe { sys::ptreloc_fatal_signal_pending() } {
                return Err(EINTR);
            }
            if mm.is_orphaned() {
                return Err(ESRCH);
            }
            let guard = mm.write_lock()?;
            let held_since = now_ns();
            // A first SVA bind registers an mmu notifier, which takes the mmap
            // lock for writing: checked under it, the answer holds for the
            // batch.
            if mm.bound_to_device() {
                return Err(EBUSY);
            }
            if core::mem::take(&mut first_hold) {
                out.skipped_hugetlb_vmas += guard
                    .vmas(span.start, end)
                    .filter(|vma| vma.is_hugetlb())
                    .count() as u64;
            }
            let step = Batch {
                guard: &guard,
                level,
                deposits_done: None,
                target,
                end,
                memcg: memcg.ptr(),
                inject: inject::reborrow(&mut inject),
                retired: &mut retired,
                out,
            }
            .run(addr, batch, &mut contended_at);
            drop(guard);
            out.batches += 1;
            out.longest_hold_ns = out.longest_hold_ns.max(now_ns() - held_since);
            if retired.len() >= Retired::MAX {
                retired.free();
            } else {
                retired.start_grace_period();
            }
            addr = step?;
            // SAFETY: process context, no locks held.
            unsafe { sys::ptreloc_cond_resched() };
        }
    }
    Ok(())
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
}

/// The most passes an evacuation makes: a pass moves what faults, forks and
/// allocations during the previous one put in the range.
const EVACUATION_PASSES: u64 = 3;

/// Runs one evacuation: moves every user page table in a physical range,
/// of every process, out of it. `out` is filled in whether it fails or not.
pub(crate) fn evacuate(
    claims: &Claims,
    req: &EvacuateRequest,
    batch: usize,
    out: &mut Outcome,
) -> Result {
    *out = Outcome {
        levels: req.levels,
        zone: req.zone,
        ..Default::default()
    };
    let t0 = now_ns();
    let range = PfnRange {
        start: req.pfn_start,
        end: req.pfn_end,
    };
    let mut evac = Evacuation {
        pfn_start: req.pfn_start,
        pfn_end: req.pfn_end,
        in_range_before: range.count_pgtables(),
        ..Default::default()
    };
    let result = run_evacuation(claims, req, range, batch, out, &mut evac);
    // Our old tables are freed already; let those that their owners freed
    // meanwhile (exits, munmap) go too before counting what is left.
    // SAFETY: process context, no locks held.
    unsafe { bindings::rcu_barrier() };
    evac.in_range_after = range.count_pgtables();
    out.evacuation = Some(evac);
    out.elapsed_ns = now_ns() - t0;
    if let Err(e) = result {
        out.errno = -e.to_errno();
    }
    result
}

fn run_evacuation(
    claims: &Claims,
    req: &EvacuateRequest,
    range: PfnRange,
    batch: usize,
    out: &mut Outcome,
    evac: &mut Evacuation,
) -> Result {
    let node = match req.node {
        Some(node) if node_usable(node) => node,
        Some(_) => return Err(ENODEV),
        None => range.nearest_node_outside().ok_or(ENODEV)?,
    };
    out.node = node;
    let target = Target {
        node,
        zone: req.zone,
        avoid: Some(range),
    };
    if !target.zone_populated() {
        return Err(EINVAL);
    }
    let span = Span {
        levels: req.levels,
        start: 0,
        end: usize::MAX,
    };
    for pass in 0..EVACUATION_PASSES {
        let moved_before = out.moved;
        let mut next = 1;
        // SAFETY: `ptreloc_next_tgid` only looks pids up under RCU.
        while let Some(tgid) = NonZeroI32::new(unsafe { sys::ptreloc_next_tgid(next) }) {
            next = tgid.get().saturating_add(1);
            // SAFETY: tests the current task's signals.
            if unsafe { sys::ptreloc_fatal_signal_pending() } {
                return Err(EINTR);
            }
            // Kernel threads and processes already gone have no mm.
            let Ok(mm) = PinnedMm::from_pid(tgid.get()) else {
                continue;
            };
            if pass == 0 {
                evac.processes += 1;
                if range.contains(mm.pgd_pfn()) {
                    evac.pgds_in_range += 1;
                }
            }
            match relocate_mm(claims, &mm, target, span, batch, None, out) {
                Ok(()) | Err(ESRCH) => {}
                Err(EBUSY) => evac.busy_processes += u64::from(pass == 0),
                Err(e) => return Err(e),
            }
            drop(mm);
            // SAFETY: process context, no locks held.
            unsafe { sys::ptreloc_cond_resched() };
        }
        evac.passes += 1;
        if out.moved == moved_before {
            break;
        }
    }
    Ok(())
}

/// A reference on the memory cgroup of an mm, which new tables are charged
/// to (as the tables they replace were).
struct Memcg(Option<NonNull<sys::mem_cgroup>>);

impl Memcg {
    fn of(mm: &PinnedMm) -> Self {
        // SAFETY: the mm is live; returns a referenced memcg, or null when
        // memcg is disabled.
        Self(NonNull::new(
            unsafe { bindings::get_mem_cgroup_from_mm(mm.as_ptr().cast()) }.cast(),
        ))
    }

    fn ptr(&self) -> Option<NonNull<sys::mem_cgroup>> {
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

/// A table chosen to move, with its replacement.
struct Candidate<'g> {
    /// What `collect` counted between the previous candidate and this one;
    /// added to the outcome only once this candidate is processed, so that
    /// a batch that ends early does not count them twice.
    seen_before: Seen,
    addr: usize,
    slot: Slot<'g>,
    seen: Entry,
    old: Table,
    new: NewTable,
}

/// A table replaced in this batch, waiting for the flush and the reconcile.
#[derive(Clone, Copy)]
struct Replaced {
    /// The first address the table maps.
    addr: usize,
    old: Table,
    new: Table,
    /// The lock that keeps software off both tables' entries: the old
    /// table's own lock, or the slot's lock for a PUD table.
    lock: NonNull<sys::spinlock_t>,
}

/// Tables on the target node already, and tables not moved because of a
/// hugetlb VMA, met while collecting.
#[derive(Default, Clone, Copy)]
struct Seen {
    already: u64,
    hugetlb_tables: u64,
}

impl Outcome {
    fn add_seen(&mut self, level: Level, seen: Seen) {
        let counts = &mut self.per_level[level.index()];
        counts.examined += seen.already;
        counts.already += seen.already;
        self.examined += seen.already;
        self.already += seen.already;
        self.skipped_hugetlb_tables += seen.hugetlb_tables;
    }

    fn add_examined(&mut self, level: Level) {
        self.per_level[level.index()].examined += 1;
        self.examined += 1;
    }

    fn add_moved(&mut self, level: Level) {
        self.per_level[level.index()].moved += 1;
        self.moved += 1;
    }
}

/// Where `collect` stopped.
struct Collected {
    /// The first address not looked at.
    next: usize,
    /// What it saw after the last candidate.
    seen_after: Seen,
    /// Whether it stopped because a replacement table could not be allocated.
    alloc_failed: bool,
}

/// One mmap-lock hold, moving tables of one level.
struct Batch<'g, 'o, 'i> {
    guard: &'g MmapWriteGuard<'g>,
    level: Level,
    /// The PMD table whose deposited tables were moved last.
    deposits_done: Option<NonNull<sys::page>>,
    target: Target,
    end: usize,
    memcg: Option<NonNull<sys::mem_cgroup>>,
    /// The `inject=ad` test hook, if a test asked for it.
    inject: Option<&'o mut AdInjector<'i>>,
    /// Where the old tables wait for their grace period.
    retired: &'o mut Retired,
    out: &'o mut Outcome,
}

impl<'g> Batch<'g, '_, '_> {
    /// Moves up to `batch` tables from `addr` on; returns where the next batch
    /// starts. `contended_at` remembers a table that met rmap-lock contention
    /// at the start of a batch, so that it is retried once and then skipped.
    fn run(mut self, addr: usize, batch: usize, contended_at: &mut Option<usize>) -> Result<usize> {
        let level = self.level;
        let mut cands = KVec::with_capacity(batch, GFP_KERNEL)?;
        let collected = self.collect(addr, batch, &mut cands);
        self.retired.reserve(cands.len())?;
        let mut next = collected.next;
        let mut ended_early = false;

        let mut rmap = RmapLocks::new();
        let mut moved = KVec::with_capacity(cands.len(), GFP_KERNEL)?;
        for cand in cands {
            match self.lock_span(&mut rmap, cand.addr) {
                Ok(()) => {}
                Err(Contended::Full) if rmap.is_empty() => {
                    // More owners than locks we may hold: no retry helps.
                    self.out.add_seen(level, cand.seen_before);
                    self.out.add_examined(level);
                    self.out.skipped_crowded += 1;
                    continue;
                }
                Err(Contended::Busy) if rmap.is_empty() && *contended_at == Some(cand.addr) => {
                    // Retried once already: give up on this table.
                    self.out.add_seen(level, cand.seen_before);
                    self.out.add_examined(level);
                    self.out.skipped_contended += 1;
                    *contended_at = None;
                    continue;
                }
                Err(why) => {
                    // End the batch here; the rest is collected again next
                    // time, this table first, with no lock held.
                    if rmap.is_empty() && matches!(why, Contended::Busy) {
                        *contended_at = Some(cand.addr);
                    }
                    next = cand.addr;
                    ended_early = true;
                    break;
                }
            }
            self.out.add_seen(level, cand.seen_before);
            self.out.add_examined(level);
            match self.replace(cand) {
                // Cannot fail: there is room for every candidate, and losing
                // track of an installed table is not an option.
                Some(replaced) => {
                    let _ = moved.push(replaced, GFP_NOWAIT);
                }
                None => self.out.skipped_changed += 1,
            }
        }
        if !ended_early {
            self.out.add_seen(level, collected.seen_after);
        }
        if let Some(inject) = self.inject.as_deref_mut() {
            for r in moved.iter() {
                // SAFETY: `old` was replaced by `replace` and is neither
                // flushed nor retired yet.
                unsafe { inject.inject(r.addr, &r.old) };
            }
        }
        if !moved.is_empty() {
            flush_all_cpus();
        }
        for r in moved.iter().copied() {
            let found = {
                // SAFETY: `r.lock` is the old table's lock or the slot's, both
                // valid while we hold the mmap lock and have not retired `old`;
                // no other page-table lock is held here.
                let _old = unsafe { SpinGuard::lock(r.lock, 0) };
                // SAFETY: `new` is live, installed by us under the locks we
                // still hold.
                let _new = unsafe { r.new.ptl() }
                    .filter(|ptl| *ptl != r.lock)
                    // SAFETY: valid (above); its own lock, nested under `old`'s.
                    .map(|ptl| unsafe { SpinGuard::lock(ptl, sys::NESTING_SECOND) });
                // SAFETY: `new` replaced `old`, all CPUs were flushed since,
                // and both locks plus the mmap, VMA and rmap locks are held.
                unsafe { table::reconcile(r.old, r.new) }
            };
            self.out.ad_entries += found.entries;
            self.out.ad_dirty += found.dirty;
            if found.anomalies != 0 {
                self.out.anomalies += found.anomalies;
                warn(c_str!(
                    "entries changed during relocation beyond Accessed/Dirty"
                ));
            }
            self.out.add_moved(level);
        }
        drop(rmap);
        for r in moved.iter() {
            // SAFETY: room reserved above; unlinked by `replace`, and every
            // TLB flushed since.
            unsafe { self.retired.add(r.old) };
        }
        if collected.alloc_failed && !ended_early {
            return Err(ENOMEM);
        }
        Ok(next)
    }

    /// Walks from `addr` and fills `cands` with up to `batch` tables to move,
    /// each with a replacement allocated.
    ///
    /// Every VMA that a candidate's span touches is write-locked here, before
    /// any rmap lock is taken: `vma_start_write` waits for per-VMA-lock
    /// faults, which may themselves wait for an rmap lock (NUMA migration,
    /// `UFFDIO_MOVE`), so taking it after an rmap lock could deadlock.
    fn collect(&mut self, addr: usize, batch: usize, cands: &mut KVec<Candidate<'g>>) -> Collected {
        let span = self.level.span();
        let mut seen = Seen::default();
        let mut pos = addr & !(span - 1);
        let done = |next, seen| Collected {
            next,
            seen_after: seen,
            alloc_failed: false,
        };
        while pos < self.end && cands.len() < batch {
            let span_end = pos.saturating_add(span);
            let Some(vma) = self.guard.find_vma(pos) else {
                return done(self.end, seen);
            };
            if vma.start() >= self.end {
                return done(self.end, seen);
            }
            if vma.start() >= span_end {
                // Nothing mapped up to the span of this VMA's first table.
                pos = vma.start() & !(span - 1);
                continue;
            }
            if self.level == Level::Pte && vma.is_hugetlb() {
                pos = align_up(vma.end(), span);
                continue;
            }
            let slot = match Slot::lookup(self.guard, self.level, pos) {
                Lookup::Hole { next } => {
                    pos = next;
                    continue;
                }
                Lookup::Slot(slot) => slot,
            };
            let seen_entry = slot.read();
            if seen_entry.may_have_deposit() && self.deposits_done != Some(slot.table_page()) {
                self.deposits_done = Some(slot.table_page());
                if self.move_deposits(&slot).is_err() {
                    return Collected {
                        next: pos,
                        seen_after: seen,
                        alloc_failed: true,
                    };
                }
            }
            if let Some(old) = seen_entry.table() {
                if self.target.holds_table(&old) {
                    seen.already += 1;
                } else if self.level != Level::Pte
                    && self.guard.vmas(pos, span_end).any(|v| v.is_hugetlb())
                {
                    seen.hugetlb_tables += 1;
                } else {
                    let Ok(new) = NewTable::alloc(self.level, self.target, self.memcg) else {
                        return Collected {
                            next: pos,
                            seen_after: seen,
                            alloc_failed: true,
                        };
                    };
                    // Keep per-VMA-lock faults out of the whole span.
                    for span_vma in self.guard.vmas(pos, span_end) {
                        span_vma.write_lock();
                    }
                    let cand = Candidate {
                        seen_before: core::mem::take(&mut seen),
                        addr: pos,
                        slot,
                        seen: seen_entry,
                        old,
                        new,
                    };
                    // Cannot fail: room for `batch` was reserved.
                    let _ = cands.push(cand, GFP_NOWAIT);
                }
            }
            pos = span_end;
        }
        done(pos.min(self.end), seen)
    }

    /// Moves the PTE tables deposited in the PMD table that holds `slot`,
    /// which may map a huge page. `Err` if not every replacement could be
    /// allocated; those that could are used.
    fn move_deposits(&mut self, slot: &Slot<'g>) -> Result {
        // SAFETY: a PMD entry of our mm, whose mmap lock we hold for writing.
        let (_, off_node) = unsafe { table::count_deposits(slot, self.target) };
        if off_node == 0 {
            return Ok(());
        }
        let mut spare = KVec::with_capacity(off_node, GFP_KERNEL)?;
        self.retired.reserve(off_node)?;
        let mut result = Ok(());
        for _ in 0..off_node {
            match NewTable::alloc(Level::Pte, self.target, self.memcg) {
                // Cannot fail: room for every one was reserved.
                Ok(new) => {
                    let _ = spare.push(new, GFP_NOWAIT);
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        // SAFETY: as above. The list may have changed since it was counted
        // (we held no lock while allocating): unused spares are freed.
        let moved = unsafe {
            table::move_deposits(slot, self.target, &mut spare.into_iter(), self.retired)
        };
        self.out.deposits_moved += moved;
        self.out.moved += moved;
        result
    }

    /// Adds the rmap locks of the files and anon_vma families of every VMA in
    /// the span of the table at `addr` to `rmap`. `collect` write-locked the
    /// VMAs.
    fn lock_span(&self, rmap: &mut RmapLocks, addr: usize) -> Result<(), Contended> {
        let mut files = [NonNull::dangling(); MAX_RMAP_LOCKS];
        let mut anons = [NonNull::dangling(); MAX_RMAP_LOCKS];
        let (mut nfiles, mut nanons) = (0, 0);
        for vma in self
            .guard
            .vmas(addr, addr.saturating_add(self.level.span()))
        {
            if let Some(m) = vma.mapping() {
                if !files[..nfiles].contains(&m) {
                    *files.get_mut(nfiles).ok_or(Contended::Full)? = m;
                    nfiles += 1;
                }
            }
            if let Some(a) = vma.anon_vma_root() {
                if !anons[..nanons].contains(&a) {
                    *anons.get_mut(nanons).ok_or(Contended::Full)? = a;
                    nanons += 1;
                }
            }
        }
        // SAFETY: the mappings and anon_vmas belong to VMAs of this mm, whose
        // mmap lock `self.guard` holds for writing until `rmap` is dropped
        // (it is dropped inside `run`, which borrows the guard).
        unsafe { rmap.add(&files[..nfiles], &anons[..nanons]) }
    }

    /// Step 2 for one table: re-check, copy and install under the page-table
    /// locks. Returns the old and new table, or `None` if the entry changed.
    fn replace(&self, cand: Candidate<'g>) -> Option<Replaced> {
        let slot_lock = cand.slot.lock();
        if !cand.slot.read().same(cand.seen) {
            return None;
        }
        // SAFETY: the entry still points to `old`, re-checked under the slot
        // lock with the span's rmap locks held: `old` is live.
        let old_ptl = unsafe { cand.old.ptl() };
        let _old_ptl = old_ptl
            .filter(|ptl| *ptl != slot_lock.ptr())
            // SAFETY: valid (above); it nests inside the slot lock.
            .map(|ptl| unsafe { SpinGuard::lock(ptl, sys::NESTING_SECOND) });
        let held = [slot_lock.ptr(), old_ptl.unwrap_or(slot_lock.ptr())];
        let _new_ptl = cand.new.lock_if_distinct(&held);
        // SAFETY: `slot` points to `old` (checked above), and we hold the slot
        // lock, `old`'s lock, and the new table's lock if it has its own.
        let new = unsafe { cand.new.install(&cand.slot, cand.old) };
        Some(Replaced {
            addr: cand.addr,
            old: cand.old,
            new,
            lock: old_ptl.unwrap_or(slot_lock.ptr()),
        })
    }
}

/// Flushes TLBs and paging-structure caches on every CPU, and waits.
fn flush_all_cpus() {
    // SAFETY: process context with interrupts enabled, as `on_each_cpu`
    // requires to wait; the callback only flushes the local TLB.
    unsafe { sys::ptreloc_on_each_cpu(flush_this_cpu) };
}

/// `on_each_cpu` callback.
///
/// # Safety
///
/// Runs with interrupts (and so preemption) disabled, as `__flush_tlb_all`
/// requires.
unsafe extern "C" fn flush_this_cpu(_info: *mut c_void) {
    // SAFETY: see above.
    unsafe { bindings::__flush_tlb_all() };
}

fn align_up(addr: usize, size: usize) -> usize {
    (addr + size - 1) & !(size - 1)
}

fn warn(msg: &CStr) {
    // SAFETY: `msg` is NUL-terminated.
    unsafe { sys::ptreloc_warn(msg.as_char_ptr()) };
}
