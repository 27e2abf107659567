// SPDX-License-Identifier: GPL-2.0

//! Serialisation of requests per mm.
//!
//! A request drops and retakes the mmap lock between batches, so the mmap
//! lock alone would let two requests on one mm interleave. A request claims
//! its mm for its whole duration instead; requests on different mms run in
//! parallel.
//!
//! A released claim is handed to a request that was already waiting for it,
//! never left for anyone to grab: otherwise a caller that issues requests back
//! to back retakes the mm before a woken waiter runs, and the waiter starves.

use kernel::new_condvar;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::{CondVar, Mutex};

use crate::compat;
use crate::mm::PinnedMm;

/// One claimed mm.
#[derive(Clone, Copy)]
struct Entry {
    /// Address of the `mm_struct`: pinned by the claiming request, or by a
    /// waiting one, so the address cannot be reused while it is here.
    key: usize,
    /// Requests waiting for this mm.
    waiting: usize,
    /// The holder has finished and the claim goes to one of the waiters.
    handed_off: bool,
}

/// The mms with a request in progress or handed to a waiting one.
#[pin_data]
pub(crate) struct Claims {
    #[pin]
    entries: Mutex<KVec<Entry>>,
    #[pin]
    released: CondVar,
}

fn find(entries: &KVec<Entry>, key: usize) -> Option<usize> {
    entries.iter().position(|e| e.key == key)
}

fn remove(entries: &mut KVec<Entry>, i: usize) {
    let last = entries.len() - 1;
    entries.swap(i, last);
    compat::truncate(entries, last);
}

impl Claims {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            entries <- new_mutex!(KVec::new()),
            released <- new_condvar!(),
        })
    }

    /// Waits until no other request works on `mm`, then claims it until the
    /// returned value is dropped. `EINTR` if a signal arrives meanwhile.
    ///
    /// Locking: the `entries` mutex, dropped while waiting.
    pub(crate) fn claim<'a>(&'a self, mm: &'a PinnedMm) -> Result<Claim<'a>> {
        let key = mm.as_ptr() as usize;
        let mut entries = self.entries.lock();
        let mut counted = false;
        loop {
            // Other claims come and go while we sleep and move ours in the
            // vector: look it up each time. It cannot go while we are counted
            // in `waiting`.
            let Some(i) = find(&entries, key) else {
                entries.push(
                    Entry {
                        key,
                        waiting: 0,
                        handed_off: false,
                    },
                    GFP_KERNEL,
                )?;
                return Ok(Claim { claims: self, key });
            };
            let e = &mut entries[i];
            if !counted {
                e.waiting += 1;
                counted = true;
            } else if e.handed_off {
                e.handed_off = false;
                e.waiting -= 1;
                return Ok(Claim { claims: self, key });
            }
            if self.released.wait_interruptible(&mut entries) {
                break;
            }
        }
        // A signal: stop waiting. A hand-off we were woken for goes to
        // another waiter, or ends the claim if there is none.
        if let Some(i) = find(&entries, key) {
            let e = &mut entries[i];
            e.waiting -= 1;
            if e.handed_off {
                if e.waiting == 0 {
                    remove(&mut entries, i);
                } else {
                    drop(entries);
                    self.released.notify_all();
                }
            }
        }
        Err(EINTR)
    }
}

/// A claimed mm; see [`Claims::claim`].
pub(crate) struct Claim<'a> {
    claims: &'a Claims,
    key: usize,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        let mut entries = self.claims.entries.lock();
        let Some(i) = find(&entries, self.key) else {
            return;
        };
        if entries[i].waiting == 0 {
            remove(&mut entries, i);
            return;
        }
        entries[i].handed_off = true;
        drop(entries);
        self.claims.released.notify_all();
    }
}
