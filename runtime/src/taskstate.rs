//! The state word a goroutine's task shares with its `JoinHandle`, and the
//! ownership it decides.
//!
//! Go has no join handle; this protocol is gort's (see `newproc.rs`). Three
//! parties: the goroutine (which writes the result), the handle (which may
//! be dropped, or join), and a joiner parked in `join`.
//!
//! Bits: `DONE` (the goroutine wrote the result), `DETACHED` (the handle is
//! gone: dropped or joined), `WAITING` (a joiner parked and left its G in
//! the task's waiter slot).
//!
//! Ownership, decided by the order of the read-modify-writes (all AcqRel,
//! so each side sees what the other wrote before its own RMW):
//! - the result slot belongs to the goroutine until it sets DONE; then to
//!   the handle if DETACHED was not yet set, else back to the goroutine;
//! - the waiter slot is written by the joiner before it sets WAITING (from
//!   its park callback, so it is parked by then), and read by the goroutine
//!   after its DONE observes WAITING;
//! - the task block is freed by whichever side sets the second of DONE and
//!   DETACHED; the other touches nothing after its own RMW (the goroutine,
//!   after readying a WAITING joiner, touches nothing either).
//!
//! `runtime/tests/loom.rs` model-checks this module with loom's atomics:
//! exactly one side frees, and every read of a slot happens-after its write.

#[cfg(loom)]
use loom::sync::atomic::{AtomicU32, Ordering};
#[cfg(not(loom))]
use std::sync::atomic::{AtomicU32, Ordering};

const DONE: u32 = 1;
const DETACHED: u32 = 2;
const WAITING: u32 = 4;

/// What the goroutine must do after publishing its result.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Finished {
    /// The handle is gone: the result and the block are the goroutine's.
    Owned,
    /// A joiner is parked: take its G from the waiter slot and ready it.
    WakeJoiner,
    /// The handle will take the result and free the block.
    Handed,
}

/// A task's state word (see the module docs).
pub(crate) struct TaskState(AtomicU32);

impl TaskState {
    pub(crate) fn new() -> TaskState {
        TaskState(AtomicU32::new(0))
    }

    /// The goroutine has written the result.
    #[inline]
    pub(crate) fn finish(&self) -> Finished {
        let prev = self.0.fetch_or(DONE, Ordering::AcqRel);
        if prev & DETACHED != 0 {
            Finished::Owned
        } else if prev & WAITING != 0 {
            Finished::WakeJoiner
        } else {
            Finished::Handed
        }
    }

    /// Whether the goroutine has finished (the result is written).
    #[inline]
    pub(crate) fn is_done(&self) -> bool {
        self.0.load(Ordering::Acquire) & DONE != 0
    }

    /// A joiner, parked, has written its G into the waiter slot: stay
    /// parked (true) unless the goroutine finished meanwhile (false).
    #[inline]
    pub(crate) fn wait(&self) -> bool {
        self.0.compare_exchange(0, WAITING, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// A joiner being unwound (its runtime was dropped) withdraws from the
    /// waiter slot: true if it did, and nobody will ready it; false if the
    /// goroutine finished first and readies it (or has).
    #[inline]
    pub(crate) fn unwait(&self) -> bool {
        self.0.compare_exchange(WAITING, 0, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// The handle goes away (dropped, or done joining). True if the
    /// goroutine had finished: the result (if not taken) and the block are
    /// then the handle's to drop and free.
    #[inline]
    pub(crate) fn detach(&self) -> bool {
        self.0.fetch_or(DETACHED, Ordering::AcqRel) & DONE != 0
    }
}
