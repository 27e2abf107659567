// SPDX-License-Identifier: GPL-2.0

//! A growable text buffer for what the debugfs files read back.

use kernel::prelude::*;

/// Text built with `write!`; an allocation failure is a `fmt::Error`.
pub(crate) struct TextBuf {
    bytes: KVec<u8>,
}

impl TextBuf {
    pub(crate) const fn new() -> Self {
        Self { bytes: KVec::new() }
    }

    pub(crate) fn clear(&mut self) {
        // SAFETY: `u8` needs no drop, and 0 is within the length.
        unsafe { self.bytes.set_len(0) };
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl core::fmt::Write for TextBuf {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.bytes
            .extend_from_slice(s.as_bytes(), GFP_KERNEL)
            .map_err(|_| core::fmt::Error)
    }
}
