//! The wake-up word of a [`block_on`](super::block_on): one atomic shared
//! by the goroutine (or thread) that polls the future, its *owner*, and
//! every holder of the future's `Waker`.
//!
//! Go has no futures; the word plays the part of a one-goroutine `sudog`
//! queue, with the park/ready contract of `runtime/src/park.rs`.
//!
//! Two bits, four states:
//!
//! | word | name | meaning |
//! |---|---|---|
//! | 0 | idle / polling | the owner runs: it polls, is between polls, or has returned |
//! | `NOTIFIED` | notified | a wake arrived since the owner last cleared the word: poll again, do not park |
//! | `PARKED` | parked | the owner's park callback committed the park; the next wake must ready it |
//! | `PARKED \| NOTIFIED` | readied | a waker claimed the park and readies (or has readied) the owner |
//!
//! Transitions, every one a read-modify-write of the one word:
//! - owner, before each poll: [`WakeState::begin_poll`] swaps in 0
//!   (consumes a notification, or the readied state after a ready);
//! - owner, in the park callback after a `Pending` poll:
//!   [`WakeState::try_park`], compare-exchange 0 -> `PARKED`; it fails only
//!   if a wake came in since `begin_poll`, and the owner then does not
//!   park;
//! - waker: [`WakeState::wake`], `fetch_or(NOTIFIED)`; the one waker that
//!   finds exactly `PARKED` readies the owner. Any other wake (the owner is
//!   polling, already notified, already being readied, or gone) only
//!   leaves the bit set: duplicate and late wakes are harmless;
//! - a forced unwind of the parked owner (its runtime dropped):
//!   [`WakeState::abandon`], compare-exchange `PARKED` -> 0, wins unless a
//!   waker already claimed the ready.
//!
//! ## Orderings
//!
//! No wake-up is lost, and no owner is readied twice, because the waker's
//! and the owner's decisions are read-modify-writes of the same word: the
//! word's modification order puts one of them first. If the owner's
//! compare-exchange comes first, the waker's `fetch_or` reads `PARKED` and
//! readies it; if the waker's comes first, the compare-exchange reads
//! `NOTIFIED` and fails, and the owner polls again. So this is not a
//! Dekker pair (each side writes its own flag, then reads the other's,
//! which would need SeqCst): a single word needs only AcqRel.
//!
//! What a waker wrote before waking (the data the future will find) is
//! published by its Release `fetch_or`; every wake is a read-modify-write,
//! even one that finds the bit already set, so all wakes since the last
//! `begin_poll` form one release sequence, and `begin_poll`'s Acquire swap
//! (or the failed compare-exchange's Acquire read) synchronises with all
//! of them: the next poll sees every waker's data. A ready also carries
//! the waker's writes (park/ready contract).
//!
//! `runtime/tests/loom_future.rs` model-checks this module with loom's
//! atomics.

#[cfg(loom)]
use loom::sync::atomic::{AtomicU8, Ordering};
#[cfg(not(loom))]
use std::sync::atomic::{AtomicU8, Ordering};

/// A wake arrived since the owner last cleared the word.
pub(crate) const NOTIFIED: u8 = 1;
/// The owner committed a park; the first wake readies it.
pub(crate) const PARKED: u8 = 2;

/// The wake-up word (module docs).
pub(crate) struct WakeState(AtomicU8);

impl WakeState {
    /// Idle: the owner runs.
    pub(crate) fn new() -> WakeState {
        WakeState(AtomicU8::new(0))
    }

    /// Owner, before each poll: clears the word. Acquire: the poll sees
    /// what every waker since the last clear wrote.
    #[inline]
    pub(crate) fn begin_poll(&self) {
        self.0.swap(0, Ordering::Acquire);
    }

    /// Owner, from its park callback after a `Pending` poll: commits the
    /// park unless a wake came in since [`WakeState::begin_poll`]. True:
    /// stay parked, a waker will ready the owner.
    #[inline]
    pub(crate) fn try_park(&self) -> bool {
        self.0.compare_exchange(0, PARKED, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// Waker: records the wake. True if the caller found the owner parked
    /// and must now ready it (it is the only one who will).
    #[inline]
    pub(crate) fn wake(&self) -> bool {
        self.0.fetch_or(NOTIFIED, Ordering::AcqRel) == PARKED
    }

    /// A parked owner being force-unwound (its runtime was dropped): takes
    /// the park back so that no waker will ready it. False if a waker
    /// already claimed the ready: the caller must wait for that waker
    /// (`unwind::wait_for_waker`).
    pub(crate) fn abandon(&self) -> bool {
        self.0.compare_exchange(PARKED, 0, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// The word as it is now (Acquire).
    pub(crate) fn load(&self) -> u8 {
        self.0.load(Ordering::Acquire)
    }
}
