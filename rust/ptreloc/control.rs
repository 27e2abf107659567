// SPDX-License-Identifier: GPL-2.0

//! The control files in `/sys/kernel/debug/ptreloc/`.
//!
//! | file | mode | what |
//! |---|---|---|
//! | `version` | r | the module version |
//! | `relocate` | rw | write a request; read back its outcome on the same open file |
//! | `evacuate` | rw | the same for a physical range, across all processes |
//! | `result` | r | the outcome of the last request that ran, from any opener |
//! | `census` | rw | write `pid=<pid>`; read the page-table census on the same open file |
//! | `stats` | r | counters since the module was loaded |
//! | `batch` | rw | PTE tables moved per mmap-lock hold |
//!
//! Writes need `CAP_SYS_ADMIN` (`EPERM`). Reading `relocate` or `census`
//! before a write on the same open file, or `result` before any request ran,
//! fails with `ENODATA`. The formats are documented in
//! `Documentation/admin-guide.rst`.

use core::fmt::Write;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

use kernel::bindings;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::Mutex;

use crate::census::Census;
use crate::claims::Claims;
use crate::debugfs::{check_admin, enodata, FileKind};
use crate::errno;
use crate::level::Level;
use crate::outcome::Outcome;
use crate::relocate;
use crate::request::{self, CensusRequest, EvacuateRequest, Limits, RelocateRequest};
use crate::sys;
use crate::table;
use crate::text::TextBuf;
use crate::words::ParseError;
use crate::x86;

/// Default PTE tables per mmap-lock hold. A batch shares one TLB flush of
/// the mm's CPUs and one round of rmap locking. Measured on a 1 GiB mapping (512
/// tables, `Documentation/design.rst`): 64 is about 4x faster than 8 with no
/// longer a hold, and within 1.5x of a single batch, whose hold is 2-4x as long.
const DEFAULT_BATCH: usize = 64;
/// The largest batch accepted (the per-batch arrays are allocated up front).
pub(crate) const MAX_BATCH: u64 = 4096;

/// What all open files share: lives from module load to unload.
#[pin_data]
pub(crate) struct State {
    #[pin]
    claims: Claims,
    #[pin]
    last: Mutex<Option<Outcome>>,
    batch: AtomicUsize,
    stats: Stats,
}

impl State {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            claims <- Claims::new(),
            last <- new_mutex!(None),
            batch: AtomicUsize::new(DEFAULT_BATCH),
            stats: Stats::default(),
        })
    }

    /// Runs a parsed request (`run` fills in the outcome) and accounts for
    /// it in `stats` and `result`, whoever asked: a control file or the
    /// in-kernel API. A failure is counted by errno in `stats` too.
    pub(crate) fn execute(
        &self,
        run: impl FnOnce(&Claims, &mut Outcome) -> Result,
    ) -> (Outcome, Result) {
        let mut outcome = Outcome::default();
        self.stats.requests.fetch_add(1, Relaxed);
        let result = run(&self.claims, &mut outcome);
        self.stats.add(&outcome);
        *self.last.lock() = Some(outcome);
        match result {
            Ok(()) => {
                self.stats.succeeded.fetch_add(1, Relaxed);
            }
            Err(e) => self.stats.fail(e),
        }
        (outcome, result)
    }

    /// The batch size set through the `batch` file.
    pub(crate) fn batch(&self) -> usize {
        self.batch.load(Relaxed)
    }
}

/// Cumulative counters since load.
#[derive(Default)]
struct Stats {
    requests: AtomicU64,
    succeeded: AtomicU64,
    tables_examined: AtomicU64,
    tables_moved: AtomicU64,
    tables_already: AtomicU64,
    tables_skipped: AtomicU64,
    /// Tables moved, per level ([`Level::index`]).
    moved_per_level: [AtomicU64; 3],
    ad_entries: AtomicU64,
    anomalies: AtomicU64,
    failures: errno::Counts,
}

impl Stats {
    fn fail(&self, e: Error) {
        self.failures.add(e.to_errno());
    }

    fn add(&self, o: &Outcome) {
        self.tables_examined.fetch_add(o.examined(), Relaxed);
        self.tables_moved.fetch_add(o.moved(), Relaxed);
        self.tables_already.fetch_add(o.already(), Relaxed);
        self.tables_skipped.fetch_add(o.skipped.total(), Relaxed);
        for level in Level::ALL {
            self.moved_per_level[level.index()]
                .fetch_add(o.per_level[level.index()].moved, Relaxed);
        }
        self.ad_entries.fetch_add(o.ad_entries, Relaxed);
        self.anomalies.fetch_add(o.anomalies, Relaxed);
    }

