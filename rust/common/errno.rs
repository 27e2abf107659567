// SPDX-License-Identifier: GPL-2.0

//! The errnos both modules count one by one when requests fail: ptreloc in
//! `stats` (`failed_<name>`), ptreloc_test in a storm's `status`
//! (`errors_<name>`). Any other errno is counted as `other`.
//!
use core::fmt::Write;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use kernel::error::code::{EBUSY, EINTR, EINVAL, ENODEV, ENOMEM, EPERM, ESRCH};
use kernel::error::Error;

/// The errnos counted separately, in the order reports print them.
const ERRNOS: [(Error, &str); 7] = [
    (EINVAL, "EINVAL"),
    (ENODEV, "ENODEV"),
    (ESRCH, "ESRCH"),
    (ENOMEM, "ENOMEM"),
    (EINTR, "EINTR"),
    (EPERM, "EPERM"),
    (EBUSY, "EBUSY"),
];

/// Failures counted by errno: one counter per errno of [`ERRNOS`], then
/// one for any other.
#[derive(Default)]
pub(crate) struct Counts([AtomicU64; ERRNOS.len() + 1]);

impl Counts {
    /// Counts a failure with `errno`, negative as kernel functions return it
    /// (see [`Error::to_errno`]), as `other` if it has no counter of its own
    /// (0 included); returns how many that counter had before.
    pub(crate) fn add(&self, errno: i32) -> u64 {
        self.0[slot(errno)].fetch_add(1, Relaxed)
    }

    /// Writes one `<prefix><name> <count>` line per counter, `other` last.
    pub(crate) fn write(&self, out: &mut impl Write, prefix: &str) -> core::fmt::Result {
        for (i, count) in self.0.iter().enumerate() {
            let name = ERRNOS.get(i).map_or("other", |&(_, name)| name);
            writeln!(out, "{prefix}{name} {}", count.load(Relaxed))?;
        }
        Ok(())
    }
}

/// The counter of `errno`: its place in [`ERRNOS`], or the last for any
/// other.
fn slot(errno: i32) -> usize {
    ERRNOS
        .iter()
        .position(|(e, _)| e.to_errno() == errno)
        .unwrap_or(ERRNOS.len())
}

/// The name of `errno`, negative as kernel functions return it: `EINVAL`,
/// or `other` if it has no counter of its own.
pub(crate) fn name(errno: i32) -> &'static str {
    ERRNOS.get(slot(errno)).map_or("other", |&(_, name)| name)
}
