// SPDX-License-Identifier: GPL-2.0

//! ptreloc: relocate the page tables of a live process.
//!
//! Page-table pages are the one kind of user memory the kernel never moves. This
//! module copies them to another NUMA node while the process runs. The control
//! interface is `/sys/kernel/debug/ptreloc/` (see `control.rs` and
//! `Documentation/admin-guide.rst`); the protocol is described in
//! `Documentation/design.rst`, and its steps are the phases of `batch.rs`.

use kernel::c_str;
use kernel::prelude::*;

#[path = "../common/abi.rs"]
mod abi;
mod api;
mod batch;
mod census;
mod claims;
#[path = "../common/compat.rs"]
mod compat;
mod control;
#[path = "../common/debugfs.rs"]
mod debugfs;
mod duty;
#[path = "../common/errno.rs"]
mod errno;
mod flush;
#[path = "../common/ksys.rs"]
mod ksys;
#[path = "../common/level.rs"]
mod level;
mod locks;
mod memcg;
mod mm;
mod outcome;
mod placement;
mod relocate;
mod request;
mod sys;
mod table;
#[path = "../common/text.rs"]
mod text;
#[path = "../common/words.rs"]
mod words;
#[path = "../common/x86.rs"]
mod x86;

use control::State;
use debugfs::{Dir, FileOps};

module! {
    type: Ptreloc,
    name: "ptreloc",
    description: "Page-table relocation for live processes",
    license: "GPL",
}

/// The version, as read back from `/sys/kernel/debug/ptreloc/version`.
pub(crate) const VERSION: &str = include_str!("../../VERSION");

/// The `file_operations` of the control files; must outlive the directory.
struct Fops {
    version: FileOps,
    relocate: FileOps,
    evacuate: FileOps,
    result: FileOps,
    census: FileOps,
    stats: FileOps,
    batch: FileOps,
}

struct Ptreloc {
    /// `None` only while the module is being unloaded.
    debugfs: Option<Dir>,
    _fops: KBox<Fops>,
    _state: Pin<KBox<State>>,
}

impl kernel::Module for Ptreloc {
    fn init(module: &'static ThisModule) -> Result<Self> {
        if sys::xen_pv_domain() {
            // Xen PV maps page tables read-only and must be told about new
            // ones (paravirt_alloc_pte/release_pte); we write them directly.
            pr_err!("Xen PV guests are not supported\n");
            return Err(ENODEV);
        }
        let state = KBox::pin_init(State::new(), GFP_KERNEL)?;
        let fops = KBox::new(
            Fops {
                version: FileOps::new::<control::VersionFile>(module),
                relocate: FileOps::new::<control::RelocateFile>(module),
                evacuate: FileOps::new::<control::EvacuateFile>(module),
                result: FileOps::new::<control::ResultFile>(module),
                census: FileOps::new::<control::CensusFile>(module),
                stats: FileOps::new::<control::StatsFile>(module),
                batch: FileOps::new::<control::BatchFile>(module),
            },
            GFP_KERNEL,
        )?;
        let dir = Dir::new(c_str!("ptreloc"))?;
        let files = [
            (c_str!("version"), 0o444, &fops.version),
            (c_str!("relocate"), 0o600, &fops.relocate),
            (c_str!("evacuate"), 0o600, &fops.evacuate),
            (c_str!("result"), 0o400, &fops.result),
            (c_str!("census"), 0o600, &fops.census),
            (c_str!("stats"), 0o400, &fops.stats),
            (c_str!("batch"), 0o600, &fops.batch),
        ];
        for (name, mode, ops) in files {
            // SAFETY: each `FileOps` was made for a kind whose context is
            // `State`; both are boxed, and `drop` removes the directory (which
            // waits for running operations, and open files pin the module)
            // before either box is freed.
            unsafe { dir.create_file(name, mode, ops, &*state)? };
        }
        api::publish(&state);
        let nodes = sys::num_memory_nodes();
        pr_info!(
            "version {}, {} nodes with memory, page-table locks {}\n",
            VERSION.trim_end(),
            nodes,
            if sys::alloc_split_ptlocks() {
                "allocated"
            } else {
                "embedded"
            }
        );
        Ok(Self {
            debugfs: Some(dir),
            _fops: fops,
            _state: state,
        })
    }
}

impl Drop for Ptreloc {
    fn drop(&mut self) {
        // No API callers are left (they hold a reference on this module).
        api::withdraw();
        // No new requests, and none running, once the directory is gone.
        drop(self.debugfs.take());
        // Old tables still waiting for their grace period are freed by
        // module text.
        table::wait_for_released();
    }
}
