// SPDX-License-Identifier: GPL-2.0

//! What `--json` prints (serde): one compact JSON object per line on stdout.

use serde::{Serialize, Serializer};

use crate::follow::{self, Event};
use crate::overview::{self, Overview};
use crate::report::{majority_node, Census};

/// Prints `line` as one line of JSON.
pub fn print(line: &impl Serialize) {
    // Plain data with string keys: serializing it cannot fail.
    println!(
        "{}",
        serde_json::to_string(line).expect("JSON of plain data")
    );
}

/// `key value` lines (`result`, `stats`) as an object, in their order:
/// decimal values become numbers, anything else (hex addresses, names)
/// stays a string.
pub struct KeyValues<'a>(pub &'a [(String, String)]);

impl Serialize for KeyValues<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| {
            let value = v
                .parse::<u64>()
                .map_or_else(|_| serde_json::Value::from(v.as_str()), Into::into);
            (k, value)
        }))
    }
}

/// The census as an object: per-node counts by level, in the census's
/// order (PGD to PTE).
struct Tables<'a>(&'a [(String, Vec<u64>)]);

impl Serialize for Tables<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(level, counts)| (level, counts)))
    }
}

/// `show`: page tables per level and node, data per node.
#[derive(Serialize)]
pub struct Show<'a> {
    pid: u32,
    tables: Tables<'a>,
    data_kb: &'a [u64],
    data_majority_node: Option<usize>,
}

impl<'a> Show<'a> {
    pub fn new(pid: u32, census: &'a Census, data_kb: &'a [u64]) -> Self {
        Self {
            pid,
            tables: Tables(&census.levels),
            data_kb: &data_kb[..census.nodes.min(data_kb.len())],
            data_majority_node: majority_node(data_kb),
        }
    }
}

/// `show --all`: one object, the processes (most misplaced first), the
/// totals per node, the processes refused.
#[derive(Serialize)]
pub struct ShowAll<'a> {
    processes: Vec<Process<'a>>,
    nodes: Vec<NodeTotals<'a>>,
    refused: Vec<Refused<'a>>,
}

#[derive(Serialize)]
struct Process<'a> {
    pid: u32,
    comm: &'a str,
    home: Option<usize>,
    home_basis: Option<&'static str>,
    misplaced: u64,
    tables: Tables<'a>,
    tables_per_node: &'a [u64],
    data_kb: &'a [u64],
    allowed_nodes: &'a [usize],
}

#[derive(Serialize)]
struct NodeTotals<'a> {
    node: usize,
    cpus: &'a str,
    tables: u64,
    misplaced: u64,
    data_kb: u64,
}

#[derive(Serialize)]
struct Refused<'a> {
    pid: u32,
    error: &'a str,
}

impl<'a> ShowAll<'a> {
    pub fn new(o: &'a Overview) -> Self {
        let process = |p: &'a overview::Process| Process {
            pid: p.pid,
            comm: &p.comm,
            home: p.home.map(|h| h.node),
            home_basis: p.home.map(|h| h.basis.name()),
            misplaced: p.misplaced,
            tables: Tables(&p.census.levels),
            tables_per_node: &p.tables,
            data_kb: &p.data_kb,
            allowed_nodes: &p.allowed_nodes,
        };
        let node = |t: &'a overview::NodeTotals| NodeTotals {
            node: t.node,
            cpus: &t.cpus,
            tables: t.tables,
            misplaced: t.misplaced,
            data_kb: t.data_kb,
        };
        Self {
            processes: o.processes.iter().map(process).collect(),
            nodes: o.totals.iter().map(node).collect(),
            refused: o
                .refused
                .iter()
                .map(|r| Refused {
                    pid: r.pid,
                    error: &r.error,
                })
                .collect(),
        }
    }
}

/// Rounded to `digits` decimals, for the log.
fn round(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

/// One line per event of `follow`: `t` is the time of the interval's start
/// (when its budget was counted) in seconds since `follow` started, `tick`
/// the interval's number, from 1.
#[derive(Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum FollowLine<'a> {
    Started {
        pid: Option<u32>,
        interval: f64,
        settle: u32,
        max_tables_per_second: u64,
        tables_per_interval: f64,
        min_tables: u64,
        exclude_pids: &'a [u32],
    },
    Moved {
        t: f64,
        tick: u64,
        pid: u32,
        comm: &'a str,
        node: usize,
        home_basis: &'static str,
        intervals: u32,
        misplaced: u64,
        levels: &'static str,
        range: Option<[String; 2]>,
        limit: u64,
        tables_moved: u64,
        left: Option<u64>,
        budget: f64,
        budget_left: f64,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<&'a str>,
        result: KeyValues<'a>,
    },
    Skipped {
        t: f64,
        tick: u64,
        pid: u32,
        comm: &'a str,
        reason: &'static str,
        why: &'a str,
    },
    KernelThreads {
        t: f64,
        tick: u64,
        pids: &'a [u32],
    },
    /// `follow <pid>`: the process exited; the last line.
    Exited {
        pid: u32,
        #[serde(flatten)]
        summary: Summary,
    },
    /// Ended by a signal; the last line.
    Stopped {
        signal: &'a str,
        #[serde(flatten)]
        summary: Summary,
    },
}

