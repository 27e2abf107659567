// SPDX-License-Identifier: GPL-2.0

//! `show --all`: every process, its page tables per node beside its data
//! per node and the nodes its threads may run on, the most misplaced
//! tables first (tables not on the process's home node, `home`); then per
//! node, the page tables on it, how many of them are misplaced, its data.
//!
//! One pass reads each process's files once: per thread `stat`,
//! `schedstat` and `status`; `numa_maps`; and one census, on a `census`
//! file opened once for the pass. Kernel threads, and processes that exit
//! meanwhile, are left out; a process whose census or files are refused
//! for another reason is listed in `refused`.

use std::fmt::Write;

use crate::errors::{self, Context, Failure};
use crate::home::{self, Basis, Home};
use crate::kernel::{self, CensusFile, FileBuf};
use crate::nodes::format_list;
use crate::report::{numa_maps_kb, Census};
use crate::threads::{self, Clock, Missing, Threads};
use crate::topology::Topology;

/// One process.
#[derive(Debug, Clone, PartialEq)]
pub struct Process {
    pub pid: u32,
    pub comm: String,
    pub census: Census,
    /// Page-table pages of every level, per node.
    pub tables: Vec<u64>,
    pub data_kb: Vec<u64>,
    /// The nodes of the CPUs its threads may run on.
    pub allowed_nodes: Vec<usize>,
    pub home: Option<Home>,
    /// Tables of the levels that move (PTE, PMD, PUD) not on the home
    /// node; 0 without one. The PGD never moves, so it is never counted.
    pub misplaced: u64,
}

impl Process {
    pub fn new(
        pid: u32,
        threads: Threads,
        census: Census,
        data_kb: Vec<u64>,
        topology: &Topology,
    ) -> Self {
        let home = home::home(&threads.runs, topology, &data_kb);
        let tables = census.per_node();
        let misplaced = home.map_or(0, |h| census.movable_off(h.node));
        Self {
            pid,
            comm: threads.comm,
            census,
            tables,
            data_kb,
            allowed_nodes: threads.allowed_nodes,
            home,
            misplaced,
        }
    }
}

/// A process left out for a reason other than being a kernel thread or
/// gone.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    pub pid: u32,
    pub error: String,
}

/// One node's totals over the processes shown.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeTotals {
    pub node: usize,
    /// Its CPUs as sysfs lists them, `""` for none.
    pub cpus: String,
    /// Page-table pages on the node.
    pub tables: u64,
    /// Of those, the movable ones whose process's home is another node.
    pub misplaced: u64,
    pub data_kb: u64,
}

/// The whole picture.
#[derive(Debug, Clone, PartialEq)]
pub struct Overview {
    pub nodes: usize,
    /// Most misplaced tables first, then by pid.
    pub processes: Vec<Process>,
    pub totals: Vec<NodeTotals>,
    pub refused: Vec<Refused>,
}

impl Overview {
    pub fn new(mut processes: Vec<Process>, refused: Vec<Refused>, topology: &Topology) -> Self {
        let nodes = processes
            .iter()
            .map(|p| p.tables.len().max(p.data_kb.len()))
            .chain([topology.nodes()])
            .max()
            .unwrap_or(0);
        let mut totals: Vec<NodeTotals> = (0..nodes)
            .map(|node| NodeTotals {
                node,
                cpus: topology.cpulist(node).to_string(),
                tables: 0,
                misplaced: 0,
                data_kb: 0,
            })
            .collect();
        for p in &mut processes {
            p.tables.resize(nodes, 0);
            p.data_kb.resize(nodes, 0);
            for (n, t) in totals.iter_mut().enumerate() {
                t.tables += p.tables[n];
                t.data_kb += p.data_kb[n];
                if p.home.is_some_and(|h| h.node != n) {
                    t.misplaced += p.census.movable_on(n);
                }
            }
        }
        processes.sort_by_key(|p| (std::cmp::Reverse(p.misplaced), p.pid));
        Self {
            nodes,
            processes,
            totals,
            refused,
        }
    }

