// SPDX-License-Identifier: GPL-2.0

//! Talking to the kernel: ptreloc's debugfs files, `/proc` and node sysfs.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};

use crate::errors::{self, Context, Failure};
use crate::nodes;
use crate::report::Census;

pub const DEBUGFS: &str = "/sys/kernel/debug/ptreloc";

fn unavailable(e: &std::io::Error) -> Failure {
    match e.kind() {
        ErrorKind::NotFound => {
            let mounted = std::fs::read_to_string("/proc/mounts")
                .map(|m| {
                    m.lines()
                        .any(|l| l.split_whitespace().nth(1) == Some("/sys/kernel/debug"))
                })
                .unwrap_or(true);
            Failure::Unavailable(if mounted {
                errors::not_loaded().into()
            } else {
                "debugfs is not mounted: run `mount -t debugfs none /sys/kernel/debug`".into()
            })
        }
        ErrorKind::PermissionDenied => Failure::Unavailable(errors::permission_denied().into()),
        _ => Failure::Unavailable(format!("cannot open {DEBUGFS}: {e}")),
    }
}

fn open(name: &str, write: bool) -> Result<File, Failure> {
    OpenOptions::new()
        .read(true)
        .write(write)
        .open(format!("{DEBUGFS}/{name}"))
        .map_err(|e| unavailable(&e))
}

fn read_from_start(f: &mut File, ctx: Context) -> Result<String, Failure> {
    let mut text = String::new();
    f.seek(SeekFrom::Start(0))
        .and_then(|_| f.read_to_string(&mut text))
        .map_err(|e| errors::from_errno(e.raw_os_error().unwrap_or(5), ctx))?;
    Ok(text)
}

/// Writes `request` to a request file (`relocate`, `evacuate`) in one
/// `write`, and reads back the outcome on the same file. The outcome is
/// returned with the request's failure, if any: a failed request may have
/// moved tables.
pub fn request(name: &str, request: &str, ctx: Context) -> (Option<String>, Result<(), Failure>) {
    let mut f = match open(name, true) {
        Ok(f) => f,
        Err(e) => return (None, Err(e)),
    };
    let written = match f.write(request.as_bytes()) {
        Ok(n) if n == request.len() => Ok(()),
        Ok(_) => Err(Failure::Kernel(
            "the kernel took part of the request".into(),
        )),
        Err(e) => Err(errors::from_errno(e.raw_os_error().unwrap_or(5), ctx)),
    };
    // A request rejected before running has no outcome (ENODATA).
    let outcome = read_from_start(&mut f, ctx).ok();
    (outcome, written)
}

/// The census of a process.
pub fn census(pid: u32) -> Result<Census, Failure> {
    let ctx = Context {
        pid: Some(pid),
        node: None,
    };
    let mut f = open("census", true)?;
    f.write_all(format!("pid={pid}").as_bytes())
        .map_err(|e| errors::from_errno(e.raw_os_error().unwrap_or(5), ctx))?;
    let text = read_from_start(&mut f, ctx)?;
    Census::parse(&text)
        .ok_or_else(|| Failure::Kernel(format!("cannot parse the census: {text:?}")))
}

/// A read-only file of ptreloc (`stats`, `result`).
pub fn read(name: &str) -> Result<String, Failure> {
    let mut f = open(name, false)?;
    read_from_start(&mut f, Context::default())
}

/// `/proc/<pid>/numa_maps`, or a failure naming the process.
pub fn numa_maps(pid: u32) -> Result<String, Failure> {
    std::fs::read_to_string(format!("/proc/{pid}/numa_maps")).map_err(|e| match e.kind() {
        ErrorKind::NotFound => Failure::Kernel(format!("no process {pid}")),
        _ => Failure::Kernel(format!("cannot read /proc/{pid}/numa_maps: {e}")),
    })
}

/// Whether process `pid` still has an address space, as ptreloc sees it:
/// `/proc/<pid>/status` shows the `Vm*` lines exactly while the kernel's
/// `get_task_mm()` finds an mm, the test ptreloc's own `ESRCH` comes from.
/// A process that is exiting has lost it before its `/proc` entry goes.
pub fn has_address_space(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| status_has_mm(&s))
}

fn status_has_mm(status: &str) -> bool {
    status.lines().any(|l| l.starts_with("VmSize:"))
}

/// Nodes with memory, if sysfs says.
pub fn nodes_with_memory() -> Option<Vec<u32>> {
    std::fs::read_to_string("/sys/devices/system/node/has_memory")
        .ok()
        .and_then(|s| nodes::parse_list(&s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exiting_process_has_no_address_space() {
        let alive = "Name:\tpython3\nState:\tS (sleeping)\nVmPeak:\t  1 kB\nVmSize:\t  1 kB\n";
        let exiting = "Name:\tpython3\nState:\tR (running)\nThreads:\t1\n";
        assert!(status_has_mm(alive));
        assert!(!status_has_mm(exiting));
    }
}
