// SPDX-License-Identifier: GPL-2.0

//! A process's threads, from `/proc/<pid>/task/<tid>/`: the CPU each last
//! ran on and its run time so far (`stat`, `schedstat`), and the nodes of
//! the CPUs any of them may run on (`status`'s `Cpus_allowed_list`); and,
//! from the same files, what the process is (`Identity`: an exec or a new
//! process under the same pid changes it) and its page tables' size
//! (`status`'s `VmPTE`).

use crate::home::Run;
use crate::kernel::{self, FileBuf};
use crate::topology::Topology;

/// `PF_KTHREAD`, in `stat`'s flags.
const PF_KTHREAD: u64 = 0x0020_0000;
/// `stat`'s times are in clock ticks of `USER_HZ`, 100 on x86.
const NS_PER_TICK: u64 = 10_000_000;

/// Where a thread's run time comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// `schedstat`'s first field, `sum_exec_runtime`, in ns.
    SchedStat,
    /// `utime + stime` from `stat`: kernels without `CONFIG_SCHED_INFO`
    /// have no `schedstat`.
    Ticks,
}

impl Clock {
    /// `SchedStat` if this kernel has the file.
    pub fn detect() -> Self {
        if std::path::Path::new("/proc/self/schedstat").exists() {
            Clock::SchedStat
        } else {
            Clock::Ticks
        }
    }
}

/// What tells one process image from another under the same pid: its
/// start time (another process reusing the pid has another) and where its
/// code and stack are (an exec maps new ones). Fields the kernel hides
/// (another user's process, without `CAP_SYS_PTRACE`) are 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Identity {
    /// `starttime`, field 22, in clock ticks since boot.
    pub start_time: u64,
    /// `startcode`, `endcode` and `startstack`, fields 26 to 28.
    pub code: (u64, u64),
    pub stack: u64,
}

impl Identity {
    /// Whether `later` is this process after an exec (the same start time,
    /// another image), rather than another process.
    pub fn exec_of(&self, later: &Identity) -> bool {
        self.start_time == later.start_time && self != later
    }
}

/// The fields of a thread's `stat` we use.
#[derive(Debug, Clone, PartialEq)]
pub struct Stat {
    pub comm: String,
    pub flags: u64,
    pub ticks: u64,
    pub cpu: u32,
    /// The process's, in every thread's `stat`.
    pub identity: Identity,
}

/// Parses `/proc/<pid>/task/<tid>/stat`. The command name, in
/// parentheses, may hold anything, parentheses and blanks included: the
/// fields are counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let (head, rest) = text.rsplit_once(')')?;
    let comm = head.split_once('(')?.1.to_string();
    // `rest` starts at field 3 (state): field N is at N - 3.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    let identity = Identity {
        start_time: field(22).unwrap_or(0),
        code: (field(26).unwrap_or(0), field(27).unwrap_or(0)),
        stack: field(28).unwrap_or(0),
    };
    Some(Stat {
        comm,
        flags: field(9)?,
        ticks: field(14)?.saturating_add(field(15)?),
        cpu: u32::try_from(field(39)?).ok()?,
        identity,
    })
}

/// The identity and command name in a process's `stat`
/// (`/proc/<pid>/stat`); `None` if it is gone or unreadable.
pub fn identity(pid: u32, buf: &mut FileBuf) -> Option<(Identity, String)> {
    buf.read_whole(&format!("/proc/{pid}/stat")).ok()?;
    let stat = parse_stat(&buf.text())?;
    Some((stat.identity, stat.comm))
}

/// The run time in `schedstat` (its first field), in ns.
pub fn parse_schedstat(text: &str) -> Option<u64> {
    text.split_whitespace().next()?.parse().ok()
}

/// `Cpus_allowed_list` of a `status` file.
pub fn cpus_allowed(status: &str) -> Option<&str> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(str::trim)
}

/// `VmPTE` of a `status` file, in kB: the process's PTE, PMD and PUD tables
/// (`mm_pgtables_bytes()`; not the PGD). `None` without an mm (exiting).
pub fn vm_pte_kb(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmPTE:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()
}

