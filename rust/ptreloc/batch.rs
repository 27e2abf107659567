// SPDX-License-Identifier: GPL-2.0

//! One mmap-lock hold of a request: up to `batch` tables of one level moved
//! through the steps of the relocation protocol (`Documentation/design.rst`).
//!
//! Each phase consumes the value of the one before, so the order of the
//! protocol is a fact of the types: entries are reconciled only once every
//! CPU was flushed ([`Flushed::reconcile`]), and old tables are retired only
//! after they were unlinked, flushed and reconciled ([`Reconciled::retire`]).
//! Every phase value borrows the mmap write lock, so none outlives it.
//!
//! | phase | protocol step | locks it takes, besides mmap and VMA |
//! |---|---|---|
//! | [`Batch::collect`] -> [`Collected`] | 1. choose, allocate | VMA write locks; the PMD lock to count deposits |
//! | [`Collected::install`] -> [`Installed`] | 2-4. lock, re-check, copy, install | rmap write locks, held on; slot and table locks per table |
//! | [`Installed::flush`] -> [`Flushed`] | 5. flush the mm's CPUs | - |
//! | [`Flushed::reconcile`] -> [`Reconciled`] | 6. carry over A/D | old and new table locks per table |
//! | [`Reconciled::retire`] | 7. unlock; free after a grace period | - |
//!
//! The rmap locks are held from step 2 to step 7, so no rmap walker
//! (reclaim, migration, `folio_mkclean`) can look at a new entry before its
//! A/D bits are complete. Software cannot change either copy in between:
//! everything that writes PTEs holds the mmap lock, the VMA lock of every VMA
//! in the table's span (all write-locked in step 1), or one of their rmap
//! locks.

use core::marker::PhantomData;
use core::ptr::NonNull;

use kernel::c_str;
use kernel::prelude::*;

use crate::flush::flush_mm;
use crate::level::Level;
use crate::locks::{Contended, RmapLocks, SpinGuard, MAX_RMAP_LOCKS};
use crate::memcg::Charges;
use crate::mm::{MmapWriteGuard, PinnedMm, Vma};
use crate::outcome::Outcome;
use crate::placement::{Quarantine, Target};
use crate::sys;
use crate::table::{
    self, AdInjector, Entry, Lookup, NewTable, Retired, Slot, Spares, Table, Walker, Watched,
};

/// Where a request is in its walk of one level, from one batch to the next.
pub(crate) struct Cursor {
    level: Level,
    /// Where the next batch starts.
    addr: usize,
    end: usize,
    /// A table that met rmap-lock contention at the start of a batch: it is
    /// retried once, first thing in the next batch, and then skipped.
    contended_at: Option<usize>,
}

impl Cursor {
    /// A walk of the `level` tables that map `[start, end)`.
    pub(crate) fn new(level: Level, start: usize, end: usize) -> Self {
        Self {
            level,
            addr: start & !(level.span() - 1),
            end,
            contended_at: None,
        }
    }

    pub(crate) fn done(&self) -> bool {
        self.addr >= self.end
    }
}

/// What every phase of a batch needs: the mmap write lock, and where the
/// tables go.
pub(crate) struct Batch<'g> {
    guard: &'g MmapWriteGuard<'g>,
    target: Target,
    /// Where new tables are charged: where their predecessors are.
    charges: &'g Charges,
    /// An evacuation's pages of its own range, which new tables must not use.
    quarantine: Option<&'g Quarantine>,
}

/// Tables on the target node already, and tables not moved because of a
/// hugetlb VMA, met while collecting.
#[derive(Default, Clone, Copy)]
struct Seen {
    already: u64,
    hugetlb_tables: u64,
}

impl Seen {
    fn add_to(self, out: &mut Outcome, level: Level) {
        let counts = out.level(level);
        counts.examined += self.already;
        counts.already += self.already;
        out.skipped.hugetlb_tables += self.hugetlb_tables;
    }
}

/// A table chosen to move, with its replacement.
struct Candidate<'g> {
    /// What `collect` counted between the previous candidate and this one;
    /// added to the outcome only once this candidate is processed, so that
    /// a batch that ends early does not count them twice.
    seen_before: Seen,
    addr: usize,
    /// The VMA that maps the table's whole span, if one does (nearly
    /// always, for a PTE table): its rmap locks are the span's.
    vma: Option<Vma<'g>>,
    slot: Slot<'g>,
    seen: Entry,
    old: Table,
    new: NewTable,
}

