// SPDX-License-Identifier: GPL-2.0

//! Where page tables should be: the [`Target`] of a request, and the
//! physical range an evacuation empties.

use core::cell::RefCell;
use core::ptr::NonNull;

use kernel::bindings;
use kernel::prelude::*;

use crate::request::Zone;
use crate::sys;
use crate::table::{Table, TablePage};

/// A range of page frame numbers, `[start, end)`.
#[derive(Clone, Copy)]
pub(crate) struct PfnRange {
    pub(crate) start: u64,
    pub(crate) end: u64,
}

/// The online page at `pfn`, if there is one.
fn online_page(pfn: u64) -> Option<*mut sys::page> {
    // SAFETY: `pfn_to_online_page` accepts any PFN and returns null unless it
    // is online memory, whose `struct page` then stays valid memory.
    let page = unsafe { sys::ptreloc_pfn_to_online_page(pfn as _) };
    (!page.is_null()).then_some(page)
}

impl PfnRange {
    pub(crate) fn contains(&self, pfn: u64) -> bool {
        (self.start..self.end).contains(&pfn)
    }

    /// Page-table pages of any owner (user, kernel, PGDs) in the range,
    /// counted as `/proc/kpageflags` flags them: by their folio, so both
    /// pages of a PTI PGD (order 1, typed on its first page) count.
    pub(crate) fn count_pgtables(&self) -> u64 {
        let mut n = 0;
        for pfn in self.start..self.end {
            if let Some(page) = online_page(pfn) {
                // SAFETY: an online page (above). Its folio may change under
                // us (a racy read, as kpageflags makes); we only read its
                // page type.
                n += u64::from(unsafe {
                    sys::ptreloc_folio_test_pgtable(sys::ptreloc_page_folio(page))
                });
            }
            if pfn % (1 << 16) == 0 {
                sys::cond_resched();
            }
        }
        n
    }

    /// This range cut at the end of memory (a range of whole memory blocks
    /// may end past the last page of the last node); `None` if it holds no
    /// memory of any online node.
    pub(crate) fn clamped_to_memory(self) -> Option<Self> {
        let mut end = 0;
        let mut touches = false;
        for n in nodes_with_memory() {
            let (start, node_end) = sys::node_pfn_span(n);
            end = end.max(node_end);
            touches |= start < self.end && self.start < node_end;
        }
        let clamped = Self {
            start: self.start,
            end: self.end.min(end),
        };
        (touches && clamped.start < clamped.end).then_some(clamped)
    }

    /// Where an evacuation without `node=` puts tables: the node nearest to
    /// the range's own (that of its first online page, or node 0) that has
    /// free memory outside the range. A node whose free pages all lie in the
    /// range would only hand back pages the evacuation must refuse.
    pub(crate) fn default_target(&self) -> Option<i32> {
        let from = (self.start..self.end)
            .step_by(512)
            .find_map(online_page)
            // SAFETY: an online page (above).
            .map_or(0, |page| unsafe { sys::ptreloc_page_to_nid(page) });
        nodes_with_memory()
            .filter(|n| sys::node_free_pages(*n) > self.free_pages_on(*n) + MIN_FREE_OUTSIDE)
            .min_by_key(|n| sys::node_distance(from, *n))
    }

    /// Free pages of node `nid` in the range, from the buddy allocator's
    /// page types: a racy estimate, as `/proc/kpageflags` gives.
    fn free_pages_on(&self, nid: i32) -> u64 {
        let (node_start, node_end) = sys::node_pfn_span(nid);
        let mut pfn = self.start.max(node_start);
        let end = self.end.min(node_end);
        let mut free = 0;
        while pfn < end {
            // SAFETY: an online page (`online_page`).
            let order = online_page(pfn).and_then(|page| unsafe { sys::free_order(page) });
            let pages = order.map_or(1, |order| 1 << order);
            if order.is_some() {
                free += pages;
            }
            pfn += pages;
            if pfn % (1 << 16) < pages {
                sys::cond_resched();
            }
        }
        free
    }
}

/// Free pages a default evacuation target needs outside the range: 4 MiB.
const MIN_FREE_OUTSIDE: u64 = 1024;

/// The online nodes with memory.
fn nodes_with_memory() -> impl Iterator<Item = i32> {
    // SAFETY: fixed after boot.
    let nr_node_ids = unsafe { bindings::nr_node_ids } as i32;
    (0..nr_node_ids).filter(|n| sys::node_online(*n) && sys::node_has_memory(*n))
}

/// Where tables go: a node, optionally one zone of it; or, for an
/// evacuation, anywhere outside a PFN range (new ones from that node).
#[derive(Clone, Copy)]
pub(crate) struct Target {
    pub(crate) node: i32,
    pub(crate) zone: Option<Zone>,
    pub(crate) avoid: Option<PfnRange>,
}

impl Target {
    /// Whether `page` is where this target wants tables.
    pub(crate) fn holds(&self, page: TablePage) -> bool {
        let zone_ok = self
            .zone
            .map_or(true, |z| sys::zone_index(z) == page.zone());
        match self.avoid {
            Some(range) => zone_ok && !range.contains(page.pfn()),
            None => zone_ok && page.node() == self.node,
        }
    }

    /// Whether `table` is where this target wants tables.
    pub(crate) fn holds_table(&self, table: &Table) -> bool {
        self.holds(table.page())
    }

    /// Whether the target node has memory in the target zone.
    pub(crate) fn zone_populated(&self) -> bool {
        self.zone.map_or(true, |z| {
            sys::node_zone_populated(self.node, sys::zone_index(z))
        })
    }
}

/// Pages of the range an evacuation empties that the allocator handed out
/// for new tables: held until the evacuation ends. Freed at once, each would
/// be the next page the allocator hands out (it comes back to the per-CPU
/// list it came from), and an evacuation into the node whose memory the
/// range is part of would never get a page outside it.
///
/// A held page stays charged to the memcg its table would have been
/// charged to until the evacuation ends.
///
/// # Invariants
///
/// Every page in `pages` is an order-0 page we allocated, own and use for
/// nothing; each is freed on drop.
pub(crate) struct Quarantine {
    range: PfnRange,
    pages: RefCell<KVec<NonNull<sys::page>>>,
}

impl Quarantine {
    /// The most pages held: 256 MiB, two memory blocks of x86-64's usual
    /// 128 MiB. An evacuation that meets more gets `ENOMEM` per process.
    const MAX: usize = 65536;

    pub(crate) fn new(range: PfnRange) -> Self {
        Self {
            range,
            pages: RefCell::new(KVec::new()),
        }
    }

    /// Takes `page` if it is in the range and there is room; `false` leaves
    /// it to the caller.
    ///
    /// # Safety
    ///
    /// `page` must be an order-0 page the caller allocated and owns, used for
    /// nothing.
    pub(crate) unsafe fn hold(&self, page: NonNull<sys::page>) -> bool {
        // SAFETY: a valid page (caller).
        let pfn = unsafe { sys::ptreloc_page_to_pfn(page.as_ptr()) } as u64;
        let mut pages = self.pages.borrow_mut();
        // INVARIANT: the caller gives the page up to us.
        self.range.contains(pfn)
            && pages.len() < Self::MAX
            && pages.push(page, GFP_KERNEL | __GFP_NOWARN).is_ok()
    }
}

impl Drop for Quarantine {
    fn drop(&mut self) {
        for page in self.pages.get_mut().iter() {
            // SAFETY: ours and unused (type invariant).
            unsafe { bindings::__free_pages(page.as_ptr(), 0) };
        }
    }
}
