// SPDX-License-Identifier: GPL-2.0

//! Parsing what the kernel reports: the census, `key value` files
//! (`result`, `stats`) and `/proc/<pid>/numa_maps`; and formatting them.

use std::fmt::Write;

/// Page tables per level (PGD to PTE) and node, from the `census` file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Census {
    pub nodes: usize,
    /// `(level, per-node counts)`, in the file's order; a folded P4D level
    /// (4-level paging) is left out.
    pub levels: Vec<(String, Vec<u64>)>,
}

impl Census {
    /// Parses `level node0 node1 ...` then one line per level.
    pub fn parse(text: &str) -> Option<Self> {
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next()?.split_whitespace().collect();
        if header.first() != Some(&"level") {
            return None;
        }
        let nodes = header.len() - 1;
        let mut levels = Vec::new();
        for line in lines {
            let mut words = line.split_whitespace();
            let Some(name) = words.next() else { continue };
            let rest: Vec<&str> = words.collect();
            if rest == ["folded"] {
                continue;
            }
            let counts: Option<Vec<u64>> = rest.iter().map(|w| w.parse().ok()).collect();
            let counts = counts.filter(|c| c.len() == nodes)?;
            levels.push((name.to_string(), counts));
        }
        Some(Self { nodes, levels })
    }

    /// Tables of the movable levels (PTE, PMD, PUD) on `node`.
    pub fn movable_on(&self, node: usize) -> u64 {
        ["pte", "pmd", "pud"]
            .iter()
            .map(|level| self.level_on(level, node))
            .sum()
    }

    /// Tables of the movable levels (PTE, PMD, PUD) not on `node`.
    pub fn movable_off(&self, node: usize) -> u64 {
        self.levels
            .iter()
            .filter(|(name, _)| ["pte", "pmd", "pud"].contains(&name.as_str()))
            .map(|(_, c)| {
                c.iter()
                    .enumerate()
                    .filter(|(n, _)| *n != node)
                    .map(|(_, v)| v)
                    .sum::<u64>()
            })
            .sum()
    }

    /// Tables of `level` on `node`.
    pub fn level_on(&self, level: &str, node: usize) -> u64 {
        self.levels
            .iter()
            .find(|(name, _)| name == level)
            .and_then(|(_, c)| c.get(node).copied())
            .unwrap_or(0)
    }

    /// Page-table pages of every level (PGD included) per node.
    pub fn per_node(&self) -> Vec<u64> {
        let mut sum = vec![0; self.nodes];
        for (_, counts) in &self.levels {
            for (s, c) in sum.iter_mut().zip(counts) {
                *s += c;
            }
        }
        sum
    }

    /// Tables of `level` on every node.
    pub fn level_total(&self, level: &str) -> u64 {
        self.levels
            .iter()
            .find(|(name, _)| name == level)
            .map_or(0, |(_, c)| c.iter().sum())
    }
}

/// The process's data pages per node, in kB, from `numa_maps`.
pub fn numa_maps_kb(text: &str, nodes: usize) -> Vec<u64> {
    let mut kb = vec![0u64; nodes];
    for line in text.lines() {
        let mut page_kb = 4;
        let mut per_node = Vec::new();
        for word in line.split_whitespace() {
            if let Some(v) = word.strip_prefix("kernelpagesize_kB=") {
                page_kb = v.parse().unwrap_or(4);
            } else if let Some((n, pages)) = word.strip_prefix('N').and_then(|w| w.split_once('='))
            {
                if let (Ok(n), Ok(pages)) = (n.parse::<usize>(), pages.parse::<u64>()) {
                    per_node.push((n, pages));
                }
            }
        }
        for (n, pages) in per_node {
            if n >= kb.len() {
                kb.resize(n + 1, 0);
            }
            kb[n] += pages * page_kb;
        }
    }
    kb
}

/// The node holding the most data, if any data is placed.
pub fn majority_node(kb: &[u64]) -> Option<usize> {
    let (node, &most) = kb
        .iter()
        .enumerate()
        .max_by_key(|(n, v)| (**v, usize::MAX - n))?;
    (most > 0).then_some(node)
}

