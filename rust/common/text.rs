// SPDX-License-Identifier: GPL-2.0

//! A growable text buffer for what the debugfs files read back.

use core::fmt::Write;

use kernel::prelude::*;

use crate::compat;

/// Text built with `write!`; an allocation failure is a `fmt::Error`.
pub(crate) struct TextBuf {
    bytes: KVec<u8>,
}

impl TextBuf {
    pub(crate) const fn new() -> Self {
        Self { bytes: KVec::new() }
    }

    pub(crate) fn clear(&mut self) {
        compat::truncate(&mut self.bytes, 0);
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Writes one `<name> <value>` line per row, the format of every
    /// counter file.
    pub(crate) fn rows<'a>(
        &mut self,
        rows: impl IntoIterator<Item = (&'a str, u64)>,
    ) -> core::fmt::Result {
        for (name, value) in rows {
            writeln!(self, "{name} {value}")?;
        }
        Ok(())
    }
}

impl Write for TextBuf {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.bytes
            .extend_from_slice(s.as_bytes(), GFP_KERNEL)
            .map_err(|_| core::fmt::Error)
    }
}