/// The deposited tables of one PMD table to move, with replacements.
struct Deposits<'g> {
    /// An entry of that PMD table.
    slot: Slot<'g>,
    spares: KVec<NewTable>,
}

/// Step 1 done: what the batch will move, everything allocated.
struct Collected<'g> {
    level: Level,
    deposits: KVec<Deposits<'g>>,
    cands: KVec<Candidate<'g>>,
    /// The first address not looked at.
    next: usize,
    /// What it saw after the last candidate.
    seen_after: Seen,
    /// Whether it stopped because a replacement could not be allocated.
    out_of_memory: bool,
}

/// A table replaced in this batch.
#[derive(Clone, Copy)]
struct Replaced {
    /// The first address the table maps.
    addr: usize,
    old: Table,
    new: Table,
    /// The lock that keeps software off both tables' entries: the old
    /// table's own lock, or the slot's lock for a PUD table.
    lock: NonNull<sys::spinlock_t>,
    /// The entries a CPU may still change in `old`.
    watched: Watched,
}

/// Steps 2 to 4 done: new tables installed, old ones unlinked but possibly
/// still in TLBs and paging-structure caches, rmap locks held.
struct Installed<'g> {
    level: Level,
    replaced: KVec<Replaced>,
    rmap: RmapLocks,
    /// Collection stopped for want of memory, and no contention ended the
    /// batch first: the request fails with `ENOMEM` after this batch.
    out_of_memory: bool,
    _lock: PhantomData<&'g MmapWriteGuard<'g>>,
}

/// Step 5 done: no CPU can reach an old table any more without flushing
/// first.
struct Flushed<'g>(Installed<'g>);

/// Step 6 done: every A/D bit set in an old table is in its replacement.
struct Reconciled<'g>(Installed<'g>);

impl<'g> Batch<'g> {
    pub(crate) fn new(
        guard: &'g MmapWriteGuard<'g>,
        target: Target,
        charges: &'g Charges,
        quarantine: Option<&'g Quarantine>,
    ) -> Self {
        Self {
            guard,
            target,
            charges,
            quarantine,
        }
    }

    /// Moves up to `max` tables from `cursor` on, and advances it; returns
    /// how many tables it chose to move. Replacements come from `spares`
    /// where they fit. `inject` is the `inject=ad` test hook, if a test
    /// asked for it.
    pub(crate) fn run(
        &self,
        cursor: &mut Cursor,
        max: usize,
        spares: &mut Spares,
        inject: Option<&mut AdInjector<'_>>,
        retired: &mut Retired,
        out: &mut Outcome,
    ) -> Result<usize> {
        let mut inject = inject;
        let collected = self.collect(cursor, max, spares)?;
        let chosen = collected.cands.len();
        if let Some(inject) = inject
            .as_deref_mut()
            .filter(|_| !collected.cands.is_empty())
        {
            inject.pause();
        }
        let mut installed = collected.install(self, cursor, retired, out)?;
        if let Some(inject) = inject {
            installed.inject(inject);
        }
        let out_of_memory = installed.out_of_memory;
        installed
            .flush(self.guard.mm(), out)
            .reconcile(out)
            .retire(retired);
        if out_of_memory {
            return Err(ENOMEM);
        }
        Ok(chosen)
    }

