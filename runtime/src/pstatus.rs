//! The P's ownership word: who may use a P, and sysmon's retake.
//!
//! Go: runtime/proc.go (`exitsyscall`'s fast path, `retake`), where the
//! same exclusion is built from the G's status and its `_Gscan` bit.
//!
//! The word packs the owning M's id (high 32 bits) with a state (low 32):
//!
//! | state      | meaning                                                   |
//! |------------|-----------------------------------------------------------|
//! | `IDLE`     | on the idle list, or in hand-off to an M (`nextp`)        |
//! | `RUNNING`  | owned by the M; it runs runtime code, or goroutine code   |
//! |            | when the M's `user` flag is set (reported as `USER`)      |
//! | `SYSCALL`  | the owner M is inside `gort::syscall`: retakable at once  |
//! | `RETAKING` | sysmon is deciding whether the owner is in goroutine code |
//!
//! ## Entering the runtime costs no atomic read-modify-write
//!
//! Goroutine code enters the runtime on every channel operation, ready and
//! park, while sysmon retakes a P perhaps once in 10 ms. The exclusion
//! between the two is therefore asymmetric (Dekker's algorithm with an
//! asymmetric fence, as userspace RCU does): each M has a `user` flag that
//! only it writes, and
//!
//! - the owner leaves for goroutine code by setting `user` (Release), and
//!   enters the runtime by clearing it, a *light* barrier (a compiler
//!   fence), then reading the word: `RUNNING` with its id means the P is
//!   still its own; `RETAKING` means wait for sysmon's decision; anything
//!   else means the P was retaken;
//! - sysmon retakes by a CAS `RUNNING -> RETAKING` on the exact word it
//!   saw, then a *heavy* barrier (`membarrier(2)`: every running thread of
//!   the process executes a full fence), then reads the owner's `user`: if
//!   set, the owner is in goroutine code and will see `RETAKING` when it
//!   enters, so sysmon CASes the word to `IDLE` and owns the P; if clear,
//!   it CASes the word back to `RUNNING`. (CASes, because the owner may
//!   have released the P from runtime code while the word said
//!   `RETAKING`.)
//!
//! The pairing: the owner's store of `user` and load of the word, sysmon's
//! store of the word and load of `user`, with a full fence between each
//! pair (the heavy barrier puts one into the owner's instruction stream
//! wherever it is). So at least one side sees the other's store: never both
//! "owner entered" and "sysmon retook". See [`crate::membarrier`] for the
//! pair, and its fallback to fences without membarrier.
//!
//! The flag is the M's, not the P's: an M that lost its P while stuck in
//! goroutine code clears the flag when it comes back, and that late store
//! must not land on a P that another M owns by then.
//!
//! ## The flag's invariant
//!
//! `user` is set only while the M runs goroutine code on a P whose word
//! names it. It is set on the way into goroutine code (the scheduler's
//! resume, the outermost runtime call's return) and cleared on every way
//! out: entering the runtime ([`PStatus::try_enter`]), forgetting the P
//! ([`PStatus::leave`], when the M finds its P retaken or hands it off from
//! `gort::syscall`), and acquiring a P ([`PStatus::acquire`], before the
//! swap that publishes the new word). sysmon reads the flag only after a
//! word that names the M, so it never sees a flag older than that word.
//!
//! Breaking it is how two Ms came to share a P: a goroutine in
//! `gort::syscall` whose P was handed off came back through the slow exit
//! (its M queued it and slept) with the flag still set; the M acquired a P
//! again and ran the scheduler on it, sysmon read "goroutine code", retook
//! the P and handed it to a second M, and both used one single-owner run
//! queue (goroutines lost or run twice). Debug builds check the invariant
//! wherever the scheduler uses its P (`MLocal::p_unchecked`), and
//! `runtime/tests/loom_sched.rs` model-checks the syscall hand-off, the
//! re-acquire and sysmon's retakes together.
//!
//! ## The other transitions
//!
//! - `gort::syscall`: the owner CASes `RUNNING -> SYSCALL` and back; sysmon
//!   (or the owner, handing its P off) retakes with a CAS `SYSCALL -> IDLE`.
//!   Both sides CAS the same word, so exactly one wins.
//! - An M acquires an idle P by swapping in `RUNNING`, and releases it by
//!   swapping in `IDLE`, both from runtime code; a concurrent `RETAKING`
//!   overwritten by the release makes sysmon's CAS that follows fail, which
//!   is what it should do.
//! - Everything the owner wrote into the P before setting `user` (Release)
//!   is visible to sysmon after a retake, which read `user` with Acquire.
//! - No ABA: an M's id enters the word only when that M acquires the P, or
//!   through sysmon's CASes from a word that already holds it, and an M
//!   whose P was retaken drops its pointer before it can hold a P again.
//!
//! `runtime/tests/loom.rs` model-checks this module on its own (compiled with loom's
//! atomics under `--cfg loom`, where both barriers are `fence(SeqCst)`): an
//! owner and sysmon never use the P at the same time, and what one wrote
//! the other sees.

