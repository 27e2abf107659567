// SPDX-License-Identifier: GPL-2.0

//! `ptreloc-docs <dir>`: writes ptreloc's man pages to `<dir>/man/` and
//! its shell completions to `<dir>/completions/` (`make tools`).

fn main() {
    let mut argv = std::env::args().skip(1);
    let (Some(dir), None) = (argv.next(), argv.next()) else {
        eprintln!("usage: ptreloc-docs <dir>");
        std::process::exit(2);
    };
    if let Err(e) = ptreloc::docs::generate(dir.as_ref()) {
        eprintln!("ptreloc-docs: {dir}: {e}");
        std::process::exit(1);
    }
}
