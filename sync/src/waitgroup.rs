//! `WaitGroup`: wait for a collection of goroutines (or threads) to finish.
//!
//! Go: sync/waitgroup.go (Go 1.25+, with `Go`).
//!
//! [`DoneGuard`] (from [`WaitGroup::add_guard`]) is Go's `wg.Add(1)` plus
//! `defer wg.Done()`: it calls `done` when dropped, panics included.
//!
//! ## Algorithm
//!
//! One `AtomicU64` holds the counter in its high 32 bits (signed) and the
//! number of waiters in its low 32 bits; waiters park on the runtime
//! semaphore `sema`. `add` adds to the high half; when the counter reaches
//! zero with waiters, the adder resets the whole state to 0 and releases
//! the semaphore once per waiter. `wait` returns at once on a zero
//! counter, else registers itself with a CAS on the low half and parks.
//!
//! ## synctest bubbles (Go 1.25)
//!
//! As in Go, a group becomes a bubble's on its first `add` inside the
//! bubble: `bubble` records the bubble's id, and the top bit of the
//! waiter half ([`BUBBLED`]) says the counter was raised in a bubble. A
//! `wait` in that bubble is then durably blocked. `add` from outside the
//! bubble (or from another bubble) panics with Go's message. When the
//! counter returns to zero with no waiter left, the group is the bubble's
//! no more and can be reused anywhere. A group whose `add` was called
//! outside is waited on non-durably from inside a bubble: its `done` may
//! come from outside. Outside bubbles `add` pays one load of a global that
//! nobody writes (the runtime's count of live bubbles).
//!
//! ## Misuse, as Go reports it
//!
//! These panic (recoverably) with Go's messages:
//! - the counter going negative: `sync: negative WaitGroup counter`;
//! - an `add` with positive delta racing a `wait` that is being released:
//!   `sync: WaitGroup misuse: Add called concurrently with Wait`;
//! - reusing the group (a new `add`) before every `wait` of the previous
//!   round has returned: `sync: WaitGroup is reused before previous Wait
//!   has returned`.
//!
//! ## Orderings
//!
//! Every `add` is an AcqRel read-modify-write of `state`, so a `done`
//! happens-before the `add` that brings the counter to zero, which
//! releases the semaphore, whose acquire in `wait` carries the edge to the
//! waiter. A `wait` that sees a zero counter reads it with Acquire. So, as
//! in Go, each `done` happens-before the `wait` it unblocks returns.

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use gort_runtime::engine::{WaitReason, semacquire, semrelease};
use gort_runtime::{JoinHandle, preempt_point};

/// Waits for a collection of goroutines to finish, Go's `sync.WaitGroup`.
/// Usable from goroutines and plain threads alike.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use gort_sync::WaitGroup;
///
/// let wg = Arc::new(WaitGroup::new());
/// let sum = Arc::new(AtomicUsize::new(0));
/// for i in 1..=10 {
///     let sum = sum.clone();
///     wg.go(move || {
///         sum.fetch_add(i, Ordering::Relaxed);
///     });
/// }
/// wg.wait();
/// assert_eq!(sum.load(Ordering::Relaxed), 55);
/// ```
#[derive(Default)]
pub struct WaitGroup {
    /// Counter (high 32 bits, signed), [`BUBBLED`], and waiter count (low
    /// 31 bits). `add`/`done` change the counter and `wait` the waiter
    /// count, all by read-modify-writes without a lock (Go: `state`); the
    /// `done` that brings the counter to 0 with waiters resets the word to
    /// 0 with a Release store, which nothing may race (a concurrent `add`
    /// is the misuse Go reports).
    state: AtomicU64,
    /// Runtime semaphore word the waiters park on (Go: `sema`); released
    /// once per waiter by that last `done`.
    sema: AtomicU32,
    /// The id of the synctest bubble the group belongs to, 0 for none.
    /// Set by the first `add` from a bubble (a CAS from 0, then
    /// [`BUBBLED`] in `state`), cleared by the `done` that releases a
    /// bubbled round's waiters; read (Acquire) to choose a durable wait
    /// reason.
    bubble: AtomicU64,
}

/// In `state`: the counter was raised inside a synctest bubble (Go:
/// `waitGroupBubbleFlag`).
const BUBBLED: u64 = 0x8000_0000;
/// In `state`: the waiter count.
const WAITERS: u64 = 0x7fff_ffff;

impl WaitGroup {
    /// A wait group with a zero counter.
    pub const fn new() -> WaitGroup {
        WaitGroup { state: AtomicU64::new(0), sema: AtomicU32::new(0), bubble: AtomicU64::new(0) }
    }

