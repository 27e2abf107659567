// SPDX-License-Identifier: GPL-2.0

//! ptreloc: relocate the page tables of a live process.
//!
//! Page-table pages are the one kind of user memory the kernel never moves. This
//! module copies them to another NUMA node (or out of a physical range) while
//! the process runs. The control interface is `/sys/kernel/debug/ptreloc/`;
//! see `Documentation/admin-guide.rst`.

use kernel::c_str;
use kernel::prelude::*;

mod debugfs;
mod sys;

module! {
    type: Ptreloc,
    name: "ptreloc",
    author: "The ptreloc developers",
    description: "Page-table relocation for live processes",
    license: "GPL",
}

/// The version, as read back from `/sys/kernel/debug/ptreloc/version`.
static VERSION: debugfs::Text = debugfs::Text(include_str!("../../VERSION"));

struct Ptreloc {
    _debugfs: debugfs::Dir,
}

impl kernel::Module for Ptreloc {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let dir = debugfs::Dir::new(c_str!("ptreloc"))?;
        dir.create_text(c_str!("version"), &VERSION)?;
        // SAFETY: no preconditions; reads the node state mask.
        let nodes = unsafe { sys::ptreloc_num_memory_nodes() };
        pr_info!(
            "version {}, {} nodes with memory\n",
            VERSION.0.trim_end(),
            nodes
        );
        Ok(Self { _debugfs: dir })
    }
}
