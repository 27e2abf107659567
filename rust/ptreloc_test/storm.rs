// SPDX-License-Identifier: GPL-2.0

//! A storm: kernel threads that relocate random ranges of a set of
//! processes, and of their descendants, to random nodes with random batch
//! sizes, as fast as they can, through ptreloc's in-kernel API.
//!
//! A storm ends when it is stopped, when its time is up, or when none of
//! the processes (nor any descendant) is left. Its threads then park in a
//! sleep until [`Storm::stop`] reaps them, so that `kthread_stop` always
//! finds them alive.

use core::fmt::Write;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering::Relaxed};

use kernel::bindings;
use kernel::ffi::{c_int, c_ulong, c_void};
use kernel::prelude::*;
use kernel::sync::Arc;

use crate::abi::{
    PtrelocAdLog, PtrelocAdRecord, PtrelocOutcome, PtrelocRequest, LEVEL_PMD, LEVEL_PTE,
};
use crate::compat;
use crate::errno;
use crate::ksys;
use crate::level::{Level, Levels};
use crate::sys;
use crate::text::TextBuf;
use crate::words::{parse_pid, parse_u64, ParseError, Words};
use crate::x86::{PAGE_SIZE, PTE_ACCESSED, PTE_PRESENT, PTE_PSE, USER_END_L4};

/// At most this many processes per storm (their descendants come free).
const MAX_PIDS: usize = 16;
/// Threads per storm: default and maximum.
const DEFAULT_THREADS: u32 = 2;
const MAX_THREADS: u32 = 8;
/// The processes a thread chooses from, per iteration.
const MAX_TARGETS: usize = 256;
/// A descendant is looked for this many generations down.
const MAX_DEPTH: usize = 64;
/// Largest random batch.
const MAX_BATCH: u64 = 128;
/// With `inject=ad`: entries per table moved, and per request.
const AD_PER_TABLE: u32 = 2;
const AD_RECORDS: usize = 128;
/// `TASK_SIZE_MAX` with 4-level paging; ptreloc clamps to the mm's own.
const USER_END: u64 = USER_END_L4 as u64;
const PAGE_MASK: u64 = !(PAGE_SIZE as u64 - 1);
/// The bits of an entry that hold the physical frame (without memory
/// encryption: enough to tell whether an entry was remapped).
const PTE_PFN_MASK: u64 = 0x000f_ffff_ffff_f000;

/// A write to `storm`.
pub(crate) enum Command {
    /// `pids=<p1,p2,...> [seconds=<n>] [seed=<n>] [levels=<list>]
    /// [inject=ad] [threads=<n>]`.
    Start(Config),
    /// `stop`.
    Stop,
}

/// What a storm does.
#[derive(Clone, Copy)]
pub(crate) struct Config {
    pids: [i32; MAX_PIDS],
    npids: usize,
    /// 0: no time limit.
    seconds: u64,
    /// `None`: chosen at random when the storm starts.
    seed: Option<u64>,
    levels: Levels,
    inject_ad: bool,
    threads: u32,
}

impl Command {
    pub(crate) fn parse(input: &[u8]) -> Result<Self, ParseError> {
        const KEYS: [&str; 6] = ["pids", "seconds", "seed", "levels", "inject", "threads"];
        if core::str::from_utf8(input).map(str::trim) == Ok("stop") {
            return Ok(Command::Stop);
        }
        let words = Words::parse(input, &KEYS)?;
        let mut cfg = Config {
            pids: [0; MAX_PIDS],
            npids: 0,
            seconds: words.get(1).map_or(Ok(0), parse_u64)?,
            seed: words.get(2).map(parse_u64).transpose()?,
            levels: Levels::parse_or_all(words.get(3))?,
            inject_ad: match words.get(4) {
                None => false,
                Some("ad") => true,
                Some(_) => return Err(ParseError::UnknownKey),
            },
            threads: match words
                .get(5)
                .map_or(Ok(u64::from(DEFAULT_THREADS)), parse_u64)?
            {
                n @ 1.. if n <= u64::from(MAX_THREADS) => n as u32,
                _ => return Err(ParseError::BadNumber),
            },
        };
        for pid in words.require(0)?.split(',') {
            let slot = cfg.pids.get_mut(cfg.npids).ok_or(ParseError::TooLong)?;
            *slot = parse_pid(pid)?;
            cfg.npids += 1;
        }
        Ok(Command::Start(cfg))
    }
}

