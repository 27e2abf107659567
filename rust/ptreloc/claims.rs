// SPDX-License-Identifier: GPL-2.0

//! Serialisation of requests per mm.
//!
//! A request drops and retakes the mmap lock between batches, so the mmap
//! lock alone would let two requests on one mm interleave. A request claims
//! its mm for its whole duration instead; requests on different mms run in
//! parallel.

use kernel::new_condvar;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::{CondVar, Mutex};

use crate::mm::PinnedMm;

/// The mms with a request in progress.
#[pin_data]
pub(crate) struct Claims {
    /// Addresses of the claimed `mm_struct`s: each is pinned by the claiming
    /// request, so an address cannot be reused while it is here.
    #[pin]
    mms: Mutex<KVec<usize>>,
    #[pin]
    released: CondVar,
}

impl Claims {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            mms <- new_mutex!(KVec::new()),
            released <- new_condvar!(),
        })
    }

    /// Waits until no other request works on `mm`, then claims it until the
    /// returned value is dropped. `EINTR` if a signal arrives meanwhile.
    pub(crate) fn claim<'a>(&'a self, mm: &'a PinnedMm) -> Result<Claim<'a>> {
        let key = mm.as_ptr() as usize;
        let mut mms = self.mms.lock();
        while mms.contains(&key) {
            if self.released.wait_interruptible(&mut mms) {
                return Err(EINTR);
            }
        }
        mms.push(key, GFP_KERNEL)?;
        Ok(Claim { claims: self, key })
    }
}

/// A claimed mm; see [`Claims::claim`].
pub(crate) struct Claim<'a> {
    claims: &'a Claims,
    key: usize,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        let mut mms = self.claims.mms.lock();
        if let Some(i) = mms.iter().position(|k| *k == self.key) {
            let last = mms.len() - 1;
            mms.swap(i, last);
            // SAFETY: `usize` needs no drop, and `last` is within the length.
            unsafe { mms.set_len(last) };
        }
        drop(mms);
        self.claims.released.notify_all();
    }
}
