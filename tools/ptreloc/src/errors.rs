// SPDX-License-Identifier: GPL-2.0

//! Why a command failed, as a sentence, and the exit status it gives.

use std::fmt;

/// Exit statuses (documented in `USAGE` and the admin guide).
pub const EXIT_OK: i32 = 0;
pub const EXIT_KERNEL: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_UNAVAILABLE: i32 = 3;

/// A failed command.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// Bad arguments: nothing was sent to the kernel.
    Usage(String),
    /// ptreloc cannot be reached: not loaded, no debugfs, not root.
    Unavailable(String),
    /// The kernel refused or failed the request.
    Kernel(String),
}

impl Failure {
    pub fn exit_code(&self) -> i32 {
        match self {
            Failure::Usage(_) => EXIT_USAGE,
            Failure::Unavailable(_) => EXIT_UNAVAILABLE,
            Failure::Kernel(_) => EXIT_KERNEL,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Failure::Usage(m) | Failure::Unavailable(m) | Failure::Kernel(m) => m,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

/// What a request was about, for the sentences.
#[derive(Debug, Clone, Copy, Default)]
pub struct Context {
    pub pid: Option<u32>,
    pub node: Option<u32>,
}

pub const EPERM: i32 = 1;
const ENOENT: i32 = 2;
pub const ESRCH: i32 = 3;
const EINTR: i32 = 4;
pub const ENOMEM: i32 = 12;
pub const EACCES: i32 = 13;
pub const EBUSY: i32 = 16;
const ENODEV: i32 = 19;
const EINVAL: i32 = 22;
const ENODATA: i32 = 61;

fn node(ctx: Context) -> String {
    ctx.node
        .map_or("the target node".into(), |n| format!("node {n}"))
}

fn process(ctx: Context) -> String {
    ctx.pid
        .map_or("the process".into(), |p| format!("process {p}"))
}

/// The failure for an errno the kernel returned for a request.
pub fn from_errno(errno: i32, ctx: Context) -> Failure {
    match errno {
        EPERM | EACCES => Failure::Unavailable(permission_denied().into()),
        ENOENT => Failure::Unavailable(not_loaded().into()),
        ESRCH => Failure::Kernel(format!(
            "no {}: it does not exist, is a kernel thread, or is exiting",
            process(ctx)
        )),
        ENODEV => Failure::Kernel(format!("{} is offline or has no memory", node(ctx))),
        ENOMEM => Failure::Kernel(format!(
            "{} ran out of memory (or {}'s memory cgroup hit its limit); tables moved so far stay moved",
            node(ctx),
            process(ctx)
        )),
        EINTR => Failure::Kernel("interrupted by a signal; tables moved so far stay moved".into()),
        EBUSY => Failure::Kernel(format!(
            "{} is bound to a device through IOMMU SVA: its page tables cannot move",
            process(ctx)
        )),
        EINVAL => Failure::Kernel(format!(
            "the kernel rejected the request as invalid (for example a zone {} has no memory in)",
            node(ctx)
        )),
        ENODATA => Failure::Kernel("the kernel has no result to report yet".into()),
        e => Failure::Kernel(format!("the request failed: {}", std::io::Error::from_raw_os_error(e))),
    }
}

/// The sentence when the control files may not be opened or written.
pub fn permission_denied() -> &'static str {
    "permission denied: ptreloc's control files need root (CAP_SYS_ADMIN)"
}

/// The sentence when the control files are missing.
pub fn not_loaded() -> &'static str {
    "ptreloc is not loaded: run `insmod ptreloc.ko`"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_and_exit_codes() {
        let ctx = Context {
            pid: Some(42),
            node: Some(3),
        };
        assert_eq!(
            from_errno(ENODEV, ctx),
            Failure::Kernel("node 3 is offline or has no memory".into())
        );
        assert!(from_errno(ESRCH, ctx)
            .message()
            .starts_with("no process 42"));
        assert_eq!(from_errno(EPERM, ctx).exit_code(), EXIT_UNAVAILABLE);
        assert_eq!(from_errno(ENOENT, ctx).message(), not_loaded());
        assert_eq!(from_errno(EBUSY, ctx).exit_code(), EXIT_KERNEL);
        assert!(from_errno(5, Context::default())
            .message()
            .starts_with("the request failed: "));
        assert_eq!(Failure::Usage("x".into()).exit_code(), EXIT_USAGE);
        assert!(from_errno(ENOMEM, Context::default())
            .message()
            .starts_with("the target node ran out"));
    }
}
