// SPDX-License-Identifier: GPL-2.0

//! Relocation of a process's page tables (PTE, PMD and PUD tables) to a
//! target node, and evacuation of a physical range.
//!
//! A request moves the levels it names one after the other, PTE tables
//! first, while the upper tables that lead to them stay put. Tables move in
//! batches (`batch.rs`); each batch holds the mmap lock for writing once, so
//! that faults wait for at most one batch. The old tables are freed in the
//! background once an RCU grace period has passed (`table::Retired`): a
//! request does not wait for it, an evacuation does before it counts.
//!
//! Lock order (`mm/rmap.c`, and `locks.rs`): claim of the mm (`claims.rs`) ->
//! mmap lock -> VMA write locks -> i_mmap_rwsem -> anon_vma -> slot lock ->
//! the table's own lock -> the new table's lock.

use kernel::prelude::*;

use crate::batch::{Batch, Cursor};
use crate::claims::Claims;
use crate::duty::DutyCycle;
use crate::ksys::Pid;
use crate::level::Levels;
use crate::memcg::Charges;
use crate::mm::PinnedMm;
use crate::outcome::{Evacuation, Outcome};
use crate::placement::{PfnRange, Quarantine, Target};
use crate::request::{EvacuateRequest, RelocateRequest};
use crate::sys::{self, now_ns};
use crate::table::{self, inject, AdInjector, Retired, Spares};

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
    out.record(|out| {
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
        let job = Job {
            target,
            quarantine: None,
            levels: req.levels,
            start: req.start as usize,
            end,
            batch,
        };
        relocate_mm(claims, &mm, job, inject, out)
    })
}

/// Whether `node` can take page tables: online, with memory.
fn node_usable(node: i32) -> bool {
    sys::node_online(node) && sys::node_has_memory(node)
}

/// What a request asks of each mm it covers.
#[derive(Clone, Copy)]
struct Job<'q> {
    target: Target,
    /// An evacuation's pages of its own range (see [`Quarantine`]).
    quarantine: Option<&'q Quarantine>,
    levels: Levels,
    start: usize,
    end: usize,
    /// Tables per mmap-lock hold.
    batch: usize,
}

/// Does `job` in `mm`: moves the tables it covers that its target does not
/// hold, adding what it did to `out`.
fn relocate_mm(
    claims: &Claims,
    mm: &PinnedMm,
    job: Job<'_>,
    mut inject: Option<&mut AdInjector<'_>>,
    out: &mut Outcome,
) -> Result {
    let _claim = claims.claim(mm)?;
    let charges = Charges::new();
    // Dropped after every mmap-lock guard below, releasing what is left.
    let mut retired = Retired::new();
    let mut spares = Spares::new();
    let mut duty = DutyCycle::new();
    let end = job.end.min(mm.user_end());
    let mut first_hold = true;
    for level in job.levels.iter() {
        let mut cursor = Cursor::new(level, job.start, end);
        // How many replacements the next batch is likely to take.
        let mut expected = 0;
        while !cursor.done() {
            if sys::fatal_signal_pending() {
                return Err(EINTR);
            }
            if mm.is_orphaned() {
                return Err(ESRCH);
            }
            // Allocate replacements now, with no lock held: as many as the
            // previous batch chose if it was full, charged where its last
            // table was.
            if let Some(memcg) = charges.latest() {
                spares.fill(level, expected, job.target, memcg, job.quarantine);
            }
            // The lock's waiters get a turn after a hold they waited for.
            duty.rest(out);
            // Faults, munmap, mremap and every walker under the mmap lock
            // stay out for the whole batch; dropped between batches to bound
            // how long they wait.
            let guard = mm.write_lock()?;
            let held_since = now_ns();
            // Racing with a first SVA bind? It registers an mmu notifier
            // under the mmap write lock: checked under it, the answer holds
            // for the batch.
            if mm.bound_to_device() {
                return Err(EBUSY);
            }
            if core::mem::take(&mut first_hold) {
                out.skipped_hugetlb_vmas += guard
                    .vmas(job.start, end)
                    .filter(|vma| vma.is_hugetlb())
                    .count() as u64;
            }
            let step = Batch::new(&guard, job.target, &charges, job.quarantine).run(
                &mut cursor,
                job.batch,
                &mut spares,
                inject::reborrow(&mut inject),
                &mut retired,
                out,
            );
            // Racing with a reader that queues after this: it waits for the
            // next hold, a batch at most.
            let contended = guard.is_contended();
            drop(guard);
            duty.hold_ended(held_since, contended);
            out.batches += 1;
            out.longest_hold_ns = out.longest_hold_ns.max(now_ns() - held_since);
            // One handoff to RCU (an allocation, a call_rcu()) for many
            // tables.
            if retired.len() >= Retired::MAX {
                retired.release();
            }
            spares.account(out);
            // A full batch suggests more like it; one cut short (the end
            // of the range, the rmap-lock limit) does not say how many.
            let chosen = step?;
            expected = if chosen == job.batch { chosen } else { 0 };
            sys::cond_resched();
        }
    }
    // A request right after this one, on this mm, waits for the claim.
    duty.rest(out);
    Ok(())
}

