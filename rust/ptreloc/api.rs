// SPDX-License-Identifier: GPL-2.0

//! The in-kernel API (the contract is in `common/abi.rs`): the Rust side of
//! the symbols that the C shim exports.
//!
//! Callers are other modules, which hold a reference on this one through
//! the symbols they use: the state published here cannot go away under a
//! call. It is published once the debugfs files exist and withdrawn before
//! it is freed, so a call outside that window gets `ENODEV`.

use core::ptr::null_mut;
use core::sync::atomic::{AtomicPtr, Ordering};

use kernel::ffi::{c_int, c_ulong};
use kernel::prelude::*;

use crate::abi::{PtrelocOutcome, PtrelocRequest};
use crate::control::{self, State, MAX_BATCH};
use crate::level::Levels;
use crate::mm::PinnedMm;
use crate::outcome::Outcome;
use crate::relocate;
use crate::request::RelocateRequest;
use crate::table::{AdInjector, Lookup, Slot};

static STATE: AtomicPtr<State> = AtomicPtr::new(null_mut());

/// Makes `state` reachable through the API until [`withdraw`].
pub(crate) fn publish(state: &State) {
    STATE.store(core::ptr::from_ref(state).cast_mut(), Ordering::Release);
}

/// Ends what [`publish`] started; the state may be freed after this.
pub(crate) fn withdraw() {
    STATE.store(null_mut(), Ordering::Release);
}

fn state() -> Result<&'static State> {
    let state = STATE.load(Ordering::Acquire);
    // SAFETY: published by `publish` from the module's pinned state, which
    // lives until `withdraw` runs in the module's exit; callers hold a
    // reference on this module, so exit cannot run during the call.
    unsafe { state.as_ref() }.ok_or(ENODEV)
}

/// `ptreloc_relocate()`.
///
/// # Safety
///
/// `req` must point to a valid request and `out` to writable memory for an
/// outcome; if `req.inject` is not null it must point to a log whose records
/// the caller does not touch until the call returns.
#[no_mangle]
unsafe extern "C" fn ptreloc_rust_relocate(
    req: *const PtrelocRequest,
    out: *mut PtrelocOutcome,
) -> c_int {
    // SAFETY: see above.
    let (req, out) = unsafe { (&*req, &mut *out) };
    *out = PtrelocOutcome::default();
    // SAFETY: see above.
    let mut injector = unsafe { req.inject.as_mut() }.map(|log| {
        // SAFETY: see above.
        unsafe { AdInjector::new(log) }
    });
    match relocate_request(req, injector.as_mut(), out) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

fn relocate_request(
    raw: &PtrelocRequest,
    inject: Option<&mut AdInjector<'_>>,
    out: &mut PtrelocOutcome,
) -> Result {
    let state = state()?;
    let levels = match raw.levels {
        0 => Levels::ALL,
        mask => Levels::from_mask(mask).ok_or(EINVAL)?,
    };
    let req = RelocateRequest::new(
        raw.pid,
        raw.node,
        raw.start..raw.end,
        levels,
        None,
        &control::limits(),
    )?;
    let batch = match u64::from(raw.batch) {
        0 => state.batch(),
        n if n <= MAX_BATCH => n as usize,
        _ => return Err(EINVAL),
    };
    let (outcome, result) =
        state.execute(|claims, o| relocate::relocate(claims, &req, batch, inject, o));
    *out = summary(&outcome);
    result
}

fn summary(o: &Outcome) -> PtrelocOutcome {
    PtrelocOutcome {
        moved: o.per_level.map(|l| l.moved),
        deposits_moved: o.deposits_moved,
        examined: o.examined(),
        already: o.already(),
        skipped: o.skipped.total(),
        ad_entries: o.ad_entries,
        anomalies: o.anomalies,
        batches: o.batches,
        longest_hold_ns: o.longest_hold_ns,
        elapsed_ns: o.elapsed_ns,
    }
}

/// `ptreloc_read_entry()`: the entry mapping `addr` in the `level` table of
/// process `pid` that maps it (`ENOENT` if there is no such table).
///
/// # Safety
///
/// `entry` must point to writable memory for a `u64`.
#[no_mangle]
unsafe extern "C" fn ptreloc_rust_read_entry(
    pid: c_int,
    level: u32,
    addr: c_ulong,
    entry: *mut u64,
) -> c_int {
    match read_entry(pid, level, addr) {
        Ok(value) => {
            // SAFETY: see above.
            unsafe { *entry = value };
            0
        }
        Err(e) => e.to_errno(),
    }
}

fn read_entry(pid: i32, level: u32, addr: usize) -> Result<u64> {
    state()?;
    let mut levels = Levels::from_mask(level).ok_or(EINVAL)?.iter();
    let (Some(level), None) = (levels.next(), levels.next()) else {
        return Err(EINVAL);
    };
    let mm = PinnedMm::from_pid(pid)?;
    if addr >= mm.user_end() {
        return Err(EINVAL);
    }
    // The mmap lock keeps the upper tables (only we and free_pgtables free
    // them, both under it); the slot lock keeps the table the slot points
    // to (khugepaged clears PMD entries under it).
    let guard = mm.write_lock()?;
    let Lookup::Slot(slot) = Slot::lookup(&guard, level, addr) else {
        return Err(ENOENT);
    };
    let _ptl = slot.lock();
    let table = slot.read().table().ok_or(ENOENT)?;
    // SAFETY: the slot points to `table` under its lock, and the index is
    // below PTRS_PER_TABLE.
    Ok(unsafe { table.read_entry(level.entry_index(addr)) })
}
