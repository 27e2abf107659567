// SPDX-License-Identifier: GPL-2.0

//! `follow`: keeps page tables on their process's home node (`home`: the
//! node of the CPUs its threads run on, by run time; the data only breaks
//! ties; never a node without CPUs), one process (`follow <pid>`) or every
//! process (`follow --all`).
//!
//! Every interval, each process is looked at: its threads (`threads`), its
//! census, its home. A process whose home has stayed off its tables for
//! `settle` intervals (`settle`) is due; due processes are moved, the
//! longest waiting first, within the budget (`budget`): whole when all its
//! misplaced tables fit, else a part at a time. Just before a process's
//! first request of an interval, its `stat` is read again: one that exited
//! or ran exec since it was looked at is skipped and said so. A request the
//! kernel refuses is logged and skipped; only ptreloc itself becoming
//! unreachable (unloaded) ends `follow`.
//!
//! What it looks at and how it moves go through [`World`]: `/proc` and
//! ptreloc's files ([`Proc`]), or a model in the tests.

use std::collections::{HashMap, HashSet};
use std::fmt::Write;
use std::time::Duration;

use crate::budget::{self, Budget, Part, LEVELS};
use crate::errors::{self, Context, Failure};
use crate::home::{self, Basis};
use crate::kernel::{self, CensusFile, FileBuf};
use crate::nodes::format_list;
use crate::overview::{self, Counted};
use crate::report::{self, key_values, numa_maps_kb};
use crate::settle::{Settle, Verdict};
use crate::threads::{self, Clock, Identity, Missing, Threads};
use crate::topology::Topology;

/// Requests one process may get in one interval (each within the budget):
/// a part that held no misplaced table costs nothing, and the next is
/// asked for at once.
const MAX_REQUESTS: usize = 64;

/// What to follow, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `follow <pid>`; `None`: every process.
    pub pid: Option<u32>,
    /// Seconds between looks.
    pub interval: f64,
    /// Intervals a home must stay off the tables before they move.
    pub settle: u32,
    pub max_tables_per_second: u64,
    /// Processes never looked at (`--all` only).
    pub exclude_pids: Vec<u32>,
    /// Processes with fewer page-table pages (`VmPTE`) are not looked at
    /// (`--all` only).
    pub min_tables: u64,
}

/// A request's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Relocated {
    /// Its outcome's `key value` lines (none when it did not run).
    pub outcome: Vec<(String, String)>,
    /// The errno it failed with.
    pub errno: Option<i32>,
}

/// Where `follow` looks, and how it moves tables.
pub trait World {
    /// Every process, ascending.
    fn pids(&mut self) -> Vec<u32>;
    fn threads(&mut self, pid: u32, topology: &Topology) -> Result<Threads, Missing>;
    /// `Err` only when ptreloc cannot be reached.
    fn census(&mut self, pid: u32) -> Result<Counted, Failure>;
    /// Its data per node, in kB (empty if unreadable).
    fn data_kb(&mut self, pid: u32, nodes: usize) -> Vec<u64>;
    /// Its VMAs, `(start, end)` ascending (empty if unreadable).
    fn vmas(&mut self, pid: u32) -> Vec<(u64, u64)>;
    /// Its identity and command name now; `None` if it is gone.
    fn identity(&mut self, pid: u32) -> Option<(Identity, String)>;
    /// A `relocate` request. `Err` only when ptreloc cannot be reached.
    fn relocate(&mut self, request: &str) -> Result<Relocated, Failure>;
}

/// Why a process was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// It exited between the look and the move (or during the move).
    Exited,
    /// It ran exec between the look and the move: looked at afresh next
    /// interval.
    Exec,
    /// The kernel refused it for good (`EBUSY`: bound to a device; `EPERM`,
    /// `EACCES`): not asked again until it runs exec.
    Refused,
    /// The request failed (`ENOMEM`, `EINTR`, ...): asked again once its
    /// home has stayed for the settle count again.
    Failed,
    /// Its `/proc` files or census were refused.
    Unreadable,
}

impl Skip {
    /// As `--json` writes it.
    pub fn name(self) -> &'static str {
        match self {
            Skip::Exited => "exited",
            Skip::Exec => "exec",
            Skip::Refused => "refused",
            Skip::Failed => "failed",
            Skip::Unreadable => "unreadable",
        }
    }
}

/// One request and what it did.
#[derive(Debug, Clone, PartialEq)]
pub struct Move {
    pub pid: u32,
    pub comm: String,
    /// Where the tables went: the home.
    pub node: usize,
    pub basis: Basis,
    /// Intervals the home had stayed off the tables.
    pub intervals: u32,
    /// Its movable tables off `node` before the request, by the census of
    /// this interval less what earlier requests of the interval moved.
    pub misplaced: u64,
    /// The level and range asked for; `None`: every level, the whole
    /// address space.
    pub part: Option<(&'static str, Part)>,
    /// The most the request could move.
    pub limit: u64,
    pub tables_moved: u64,
    /// After a whole move (or the last part): its movable tables still off
    /// `node`, by a census after it.
    pub left: Option<u64>,
    /// The budget before and after.
    pub budget: f64,
    pub budget_left: f64,
    pub outcome: Vec<(String, String)>,
    /// The failure, when the request failed after moving some tables.
    pub error: Option<String>,
}

#[cfg(test)]
impl Move {
    /// What the unit tests log: pid 42 ("w") given 20 of its 85 misplaced
    /// tables, the PTE tables of 0x40000000-0x42800000, with a budget of 20.
    pub(crate) fn sample() -> Self {
        Self {
            pid: 42,
            comm: "w".into(),
            node: 1,
            basis: Basis::RunTime,
            intervals: 2,
            misplaced: 85,
            part: Some((
                "pte",
                Part {
                    start: 0x4000_0000,
                    end: 0x4280_0000,
                    bound: 20,
                },
            )),
            limit: 20,
            tables_moved: 20,
            left: None,
            budget: 20.0,
            budget_left: 0.0,
            outcome: Vec::new(),
            error: None,
        }
    }
}

/// What `follow` logs.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Kernel threads seen for the first time (no page tables of their
    /// own): skipped.
    KernelThreads(Vec<u32>),
    Moved(Move),
    Skipped {
        pid: u32,
        comm: String,
        reason: Skip,
        why: String,
    },
    /// `follow <pid>`: the process exited (the last event).
    Exited {
        pid: u32,
    },
}

