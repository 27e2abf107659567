// SPDX-License-Identifier: GPL-2.0

//! `follow`'s budget: at most T page tables moved per second, so that
//! following never becomes the load.
//!
//! A token bucket: it fills at T tables per second of real time, up to T x
//! interval, and starts full. A request is made only when the most it can
//! move fits in what the bucket holds; the tables it did move are then
//! taken out. So one interval never moves more than T x interval tables,
//! and any k consecutive intervals never more than T x (the time between
//! the first and the last, plus one interval).
//!
//! A process with more misplaced tables than the bucket holds is moved a
//! part at a time: the tables of one level (PTE, then PMD, then PUD) that
//! map an address range chosen from its VMAs (`plan_range`) so that no more
//! of them than the bucket holds can exist there. The rest waits for the
//! next intervals.

use std::time::Duration;

/// The movable levels in the order a request moves them, each with the
/// span of address space one table of it maps (x86-64, 4 KiB pages).
pub const LEVELS: [(&str, u64); 3] = [("pte", 1 << 21), ("pmd", 1 << 30), ("pud", 1 << 39)];

/// The token bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct Budget {
    /// Tables per second.
    rate: f64,
    /// Tables it holds at most: `rate` x interval.
    capacity: f64,
    /// Tables it holds now; below 0 after a request moved more than it
    /// could foresee (deposited tables of huge pages, which no census
    /// counts): paid back from the next intervals.
    tokens: f64,
    /// When it was last filled.
    filled: Option<Duration>,
}

impl Budget {
    /// `per_second` tables per second, at most `per_second` x `interval`
    /// at once; full.
    pub fn new(per_second: u64, interval: f64) -> Self {
        let capacity = per_second as f64 * interval;
        Self {
            rate: per_second as f64,
            capacity,
            tokens: capacity,
            filled: None,
        }
    }

    /// Fills it for the time from the last fill to `now` (time since any
    /// fixed point: `follow` counts from its start).
    pub fn fill(&mut self, now: Duration) {
        if let Some(then) = self.filled {
            let secs = now.saturating_sub(then).as_secs_f64();
            self.tokens = (self.tokens + self.rate * secs).min(self.capacity);
        }
        self.filled = Some(now);
    }

    /// Whole tables a request may move now.
    pub fn available(&self) -> u64 {
        // The bucket never holds more than `capacity`, an f64 of a u64 times
        // at most 86400: the cast saturates, and truncates to whole tables.
        self.tokens.max(0.0) as u64
    }

    /// Takes out what a request moved.
    pub fn spend(&mut self, tables: u64) {
        self.tokens -= tables as f64;
    }

    /// What it holds now (below 0 in debt).
    pub fn tokens(&self) -> f64 {
        self.tokens
    }

    /// What it holds at most: the tables of one interval.
    pub fn capacity(&self) -> f64 {
        self.capacity
    }
}

/// A part of a process's address space to move: the tables of level
/// `LEVELS[level]` that map part of `[start, end)`, at most `bound` of
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    pub start: u64,
    pub end: u64,
    pub bound: u64,
}

/// The longest range from `from` on whose tables of `span` bytes each are
/// at most `max`, given the process's VMAs (`(start, end)`, ascending, not
/// overlapping): `None` when no VMA ends after `from`, or `max` is 0.
///
/// A request's walk visits a table only where a VMA meets its span (a
/// table of a span without VMAs is freed with the last of them), starting
/// from the span that holds `start` and ending before `end`. The range
/// starts inside a VMA (at `from` or at the first VMA after it) and ends at
/// the end of a VMA or of a span: so every span it visits meets a VMA
/// inside the range, and `bound` counts exactly those spans, each once.
pub fn plan_range(vmas: &[(u64, u64)], from: u64, span: u64, max: u64) -> Option<Part> {
    if max == 0 {
        return None;
    }
    let mut part: Option<Part> = None;
    // The last span counted: VMAs side by side may share one.
    let mut last: Option<u64> = None;
    for &(vma_start, vma_end) in vmas.iter().filter(|v| v.1 > from && v.0 < v.1) {
        let start = vma_start.max(from);
        let (first, final_span) = (start / span, (vma_end - 1) / span);
        let first_new = last.map_or(first, |l| first.max(l + 1));
        let new = (final_span + 1).saturating_sub(first_new);
        let count = part.map_or(0, |p| p.bound);
        let room = max - count;
        let begin = part.map_or(start, |p| p.start);
        if new <= room {
            part = Some(Part {
                start: begin,
                end: vma_end,
                bound: count + new,
            });
            last = Some(last.map_or(final_span, |l| l.max(final_span)));
            continue;
        }
        if room > 0 {
            // The first `room` new spans of this VMA, up to a span's end.
            part = Some(Part {
                start: begin,
                end: (first_new + room) * span,
                bound: max,
            });
        }
        break;
    }
    part
}

