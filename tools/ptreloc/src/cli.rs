// SPDX-License-Identifier: GPL-2.0

//! Running a parsed command.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGINT, SIGTERM};

use crate::args::{Command, Invocation};
use crate::errors::{Context, Failure};
use crate::follow::{self, Config, Event, Flow, Follower};
use crate::json::{self, FollowLine, KeyValues};
use crate::kernel;
use crate::overview;
use crate::progress::{self, Watch};
use crate::report::{self, key_values, summarize_outcome};
use crate::topology::Topology;

/// Runs a command, writing its output to stdout.
pub fn run(inv: &Invocation) -> Result<(), Failure> {
    let json = inv.json;
    match &inv.command {
        Command::Show { pid: Some(pid), .. } => show(*pid, json),
        Command::Show { pid: None, .. } => show_all(json),
        Command::Stats => {
            let kv = key_values(&kernel::read("stats")?);
            if json {
                json::print(&KeyValues(&kv));
            } else {
                for (k, v) in kv {
                    println!("{k:<26} {v}");
                }
            }
            Ok(())
        }
        Command::Move {
            pid,
            node,
            range,
            levels,
            zone,
        } => {
            check_node(*node)?;
            let mut req = format!("pid={pid} node={node}");
            if let Some((start, end)) = range {
                req += &format!(" start=0x{start:x} end=0x{end:x}");
            }
            for (key, value) in [("levels", levels), ("zone", zone)] {
                if let Some(v) = value {
                    req += &format!(" {key}={v}");
                }
            }
            let ctx = Context {
                pid: Some(*pid),
                node: Some(*node),
            };
            // The census counts a process's PTE tables per node, over its
            // whole address space and every zone: what such a move changes.
            let counted = range.is_none()
                && zone.is_none()
                && levels
                    .as_deref()
                    .is_none_or(|l| l.split(',').any(|l| l == "pte"));
            let watch = if counted {
                Watch::PteTables {
                    pid: *pid,
                    node: *node,
                }
            } else {
                Watch::Elapsed(format!(
                    "moving the page tables of process {pid} to node {node}"
                ))
            };
            request("relocate", &req, ctx, json, watch)
        }
        Command::Evacuate {
            pfns,
            node,
            levels,
            zone,
        } => {
            if let Some(n) = node {
                check_node(*n)?;
            }
            let mut req = format!("pfn_start=0x{:x} pfn_end=0x{:x}", pfns.0, pfns.1);
            if let Some(n) = node {
                req += &format!(" node={n}");
            }
            for (key, value) in [("levels", levels), ("zone", zone)] {
                if let Some(v) = value {
                    req += &format!(" {key}={v}");
                }
            }
            let ctx = Context {
                pid: None,
                node: *node,
            };
            let watch = Watch::Elapsed(format!(
                "moving the page tables out of PFNs 0x{:x}-0x{:x}",
                pfns.0, pfns.1
            ));
            request("evacuate", &req, ctx, json, watch)
        }
        Command::Follow {
            pid,
            interval,
            settle,
            max_tables_per_second,
            exclude_pids,
            min_tables,
            ..
        } => follow(
            Config {
                pid: *pid,
                interval: *interval,
                settle: *settle,
                max_tables_per_second: *max_tables_per_second,
                exclude_pids: exclude_pids.clone(),
                min_tables: min_tables.unwrap_or(0),
            },
            json,
        ),
    }
}

/// Refuses a node without memory before asking the kernel.
fn check_node(node: u32) -> Result<(), Failure> {
    match kernel::nodes_with_memory() {
        Some(nodes) if !nodes.contains(&node) => Err(Failure::Usage(format!(
            "node {node} has no memory (nodes with memory: {})",
            nodes
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(",")
        ))),
        _ => Ok(()),
    }
}

fn show(pid: u32, json: bool) -> Result<(), Failure> {
    let census = kernel::census(pid)?;
    let data = report::numa_maps_kb(&kernel::numa_maps(pid)?, census.nodes);
    if json {
        json::print(&json::Show::new(pid, &census, &data));
    } else {
        print!("{}", report::format_show(pid, &census, &data));
    }
    Ok(())
}

