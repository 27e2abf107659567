// SPDX-License-Identifier: GPL-2.0

//! Unit tests of the modules' request parsing (`rust/common/words.rs`,
//! `rust/common/level.rs` and `rust/ptreloc/request.rs`) and of the entry
//! classification reconcile uses (`rust/common/x86.rs`), compiled for the
//! host from the same files the modules compile.

#[cfg(test)]
#[path = "../../common/level.rs"]
mod level;
#[cfg(test)]
#[path = "../../ptreloc/request.rs"]
mod request;
#[cfg(test)]
#[path = "../../common/words.rs"]
mod words;
#[cfg(test)]
#[path = "../../common/x86.rs"]
#[allow(dead_code)]
mod x86;

#[cfg(test)]
mod tests {
    use super::level::*;
    use super::request::*;
    use super::words::*;

    const LIMITS: Limits = Limits {
        nr_node_ids: 2,
        page_size: 4096,
        user_end: 0x7fff_ffff_f000,
        max_pfn: 0x10_0000,
    };

    fn reloc(s: &str) -> Result<RelocateRequest, ParseError> {
        RelocateRequest::parse(s.as_bytes(), &LIMITS)
    }

    #[test]
    fn minimal_request_covers_whole_mm() {
        assert_eq!(
            reloc("pid=42 node=1\n"),
            Ok(RelocateRequest {
                pid: 42,
                node: 1,
                start: 0,
                end: LIMITS.user_end,
                levels: Levels::ALL,
                zone: None,
            })
        );
    }

    #[test]
    fn keys_in_any_order_and_hex_addresses() {
        assert_eq!(
            reloc("  end=0x200000\tnode=0 start=4096 pid=7"),
            Ok(RelocateRequest {
                pid: 7,
                node: 0,
                start: 4096,
                end: 0x200000,
                levels: Levels::ALL,
                zone: None,
            })
        );
    }

    #[test]
    fn levels_any_subset_in_any_order() {
        let levels = |s: &str| reloc(&format!("pid=1 node=0 levels={s}")).map(|r| r.levels);
        let names = |l: Levels| l.iter().map(Level::name).collect::<Vec<_>>();
        assert_eq!(names(levels("pte").unwrap()), ["pte"]);
        assert_eq!(names(levels("pud,pte").unwrap()), ["pte", "pud"]);
        assert_eq!(levels("pmd,pud,pte"), Ok(Levels::ALL));
        for bad in [
            "", "pte,", ",pte", "pte,pte", "pgd", "PTE", "pte pmd", "pte;pmd",
        ] {
            let expected = if bad == "pte pmd" {
                ParseError::UnknownKey
            } else {
                ParseError::BadLevels
            };
            assert_eq!(levels(bad), Err(expected), "levels={bad}");
        }
    }

    #[test]
    fn zone_dma32_or_normal() {
        let zone = |s: &str| reloc(&format!("pid=1 node=0 zone={s}")).map(|r| r.zone);
        assert_eq!(zone("dma32"), Ok(Some(Zone::Dma32)));
        assert_eq!(zone("normal"), Ok(Some(Zone::Normal)));
        for bad in ["", "dma", "DMA32", "movable", "normal,dma32"] {
            assert_eq!(zone(bad), Err(ParseError::BadZone), "zone={bad}");
        }
        assert_eq!(
            reloc("pid=1 node=0 zone=dma32 zone=normal"),
            Err(ParseError::DuplicateKey)
        );
    }

    #[test]
    fn evacuate_request() {
        let evac = |s: &str| EvacuateRequest::parse(s.as_bytes(), &LIMITS);
        assert_eq!(
            evac("pfn_start=0x80000 pfn_end=0x100000"),
            Ok(EvacuateRequest {
                pfn_start: 0x80000,
                pfn_end: 0x100000,
                node: None,
                levels: Levels::ALL,
                zone: None,
            })
        );
        // Whole memory blocks may end past the last page: evacuate clamps.
        assert_eq!(
            evac("pfn_start=0xf8000 pfn_end=0x108000").map(|r| r.pfn_end),
            Ok(0x108000)
        );
        let full = evac("zone=normal levels=pmd node=1 pfn_end=20 pfn_start=10").unwrap();
        assert_eq!((full.node, full.zone), (Some(1), Some(Zone::Normal)));
        use ParseError::*;
        for (bad, why) in [
            ("pfn_start=1", MissingKey),
            ("pfn_end=1", MissingKey),
            ("pfn_start=2 pfn_end=2", EmptyRange),
            ("pfn_start=3 pfn_end=2", EmptyRange),
            ("pfn_start=0x100000 pfn_end=0x100001", BadAddress),
            ("pfn_start=0 pfn_end=1 node=2", NodeOutOfRange),
            ("pfn_start=0 pfn_end=1 pid=1", UnknownKey),
            ("pfn_start=-1 pfn_end=1", BadNumber),
        ] {
            assert_eq!(evac(bad), Err(why), "{bad}");
        }
    }

