// SPDX-License-Identifier: GPL-2.0

//! The duty cycle of a request: after a hold of the mmap lock that tasks
//! waited for, the request stays off the lock for twice as long.
//!
//! A batch holds the process's mmap lock for writing; its readers (faults
//! that fall back to it from a write-locked VMA, `/proc/<pid>/pagemap` and
//! `PAGEMAP_SCAN`, `madvise`, GUP) wait. Requests back to back (a storm,
//! `follow --all` on a busy process) would otherwise hold the lock most of
//! the time, their batches separated only by the allocation of spares, and
//! its readers would get one turn between two batches. With the rest, a
//! request takes at most a third of the lock's time while someone waits for
//! it, and nothing is lost when nobody does: an uncontended request never
//! rests. A third, not half: a reader's turn also loses the time the next
//! batch waits for the readers in the lock to leave (new ones queue behind
//! it), and `make bench` found readers keeping 30 to 73% of their
//! throughput with rests as long as the holds.
//!
//! The rest owed by a request's last hold is taken before the request
//! returns, with the mm's claim still held (`claims.rs`), so that the next
//! request on the same mm rests too.

use crate::outcome::Outcome;
use crate::sys::{self, now_ns};

/// How much longer than a contended hold the rest after it is.
const REST_PER_HOLD: u64 = 2;

/// When a request may take the mmap lock again.
pub(crate) struct DutyCycle {
    /// The end of the rest owed by a contended hold (`now_ns()` time).
    rest_until: Option<u64>,
}

impl DutyCycle {
    pub(crate) fn new() -> Self {
        Self { rest_until: None }
    }

    /// A hold that began at `since` ended now; `contended`: a task was
    /// queued for the lock when it was released.
    pub(crate) fn hold_ended(&mut self, since: u64, contended: bool) {
        if contended {
            let now = now_ns();
            self.rest_until = Some(now + REST_PER_HOLD * (now - since));
        }
    }

    /// Before the next hold, and at the end of a request: sleeps out the
    /// rest owed, less what passed since the hold (allocating spares).
    pub(crate) fn rest(&mut self, out: &mut Outcome) {
        let Some(until) = self.rest_until.take() else {
            return;
        };
        let now = now_ns();
        if until > now {
            sys::sleep_idle_us((until - now).div_ceil(1000));
            out.rests += 1;
            out.rest_ns += now_ns() - now;
        }
    }
}
