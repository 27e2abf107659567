// SPDX-License-Identifier: GPL-2.0

//! The command line (clap). Everything is checked here, before anything
//! is written to the kernel; a command line that cannot run is refused
//! with one sentence.

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::errors::Failure;
use crate::nodes::parse_node;
use crate::values::{
    address_range, interval, levels, pfn_range, pid, settle, table_count, tables_per_second, zone,
};

/// Help starts with the line `usage: ptreloc ...`, for every command.
const HELP_TEMPLATE: &str = "usage: {usage}\n\n{about}\n\n{all-args}{after-help}";

const AFTER_HELP: &str = "\
Numbers are decimal or 0x-prefixed hexadecimal. Exit status: 0 done,
1 the kernel refused or failed the request, 2 bad arguments,
3 ptreloc unavailable (not loaded, no debugfs, not root).";

/// A command and its output format.
#[derive(Debug, Clone, PartialEq, Parser)]
#[command(
    name = "ptreloc",
    about = "Move processes' page tables between NUMA nodes \
             (ptreloc's files in /sys/kernel/debug/ptreloc/)"
)]
pub struct Invocation {
    #[command(subcommand)]
    pub command: Command,
    /// One JSON object per line on stdout (and {"error": ...} on failure)
    #[arg(long, global = true)]
    pub json: bool,
}

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Subcommand)]
pub enum Command {
    /// Page tables per level and node, beside the process's data pages per
    /// node; or, with --all, every process's
    #[command(group(clap::ArgGroup::new("what").required(true).args(["pid", "all"])))]
    Show {
        /// The process
        #[arg(value_name = "pid", value_parser = pid, allow_negative_numbers = true)]
        pid: Option<u32>,
        /// Every process: its page tables and data per node, its home node
        /// (where its threads ran) and the nodes its threads may run on,
        /// the most misplaced page tables first; then totals per node
        #[arg(long)]
        all: bool,
    },
    /// Move the process's page tables to <node>
    Move {
        /// The process
        #[arg(value_name = "pid", value_parser = pid, allow_negative_numbers = true)]
        pid: u32,
        /// The node to move them to
        #[arg(long = "to", value_name = "node", value_parser = parse_node)]
        node: u32,
        /// Only the tables that map part of this page-aligned address range
        #[arg(long, value_name = "start-end", value_parser = address_range)]
        range: Option<(u64, u64)>,
        /// The levels to move, comma-separated (default: all three)
        #[arg(long, value_name = "pte,pmd,pud", value_parser = levels)]
        levels: Option<String>,
        /// Take the new tables from this zone of the node only
        #[arg(long, value_name = "dma32|normal", value_parser = zone)]
        zone: Option<String>,
    },
    /// Move every page table out of a range of page frames
    Evacuate {
        /// The page frame numbers to empty of page tables
        #[arg(long = "pfn", value_name = "start-end", value_parser = pfn_range)]
        pfns: (u64, u64),
        /// The node to move them to (default: the nearest with free memory)
        #[arg(long = "to", value_name = "node", value_parser = parse_node)]
        node: Option<u32>,
        /// The levels to move, comma-separated (default: all three)
        #[arg(long, value_name = "pte,pmd,pud", value_parser = levels)]
        levels: Option<String>,
        /// Take the new tables from this zone only
        #[arg(long, value_name = "dma32|normal", value_parser = zone)]
        zone: Option<String>,
    },
    /// Keep page tables on their process's home node: where its threads
    /// run (by run time; its data only breaks ties), never a node without
    /// CPUs. One process until it exits, or with --all every process until
    /// SIGTERM or SIGINT
    #[command(group(clap::ArgGroup::new("what").required(true).args(["pid", "all"])))]
    Follow {
        /// The process
        #[arg(value_name = "pid", value_parser = pid, allow_negative_numbers = true)]
        pid: Option<u32>,
        /// Every process (kernel threads, which have no page tables of
        /// their own, are skipped)
        #[arg(long)]
        all: bool,
        /// Seconds between looks at the processes (0.1 to 86400)
        #[arg(
            long,
            value_name = "s",
            default_value = "5",
            value_parser = interval,
            allow_negative_numbers = true
        )]
        interval: f64,
        /// Move a process's page tables once its home has been another
        /// node for <n> intervals in a row (1 to 1000)
        #[arg(
            long,
            value_name = "n",
            default_value = "3",
            value_parser = settle,
            allow_negative_numbers = true
        )]
        settle: u32,
        /// Move at most <t> page tables per second, at most <t> x
        /// interval in one interval; a process with more misplaced
        /// moves a part at a time (1 to 10^9)
        #[arg(
            long = "max-tables-per-second",
            value_name = "t",
            default_value = "1000",
            value_parser = tables_per_second,
            allow_negative_numbers = true
        )]
        max_tables_per_second: u64,
        /// Leave this process alone (repeatable; with --all)
        #[arg(
            long = "exclude-pid",
            value_name = "pid",
            value_parser = pid,
            allow_negative_numbers = true
        )]
        exclude_pids: Vec<u32>,
        /// Leave alone processes with fewer page-table pages than <n>, by
        /// VmPTE (with --all; default 0)
        #[arg(
            long = "min-tables",
            value_name = "n",
            value_parser = table_count,
            allow_negative_numbers = true
        )]
        min_tables: Option<u64>,
    },
    /// Counters since ptreloc was loaded
    Stats,
}

