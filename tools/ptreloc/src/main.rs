// SPDX-License-Identifier: GPL-2.0

//! The `ptreloc` binary: parse, run, map failures to exit statuses.

use ptreloc::args::{self, Parsed};
use ptreloc::errors::{Failure, EXIT_OK};
use ptreloc::json::{self, Failed};

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let json = argv.iter().any(|a| a == "--json");
    let result = match args::parse(&argv) {
        Ok(Parsed::Help(help)) => help.exit(),
        Ok(Parsed::Run(inv)) => ptreloc::cli::run(&inv),
        Err(failure) => Err(failure),
    };
    let code = match result {
        Ok(()) => EXIT_OK,
        Err(failure) => {
            if json {
                json::print(&Failed {
                    error: failure.message(),
                });
            }
            eprintln!("ptreloc: {failure}");
            if matches!(failure, Failure::Usage(_)) {
                eprintln!("(ptreloc --help for usage)");
            }
            failure.exit_code()
        }
    };
    std::process::exit(code);
}
