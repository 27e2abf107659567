// SPDX-License-Identifier: GPL-2.0

//! The errnos both modules count one by one when requests fail: ptreloc in
//! `stats` (`failed_<name>`), ptreloc_test in a storm's `status`
//! (`errors_<name>`). Any other errno is counted as `other`.
//!
//! A report keeps an array of [`COUNTED`] counters, adds to the one at
//! [`slot`] and prints each under [`name`]; the last slot is `other`.

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

/// Counters per report: one per errno of the table, then `other`.
pub(crate) const COUNTED: usize = ERRNOS.len() + 1;

/// The counter of `errno`, negative as kernel functions return it (see
/// [`Error::to_errno`]): its place in the table, or the last for any other.
pub(crate) fn slot(errno: i32) -> usize {
    ERRNOS
        .iter()
        .position(|(e, _)| e.to_errno() == errno)
        .unwrap_or(ERRNOS.len())
}

/// The name of a counter: the errno's (`EINVAL`), or `other` for the last.
pub(crate) fn name(slot: usize) -> &'static str {
    ERRNOS.get(slot).map_or("other", |&(_, name)| name)
}
