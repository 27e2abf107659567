// SPDX-License-Identifier: GPL-2.0

//! Which node each CPU is on, from `/sys/devices/system/node/node<N>/cpulist`,
//! and which node holds the memory local to it. A node without CPUs
//! (memory only) has an empty list; a node without memory (CPUs only)
//! takes its memory from the nearest node that has some, by `distance`,
//! as the kernel's `numa_mem_id()` does.

use crate::kernel::FileBuf;
use crate::nodes;

/// CPU numbers are below this (x86's largest `NR_CPUS` is 8192).
const MAX_CPUS: u32 = 1 << 16;

const NODE_DIR: &str = "/sys/devices/system/node";

/// The CPUs of every node.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Topology {
    /// `node_of_cpu[cpu]`.
    node_of_cpu: Vec<Option<usize>>,
    /// `cpulists[node]`, as sysfs writes them (`""` for a node without
    /// CPUs or without a directory).
    cpulists: Vec<String>,
    /// `memory_node[node]`: the node itself if it has memory, else the
    /// nearest one that has; empty when every node counts as having some.
    memory_node: Vec<usize>,
}

impl Topology {
    /// From `(node, cpulist)` pairs; `None` if a list does not parse.
    pub fn from_cpulists<'a>(lists: impl IntoIterator<Item = (usize, &'a str)>) -> Option<Self> {
        let mut t = Self::default();
        for (node, list) in lists {
            for (first, last) in nodes::parse_ranges(list, MAX_CPUS)? {
                let last = last as usize;
                if t.node_of_cpu.len() <= last {
                    t.node_of_cpu.resize(last + 1, None);
                }
                for cpu in first as usize..=last {
                    t.node_of_cpu[cpu] = Some(node);
                }
            }
            if t.cpulists.len() <= node {
                t.cpulists.resize(node + 1, String::new());
            }
            t.cpulists[node] = list.trim().to_string();
        }
        Some(t)
    }

    /// Says which nodes have memory, and how far apart nodes are
    /// (`distance[a][b]`, as in `node<a>/distance`); a missing distance
    /// counts as far.
    pub fn with_memory(mut self, has_memory: &[usize], distance: &[Vec<u32>]) -> Self {
        let far = |a: usize, b: usize| {
            distance
                .get(a)
                .and_then(|d| d.get(b))
                .copied()
                .unwrap_or(u32::MAX)
        };
        self.memory_node = (0..self.nodes())
            .map(|node| {
                if has_memory.contains(&node) {
                    return node;
                }
                has_memory
                    .iter()
                    .copied()
                    .min_by_key(|&m| (far(node, m), m))
                    .unwrap_or(node)
            })
            .collect();
        self
    }

    /// This machine's, from sysfs: every `node<N>` directory's `cpulist`
    /// (an unreadable or malformed one counts as no CPUs) and `distance`,
    /// and `has_memory` (unreadable: every node has memory).
    pub fn read() -> Self {
        let mut lists = Vec::new();
        let mut buf = FileBuf::default();
        for entry in std::fs::read_dir(NODE_DIR).into_iter().flatten().flatten() {
            let name = entry.file_name();
            let Some(node) = name
                .to_str()
                .and_then(|n| n.strip_prefix("node"))
                .and_then(|n| n.parse::<usize>().ok())
            else {
                continue;
            };
            let path = format!("{NODE_DIR}/node{node}/cpulist");
            let list = match buf.read(&path) {
                Ok(()) => buf.text().trim().to_string(),
                Err(_) => String::new(),
            };
            let list = if nodes::parse_ranges(&list, MAX_CPUS).is_some() {
                list
            } else {
                String::new()
            };
            lists.push((node, list));
        }
        let t =
            Self::from_cpulists(lists.iter().map(|(n, l)| (*n, l.as_str()))).unwrap_or_default();
        let Some(has_memory) = buf
            .read(&format!("{NODE_DIR}/has_memory"))
            .ok()
            .and_then(|()| nodes::parse_list(buf.text().trim()))
        else {
            return t;
        };
        let has_memory: Vec<usize> = has_memory.into_iter().map(|n| n as usize).collect();
        let distance: Vec<Vec<u32>> = (0..t.nodes())
            .map(
                |node| match buf.read(&format!("{NODE_DIR}/node{node}/distance")) {
                    Ok(()) => buf
                        .text()
                        .split_whitespace()
                        .map(|d| d.parse().unwrap_or(u32::MAX))
                        .collect(),
                    Err(_) => Vec::new(),
                },
            )
            .collect();
        t.with_memory(&has_memory, &distance)
    }

    /// The node whose memory is local to `node`'s CPUs: `node` itself
    /// unless it has no memory.
    pub fn memory_node(&self, node: usize) -> usize {
        self.memory_node.get(node).copied().unwrap_or(node)
    }

    /// The node of `cpu`, if it is on one.
    pub fn node_of(&self, cpu: u32) -> Option<usize> {
        self.node_of_cpu.get(cpu as usize).copied().flatten()
    }

    /// Nodes with at least one CPU, ascending.
    pub fn cpu_nodes(&self) -> Vec<usize> {
        (0..self.cpulists.len())
            .filter(|&n| !self.cpulists[n].is_empty())
            .collect()
    }

    /// One more than the highest node named.
    pub fn nodes(&self) -> usize {
        self.cpulists.len()
    }

    /// The CPUs of `node` as sysfs lists them (`""` if none).
    pub fn cpulist(&self, node: usize) -> &str {
        self.cpulists.get(node).map_or("", String::as_str)
    }

    /// Marks in `nodes` (one flag per node, grown as needed) the nodes of
    /// the CPUs in a CPU list such as `Cpus_allowed_list`'s; CPUs on no
    /// node are ignored. `None` if the list does not parse.
    pub fn mark_nodes(&self, cpu_list: &str, nodes: &mut Vec<bool>) -> Option<()> {
        for (first, last) in nodes::parse_ranges(cpu_list, MAX_CPUS)? {
            let last = (last as usize).min(self.node_of_cpu.len().saturating_sub(1));
            for cpu in first as usize..=last {
                if let Some(Some(node)) = self.node_of_cpu.get(cpu) {
                    if nodes.len() <= *node {
                        nodes.resize(node + 1, false);
                    }
                    nodes[*node] = true;
                }
            }
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpus_to_nodes() {
        // Node 1 is memory only; node 2 has CPUs 2-3 and 6.
        let t = Topology::from_cpulists([(0, "0-1,4-5\n"), (1, ""), (2, "2-3,6")]).unwrap();
        assert_eq!(t.node_of(0), Some(0));
        assert_eq!(t.node_of(5), Some(0));
        assert_eq!(t.node_of(6), Some(2));
        assert_eq!(t.node_of(7), None);
        assert_eq!(t.cpu_nodes(), vec![0, 2]);
        assert_eq!(t.nodes(), 3);
        assert_eq!(t.cpulist(0), "0-1,4-5");
        assert_eq!(t.cpulist(1), "");
        assert_eq!(t.cpulist(9), "");

        let mut marked = Vec::new();
        t.mark_nodes("2", &mut marked).unwrap();
        assert_eq!(marked, vec![false, false, true]);
        t.mark_nodes("0-1,7-4000", &mut marked).unwrap();
        assert_eq!(marked, vec![true, false, true]);
        assert!(t.mark_nodes("0-x", &mut marked).is_none());
        assert!(Topology::from_cpulists([(0, "1-0")]).is_none());
    }

    #[test]
    fn memoryless_nodes_take_the_nearest_memory() {
        // Node 0: CPUs and memory; node 1: memory only (far); node 2: CPUs
        // only, nearer to node 1 than to node 0.
        let t = Topology::from_cpulists([(0, "0-1"), (1, ""), (2, "2")])
            .unwrap()
            .with_memory(
                &[0, 1],
                &[vec![10, 30, 20], vec![30, 10, 15], vec![20, 15, 10]],
            );
        assert_eq!(t.memory_node(0), 0);
        assert_eq!(t.memory_node(1), 1);
        assert_eq!(t.memory_node(2), 1);
        // Equally far: the lower node.
        let t = Topology::from_cpulists([(0, "0"), (1, "1"), (2, "2")])
            .unwrap()
            .with_memory(&[0, 1], &[vec![], vec![], vec![20, 20, 10]]);
        assert_eq!(t.memory_node(2), 0);
        // Without has_memory, every node is its own.
        let t = Topology::from_cpulists([(0, "0"), (1, "")]).unwrap();
        assert_eq!(t.memory_node(1), 1);
    }

    #[test]
    fn this_machine() {
        // Whatever it is, every CPU it lists is on the node listing it.
        let t = Topology::read();
        for node in t.cpu_nodes() {
            let first = nodes::parse_ranges(t.cpulist(node), MAX_CPUS).unwrap()[0].0;
            assert_eq!(t.node_of(first), Some(node));
        }
    }
}