    fn format(&self, out: &mut TextBuf) -> core::fmt::Result {
        out.rows(
            [
                ("requests", &self.requests),
                ("succeeded", &self.succeeded),
                ("tables_examined", &self.tables_examined),
                ("tables_moved", &self.tables_moved),
                ("tables_already_on_node", &self.tables_already),
                ("tables_skipped", &self.tables_skipped),
                ("ad_entries_carried", &self.ad_entries),
                ("anomalies", &self.anomalies),
            ]
            .map(|(name, value)| (name, value.load(Relaxed))),
        )?;
        for level in Level::ALL {
            let moved = self.moved_per_level[level.index()].load(Relaxed);
            writeln!(out, "{}_tables_moved {moved}", level.name())?;
        }
        // Not a counter: old tables waiting for their grace period now.
        writeln!(out, "tables_awaiting_free {}", table::awaiting_free())?;
        self.failures.write(out, "failed_")
    }
}

/// Formats an outcome, one `key value` line each.
fn format_outcome(o: &Outcome, out: &mut TextBuf) -> core::fmt::Result {
    if let Some(e) = &o.evacuation {
        writeln!(out, "pfn_start 0x{:x}", e.pfn_start)?;
        writeln!(out, "pfn_end 0x{:x}", e.pfn_end)?;
        writeln!(out, "node {}", o.node)?;
    } else {
        writeln!(out, "pid {}", o.pid)?;
        writeln!(out, "node {}", o.node)?;
        writeln!(out, "start 0x{:x}", o.start)?;
        writeln!(out, "end 0x{:x}", o.end)?;
    }
    if o.errno == 0 {
        writeln!(out, "status ok")?;
    } else {
        writeln!(out, "status {} ({})", errno::name(-o.errno), o.errno)?;
    }
    writeln!(out, "zone {}", o.zone.map_or("any", |z| z.name()))?;
    write!(out, "levels")?;
    let mut sep = ' ';
    for level in o.levels.iter() {
        write!(out, "{sep}{}", level.name())?;
        sep = ',';
    }
    writeln!(out)?;
    for level in o.levels.iter() {
        let c = &o.per_level[level.index()];
        let name = level.name();
        writeln!(out, "{name}_examined {}", c.examined)?;
        writeln!(out, "{name}_moved {}", c.moved)?;
        writeln!(out, "{name}_already_on_node {}", c.already)?;
        if level == Level::Pte {
            writeln!(out, "pte_deposited_moved {}", o.deposits_moved)?;
        }
    }
    let rows = [
        ("tables_examined", o.examined()),
        ("tables_moved", o.moved()),
        ("tables_already_on_node", o.already()),
        ("skipped_hugetlb_vmas", o.skipped_hugetlb_vmas),
        ("skipped_hugetlb_tables", o.skipped.hugetlb_tables),
        ("skipped_changed", o.skipped.changed),
        ("skipped_contended", o.skipped.contended),
        ("skipped_crowded", o.skipped.crowded),
        ("ad_entries_carried", o.ad_entries),
        ("ad_dirty_carried", o.ad_dirty),
        ("anomalies", o.anomalies),
        ("batches", o.batches),
        ("tlb_flushes", o.flushes),
        ("spares_allocated", o.spares_allocated),
        ("spares_used", o.spares_used),
        ("longest_lock_hold_ns", o.longest_hold_ns),
        ("rests", o.rests),
        ("rest_ns", o.rest_ns),
        ("elapsed_ns", o.elapsed_ns),
    ];
    out.rows(rows)?;
    if let Some(e) = &o.evacuation {
        let rows = [
            ("processes", e.processes),
            ("passes", e.passes),
            ("busy_processes", e.busy_processes),
            ("enomem_processes", e.short_of_memory),
            ("pgtables_in_range_before", e.in_range_before),
            ("pgtables_in_range_after", e.in_range_after),
            ("pgds_in_range", e.pgds_in_range),
        ];
        out.rows(rows)?;
    }
    Ok(())
}

fn show(f: impl FnOnce(&mut TextBuf) -> core::fmt::Result, out: &mut TextBuf) -> Option<Result> {
    Some(f(out).map_err(|_| ENOMEM))
}

pub(crate) fn limits() -> Limits {
    Limits {
        // SAFETY: fixed after boot.
        nr_node_ids: unsafe { bindings::nr_node_ids },
        page_size: x86::PAGE_SIZE as u64,
        user_end: if sys::pgtable_l5_enabled() {
            x86::USER_END_L5 as u64
        } else {
            x86::USER_END_L4 as u64
        },
        max_pfn: max_pfn(),
    }
}

/// One past the highest page frame of any online node (`max_pfn` is not
/// exported).
fn max_pfn() -> u64 {
    // SAFETY: fixed after boot.
    let nr_node_ids = unsafe { bindings::nr_node_ids } as i32;
    (0..nr_node_ids)
        .filter(|n| sys::node_online(*n))
        .map(|n| sys::node_pfn_span(n).1)
        .max()
        .unwrap_or(0)
}

impl From<ParseError> for Error {
    fn from(_: ParseError) -> Self {
        EINVAL
    }
}

/// `version`.
pub(crate) struct VersionFile;

impl FileKind for VersionFile {
    type Ctx = State;

    fn open(_ctx: &'static State) -> Result<Self> {
        Ok(Self)
    }

