// SPDX-License-Identifier: GPL-2.0

//! NUMA node numbers, and node lists as sysfs, numactl and migratepages
//! write them: numbers and ranges separated by commas (`0-1,3`). CPU lists
//! (`cpulist`, `Cpus_allowed_list`) are written the same way.

/// Node numbers are below Linux's largest `MAX_NUMNODES`.
const MAX_NODES: u32 = 1024;

fn number(s: &str, limit: u32) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|&n| n < limit)
}

/// The ranges of a list such as `0-1,3` (white space around it ignored),
/// each `(first, last)`, every number below `limit`; `None` if any part is
/// not a number or an ascending range.
pub fn parse_ranges(s: &str, limit: u32) -> Option<Vec<(u32, u32)>> {
    let mut ranges = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b) = (number(a, limit)?, number(b, limit)?);
        if a > b {
            return None;
        }
        ranges.push((a, b));
    }
    Some(ranges)
}

/// Parses a node list such as `0-1,3` (white space around it ignored), in
/// ascending ranges; `None` if any part is not a node or a range of nodes.
pub fn parse_list(s: &str) -> Option<Vec<u32>> {
    let ranges = parse_ranges(s, MAX_NODES)?;
    Some(ranges.into_iter().flat_map(|(a, b)| a..=b).collect())
}

/// Writes ascending node numbers as a list, ranges collapsed: `0-2,5`.
pub fn format_list(nodes: &[usize]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < nodes.len() {
        let mut j = i;
        while j + 1 < nodes.len() && nodes[j + 1] == nodes[j] + 1 {
            j += 1;
        }
        parts.push(if j == i {
            nodes[i].to_string()
        } else {
            format!("{}-{}", nodes[i], nodes[j])
        });
        i = j + 1;
    }
    parts.join(",")
}

/// Parses the one node an option such as `--to` takes. A node list
/// (`0-1`, `0,2`, numactl's `all`) is refused as such: a request goes to
/// one node.
pub fn parse_node(s: &str) -> Result<u32, String> {
    if let Some(node) = number(s, MAX_NODES) {
        return Ok(node);
    }
    if s == "all" || parse_list(s).is_some_and(|nodes| !nodes.is_empty()) {
        return Err(format!("'{s}' is a node list: give one node"));
    }
    Err(format!("'{s}' is not a node number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists() {
        assert_eq!(parse_list("0-1\n"), Some(vec![0, 1]));
        assert_eq!(parse_list("0,2-3"), Some(vec![0, 2, 3]));
        assert_eq!(parse_list("0,2"), Some(vec![0, 2]));
        assert_eq!(parse_list("5"), Some(vec![5]));
        assert_eq!(parse_list("\n"), Some(vec![]));
        for bad in ["1-0", "0-", "-1", "x", "0,,x", "0x1", "1024", "+1", "0-1-2"] {
            assert_eq!(parse_list(bad), None, "accepted: {bad}");
        }
    }

    #[test]
    fn lists_written() {
        assert_eq!(format_list(&[]), "");
        assert_eq!(format_list(&[1]), "1");
        assert_eq!(format_list(&[0, 1]), "0-1");
        assert_eq!(format_list(&[0, 1, 2, 5, 7, 8]), "0-2,5,7-8");
        assert_eq!(parse_ranges("0-3,8", 4096), Some(vec![(0, 3), (8, 8)]));
        assert_eq!(parse_ranges("2048-4095", 4096), Some(vec![(2048, 4095)]));
        assert_eq!(parse_ranges("4096", 4096), None);
    }

    #[test]
    fn one_node() {
        assert_eq!(parse_node("0"), Ok(0));
        assert_eq!(parse_node("1023"), Ok(1023));
        for list in ["0-1", "0,2", "all", "1-1", "3,"] {
            assert_eq!(
                parse_node(list),
                Err(format!("'{list}' is a node list: give one node"))
            );
        }
        for bad in ["", "x", "1024", "0x1", "-1", "1.0", "2-1"] {
            assert_eq!(
                parse_node(bad),
                Err(format!("'{bad}' is not a node number"))
            );
        }
    }
}