/// What a run of `follow` did.
#[derive(Serialize)]
pub struct Summary {
    seconds: f64,
    intervals: u64,
    requests: u64,
    tables_moved: u64,
    tables_per_second: f64,
    most_in_an_interval: u64,
    max_tables_per_second: u64,
    tables_per_interval: f64,
    processes_moved: usize,
    skipped: Skipped,
}

#[derive(Serialize)]
struct Skipped {
    exited: u64,
    exec: u64,
    refused: u64,
    failed: u64,
    unreadable: u64,
}

impl Summary {
    pub fn new(s: &follow::Summary) -> Self {
        let k = s.skipped;
        Self {
            seconds: round(s.seconds, 3),
            intervals: s.intervals,
            requests: s.requests,
            tables_moved: s.tables_moved,
            tables_per_second: round(s.tables_per_second, 2),
            most_in_an_interval: s.most_in_an_interval,
            max_tables_per_second: s.max_tables_per_second,
            tables_per_interval: round(s.tables_per_interval, 3),
            processes_moved: s.processes_moved,
            skipped: Skipped {
                exited: k.exited,
                exec: k.exec,
                refused: k.refused,
                failed: k.failed,
                unreadable: k.unreadable,
            },
        }
    }
}

impl<'a> FollowLine<'a> {
    pub fn started(c: &'a follow::Config) -> Self {
        FollowLine::Started {
            pid: c.pid,
            interval: c.interval,
            settle: c.settle,
            max_tables_per_second: c.max_tables_per_second,
            tables_per_interval: round(c.max_tables_per_second as f64 * c.interval, 3),
            min_tables: c.min_tables,
            exclude_pids: &c.exclude_pids,
        }
    }

    /// The line of `event`, in interval `tick` that started at `t`;
    /// `None` for `Exited`, which the summary says.
    pub fn event(event: &'a Event, t: f64, tick: u64) -> Option<Self> {
        let t = round(t, 3);
        Some(match event {
            Event::KernelThreads(pids) => FollowLine::KernelThreads { t, tick, pids },
            Event::Skipped {
                pid,
                comm,
                reason,
                why,
            } => FollowLine::Skipped {
                t,
                tick,
                pid: *pid,
                comm,
                reason: reason.name(),
                why,
            },
            Event::Moved(m) => FollowLine::Moved {
                t,
                tick,
                pid: m.pid,
                comm: &m.comm,
                node: m.node,
                home_basis: m.basis.name(),
                intervals: m.intervals,
                misplaced: m.misplaced,
                levels: m.part.map_or("pte,pmd,pud", |(level, _)| level),
                range: m
                    .part
                    .map(|(_, p)| [format!("0x{:x}", p.start), format!("0x{:x}", p.end)]),
                limit: m.limit,
                tables_moved: m.tables_moved,
                left: m.left,
                budget: round(m.budget, 3),
                budget_left: round(m.budget_left, 3),
                error: m.error.as_deref(),
                result: KeyValues(&m.outcome),
            },
            Event::Exited { .. } => return None,
        })
    }
}

