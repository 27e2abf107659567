// SPDX-License-Identifier: GPL-2.0

//! Command-line parsing. Everything is checked here, before anything is
//! written to the kernel.

use std::fmt;

/// What the user asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Show {
        pid: u32,
    },
    Move {
        pid: u32,
        node: u32,
        range: Option<(u64, u64)>,
        levels: Option<String>,
        zone: Option<String>,
    },
    Evacuate {
        pfns: (u64, u64),
        node: Option<u32>,
        levels: Option<String>,
        zone: Option<String>,
    },
    Follow {
        pid: u32,
        interval: f64,
    },
    Stats,
    Help,
}

/// A command and its output format.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    pub command: Command,
    pub json: bool,
}

/// A command line that cannot be run.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub const USAGE: &str = "\
usage: ptreloc <command> [options] [--json]

  show <pid>                       page tables per level and node, beside the
                                   process's data pages per node
  move <pid> --to <node> [--range <start>-<end>] [--levels pte,pmd,pud]
       [--zone dma32|normal]       move the process's page tables to <node>
  evacuate --pfn <start>-<end> [--to <node>] [--levels ...] [--zone ...]
                                   move every page table out of a PFN range
  follow <pid> [--interval <s>]    keep the page tables on the node holding
                                   most of the process's data (default 5 s)
  stats                            counters since ptreloc was loaded

Numbers are decimal or 0x-prefixed hexadecimal. Exit status: 0 done,
1 the kernel refused or failed the request, 2 bad arguments,
3 ptreloc unavailable (not loaded, no debugfs, not root).";

fn usage(msg: impl Into<String>) -> UsageError {
    UsageError(msg.into())
}

/// Parses a decimal or 0x-prefixed hexadecimal number.
pub fn parse_number(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) if !hex.is_empty() => u64::from_str_radix(hex, 16).ok(),
        Some(_) => None,
        None if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok(),
        None => None,
    }
}

fn parse_pid(s: &str) -> Result<u32, UsageError> {
    match parse_number(s) {
        Some(pid @ 1..=0x7fff_ffff) if !s.starts_with("0x") => Ok(pid as u32),
        _ => Err(usage(format!("'{s}' is not a process id"))),
    }
}

fn parse_node(s: &str) -> Result<u32, UsageError> {
    match parse_number(s) {
        Some(node) if node < 1024 && !s.starts_with("0x") => Ok(node as u32),
        _ => Err(usage(format!("'{s}' is not a node number"))),
    }
}

/// `<start>-<end>`, `start < end`; addresses must be page-aligned.
fn parse_range(s: &str, what: &str, page_aligned: bool) -> Result<(u64, u64), UsageError> {
    let bad = || usage(format!("'{s}' is not a {what} range <start>-<end>"));
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    let (start, end) = (
        parse_number(a).ok_or_else(bad)?,
        parse_number(b).ok_or_else(bad)?,
    );
    if start >= end {
        return Err(usage(format!(
            "{what} range {s} is empty: start must be below end"
        )));
    }
    if page_aligned && (start % 4096 != 0 || end % 4096 != 0) {
        return Err(usage(format!(
            "{what} range {s} is not page-aligned (4096)"
        )));
    }
    Ok((start, end))
}

/// `pte`, `pmd`, `pud`, comma-separated, each at most once.
fn parse_levels(s: &str) -> Result<String, UsageError> {
    let mut seen = Vec::new();
    for level in s.split(',') {
        if !["pte", "pmd", "pud"].contains(&level) {
            return Err(usage(format!(
                "'{level}' is not a level (pte, pmd or pud; the PGD never moves)"
            )));
        }
        if seen.contains(&level) {
            return Err(usage(format!("level {level} given twice")));
        }
        seen.push(level);
    }
    Ok(s.to_string())
}

fn parse_zone(s: &str) -> Result<String, UsageError> {
    match s {
        "dma32" | "normal" => Ok(s.to_string()),
        _ => Err(usage(format!("'{s}' is not a zone (dma32 or normal)"))),
    }
}

