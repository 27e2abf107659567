// SPDX-License-Identifier: GPL-2.0

//! Running a parsed command.

use std::io::Write;
use std::time::Duration;

use crate::args::{Command, Invocation};
use crate::errors::{Context, Failure};
use crate::json::{self, FollowEvent, KeyValues};
use crate::kernel;
use crate::overview;
use crate::progress::{self, Watch};
use crate::report::{self, key_values, summarize_outcome};

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
        Command::Follow { pid, interval } => follow(*pid, *interval, json),
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

/// Keeps the process's page tables where most of its data is.
///
/// Tables a request could not move (skipped: crowded, contended, hugetlb)
/// would be asked for again at every interval; after a move, the tables
/// still elsewhere are remembered, and the next request waits for more of
/// them or for the data to move to another node.
fn follow(pid: u32, interval: f64, json: bool) -> Result<(), Failure> {
    let mut stuck: Option<(usize, u64)> = None;
    // The process may start exiting at any point of an iteration: a request
    // that fails then (ESRCH) means it has gone, not that following failed.
    loop {
        if !kernel::has_address_space(pid) {
            break;
        }
        let (census, maps) = match (kernel::census(pid), kernel::numa_maps(pid)) {
            (Ok(c), Ok(m)) => (c, m),
            // It exited between the checks.
            _ if !kernel::has_address_space(pid) => break,
            (Err(e), _) | (_, Err(e)) => return Err(e),
        };
        let data = report::numa_maps_kb(&maps, census.nodes);
        if let Some(home) = report::majority_node(&data) {
            let off = census.movable_off(home);
            let known = stuck.is_some_and(|(node, n)| node == home && off <= n);
            if off > 0 && !known {
                let req = format!("pid={pid} node={home}");
                let ctx = Context {
                    pid: Some(pid),
                    node: Some(home as u32),
                };
                let (outcome, result) = kernel::request("relocate", &req, ctx);
                let kv = key_values(outcome.as_deref().unwrap_or(""));
                if json {
                    json::print(&FollowEvent::Moved {
                        pid,
                        node: home,
                        data_kb: &data,
                        result: KeyValues(&kv),
                    });
                } else {
                    print!(
                        "most of process {pid}'s data is on node {home} ({} MiB of {} MiB): {}",
                        data[home] / 1024,
                        data.iter().sum::<u64>() / 1024,
                        summarize_outcome(&kv)
                    );
                }
                let _ = std::io::stdout().flush();
                match result {
                    Ok(()) => {}
                    Err(_) if !kernel::has_address_space(pid) => break,
                    Err(e) => return Err(e),
                }
                let left = kernel::census(pid).map_or(0, |c| c.movable_off(home));
                stuck = Some((home, left));
            }
        }
        std::thread::sleep(Duration::from_secs_f64(interval));
    }
    if json {
        json::print(&FollowEvent::Exited { pid });
    } else {
        println!("process {pid} exited");
    }
    Ok(())
}
