// SPDX-License-Identifier: GPL-2.0

//! Talking to the kernel: ptreloc's debugfs files, `/proc` and node sysfs.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;

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
    match request_errno(name, request) {
        Err(e) => (None, Err(e)),
        Ok((outcome, written)) => (
            outcome,
            written.map_err(|e| match e.raw_os_error() {
                Some(errno) => errors::from_errno(errno, ctx),
                None => Failure::Kernel("the kernel took part of the request".into()),
            }),
        ),
    }
}

/// [`request`], its failure left as the error the write gave (an errno,
/// or `WriteZero` when the kernel took part of it): `Err` only when the
/// file cannot be opened, that is when ptreloc cannot be reached.
pub fn request_errno(
    name: &str,
    request: &str,
) -> Result<(Option<String>, std::io::Result<()>), Failure> {
    let mut f = open(name, true)?;
    let written = match f.write(request.as_bytes()) {
        Ok(n) if n == request.len() => Ok(()),
        Ok(_) => Err(ErrorKind::WriteZero.into()),
        Err(e) => Err(e),
    };
    // A request rejected before running has no outcome (ENODATA).
    let outcome = read_from_start(&mut f, Context::default()).ok();
    Ok((outcome, written))
}

/// The `census` file, open: one census after the other on the same open
/// file, each a `pwrite` of `pid=<pid>` and a `pread` of the answer.
pub struct CensusFile {
    file: File,
    buf: Vec<u8>,
}

impl CensusFile {
    pub fn open() -> Result<Self, Failure> {
        Ok(Self {
            file: open("census", true)?,
            buf: Vec::new(),
        })
    }

    /// The census text of process `pid`, or the errno the kernel gave. A
    /// refused write leaves the file's previous census in place: it is
    /// never read then.
    pub fn text(&mut self, pid: u32) -> std::io::Result<&str> {
        let req = format!("pid={pid}");
        if self.file.write_at(req.as_bytes(), 0)? != req.len() {
            return Err(ErrorKind::WriteZero.into());
        }
        // Reading at offset 0 formats the census; further offsets read the
        // same text. A read gives all of the text it has room for
        // (`simple_read_from_buffer`), so a short one has reached the end.
        self.buf.clear();
        loop {
            let len = self.buf.len();
            let room = 4096;
            self.buf.resize(len + room, 0);
            let n = self.file.read_at(&mut self.buf[len..], len as u64)?;
            self.buf.truncate(len + n);
            if n < room {
                break;
            }
        }
        std::str::from_utf8(&self.buf).map_err(|_| ErrorKind::InvalidData.into())
    }

    /// The census of process `pid`, or a failure naming it.
    pub fn of(&mut self, pid: u32) -> Result<Census, Failure> {
        let ctx = Context {
            pid: Some(pid),
            node: None,
        };
        let text = self
            .text(pid)
            .map_err(|e| errors::from_errno(e.raw_os_error().unwrap_or(5), ctx))?;
        Census::parse(text)
            .ok_or_else(|| Failure::Kernel(format!("cannot parse the census: {text:?}")))
    }
}

/// The census of a process.
pub fn census(pid: u32) -> Result<Census, Failure> {
    CensusFile::open()?.of(pid)
}

/// A read-only file of ptreloc (`stats`, `result`).
pub fn read(name: &str) -> Result<String, Failure> {
    let mut f = open(name, false)?;
    read_from_start(&mut f, Context::default())
}

/// A buffer for reading `/proc` and sysfs files one after the other: each
/// file is `open`, `read` to the end, `close`, nothing more (their size is
/// not asked for: it is 0 there). The buffer only grows, and is
/// initialized once.
pub struct FileBuf {
    bytes: Vec<u8>,
    len: usize,
}

impl Default for FileBuf {
    fn default() -> Self {
        Self {
            bytes: vec![0; 16384],
            len: 0,
        }
    }
}

impl FileBuf {
    /// Reads `path`, replacing what the buffer held.
    pub fn read(&mut self, path: &str) -> std::io::Result<()> {
        self.read_until(path, false)
    }

    /// Reads a file the kernel formats whole when it is opened or first
    /// read, `single_open()` in `/proc` (a thread's `stat`, `schedstat`,
    /// `status`): a read shorter than the room it was given has reached
    /// the end, which saves the last, empty, read. Not for files made of
    /// records, such as `numa_maps`, which hand out a page at a time.
    pub fn read_whole(&mut self, path: &str) -> std::io::Result<()> {
        self.read_until(path, true)
    }

    fn read_until(&mut self, path: &str, short_is_end: bool) -> std::io::Result<()> {
        let mut f = File::open(path)?;
        self.len = 0;
        loop {
            if self.bytes.len() - self.len < 4096 {
                self.bytes.resize(self.bytes.len() * 2, 0);
            }
            let room = self.bytes.len() - self.len;
            match f.read(&mut self.bytes[self.len..]) {
                Ok(0) => return Ok(()),
                Ok(n) => {
                    self.len += n;
                    if short_is_end && n < room {
                        return Ok(());
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// What the last read gave, as text (names in `/proc` need not be
    /// UTF-8: anything else is replaced).
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.bytes[..self.len])
    }
}

/// Whether a `/proc/<pid>` read failed because the process or thread is
/// gone: its directory was removed (`ENOENT`) or it died while the file
/// was open (`ESRCH`).
pub fn vanished(e: &std::io::Error) -> bool {
    e.kind() == ErrorKind::NotFound || e.raw_os_error() == Some(errors::ESRCH)
}

/// `/proc/<pid>/numa_maps`, or a failure naming the process. (File names
/// in it need not be UTF-8; only the node counts matter.)
pub fn numa_maps(pid: u32) -> Result<String, Failure> {
    let mut buf = FileBuf::default();
    buf.read(&format!("/proc/{pid}/numa_maps")).map_err(|e| {
        if vanished(&e) {
            Failure::Kernel(format!("no process {pid}"))
        } else {
            Failure::Kernel(format!("cannot read /proc/{pid}/numa_maps: {e}"))
        }
    })?;
    Ok(buf.text().into_owned())
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
    fn file_buf() {
        let mut buf = FileBuf::default();
        // Longer than the buffer: it grows.
        let long = "x".repeat(100_000);
        let path = std::env::temp_dir().join(format!("ptreloc-filebuf-{}", std::process::id()));
        std::fs::write(&path, &long).unwrap();
        buf.read(path.to_str().unwrap()).unwrap();
        assert_eq!(buf.text(), long);
        buf.read_whole(path.to_str().unwrap()).unwrap();
        assert_eq!(buf.text(), long);
        std::fs::write(&path, b"short\xff").unwrap();
        buf.read(path.to_str().unwrap()).unwrap();
        assert_eq!(buf.text(), "short\u{fffd}");
        std::fs::remove_file(&path).unwrap();
        assert!(vanished(&buf.read("/proc/0/stat").unwrap_err()));
    }

    #[test]
    fn exiting_process_has_no_address_space() {
        let alive = "Name:\tpython3\nState:\tS (sleeping)\nVmPeak:\t  1 kB\nVmSize:\t  1 kB\n";
        let exiting = "Name:\tpython3\nState:\tR (running)\nThreads:\t1\n";
        assert!(status_has_mm(alive));
        assert!(!status_has_mm(exiting));
    }
}