    /// Step 1: walks from `cursor` and picks up to `max` tables that are not
    /// where the target wants them, each with a replacement (a spare
    /// allocated before the mmap lock was taken, where one is charged to the
    /// right memcg; else allocated here); and,
    /// for each PMD table that maps huge pages, spares for its deposited
    /// tables. Changes no page table.
    ///
    /// Allocation may reclaim, and reclaim takes rmap locks: no rmap or
    /// page-table lock is held here. Every VMA that a candidate's span
    /// touches is write-locked here, before any rmap lock is taken:
    /// `vma_start_write` waits for per-VMA-lock faults, which may themselves
    /// wait for an rmap lock (NUMA migration, `UFFDIO_MOVE`), so taking it
    /// after an rmap lock could deadlock.
    fn collect(&self, cursor: &Cursor, max: usize, spares: &mut Spares) -> Result<Collected<'g>> {
        let level = cursor.level;
        let span = level.span();
        let mut c = Collected {
            level,
            deposits: KVec::new(),
            cands: KVec::with_capacity(max, GFP_KERNEL)?,
            next: cursor.end,
            seen_after: Seen::default(),
            out_of_memory: false,
        };
        let mut seen = Seen::default();
        // The PMD table whose deposited tables were looked at last. Each
        // batch looks again: what a fault deposited while the mmap lock was
        // dropped, or spares a previous batch could not allocate.
        let mut deposits_done = None;
        let mut walker = Walker::new(self.guard, level);
        // The VMA found last, and the last one write-locked alone: the next
        // table's span is often in it too.
        let (mut vma_found, mut vma_locked) = (None::<Vma<'g>>, None);
        let mut pos = cursor.addr & !(span - 1);
        while pos < cursor.end && c.cands.len() < max {
            let span_end = pos.saturating_add(span);
            // `find_vma(pos)`: the first VMA that ends above `pos`. The one
            // found for an earlier `pos` still is, if it ends above this one.
            let vma = vma_found
                .filter(|v| v.end() > pos)
                .or_else(|| self.guard.find_vma(pos));
            let Some(vma) = vma.filter(|v| v.start() < cursor.end) else {
                pos = cursor.end;
                break;
            };
            vma_found = Some(vma);
            if vma.start() >= span_end {
                // Nothing mapped up to the span of this VMA's first table.
                pos = vma.start() & !(span - 1);
                continue;
            }
            if level == Level::Pte && vma.is_hugetlb() {
                pos = align_up(vma.end(), span);
                continue;
            }
            let slot = match walker.lookup(pos) {
                Lookup::Hole { next } => {
                    pos = next;
                    continue;
                }
                Lookup::Slot(slot) => slot,
            };
            let entry = slot.read();
            match entry.table() {
                None if entry.may_have_deposit() && deposits_done != Some(slot.table_page()) => {
                    deposits_done = Some(slot.table_page());
                    if !self.collect_deposits(slot, &mut c.deposits) {
                        c.out_of_memory = true;
                        break;
                    }
                }
                None => {}
                Some(old) if self.target.holds_table(&old) => seen.already += 1,
                Some(_)
                    if level != Level::Pte
                        && self.guard.vmas(pos, span_end).any(|v| v.is_hugetlb()) =>
                {
                    seen.hugetlb_tables += 1
                }
                Some(old) => {
                    let memcg = self.charges.of(&old.page());
                    // A spare if one is charged there, else one allocated now.
                    let new = match spares.take(level, memcg) {
                        Some(new) => Ok(new),
                        None => NewTable::alloc(level, self.target, memcg, self.quarantine),
                    };
                    let Ok(new) = new else {
                        c.out_of_memory = true;
                        break;
                    };
                    // Keep per-VMA-lock faults out of the whole span.
                    let whole = (vma.start() <= pos && span_end <= vma.end()).then_some(vma);
                    match whole {
                        Some(v) if vma_locked == Some(v) => {}
                        Some(v) => {
                            v.write_lock();
                            vma_locked = Some(v);
                        }
                        None => self.guard.vmas(pos, span_end).for_each(|v| v.write_lock()),
                    }
                    let cand = Candidate {
                        seen_before: core::mem::take(&mut seen),
                        addr: pos,
                        vma: whole,
                        slot,
                        seen: entry,
                        old,
                        new,
                    };
                    // Cannot fail: room for `max` was reserved.
                    let _ = c.cands.push(cand, GFP_NOWAIT);
                }
            }
            pos = span_end;
        }
        c.next = pos.min(cursor.end);
        c.seen_after = seen;
        Ok(c)
    }

    /// Allocates spares for the deposited tables of the PMD table that holds
    /// `slot` that are not where the target wants them, and adds them to
    /// `deposits`. `false` if not every spare could be allocated; those that
    /// could are added.
    fn collect_deposits(&self, slot: Slot<'g>, deposits: &mut KVec<Deposits<'g>>) -> bool {
        // SAFETY: a PMD entry of our mm, whose mmap lock we hold for writing.
        let wanted = unsafe { table::count_deposits(&slot, self.target) };
        if wanted == 0 {
            return true;
        }
        let Ok(mut spares) = KVec::with_capacity(wanted, GFP_KERNEL) else {
            return false;
        };
        // Deposited tables were charged with the huge pages' faults, as the
        // PMD table they hang off was.
        let memcg = self.charges.of(&slot.table_page());
        while spares.len() < wanted {
            let Ok(new) = NewTable::alloc(Level::Pte, self.target, memcg, self.quarantine) else {
                break;
            };
            // Cannot fail: room for every one was reserved.
            let _ = spares.push(new, GFP_NOWAIT);
        }
        let complete = spares.len() == wanted;
        deposits.push(Deposits { slot, spares }, GFP_KERNEL).is_ok() && complete
    }

