// SPDX-License-Identifier: GPL-2.0

//! `ptreloc`: the command-line front end of the ptreloc kernel module.
//!
//! Commands (`args`): `show`, `move`, `evacuate`, `follow`, `stats`, each
//! with `--json`. Arguments are checked before anything reaches the
//! kernel; kernel errnos become sentences (`errors`).

pub mod args;
pub mod budget;
pub mod cli;
pub mod docs;
pub mod errors;
pub mod follow;
pub mod home;
pub mod json;
pub mod kernel;
pub mod nodes;
pub mod overview;
pub mod progress;
pub mod report;
pub mod settle;
pub mod threads;
pub mod topology;
pub mod values;