/// Parses `/proc/<pid>/maps` into `(start, end)` pairs, user addresses only
/// (not `[vsyscall]`, in the kernel's half).
pub fn parse_maps(text: &str) -> Vec<(u64, u64)> {
    text.lines()
        .filter_map(|l| {
            let (a, b) = l.split_whitespace().next()?.split_once('-')?;
            let range = (
                u64::from_str_radix(a, 16).ok()?,
                u64::from_str_radix(b, 16).ok()?,
            );
            (range.0 < range.1 && range.1 <= USER_END).then_some(range)
        })
        .collect()
}

/// Above the largest user address of x86-64 (5-level paging: 56 bits).
const USER_END: u64 = 1 << 56;

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;
    const PTE: u64 = LEVELS[0].1;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn bucket_fills_at_the_rate_up_to_one_interval() {
        // 40 tables per second, 0.5 s intervals: 20 at once.
        let mut b = Budget::new(40, 0.5);
        assert_eq!(b.capacity(), 20.0);
        b.fill(secs(0.0));
        assert_eq!(b.available(), 20);
        b.spend(20);
        assert_eq!(b.available(), 0);
        // A quarter of a second: 10 more.
        b.fill(secs(0.25));
        assert_eq!(b.available(), 10);
        b.spend(3);
        b.fill(secs(0.5));
        assert_eq!(b.available(), 17);
        // A long pause fills it to the brim, no more.
        b.fill(secs(100.0));
        assert_eq!(b.available(), 20);
        // Time going backwards (it cannot, but) adds nothing.
        b.fill(secs(50.0));
        assert_eq!(b.available(), 20);
    }

    #[test]
    fn debt_is_paid_back() {
        let mut b = Budget::new(10, 1.0);
        b.fill(secs(0.0));
        // A request moved 25 (deposited tables it could not foresee).
        b.spend(25);
        assert_eq!(b.tokens(), -15.0);
        assert_eq!(b.available(), 0);
        b.fill(secs(1.0));
        assert_eq!(b.available(), 0);
        b.fill(secs(2.0));
        assert_eq!(b.available(), 5);
    }

    #[test]
    fn fractional_tables_accumulate() {
        // 3 per second, 0.5 s: 1.5 per interval.
        let mut b = Budget::new(3, 0.5);
        b.fill(secs(0.0));
        assert_eq!(b.available(), 1);
        b.spend(1);
        b.fill(secs(0.5));
        assert_eq!(b.available(), 1);
        b.spend(1);
        b.fill(secs(1.0));
        assert_eq!(b.available(), 1);
    }

    /// Whatever the requests and their timing, k consecutive fills never
    /// let more than rate x (time from the first to the last + interval)
    /// be spent, when each spend is at most what is available.
    #[test]
    fn never_more_than_the_rate_over_any_run_of_intervals() {
        let (rate, interval) = (40u64, 0.5);
        let mut b = Budget::new(rate, interval);
        let mut seed = 12345u64;
        let mut rand = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        let mut now = 0.0;
        let mut log: Vec<(f64, u64)> = Vec::new();
        for _ in 0..2000 {
            // Intervals of 0.5 s, sometimes late by up to 0.5 s.
            now += interval + rand(500) as f64 / 1000.0 * (rand(4) / 3) as f64;
            b.fill(secs(now));
            let mut spent = 0;
            for _ in 0..rand(4) {
                let most = b.available();
                let moved = if most == 0 { 0 } else { rand(most + 1) };
                b.spend(moved);
                spent += moved;
            }
            log.push((now, spent));
        }
        for i in 0..log.len() {
            let mut sum = 0;
            for j in i..log.len().min(i + 50) {
                sum += log[j].1;
                let allowed = rate as f64 * (log[j].0 - log[i].0 + interval);
                assert!(sum as f64 <= allowed + 1e-6, "{i}..{j}: {sum} > {allowed}");
            }
        }
    }

    #[test]
    fn one_vma_cut_at_spans() {
        // 10 MiB from 1 MiB: spans 0 to 5 (the first and last partly).
        let vmas = [(MIB, 11 * MIB)];
        assert_eq!(
            plan_range(&vmas, 0, PTE, 100),
            Some(Part {
                start: MIB,
                end: 11 * MIB,
                bound: 6
            })
        );
        // Room for 2: spans 0 and 1, up to the end of span 1.
        assert_eq!(
            plan_range(&vmas, 0, PTE, 2),
            Some(Part {
                start: MIB,
                end: 4 * MIB,
                bound: 2
            })
        );
        // From there on: spans 2 and 3.
        assert_eq!(
            plan_range(&vmas, 4 * MIB, PTE, 2),
            Some(Part {
                start: 4 * MIB,
                end: 8 * MIB,
                bound: 2
            })
        );
        // The rest: spans 4 and 5, to the VMA's end.
        assert_eq!(
            plan_range(&vmas, 8 * MIB, PTE, 2),
            Some(Part {
                start: 8 * MIB,
                end: 11 * MIB,
                bound: 2
            })
        );
        assert_eq!(plan_range(&vmas, 11 * MIB, PTE, 2), None);
        assert_eq!(plan_range(&vmas, 0, PTE, 0), None);
    }

    #[test]
    fn vmas_sharing_a_span_count_it_once() {
        // Three small VMAs in span 0, one in span 1, a gap, one in span 9.
        let vmas = [
            (0x1000, 0x3000),
            (0x5000, 0x8000),
            (0x10000, 0x11000),
            (PTE + 0x1000, PTE + 0x2000),
            (9 * PTE, 9 * PTE + 0x1000),
        ];
        assert_eq!(
            plan_range(&vmas, 0, PTE, 2),
            Some(Part {
                start: 0x1000,
                end: PTE + 0x2000,
                bound: 2
            })
        );
        assert_eq!(
            plan_range(&vmas, PTE + 0x2000, PTE, 2),
            Some(Part {
                start: 9 * PTE,
                end: 9 * PTE + 0x1000,
                bound: 1
            })
        );
        // From inside a VMA: the range starts there.
        assert_eq!(
            plan_range(&vmas, 0x6000, PTE, 1),
            Some(Part {
                start: 0x6000,
                end: 0x11000,
                bound: 1
            })
        );
    }

    #[test]
    fn upper_levels_count_their_spans() {
        let (pmd, pud) = (LEVELS[1].1, LEVELS[2].1);
        // 3 GiB at 1 GiB, and a stack near the top of 47 bits.
        let vmas = [(pmd, 4 * pmd), (0x7ffd_0000_0000, 0x7ffd_0002_1000)];
        assert_eq!(
            plan_range(&vmas, 0, pmd, 10),
            Some(Part {
                start: pmd,
                end: 0x7ffd_0002_1000,
                bound: 4
            })
        );
        assert_eq!(plan_range(&vmas, 0, pud, 10).map(|p| p.bound), Some(2));
        assert_eq!(
            plan_range(&vmas, 0, pmd, 2),
            Some(Part {
                start: pmd,
                end: 3 * pmd,
                bound: 2
            })
        );
    }

    /// Brute force over many layouts: every span that meets a VMA inside
    /// the planned range, and every span that meets both the range and a
    /// VMA starting before its end (what the kernel's walk visits), is
    /// counted; parts cover every VMA byte once, in order.
    #[test]
    fn the_bound_holds_and_parts_cover_everything() {
        let span = 4u64; // small numbers, the same arithmetic
        let mut seed = 7u64;
        let mut rand = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        for _ in 0..3000 {
            let mut vmas = Vec::new();
            let mut at = rand(6);
            for _ in 0..rand(6) + 1 {
                let len = rand(9) + 1;
                vmas.push((at, at + len));
                at += len + rand(7);
            }
            let max = rand(5) + 1;
            let mut from = 0;
            let mut covered = 0;
            while let Some(p) = plan_range(&vmas, from, span, max) {
                assert!(p.start >= from && p.start < p.end && p.bound <= max && p.bound > 0);
                // What the walk visits: spans from the one holding start,
                // below end, that meet a VMA starting before end.
                let visited = (p.start / span..p.end.div_ceil(span))
                    .filter(|s| {
                        vmas.iter()
                            .any(|&(a, b)| a < p.end && a < (s + 1) * span && b > s * span)
                    })
                    .count() as u64;
                assert!(visited <= p.bound, "{vmas:?} {p:?}: visits {visited}");
                covered += vmas
                    .iter()
                    .map(|&(a, b)| b.min(p.end).saturating_sub(a.max(p.start)))
                    .sum::<u64>();
                from = p.end;
            }
            let all: u64 = vmas.iter().map(|(a, b)| b - a).sum();
            assert_eq!(covered, all, "{vmas:?} max {max}");
        }
    }

    #[test]
    fn maps() {
        let text = "55d0c0a00000-55d0c0a21000 r--p 00000000 fe:01 123 /usr/bin/x\n\
                    7ffd12345000-7ffd12366000 rw-p 00000000 00:00 0 [stack]\n\
                    ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0 [vsyscall]\n\
                    garbage\n";
        assert_eq!(
            parse_maps(text),
            vec![
                (0x55d0_c0a0_0000, 0x55d0_c0a2_1000),
                (0x7ffd_1234_5000, 0x7ffd_1236_6000)
            ]
        );
    }
}