/// A process as its threads show it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Threads {
    /// The command name of its main thread.
    pub comm: String,
    pub runs: Vec<Run>,
    /// The nodes of the CPUs any thread may run on, ascending.
    pub allowed_nodes: Vec<usize>,
    /// Of its main thread (or, once that has exited, of another).
    pub identity: Identity,
    /// Its page tables' size in kB, from `VmPTE`; `None` if no thread
    /// showed one (it is exiting).
    pub vm_pte_kb: Option<u64>,
}

/// Why a process has no [`Threads`].
#[derive(Debug, Clone, PartialEq)]
pub enum Missing {
    /// A kernel thread: it has no page tables of its own.
    KernelThread,
    /// It exited since it was listed.
    Gone,
    /// A file could not be read, for another reason than the thread being
    /// gone: the sentence says which and why.
    Unreadable(String),
}

/// Reads `path` (formatted whole: `FileBuf::read_whole`) into `buf`:
/// `Ok(false)` if its thread has gone.
fn read_file(path: &str, buf: &mut FileBuf) -> Result<bool, Missing> {
    match buf.read_whole(path) {
        Ok(()) => Ok(true),
        Err(e) if kernel::vanished(&e) => Ok(false),
        Err(e) => Err(Missing::Unreadable(format!("cannot read {path}: {e}"))),
    }
}

fn unparsable(path: &str) -> Missing {
    Missing::Unreadable(format!("cannot parse {path}"))
}

/// What one thread adds: its `Run`, and the nodes it may run on.
struct Thread<'a> {
    clock: Clock,
    topology: &'a Topology,
    /// The nodes marked so far.
    allowed: Vec<bool>,
    /// The last `Cpus_allowed_list` marked: threads mostly share one.
    last_list: String,
}

impl Thread<'_> {
    /// Reads the thread in `dir` (`/proc/<pid>/task/<tid>`): its `stat`,
    /// `schedstat` (with [`Clock::SchedStat`]) and `status`, each once:
    /// `stat`, the run time and `VmPTE`. `Ok(None)` if it has gone.
    fn read(
        &mut self,
        dir: &str,
        buf: &mut FileBuf,
    ) -> Result<Option<(Stat, u64, Option<u64>)>, Missing> {
        let path = format!("{dir}/stat");
        if !read_file(&path, buf)? {
            return Ok(None);
        }
        let stat = parse_stat(&buf.text()).ok_or_else(|| unparsable(&path))?;
        if stat.flags & PF_KTHREAD != 0 {
            return Err(Missing::KernelThread);
        }
        let runtime_ns = match self.clock {
            Clock::Ticks => stat.ticks.saturating_mul(NS_PER_TICK),
            Clock::SchedStat => {
                let path = format!("{dir}/schedstat");
                if !read_file(&path, buf)? {
                    return Ok(None);
                }
                parse_schedstat(&buf.text()).ok_or_else(|| unparsable(&path))?
            }
        };
        let path = format!("{dir}/status");
        if !read_file(&path, buf)? {
            return Ok(None);
        }
        let status = buf.text();
        let list = cpus_allowed(&status).ok_or_else(|| unparsable(&path))?;
        if list != self.last_list {
            self.topology
                .mark_nodes(list, &mut self.allowed)
                .ok_or_else(|| unparsable(&path))?;
            self.last_list = list.to_string();
        }
        Ok(Some((stat, runtime_ns, vm_pte_kb(&status))))
    }
}