/// Why a storm ended.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum End {
    Running = 0,
    Stopped,
    Timeout,
    Exited,
}

impl End {
    fn name(self) -> &'static str {
        match self {
            End::Running => "-",
            End::Stopped => "stopped",
            End::Timeout => "timeout",
            End::Exited => "exited",
        }
    }

    fn from_u8(v: u8) -> Self {
        [End::Running, End::Stopped, End::Timeout, End::Exited]
            .into_iter()
            .find(|e| *e as u8 == v)
            .unwrap_or(End::Running)
    }
}

/// Counters, updated by the threads and read by `status`.
#[derive(Default)]
struct Counters {
    /// Requests made, and those that moved at least one table.
    iterations: AtomicU64,
    relocations: AtomicU64,
    /// Tables moved per level, deposited tables moved.
    moved: [AtomicU64; 3],
    deposits: AtomicU64,
    ad_carried: AtomicU64,
    anomalies: AtomicU64,
    /// Failed requests by errno.
    errors: errno::Counts,
    /// `inject=ad`: entries whose bits ptreloc set; of those, PTEs and
    /// huge-page PMD entries given Accessed (visible as `Referenced` in
    /// smaps); then what the check found: the bits in place, the entry gone
    /// or remapped meanwhile, or the bits missing from the same mapping
    /// (lost).
    ad_injected: AtomicU64,
    ad_injected_pte_accessed: AtomicU64,
    ad_injected_huge_accessed: AtomicU64,
    ad_verified: AtomicU64,
    ad_changed: AtomicU64,
    ad_lost: AtomicU64,
}

/// A running or finished storm.
pub(crate) struct Storm {
    cfg: Config,
    seed: u64,
    /// Nodes with memory, fixed at start.
    nodes: [i32; 64],
    nnodes: usize,
    counters: Counters,
    /// Threads still in their loop, and the next thread index to hand out.
    active: AtomicU32,
    next_index: AtomicU32,
    end: AtomicU8,
    started_ns: u64,
    ended_ns: AtomicU64,
}

/// A storm and its threads.
pub(crate) struct StormHandle {
    storm: Arc<Storm>,
    threads: KVec<NonNull<bindings::task_struct>>,
}

// SAFETY: the task pointers are only passed to `kthread_stop`, which may be
// called from any process context.
unsafe impl Send for StormHandle {}

impl StormHandle {
    /// Starts the threads of a storm.
    pub(crate) fn start(cfg: Config) -> Result<Self> {
        let mut nodes = [0; 64];
        let mut nnodes = 0;
        // SAFETY: fixed after boot.
        let nr_node_ids = unsafe { bindings::nr_node_ids } as i32;
        for nid in 0..nr_node_ids.min(nodes.len() as i32) {
            if ksys::node_has_memory(nid) {
                nodes[nnodes] = nid;
                nnodes += 1;
            }
        }
        if nnodes == 0 {
            return Err(ENODEV);
        }
        let storm = Arc::new(
            Storm {
                cfg,
                // SAFETY: may be called from process context.
                seed: cfg
                    .seed
                    .unwrap_or_else(|| unsafe { bindings::get_random_u64() }),
                nodes,
                nnodes,
                counters: Counters::default(),
                active: AtomicU32::new(cfg.threads),
                next_index: AtomicU32::new(0),
                end: AtomicU8::new(End::Running as u8),
                started_ns: ksys::now_ns(),
                ended_ns: AtomicU64::new(0),
            },
            GFP_KERNEL,
        )?;
        let mut handle = Self {
            storm,
            threads: KVec::with_capacity(cfg.threads as usize, GFP_KERNEL)?,
        };
        for index in 0..cfg.threads {
            let data = core::ptr::from_ref::<Storm>(&handle.storm)
                .cast_mut()
                .cast::<c_void>();
            // SAFETY: `data` points to the storm, which `handle` keeps alive
            // until `stop` has stopped every thread.
            let task = unsafe { sys::ptreloc_test_kthread_run(storm_thread, data, index) };
            match kernel::error::from_err_ptr(task).map(NonNull::new) {
                Ok(Some(task)) => handle.threads.push(task, GFP_KERNEL)?,
                Ok(None) | Err(_) => {
                    // The threads not created never count as active.
                    handle.storm.active.fetch_sub(cfg.threads - index, Relaxed);
                    return Err(ENOMEM);
                }
            }
        }
        Ok(handle)
    }