/// Processes skipped, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Skipped {
    pub exited: u64,
    pub exec: u64,
    pub refused: u64,
    pub failed: u64,
    pub unreadable: u64,
}

impl Skipped {
    fn add(&mut self, skip: Skip) {
        *match skip {
            Skip::Exited => &mut self.exited,
            Skip::Exec => &mut self.exec,
            Skip::Refused => &mut self.refused,
            Skip::Failed => &mut self.failed,
            Skip::Unreadable => &mut self.unreadable,
        } += 1;
    }
}

/// What a run did, for its last line.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub seconds: f64,
    pub intervals: u64,
    pub requests: u64,
    pub tables_moved: u64,
    /// `tables_moved` over the run's time (`seconds`).
    pub tables_per_second: f64,
    /// The most moved in one interval.
    pub most_in_an_interval: u64,
    pub max_tables_per_second: u64,
    pub tables_per_interval: f64,
    pub processes_moved: usize,
    pub skipped: Skipped,
}

/// Whether `follow` goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// `follow <pid>`: the process exited.
    Exited,
}

/// What `follow` keeps of a process between intervals.
#[derive(Debug, Clone)]
struct Track {
    identity: Identity,
    settle: Settle,
    /// A move a part at a time, under way.
    chunk: Option<Chunk>,
    /// Refused for good: not asked again (a new identity starts afresh).
    refused: bool,
    /// The last refusal of its files logged, not logged again.
    reported: Option<String>,
}

impl Track {
    fn new(identity: Identity) -> Self {
        Self {
            identity,
            settle: Settle::default(),
            chunk: None,
            refused: false,
            reported: None,
        }
    }
}

/// Where a move a part at a time has got to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Chunk {
    node: usize,
    /// In `LEVELS`.
    level: usize,
    /// The next part starts at or after it.
    cursor: u64,
}

impl Chunk {
    /// The next part of at most `max` tables, the level moving on when one
    /// is done; `None` when every level is.
    fn next(&mut self, vmas: &[(u64, u64)], max: u64) -> Option<(&'static str, Part)> {
        while let Some(&(name, span)) = LEVELS.get(self.level) {
            if let Some(part) = budget::plan_range(vmas, self.cursor, span, max) {
                return Some((name, part));
            }
            self.level += 1;
            self.cursor = 0;
        }
        None
    }
}

/// A process due to move.
#[derive(Debug, Clone)]
struct Due {
    pid: u32,
    comm: String,
    identity: Identity,
    node: usize,
    basis: Basis,
    intervals: u32,
    off: u64,
}

/// What looking at a process found.
enum Look {
    KernelThread,
    /// Gone, exiting, or too small to look at.
    Passed,
    Seen(Option<Due>),
}

/// The autopilot.
pub struct Follower {
    config: Config,
    topology: Topology,
    budget: Budget,
    tracks: HashMap<u32, Track>,
    kernel_threads: HashSet<u32>,
    intervals: u64,
    requests: u64,
    tables_moved: u64,
    most_in_an_interval: u64,
    moved_pids: HashSet<u32>,
    skipped: Skipped,
}