    /// Adds the rmap locks of the files and anon_vma families of every VMA in
    /// the span of `cand`, a `level` table, to `rmap`: those of `cand.vma`
    /// when it maps the whole span. `collect` write-locked the VMAs.
    fn lock_span(
        &self,
        rmap: &mut RmapLocks,
        level: Level,
        cand: &Candidate<'g>,
    ) -> Result<(), Contended> {
        let mut files = [NonNull::dangling(); MAX_RMAP_LOCKS];
        let mut anons = [NonNull::dangling(); MAX_RMAP_LOCKS];
        let (mut nfiles, mut nanons) = (0, 0);
        let (mut one, mut span);
        let vmas: &mut dyn Iterator<Item = Vma<'_>> = if cand.vma.is_some() {
            one = cand.vma.into_iter();
            &mut one
        } else {
            span = self
                .guard
                .vmas(cand.addr, cand.addr.saturating_add(level.span()));
            &mut span
        };
        for vma in vmas {
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
        // (it lives in phase values that borrow the guard).
        unsafe { rmap.add(&files[..nfiles], &anons[..nanons]) }
    }
}

impl<'g> Collected<'g> {
    /// Steps 2 to 4, for each collected table: take the rmap write locks of
    /// every VMA in its span, the lock of the entry pointing to it and its
    /// own lock; re-check the entry; copy the 512 entries verbatim; install
    /// the copy. Deposited tables move first: mapped by no entry, they need
    /// no rmap lock and no flush.
    ///
    /// A contended rmap lock ends the batch early; the rest is collected
    /// again next time, starting with that table.
    fn install(
        self,
        batch: &Batch<'g>,
        cursor: &mut Cursor,
        retired: &mut Retired,
        out: &mut Outcome,
    ) -> Result<Installed<'g>> {
        let spares: usize = self.deposits.iter().map(|d| d.spares.len()).sum();
        retired.reserve(self.cands.len() + spares)?;
        let mut replaced = KVec::with_capacity(self.cands.len(), GFP_KERNEL)?;
        for d in self.deposits {
            // SAFETY: a PMD entry of our mm, whose mmap lock we hold for
            // writing; `retired` has room for every spare (above).
            out.deposits_moved +=
                unsafe { table::move_deposits(&d.slot, batch.target, d.spares, retired) };
        }
        let level = self.level;
        let mut rmap = RmapLocks::new();
        let mut next = self.next;
        let mut ended_early = false;
        // The VMA that mapped the last span alone, whose locks are held.
        let mut locked = None;
        for cand in self.cands {
            let locking = match cand.vma {
                Some(vma) if locked == Some(vma) => Ok(()),
                _ => batch.lock_span(&mut rmap, level, &cand),
            };
            match locking {
                Ok(()) => locked = cand.vma,
                Err(Contended::Full) if rmap.is_empty() => {
                    // More owners than locks we may hold: no retry helps.
                    cand.seen_before.add_to(out, level);
                    out.level(level).examined += 1;
                    out.skipped.crowded += 1;
                    continue;
                }
                Err(Contended::Busy)
                    if rmap.is_empty() && cursor.contended_at == Some(cand.addr) =>
                {
                    // Retried once already: give up on this table.
                    cand.seen_before.add_to(out, level);
                    out.level(level).examined += 1;
                    out.skipped.contended += 1;
                    cursor.contended_at = None;
                    continue;
                }
                Err(why) => {
                    // End the batch here, with no lock held on this table's
                    // behalf; the rest is collected again next time.
                    if rmap.is_empty() && matches!(why, Contended::Busy) {
                        cursor.contended_at = Some(cand.addr);
                    }
                    next = cand.addr;
                    ended_early = true;
                    break;
                }
            }
            cand.seen_before.add_to(out, level);
            out.level(level).examined += 1;
            match cand.replace() {
                // Cannot fail: there is room for every candidate, and losing
                // track of an installed table is not an option.
                Some(r) => {
                    let _ = replaced.push(r, GFP_NOWAIT);
                }
                None => out.skipped.changed += 1,
            }
        }
        if !ended_early {
            self.seen_after.add_to(out, level);
        }
        cursor.addr = next;
        Ok(Installed {
            level,
            replaced,
            rmap,
            out_of_memory: self.out_of_memory && !ended_early,
            _lock: PhantomData,
        })
    }
}