    #[test]
    fn malformed_requests() {
        use ParseError::*;
        let cases: &[(&str, ParseError)] = &[
            ("", MissingKey),
            ("pid=1", MissingKey),
            ("node=1", MissingKey),
            ("pid=1 node=1 foo=2", UnknownKey),
            ("pid=1 node=1 garbage", UnknownKey),
            ("pid=1 pid=2 node=0", DuplicateKey),
            ("pid=1 node=0 node=0", DuplicateKey),
            ("pid= node=0", BadNumber),
            ("pid=-1 node=0", BadNumber),
            ("pid=+1 node=0", BadNumber),
            ("pid=0 node=0", BadNumber),
            ("pid=0x10 node=0", BadNumber),
            ("pid=99999999999 node=0", BadNumber),
            ("pid=1 node=2", NodeOutOfRange),
            ("pid=1 node=-1", BadNumber),
            ("pid=1 node=1x", BadNumber),
            ("pid=1 node=0 start=4097", BadAddress),
            ("pid=1 node=0 end=0x1001", BadAddress),
            ("pid=1 node=0 end=0xffffffffffff0000", BadAddress),
            ("pid=1 node=0 start=0x2000 end=0x1000", EmptyRange),
            ("pid=1 node=0 start=0x1000 end=0x1000", EmptyRange),
            ("pid=1 node=0 start=0x", BadNumber),
            ("pid=1 node=0 start=0x1g000", BadNumber),
            ("pid=1 node=0 start=18446744073709551616", BadNumber),
            ("pid=1 node=0 start=4096 end=8192 x=", UnknownKey),
        ];
        for (input, err) in cases {
            assert_eq!(reloc(input), Err(*err), "input {input:?}");
        }
    }

    #[test]
    fn too_long_or_not_text() {
        let long = format!("pid=1 node=0{}", " ".repeat(MAX_REQUEST));
        assert_eq!(reloc(&long), Err(ParseError::TooLong));
        assert_eq!(
            RelocateRequest::parse(b"pid=1 node=0 \xff", &LIMITS),
            Err(ParseError::TooLong)
        );
    }

    #[test]
    fn census_request() {
        assert_eq!(
            CensusRequest::parse(b"pid=3\n"),
            Ok(CensusRequest { pid: 3 })
        );
        assert_eq!(
            CensusRequest::parse(b"pid=3 node=1"),
            Err(ParseError::UnknownKey)
        );
        assert_eq!(CensusRequest::parse(b""), Err(ParseError::MissingKey));
    }

    #[test]
    fn batch_value() {
        assert_eq!(parse_batch(b"64\n", 4096), Ok(64));
        assert_eq!(parse_batch(b"0", 4096), Err(ParseError::BadNumber));
        assert_eq!(parse_batch(b"4097", 4096), Err(ParseError::BadNumber));
        assert_eq!(parse_batch(b"1 2", 4096), Err(ParseError::BadNumber));
        assert_eq!(parse_batch(b"", 4096), Err(ParseError::MissingKey));
        assert_eq!(parse_batch(b"0x10", 4096), Err(ParseError::BadNumber));
    }

    #[test]
    fn api_requests_are_checked_like_written_ones() {
        let new = |pid, node, range, levels| {
            RelocateRequest::new(pid, node, range, levels, None, &LIMITS)
        };
        let ok = new(7, 1, 0x1000..0x20_0000, Levels::ALL).unwrap();
        assert_eq!(Ok(ok), reloc("pid=7 node=1 start=0x1000 end=0x200000"));
        use ParseError::*;
        assert_eq!(new(0, 0, 0..4096, Levels::ALL), Err(BadNumber));
        assert_eq!(new(-1, 0, 0..4096, Levels::ALL), Err(BadNumber));
        assert_eq!(new(1, 2, 0..4096, Levels::ALL), Err(NodeOutOfRange));
        assert_eq!(new(1, -1, 0..4096, Levels::ALL), Err(NodeOutOfRange));
        assert_eq!(new(1, 0, 1..4096, Levels::ALL), Err(BadAddress));
        assert_eq!(
            new(1, 0, 0..LIMITS.user_end + 4096, Levels::ALL),
            Err(BadAddress)
        );
        assert_eq!(new(1, 0, 4096..4096, Levels::ALL), Err(EmptyRange));
        assert_eq!(new(1, 0, 0..4096, Levels::default()), Err(BadLevels));
    }

    #[test]
    fn level_masks() {
        assert_eq!(Levels::from_mask(0b111), Some(Levels::ALL));
        assert_eq!(Levels::from_mask(0b001), Levels::parse("pte").ok());
        assert_eq!(Levels::from_mask(0b110), Levels::parse("pud,pmd").ok());
        assert_eq!(Levels::from_mask(0b1000), None);
    }