fn parse_interval(s: &str) -> Result<f64, UsageError> {
    match s.parse::<f64>() {
        Ok(v) if (0.1..=86400.0).contains(&v) => Ok(v),
        _ => Err(usage(format!(
            "'{s}' is not an interval in seconds (0.1 to 86400)"
        ))),
    }
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Invocation, UsageError> {
    let mut json = false;
    let mut words = Vec::new();
    for a in args {
        match a.as_str() {
            "--json" => json = true,
            "-h" | "--help" | "help" => {
                return Ok(Invocation {
                    command: Command::Help,
                    json,
                })
            }
            _ => words.push(a.as_str()),
        }
    }
    let (&name, rest) = words
        .split_first()
        .ok_or_else(|| usage("no command given"))?;
    let mut positional = Vec::new();
    let mut options: Vec<(&str, &str)> = Vec::new();
    let mut it = rest.iter();
    while let Some(&w) = it.next() {
        if let Some(opt) = w.strip_prefix("--") {
            let value = it
                .next()
                .ok_or_else(|| usage(format!("--{opt} needs a value")))?;
            if options.iter().any(|(o, _)| *o == opt) {
                return Err(usage(format!("--{opt} given twice")));
            }
            options.push((opt, value));
        } else {
            positional.push(w);
        }
    }
    let allowed: &[&str] = match name {
        "show" | "stats" => &[],
        "move" => &["to", "range", "levels", "zone"],
        "evacuate" => &["pfn", "to", "levels", "zone"],
        "follow" => &["interval"],
        _ => return Err(usage(format!("unknown command '{name}'"))),
    };
    if let Some((opt, _)) = options.iter().find(|(o, _)| !allowed.contains(o)) {
        return Err(usage(format!("{name} does not take --{opt}")));
    }
    let opt = |key: &str| options.iter().find(|(o, _)| *o == key).map(|(_, v)| *v);
    let wants_pid = matches!(name, "show" | "move" | "follow");
    let expected = usize::from(wants_pid);
    if positional.len() != expected {
        return Err(usage(if wants_pid {
            format!("{name} needs exactly one process id")
        } else {
            format!("{name} takes no positional argument")
        }));
    }
    let pid = || parse_pid(positional[0]);
    let levels = opt("levels").map(parse_levels).transpose()?;
    let zone = opt("zone").map(parse_zone).transpose()?;
    let command = match name {
        "show" => Command::Show { pid: pid()? },
        "stats" => Command::Stats,
        "move" => Command::Move {
            pid: pid()?,
            node: parse_node(opt("to").ok_or_else(|| usage("move needs --to <node>"))?)?,
            range: opt("range")
                .map(|r| parse_range(r, "address", true))
                .transpose()?,
            levels,
            zone,
        },
        "evacuate" => Command::Evacuate {
            pfns: parse_range(
                opt("pfn").ok_or_else(|| usage("evacuate needs --pfn <start>-<end>"))?,
                "PFN",
                false,
            )?,
            node: opt("to").map(parse_node).transpose()?,
            levels,
            zone,
        },
        "follow" => Command::Follow {
            pid: pid()?,
            interval: opt("interval").map_or(Ok(5.0), parse_interval)?,
        },
        _ => unreachable!(),
    };
    Ok(Invocation { command, json })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Invocation, UsageError> {
        let args: Vec<String> = s.split_whitespace().map(String::from).collect();
        parse(&args)
    }

    fn cmd(s: &str) -> Command {
        p(s).unwrap().command
    }

    #[test]
    fn commands() {
        assert_eq!(cmd("show 42"), Command::Show { pid: 42 });
        assert_eq!(cmd("stats"), Command::Stats);
        assert_eq!(cmd("--help"), Command::Help);
        assert_eq!(
            cmd("move 42 --to 1 --range 0x1000-0x200000 --levels pte,pmd --zone normal"),
            Command::Move {
                pid: 42,
                node: 1,
                range: Some((0x1000, 0x200000)),
                levels: Some("pte,pmd".into()),
                zone: Some("normal".into()),
            }
        );
        assert_eq!(
            cmd("evacuate --pfn 0x80000-0x88000"),
            Command::Evacuate {
                pfns: (0x80000, 0x88000),
                node: None,
                levels: None,
                zone: None
            }
        );
        assert_eq!(
            cmd("follow 7 --interval 0.5"),
            Command::Follow {
                pid: 7,
                interval: 0.5
            }
        );
        assert_eq!(
            cmd("follow 7"),
            Command::Follow {
                pid: 7,
                interval: 5.0
            }
        );
        assert!(p("--json show 1").unwrap().json);
        assert!(p("stats --json").unwrap().json);
    }

    #[test]
    fn bad_arguments_never_reach_the_kernel() {
        for bad in [
            "",
            "frobnicate",
            "show",
            "show 0",
            "show -1",
            "show 12x",
            "show 1 2",
            "show 0x10",
            "stats 1",
            "move 1",
            "move 1 --to",
            "move 1 --to x",
            "move 1 --to 1 --to 0",
            "move 1 --to 1 --range 0x2000-0x1000",
            "move 1 --to 1 --range 0x1000-0x1000",
            "move 1 --to 1 --range 0x1001-0x2000",
            "move 1 --to 1 --range 4096",
            "move 1 --to 1 --levels pgd",
            "move 1 --to 1 --levels pte,pte",
            "move 1 --to 1 --levels ",
            "move 1 --to 1 --zone movable",
            "move 1 --to 1 --pfn 1-2",
            "evacuate",
            "evacuate 5 --pfn 1-2",
            "evacuate --pfn 2-1",
            "follow 1 --interval 0",
            "follow 1 --interval nan",
            "follow 1 --interval -3",
            "show 1 --to 1",
        ] {
            assert!(p(bad).is_err(), "accepted: {bad}");
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number("0x10"), Some(16));
        assert_eq!(parse_number("10"), Some(10));
        assert_eq!(parse_number("0x"), None);
        assert_eq!(parse_number("+1"), None);
        assert_eq!(parse_number("0x1g"), None);
        assert_eq!(parse_number("99999999999999999999999"), None);
    }
}