impl Follower {
    pub fn new(config: Config, topology: Topology) -> Self {
        let budget = Budget::new(config.max_tables_per_second, config.interval);
        Self {
            config,
            topology,
            budget,
            tracks: HashMap::new(),
            kernel_threads: HashSet::new(),
            intervals: 0,
            requests: 0,
            tables_moved: 0,
            most_in_an_interval: 0,
            moved_pids: HashSet::new(),
            skipped: Skipped::default(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Intervals begun.
    pub fn intervals(&self) -> u64 {
        self.intervals
    }

    /// The run so far, `seconds` long.
    pub fn summary(&self, seconds: f64) -> Summary {
        Summary {
            seconds,
            intervals: self.intervals,
            requests: self.requests,
            tables_moved: self.tables_moved,
            tables_per_second: if seconds > 0.0 {
                self.tables_moved as f64 / seconds
            } else {
                0.0
            },
            most_in_an_interval: self.most_in_an_interval,
            max_tables_per_second: self.config.max_tables_per_second,
            tables_per_interval: self.budget.capacity(),
            processes_moved: self.moved_pids.len(),
            skipped: self.skipped,
        }
    }

    /// One interval, `now` from the start: look at every process, move the
    /// due ones within the budget, `emit` each event as it happens. Due
    /// processes are left for the next interval once `stop` says so.
    pub fn tick(
        &mut self,
        world: &mut impl World,
        now: Duration,
        stop: &dyn Fn() -> bool,
        emit: &mut dyn FnMut(&Event),
    ) -> Result<Flow, Failure> {
        self.intervals += 1;
        self.budget.fill(now);
        let moved_before = self.tables_moved;
        let pids: Vec<u32> = match self.config.pid {
            Some(pid) => vec![pid],
            None => world.pids(),
        };
        let mut seen = HashSet::new();
        let mut kernel_threads = Vec::new();
        let mut due = Vec::new();
        for &pid in &pids {
            if self.config.exclude_pids.contains(&pid) {
                continue;
            }
            match self.look(world, pid, emit)? {
                Look::KernelThread => {
                    if self.kernel_threads.insert(pid) {
                        kernel_threads.push(pid);
                    }
                }
                Look::Passed => {}
                Look::Seen(d) => {
                    seen.insert(pid);
                    due.extend(d);
                }
            }
        }
        if let Some(pid) = self.config.pid {
            if !seen.contains(&pid) {
                emit(&Event::Exited { pid });
                return Ok(Flow::Exited);
            }
        }
        let listed: HashSet<u32> = pids.iter().copied().collect();
        self.kernel_threads.retain(|p| listed.contains(p));
        if !kernel_threads.is_empty() {
            emit(&Event::KernelThreads(kernel_threads));
        }
        // Processes gone since the last interval: said so if a move was
        // waiting for them.
        let mut gone: Vec<u32> = self
            .tracks
            .iter()
            .filter(|(pid, t)| !seen.contains(pid) && t.settle.pending())
            .map(|(&pid, _)| pid)
            .collect();
        gone.sort_unstable();
        for pid in gone {
            self.skip(
                emit,
                pid,
                String::new(),
                Skip::Exited,
                "exited while its move waited".into(),
            );
        }
        self.tracks.retain(|pid, _| seen.contains(pid));
        due.sort_by_key(|d| (std::cmp::Reverse(d.intervals), d.off, d.pid));
        for d in &due {
            if stop() || self.budget.available() == 0 {
                break;
            }
            self.move_process(world, d, stop, emit)?;
        }
        let moved = self.tables_moved - moved_before;
        self.most_in_an_interval = self.most_in_an_interval.max(moved);
        Ok(Flow::Continue)
    }

    fn skip(
        &mut self,
        emit: &mut dyn FnMut(&Event),
        pid: u32,
        comm: String,
        reason: Skip,
        why: String,
    ) {
        self.skipped.add(reason);
        emit(&Event::Skipped {
            pid,
            comm,
            reason,
            why,
        });
    }

    /// Logs a refusal of a process's files, once until it changes.
    fn unreadable(&mut self, emit: &mut dyn FnMut(&Event), pid: u32, comm: String, why: String) {
        let track = self
            .tracks
            .entry(pid)
            .or_insert_with(|| Track::new(Identity::default()));
        if track.reported.as_ref() != Some(&why) {
            track.reported = Some(why.clone());
            self.skip(emit, pid, comm, Skip::Unreadable, why);
        }
    }

    fn look(
        &mut self,
        world: &mut impl World,
        pid: u32,
        emit: &mut dyn FnMut(&Event),
    ) -> Result<Look, Failure> {
        let threads = match world.threads(pid, &self.topology) {
            Ok(t) => t,
            Err(Missing::KernelThread) => return Ok(Look::KernelThread),
            Err(Missing::Gone) => return Ok(Look::Passed),
            Err(Missing::Unreadable(why)) => {
                self.unreadable(emit, pid, String::new(), why);
                return Ok(Look::Seen(None));
            }
        };
        // No VmPTE: its mm is gone (exiting).
        let Some(pte_kb) = threads.vm_pte_kb else {
            return Ok(Look::Passed);
        };
        if self.config.pid.is_none() && pte_kb / 4 < self.config.min_tables {
            return Ok(Look::Passed);
        }
        let track = self
            .tracks
            .entry(pid)
            .or_insert_with(|| Track::new(threads.identity));
        if track.identity != threads.identity {
            // Another process under the pid, or this one after an exec.
            *track = Track::new(threads.identity);
        }
        if track.refused {
            return Ok(Look::Seen(None));
        }
        let census = match world.census(pid)? {
            Counted::Census(c) => c,
            Counted::Gone => return Ok(Look::Passed),
            Counted::Refused(why) => {
                self.unreadable(emit, pid, threads.comm, why);
                return Ok(Look::Seen(None));
            }
        };
        let home = home::home_with(&threads.runs, &self.topology, || {
            world.data_kb(pid, census.nodes)
        });
        let track = self.tracks.get_mut(&pid).expect("inserted above");
        track.reported = None;
        let Some(home) = home else {
            track.settle.restart();
            track.chunk = None;
            return Ok(Look::Seen(None));
        };
        let off = census.movable_off(home.node);
        match track.settle.observe(home.node, off, self.config.settle) {
            Verdict::Due { node, intervals } => Ok(Look::Seen(Some(Due {
                pid,
                comm: threads.comm,
                identity: threads.identity,
                node,
                basis: home.basis,
                intervals,
                off,
            }))),
            Verdict::AtHome | Verdict::Waiting { .. } => {
                track.chunk = None;
                Ok(Look::Seen(None))
            }
        }
    }

    /// Its movable tables off `node` now, by a census; `None` if it cannot
    /// be taken.
    fn left(
        &mut self,
        world: &mut impl World,
        pid: u32,
        node: usize,
    ) -> Result<Option<u64>, Failure> {
        Ok(match world.census(pid)? {
            Counted::Census(c) => Some(c.movable_off(node)),
            Counted::Gone | Counted::Refused(_) => None,
        })
    }

    /// Moves a due process's tables, whole or a part at a time, while the
    /// budget lasts.
    fn move_process(
        &mut self,
        world: &mut impl World,
        d: &Due,
        stop: &dyn Fn() -> bool,
        emit: &mut dyn FnMut(&Event),
    ) -> Result<(), Failure> {
        match world.identity(d.pid) {
            None => {
                self.tracks.remove(&d.pid);
                let why = "exited before its tables were moved".into();
                self.skip(emit, d.pid, d.comm.clone(), Skip::Exited, why);
                return Ok(());
            }
            Some((now, comm)) if now != d.identity => {
                self.tracks.remove(&d.pid);
                let (reason, why) = if d.identity.exec_of(&now) {
                    (
                        Skip::Exec,
                        format!("ran exec ({comm} now) since it was looked at: looked at afresh next interval"),
                    )
                } else {
                    (
                        Skip::Exited,
                        "exited before its tables were moved (its pid is another process's now)"
                            .into(),
                    )
                };
                self.skip(emit, d.pid, d.comm.clone(), reason, why);
                return Ok(());
            }
            Some(_) => {}
        }
        let ctx = Context {
            pid: Some(d.pid),
            node: Some(d.node as u32),
        };
        let mut off = d.off;
        let mut vmas: Option<Vec<(u64, u64)>> = None;
        for _ in 0..MAX_REQUESTS {
            let available = self.budget.available();
            if available == 0 || stop() {
                return Ok(());
            }
            let part = if off <= available {
                None
            } else {
                let vmas = vmas.get_or_insert_with(|| world.vmas(d.pid));
                let track = self.tracks.get_mut(&d.pid).expect("looked at");
                let mut chunk = track.chunk.filter(|c| c.node == d.node).unwrap_or(Chunk {
                    node: d.node,
                    level: 0,
                    cursor: 0,
                });
                let next = chunk.next(vmas, available);
                track.chunk = Some(chunk);
                match next {
                    Some(part) => Some(part),
                    None => {
                        // Every part has been asked for: what is left
                        // stays (skipped, or new since).
                        let left = self.left(world, d.pid, d.node)?;
                        let track = self.tracks.get_mut(&d.pid).expect("looked at");
                        track.chunk = None;
                        track.settle.placed(d.node, left.unwrap_or(off));
                        return Ok(());
                    }
                }
            };
            let mut request = format!("pid={} node={}", d.pid, d.node);
            if let Some((level, p)) = part {
                let _ = write!(
                    request,
                    " start=0x{:x} end=0x{:x} levels={level}",
                    p.start, p.end
                );
            }
            let budget = self.budget.tokens();
            let r = world.relocate(&request)?;
            let moved = report::number(&r.outcome, "tables_moved");
            self.budget.spend(moved);
            self.requests += 1;
            self.tables_moved += moved;
            if moved > 0 {
                self.moved_pids.insert(d.pid);
            }
            let mut event = Move {
                pid: d.pid,
                comm: d.comm.clone(),
                node: d.node,
                basis: d.basis,
                intervals: d.intervals,
                misplaced: off,
                part,
                limit: part.map_or(off, |(_, p)| p.bound),
                tables_moved: moved,
                left: None,
                budget,
                budget_left: self.budget.tokens(),
                outcome: r.outcome,
                error: None,
            };
            off = off.saturating_sub(moved);
            if let Some(errno) = r.errno {
                let why = errors::from_errno(errno, ctx).message().to_string();
                if moved > 0 {
                    event.error = Some(why.clone());
                    emit(&Event::Moved(event));
                }
                let reason = match errno {
                    errors::ESRCH => Skip::Exited,
                    errors::EBUSY | errors::EPERM | errors::EACCES => Skip::Refused,
                    _ => Skip::Failed,
                };
                match (reason, self.tracks.get_mut(&d.pid)) {
                    (Skip::Exited, _) => {
                        self.tracks.remove(&d.pid);
                    }
                    (Skip::Refused, Some(track)) => track.refused = true,
                    (_, Some(track)) => {
                        track.settle.restart();
                        track.chunk = None;
                    }
                    (_, None) => {}
                }
                let why = match reason {
                    Skip::Refused => format!("{why}; not asked again unless it runs exec"),
                    Skip::Failed => format!("{why}; asked again after it settles again"),
                    _ => why,
                };
                self.skip(emit, d.pid, d.comm.clone(), reason, why);
                return Ok(());
            }
            let Some((_, p)) = part else {
                event.left = self.left(world, d.pid, d.node)?;
                let track = self.tracks.get_mut(&d.pid).expect("looked at");
                track.chunk = None;
                track.settle.placed(d.node, event.left.unwrap_or(off));
                emit(&Event::Moved(event));
                return Ok(());
            };
            if let Some(chunk) = &mut self.tracks.get_mut(&d.pid).expect("looked at").chunk {
                chunk.cursor = p.end;
            }
            // A part that held no misplaced table is not worth a line (the
            // summary counts it among the requests).
            if moved > 0 {
                emit(&Event::Moved(event));
            }
        }
        Ok(())
    }
}

/// `/proc` and ptreloc's files.
pub struct Proc {
    census: CensusFile,
    clock: Clock,
    buf: FileBuf,
}

impl Proc {
    /// Opens the `census` file: refused when ptreloc cannot be reached,
    /// before anything is read.
    pub fn open() -> Result<Self, Failure> {
        Ok(Self {
            census: CensusFile::open()?,
            clock: Clock::detect(),
            buf: FileBuf::default(),
        })
    }
}

impl World for Proc {
    fn pids(&mut self) -> Vec<u32> {
        overview::pids()
    }

    fn threads(&mut self, pid: u32, topology: &Topology) -> Result<Threads, Missing> {
        threads::read(pid, self.clock, topology, &mut self.buf)
    }

    fn census(&mut self, pid: u32) -> Result<Counted, Failure> {
        overview::census_of(&mut self.census, pid)
    }

    fn data_kb(&mut self, pid: u32, nodes: usize) -> Vec<u64> {
        match self.buf.read(&format!("/proc/{pid}/numa_maps")) {
            Ok(()) => numa_maps_kb(&self.buf.text(), nodes),
            Err(_) => Vec::new(),
        }
    }

    fn vmas(&mut self, pid: u32) -> Vec<(u64, u64)> {
        match self.buf.read(&format!("/proc/{pid}/maps")) {
            Ok(()) => budget::parse_maps(&self.buf.text()),
            Err(_) => Vec::new(),
        }
    }

    fn identity(&mut self, pid: u32) -> Option<(Identity, String)> {
        threads::identity(pid, &mut self.buf)
    }

    fn relocate(&mut self, request: &str) -> Result<Relocated, Failure> {
        let (outcome, written) = kernel::request_errno("relocate", request)?;
        Ok(Relocated {
            outcome: key_values(outcome.as_deref().unwrap_or("")),
            errno: written.err().map(|e| e.raw_os_error().unwrap_or(5)),
        })
    }
}

/// `12.5s`.
fn secs(t: f64) -> String {
    format!("{t:.1}s")
}

fn who(pid: u32, comm: &str) -> String {
    if comm.is_empty() {
        format!("pid {pid}")
    } else {
        let comm: String = comm
            .chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect();
        format!("pid {pid} ({comm})")
    }
}

/// The line `follow` prints for an event, at `t` seconds.
pub fn describe(event: &Event, t: f64) -> String {
    let t = secs(t);
    match event {
        Event::KernelThreads(pids) => {
            let pids: Vec<usize> = pids.iter().map(|&p| p as usize).collect();
            format!(
                "{t} skipping {} kernel threads (no page tables of their own): pids {}",
                pids.len(),
                format_list(&pids)
            )
        }
        Event::Skipped { pid, comm, why, .. } => format!("{t} {}: skipped: {why}", who(*pid, comm)),
        Event::Exited { pid } => format!("{t} process {pid} exited"),
        Event::Moved(m) => {
            let mut s = format!(
                "{t} {}: moved {} page-table pages to node {}",
                who(m.pid, &m.comm),
                m.tables_moved,
                m.node
            );
            match m.part {
                Some((level, p)) => {
                    let _ = write!(
                        s,
                        " ({level} tables of 0x{:x}-0x{:x}, at most {} there; {} misplaced before)",
                        p.start, p.end, p.bound, m.misplaced
                    );
                }
                None => {
                    let _ = write!(s, " (all {} misplaced", m.misplaced);
                    if let Some(left) = m.left {
                        let _ = write!(s, "; {left} left elsewhere");
                    }
                    let skipped = report::skipped(&m.outcome);
                    if !skipped.is_empty() {
                        let _ = write!(s, "; skipped: {}", skipped.join(", "));
                    }
                    s.push(')');
                }
            }
            let basis = match m.basis {
                Basis::RunTime => "where its threads ran",
                Basis::Data => "where its data is: its threads have no run time",
            };
            let _ = write!(
                s,
                "; its home, {basis}, for {} interval{}; budget {:.1} -> {:.1}",
                m.intervals,
                if m.intervals == 1 { "" } else { "s" },
                m.budget,
                m.budget_left
            );
            if let Some(e) = &m.error {
                let _ = write!(s, "; then the request failed: {e}");
            }
            s
        }
    }
}

/// The first line of `follow`.
pub fn describe_start(c: &Config) -> String {
    let what = match c.pid {
        Some(pid) => format!("following process {pid}"),
        None => "following every process".into(),
    };
    let mut s = format!(
        "{what}: every {} s, moving page tables to the home node once it has stayed \
         another node for {} interval{}, at most {} page tables per second ({} per interval)",
        c.interval,
        c.settle,
        if c.settle == 1 { "" } else { "s" },
        c.max_tables_per_second,
        c.max_tables_per_second as f64 * c.interval
    );
    if c.pid.is_none() && c.min_tables > 0 {
        let _ = write!(
            s,
            "; ignoring processes with fewer than {} page tables",
            c.min_tables
        );
    }
    if !c.exclude_pids.is_empty() {
        let pids: Vec<String> = c.exclude_pids.iter().map(u32::to_string).collect();
        let _ = write!(s, "; excluding pids {}", pids.join(","));
    }
    s
}

/// The last line of `follow`: `why` it stopped.
pub fn describe_summary(why: &str, s: &Summary) -> String {
    format!(
        "{why} after {:.1} s ({} intervals): {} page-table pages of {} processes moved in {} \
         requests, {:.1} per second, at most {} in one interval (budget {} per second, {} per \
         interval); skipped: {} exited, {} exec, {} refused, {} failed, {} unreadable",
        s.seconds,
        s.intervals,
        s.tables_moved,
        s.processes_moved,
        s.requests,
        s.tables_per_second,
        s.most_in_an_interval,
        s.max_tables_per_second,
        s.tables_per_interval,
        s.skipped.exited,
        s.skipped.exec,
        s.skipped.refused,
        s.skipped.failed,
        s.skipped.unreadable
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::home::Run;
    use crate::report::Census;

    const MIB: u64 = 1 << 20;
    const PTE_SPAN: u64 = 2 * MIB;

    /// A process of the model: threads, VMAs, and where each table is.
    #[derive(Debug, Clone)]
    struct Model {
        comm: String,
        identity: Identity,
        runs: Vec<Run>,
        vmas: Vec<(u64, u64)>,
        /// `(level in LEVELS, span index, node)`.
        tables: Vec<(usize, u64, usize)>,
        data_kb: Vec<u64>,
        kernel_thread: bool,
        /// The errno its requests fail with.
        errno: Option<i32>,
    }

    impl Model {
        /// `threads` threads on `cpu`, `mib` MiB at 1 GiB: one PTE table
        /// per 2 MiB, one PMD and one PUD table, all on `node`.
        fn new(cpu: u32, mib: u64, node: usize) -> Self {
            let start = 1 << 30;
            let end = start + mib * MIB;
            let mut tables: Vec<(usize, u64, usize)> = (start / PTE_SPAN..end.div_ceil(PTE_SPAN))
                .map(|s| (0, s, node))
                .collect();
            tables.push((1, start / LEVELS[1].1, node));
            tables.push((2, start / LEVELS[2].1, node));
            Self {
                comm: "work".into(),
                identity: Identity {
                    start_time: 100,
                    code: (0x1000, 0x2000),
                    stack: 0x7ff0,
                },
                runs: vec![
                    Run {
                        cpu,
                        runtime_ns: 1000
                    };
                    4
                ],
                vmas: vec![(start, end)],
                tables,
                data_kb: vec![mib * 1024, 0],
                kernel_thread: false,
                errno: None,
            }
        }

        fn on(&self, node: usize) -> u64 {
            self.tables.iter().filter(|t| t.2 == node).count() as u64
        }
    }

    #[derive(Default)]
    struct Sim {
        procs: std::collections::BTreeMap<u32, Model>,
        /// Runs after each request (a process exits, execs, ...).
        after_request: Option<fn(&mut Sim)>,
        /// Runs before each identity check.
        before_identity: Option<fn(&mut Sim)>,
        requests: Vec<String>,
    }

    fn topology() -> Topology {
        // Node 0: CPUs 0-1, node 1: CPUs 2-3, node 2: memory only.
        Topology::from_cpulists([(0, "0-1"), (1, "2-3"), (2, "")]).unwrap()
    }

    impl World for Sim {
        fn pids(&mut self) -> Vec<u32> {
            self.procs.keys().copied().collect()
        }

        fn threads(&mut self, pid: u32, topology: &Topology) -> Result<Threads, Missing> {
            let p = self.procs.get(&pid).ok_or(Missing::Gone)?;
            if p.kernel_thread {
                return Err(Missing::KernelThread);
            }
            let mut allowed = Vec::new();
            for r in &p.runs {
                topology.mark_nodes(&r.cpu.to_string(), &mut allowed);
            }
            Ok(Threads {
                comm: p.comm.clone(),
                runs: p.runs.clone(),
                allowed_nodes: (0..allowed.len()).filter(|&n| allowed[n]).collect(),
                identity: p.identity,
                vm_pte_kb: Some(4 * p.tables.len() as u64),
            })
        }

        fn census(&mut self, pid: u32) -> Result<Counted, Failure> {
            let Some(p) = self.procs.get(&pid) else {
                return Ok(Counted::Gone);
            };
            let mut text = String::from("level node0 node1 node2\npgd 1 0 0\np4d folded\n");
            for (l, name) in [(2, "pud"), (1, "pmd"), (0, "pte")] {
                let n = |node| p.tables.iter().filter(|t| t.0 == l && t.2 == node).count();
                text += &format!("{name} {} {} {}\n", n(0), n(1), n(2));
            }
            Ok(Counted::Census(Census::parse(&text).unwrap()))
        }

        fn data_kb(&mut self, pid: u32, _nodes: usize) -> Vec<u64> {
            self.procs[&pid].data_kb.clone()
        }

        fn vmas(&mut self, pid: u32) -> Vec<(u64, u64)> {
            self.procs.get(&pid).map_or(Vec::new(), |p| p.vmas.clone())
        }

        fn identity(&mut self, pid: u32) -> Option<(Identity, String)> {
            if let Some(f) = self.before_identity.take() {
                f(self);
            }
            self.procs.get(&pid).map(|p| (p.identity, p.comm.clone()))
        }

        fn relocate(&mut self, request: &str) -> Result<Relocated, Failure> {
            self.requests.push(request.to_string());
            let kv: HashMap<&str, &str> = request
                .split_whitespace()
                .map(|w| w.split_once('=').unwrap())
                .collect();
            let pid: u32 = kv["pid"].parse().unwrap();
            let node: usize = kv["node"].parse().unwrap();
            let hex = |k: &str| kv.get(k).map(|v| u64::from_str_radix(&v[2..], 16).unwrap());
            let (start, end) = (hex("start").unwrap_or(0), hex("end").unwrap_or(u64::MAX));
            let levels: Vec<usize> = match kv.get("levels") {
                None => vec![0, 1, 2],
                Some(l) => l
                    .split(',')
                    .map(|l| LEVELS.iter().position(|(n, _)| *n == l).unwrap())
                    .collect(),
            };
            let Some(p) = self.procs.get_mut(&pid) else {
                return Ok(Relocated {
                    outcome: Vec::new(),
                    errno: Some(errors::ESRCH),
                });
            };
            if let Some(errno) = p.errno {
                if errno == errors::ESRCH {
                    // It was exiting: gone now.
                    self.procs.remove(&pid);
                }
                return Ok(Relocated {
                    outcome: key_values(&format!(
                        "pid {pid}\nstatus E ({errno})\ntables_moved 0\n"
                    )),
                    errno: Some(errno),
                });
            }
            let mut moved = 0;
            for t in &mut p.tables {
                let span = LEVELS[t.0].1;
                let (lo, hi) = (t.1 * span, (t.1 + 1) * span);
                if levels.contains(&t.0) && lo < end && hi > start && t.2 != node {
                    t.2 = node;
                    moved += 1;
                }
            }
            let outcome = key_values(&format!(
                "pid {pid}\nnode {node}\nstatus ok\ntables_moved {moved}\n"
            ));
            if let Some(f) = self.after_request {
                f(self);
            }
            Ok(Relocated {
                outcome,
                errno: None,
            })
        }
    }

    fn config(settle: u32, per_second: u64) -> Config {
        Config {
            pid: None,
            interval: 0.5,
            settle,
            max_tables_per_second: per_second,
            exclude_pids: Vec::new(),
            min_tables: 0,
        }
    }

    /// Runs `n` intervals of 0.5 s; the events of each.
    fn run(f: &mut Follower, sim: &mut Sim, n: usize) -> Vec<Vec<Event>> {
        (0..n)
            .map(|_| {
                let now = Duration::from_secs_f64(f.intervals() as f64 * 0.5);
                let mut events = Vec::new();
                f.tick(sim, now, &|| false, &mut |e| events.push(e.clone()))
                    .unwrap();
                events
            })
            .collect()
    }

    fn moves(events: &[Event]) -> Vec<&Move> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Moved(m) => Some(m),
                _ => None,
            })
            .collect()
    }

    fn moved(events: &[Event]) -> u64 {
        moves(events).iter().map(|m| m.tables_moved).sum()
    }

    #[test]
    fn threads_decide_and_settle_delays() {
        let mut sim = Sim::default();
        // Threads on node 1 (CPU 2), data and tables on node 0.
        sim.procs.insert(10, Model::new(2, 20, 0));
        let mut f = Follower::new(config(3, 1000), topology());
        let log = run(&mut f, &mut sim, 4);
        assert!(log[0].is_empty() && log[1].is_empty(), "{log:?}");
        let m = moves(&log[2]);
        assert_eq!(m.len(), 1);
        assert_eq!(
            (m[0].node, m[0].intervals, m[0].basis),
            (1, 3, Basis::RunTime)
        );
        assert_eq!(
            (m[0].misplaced, m[0].tables_moved, m[0].left),
            (12, 12, Some(0))
        );
        assert_eq!(sim.requests, ["pid=10 node=1"]);
        assert!(log[3].is_empty());
        assert_eq!(sim.procs[&10].on(1), 12);
    }

    #[test]
    fn data_on_a_memory_only_node_never_draws_the_tables() {
        let mut sim = Sim::default();
        let mut p = Model::new(0, 20, 0);
        p.data_kb = vec![0, 0, 20 * 1024];
        sim.procs.insert(10, p.clone());
        // No run time at all: the data decides, among nodes with CPUs.
        p.runs.iter_mut().for_each(|r| r.runtime_ns = 0);
        p.tables.iter_mut().for_each(|t| t.2 = 2);
        sim.procs.insert(11, p);
        let mut f = Follower::new(config(1, 1000), topology());
        let log = run(&mut f, &mut sim, 3);
        // 10's tables stay with its threads, on node 0. 11's tables were
        // put on node 2 by hand; with no run time and its data on no node
        // with CPUs, it has no home: nothing moves.
        assert!(log.iter().all(|l| l.is_empty()), "{log:?}");
        // With run time on node 0, its tables come back to node 0.
        sim.procs.get_mut(&11).unwrap().runs[0].runtime_ns = 5;
        let log = run(&mut f, &mut sim, 1);
        assert_eq!(moves(&log[0])[0].node, 0);
        assert_eq!(sim.procs[&11].on(0), 12);
        assert!(sim.requests.iter().all(|r| !r.contains("node=2")));
    }

    #[test]
    fn the_budget_holds_and_big_processes_move_in_parts() {
        let mut sim = Sim::default();
        // Two processes of 100 MiB (52 tables each) whose threads are on
        // node 1; 20 tables per interval.
        sim.procs.insert(10, Model::new(2, 100, 0));
        sim.procs.insert(11, Model::new(3, 100, 0));
        let mut f = Follower::new(config(2, 40), topology());
        let log = run(&mut f, &mut sim, 12);
        for (i, l) in log.iter().enumerate() {
            assert!(moved(l) <= 20, "interval {i}: {}", moved(l));
        }
        assert_eq!(moved(&log.concat()), 104);
        assert_eq!(sim.procs[&10].on(1) + sim.procs[&11].on(1), 104);
        // Due from the second interval on; 104 tables at 20 an interval:
        // done in the seventh.
        assert!(log[0].is_empty());
        assert!(log[6..]
            .iter()
            .all(|l| moved(l) == 0 || moves(l).iter().all(|m| m.left.is_some())));
        // Parts: PTE tables of ranges, then the rest whole.
        let first = moves(&log[1]);
        assert_eq!(first[0].part.unwrap().0, "pte");
        assert_eq!(first[0].limit, 20);
        assert!(
            sim.requests[0].contains(" levels=pte"),
            "{:?}",
            sim.requests
        );
        // The longest waiting first: 10 finishes before 11 starts.
        let order: Vec<u32> = moves(&log.concat()).iter().map(|m| m.pid).collect();
        let first_11 = order.iter().position(|&p| p == 11).unwrap();
        assert!(order[..first_11].iter().all(|&p| p == 10));
        let s = f.summary(6.0);
        assert_eq!(
            (s.tables_moved, s.most_in_an_interval, s.processes_moved),
            (104, 20, 2)
        );
    }

    /// A part over a VMA without tables (reserved, never touched) moves
    /// nothing, costs nothing, is not logged, and the next part is asked
    /// for in the same interval.
    #[test]
    fn empty_parts_cost_nothing() {
        let mut sim = Sim::default();
        let mut p = Model::new(2, 100, 0);
        p.vmas.insert(0, (256 * MIB, 356 * MIB));
        sim.procs.insert(10, p);
        let mut f = Follower::new(config(1, 40), topology());
        let log = run(&mut f, &mut sim, 1);
        assert_eq!(moved(&log[0]), 20);
        let m = moves(&log[0]);
        assert!(m.iter().all(|m| m.tables_moved > 0), "{m:?}");
        assert!(sim.requests.len() > m.len(), "{:?}", sim.requests);
        assert!(
            sim.requests[0].contains("start=0x10000000 "),
            "{:?}",
            sim.requests
        );
        assert_eq!(f.summary(0.5).requests, sim.requests.len() as u64);
    }

    #[test]
    fn tiny_budget_still_progresses() {
        let mut sim = Sim::default();
        sim.procs.insert(10, Model::new(2, 8, 0));
        // 2 per second, 0.5 s: one table per interval.
        let mut f = Follower::new(config(1, 2), topology());
        let log = run(&mut f, &mut sim, 12);
        assert!(log.iter().all(|l| moved(l) <= 1));
        assert_eq!(sim.procs[&10].on(0), 0);
    }

    #[test]
    fn exits_execs_and_refusals_are_logged_and_skipped() {
        let mut sim = Sim::default();
        for pid in [10, 11, 12, 13, 14] {
            sim.procs.insert(pid, Model::new(2, 4, 0));
        }
        let mut kthread = Model::new(0, 0, 0);
        kthread.kernel_thread = true;
        sim.procs.insert(2, kthread);
        sim.procs.get_mut(&12).unwrap().errno = Some(errors::EBUSY);
        sim.procs.get_mut(&13).unwrap().errno = Some(errors::ENOMEM);
        // Gone when the request comes (the kernel says ESRCH).
        sim.procs.get_mut(&14).unwrap().errno = Some(errors::ESRCH);
        // Between the look and the move: 10 exits, 11 runs exec.
        sim.before_identity = Some(|sim| {
            sim.procs.remove(&10);
            let p = sim.procs.get_mut(&11).unwrap();
            p.identity.code = (0x5000, 0x9000);
            p.comm = "other".into();
        });
        let mut f = Follower::new(config(1, 1000), topology());
        let log = run(&mut f, &mut sim, 3);
        let skips: Vec<(u32, Skip)> = log
            .concat()
            .iter()
            .filter_map(|e| match e {
                Event::Skipped { pid, reason, .. } => Some((*pid, *reason)),
                _ => None,
            })
            .collect();
        assert_eq!(log[0][0], Event::KernelThreads(vec![2]));
        // 10 exited, 11 ran exec (moved the next interval, afresh), 12
        // refused for good, 13 failed (asked again each time it settles),
        // 14 gone when asked.
        assert_eq!(
            skips,
            [
                (10, Skip::Exited),
                (11, Skip::Exec),
                (12, Skip::Refused),
                (13, Skip::Failed),
                (14, Skip::Exited),
                (13, Skip::Failed),
                (13, Skip::Failed)
            ]
        );
        assert!(moves(&log[1])
            .iter()
            .any(|m| m.pid == 11 && m.comm == "other"));
        assert_eq!(
            sim.requests
                .iter()
                .filter(|r| r.starts_with("pid=12 "))
                .count(),
            1
        );
        assert_eq!(
            sim.requests
                .iter()
                .filter(|r| r.starts_with("pid=13 "))
                .count(),
            3
        );
        assert!(matches!(
            log[0].iter().find(|e| matches!(e, Event::Skipped { pid: 12, .. })),
            Some(Event::Skipped { why, .. }) if why.contains("IOMMU SVA")
        ));
        let s = f.summary(1.5).skipped;
        assert_eq!((s.exited, s.exec, s.refused, s.failed), (2, 1, 1, 3));
        // The kernel threads are said once.
        assert!(log[1..]
            .concat()
            .iter()
            .all(|e| !matches!(e, Event::KernelThreads(_))));
    }

    #[test]
    fn exit_during_a_move() {
        let mut sim = Sim::default();
        sim.procs.insert(10, Model::new(2, 100, 0));
        // Gone after its first part.
        sim.after_request = Some(|sim| {
            sim.procs.remove(&10);
        });
        let mut f = Follower::new(config(1, 40), topology());
        let log = run(&mut f, &mut sim, 2);
        assert_eq!(moves(&log[0]).len(), 1);
        assert_eq!(
            log[1],
            [Event::Skipped {
                pid: 10,
                comm: String::new(),
                reason: Skip::Exited,
                why: "exited while its move waited".into()
            }]
        );
    }

    #[test]
    fn exclusions_and_small_processes() {
        let mut sim = Sim::default();
        sim.procs.insert(10, Model::new(2, 40, 0));
        sim.procs.insert(11, Model::new(2, 4, 0));
        sim.procs.insert(12, Model::new(2, 40, 0));
        let mut c = config(1, 1000);
        c.exclude_pids = vec![12];
        c.min_tables = 10;
        let mut f = Follower::new(c, topology());
        run(&mut f, &mut sim, 2);
        assert_eq!(sim.requests, ["pid=10 node=1"]);
    }

    #[test]
    fn one_process_until_it_exits() {
        let mut sim = Sim::default();
        sim.procs.insert(10, Model::new(2, 4, 0));
        sim.procs.insert(11, Model::new(2, 4, 0));
        let mut c = config(2, 1000);
        c.pid = Some(10);
        let mut f = Follower::new(c, topology());
        let log = run(&mut f, &mut sim, 2);
        assert_eq!(sim.requests, ["pid=10 node=1"]);
        assert_eq!(moves(&log[1]).len(), 1);
        sim.procs.remove(&10);
        let mut events = Vec::new();
        let flow = f
            .tick(&mut sim, Duration::from_secs(1), &|| false, &mut |e| {
                events.push(e.clone())
            })
            .unwrap();
        assert_eq!(
            (flow, events),
            (Flow::Exited, vec![Event::Exited { pid: 10 }])
        );
    }

    #[test]
    fn stop_leaves_due_processes() {
        let mut sim = Sim::default();
        sim.procs.insert(10, Model::new(2, 4, 0));
        let mut f = Follower::new(config(1, 1000), topology());
        let flow = f
            .tick(&mut sim, Duration::ZERO, &|| true, &mut |_| {})
            .unwrap();
        assert_eq!(flow, Flow::Continue);
        assert!(sim.requests.is_empty());
    }

    #[test]
    fn lines() {
        let m = Move {
            comm: "py\nthon".into(),
            ..Move::sample()
        };
        assert_eq!(
            describe(&Event::Moved(m.clone()), 1.25),
            "1.2s pid 42 (py?thon): moved 20 page-table pages to node 1 (pte tables of \
             0x40000000-0x42800000, at most 20 there; 85 misplaced before); its home, where \
             its threads ran, for 2 intervals; budget 20.0 -> 0.0"
        );
        let whole = Move {
            part: None,
            misplaced: 65,
            tables_moved: 63,
            left: Some(2),
            outcome: key_values("skipped_crowded 2\n"),
            ..m
        };
        assert!(describe(&Event::Moved(whole), 3.0).contains(
            "moved 63 page-table pages to node 1 (all 65 misplaced; 2 left elsewhere; \
             skipped: 2 too many files in one span)"
        ));
        assert_eq!(
            describe(&Event::KernelThreads(vec![2, 3, 4, 9]), 0.0),
            "0.0s skipping 4 kernel threads (no page tables of their own): pids 2-4,9"
        );
        let mut c = config(3, 40);
        c.exclude_pids = vec![1, 7];
        c.min_tables = 16;
        assert_eq!(
            describe_start(&c),
            "following every process: every 0.5 s, moving page tables to the home node once \
             it has stayed another node for 3 intervals, at most 40 page tables per second \
             (20 per interval); ignoring processes with fewer than 16 page tables; excluding \
             pids 1,7"
        );
    }
}
