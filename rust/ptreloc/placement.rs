// SPDX-License-Identifier: GPL-2.0

//! Where page tables should be: the [`Target`] of a request, and the
//! physical range an evacuation empties.

use kernel::bindings;

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

    /// The node with memory outside the range that is nearest to the node of
    /// the range's first online page (or to node 0).
    pub(crate) fn nearest_node_outside(&self) -> Option<i32> {
        let from = (self.start..self.end)
            .step_by(512)
            .find_map(online_page)
            // SAFETY: an online page (above).
            .map_or(0, |page| unsafe { sys::ptreloc_page_to_nid(page) });
        // SAFETY: fixed after boot.
        let nr_node_ids = unsafe { bindings::nr_node_ids } as i32;
        (0..nr_node_ids)
            .filter(|n| sys::node_online(*n) && sys::node_has_memory(*n))
            .filter(|n| {
                let (start, end) = sys::node_pfn_span(*n);
                start < self.start || end > self.end
            })
            .min_by_key(|n| sys::node_distance(from, *n))
    }
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
