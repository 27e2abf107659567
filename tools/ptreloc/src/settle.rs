// SPDX-License-Identifier: GPL-2.0

//! `follow`'s hysteresis: a process's page tables are moved only once its
//! home (`home`) has stayed on another node than its tables for `settle`
//! consecutive intervals, so that a thread that visits another node for a
//! moment, or a home that flips between two nodes, moves nothing.
//!
//! "Another node than its tables" means: some of its PTE, PMD or PUD tables
//! are off the home, more of them than a finished move to that same home
//! left behind. A move leaves tables it may not take (a span crowded with
//! files, contended locks, hugetlb); they would otherwise be asked for at
//! every interval.

/// What `observe` says about a process at one interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Its tables are on its home (or as much as a move there could do).
    AtHome,
    /// Its home has been `node` for `intervals` intervals, fewer than the
    /// settle count.
    Waiting { node: usize, intervals: u32 },
    /// Its home has been `node` for `intervals` intervals, at least the
    /// settle count: move its tables there.
    Due { node: usize, intervals: u32 },
}

/// One process's state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settle {
    /// The node the last finished move went to, and how many tables it
    /// left elsewhere.
    placed: Option<(usize, u64)>,
    /// The home seen at the last intervals, while the tables were not on
    /// it, and for how many intervals in a row.
    candidate: Option<(usize, u32)>,
}

impl Settle {
    /// One interval: the process's home is `home`, and `off` of its
    /// movable tables are on other nodes. `settle` is at least 1.
    pub fn observe(&mut self, home: usize, off: u64, settle: u32) -> Verdict {
        let known = self
            .placed
            .is_some_and(|(n, left)| n == home && off <= left);
        if off == 0 || known {
            self.candidate = None;
            return Verdict::AtHome;
        }
        let intervals = match self.candidate {
            Some((node, n)) if node == home => n.saturating_add(1),
            _ => 1,
        };
        self.candidate = Some((home, intervals));
        if intervals >= settle {
            Verdict::Due {
                node: home,
                intervals,
            }
        } else {
            Verdict::Waiting {
                node: home,
                intervals,
            }
        }
    }

    /// A move to `node` has finished, `left` tables still elsewhere: the
    /// process is at home until more than that are off it, or its home
    /// changes.
    pub fn placed(&mut self, node: usize, left: u64) {
        self.placed = Some((node, left));
        self.candidate = None;
    }

    /// Forgets a due move (it was refused, or the process changed): its
    /// home must stay for `settle` intervals again.
    pub fn restart(&mut self) {
        self.candidate = None;
    }

    /// Whether its home was off its tables at the last interval: a move is
    /// waiting or due.
    pub fn pending(&self) -> bool {
        self.candidate.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(s: &mut Settle, settle: u32, seen: &[(usize, u64)]) -> Vec<Verdict> {
        seen.iter()
            .map(|&(home, off)| s.observe(home, off, settle))
            .collect()
    }

    const fn wait(node: usize, intervals: u32) -> Verdict {
        Verdict::Waiting { node, intervals }
    }

    const fn due(node: usize, intervals: u32) -> Verdict {
        Verdict::Due { node, intervals }
    }

    #[test]
    fn due_after_settle_intervals_in_a_row() {
        let mut s = Settle::default();
        assert_eq!(
            run(&mut s, 3, &[(0, 0), (1, 50), (1, 50), (1, 50), (1, 50)]),
            [
                Verdict::AtHome,
                wait(1, 1),
                wait(1, 2),
                due(1, 3),
                due(1, 4)
            ]
        );
        // Settle 1: at once.
        let mut s = Settle::default();
        assert_eq!(run(&mut s, 1, &[(1, 5)]), [due(1, 1)]);
    }

    #[test]
    fn a_visit_elsewhere_or_a_flip_moves_nothing() {
        let mut s = Settle::default();
        // Home 1 for two intervals, back at the tables' node, 1 again.
        assert_eq!(
            run(&mut s, 3, &[(1, 50), (1, 50), (0, 0), (1, 50), (1, 50)]),
            [
                wait(1, 1),
                wait(1, 2),
                Verdict::AtHome,
                wait(1, 1),
                wait(1, 2)
            ]
        );
        // Flipping between two nodes that both lack tables (tables on 2).
        let mut s = Settle::default();
        assert_eq!(
            run(&mut s, 2, &[(0, 9), (1, 9), (0, 9), (1, 9)]),
            [wait(0, 1), wait(1, 1), wait(0, 1), wait(1, 1)]
        );
    }

    #[test]
    fn tables_a_move_left_do_not_make_it_due_again() {
        let mut s = Settle::default();
        assert_eq!(run(&mut s, 2, &[(1, 50), (1, 50)]), [wait(1, 1), due(1, 2)]);
        // The move left 3 tables (crowded spans).
        s.placed(1, 3);
        assert_eq!(
            run(&mut s, 2, &[(1, 3), (1, 2), (1, 3)]),
            [Verdict::AtHome; 3]
        );
        // More tables off the home: new ones, due again after settling.
        assert_eq!(run(&mut s, 2, &[(1, 9), (1, 9)]), [wait(1, 1), due(1, 2)]);
        // The home moves: what was left at node 1 is no excuse.
        s.placed(1, 3);
        assert_eq!(run(&mut s, 2, &[(0, 3), (0, 3)]), [wait(0, 1), due(0, 2)]);
    }

    #[test]
    fn restart_waits_again() {
        let mut s = Settle::default();
        assert_eq!(run(&mut s, 2, &[(1, 5), (1, 5)]), [wait(1, 1), due(1, 2)]);
        assert!(s.pending());
        s.restart();
        assert!(!s.pending());
        assert_eq!(run(&mut s, 2, &[(1, 5), (1, 5)]), [wait(1, 1), due(1, 2)]);
    }

    #[test]
    fn intervals_saturate() {
        let mut s = Settle {
            placed: None,
            candidate: Some((1, u32::MAX)),
        };
        assert_eq!(s.observe(1, 5, 3), due(1, u32::MAX));
    }
}
