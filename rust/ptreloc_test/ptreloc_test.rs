// SPDX-License-Identifier: GPL-2.0

//! ptreloc_test: drives ptreloc.ko hard, through its in-kernel API.
//!
//! `/sys/kernel/debug/ptreloc_test/`:
//!
//! | file | mode | what |
//! |---|---|---|
//! | `storm` | w | `pids=<p1,p2,...> [seconds=<n>] [seed=<n>] [levels=<list>] [inject=ad] [threads=<n>]` starts a storm (`EBUSY` while one runs); `stop` stops it |
//! | `status` | r | the current or last storm: running or not, why it ended, its counters (`ENODATA` before the first) |
//! | `floor` | rw | write `pages=<n> from=<node> to=<node>`; read back what allocating, copying and freeing that many pages took (`floor.rs`, for `make bench`) |
//! | `rcu_barrier` | w | any write waits until every RCU callback queued before it has run: page tables that processes freed (exit, munmap), and ptreloc's old tables, are gone from the per-node counters when it returns |
//! | `rcu_hold` | w | write `ms=<n>` (1 to 5000): the write spins that long in an RCU read-side critical section, so that no grace period ends meanwhile |
//! | `flush_probe` | rw | write `pid=<p> addr=<a> node=<n>`; read back whether the flush reached the CPUs caching `a` (`probe.rs`) |
//! | `pause` | rw | write `pid=<p> addr=<a> node=<n>`: that move waits between collecting and installing until `resume` is written (`pause.rs`) |
//!
//! Writes need `CAP_SYS_ADMIN`. The storm follows the listed processes and
//! their descendants (see `storm.rs`). Unloading this module stops a storm
//! first; ptreloc cannot be unloaded while this module is loaded (it uses
//! ptreloc's symbols).

use kernel::c_str;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::Mutex;

#[path = "../common/abi.rs"]
mod abi;
#[path = "../common/compat.rs"]
mod compat;
#[path = "../common/debugfs.rs"]
mod debugfs;
#[path = "../common/errno.rs"]
mod errno;
mod floor;
#[path = "../common/ksys.rs"]
mod ksys;
// Shared with ptreloc, which uses all of them; this module uses the parsing
// and the few x86 constants it needs, and not the page-table geometry.
#[allow(dead_code)]
#[path = "../common/level.rs"]
mod level;
mod pause;
mod probe;
mod storm;
mod sys;
#[path = "../common/text.rs"]
mod text;
#[allow(dead_code)]
#[path = "../common/words.rs"]
mod words;
#[allow(dead_code)]
#[path = "../common/x86.rs"]
mod x86;

use debugfs::{check_admin, enodata, Dir, FileKind, FileOps};
use storm::{Command, StormHandle};
use text::TextBuf;
use words::{parse_u64, Words};

module! {
    type: PtrelocTest,
    name: "ptreloc_test",
    description: "Drives ptreloc through its in-kernel API (tests only)",
    license: "GPL",
}

/// What the control files share.
#[pin_data]
struct State {
    /// The current or last storm.
    #[pin]
    storm: Mutex<Option<StormHandle>>,
}

struct Fops {
    storm: FileOps,
    status: FileOps,
    floor: FileOps,
    rcu_barrier: FileOps,
    rcu_hold: FileOps,
    flush_probe: FileOps,
    pause: FileOps,
}

struct PtrelocTest {
    /// `None` only while the module is being unloaded.
    debugfs: Option<Dir>,
    _fops: KBox<Fops>,
    state: Pin<KBox<State>>,
}

impl kernel::Module for PtrelocTest {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let state = KBox::pin_init(
            pin_init!(State {
                storm <- new_mutex!(None),
            }),
            GFP_KERNEL,
        )?;
        let fops = KBox::new(
            Fops {
                storm: FileOps::new::<StormFile>(module),
                status: FileOps::new::<StatusFile>(module),
                floor: FileOps::new::<FloorFile>(module),
                rcu_barrier: FileOps::new::<RcuBarrierFile>(module),
                rcu_hold: FileOps::new::<RcuHoldFile>(module),
                flush_probe: FileOps::new::<FlushProbeFile>(module),
                pause: FileOps::new::<PauseFile>(module),
            },
            GFP_KERNEL,
        )?;
        let dir = Dir::new(c_str!("ptreloc_test"))?;
        // SAFETY: each `FileOps` was made for a kind whose context is `State`;
        // both are boxed, and `drop` removes the directory (which waits for
        // running operations; open files pin the module) before either box
        // is freed.
        unsafe {
            dir.create_file(c_str!("storm"), 0o200, &fops.storm, &*state)?;
            dir.create_file(c_str!("status"), 0o400, &fops.status, &*state)?;
            dir.create_file(c_str!("floor"), 0o600, &fops.floor, &*state)?;
            dir.create_file(c_str!("rcu_barrier"), 0o200, &fops.rcu_barrier, &*state)?;
            dir.create_file(c_str!("rcu_hold"), 0o200, &fops.rcu_hold, &*state)?;
            dir.create_file(c_str!("flush_probe"), 0o600, &fops.flush_probe, &*state)?;
            dir.create_file(c_str!("pause"), 0o600, &fops.pause, &*state)?;
        }
        Ok(Self {
            debugfs: Some(dir),
            _fops: fops,
            state,
        })
    }
}