/// The most passes an evacuation makes: a pass moves what faults, forks and
/// allocations during the previous one put in the range.
const EVACUATION_PASSES: u64 = 3;

/// Runs one evacuation: moves every user page table in a physical range,
/// of every process, out of it. `out` is filled in whether it fails or not.
///
/// The range is clamped to the memory there is (a range of whole memory
/// blocks may end past a node's last page); `EINVAL` if it has none.
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
    out.record(|out| {
        let range = PfnRange {
            start: req.pfn_start,
            end: req.pfn_end,
        }
        .clamped_to_memory()
        .ok_or(EINVAL)?;
        let mut evac = Evacuation {
            pfn_start: range.start,
            pfn_end: range.end,
            in_range_before: range.count_pgtables(),
            ..Default::default()
        };
        let result = run_evacuation(claims, req, range, batch, out, &mut evac);
        // Let our old tables go, and those that their owners freed meanwhile
        // (exits, munmap), before counting what is left: one `rcu_barrier()`.
        table::wait_for_released();
        evac.in_range_after = range.count_pgtables();
        out.evacuation = Some(evac);
        result
    })
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
        None => range.default_target().ok_or(ENODEV)?,
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
    // Lives until the last table is allocated, and frees what it holds.
    let quarantine = Quarantine::new(range);
    let job = Job {
        target,
        quarantine: Some(&quarantine),
        levels: req.levels,
        start: 0,
        end: usize::MAX,
        batch,
    };
    for pass in 0..EVACUATION_PASSES {
        let moved_before = out.moved();
        evac.short_of_memory = 0;
        let mut next = 1;
        // Processes are walked by their pids in the initial namespace and
        // pinned through the `struct pid`, so the writer's own namespace
        // neither hides one nor makes a number name another process.
        while let Some((pid, tgid)) = Pid::next_thread_group(next) {
            next = tgid.saturating_add(1);
            if sys::fatal_signal_pending() {
                return Err(EINTR);
            }
            // Kernel threads and processes already gone have no mm.
            let Ok(mm) = PinnedMm::of(&pid) else {
                continue;
            };
            drop(pid);
            if pass == 0 {
                evac.processes += 1;
                if range.contains(mm.pgd_pfn()) {
                    evac.pgds_in_range += 1;
                }
            }
            // One process's failure is its own: at its memcg limit, or
            // refused, its tables stay and the others' still move.
            match relocate_mm(claims, &mm, job, None, out) {
                Ok(()) | Err(ESRCH) => {}
                Err(EBUSY) => evac.busy_processes += u64::from(pass == 0),
                Err(ENOMEM) => evac.short_of_memory += 1,
                Err(e) => return Err(e),
            }
            drop(mm);
            sys::cond_resched();
        }
        evac.passes += 1;
        if out.moved() == moved_before {
            break;
        }
    }
    Ok(())
}
