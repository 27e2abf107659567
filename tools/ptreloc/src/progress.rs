// SPDX-License-Identifier: GPL-2.0

//! Progress of a long request, on stderr when it is a terminal (indicatif).
//!
//! The kernel reports a request only when it ends: one `write()` runs it
//! whole. So there is no percentage of the request itself. A move of all
//! of a process's PTE tables shows what the census measures meanwhile,
//! its PTE tables on the target node out of all of them; anything else
//! shows a spinner and the time elapsed.

use std::io::IsTerminal;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::kernel;

/// What to show while a request runs.
pub enum Watch {
    /// A spinner, the time elapsed and what is being done.
    Elapsed(String),
    /// The process's PTE tables on `node`, out of all of them.
    PteTables { pid: u32, node: u32 },
}

/// Requests shorter than this show nothing.
const DELAY: Duration = Duration::from_millis(500);
/// How often the census is taken (it holds the process's mmap lock).
const CENSUS_EVERY: Duration = Duration::from_millis(500);

/// Runs `request`; if it is still running after `DELAY`, shows `watch` on
/// stderr until it ends, when stderr is a terminal.
pub fn around<T>(watch: Watch, request: impl FnOnce() -> T) -> T {
    if !std::io::stderr().is_terminal() {
        return request();
    }
    let (done, ended) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        s.spawn(move || show(&watch, &ended));
        let result = request();
        drop(done);
        result
    })
}

/// Waits up to `time` for the request to end; true if it is still running.
fn running(ended: &Receiver<()>, time: Duration) -> bool {
    ended.recv_timeout(time) == Err(RecvTimeoutError::Timeout)
}

const SPINNER: &str = "{spinner} {elapsed} {msg}";
const BAR: &str = "{spinner} {elapsed} [{bar:30}] {msg}";

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).expect("a valid template")
}

fn show(watch: &Watch, ended: &Receiver<()>) {
    if !running(ended, DELAY) {
        return;
    }
    let bar = ProgressBar::new_spinner()
        .with_style(style(SPINNER))
        .with_elapsed(DELAY);
    bar.enable_steady_tick(Duration::from_millis(100));
    match watch {
        Watch::Elapsed(what) => {
            bar.set_message(what.clone());
            // Nothing is sent: this returns when the request ends.
            let _ = ended.recv();
        }
        Watch::PteTables { pid, node } => {
            bar.set_message(format!(
                "moving the page tables of process {pid} to node {node}"
            ));
            loop {
                if let Ok(census) = kernel::census(*pid) {
                    let on = census.level_on("pte", *node as usize);
                    let all = census.level_total("pte");
                    if bar.length().is_none() {
                        bar.set_style(style(BAR));
                    }
                    bar.set_length(all);
                    bar.set_position(on);
                    bar.set_message(format!("{on} of {all} PTE tables on node {node}"));
                }
                if !running(ended, CENSUS_EVERY) {
                    break;
                }
            }
        }
    }
    bar.finish_and_clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        style(SPINNER);
        style(BAR);
    }

    #[test]
    fn a_quick_request_shows_nothing_and_returns() {
        assert_eq!(around(Watch::Elapsed("x".into()), || 7), 7);
    }
}