#[cfg(loom)]
use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};
#[cfg(not(loom))]
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// An M's `user` flag (module docs); loom's atomic under `--cfg loom`.
pub(crate) type UserFlag = AtomicBool;

/// P states (low half of the word).
pub(crate) const IDLE: u64 = 0;
pub(crate) const RUNNING: u64 = 1;
/// Never stored: what [`PStatus::view`] reports for `RUNNING` while the
/// owner runs goroutine code.
pub(crate) const USER: u64 = 2;
pub(crate) const SYSCALL: u64 = 3;
pub(crate) const RETAKING: u64 = 4;

/// The low half of a word.
pub(crate) const STATE_MASK: u64 = 0xffff_ffff;

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

    /// The word as sysmon reasons about it: `RUNNING` becomes `USER` when
    /// `user`, the owner M's flag, is set. A snapshot: [`PStatus::try_retake`]
    /// decides.
    #[inline]
    pub(crate) fn view(&self, user: Option<&AtomicBool>) -> u64 {
        let w = self.get();
        if w & STATE_MASK == RUNNING && user.is_some_and(|u| u.load(Ordering::Acquire)) {
            w - RUNNING + USER
        } else {
            w
        }
    }

    /// Marks the P owned by `mid`, in runtime code; `user` is that M's
    /// flag. The caller took the P from the idle list or was handed it.
    ///
    /// The flag is cleared first, and published by the swap: the M runs
    /// scheduler code with this P, and sysmon, which reads the flag only
    /// after it has read a word naming this M, must not take a flag left
    /// over from the M's last goroutine for "in goroutine code". (An M
    /// whose P was handed off during `gort::syscall` left goroutine code
    /// with its flag set; an acquire that kept it let sysmon retake the P
    /// while the scheduler used it: two Ms on one run queue.)
    #[inline]
    pub(crate) fn acquire(&self, mid: u32, user: &AtomicBool) {
        user.store(false, Ordering::Relaxed);
        // A swap rather than a store (here and in `release`): both are rare,
        // and as read-modify-writes they order plainly against sysmon's
        // CASes, which loom can then check (it mis-models a plain store
        // racing a CAS, tokio-rs/loom#254).
        self.0.swap(word(mid, RUNNING), Ordering::AcqRel);
    }

    /// Marks the P idle (the caller then puts it on the idle list).
    #[inline]
    pub(crate) fn release(&self) {
        self.0.swap(IDLE, Ordering::AcqRel);
    }

    /// The owner goes (back) to goroutine code; `user` is its M's flag.
    #[inline]
    pub(crate) fn to_user(user: &AtomicBool) {
        user.store(true, Ordering::Release);
    }

    /// An M forgets the P it pointed at (it released it, or found it
    /// retaken, or handed it off from `gort::syscall`); `user` is its flag.
    /// With no P it runs no goroutine code on one, so the flag is cleared:
    /// left set, it would still say "goroutine code" once the M acquires a
    /// P again. [`PStatus::acquire`] clears it too; this keeps the flag true
    /// only while the M really is in goroutine code on a P.
    #[inline]
    pub(crate) fn leave(user: &AtomicBool) {
        user.store(false, Ordering::Relaxed);
    }

    /// The owner M `mid` comes back from goroutine code into the runtime;
    /// false if the P was retaken meanwhile. No read-modify-write unless
    /// sysmon is deciding right now (module docs).
    #[inline]
    pub(crate) fn try_enter(&self, mid: u32, user: &AtomicBool) -> bool {
        user.store(false, Ordering::Relaxed);
        crate::membarrier::light();
        let w = self.0.load(Ordering::Acquire);
        if w == word(mid, RUNNING) {
            return true;
        }
        self.enter_slow(mid)
    }

    #[cold]
    #[inline(never)]
    fn enter_slow(&self, mid: u32) -> bool {
        loop {
            let w = self.0.load(Ordering::Acquire);
            if w == word(mid, RUNNING) {
                return true;
            }
            if w != word(mid, RETAKING) {
                return false;
            }
            // sysmon is between its CAS and its decision: a few
            // instructions and one system call.
            spin_wait();
        }
    }

    /// The owner, in goroutine code, enters a known blocking call; false
    /// if the P was retaken.
    #[inline]
    pub(crate) fn to_syscall(&self, mid: u32) -> bool {
        loop {
            match self.0.compare_exchange(
                word(mid, RUNNING),
                word(mid, SYSCALL),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(w) if w == word(mid, RETAKING) => spin_wait(),
                Err(_) => return false,
            }
        }
    }

    /// The owner leaves a blocking call back to goroutine code; false if
    /// the P was retaken meanwhile (Go: the `exitsyscall` fast path).
    #[inline]
    pub(crate) fn exit_syscall(&self, mid: u32) -> bool {
        self.0
            .compare_exchange(word(mid, SYSCALL), word(mid, RUNNING), Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }

    /// Takes the P from owner `mid` in a syscall: `SYSCALL -> IDLE`.
    #[inline]
    pub(crate) fn try_retake_syscall(&self, mid: u32) -> bool {
        let w = word(mid, SYSCALL);
        self.0.compare_exchange(w, IDLE, Ordering::AcqRel, Ordering::Relaxed).is_ok()
    }

    /// Retakes the P if it is still as `seen` (a [`PStatus::view`]): in a
    /// syscall, or in goroutine code (`user` is the owner M's flag, read
    /// again after the heavy barrier; module docs). On success the caller
    /// owns the P, idle.
    pub(crate) fn try_retake(&self, seen: u64, user: &AtomicBool) -> bool {
        match seen & STATE_MASK {
            SYSCALL => self.try_retake_syscall((seen >> 32) as u32),
            USER => {
                let running = seen - USER + RUNNING;
                let retaking = seen - USER + RETAKING;
                if self.0.compare_exchange(running, retaking, Ordering::AcqRel, Ordering::Relaxed).is_err() {
                    return false;
                }
                crate::membarrier::heavy();
                if user.load(Ordering::Acquire) {
                    // The owner is in goroutine code and sees RETAKING when
                    // it comes back. A CAS all the same: the owner may have
                    // released this P from runtime code between our CAS and
                    // its return to goroutine code (on another P).
                    self.0.compare_exchange(retaking, IDLE, Ordering::AcqRel, Ordering::Relaxed).is_ok()
                } else {
                    // The owner is in the runtime (or waiting for us). It
                    // may have released the P meanwhile: then the CAS fails
                    // and the word is the new owner's.
                    let _ = self.0.compare_exchange(retaking, running, Ordering::AcqRel, Ordering::Relaxed);
                    false
                }
            }
            _ => false,
        }
    }
}

#[cfg(loom)]
fn spin_wait() {
    loom::thread::yield_now();
}

#[cfg(not(loom))]
fn spin_wait() {
    crate::sys::procyield(30);
    crate::sys::osyield();
}
