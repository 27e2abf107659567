// SPDX-License-Identifier: GPL-2.0

//! Page-table pages and the entries that point to them.
//!
//! A table of some [`Level`](crate::level::Level) is pointed to by one entry
//! of the level above: a PTE table by a PMD entry, a PMD table by a PUD
//! entry, a PUD table by a P4D entry (the PGD entry itself with 4-level
//! paging). A [`Slot`] is such an entry, an [`Entry`] its value, a [`Table`]
//! a live table page and a [`NewTable`] its replacement before installation.
//!
//! Everything here is reached through an
//! [`MmapWriteGuard`](crate::mm::MmapWriteGuard), whose lifetime bounds every
//! pointer into the tables: with the mmap lock held for writing, no PGD,
//! P4D, PUD or PMD table of the mm can be freed or replaced except by us. A
//! PTE table can: file THP collapse (`retract_page_tables`) clears its PMD
//! entry and frees it under the file's rmap lock and the PMD lock only, and
//! on 7.3 PT_RECLAIM frees an empty one under a VMA read lock. So a
//! [`Table`] read from an entry is only a hint until the entry is re-checked
//! under the slot's lock with the span's rmap locks held; only then may its
//! lock be used ([`Table::ptl`] is unsafe for that reason).
//!
//! Locks, per level of the table that moves:
//!
//! | table | slot lock                 | the table's own lock      |
//! |-------|---------------------------|---------------------------|
//! | PTE   | PMD lock (split, or mm's) | split PTE lock            |
//! | PMD   | `mm->page_table_lock`     | split PMD lock            |
//! | PUD   | `mm->page_table_lock`     | none (the slot's)         |
//!
//! | file | what |
//! |---|---|
//! | `walk.rs` | [`Slot::lookup`], [`Walker`], [`Entry`], the `*_is_table` predicates |
//! | `page.rs` | [`Table`], [`NewTable`]: allocation, copy and install |
//! | `deposit.rs` | PTE tables deposited for huge pages |
//! | `reconcile.rs` | Accessed/Dirty bits carried over after the flush |
//! | `inject.rs` | the `inject=ad` test hook that proves `reconcile.rs` |
//! | `spares.rs` | [`Spares`]: replacements allocated before a batch takes the mmap lock |
//! | `retired.rs` | [`Retired`]: old tables freed after a grace period, in the background |

mod deposit;
pub(crate) mod inject;
mod page;
mod reconcile;
mod retired;
mod spares;
mod walk;

pub(crate) use deposit::{count_deposits, move_deposits};
pub(crate) use inject::AdInjector;
pub(crate) use page::{NewTable, Table, TablePage};
pub(crate) use reconcile::{reconcile, Watched};
pub(crate) use retired::{awaiting_free, wait_for_released, Retired};
pub(crate) use spares::Spares;
pub(crate) use walk::{
    p4d_is_table, pgd_entry_size, pgd_is_table, pud_is_table, Entry, Lookup, Slot, Walker,
};
