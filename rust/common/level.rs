// SPDX-License-Identifier: GPL-2.0

//! The page-table levels whose tables move, and their x86-64 geometry.
//!
//! A table of some [`Level`] is pointed to by one entry of the level above:
//! a PTE table by a PMD entry, a PMD table by a PUD entry, a PUD table by a
//! P4D entry. This file uses only `core`, so the host test crate
//! (`rust/request-tests`) compiles and tests the same source.

use crate::words::ParseError;
use crate::x86::{P4D_SIZE, PMD_SIZE, PTE_PSE, PTRS_PER_TABLE, PUD_SIZE};

/// A level whose tables can move. The PGD cannot: see `Documentation/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    /// Last-level tables, pointed to by PMD entries.
    Pte,
    /// PMD tables, pointed to by PUD entries.
    Pmd,
    /// PUD tables, pointed to by P4D (with 4-level paging, PGD) entries.
    Pud,
}

impl Level {
    /// Every level, in the order a request moves them: the lower tables
    /// first, while the upper tables that lead to them stay put.
    pub(crate) const ALL: [Level; 3] = [Level::Pte, Level::Pmd, Level::Pud];

    /// The name used in requests and reports.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Level::Pte => "pte",
            Level::Pmd => "pmd",
            Level::Pud => "pud",
        }
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }

    /// The level's bit in a mask of levels, bit 0 for PTE: the in-kernel
    /// API's `LEVEL_*` bit, and [`Levels::from_mask`]'s.
    pub(crate) fn mask(self) -> u32 {
        u32::from(self.bit())
    }

    /// Bytes of address space one table of this level maps.
    pub(crate) fn span(self) -> usize {
        match self {
            Level::Pte => PMD_SIZE,
            Level::Pmd => PUD_SIZE,
            Level::Pud => P4D_SIZE,
        }
    }

    /// Index into per-level counters.
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// Bytes mapped by one entry of a table of this level.
    pub(crate) fn entry_span(self) -> usize {
        self.span() / PTRS_PER_TABLE
    }

    /// The index of the entry mapping `addr` in the table of this level
    /// that maps it.
    pub(crate) fn entry_index(self, addr: usize) -> usize {
        (addr / self.entry_span()) % PTRS_PER_TABLE
    }

    /// Whether an entry of a table of this level maps memory (a page or a
    /// huge page) rather than pointing to a lower table.
    pub(crate) fn is_leaf(self, entry: u64) -> bool {
        self == Level::Pte || entry & PTE_PSE != 0
    }
}

/// Page-table levels whose tables a request moves: a set of [`Level`]s.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Levels(u8);

impl Levels {
    /// All three levels, the default.
    pub(crate) const ALL: Levels = Levels(0b111);

    /// The set whose [`Level::ALL`] members are the bits of `mask`, bit 0
    /// for PTE; `None` if `mask` has other bits.
    pub(crate) fn from_mask(mask: u32) -> Option<Self> {
        (mask <= u32::from(Self::ALL.0)).then_some(Levels(mask as u8))
    }

    pub(crate) fn contains(self, level: Level) -> bool {
        self.0 & level.bit() != 0
    }

    /// The levels in the set, in [`Level::ALL`] order.
    pub(crate) fn iter(self) -> impl Iterator<Item = Level> {
        Level::ALL.into_iter().filter(move |l| self.contains(*l))
    }

    /// The value of an optional `levels=` key: all levels when absent.
    pub(crate) fn parse_or_all(s: Option<&str>) -> Result<Self, ParseError> {
        s.map_or(Ok(Levels::ALL), Levels::parse)
    }

    /// Parses `pte,pmd,pud` or any non-empty subset, each at most once, in
    /// any order.
    pub(crate) fn parse(s: &str) -> Result<Self, ParseError> {
        let mut set = 0u8;
        for name in s.split(',') {
            let level = Level::ALL
                .into_iter()
                .find(|l| l.name() == name)
                .ok_or(ParseError::BadLevels)?;
            if set & level.bit() != 0 {
                return Err(ParseError::BadLevels);
            }
            set |= level.bit();
        }
        Ok(Levels(set))
    }
}
