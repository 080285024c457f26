//! The P's ownership word: who may use a P, and sysmon's retake.
//!
//! Go: runtime/proc.go (`exitsyscall`'s fast path, `retake`), where the
//! same exclusion is built from the G's status and its `_Gscan` bit.
//!
//! The word packs the owning M's id (high 32 bits) with a state (low 32):
//!
//! | state     | meaning                                                     |
//! |-----------|-------------------------------------------------------------|
//! | `IDLE`    | on the idle list, or in hand-off to an M (`nextp`)          |
//! | `RUNNING` | the owner M runs runtime code: the P cannot be taken        |
//! | `USER`    | the owner M runs goroutine code: sysmon may retake the P    |
//! | `SYSCALL` | the owner M is inside `gort::syscall`: retakable at once    |
//!
//! Protocol:
//! - the owner moves `RUNNING -> USER` with a Release store before resuming
//!   a goroutine, and back with a CAS (`try_enter`) when goroutine code
//!   calls into the runtime;
//! - sysmon retakes with a CAS `USER|SYSCALL -> IDLE` on the exact word it
//!   saw; both sides CAS the same word, so exactly one wins, and the loser
//!   sees its CAS fail;
//! - everything the owner wrote into the P before its Release store (or
//!   its AcqRel CAS) is visible to sysmon after a successful retake
//!   (AcqRel), which then hands the P on under the scheduler lock;
//! - no ABA: only the owner ever writes its own id into the word, and an M
//!   whose P was retaken drops its pointer before it can hold a P again.
//!
//! `runtime/tests/loom.rs` model-checks this module (compiled with loom's
//! atomics under `--cfg loom`): an owner and sysmon never use the P at the
//! same time, and what one wrote the other sees.

#[cfg(loom)]
use loom::sync::atomic::{AtomicU64, Ordering};
#[cfg(not(loom))]
use std::sync::atomic::{AtomicU64, Ordering};

/// P states (low half of the word).
pub(crate) const IDLE: u64 = 0;
pub(crate) const RUNNING: u64 = 1;
pub(crate) const USER: u64 = 2;
pub(crate) const SYSCALL: u64 = 3;

/// The word for M `mid` in `state`.
#[inline]
pub(crate) fn word(mid: u32, state: u64) -> u64 {
    ((mid as u64) << 32) | state
}

/// A P's ownership word (see the module docs).
pub(crate) struct PStatus(AtomicU64);

impl PStatus {
    /// An idle P.
    pub(crate) fn new() -> PStatus {
        PStatus(AtomicU64::new(IDLE))
    }

    /// The raw word.
    #[inline]
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    /// Marks the P owned by `mid`, in runtime code. The caller took the P
    /// from the idle list or was handed it.
    #[inline]
    pub(crate) fn acquire(&self, mid: u32) {
        self.0.store(word(mid, RUNNING), Ordering::Release);
    }

    /// Marks the P idle (the caller then puts it on the idle list).
    #[inline]
    pub(crate) fn release(&self) {
        self.0.store(IDLE, Ordering::Release);
    }

    /// The owner goes back to goroutine code.
    #[inline]
    pub(crate) fn to_user(&self, mid: u32) {
        self.0.store(word(mid, USER), Ordering::Release);
    }

    /// The owner enters a known blocking call; false if the P was retaken.
    #[inline]
    pub(crate) fn to_syscall(&self, mid: u32) -> bool {
        self.0
            .compare_exchange(word(mid, USER), word(mid, SYSCALL), Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The owner comes back from goroutine code (`from` is USER or SYSCALL);
    /// false if the P was retaken meanwhile.
    #[inline]
    pub(crate) fn try_enter(&self, mid: u32, from: u64) -> bool {
        self.0
            .compare_exchange(word(mid, from), word(mid, RUNNING), Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }

    /// The owner leaves a blocking call back to goroutine code; false if
    /// the P was retaken meanwhile (Go: the `exitsyscall` fast path).
    #[inline]
    pub(crate) fn exit_syscall(&self, mid: u32) -> bool {
        self.0
            .compare_exchange(word(mid, SYSCALL), word(mid, USER), Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }

    /// sysmon's retake: succeeds only if the word still equals `seen`.
    #[inline]
    pub(crate) fn try_retake(&self, seen: u64) -> bool {
        self.0.compare_exchange(seen, IDLE, Ordering::AcqRel, Ordering::Relaxed).is_ok()
    }
}
