// SPDX-License-Identifier: GPL-2.0

//! The values the command line takes, each refused with a sentence naming
//! the problem: process ids, numbers, ranges, levels, zones, intervals,
//! counts. (Nodes are in `nodes`.)

/// Parses a decimal or 0x-prefixed hexadecimal number.
pub fn parse_number(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) if !hex.is_empty() => u64::from_str_radix(hex, 16).ok(),
        Some(_) => None,
        None if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok(),
        None => None,
    }
}

/// A process id: decimal, 1 to 2^31 - 1.
pub fn pid(s: &str) -> Result<u32, String> {
    match parse_number(s) {
        Some(pid @ 1..=0x7fff_ffff) if !s.starts_with("0x") => Ok(pid as u32),
        _ => Err(format!("'{s}' is not a process id")),
    }
}

/// `<start>-<end>`, `start < end`; addresses must be page-aligned.
fn range(s: &str, what: &str, page_aligned: bool) -> Result<(u64, u64), String> {
    let bad = || format!("'{s}' is not a {what} range <start>-<end>");
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    let (start, end) = (
        parse_number(a).ok_or_else(bad)?,
        parse_number(b).ok_or_else(bad)?,
    );
    if start >= end {
        return Err(format!(
            "{what} range {s} is empty: start must be below end"
        ));
    }
    if page_aligned && (start % 4096 != 0 || end % 4096 != 0) {
        return Err(format!("{what} range {s} is not page-aligned (4096)"));
    }
    Ok((start, end))
}

/// A page-aligned address range `<start>-<end>`.
pub fn address_range(s: &str) -> Result<(u64, u64), String> {
    range(s, "address", true)
}

/// A range of page frame numbers `<start>-<end>`.
pub fn pfn_range(s: &str) -> Result<(u64, u64), String> {
    range(s, "PFN", false)
}

/// `pte`, `pmd`, `pud`, comma-separated, each at most once.
pub fn levels(s: &str) -> Result<String, String> {
    let mut seen = Vec::new();
    for level in s.split(',') {
        if !["pte", "pmd", "pud"].contains(&level) {
            return Err(format!(
                "'{level}' is not a level (pte, pmd or pud; the PGD never moves)"
            ));
        }
        if seen.contains(&level) {
            return Err(format!("level {level} given twice"));
        }
        seen.push(level);
    }
    Ok(s.to_string())
}

/// `dma32` or `normal`.
pub fn zone(s: &str) -> Result<String, String> {
    match s {
        "dma32" | "normal" => Ok(s.to_string()),
        _ => Err(format!("'{s}' is not a zone (dma32 or normal)")),
    }
}

/// Seconds, 0.1 to 86400.
pub fn interval(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.1..=86400.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "'{s}' is not an interval in seconds (0.1 to 86400)"
        )),
    }
}

/// `follow --settle`: intervals in a row, 1 to 1000.
pub fn settle(s: &str) -> Result<u32, String> {
    match parse_number(s) {
        Some(n @ 1..=1000) => Ok(n as u32),
        _ => Err(format!("'{s}' is not a number of intervals (1 to 1000)")),
    }
}

/// `follow --max-tables-per-second`: 1 to 10^9.
pub fn tables_per_second(s: &str) -> Result<u64, String> {
    match parse_number(s) {
        Some(n @ 1..=1_000_000_000) => Ok(n),
        _ => Err(format!(
            "'{s}' is not a number of page tables per second (1 to 1000000000)"
        )),
    }
}

/// `follow --min-tables`: a number of page tables, 0 to 2^40.
pub fn table_count(s: &str) -> Result<u64, String> {
    match parse_number(s) {
        Some(n @ 0..=0x100_0000_0000) => Ok(n),
        _ => Err(format!(
            "'{s}' is not a number of page tables (0 to 1099511627776)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(parse_number("0x10"), Some(16));
        assert_eq!(parse_number("10"), Some(10));
        assert_eq!(parse_number("0x"), None);
        assert_eq!(parse_number("+1"), None);
        assert_eq!(parse_number("0x1g"), None);
        assert_eq!(parse_number("99999999999999999999999"), None);
    }

    #[test]
    fn follow_counts() {
        assert_eq!(settle("1"), Ok(1));
        assert_eq!(settle("1000"), Ok(1000));
        for bad in ["0", "1001", "-1", "x", "", "1.5"] {
            assert_eq!(
                settle(bad),
                Err(format!("'{bad}' is not a number of intervals (1 to 1000)"))
            );
        }
        assert_eq!(tables_per_second("40"), Ok(40));
        assert_eq!(tables_per_second("0x10"), Ok(16));
        assert!(tables_per_second("0").is_err());
        assert!(tables_per_second("1000000001").is_err());
        assert_eq!(table_count("0"), Ok(0));
        assert!(table_count("-5").is_err());
        assert!(table_count("99999999999999").is_err());
    }
}
