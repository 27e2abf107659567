// SPDX-License-Identifier: GPL-2.0

//! Relocation of a process's page tables (PTE, PMD and PUD tables) to a
//! target node, and evacuation of a physical range.
//!
//! A request moves the levels it names one after the other, PTE tables
//! first, while the upper tables that lead to them stay put. Tables move in
//! batches (`batch.rs`); each batch holds the mmap lock for writing once, so
//! that faults wait for at most one batch. The old tables are freed once an
//! RCU grace period has passed (`table::Retired`), at the latest before the
//! request returns.
//!
//! Lock order (`mm/rmap.c`, and `locks.rs`): claim of the mm (`claims.rs`) ->
//! mmap lock -> VMA write locks -> i_mmap_rwsem -> anon_vma -> slot lock ->
//! the table's own lock -> the new table's lock.

use kernel::bindings;
use kernel::prelude::*;

use crate::batch::{Batch, Cursor};
use crate::claims::Claims;
use crate::level::Levels;
use crate::memcg::Memcg;
use crate::mm::PinnedMm;
use crate::outcome::{Evacuation, Outcome};
use crate::placement::{PfnRange, Target};
use crate::request::{EvacuateRequest, RelocateRequest};
use crate::sys::{self, now_ns};
use crate::table::{inject, AdInjector, Retired};

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
        let span = Span {
            levels: req.levels,
            start: req.start as usize,
            end,
        };
        relocate_mm(claims, &mm, target, span, batch, inject, out)
    })
}

/// Whether `node` can take page tables: online, with memory.
fn node_usable(node: i32) -> bool {
    sys::node_online(node) && sys::node_has_memory(node)
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
        let mut cursor = Cursor::new(level, span.start, end);
        while !cursor.done() {
            if sys::fatal_signal_pending() {
                return Err(EINTR);
            }
            if mm.is_orphaned() {
                return Err(ESRCH);
            }
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
                    .vmas(span.start, end)
                    .filter(|vma| vma.is_hugetlb())
                    .count() as u64;
            }
            let step = Batch::new(&guard, target, memcg.ptr()).run(
                &mut cursor,
                batch,
                inject::reborrow(&mut inject),
                &mut retired,
                out,
            );
            drop(guard);
            out.batches += 1;
            out.longest_hold_ns = out.longest_hold_ns.max(now_ns() - held_since);
            if retired.len() >= Retired::MAX {
                retired.free();
            } else {
                retired.start_grace_period();
            }
            step?;
            sys::cond_resched();
        }
    }
    Ok(())
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
    out.record(|out| {
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
        // Our old tables are freed already; let those that their owners
        // freed meanwhile (exits, munmap) go too before counting what is left.
        // SAFETY: process context, no locks held.
        unsafe { bindings::rcu_barrier() };
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
        let moved_before = out.moved();
        let mut next = 1;
        while let Some(tgid) = sys::next_tgid(next) {
            next = tgid.saturating_add(1);
            if sys::fatal_signal_pending() {
                return Err(EINTR);
            }
            // Kernel threads and processes already gone have no mm.
            let Ok(mm) = PinnedMm::from_pid(tgid) else {
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
            sys::cond_resched();
        }
        evac.passes += 1;
        if out.moved() == moved_before {
            break;
        }
    }
    Ok(())
}