/// The last line when a command fails.
#[derive(Serialize)]
pub struct Failed<'a> {
    pub error: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::key_values;

    fn line(value: &impl Serialize) -> String {
        serde_json::to_string(value).unwrap()
    }

    #[test]
    fn show() {
        let c =
            Census::parse("level node0 node1\npgd 1 0\np4d folded\npud 1 0\npmd 2 0\npte 130 3\n")
                .unwrap();
        assert_eq!(
            line(&Show::new(42, &c, &[0, 512 * 1024])),
            "{\"pid\":42,\"tables\":{\"pgd\":[1,0],\"pud\":[1,0],\"pmd\":[2,0],\"pte\":[130,3]},\
             \"data_kb\":[0,524288],\"data_majority_node\":1}"
        );
        assert!(line(&Show::new(42, &c, &[0, 0])).ends_with("\"data_majority_node\":null}"));
    }

    #[test]
    fn show_all() {
        use crate::home::Run;
        use crate::overview::{Overview, Process, Refused};
        use crate::threads::Threads;
        use crate::topology::Topology;

        let t = Topology::from_cpulists([(0, "0-1"), (1, "")]).unwrap();
        let c =
            Census::parse("level node0 node1\npgd 1 0\np4d folded\npud 0 1\npmd 0 1\npte 2 30\n")
                .unwrap();
        let threads = Threads {
            comm: "a \"b\"".into(),
            runs: vec![Run {
                cpu: 1,
                runtime_ns: 5,
            }],
            allowed_nodes: vec![0],
            ..Threads::default()
        };
        let p = Process::new(9, threads, c, vec![8, 4096], &t);
        let refused = vec![Refused {
            pid: 3,
            error: "x".into(),
        }];
        assert_eq!(
            line(&ShowAll::new(&Overview::new(vec![p], refused, &t))),
            "{\"processes\":[{\"pid\":9,\"comm\":\"a \\\"b\\\"\",\"home\":0,\
             \"home_basis\":\"run_time\",\"misplaced\":32,\
             \"tables\":{\"pgd\":[1,0],\"pud\":[0,1],\"pmd\":[0,1],\"pte\":[2,30]},\
             \"tables_per_node\":[3,32],\"data_kb\":[8,4096],\"allowed_nodes\":[0]}],\
             \"nodes\":[{\"node\":0,\"cpus\":\"0-1\",\"tables\":3,\"misplaced\":0,\"data_kb\":8},\
             {\"node\":1,\"cpus\":\"\",\"tables\":32,\"misplaced\":32,\"data_kb\":4096}],\
             \"refused\":[{\"pid\":3,\"error\":\"x\"}]}"
        );
    }

    #[test]
    fn key_values_in_order() {
        let kv = key_values("pid 42\nnode 1\nstart 0x0\nstatus ok\ntables_moved 511\n");
        assert_eq!(
            line(&KeyValues(&kv)),
            "{\"pid\":42,\"node\":1,\"start\":\"0x0\",\"status\":\"ok\",\"tables_moved\":511}"
        );
    }

    #[test]
    fn follow_events_and_failure() {
        use crate::follow::{Config, Move, Skip};

        let config = Config {
            pid: None,
            interval: 0.5,
            settle: 2,
            max_tables_per_second: 40,
            exclude_pids: vec![1],
            min_tables: 16,
        };
        assert_eq!(
            line(&FollowLine::started(&config)),
            "{\"event\":\"started\",\"pid\":null,\"interval\":0.5,\"settle\":2,\
             \"max_tables_per_second\":40,\"tables_per_interval\":20.0,\"min_tables\":16,\
             \"exclude_pids\":[1]}"
        );
        let m = Event::Moved(Move {
            tables_moved: 19,
            budget_left: 1.0000001,
            outcome: key_values("status ok\ntables_moved 19\n"),
            ..Move::sample()
        });
        assert_eq!(
            line(&FollowLine::event(&m, 1.50004, 4).unwrap()),
            "{\"event\":\"moved\",\"t\":1.5,\"tick\":4,\"pid\":42,\"comm\":\"w\",\"node\":1,\
             \"home_basis\":\"run_time\",\"intervals\":2,\"misplaced\":85,\"levels\":\"pte\",\
             \"range\":[\"0x40000000\",\"0x42800000\"],\"limit\":20,\"tables_moved\":19,\
             \"left\":null,\"budget\":20.0,\"budget_left\":1.0,\
             \"result\":{\"status\":\"ok\",\"tables_moved\":19}}"
        );
        let skipped = Event::Skipped {
            pid: 9,
            comm: "x".into(),
            reason: Skip::Exec,
            why: "ran exec".into(),
        };
        assert_eq!(
            line(&FollowLine::event(&skipped, 0.0, 1).unwrap()),
            "{\"event\":\"skipped\",\"t\":0.0,\"tick\":1,\"pid\":9,\"comm\":\"x\",\
             \"reason\":\"exec\",\"why\":\"ran exec\"}"
        );
        assert_eq!(
            line(&FollowLine::event(&Event::KernelThreads(vec![2, 3]), 0.0, 1).unwrap()),
            "{\"event\":\"kernel_threads\",\"t\":0.0,\"tick\":1,\"pids\":[2,3]}"
        );
        assert!(FollowLine::event(&Event::Exited { pid: 7 }, 0.0, 1).is_none());
        let summary = follow::Summary {
            seconds: 2.0,
            intervals: 4,
            requests: 3,
            tables_moved: 57,
            tables_per_second: 28.5,
            most_in_an_interval: 20,
            max_tables_per_second: 40,
            tables_per_interval: 20.0,
            processes_moved: 2,
            skipped: follow::Skipped::default(),
        };
        let exited = line(&FollowLine::Exited {
            pid: 7,
            summary: Summary::new(&summary),
        });
        assert!(
            exited.starts_with("{\"event\":\"exited\",\"pid\":7,\"seconds\":2.0,\"intervals\":4,"),
            "{exited}"
        );
        assert!(exited.ends_with(
            "\"skipped\":{\"exited\":0,\"exec\":0,\"refused\":0,\"failed\":0,\"unreadable\":0}}"
        ));
        assert!(line(&FollowLine::Stopped {
            signal: "SIGTERM",
            summary: Summary::new(&summary),
        })
        .starts_with("{\"event\":\"stopped\",\"signal\":\"SIGTERM\",\"seconds\":2.0,"));
        assert_eq!(
            line(&Failed {
                error: "no \"x\"\n"
            }),
            "{\"error\":\"no \\\"x\\\"\\n\"}"
        );
    }
}