/// Reads the threads of process `pid`, `buf` serving every file. Threads
/// that exit meanwhile are left out.
pub fn read(
    pid: u32,
    clock: Clock,
    topology: &Topology,
    buf: &mut FileBuf,
) -> Result<Threads, Missing> {
    let dir = format!("/proc/{pid}/task");
    let tids = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if kernel::vanished(&e) => return Err(Missing::Gone),
        Err(e) => return Err(Missing::Unreadable(format!("cannot list {dir}: {e}"))),
    };
    let mut thread = Thread {
        clock,
        topology,
        allowed: Vec::new(),
        last_list: String::new(),
    };
    let mut comm = None;
    let mut identity = Identity::default();
    let mut vm_pte = None;
    let mut runs = Vec::new();
    for entry in tids {
        let Ok(entry) = entry else { continue };
        let Some(tid) = entry
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<u32>().ok())
        else {
            continue;
        };
        let Some((stat, runtime_ns, pte_kb)) = thread.read(&format!("{dir}/{tid}"), buf)? else {
            continue;
        };
        vm_pte = vm_pte.or(pte_kb);
        if tid == pid || comm.is_none() {
            comm = Some(stat.comm);
            identity = stat.identity;
        }
        runs.push(Run {
            cpu: stat.cpu,
            runtime_ns,
        });
    }
    let comm = comm.ok_or(Missing::Gone)?;
    let allowed = thread.allowed;
    let allowed_nodes = (0..allowed.len()).filter(|&n| allowed[n]).collect();
    Ok(Threads {
        comm,
        runs,
        allowed_nodes,
        identity,
        vm_pte_kb: vm_pte,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // A thread of python3 that last ran on CPU 1, utime 150 and stime 25.
    const STAT: &str = "4242 (python3) S 4200 4242 4200 34816 4242 4194304 18227 0 1 0 \
                        150 25 0 0 20 0 5 0 1234 100000000 6000 18446744073709551615 1 1 0 0 \
                        0 0 0 16781312 2 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

    #[test]
    fn stat() {
        assert_eq!(
            parse_stat(STAT),
            Some(Stat {
                comm: "python3".into(),
                flags: 4194304,
                ticks: 175,
                cpu: 1,
                identity: Identity {
                    start_time: 1234,
                    code: (1, 1),
                    stack: 0,
                },
            })
        );
        // After an exec: the same start time, another image.
        let exec = parse_stat(&STAT.replace(
            "18446744073709551615 1 1 0",
            "18446744073709551615 4096 8192 140000",
        ))
        .unwrap();
        let first = parse_stat(STAT).unwrap().identity;
        assert!(first.exec_of(&exec.identity));
        assert!(!first.exec_of(&first));
        let other = Identity {
            start_time: 99,
            ..exec.identity
        };
        assert!(!first.exec_of(&other));
        // A name with blanks and parentheses of its own.
        let odd = STAT.replace("(python3)", "(a) b (c))");
        assert_eq!(parse_stat(&odd).unwrap().comm, "a) b (c)");
        assert_eq!(parse_stat(&odd).unwrap().cpu, 1);
        // A kernel thread.
        let kthread = STAT.replace(" 4194304 ", " 2129984 ");
        assert_ne!(parse_stat(&kthread).unwrap().flags & PF_KTHREAD, 0);
        assert_eq!(parse_stat("4242 (x) S 1 2 3"), None);
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn schedstat_and_status() {
        assert_eq!(
            parse_schedstat("239236209 20635051 1108\n"),
            Some(239236209)
        );
        assert_eq!(parse_schedstat(""), None);
        let status = "Name:\tpython3\nCpus_allowed:\t3\nCpus_allowed_list:\t0-1\n\
                      Mems_allowed_list:\t0\n";
        assert_eq!(cpus_allowed(status), Some("0-1"));
        assert_eq!(cpus_allowed("Name:\tx\n"), None);
        assert_eq!(vm_pte_kb("Name:\tx\nVmPTE:\t     540 kB\n"), Some(540));
        assert_eq!(vm_pte_kb(status), None);
    }

    #[test]
    fn this_process() {
        // The test runs in threads of its own: this one at least is found.
        let t = Topology::read();
        let me = read(
            std::process::id(),
            Clock::detect(),
            &t,
            &mut FileBuf::default(),
        )
        .unwrap();
        assert!(!me.runs.is_empty());
        assert!(me.runs.iter().any(|r| r.runtime_ns > 0));
        assert!(me.vm_pte_kb.is_some_and(|kb| kb > 0));
        let (id, comm) = identity(std::process::id(), &mut FileBuf::default()).unwrap();
        assert_eq!((id, comm), (me.identity, me.comm.clone()));
        assert_ne!(id.start_time, 0);
        if !t.cpu_nodes().is_empty() {
            assert!(!me.allowed_nodes.is_empty());
        }
        assert_eq!(
            read(0x7fff_fffe, Clock::Ticks, &t, &mut FileBuf::default()),
            Err(Missing::Gone)
        );
    }
}