    /// Adds `delta`, which may be negative, to the counter; when it reaches
    /// zero, every goroutine blocked in [`WaitGroup::wait`] is released.
    /// Go: `Add`.
    ///
    /// Adds with a positive delta that start when the counter is zero must
    /// happen before a `wait`: typically call `add` before starting the
    /// goroutine, not inside it.
    ///
    /// # Panics
    /// With Go's messages, if the counter goes negative or on the misuse
    /// described in the module docs.
    #[inline]
    #[track_caller]
    pub fn add(&self, delta: i32) {
        // Outside bubbles: one load of a global nobody writes; the rest is
        // out of line, so that `add` stays small enough to inline.
        let bubbled = gort_runtime::engine::any_bubble_alive() && self.associate();
        let state = self
            .state
            .fetch_add((delta as i64 as u64) << 32, Ordering::AcqRel)
            .wrapping_add((delta as i64 as u64) << 32);
        if state & BUBBLED != 0 && !bubbled {
            misuse("sync: WaitGroup.Add called from inside and outside synctest bubble");
        }
        let v = (state >> 32) as i32;
        let w = (state & WAITERS) as u32;
        if v < 0 {
            misuse("sync: negative WaitGroup counter");
        }
        if w != 0 && delta > 0 && v == delta {
            misuse("sync: WaitGroup misuse: Add called concurrently with Wait");
        }
        if v > 0 || w == 0 {
            return;
        }
        self.release_waiters(state, w, bubbled);
    }

    /// `add` while a synctest bubble is alive: if the caller is in one,
    /// makes the group the bubble's and returns true, panicking with Go's
    /// message if the group belongs to another bubble or was raised
    /// outside. Go: `synctest.Associate`.
    #[cold]
    #[inline(never)]
    #[track_caller]
    fn associate(&self) -> bool {
        let Some(b) = gort_runtime::engine::current_bubble() else { return false };
        let id = b.id();
        match self.bubble.compare_exchange(0, id, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {}
            Err(cur) if cur == id => {}
            Err(_) => misuse("sync: WaitGroup.Add called from multiple synctest bubbles"),
        }
        let state = self.state.fetch_or(BUBBLED, Ordering::AcqRel);
        if state != 0 && state & BUBBLED == 0 {
            misuse("sync: WaitGroup.Add called from inside and outside synctest bubble");
        }
        true
    }

    /// Whether the group belongs to the caller's synctest bubble.
    fn is_associated(&self) -> bool {
        let id = self.bubble.load(Ordering::Acquire);
        id != 0 && gort_runtime::engine::current_bubble().is_some_and(|b| b.id() == id)
    }

    /// The counter just reached zero with `w` waiters: wake them all.
    #[cold]
    #[inline(never)]
    #[track_caller]
    fn release_waiters(&self, state: u64, w: u32, bubbled: bool) {
        // Nobody may change the state now: the counter is zero, so no
        // `wait` registers, and a concurrent `add` is the misuse below.
        if self.state.load(Ordering::Acquire) != state {
            panic!("sync: WaitGroup misuse: Add called concurrently with Wait");
        }
        // Reset the waiter count to 0 for the next round.
        self.state.store(0, Ordering::Release);
        if bubbled {
            // Nothing may race this (as above): the group is free again.
            self.bubble.store(0, Ordering::Release);
        }
        for _ in 0..w {
            semrelease(&self.sema, false);
        }
    }

    /// Decrements the counter by one. Go: `Done`.
    #[inline]
    #[track_caller]
    pub fn done(&self) {
        self.add(-1);
    }

    /// Blocks until the counter is zero. Go: `Wait`.
    ///
    /// # Panics
    /// `sync: WaitGroup is reused before previous Wait has returned` if an
    /// `add` restarted the group before this wait could return.
    #[inline]
    #[track_caller]
    pub fn wait(&self) {
        let state = self.state.load(Ordering::Acquire);
        // A counter, or a bubble to leave (BUBBLED): the slow path.
        if state & !WAITERS != 0 {
            self.wait_slow(state);
        }
    }

    #[cold]
    #[inline(never)]
    #[track_caller]
    fn wait_slow(&self, mut state: u64) {
        loop {
            if (state >> 32) as i32 == 0 {
                if state & WAITERS == 0 && state & BUBBLED != 0 && self.is_associated() {
                    // Counter and waiters at zero: no `add` may race this
                    // (Go's rule), so the group can leave its bubble.
                    if self.state.compare_exchange(state, 0, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                        self.bubble.store(0, Ordering::Release);
                    }
                }
                return;
            }
            // Increment the waiter count.
            match self.state.compare_exchange_weak(state, state + 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    preempt_point();
                    // Durable only if `add` was called in this bubble: a
                    // group raised outside may be released from outside.
                    let reason = if state & BUBBLED != 0 && self.is_associated() {
                        WaitReason::SyncWaitGroupWaitDurable
                    } else {
                        WaitReason::SyncWaitGroupWait
                    };
                    semacquire(&self.sema, false, reason);
                    if self.state.load(Ordering::Acquire) != 0 {
                        panic!("sync: WaitGroup is reused before previous Wait has returned");
                    }
                    return;
                }
                Err(cur) => state = cur,
            }
        }
    }

    /// The current counter, a racy snapshot for diagnostics (the text's
    /// introspection extension).
    pub fn count(&self) -> i32 {
        (self.state.load(Ordering::Relaxed) >> 32) as i32
    }

    /// Calls `f` in a new goroutine, adding it to the group: `add(1)`, then
    /// `done()` when `f` returns. Go 1.25's `WaitGroup.Go`. Returns the
    /// goroutine's handle, which may be dropped.
    ///
    /// As in Go, if `f` panics the group is *not* marked done: a panic
    /// must not let `wait` return as if the work had completed. Under the
    /// default panic policy the unjoined goroutine's panic ends the process,
    /// as Go's does (Go: TestIssue76126); if you join the handle and handle
    /// the panic yourself, call [`WaitGroup::done`] for it.
    #[track_caller]
    pub fn go<F>(self: &Arc<Self>, f: F) -> JoinHandle<()>
    where
        F: FnOnce() + Send + 'static,
    {
        self.add(1);
        let wg = self.clone();
        gort_runtime::spawn(move || {
            f();
            wg.done();
        })
    }
}