    /// Whether any thread is still relocating.
    pub(crate) fn running(&self) -> bool {
        self.storm.active.load(Relaxed) != 0
    }

    /// Stops the threads and waits for them; the counters stay readable.
    pub(crate) fn stop(&mut self) {
        self.storm.finish(End::Stopped);
        for task in self.threads.iter() {
            // SAFETY: a thread we created and have not stopped yet; its
            // function does not return before `kthread_should_stop`.
            let ret = unsafe { bindings::kthread_stop(task.as_ptr()) };
            // A thread stopped before it was first scheduled exits without
            // running its function (`kthread()`), which returns 0 otherwise:
            // it never got to leave the active count. (A stop right after a
            // start, as the race suite's inject_ad does, found the storm
            // still "running", and the next start failed with EBUSY.)
            if ret == -(bindings::EINTR as c_int) {
                self.storm.active.fetch_sub(1, Relaxed);
            }
        }
        compat::truncate(&mut self.threads, 0);
    }

    /// The `status` file.
    pub(crate) fn format(&self, out: &mut TextBuf) -> core::fmt::Result {
        let s = &*self.storm;
        let c = &s.counters;
        let end = End::from_u8(s.end.load(Relaxed));
        let until = match s.ended_ns.load(Relaxed) {
            0 => ksys::now_ns(),
            t => t,
        };
        writeln!(out, "running {}", u8::from(self.running()))?;
        writeln!(out, "ended {}", end.name())?;
        write!(out, "pids")?;
        for (i, pid) in s.cfg.pids[..s.cfg.npids].iter().enumerate() {
            write!(out, "{}{pid}", if i == 0 { ' ' } else { ',' })?;
        }
        writeln!(out)?;
        write!(out, "levels")?;
        for (i, level) in s.cfg.levels.iter().enumerate() {
            write!(out, "{}{}", if i == 0 { ' ' } else { ',' }, level.name())?;
        }
        writeln!(out)?;
        writeln!(
            out,
            "inject {}",
            if s.cfg.inject_ad { "ad" } else { "none" }
        )?;
        writeln!(out, "seed {}", s.seed)?;
        writeln!(out, "threads {}", s.cfg.threads)?;
        writeln!(out, "elapsed_ms {}", (until - s.started_ns) / 1_000_000)?;
        out.rows(
            [
                ("iterations", &c.iterations),
                ("relocations", &c.relocations),
                ("pte_moved", &c.moved[0]),
                ("pmd_moved", &c.moved[1]),
                ("pud_moved", &c.moved[2]),
                ("deposits_moved", &c.deposits),
                ("ad_entries_carried", &c.ad_carried),
                ("anomalies", &c.anomalies),
                ("ad_injected", &c.ad_injected),
                ("ad_injected_pte_accessed", &c.ad_injected_pte_accessed),
                ("ad_injected_huge_accessed", &c.ad_injected_huge_accessed),
                ("ad_verified", &c.ad_verified),
                ("ad_changed", &c.ad_changed),
                ("ad_lost", &c.ad_lost),
            ]
            .map(|(name, value)| (name, value.load(Relaxed))),
        )?;
        c.errors.write(out, "errors_")?;
        Ok(())
    }
}

impl Drop for StormHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The thread function.
///
/// # Safety
///
/// `data` points to a [`Storm`] that outlives the thread (see
/// [`StormHandle::start`]).
unsafe extern "C" fn storm_thread(data: *mut c_void) -> c_int {
    // SAFETY: see above.
    let storm = unsafe { &*data.cast::<Storm>() };
    storm.run();
    // Park until reaped: `kthread_stop` needs the task alive.
    // SAFETY: called from this kthread.
    while !unsafe { bindings::kthread_should_stop() } {
        // SAFETY: process context; `kthread_stop` wakes us.
        unsafe {
            bindings::schedule_timeout_interruptible(bindings::__msecs_to_jiffies(1000) as _)
        };
    }
    0
}