    /// The text `show --all` prints.
    pub fn format(&self) -> String {
        let mut s = String::new();
        let nodes = self.nodes.max(1);
        let widest = self
            .processes
            .iter()
            .flat_map(|p| {
                let tables = p.tables.iter().map(|t| t.to_string().len());
                tables.chain(p.data_kb.iter().map(|&kb| mib(kb).len()))
            })
            .chain([format!("node{}", nodes - 1).len()])
            .max()
            .unwrap_or(0);
        // Wide enough for the group labels above the columns too.
        let w = (widest + 2).max(12_usize.div_ceil(nodes));
        let group = nodes * w;
        let _ = writeln!(
            s,
            "{:39}{:>group$}{:>group$}",
            "", "page tables", "data (MiB)"
        );
        let _ = write!(
            s,
            "{:>7} {:<16} {:>4} {:>9}",
            "pid", "comm", "home", "misplaced"
        );
        for _ in 0..2 {
            for n in 0..self.nodes {
                let _ = write!(s, "{:>w$}", format!("node{n}"));
            }
        }
        let _ = writeln!(s, "  may run on");
        let mut by_data = false;
        for p in &self.processes {
            let home = match p.home {
                None => "-".to_string(),
                Some(Home {
                    node,
                    basis: Basis::Data,
                }) => {
                    by_data = true;
                    format!("{node}*")
                }
                Some(h) => h.node.to_string(),
            };
            let comm: String = p
                .comm
                .chars()
                .take(16)
                .map(|c| if c.is_control() { '?' } else { c })
                .collect();
            let _ = write!(s, "{:>7} {comm:<16} {home:>4} {:>9}", p.pid, p.misplaced);
            for t in &p.tables {
                let _ = write!(s, "{t:>w$}");
            }
            for &kb in &p.data_kb {
                let _ = write!(s, "{:>w$}", mib(kb));
            }
            let allowed = match format_list(&p.allowed_nodes) {
                l if l.is_empty() => "-".to_string(),
                l => l,
            };
            let _ = writeln!(s, "  {allowed}");
        }
        if by_data {
            let _ = writeln!(s, "* home from the data: no thread has run time");
        }
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "{:<6} {:<12} {:>12} {:>10} {:>11}",
            "node", "cpus", "page tables", "misplaced", "data (MiB)"
        );
        for t in &self.totals {
            let cpus = if t.cpus.is_empty() { "-" } else { &t.cpus };
            let _ = writeln!(
                s,
                "{:<6} {cpus:<12} {:>12} {:>10} {:>11}",
                format!("node{}", t.node),
                t.tables,
                t.misplaced,
                mib(t.data_kb)
            );
        }
        if !self.refused.is_empty() {
            let list: Vec<String> = self
                .refused
                .iter()
                .map(|r| format!("pid {}: {}", r.pid, r.error))
                .collect();
            let _ = writeln!(
                s,
                "not shown, {} refused: {}",
                self.refused.len(),
                list.join("; ")
            );
        }
        s
    }
}

/// kB as whole MiB; `<1` for less than one but some.
fn mib(kb: u64) -> String {
    match kb {
        0 => "0".into(),
        1..1024 => "<1".into(),
        _ => (kb / 1024).to_string(),
    }
}

/// A process's census, as the pass sees it.
pub enum Counted {
    Census(Census),
    /// `ESRCH`: it exited (or is a kernel thread after all).
    Gone,
    /// Refused for another reason: the sentence.
    Refused(String),
}

/// The census of `pid` from the pass's open `census` file. Failures that
/// concern ptreloc itself (not loaded, not root) end the pass.
pub fn census_of(file: &mut CensusFile, pid: u32) -> Result<Counted, Failure> {
    match file.text(pid) {
        Ok(text) => Ok(match Census::parse(text) {
            Some(c) => Counted::Census(c),
            None => Counted::Refused(format!("cannot parse the census: {text:?}")),
        }),
        Err(e) if e.raw_os_error() == Some(errors::ESRCH) => Ok(Counted::Gone),
        Err(e) => {
            let ctx = Context {
                pid: Some(pid),
                node: None,
            };
            match errors::from_errno(e.raw_os_error().unwrap_or(5), ctx) {
                f @ Failure::Unavailable(_) => Err(f),
                // The request sentences speak of moves: say the errno.
                _ => Ok(Counted::Refused(format!("the census failed: {e}"))),
            }
        }
    }
}

/// The processes in `/proc`, ascending.
pub fn pids() -> Vec<u32> {
    let mut pids: Vec<u32> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    pids
}