    #[test]
    fn level_geometry() {
        use super::x86::PTE_PSE;
        let spans: Vec<_> = Level::ALL.iter().map(|l| l.span()).collect();
        assert_eq!(spans, [2 << 20, 1 << 30, 512 << 30]);
        assert_eq!(Level::Pte.entry_span(), 4096);
        assert_eq!(Level::Pmd.entry_span(), 2 << 20);
        // The entry mapping 1 GiB + 3 pages + 1: PTE 3 of its PTE table,
        // PMD 0 of its PMD table, PUD 1 of its PUD table.
        let addr = (1 << 30) + 3 * 4096 + 1;
        let idx: Vec<_> = Level::ALL.iter().map(|l| l.entry_index(addr)).collect();
        assert_eq!(idx, [3, 0, 1]);
        assert!(Level::Pte.is_leaf(0));
        assert!(!Level::Pmd.is_leaf(0x1000 | 1));
        assert!(Level::Pmd.is_leaf(PTE_PSE | 1));
        let counters: Vec<_> = Level::ALL.iter().map(|l| l.index()).collect();
        assert_eq!(counters, [0, 1, 2]);
        let masks: Vec<_> = Level::ALL.iter().map(|l| l.mask()).collect();
        assert_eq!(masks, [0b001, 0b010, 0b100]);
        assert_eq!(Levels::from_mask(0b010), Levels::parse("pmd").ok());
    }

    mod cpu_may_set {
        use crate::x86::*;

        /// The branch-free test agrees with the plain one on every
        /// combination of the low 8 bits, at every level, whatever the
        /// frame bits.
        #[test]
        fn branch_free_test_agrees() {
            for high in [0, 0x1234_5000, 0x8000_0000_0000_0000 | 0xdead_b000] {
                for low in 0..256u64 {
                    let entry = high | low;
                    for pte in [false, true] {
                        let leaf = pte || entry & PTE_PSE != 0;
                        let want = (bits_a_cpu_may_set(entry, leaf) != 0) as u64;
                        assert_eq!(cpu_may_set_a_bit(entry, pte), want, "{entry:#x} pte {pte}");
                    }
                }
            }
        }

        #[test]
        fn what_a_cpu_may_set() {
            let p = PTE_PRESENT;
            assert_eq!(bits_a_cpu_may_set(0, true), 0);
            assert_eq!(bits_a_cpu_may_set(p, true), PTE_ACCESSED);
            assert_eq!(
                bits_a_cpu_may_set(p | PTE_RW, true),
                PTE_ACCESSED | PTE_DIRTY
            );
            assert_eq!(bits_a_cpu_may_set(p | PTE_RW, false), PTE_ACCESSED);
            assert_eq!(
                bits_a_cpu_may_set(p | PTE_RW | PTE_ACCESSED | PTE_DIRTY, true),
                0
            );
        }
    }

    mod walker_change {
        use crate::x86::*;

        const PFN: u64 = 0x1234_5000;
        const PRESENT: u64 = PFN | PTE_PRESENT | PTE_RW;

        #[test]
        fn accessed_and_dirty_of_present_entries_are_carried() {
            let was = PRESENT | PTE_ACCESSED | PTE_DIRTY;
            assert_eq!(
                walker_change(was, PRESENT),
                WalkerChange::Carry(PTE_ACCESSED | PTE_DIRTY)
            );
            assert_eq!(
                walker_change(was, PRESENT | PTE_ACCESSED),
                WalkerChange::Carry(PTE_DIRTY)
            );
            // Set in the new entry after the install: nothing to carry.
            assert_eq!(
                walker_change(PRESENT, PRESENT | PTE_DIRTY),
                WalkerChange::Nothing
            );
            assert_eq!(walker_change(PRESENT, PRESENT), WalkerChange::Nothing);
        }

        #[test]
        fn knights_landing_bits_in_non_present_entries_are_benign() {
            // An empty entry, and a swap entry (type and offset above bit 8).
            for copy in [0, 0x3_4567_8000_u64 << 9] {
                for bits in [PTE_ACCESSED, PTE_DIRTY, PTE_ACCESSED | PTE_DIRTY] {
                    assert_eq!(walker_change(copy | bits, copy), WalkerChange::KnlErratum);
                }
                assert_eq!(walker_change(copy, copy), WalkerChange::Nothing);
            }
        }

        #[test]
        fn any_other_difference_is_an_anomaly() {
            assert_eq!(
                walker_change(PRESENT & !PTE_RW, PRESENT),
                WalkerChange::Anomaly
            );
            assert_eq!(
                walker_change(PRESENT, PRESENT + 0x1000),
                WalkerChange::Anomaly
            );
            assert_eq!(walker_change(0, PRESENT), WalkerChange::Anomaly);
            assert_eq!(walker_change(PRESENT | PTE_DIRTY, 0), WalkerChange::Anomaly);
        }
    }
}
