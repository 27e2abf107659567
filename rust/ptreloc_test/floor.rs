// SPDX-License-Identifier: GPL-2.0

//! The `floor` file: what moving a page-table page costs at the least,
//! measured in the kernel for `make bench`. Per page: allocate a page on
//! the target node, copy 4 KiB into it from a page on the source node,
//! free it; in runs of up to [`RUN`] pages, as a batch of relocation
//! allocates them all, copies, then frees the old ones.
//!
//! Write `pages=<n> from=<node> to=<node>`; read back `pages <n>` and
//! `ns <total>` on the same open file.

use core::fmt::Write;

use kernel::bindings;
use kernel::prelude::*;

use crate::compat;
use crate::ksys::{self, gfp_t};
use crate::text::TextBuf;
use crate::words::{parse_node, parse_u64, ParseError, Words};

/// Pages allocated before any is freed.
const RUN: usize = 512;
/// The most pages one measurement takes (4 GiB of mapping: 2048 tables,
/// with room to spare).
const MAX_PAGES: u64 = 1 << 16;

/// A measured floor.
#[derive(Clone, Copy)]
pub(crate) struct Floor {
    pages: u64,
    ns: u64,
}

impl Floor {
    pub(crate) fn format(&self, out: &mut TextBuf) -> core::fmt::Result {
        writeln!(out, "pages {}", self.pages)?;
        writeln!(out, "ns {}", self.ns)
    }
}

/// Parses and runs one measurement.
pub(crate) fn measure(input: &[u8]) -> Result<Floor> {
    const KEYS: [&str; 3] = ["pages", "from", "to"];
    // SAFETY: fixed after boot.
    let nr_node_ids = unsafe { bindings::nr_node_ids };
    let parse = || -> Result<(u64, i32, i32), ParseError> {
        let words = Words::parse(input, &KEYS)?;
        let pages = parse_u64(words.require(0)?)?;
        if pages == 0 || pages > MAX_PAGES {
            return Err(ParseError::BadNumber);
        }
        Ok((
            pages,
            parse_node(words.require(1)?, nr_node_ids)?,
            parse_node(words.require(2)?, nr_node_ids)?,
        ))
    };
    let (pages, from, to) = parse().map_err(|_| EINVAL)?;
    if !ksys::node_has_memory(from) || !ksys::node_has_memory(to) {
        return Err(ENODEV);
    }
    let gfp = bindings::GFP_KERNEL | ksys::GFP_THISNODE;
    let sources = Pages::alloc(pages as usize, from, gfp)?;
    let mut copies = Pages::with_capacity(RUN)?;
    let mut ns = 0;
    for run in sources.0.chunks(RUN) {
        let t0 = ksys::now_ns();
        for src in run {
            copies.push_new(to, gfp)?;
            let dst = copies.0[copies.0.len() - 1];
            // SAFETY: two distinct live pages of ours, in the direct map.
            unsafe {
                bindings::copy_page(
                    ksys::ptreloc_page_address(dst),
                    ksys::ptreloc_page_address(*src),
                )
            };
        }
        copies.free_all();
        ns += ksys::now_ns() - t0;
        ksys::cond_resched();
    }
    Ok(Floor { pages, ns })
}

/// Order-0 pages we allocated, freed on drop.
struct Pages(KVec<*mut bindings::page>);

impl Pages {
    fn with_capacity(n: usize) -> Result<Self> {
        Ok(Self(KVec::with_capacity(n, GFP_KERNEL)?))
    }

    fn alloc(n: usize, nid: i32, gfp: gfp_t) -> Result<Self> {
        let mut pages = Self::with_capacity(n)?;
        for _ in 0..n {
            pages.push_new(nid, gfp)?;
        }
        Ok(pages)
    }

    /// Allocates a page on `nid` and keeps it; there must be room.
    fn push_new(&mut self, nid: i32, gfp: gfp_t) -> Result {
        // SAFETY: `nid` has memory (checked by the caller); order 0.
        let page = unsafe { ksys::ptreloc_alloc_pages_node(nid, gfp, 0) };
        if page.is_null() {
            return Err(ENOMEM);
        }
        // Cannot fail: the capacity was reserved by the caller.
        self.0.push(page, GFP_NOWAIT).map_err(|_| ENOMEM)
    }

    fn free_all(&mut self) {
        for page in self.0.iter() {
            // SAFETY: allocated by `push_new`, order 0, freed once.
            unsafe { bindings::__free_pages(*page, 0) };
        }
        compat::truncate(&mut self.0, 0);
    }
}

impl Drop for Pages {
    fn drop(&mut self) {
        self.free_all();
    }
}