    fn show(&mut self, out: &mut TextBuf) -> Option<Result> {
        show(|out| out.write_str(crate::VERSION), out)
    }
}

/// A request that moves tables: `relocate` or `evacuate`.
pub(crate) trait Request: Sized {
    fn parse(input: &[u8]) -> Result<Self>;
    fn run(&self, claims: &Claims, batch: usize, out: &mut Outcome) -> Result;
}

impl Request for RelocateRequest {
    fn parse(input: &[u8]) -> Result<Self> {
        Ok(RelocateRequest::parse(input, &limits())?)
    }

    fn run(&self, claims: &Claims, batch: usize, out: &mut Outcome) -> Result {
        relocate::relocate(claims, self, batch, None, out)
    }
}

impl Request for EvacuateRequest {
    fn parse(input: &[u8]) -> Result<Self> {
        Ok(EvacuateRequest::parse(input, &limits())?)
    }

    fn run(&self, claims: &Claims, batch: usize, out: &mut Outcome) -> Result {
        relocate::evacuate(claims, self, batch, out)
    }
}

/// `relocate` and `evacuate`: write a request, read its outcome back.
pub(crate) struct RequestFile<R> {
    ctx: &'static State,
    outcome: Option<Outcome>,
    _request: core::marker::PhantomData<R>,
}

/// `relocate`.
pub(crate) type RelocateFile = RequestFile<RelocateRequest>;
/// `evacuate`.
pub(crate) type EvacuateFile = RequestFile<EvacuateRequest>;

impl<R: Request> RequestFile<R> {
    fn run(&mut self, input: &[u8]) -> Result {
        self.outcome = None;
        check_admin()?;
        let req = R::parse(input)?;
        let ctx = self.ctx;
        let batch = ctx.batch.load(Relaxed);
        let (outcome, result) = ctx.execute(|claims, out| req.run(claims, batch, out));
        self.outcome = Some(outcome);
        result
    }
}

impl<R: Request + Send + Sync + Unpin + 'static> FileKind for RequestFile<R> {
    type Ctx = State;

    fn open(ctx: &'static State) -> Result<Self> {
        Ok(Self {
            ctx,
            outcome: None,
            _request: core::marker::PhantomData,
        })
    }

    fn store(&mut self, input: &[u8]) -> Option<Result> {
        let result = self.run(input);
        if let Err(e) = result {
            // Rejected before it ran: not counted by `execute`.
            if self.outcome.is_none() {
                self.ctx.stats.fail(e);
            }
        }
        Some(result)
    }

    fn show(&mut self, out: &mut TextBuf) -> Option<Result> {
        let Some(o) = self.outcome else {
            return Some(Err(enodata()));
        };
        show(|out| format_outcome(&o, out), out)
    }
}

/// `result`.
pub(crate) struct ResultFile {
    ctx: &'static State,
}

impl FileKind for ResultFile {
    type Ctx = State;

    fn open(ctx: &'static State) -> Result<Self> {
        Ok(Self { ctx })
    }

    fn show(&mut self, out: &mut TextBuf) -> Option<Result> {
        let Some(o) = *self.ctx.last.lock() else {
            return Some(Err(enodata()));
        };
        show(|out| format_outcome(&o, out), out)
    }
}

/// `census`.
pub(crate) struct CensusFile {
    census: Option<Census>,
}

impl FileKind for CensusFile {
    type Ctx = State;

    fn open(_ctx: &'static State) -> Result<Self> {
        Ok(Self { census: None })
    }

    fn store(&mut self, input: &[u8]) -> Option<Result> {
        let census = check_admin()
            .and_then(|()| Ok(CensusRequest::parse(input)?))
            .and_then(|req| Census::of_pid(req.pid));
        Some(census.map(|c| self.census = Some(c)))
    }

    fn show(&mut self, out: &mut TextBuf) -> Option<Result> {
        let Some(census) = &self.census else {
            return Some(Err(enodata()));
        };
        show(|out| census.format(out), out)
    }
}

/// `stats`.
pub(crate) struct StatsFile {
    ctx: &'static State,
}

impl FileKind for StatsFile {
    type Ctx = State;

    fn open(ctx: &'static State) -> Result<Self> {
        Ok(Self { ctx })
    }

    fn show(&mut self, out: &mut TextBuf) -> Option<Result> {
        show(|out| self.ctx.stats.format(out), out)
    }
}

/// `batch`.
pub(crate) struct BatchFile {
    ctx: &'static State,
}

impl FileKind for BatchFile {
    type Ctx = State;

    fn open(ctx: &'static State) -> Result<Self> {
        Ok(Self { ctx })
    }

    fn store(&mut self, input: &[u8]) -> Option<Result> {
        let batch = check_admin().and_then(|()| Ok(request::parse_batch(input, MAX_BATCH)?));
        Some(batch.map(|n| self.ctx.batch.store(n, Relaxed)))
    }

    fn show(&mut self, out: &mut TextBuf) -> Option<Result> {
        show(|out| writeln!(out, "{}", self.ctx.batch.load(Relaxed)), out)
    }
}