/// xorshift64*: fast, and reproducible from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

impl Storm {
    /// Records why the storm ended; the first reason wins.
    fn finish(&self, why: End) {
        if self
            .end
            .compare_exchange(End::Running as u8, why as u8, Relaxed, Relaxed)
            .is_ok()
        {
            self.ended_ns.store(ksys::now_ns(), Relaxed);
        }
    }

    fn ended(&self) -> bool {
        self.end.load(Relaxed) != End::Running as u8
    }

    /// One thread's loop.
    fn run(&self) {
        let index = self.next_index.fetch_add(1, Relaxed);
        let mut rng =
            Rng(self.seed ^ (u64::from(index) + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let deadline = match self.cfg.seconds {
            0 => u64::MAX,
            s => self
                .started_ns
                .saturating_add(s.saturating_mul(1_000_000_000)),
        };
        let (Ok(mut targets), Ok(mut records)) = (
            KVec::with_capacity(MAX_TARGETS, GFP_KERNEL),
            KVec::with_capacity(AD_RECORDS, GFP_KERNEL),
        ) else {
            // No request ran, so no errno: counted as `other`.
            self.counters.errors.add(0);
            self.active.fetch_sub(1, Relaxed);
            return;
        };
        loop {
            // SAFETY: called from this kthread.
            if self.ended() || unsafe { bindings::kthread_should_stop() } {
                break;
            }
            if ksys::now_ns() >= deadline {
                self.finish(End::Timeout);
                break;
            }
            self.collect_targets(&mut targets);
            if targets.is_empty() {
                self.finish(End::Exited);
                break;
            }
            let pid = targets[rng.below(targets.len() as u64) as usize];
            self.relocate_once(pid, &mut rng, &mut records);
            ksys::cond_resched();
        }
        self.active.fetch_sub(1, Relaxed);
    }

    /// The listed processes still alive, and their descendants.
    fn collect_targets(&self, targets: &mut KVec<i32>) {
        compat::truncate(targets, 0);
        let listed = &self.cfg.pids[..self.cfg.npids];
        let mut next = ksys::Pid::next_thread_group(1).map(|(_, tgid)| tgid);
        while let Some(tgid) = next {
            if targets.len() >= MAX_TARGETS {
                break;
            }
            let mut ancestor = tgid;
            for _ in 0..MAX_DEPTH {
                if listed.contains(&ancestor) {
                    // Cannot fail: room for MAX_TARGETS was reserved.
                    let _ = targets.push(tgid, GFP_NOWAIT);
                    break;
                }
                if ancestor <= 1 {
                    break;
                }
                // SAFETY: looks the process up under RCU, takes no reference.
                ancestor = unsafe { sys::ptreloc_test_parent_tgid(ancestor) };
            }
            next = ksys::Pid::next_thread_group(tgid + 1).map(|(_, tgid)| tgid);
        }
    }

    /// A random range of `pid`: all of it one time in eight, else 2 MiB to
    /// 4 GiB around its code, heap, mmap base or stack.
    fn random_range(pid: i32, rng: &mut Rng) -> Option<(u64, u64)> {
        let mut anchors: [c_ulong; 4] = [0; 4];
        // SAFETY: `anchors` has room for the four values written.
        if !unsafe { sys::ptreloc_test_mm_anchors(pid, anchors.as_mut_ptr()) } {
            return None;
        }
        if rng.below(8) == 0 {
            return Some((0, USER_END));
        }
        let anchor = anchors[rng.below(4) as usize] as u64;
        let len = 1u64 << (21 + rng.below(12));
        let start = anchor.saturating_sub(rng.below(len)) & PAGE_MASK;
        Some((start, start.saturating_add(len).min(USER_END)))
    }

    fn relocate_once(&self, pid: i32, rng: &mut Rng, records: &mut KVec<PtrelocAdRecord>) {
        let c = &self.counters;
        let Some((start, end)) = Self::random_range(pid, rng) else {
            return;
        };
        compat::truncate(records, 0);
        let mut log = PtrelocAdLog {
            records: records.as_mut_ptr(),
            capacity: records.capacity() as u32,
            len: 0,
            per_table: AD_PER_TABLE,
            seed: rng.next() as u32,
            ..Default::default()
        };
        let req = PtrelocRequest {
            pid,
            node: self.nodes[rng.below(self.nnodes as u64) as usize],
            start,
            end,
            levels: self.cfg.levels.iter().map(Level::mask).sum(),
            batch: 1 + rng.below(MAX_BATCH) as u32,
            inject: if self.cfg.inject_ad {
                &mut log
            } else {
                core::ptr::null_mut()
            },
        };
        let mut out = PtrelocOutcome::default();
        // SAFETY: `req` and `out` are valid; the log's records are ours and
        // untouched until the call returns.
        let ret = unsafe { sys::ptreloc_relocate(&req, &mut out) };
        c.iterations.fetch_add(1, Relaxed);
        // `kthread_stop` sets TIF_NOTIFY_SIGNAL, which interrupts a request
        // waiting for another one on the same mm: that EINTR is the stop.
        // SAFETY: called from this kthread.
        let stopping = ret == EINTR.to_errno() && unsafe { bindings::kthread_should_stop() };
        if ret != 0 && !stopping {
            let before = c.errors.add(ret);
            // A process exiting or a node filling up is expected; anything
            // else is logged, the first few times, with the request.
            if ![ESRCH, ENOMEM].iter().any(|e| e.to_errno() == ret) && before < 4 {
                pr_info!(
                    "storm: pid {pid} {start:#x}-{end:#x} node {} batch {} levels {:#x}: error {ret} ({})\n",
                    req.node,
                    req.batch,
                    req.levels,
                    errno::name(ret)
                );
            }
        }
        for (counter, moved) in c.moved.iter().zip(out.moved) {
            counter.fetch_add(moved, Relaxed);
        }
        c.deposits.fetch_add(out.deposits_moved, Relaxed);
        c.ad_carried.fetch_add(out.ad_entries, Relaxed);
        c.anomalies.fetch_add(out.anomalies, Relaxed);
        if out.moved.iter().sum::<u64>() + out.deposits_moved != 0 {
            c.relocations.fetch_add(1, Relaxed);
        }
        // SAFETY: `records` was empty, and ptreloc wrote `log.len` records
        // from its start, at most the capacity.
        unsafe { compat::take_filled(records, log.len.min(log.capacity) as usize) };
        for rec in records.iter() {
            self.check_injected(pid, rec);
        }
    }

    /// Checks that the bits ptreloc set in an old entry are in the live one.
    fn check_injected(&self, pid: i32, rec: &PtrelocAdRecord) {
        let c = &self.counters;
        c.ad_injected.fetch_add(1, Relaxed);
        if rec.bits & PTE_ACCESSED != 0 {
            if rec.level == LEVEL_PTE {
                c.ad_injected_pte_accessed.fetch_add(1, Relaxed);
            } else if rec.level == LEVEL_PMD && rec.was & PTE_PSE != 0 {
                c.ad_injected_huge_accessed.fetch_add(1, Relaxed);
            }
        }
        let mut now = 0u64;
        // SAFETY: `now` is a valid u64 to write.
        let ret = unsafe { sys::ptreloc_read_entry(pid, rec.level, rec.addr as c_ulong, &mut now) };
        if ret != 0 || now & PTE_PRESENT == 0 || (now ^ rec.was) & PTE_PFN_MASK != 0 {
            c.ad_changed.fetch_add(1, Relaxed);
        } else if now & rec.bits == rec.bits {
            c.ad_verified.fetch_add(1, Relaxed);
        } else {
            // The first few are enough to debug with; `status` counts all.
            if c.ad_lost.fetch_add(1, Relaxed) >= 8 {
                return;
            }
            pr_err!(
                "A/D bits lost: pid {pid} level {} addr {:#x}: was {:#x}, set {:#x}, now {:#x}\n",
                rec.level,
                rec.addr,
                rec.was,
                rec.bits,
                now
            );
        }
    }
}