/// One pass over `pids`, `census` giving each census.
pub fn collect(
    pids: &[u32],
    topology: &Topology,
    clock: Clock,
    mut census: impl FnMut(u32) -> Result<Counted, Failure>,
) -> Result<Overview, Failure> {
    let mut buf = FileBuf::default();
    let mut processes = Vec::new();
    let mut refused = Vec::new();
    for &pid in pids {
        let mut refuse = |error: String| refused.push(Refused { pid, error });
        let threads = match threads::read(pid, clock, topology, &mut buf) {
            Ok(t) => t,
            Err(Missing::KernelThread | Missing::Gone) => continue,
            Err(Missing::Unreadable(why)) => {
                refuse(why);
                continue;
            }
        };
        let census = match census(pid)? {
            Counted::Census(c) => c,
            Counted::Gone => continue,
            Counted::Refused(why) => {
                refuse(why);
                continue;
            }
        };
        let path = format!("/proc/{pid}/numa_maps");
        match buf.read(&path) {
            Ok(()) => {}
            Err(e) if kernel::vanished(&e) => continue,
            Err(e) => {
                refuse(format!("cannot read {path}: {e}"));
                continue;
            }
        }
        let data_kb = numa_maps_kb(&buf.text(), census.nodes);
        processes.push(Process::new(pid, threads, census, data_kb, topology));
    }
    Ok(Overview::new(processes, refused, topology))
}