impl WaitGroup {
    /// Adds one to the counter and returns a guard that calls
    /// [`done`](WaitGroup::done) when dropped: Go's `wg.Add(1)` with a
    /// `defer wg.Done()`. The guard marks the work done on every way out,
    /// early returns and panics included (unlike [`WaitGroup::go`], which
    /// leaves a panicked task not done, as Go's `WaitGroup.Go` does).
    ///
    /// ```
    /// use gort_sync::WaitGroup;
    ///
    /// let wg = WaitGroup::new();
    /// std::thread::scope(|s| {
    ///     for _ in 0..3 {
    ///         let done = wg.add_guard();
    ///         s.spawn(move || {
    ///             let _done = done; // `defer wg.Done()`
    ///         });
    ///     }
    /// });
    /// wg.wait();
    /// ```
    ///
    /// For a goroutine (which needs `'static` captures) use
    /// [`add_guard_owned`](WaitGroup::add_guard_owned) on an `Arc`, or
    /// call this on a `&'static WaitGroup`.
    ///
    /// # Panics
    /// As [`add`](WaitGroup::add).
    #[track_caller]
    pub fn add_guard(&self) -> DoneGuard<&WaitGroup> {
        self.add(1);
        DoneGuard { wg: Some(self) }
    }

    /// [`add_guard`](WaitGroup::add_guard) for a shared group: the guard
    /// holds a clone of the `Arc`, so it can move into a goroutine.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use gort_sync::WaitGroup;
    ///
    /// let wg = Arc::new(WaitGroup::new());
    /// for i in 0..3 {
    ///     let done = wg.add_guard_owned();
    ///     gort_runtime::spawn(move || {
    ///         let _done = done;
    ///         if i == 1 {
    ///             return; // an early return is still counted
    ///         }
    ///     });
    /// }
    /// wg.wait();
    /// ```
    ///
    /// # Panics
    /// As [`add`](WaitGroup::add).
    #[track_caller]
    pub fn add_guard_owned(self: &Arc<Self>) -> DoneGuard<Arc<WaitGroup>> {
        self.add(1);
        DoneGuard { wg: Some(self.clone()) }
    }
}

/// Calls [`WaitGroup::done`] when dropped: Go's `defer wg.Done()`. Made
/// by [`WaitGroup::add_guard`] (borrowing the group) or
/// [`WaitGroup::add_guard_owned`] (holding an `Arc`).
///
/// Calling `done` by hand for the same unit as well counts twice: the
/// second makes the counter negative, which panics.
#[must_use = "the unit is marked done when the guard drops; dropping it at once marks it done now"]
pub struct DoneGuard<W: Deref<Target = WaitGroup>> {
    wg: Option<W>,
}

impl<W: Deref<Target = WaitGroup>> DoneGuard<W> {
    /// Marks the unit done now (the same as dropping the guard).
    pub fn done(mut self) {
        if let Some(wg) = self.wg.take() {
            wg.done();
        }
    }
}

impl<W: Deref<Target = WaitGroup>> Drop for DoneGuard<W> {
    fn drop(&mut self) {
        if let Some(wg) = self.wg.take() {
            wg.done();
        }
    }
}

impl<W: Deref<Target = WaitGroup>> std::fmt::Debug for DoneGuard<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DoneGuard").field("group", &self.wg.as_deref()).finish()
    }
}

/// Panics with Go's message, out of the inlined fast path.
#[cold]
#[inline(never)]
#[track_caller]
fn misuse(msg: &'static str) -> ! {
    panic!("{msg}")
}

impl std::fmt::Debug for WaitGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.state.load(Ordering::Relaxed);
        f.debug_struct("WaitGroup")
            .field("count", &((s >> 32) as i32))
            .field("waiters", &((s & WAITERS) as u32))
            .finish()
    }
}