impl Drop for PtrelocTest {
    fn drop(&mut self) {
        // No new storm once the directory is gone; then stop the last one.
        drop(self.debugfs.take());
        drop(self.state.storm.lock().take());
    }
}

/// `storm`.
struct StormFile {
    ctx: &'static State,
}

impl FileKind for StormFile {
    type Ctx = State;

    fn open(ctx: &'static State) -> Result<Self> {
        Ok(Self { ctx })
    }

    fn store(&mut self, input: &[u8]) -> Option<Result> {
        Some(self.run(input))
    }
}

impl StormFile {
    fn run(&self, input: &[u8]) -> Result {
        check_admin()?;
        let command = Command::parse(input).map_err(|_| EINVAL)?;
        let mut current = self.ctx.storm.lock();
        match command {
            Command::Stop => {
                if let Some(storm) = &mut *current {
                    storm.stop();
                }
            }
            Command::Start(cfg) => {
                if current.as_ref().is_some_and(StormHandle::running) {
                    return Err(EBUSY);
                }
                // Reap the last storm's threads before starting new ones.
                drop(current.take());
                *current = Some(StormHandle::start(cfg)?);
            }
        }
        Ok(())
    }
}

/// `status`.
struct StatusFile {
    ctx: &'static State,
}

impl FileKind for StatusFile {
    type Ctx = State;

    fn open(ctx: &'static State) -> Result<Self> {
        Ok(Self { ctx })
    }

    fn show(&mut self, out: &mut TextBuf) -> Option<Result> {
        let current = self.ctx.storm.lock();
        Some(match current.as_ref() {
            None => Err(enodata()),
            Some(storm) => storm.format(out).map_err(|_| ENOMEM),
        })
    }
}

/// `rcu_barrier`: the tests' way to settle per-node page-table counters
/// before they read them.
struct RcuBarrierFile;

impl FileKind for RcuBarrierFile {
    type Ctx = State;

    fn open(_ctx: &'static State) -> Result<Self> {
        Ok(Self)
    }

    fn store(&mut self, _input: &[u8]) -> Option<Result> {
        Some(check_admin().map(|()| {
            // SAFETY: process context (a write), no locks held.
            unsafe { kernel::bindings::rcu_barrier() }
        }))
    }
}

/// `rcu_hold`: keeps grace periods from ending for a while, so that a test
/// can see that a relocation does not wait for one.
struct RcuHoldFile;

impl RcuHoldFile {
    /// The longest hold: far below the RCU stall warning (21 s and more).
    const MAX_MS: u64 = 5000;
}

impl FileKind for RcuHoldFile {
    type Ctx = State;

    fn open(_ctx: &'static State) -> Result<Self> {
        Ok(Self)
    }

    fn store(&mut self, input: &[u8]) -> Option<Result> {
        Some(check_admin().and_then(|()| {
            let words = Words::parse(input, &["ms"]).map_err(|_| EINVAL)?;
            let ms = words.require(0).and_then(parse_u64).map_err(|_| EINVAL)?;
            if ms == 0 || ms > Self::MAX_MS {
                return Err(EINVAL);
            }
            let end = ksys::now_ns() + ms * 1_000_000;
            let _rcu = ksys::RcuReadGuard::new();
            while ksys::now_ns() < end {
                core::hint::spin_loop();
            }
            Ok(())
        }))
    }
}

/// `floor`.
struct FloorFile {
    floor: Option<floor::Floor>,
}

impl FileKind for FloorFile {
    type Ctx = State;

    fn open(_ctx: &'static State) -> Result<Self> {
        Ok(Self { floor: None })
    }

    fn store(&mut self, input: &[u8]) -> Option<Result> {
        self.floor = None;
        Some(
            check_admin()
                .and_then(|()| floor::measure(input))
                .map(|f| self.floor = Some(f)),
        )
    }

    fn show(&mut self, out: &mut TextBuf) -> Option<Result> {
        Some(match &self.floor {
            None => Err(enodata()),
            Some(f) => f.format(out).map_err(|_| ENOMEM),
        })
    }
}

/// `flush_probe`.
struct FlushProbeFile {
    probe: Option<probe::Probe>,
}

impl FileKind for FlushProbeFile {
    type Ctx = State;

    fn open(_ctx: &'static State) -> Result<Self> {
        Ok(Self { probe: None })
    }

    fn store(&mut self, input: &[u8]) -> Option<Result> {
        self.probe = None;
        Some(
            check_admin()
                .and_then(|()| probe::Probe::run(input))
                .map(|p| self.probe = Some(p)),
        )
    }

    fn show(&mut self, out: &mut TextBuf) -> Option<Result> {
        Some(match &self.probe {
            None => Err(enodata()),
            Some(p) => p.format(out),
        })
    }
}

/// `pause`.
struct PauseFile {
    paused: Option<pause::Paused>,
}

impl FileKind for PauseFile {
    type Ctx = State;

    fn open(_ctx: &'static State) -> Result<Self> {
        Ok(Self { paused: None })
    }

    fn store(&mut self, input: &[u8]) -> Option<Result> {
        Some(check_admin().and_then(|()| {
            if core::str::from_utf8(input).map(str::trim) == Ok("resume") {
                return pause::resume();
            }
            self.paused = None;
            pause::Paused::run(input).map(|p| self.paused = Some(p))
        }))
    }

    fn show(&mut self, out: &mut TextBuf) -> Option<Result> {
        Some(pause::Paused::format(self.paused.as_ref(), out))
    }
}
