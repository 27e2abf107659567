// SPDX-License-Identifier: GPL-2.0

//! What `--json` prints (serde): one compact JSON object per line on stdout.

use serde::{Serialize, Serializer};

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

/// One line per event of `follow`.
#[derive(Serialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum FollowEvent<'a> {
    /// A request to move the tables to where most of the data is.
    Moved {
        pid: u32,
        node: usize,
        data_kb: &'a [u64],
        result: KeyValues<'a>,
    },
    Exited {
        pid: u32,
    },
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
        let kv = key_values("status ok\n");
        let moved = FollowEvent::Moved {
            pid: 7,
            node: 1,
            data_kb: &[4, 8],
            result: KeyValues(&kv),
        };
        assert_eq!(
            line(&moved),
            "{\"event\":\"moved\",\"pid\":7,\"node\":1,\"data_kb\":[4,8],\"result\":{\"status\":\"ok\"}}"
        );
        assert_eq!(
            line(&FollowEvent::Exited { pid: 7 }),
            "{\"event\":\"exited\",\"pid\":7}"
        );
        assert_eq!(
            line(&Failed {
                error: "no \"x\"\n"
            }),
            "{\"error\":\"no \\\"x\\\"\\n\"}"
        );
    }
}