/// `show --all`: one pass over every process.
pub fn take() -> Result<Overview, Failure> {
    // Refused first, before any process is read, when ptreloc cannot be
    // reached.
    let mut file = CensusFile::open()?;
    let topology = Topology::read();
    collect(&pids(), &topology, Clock::detect(), |pid| {
        census_of(&mut file, pid)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::home::Run;

    fn topology() -> Topology {
        Topology::from_cpulists([(0, "0-1"), (1, "2-3")]).unwrap()
    }

    fn census(pte0: u64, pte1: u64) -> Census {
        Census::parse(&format!(
            "level node0 node1\npgd 1 0\np4d folded\npud 1 0\npmd 1 0\npte {pte0} {pte1}\n"
        ))
        .unwrap()
    }

    fn process(
        pid: u32,
        comm: &str,
        cpu: u32,
        runtime_ns: u64,
        c: Census,
        data: &[u64],
    ) -> Process {
        let threads = Threads {
            comm: comm.into(),
            runs: vec![Run { cpu, runtime_ns }],
            allowed_nodes: vec![0, 1],
            ..Threads::default()
        };
        Process::new(pid, threads, c, data.to_vec(), &topology())
    }

    /// A process running on node 1 whose tables are on node 0 (135
    /// misplaced), one at home, one asleep since it started (home from
    /// its data) and one refused.
    pub fn sample() -> Overview {
        let t = topology();
        let processes = vec![
            process(7, "ss\nhd", 0, 5_000_000, census(12, 0), &[3 * 1024, 0]),
            process(
                4242,
                "python3",
                2,
                9_000_000_000,
                census(130, 2),
                &[2048, 256 * 1024],
            ),
            process(99, "sleeper", 1, 0, census(0, 2), &[0, 512]),
        ];
        let refused = vec![Refused {
            pid: 55,
            error: "the census failed: x".into(),
        }];
        Overview::new(processes, refused, &t)
    }

    #[test]
    fn misplaced_and_sorted() {
        let o = sample();
        let order: Vec<(u32, u64)> = o.processes.iter().map(|p| (p.pid, p.misplaced)).collect();
        // python3: pgd, pud, pmd and 130 PTE tables on node 0, home 1: the
        // PGD never moves and is not counted. sleeper: home 1 by its data;
        // its PUD and PMD are on node 0.
        assert_eq!(order, vec![(4242, 132), (99, 2), (7, 0)]);
        let sleeper = &o.processes[1];
        assert_eq!(
            sleeper.home,
            Some(Home {
                node: 1,
                basis: Basis::Data
            })
        );
        assert_eq!(o.processes[0].tables, vec![133, 2]);
    }

    #[test]
    fn node_totals_are_sums_over_processes() {
        let o = sample();
        for t in &o.totals {
            let n = t.node;
            let sum = |f: &dyn Fn(&Process) -> u64| o.processes.iter().map(f).sum::<u64>();
            assert_eq!(t.tables, sum(&|p| p.tables[n]));
            assert_eq!(t.data_kb, sum(&|p| p.data_kb[n]));
            assert_eq!(
                t.misplaced,
                sum(&|p| if p.home.unwrap().node == n {
                    0
                } else {
                    p.census.movable_on(n)
                })
            );
        }
        assert_eq!(
            o.totals.iter().map(|t| t.misplaced).sum::<u64>(),
            o.processes.iter().map(|p| p.misplaced).sum::<u64>()
        );
        assert_eq!(o.totals[0].tables, 15 + 133 + 3);
        assert_eq!(o.totals[0].misplaced, 132 + 2);
        assert_eq!(o.totals[1].misplaced, 0);
        assert_eq!(o.totals[1].cpus, "2-3");
    }

    #[test]
    fn text() {
        let out = sample().format();
        print!("{out}");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[..5],
            [
                "                                          page tables    data (MiB)",
                "    pid comm             home misplaced  node0  node1  node0  node1  may run on",
                "   4242 python3             1       132    133      2      2    256  0-1",
                "     99 sleeper            1*         2      3      2      0     <1  0-1",
                "      7 ss?hd               0         0     15      0      3      0  0-1",
            ]
        );
        assert!(out.contains("\n* home from the data: no thread has run time\n"));
        assert!(out.contains(
            "\nnode   cpus          page tables  misplaced  data (MiB)\n\
             node0  0-1                   151        134           5\n\
             node1  2-3                     4          0         256\n"
        ));
        assert!(out.ends_with("not shown, 1 refused: pid 55: the census failed: x\n"));
    }

    /// The `/proc` half of a pass over this machine's processes, timed:
    /// what it costs without ptreloc (an empty census stands in), and the
    /// text it gives. `cargo test --release -- --ignored --nocapture
    /// proc_pass` (as root, to read every process's `numa_maps`).
    #[test]
    #[ignore]
    fn proc_pass() {
        let t = Topology::read();
        let clock = Clock::detect();
        let empty = Census {
            nodes: t.nodes().max(1),
            levels: Vec::new(),
        };
        let pass = || {
            let pids = pids();
            let o = collect(&pids, &t, clock, |_| Ok(Counted::Census(empty.clone()))).unwrap();
            (pids.len(), o)
        };
        pass();
        let rounds: u32 = std::env::var("ROUNDS").map_or(50, |r| r.parse().unwrap());
        let start = std::time::Instant::now();
        for _ in 0..rounds {
            pass();
        }
        let per_pass = start.elapsed() / rounds;
        let (listed, o) = pass();
        let mut buf = FileBuf::default();
        let threads: usize = o
            .processes
            .iter()
            .map(|p| std::fs::read_dir(format!("/proc/{}/task", p.pid)).map_or(0, |d| d.count()))
            .sum();
        let numa_maps: usize = o
            .processes
            .iter()
            .map(|p| {
                buf.read(&format!("/proc/{}/numa_maps", p.pid))
                    .map_or(0, |()| buf.text().len())
            })
            .sum();
        print!("{}", o.format());
        let data_mib = o.totals.iter().map(|t| t.data_kb).sum::<u64>() / 1024;
        println!(
            "{listed} pids listed, {} shown, {} refused; {threads} threads, \
             {numa_maps} bytes of numa_maps for {data_mib} MiB of data; {clock:?}",
            o.processes.len(),
            o.refused.len()
        );
        println!(
            "one pass without the census: {per_pass:?} ({:?} per process shown), \
             mean of {rounds}",
            per_pass / o.processes.len().max(1) as u32
        );
        // Its parts: the threads' files, of processes and of kernel
        // threads; numa_maps.
        let time = |f: &mut dyn FnMut()| {
            let start = std::time::Instant::now();
            for _ in 0..rounds {
                f();
            }
            start.elapsed() / rounds
        };
        let shown: Vec<u32> = o.processes.iter().map(|p| p.pid).collect();
        let kthreads: Vec<u32> = pids()
            .into_iter()
            .filter(|&p| threads::read(p, clock, &t, &mut buf) == Err(Missing::KernelThread))
            .collect();
        let read_threads = |pids: &[u32]| {
            let mut buf = FileBuf::default();
            for &p in pids {
                let _ = threads::read(p, clock, &t, &mut buf);
            }
        };
        let user = time(&mut || read_threads(&shown));
        let kernel = time(&mut || read_threads(&kthreads));
        let maps = time(&mut || {
            for &p in &shown {
                let _ = buf.read(&format!("/proc/{p}/numa_maps"));
            }
        });
        println!(
            "threads' files: {user:?} ({:?} per thread); {} kernel threads: {kernel:?} \
             ({:?} each); numa_maps: {maps:?} ({:?} per MiB of data)",
            user / threads.max(1) as u32,
            kthreads.len(),
            kernel / kthreads.len().max(1) as u32,
            maps / data_mib.max(1) as u32
        );
    }

    #[test]
    fn no_process() {
        let o = Overview::new(Vec::new(), Vec::new(), &topology());
        assert_eq!(o.totals.len(), 2);
        assert!(o.format().contains("node1  2-3"));
    }
}
