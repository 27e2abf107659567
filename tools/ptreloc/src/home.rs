// SPDX-License-Identifier: GPL-2.0

//! A process's home node: the node of the CPUs its threads actually ran on,
//! weighted by run time. Its page tables belong there; any elsewhere are
//! misplaced.
//!
//! Each thread counts for the node of the CPU it last ran on, with all of
//! its run time so far. The node with the most wins; a tie goes to the
//! node holding more of the process's data, then to the lower node. A
//! process with no run time at all falls back to where most of its data
//! is. A CPU counts for the node whose memory is local to it (its own, or
//! for a node without memory the nearest that has some), so a home can
//! always hold page tables; and a node without CPUs (a memory-only tier) is
//! never a home unless it is the local memory of some CPUs. `show --all`
//! and `follow` (one process or all) decide with this function.

use crate::topology::Topology;

/// One thread: the CPU it last ran on and its run time so far.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Run {
    pub cpu: u32,
    pub runtime_ns: u64,
}

/// What decided the home.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// The run time of its threads.
    RunTime,
    /// No thread had run time: where most of its data is.
    Data,
}

impl Basis {
    /// As `--json` writes it.
    pub fn name(self) -> &'static str {
        match self {
            Basis::RunTime => "run_time",
            Basis::Data => "data",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Home {
    pub node: usize,
    pub basis: Basis,
}

/// The home node of a process whose threads are `runs` and whose data is
/// `data_kb` per node; `None` if there is no node with CPUs, or neither
/// run time nor data on one.
pub fn home(runs: &[Run], topology: &Topology, data_kb: &[u64]) -> Option<Home> {
    home_with(runs, topology, || data_kb.to_vec())
}

/// [`home`], reading the data (`data_kb`, called at most once) only when
/// it can decide: when no node has more run time than every other. Data is
/// costly to count (`numa_maps` visits every mapped page), run time cheap;
/// `follow` looks at every process at every interval.
pub fn home_with(
    runs: &[Run],
    topology: &Topology,
    data_kb: impl FnOnce() -> Vec<u64>,
) -> Option<Home> {
    let mut weight = vec![0u64; topology.nodes()];
    for run in runs {
        if let Some(node) = topology.node_of(run.cpu) {
            let node = topology.memory_node(node);
            weight[node] = weight[node].saturating_add(run.runtime_ns);
        }
    }
    let mut homes: Vec<usize> = topology
        .cpu_nodes()
        .into_iter()
        .map(|n| topology.memory_node(n))
        .collect();
    homes.sort_unstable();
    homes.dedup();
    let most = homes.iter().map(|&n| weight[n]).max()?;
    let mut heaviest = homes.iter().filter(|&&n| weight[n] == most);
    if let (Some(&node), None) = (heaviest.next(), heaviest.next()) {
        if most > 0 {
            return Some(Home {
                node,
                basis: Basis::RunTime,
            });
        }
    }
    let data_kb = data_kb();
    let data = |node: usize| data_kb.get(node).copied().unwrap_or(0);
    let node = homes
        .into_iter()
        .max_by_key(|&n| (weight[n], data(n), std::cmp::Reverse(n)))?;
    let basis = if weight[node] > 0 {
        Basis::RunTime
    } else if data(node) > 0 {
        Basis::Data
    } else {
        return None;
    };
    Some(Home { node, basis })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Node 0: CPUs 0-1; node 1: CPUs 2-3; node 2: memory only.
    fn two_nodes() -> Topology {
        Topology::from_cpulists([(0, "0-1"), (1, "2-3"), (2, "")]).unwrap()
    }

    fn run(cpu: u32, runtime_ns: u64) -> Run {
        Run { cpu, runtime_ns }
    }

    fn at(node: usize, basis: Basis) -> Option<Home> {
        Some(Home { node, basis })
    }

    #[test]
    fn run_time_decides() {
        let t = two_nodes();
        // One busy thread on node 1 outweighs three idle ones on node 0,
        // and the data on node 0.
        let runs = [run(0, 10), run(1, 10), run(0, 10), run(3, 1000)];
        assert_eq!(home(&runs, &t, &[1 << 20, 0]), at(1, Basis::RunTime));
        // Threads on two CPUs of one node add up.
        let runs = [run(0, 600), run(1, 600), run(2, 1000)];
        assert_eq!(home(&runs, &t, &[0, 0]), at(0, Basis::RunTime));
    }

    #[test]
    fn ties_go_to_the_data_then_the_lower_node() {
        let t = two_nodes();
        let runs = [run(0, 500), run(2, 500)];
        assert_eq!(home(&runs, &t, &[4, 8]), at(1, Basis::RunTime));
        assert_eq!(home(&runs, &t, &[8, 4]), at(0, Basis::RunTime));
        assert_eq!(home(&runs, &t, &[8, 8]), at(0, Basis::RunTime));
        assert_eq!(home(&runs, &t, &[]), at(0, Basis::RunTime));
    }

    #[test]
    fn no_run_time_falls_back_to_the_data() {
        let t = two_nodes();
        let asleep = [run(0, 0), run(1, 0)];
        assert_eq!(home(&asleep, &t, &[4, 8]), at(1, Basis::Data));
        assert_eq!(home(&[], &t, &[8, 4]), at(0, Basis::Data));
        // Nothing to go on.
        assert_eq!(home(&asleep, &t, &[0, 0]), None);
        assert_eq!(home(&[], &t, &[]), None);
    }

    #[test]
    fn a_node_without_cpus_is_never_home() {
        let t = two_nodes();
        // All the data on node 2: the home is a node with CPUs.
        assert_eq!(
            home(&[run(2, 5)], &t, &[0, 0, 1 << 30]),
            at(1, Basis::RunTime)
        );
        assert_eq!(home(&[], &t, &[0, 4, 1 << 30]), at(1, Basis::Data));
        assert_eq!(home(&[], &t, &[0, 0, 1 << 30]), None);
        // A CPU on no node (offline since) counts for none.
        assert_eq!(home(&[run(9, 5)], &t, &[4, 0]), at(0, Basis::Data));
        assert_eq!(home(&[run(0, 1)], &Topology::default(), &[4]), None);
    }

    #[test]
    fn cpus_without_memory_count_for_the_nearest_memory() {
        // Node 2 has CPU 4 and no memory; node 1, its nearest with memory.
        let t = Topology::from_cpulists([(0, "0-1"), (1, "2-3"), (2, "4")])
            .unwrap()
            .with_memory(
                &[0, 1],
                &[vec![10, 20, 30], vec![20, 10, 15], vec![30, 15, 10]],
            );
        assert_eq!(home(&[run(4, 10)], &t, &[0, 0, 0]), at(1, Basis::RunTime));
        // With CPU 2's time too, node 1 wins over node 0's heavier thread.
        let runs = [run(0, 15), run(2, 10), run(4, 10)];
        assert_eq!(home(&runs, &t, &[0, 0, 0]), at(1, Basis::RunTime));
    }

    /// `home_with` reads the data only when run time leaves a tie (or
    /// there is none), and decides as `home` does.
    #[test]
    fn data_is_read_only_when_it_can_decide() {
        let t = two_nodes();
        let cases: [(&[Run], &[u64], bool); 7] = [
            (&[run(0, 10), run(3, 1000)], &[1 << 20, 0], false),
            (&[run(0, 500), run(2, 500)], &[4, 8], true),
            (&[run(0, 0), run(1, 0)], &[4, 8], true),
            (&[], &[8, 4], true),
            (&[run(2, 5)], &[0, 0, 1 << 30], false),
            (&[run(9, 5)], &[4, 0], true),
            (&[run(0, 1), run(2, 1), run(3, 1)], &[9, 0], false),
        ];
        for (runs, data, needed) in cases {
            let mut read = false;
            let lazy = home_with(runs, &t, || {
                read = true;
                data.to_vec()
            });
            assert_eq!(lazy, home(runs, &t, data), "{runs:?} {data:?}");
            assert_eq!(read, needed, "{runs:?} {data:?}");
        }
    }

    #[test]
    fn run_time_saturates() {
        let t = two_nodes();
        let runs = [run(0, u64::MAX), run(1, u64::MAX), run(2, 1)];
        assert_eq!(home(&runs, &t, &[0, 0]), at(0, Basis::RunTime));
    }
}