impl Candidate<'_> {
    /// Steps 2 to 4 for one table, its span's rmap locks held: re-check,
    /// copy and install under the page-table locks. `None` if the entry
    /// changed since it was collected.
    fn replace(self) -> Option<Replaced> {
        // The slot lock first (lock order: PMD lock or page_table_lock, then
        // the table's own lock, then the new table's).
        let slot_lock = self.slot.lock();
        // Racing with file THP collapse (`retract_page_tables`), which frees
        // PTE tables under the rmap and PMD locks only, or with a PT_RECLAIM
        // zap since collection? Then the entry changed: leave it.
        if !self.slot.read().same(self.seen) {
            return None;
        }
        // SAFETY: the entry still points to `old`, re-checked under the slot
        // lock with the span's rmap locks held: `old` is live.
        let old_ptl = unsafe { self.old.ptl() };
        let _old_ptl = old_ptl
            .filter(|ptl| *ptl != slot_lock.ptr())
            // SAFETY: valid (above); it nests inside the slot lock.
            .map(|ptl| unsafe { SpinGuard::lock(ptl, sys::NESTING_SECOND) });
        let held = [slot_lock.ptr(), old_ptl.unwrap_or(slot_lock.ptr())];
        let _new_ptl = self.new.lock_if_distinct(&held);
        // SAFETY: `slot` points to `old` (checked above), and we hold the slot
        // lock, `old`'s lock, and the new table's lock if it has its own.
        let (new, watched) = unsafe { self.new.install(&self.slot, self.old) };
        Some(Replaced {
            addr: self.addr,
            old: self.old,
            new,
            lock: old_ptl.unwrap_or(slot_lock.ptr()),
            watched,
        })
    }
}

impl<'g> Installed<'g> {
    /// The `inject=ad` test hook: plays a CPU that sets Accessed/Dirty in old
    /// tables through stale TLB entries, between the copy and the flush; and
    /// the remote-flush probe.
    fn inject(&mut self, injector: &mut AdInjector<'_>) {
        for r in self.replaced.iter_mut() {
            // SAFETY: `old` was replaced by `new`, and is neither flushed nor
            // retired.
            unsafe {
                injector.inject(r.addr, &r.old);
                if let Some(i) = injector.age(r.addr, &r.old, &r.new) {
                    r.watched.add(i);
                }
            }
        }
    }

    /// Step 5: flushes TLBs and paging-structure caches of the CPUs that may
    /// hold `mm`'s translations, and makes every other CPU flush before it
    /// next runs `mm`; once for the whole batch.
    fn flush(self, mm: &PinnedMm, out: &mut Outcome) -> Flushed<'g> {
        if !self.replaced.is_empty() {
            flush_mm(mm);
            out.flushes += 1;
        }
        Flushed(self)
    }
}

impl<'g> Flushed<'g> {
    /// Step 6: for each table, under its lock, carries over the
    /// Accessed/Dirty bits that CPUs set in the old copy before the flush
    /// (see `table/reconcile.rs`), and counts it moved.
    fn reconcile(self, out: &mut Outcome) -> Reconciled<'g> {
        let installed = &self.0;
        for r in installed.replaced.iter() {
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
                // SAFETY: `new` replaced `old`, every CPU that could use `old`
                // was flushed since (this is a `Flushed`), both locks plus the
                // mmap, VMA and rmap locks are held, and `watched` was noted by
                // the copy (and the test hooks).
                unsafe { table::reconcile(r.old, r.new, &r.watched) }
            };
            out.ad_entries += found.entries;
            out.ad_dirty += found.dirty;
            if found.anomalies != 0 {
                out.anomalies += found.anomalies;
                sys::warn(c_str!(
                    "entries changed during relocation beyond Accessed/Dirty"
                ));
            }
            out.level(installed.level).moved += 1;
        }
        Reconciled(self.0)
    }
}

impl Reconciled<'_> {
    /// Step 7: drops the rmap locks and hands the old tables to `retired`,
    /// which frees them once an RCU grace period has passed.
    fn retire(self, retired: &mut Retired) {
        let Installed { replaced, rmap, .. } = self.0;
        drop(rmap);
        for r in replaced.iter() {
            // SAFETY: room reserved by `install`; unlinked by `replace`, and
            // every TLB flushed since.
            unsafe { retired.add(r.old) };
        }
    }
}

fn align_up(addr: usize, size: usize) -> usize {
    (addr + size - 1) & !(size - 1)
}