/// The command line as clap sees it, for parsing and for the man pages and
/// completions.
pub fn command() -> clap::Command {
    let help = |c: clap::Command| c.help_template(HELP_TEMPLATE).after_help(AFTER_HELP);
    help(Invocation::command()).mut_subcommands(help)
}

/// What an accepted command line asks for.
#[derive(Debug)]
pub enum Parsed {
    /// A command to run.
    Run(Invocation),
    /// `--help`, `-h` or `help`: clap prints it (`clap::Error::exit`).
    Help(clap::Error),
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Parsed, Failure> {
    let argv = std::iter::once("ptreloc").chain(args.iter().map(String::as_str));
    let matches = command().try_get_matches_from(argv);
    match matches.and_then(|m| Invocation::from_arg_matches(&m)) {
        Ok(inv) => check(&inv.command)
            .map(|()| Parsed::Run(inv))
            .map_err(Failure::Usage),
        Err(e) if e.kind() == ErrorKind::DisplayHelp => Ok(Parsed::Help(e)),
        Err(e) => Err(Failure::Usage(sentence(&e, args))),
    }
}

/// What no one option's parser can see: options that go together.
fn check(command: &Command) -> Result<(), String> {
    if let Command::Follow {
        pid,
        interval,
        max_tables_per_second,
        exclude_pids,
        min_tables,
        ..
    } = command
    {
        if pid.is_some() {
            if !exclude_pids.is_empty() {
                return Err("--exclude-pid goes with follow --all, not with a pid".into());
            }
            if min_tables.is_some() {
                return Err("--min-tables goes with follow --all, not with a pid".into());
            }
        }
        // Whole tables: the budget must hold one table per interval.
        if (*max_tables_per_second as f64) * interval < 1.0 {
            return Err(format!(
                "--max-tables-per-second {max_tables_per_second} allows less than one page \
                 table per interval of {interval} s: give at least {} or a longer --interval",
                (1.0 / interval).ceil()
            ));
        }
    }
    Ok(())
}

fn context(e: &clap::Error, kind: ContextKind) -> Vec<String> {
    match e.get(kind) {
        Some(ContextValue::String(s)) => vec![s.clone()],
        Some(ContextValue::Strings(v)) => v.clone(),
        Some(ContextValue::StyledStr(s)) => vec![s.to_string()],
        _ => Vec::new(),
    }
}

/// One sentence naming what is wrong with the command line: ours from the
/// value parsers, or clap's error said the same way.
fn sentence(e: &clap::Error, args: &[String]) -> String {
    if let Some(ours) = std::error::Error::source(e) {
        return ours.to_string();
    }
    let cmd = command();
    let name = args
        .iter()
        .find(|a| cmd.find_subcommand(a.as_str()).is_some())
        .map_or("ptreloc", String::as_str);
    let arg = context(e, ContextKind::InvalidArg).join(" and ");
    // `--to <node>` names the option; its value name is for the usage.
    let option = arg.split_whitespace().next().unwrap_or_default();
    match e.kind() {
        ErrorKind::MissingSubcommand | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            "no command given".into()
        }
        ErrorKind::InvalidSubcommand => {
            let unknown = context(e, ContextKind::InvalidSubcommand).concat();
            match context(e, ContextKind::SuggestedSubcommand).first() {
                Some(known) => format!("unknown command '{unknown}' (did you mean '{known}'?)"),
                None => format!("unknown command '{unknown}'"),
            }
        }
        // A required group, `<pid|--all>`: one of its arguments.
        ErrorKind::MissingRequiredArgument => match arg
            .strip_prefix('<')
            .and_then(|a| a.strip_suffix('>'))
            .filter(|a| a.contains('|'))
        {
            Some(group) => {
                let args: Vec<String> = group
                    .split('|')
                    .map(|a| {
                        if a.starts_with('-') {
                            a.to_string()
                        } else {
                            format!("<{a}>")
                        }
                    })
                    .collect();
                format!("{name} needs {}", args.join(" or "))
            }
            None => format!("{name} needs {arg}"),
        },
        ErrorKind::UnknownArgument if arg.starts_with('-') => {
            format!("{name} does not take {arg}")
        }
        ErrorKind::UnknownArgument => format!("{name} does not take '{arg}'"),
        ErrorKind::ArgumentConflict if context(e, ContextKind::PriorArg) == [arg.clone()] => {
            format!("{option} given twice")
        }
        // Two arguments of which one is taken (`show <pid>` or `--all`).
        ErrorKind::ArgumentConflict => {
            let mut both = [arg.clone(), context(e, ContextKind::PriorArg).join(" and ")]
                .map(|a| a.trim_matches(['[', ']', '<', '>']).to_string())
                .map(|a| {
                    if a.starts_with('-') {
                        a
                    } else {
                        format!("<{a}>")
                    }
                });
            // The positional argument first, as in the usage.
            both.sort_by_key(|a| a.starts_with('-'));
            format!("{name} takes {} or {}, not both", both[0], both[1])
        }
        ErrorKind::InvalidValue if context(e, ContextKind::InvalidValue).concat().is_empty() => {
            format!("{option} needs a value")
        }
        _ => e
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .trim_start_matches("error: ")
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Parsed, Failure> {
        let args: Vec<String> = s.split_whitespace().map(String::from).collect();
        parse(&args)
    }

    fn inv(s: &str) -> Invocation {
        match p(s) {
            Ok(Parsed::Run(inv)) => inv,
            other => panic!("{s}: {other:?}"),
        }
    }

    fn cmd(s: &str) -> Command {
        inv(s).command
    }

    fn refusal(s: &str) -> String {
        match p(s) {
            Err(Failure::Usage(sentence)) => sentence,
            other => panic!("accepted: {s}: {other:?}"),
        }
    }

    #[test]
    fn commands() {
        assert_eq!(
            cmd("show 42"),
            Command::Show {
                pid: Some(42),
                all: false
            }
        );
        assert_eq!(
            cmd("show --all"),
            Command::Show {
                pid: None,
                all: true
            }
        );
        assert_eq!(cmd("stats"), Command::Stats);
        assert!(matches!(p("--help"), Ok(Parsed::Help(_))));
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
                pid: Some(7),
                all: false,
                interval: 0.5,
                settle: 3,
                max_tables_per_second: 1000,
                exclude_pids: vec![],
                min_tables: None,
            }
        );
        assert_eq!(
            cmd("follow 7"),
            Command::Follow {
                pid: Some(7),
                all: false,
                interval: 5.0,
                settle: 3,
                max_tables_per_second: 1000,
                exclude_pids: vec![],
                min_tables: None,
            }
        );
        assert_eq!(
            cmd(
                "follow --all --interval 0.5 --settle 2 --max-tables-per-second 40 \
                 --exclude-pid 1 --exclude-pid 7 --min-tables 16"
            ),
            Command::Follow {
                pid: None,
                all: true,
                interval: 0.5,
                settle: 2,
                max_tables_per_second: 40,
                exclude_pids: vec![1, 7],
                min_tables: Some(16),
            }
        );
        assert!(matches!(
            cmd("follow 7 --settle 1 --max-tables-per-second 10"),
            Command::Follow {
                pid: Some(7),
                settle: 1,
                max_tables_per_second: 10,
                ..
            }
        ));
        assert!(inv("--json show 1").json);
        assert!(inv("stats --json").json);
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
            "follow",
            "follow 1 --all",
            "follow --all --settle 0",
            "follow --all --settle 1001",
            "follow --all --settle x",
            "follow --all --settle",
            "follow --all --settle 2 --settle 3",
            "follow --all --max-tables-per-second 0",
            "follow --all --max-tables-per-second -1",
            "follow --all --max-tables-per-second 1 --interval 0.5",
            "follow --all --exclude-pid 0",
            "follow --all --exclude-pid x",
            "follow --all --exclude-pid",
            "follow --all --min-tables -1",
            "follow --all --min-tables many",
            "follow 1 --exclude-pid 2",
            "follow 1 --min-tables 5",
            "follow --all --to 1",
            "show 1 --to 1",
        ] {
            assert!(p(bad).is_err(), "accepted: {bad}");
        }
    }

    #[test]
    fn refusals_name_the_problem() {
        for (bad, sentence) in [
            ("", "no command given"),
            ("frobnicate", "unknown command 'frobnicate'"),
            ("mvoe 1", "unknown command 'mvoe' (did you mean 'move'?)"),
            ("show", "show needs <pid> or --all"),
            ("show 1 --all", "show takes <pid> or --all, not both"),
            ("show --all 1", "show takes <pid> or --all, not both"),
            ("show --all --all", "--all given twice"),
            ("show -1", "'-1' is not a process id"),
            ("show 1 2", "show does not take '2'"),
            ("show 1 --to 1", "show does not take --to"),
            ("move 1", "move needs --to <node>"),
            ("move 1 --to", "--to needs a value"),
            ("move 1 --to x", "'x' is not a node number"),
            ("move 1 --to 1 --to 0", "--to given twice"),
            (
                "move 1 --to 2 --range 0x1001-0x2000",
                "address range 0x1001-0x2000 is not page-aligned (4096)",
            ),
            (
                "move 1 --to 1 --levels pgd",
                "'pgd' is not a level (pte, pmd or pud; the PGD never moves)",
            ),
            ("evacuate", "evacuate needs --pfn <start-end>"),
            (
                "evacuate --pfn 2-1",
                "PFN range 2-1 is empty: start must be below end",
            ),
            (
                "follow 1 --interval -3",
                "'-3' is not an interval in seconds (0.1 to 86400)",
            ),
            ("follow", "follow needs <pid> or --all"),
            ("follow 1 --all", "follow takes <pid> or --all, not both"),
            (
                "follow --all --settle 0",
                "'0' is not a number of intervals (1 to 1000)",
            ),
            ("follow --all --settle 2 --settle 3", "--settle given twice"),
            (
                "follow --all --max-tables-per-second 0",
                "'0' is not a number of page tables per second (1 to 1000000000)",
            ),
            (
                "follow --all --max-tables-per-second 1 --interval 0.5",
                "--max-tables-per-second 1 allows less than one page table per interval of \
                 0.5 s: give at least 2 or a longer --interval",
            ),
            ("follow --all --exclude-pid 0", "'0' is not a process id"),
            ("follow --all --exclude-pid", "--exclude-pid needs a value"),
            (
                "follow --all --min-tables many",
                "'many' is not a number of page tables (0 to 1099511627776)",
            ),
            (
                "follow 1 --exclude-pid 2",
                "--exclude-pid goes with follow --all, not with a pid",
            ),
            (
                "follow 1 --min-tables 5",
                "--min-tables goes with follow --all, not with a pid",
            ),
            ("follow --all --to 1", "follow does not take --to"),
        ] {
            assert_eq!(refusal(bad), sentence, "{bad}");
        }
    }

    #[test]
    fn one_node_where_a_request_goes() {
        assert!(matches!(
            cmd("evacuate --pfn 1-2 --to 3"),
            Command::Evacuate { node: Some(3), .. }
        ));
        for list in ["0-1", "0,2", "all"] {
            let sentence = format!("'{list}' is a node list: give one node");
            assert_eq!(refusal(&format!("move 1 --to {list}")), sentence);
            assert_eq!(
                refusal(&format!("evacuate --pfn 1-2 --to {list}")),
                sentence
            );
        }
    }

    #[test]
    fn help_starts_with_the_usage_line() {
        for cmd in [
            "--help",
            "-h",
            "help",
            "move --help",
            "help evacuate",
            "stats -h",
        ] {
            let Ok(Parsed::Help(help)) = p(cmd) else {
                panic!("{cmd}: no help");
            };
            assert!(
                help.to_string().starts_with("usage: ptreloc"),
                "{cmd}: {help}"
            );
            assert_eq!(help.exit_code(), 0, "{cmd}");
        }
    }
}
