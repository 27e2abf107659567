// SPDX-License-Identifier: GPL-2.0

//! The man pages and the bash, zsh and fish completions, generated from
//! the command line (`args::command`).

use std::io;
use std::path::Path;

use clap_complete::Shell;
use clap_mangen::Man;

use crate::args;

/// Writes `man/ptreloc.1`, a page per command (`man/ptreloc-move.1`, ...)
/// and `completions/` (`ptreloc.bash`, `_ptreloc`, `ptreloc.fish`) under
/// `dir`.
pub fn generate(dir: &Path) -> io::Result<()> {
    let (man, completions) = (dir.join("man"), dir.join("completions"));
    std::fs::create_dir_all(&man)?;
    std::fs::create_dir_all(&completions)?;
    let mut cmd = args::command().disable_help_subcommand(true);
    cmd.build();
    let source = format!("ptreloc {}", env!("CARGO_PKG_VERSION"));
    for page in std::iter::once(&cmd).chain(cmd.get_subcommands()) {
        Man::new(page.clone())
            // No date: an empty argument would be left out of `.TH` and
            // shift the source into its place, so it is written quoted.
            .date("\"\"")
            .source(&source)
            .manual("ptreloc")
            .generate_to(&man)?;
    }
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut args::command(), "ptreloc", &completions)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn man_pages_and_completions() {
        let dir = std::env::temp_dir().join(format!("ptreloc-docs-{}", std::process::id()));
        generate(&dir).unwrap();
        let read = |path: &str| std::fs::read_to_string(dir.join(path)).unwrap();
        let title = format!(
            ".TH ptreloc 1 \"\" \"ptreloc {}\" ptreloc\n",
            env!("CARGO_PKG_VERSION")
        );
        assert!(read("man/ptreloc.1").contains(&title));
        assert!(read("man/ptreloc-move.1").contains("\\-\\-levels"));
        assert!(read("man/ptreloc-evacuate.1").contains("\\-\\-pfn"));
        let follow = read("man/ptreloc-follow.1");
        for option in [
            "\\-\\-all",
            "\\-\\-settle",
            "\\-\\-max\\-tables\\-per\\-second",
        ] {
            assert!(follow.contains(option), "{option}");
        }
        assert!(read("completions/ptreloc.bash").contains("--exclude-pid"));
        assert!(read("completions/ptreloc.bash").contains("evacuate"));
        assert!(read("completions/_ptreloc").starts_with("#compdef ptreloc"));
        assert!(read("completions/ptreloc.fish").contains("follow"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
