//! The protocol of [`crate::engine::RawLock`]'s two words, written once over any
//! [`FutexWord`] so that loom can check the very code the runtime runs.
//!
//! Go: runtime/lock_futex.go (`lock2`, `unlock2`).
//!
//! `key` is 0 (unlocked), 1 (locked) or 2 (locked, and a thread may be
//! asleep on it), as in Go; `sleepers` counts threads in the sleeping
//! phase of `lock` (the runtime's lock shares one such word between the
//! locks of an address bucket, and keeps it out of the lock's memory:
//! `unlock` reads it after the releasing store, when the lock may already
//! be freed; a shared word only adds contended unlocks and wake-ups that
//! find nobody). Taking the lock is a CAS `0 -> 1` or a swap that finds
//! 0 (Acquire), which pairs with the Release of the unlock, so everything
//! written inside a critical section is visible to the next holder.
//!
//! While nobody sleeps, unlocking is a plain store: a channel operation
//! takes and releases its lock twice per hand-off, and an atomic
//! read-modify-write there cost a tenth of a ping-pong round trip. The rare
//! thread that must sleep pays instead, with the asymmetric barrier pair of
//! [`crate::membarrier`]:
//!
//! - a thread about to sleep (after spinning a while) increments
//!   `sleepers`, issues the heavy barrier, then runs Go's loop: swap in 2;
//!   if the old value was 0 it holds the lock, else futex-wait while the
//!   key is 2. It decrements `sleepers` once it holds the lock.
//! - unlock with `sleepers == 0`: store 0; light barrier; load `sleepers`
//!   again, and if a sleeper has appeared, wake one (the store may have
//!   overwritten its 2).
//! - unlock with `sleepers > 0`: Go's unlock, swap in 0 and wake one if
//!   the old value was 2, so a woken thread that loses the lock again to a
//!   spinning one is not woken over and over (waking on every unlock cost a
//!   futex system call each under contention).
//!
//! Why no wake-up is lost: either the unlocker's second load sees the
//! sleeper (then it wakes it), or the sleeper's swap, after its heavy
//! barrier, sees the unlocker's 0 (then it holds the lock, or a later
//! holder's unlock finds `sleepers > 0` by the same argument). From then on
//! the classic protocol holds: a sleeper sleeps only on a 2, and every
//! unlock that replaces a 2 wakes one.
//!
//! `runtime/tests/loom_lock.rs` model-checks these functions with loom's
//! atomics and a condition-variable futex: mutual exclusion, and every
//! thread gets the lock (a lost wake-up leaves one asleep forever, which
//! loom reports as a deadlock). `runtime/tests/lock.rs` stresses the real
//! lock with threads forced to sleep, with membarrier and without.

use std::sync::atomic::Ordering;

pub(crate) const UNLOCKED: u32 = 0;
pub(crate) const LOCKED: u32 = 1;
pub(crate) const SLEEPING: u32 = 2;

/// A 32-bit atomic word a thread can sleep on: the std atomic with Linux
/// futexes in the runtime, loom's atomic with a condition variable in the
/// model checks.
pub(crate) trait FutexWord {
    fn load(&self, order: Ordering) -> u32;
    fn store(&self, v: u32, order: Ordering);
    fn swap(&self, v: u32, order: Ordering) -> u32;
    fn cas(&self, old: u32, new: u32, success: Ordering, failure: Ordering) -> bool;
    fn fetch_add(&self, v: u32, order: Ordering) -> u32;
    fn fetch_sub(&self, v: u32, order: Ordering) -> u32;
    /// Sleeps while the word holds `expected`; may return spuriously.
    fn wait(&self, expected: u32);
    /// Wakes one thread sleeping in [`FutexWord::wait`], if any.
    fn wake_one(&self);
    /// Pauses a spinning thread (`spins` PAUSE instructions, Go's
    /// `procyield`), or gives up its CPU (`spins == 0`, Go's `osyield`).
    fn pause(spins: u32);
}

/// Takes the lock if it is free.
#[inline]
pub(crate) fn try_lock<W: FutexWord>(key: &W) -> bool {
    key.cas(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed)
}

/// Takes the lock: spins `rounds` times `spin` pauses, yields once, then
/// sleeps (module docs).
#[cold]
pub(crate) fn lock_slow<W: FutexWord>(key: &W, sleepers: &W, rounds: u32, spin: u32) {
    // Spin a little: critical sections are short and the holder is
    // probably running on another CPU.
    for _ in 0..rounds {
        if key.load(Ordering::Relaxed) == UNLOCKED && try_lock(key) {
            return;
        }
        W::pause(spin);
    }
    W::pause(0);
    if try_lock(key) {
        return;
    }
    // Announce ourselves, and make every unlock from now on see it; then
    // Go's sleeping loop.
    sleepers.fetch_add(1, Ordering::SeqCst);
    crate::membarrier::heavy();
    while key.swap(SLEEPING, Ordering::Acquire) != UNLOCKED {
        key.wait(SLEEPING);
    }
    sleepers.fetch_sub(1, Ordering::Relaxed);
}

/// Releases the lock, which the caller holds.
#[inline]
pub(crate) fn unlock<W: FutexWord>(key: &W, sleepers: &W) {
    if sleepers.load(Ordering::Relaxed) != 0 {
        unlock_contended(key);
        return;
    }
    key.store(UNLOCKED, Ordering::Release);
    crate::membarrier::light();
    if sleepers.load(Ordering::Relaxed) != 0 {
        // A sleeper arrived: our store may have replaced its 2.
        key.wake_one();
    }
}

#[cold]
fn unlock_contended<W: FutexWord>(key: &W) {
    if key.swap(UNLOCKED, Ordering::Release) == SLEEPING {
        key.wake_one();
    }
}