/// The `key value` lines of `result` or `stats`, in order.
pub fn key_values(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn get<'a>(kv: &'a [(String, String)], key: &str) -> Option<&'a str> {
    kv.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn num(kv: &[(String, String)], key: &str) -> u64 {
    get(kv, key).and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn ms(ns: u64) -> String {
    format!("{:.1} ms", ns as f64 / 1e6)
}

/// A readable summary of a `result` (of `move` or `evacuate`).
pub fn summarize_outcome(kv: &[(String, String)]) -> String {
    let mut s = String::new();
    let status = get(kv, "status").unwrap_or("?");
    let node = get(kv, "node").unwrap_or("?");
    let what = match get(kv, "pid") {
        Some(pid) => format!("of process {pid}"),
        None => format!(
            "of PFNs {}-{}",
            get(kv, "pfn_start").unwrap_or("?"),
            get(kv, "pfn_end").unwrap_or("?")
        ),
    };
    let moved = num(kv, "tables_moved");
    if status != "ok" && moved == 0 {
        // The error says it all.
        return s;
    }
    let failed = if status == "ok" {
        String::new()
    } else {
        format!(", then the request failed: {status}")
    };
    // Rests of the duty cycle: only when the process's lock had waiters.
    let rests = match num(kv, "rests") {
        0 => String::new(),
        n => format!(", {n} rests for its waiters, {}", ms(num(kv, "rest_ns"))),
    };
    let _ = writeln!(
        s,
        "moved {moved} page-table pages {what} to node {node} in {} ({} batches, longest lock hold {}{rests}){failed}",
        ms(num(kv, "elapsed_ns")),
        num(kv, "batches"),
        ms(num(kv, "longest_lock_hold_ns")),
    );
    for level in ["pte", "pmd", "pud"] {
        if get(kv, &format!("{level}_examined")).is_some() {
            let _ = writeln!(
                s,
                "  {level}: {} moved, {} already there, {} examined",
                num(kv, &format!("{level}_moved")),
                num(kv, &format!("{level}_already_on_node")),
                num(kv, &format!("{level}_examined")),
            );
        }
    }
    let deposits = num(kv, "pte_deposited_moved");
    if deposits > 0 {
        let _ = writeln!(s, "  PTE tables deposited for huge pages: {deposits} moved");
    }
    let skipped = skipped(kv);
    if !skipped.is_empty() {
        let _ = writeln!(s, "  skipped: {}", skipped.join(", "));
    }
    if get(kv, "pfn_start").is_some() {
        let _ = writeln!(
            s,
            "  {} processes in {} passes; page-table pages in the range: {} -> {} ({} PGDs, which never move)",
            num(kv, "processes"),
            num(kv, "passes"),
            num(kv, "pgtables_in_range_before"),
            num(kv, "pgtables_in_range_after"),
            num(kv, "pgds_in_range"),
        );
        let left: Vec<String> = [
            ("enomem_processes", "short of memory (memcg limit)"),
            ("busy_processes", "bound to a device"),
        ]
        .iter()
        .filter(|(k, _)| num(kv, k) > 0)
        .map(|(k, why)| format!("{} {why}", num(kv, k)))
        .collect();
        if !left.is_empty() {
            let _ = writeln!(s, "  processes whose tables stay: {}", left.join(", "));
        }
    }
    if num(kv, "anomalies") > 0 {
        let _ = writeln!(s, "  ANOMALIES: {} (see dmesg)", num(kv, "anomalies"));
    }
    s
}

/// The tables a request skipped, by reason (`3 rmap lock contended`), in
/// an outcome's `key value` lines.
pub fn skipped(kv: &[(String, String)]) -> Vec<String> {
    [
        ("skipped_changed", "changed under us"),
        ("skipped_contended", "rmap lock contended"),
        ("skipped_crowded", "too many files in one span"),
        ("skipped_hugetlb_tables", "hugetlb"),
    ]
    .iter()
    .filter(|(k, _)| num(kv, k) > 0)
    .map(|(k, why)| format!("{} {why}", num(kv, k)))
    .collect()
}

/// A decimal value of an outcome's `key value` lines (0 if absent).
pub fn number(kv: &[(String, String)], key: &str) -> u64 {
    num(kv, key)
}

fn mib(kb: u64) -> String {
    if kb >= 10 * 1024 {
        format!("{} MiB", kb / 1024)
    } else {
        format!("{kb} kB")
    }
}

/// The `show` table: tables per level and node, data per node.
pub fn format_show(pid: u32, census: &Census, data_kb: &[u64]) -> String {
    let mut s = String::new();
    let width = 10;
    let _ = write!(s, "pid {pid:<6}");
    for n in 0..census.nodes {
        let _ = write!(s, "{:>width$}", format!("node{n}"));
    }
    let _ = writeln!(s);
    for (name, counts) in &census.levels {
        let _ = write!(s, "{name:<10}");
        for c in counts {
            let _ = write!(s, "{c:>width$}");
        }
        let _ = writeln!(s);
    }
    let _ = write!(s, "{:<10}", "data");
    for n in 0..census.nodes {
        let _ = write!(s, "{:>width$}", mib(data_kb.get(n).copied().unwrap_or(0)));
    }
    let _ = writeln!(s);
    if let Some(home) = majority_node(data_kb) {
        let off = census.movable_off(home);
        if off > 0 {
            let _ = writeln!(
                s,
                "most data is on node {home}; {off} page tables are elsewhere: ptreloc move {pid} --to {home}"
            );
        } else {
            let _ = writeln!(s, "most data is on node {home}, and so are the page tables");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const CENSUS: &str = "level node0 node1\npgd 1 0\np4d folded\npud 1 0\npmd 2 0\npte 130 3\n";

    #[test]
    fn census() {
        let c = Census::parse(CENSUS).unwrap();
        assert_eq!(c.nodes, 2);
        assert_eq!(c.levels.len(), 4);
        assert_eq!(c.levels[3], ("pte".to_string(), vec![130, 3]));
        assert_eq!(c.movable_off(1), 133);
        assert_eq!(c.movable_off(0), 3);
        assert_eq!(c.level_on("pte", 1), 3);
        assert_eq!(c.level_total("pte"), 133);
        assert_eq!(c.per_node(), vec![134, 3]);
        assert!(Census::parse("nonsense").is_none());
        assert!(Census::parse("level node0\npte 1 2\n").is_none());
    }

    #[test]
    fn numa_maps() {
        let maps = "7f00 default anon=3 dirty=3 N0=1 N1=2 kernelpagesize_kB=4\n\
                    7f10 default file=/lib/x mapped=5 N0=5 kernelpagesize_kB=4\n\
                    7f20 bind:1 anon=1 N1=1 kernelpagesize_kB=2048\n\
                    7f30 default\n";
        let kb = numa_maps_kb(maps, 2);
        assert_eq!(kb, vec![24, 8 + 2048]);
        assert_eq!(majority_node(&kb), Some(1));
        assert_eq!(majority_node(&[0, 0]), None);
        assert_eq!(majority_node(&[5, 5]), Some(0));
        assert_eq!(numa_maps_kb("x default N3=1", 2), vec![0, 0, 0, 4]);
    }

    #[test]
    fn show() {
        let c = Census::parse(CENSUS).unwrap();
        let out = format_show(42, &c, &[0, 512 * 1024]);
        assert!(out.contains("pte              130         3"), "{out}");
        assert!(out.contains("data            0 kB   512 MiB"), "{out}");
        assert!(
            out.contains("133 page tables are elsewhere: ptreloc move 42 --to 1"),
            "{out}"
        );
    }

    #[test]
    fn outcome() {
        let text = "pid 42\nnode 1\nstart 0x0\nend 0x7ffffffff000\nstatus ok\nzone any\n\
                    levels pte,pmd\npte_examined 512\npte_moved 510\npte_already_on_node 2\n\
                    pte_deposited_moved 0\npmd_examined 1\npmd_moved 1\npmd_already_on_node 0\n\
                    tables_moved 511\nskipped_contended 1\nanomalies 0\nbatches 8\n\
                    longest_lock_hold_ns 10900000\nelapsed_ns 74400000\n";
        let kv = key_values(text);
        let s = summarize_outcome(&kv);
        assert!(s.starts_with("moved 511 page-table pages of process 42 to node 1 in 74.4 ms (8 batches, longest lock hold 10.9 ms)"), "{s}");
        assert!(
            s.contains("  pte: 510 moved, 2 already there, 512 examined"),
            "{s}"
        );
        assert!(s.contains("  skipped: 1 rmap lock contended"), "{s}");
        let rested = key_values(&format!("{text}rests 3\nrest_ns 2500000\n"));
        assert!(summarize_outcome(&rested)
            .contains("(8 batches, longest lock hold 10.9 ms, 3 rests for its waiters, 2.5 ms)"));
        assert!(!s.contains("pud:"), "{s}");
        let failed = key_values("pid 1\nnode 0\nstatus ENOMEM (12)\ntables_moved 3\n");
        assert!(summarize_outcome(&failed).starts_with(
            "moved 3 page-table pages of process 1 to node 0 in 0.0 ms (0 batches, \
             longest lock hold 0.0 ms), then the request failed: ENOMEM (12)"
        ));
        let nothing = key_values("pid 1\nnode 0\nstatus ESRCH (3)\ntables_moved 0\n");
        assert_eq!(summarize_outcome(&nothing), "");
    }
}