/// `show --all`: one pass over every process.
fn show_all(json: bool) -> Result<(), Failure> {
    let overview = overview::take()?;
    if json {
        json::print(&json::ShowAll::new(&overview));
    } else {
        print!("{}", overview.format());
    }
    Ok(())
}

/// Runs a request and prints its outcome; while it runs, shows `watch`
/// (on a terminal, without --json).
fn request(file: &str, req: &str, ctx: Context, json: bool, watch: Watch) -> Result<(), Failure> {
    let run = || kernel::request(file, req, ctx);
    let (outcome, result) = if json {
        run()
    } else {
        progress::around(watch, run)
    };
    if let Some(text) = outcome {
        let kv = key_values(&text);
        if json {
            json::print(&KeyValues(&kv));
        } else {
            print!("{}", summarize_outcome(&kv));
        }
    }
    result
}

/// The signal that asked `follow` to stop (`SIGTERM`, `SIGINT`), 0 until
/// then.
static STOP: AtomicUsize = AtomicUsize::new(0);

/// Sleeps are cut to this, to see a signal soon.
const NAP: Duration = Duration::from_millis(100);

fn signal_name(signal: usize) -> String {
    match signal as i32 {
        SIGTERM => "SIGTERM".into(),
        SIGINT => "SIGINT".into(),
        other => format!("signal {other}"),
    }
}

/// `follow <pid>` and `follow --all` (`follow.rs`): an interval at a time
/// until the process exits or a signal comes. On SIGTERM or SIGINT, a
/// request under way finishes (the kernel runs it whole), the processes
/// still due are left, the summary is printed, and the exit status is 0.
fn follow(config: Config, json: bool) -> Result<(), Failure> {
    // Refused before anything is read when ptreloc cannot be reached.
    let mut world = follow::Proc::open()?;
    for signal in [SIGTERM, SIGINT] {
        signal_hook::flag::register_usize(signal, &STOP, signal as usize)
            .map_err(|e| Failure::Kernel(format!("cannot catch signal {signal}: {e}")))?;
    }
    let stopped = || STOP.load(Ordering::SeqCst) != 0;
    let interval = Duration::from_secs_f64(config.interval);
    if json {
        json::print(&FollowLine::started(&config));
    } else {
        println!("{}", follow::describe_start(&config));
    }
    let mut follower = Follower::new(config, Topology::read());
    let start = Instant::now();
    let mut next = Duration::ZERO;
    loop {
        let now = start.elapsed();
        let t = now.as_secs_f64();
        let tick = follower.intervals() + 1;
        let flow = follower.tick(&mut world, now, &stopped, &mut |event| {
            if json {
                if let Some(line) = FollowLine::event(event, t, tick) {
                    json::print(&line);
                }
            } else if !matches!(event, Event::Exited { .. }) {
                println!("{}", follow::describe(event, t));
            }
        })?;
        if flow == Flow::Exited {
            let summary = follower.summary(start.elapsed().as_secs_f64());
            let pid = follower.config().pid.unwrap_or(0);
            if json {
                json::print(&FollowLine::Exited {
                    pid,
                    summary: json::Summary::new(&summary),
                });
            } else {
                let why = format!("process {pid} exited");
                println!("{}", follow::describe_summary(&why, &summary));
            }
            return Ok(());
        }
        // The next interval starts one interval after this one did, or at
        // once if this one took longer.
        next = (next + interval).max(start.elapsed());
        while !stopped() {
            let left = next.saturating_sub(start.elapsed());
            if left.is_zero() {
                break;
            }
            std::thread::sleep(left.min(NAP));
        }
        if stopped() {
            break;
        }
    }
    let summary = follower.summary(start.elapsed().as_secs_f64());
    let signal = signal_name(STOP.load(Ordering::SeqCst));
    if json {
        json::print(&FollowLine::Stopped {
            signal: &signal,
            summary: json::Summary::new(&summary),
        });
    } else {
        let why = format!("stopped by {signal}");
        println!("{}", follow::describe_summary(&why, &summary));
    }
    let _ = std::io::stdout().flush();
    Ok(())
}
