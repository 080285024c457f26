//! `Semaphore`: a weighted counting semaphore, Go's x/sync
//! `semaphore.Weighted`.
//!
//! Go: golang.org/x/sync/semaphore/semaphore.go.
//!
//! ## Algorithm
//!
//! `size` units, `cur` of them held. `acquire(n)` takes `n` at once if they
//! are free **and nobody is queued**; otherwise it queues at the tail of a
//! FIFO and parks. `release(n)` gives units back and then grants queued
//! requests from the head, in order, while the head fits: a large request
//! at the head blocks smaller ones behind it (head-of-line blocking, as in
//! Go), so that a semaphore used as a read-write lock (readers take 1, a
//! writer takes all) cannot starve the writer.
//!
//! **Fast paths.** `cur` lives in one atomic word with a `QUEUED` bit that
//! is set exactly while the wait queue is non-empty. While the bit is
//! clear, `acquire`, `try_acquire` and `release` are a single CAS on that
//! word (Go's take a mutex twice); any CAS fails once the bit is set, so
//! newcomers cannot jump the queue.
//!
//! **Slow paths.** The queue is guarded by a goroutine mutex (gort's
//! [`crate::Mutex`] algorithm, as Go's Weighted uses sync.Mutex), so
//! contention parks goroutines instead of blocking threads. An acquire
//! that cannot be served sets `QUEUED` under the mutex *before* its final
//! check, so a concurrent release either sees the bit (and takes the slow
//! path, behind the mutex) or changed the word first (and the check sees
//! its units). With the bit set, `cur` changes only under the mutex; the
//! bit is cleared, under the mutex, when the queue empties. Waiter records
//! live on the waiters' stacks in the runtime's intrusive
//! [`WaitList`] (O(1) removal when a timed
//! wait gives up).
//!
//! ## The waiter hand-shake
//!
//! Go's waiter blocks on a channel that the granter closes; here each
//! record has an atomic `state` playing that part, so that a grant may come
//! before, during or after the park:
//! - the waiter queues itself under the mutex (state `QUEUED`), unlocks,
//!   and parks; its park callback CASes `QUEUED → PARKED`, and if that
//!   fails (a grant came first) it does not park at all;
//! - a granter, **under the mutex**, dequeues the record, sets `granted`,
//!   and swaps the state to `WOKEN`; only if the old state was `PARKED`
//!   does it ready the waiter (after unlocking). It never touches a record
//!   after the swap unless the waiter is parked waiting for that ready;
//! - a timed-out waiter's `on_timeout` CASes `PARKED → TIMEDOUT` and
//!   readies it (or `QUEUED → TIMEDOUT` if it fires before the park, so
//!   the waiter does not park); the waiter then takes the mutex: if a
//!   grant came first it
//!   keeps the units, else it leaves the queue and, if it was at the head
//!   and units are free, grants the requests behind it (Go does the same
//!   when a context ends).
//!
//! So exactly one party readies each park. The swap and CASes are AcqRel,
//! so `granted` (written before the swap) is visible to the waiter.
//!
//! An acquire that does not wait never enters the scheduler (one that
//! waits parks, which yields anyway).
//!
//! In a synctest bubble an acquire waits durably (as on Go's
//! channel-based semaphore), with its timeout on the bubble's clock;
//! `acquire_ctx` only when its context was made in the bubble (or can
//! never be cancelled). A release from outside the bubble that wakes such
//! a waiter is a fatal error, as Go's close of a bubble's channel is.
//!
//! A parked acquire is unwind-safe: if its runtime is dropped, the guard
//! `Unqueue` withdraws it as a timeout would, so the queue and the units
//! stay right for the semaphore's other users.
//!
//! ## Misuse
//!
//! - `release` of more than is held panics with Go's message `semaphore:
//!   released more than held`. Unsigned weights make Go's silent
//!   negative-release bug impossible.
//! - `acquire(n)` with `n` larger than the size could never succeed; Go
//!   blocks until its context ends, here `acquire` panics naming the sizes
//!   (`acquire_ctx` waits for its context and fails, as Go does, and
//!   `acquire_timeout` waits out its timeout and fails).
//!
//! ## With a context
//!
//! [`Semaphore::acquire_ctx`] is Go's `Acquire(ctx, n)`. Its waiter record
//! is shared (an `Arc`) with an [`after_func`](crate::context::after_func)
//! on the context that wakes it as a timeout does; the function may run
//! after the acquire returned, so the record must outlive the call.

use std::cell::{Cell, UnsafeCell};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use gort_runtime::engine::now_nanos as nanotime;
use gort_runtime::engine::{Detached, GRef, Links, WaitList, WaitReason, current_g, park_unwind_safe, ready};

use crate::context::{self, Context};
use crate::mutex::RawMutex;

/// In `Semaphore::state`: the wait queue is non-empty.
const QUEUE_BIT: u64 = 1 << 63;

const QUEUED: u8 = 0;
const PARKED: u8 = 1;
const WOKEN: u8 = 2;
const TIMEDOUT: u8 = 3;

/// A queued `acquire`, on the waiter's stack (or shared with a context's
/// waking function, [`SharedWaiter`]).
struct Waiter {
    // -- set by the waiter before it queues, then immutable --
    /// Units requested.
    n: usize,
    /// The waiting goroutine.
    g: GRef,
    // -- the hand-shake (module docs) --
    /// `QUEUED`, `PARKED`, `WOKEN` or `TIMEDOUT`: the waiter's park
    /// callback, a granter (holding the mutex) and the timeout or context
    /// function race on it with AcqRel CAS and swap; it leaves `QUEUED` /
    /// `PARKED` once, and the party that moves it out of `PARKED` readies
    /// the waiter.
    state: AtomicU8,
    // -- under the semaphore's mutex --
    /// Set by the granter when the units are granted, before its swap of
    /// `state`; read by the waiter after it wakes (or under the mutex).
    granted: Cell<bool>,
    /// Queue links (and, once granted, the granter's list of waiters to
    /// ready after it unlocks), written by whoever links or unlinks the
    /// record.
    links: Links<Waiter>,
}

gort_runtime::engine::linked!(Waiter, links, g);

impl Waiter {
    fn new(n: usize) -> Waiter {
        Waiter {
            n,
            g: current_g(),
            state: AtomicU8::new(QUEUED),
            granted: Cell::new(false),
            links: Links::new(),
        }
    }

    /// The park callback: park only if no grant came first.
    fn park_unless_granted(&self) -> bool {
        self.state.compare_exchange(QUEUED, PARKED, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }
}

/// The record of an `acquire_ctx`, shared with the function that wakes
/// it when the context ends (which may run after the acquire returned).
struct SharedWaiter(Waiter);

// SAFETY: the Cells of the record are touched only under the semaphore's
// mutex, by the waiter or a granter; the waking function touches only the
// atomic `state` and the immutable `g`.
unsafe impl Send for SharedWaiter {}
// SAFETY: shared use is safe: the Cells are touched only under the
// semaphore's mutex, and the waking function, from any thread, only reads the
// immutable `g` and CASes the atomic `state`.
unsafe impl Sync for SharedWaiter {}

/// The wait queue, behind the mutex: read and written only by a holder
/// of `Semaphore::mu`.
struct Inner {
    /// The waiters, oldest (the next to be granted) first.
    waiters: WaitList<Waiter>,
}

impl Inner {
    fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }

    /// # Safety
    /// Mutex held; `w` is alive and not queued, and stays so until taken
    /// off.
    unsafe fn push_back(&mut self, w: &Waiter) {
        // SAFETY: the caller's contract is the list's.
        unsafe { self.waiters.push_back(w) }
    }

    /// Grants queued requests from the head while they fit; returns those
    /// whose owners are parked, to ready after unlocking. Clears
    /// `QUEUE_BIT` if the queue empties. Go: `notifyWaiters`.
    ///
    /// # Safety
    /// Mutex held.
    unsafe fn grant(&mut self, state: &AtomicU64, size: usize) -> Detached<Waiter> {
        let mut to_ready = Detached::new();
        // SAFETY: queued records are alive and ours under the mutex. After
        // the swap we touch a record only if its owner is parked (it waits
        // for our ready, so the record stays alive).
        unsafe {
            while let Some(w) = self.waiters.front() {
                // The queue is non-empty, so QUEUE_BIT is set and only the
                // mutex holder changes `cur`.
                let cur = (state.load(Ordering::Acquire) & !QUEUE_BIT) as usize;
                if size - cur < w.n {
                    // Not enough for the head: everyone behind it waits too.
                    break;
                }
                state.fetch_add(w.n as u64, Ordering::AcqRel);
                self.waiters.pop_front();
                w.granted.set(true);
                if w.state.swap(WOKEN, Ordering::AcqRel) == PARKED {
                    to_ready.push(w);
                }
            }
        }
        if self.is_empty() {
            state.fetch_and(!QUEUE_BIT, Ordering::AcqRel);
        }
        to_ready
    }
}

/// What a parked acquire waits for: `semacquire`, or in a synctest bubble
/// (when `durable`: nothing outside the bubble can end the wait) a durable
/// wait, as a wait on Go's channel-based semaphore is. A release from
/// outside the bubble then is a fatal error, as Go's close of a bubble's
/// channel from outside is.
fn wait_reason(durable: bool) -> WaitReason {
    if durable && gort_runtime::engine::is_in_bubble() {
        WaitReason::SyncSemaphoreAcquire
    } else {
        WaitReason::Semacquire
    }
}

/// The unwind guard of a parked acquire (see `gort_runtime::engine::park`'s
/// docs): if the goroutine's runtime is dropped while it waits, it gives
/// up like a timed-out waiter. Its swap to `TIMEDOUT` takes the right to
/// ready the park away from later granters and interrupters (or finds
/// that one took it, and waits out its `ready`); then it leaves the queue,
/// or gives back units granted meanwhile.
struct Unqueue<'a> {
    sem: &'a Semaphore,
    w: &'a Waiter,
}

impl Drop for Unqueue<'_> {
    fn drop(&mut self) {
        if self.w.state.swap(TIMEDOUT, Ordering::AcqRel) != PARKED {
            gort_runtime::engine::wait_for_waker();
        }
        if self.sem.abandon(self.w) {
            self.sem.release(self.w.n);
        }
    }
}

/// A weighted semaphore, Go's `semaphore.Weighted`: bounds concurrent
/// access to a resource, each caller taking a weight. See the module docs.
///
/// ```
/// use std::sync::Arc;
/// use gort_sync::Semaphore;
///
/// let workers = Arc::new(Semaphore::new(2));
/// let mut hs = Vec::new();
/// for i in 0..8 {
///     workers.acquire(1); // at most 2 tasks at once
///     let w = workers.clone();
///     hs.push(gort_runtime::spawn(move || {
///         let r = i * i;
///         w.release(1);
///         r
///     }));
/// }
/// workers.acquire(2); // wait for everyone
/// let sum: i32 = hs.into_iter().map(|h| h.join().unwrap()).sum();
/// assert_eq!(sum, 140);
/// ```
pub struct Semaphore {
    /// Units in all; immutable.
    size: usize,
    /// Units held, plus `QUEUE_BIT` (module docs). While the bit is clear
    /// anyone changes it by CAS; while it is set only a holder of `mu`
    /// does, and `mu`'s holder sets and clears the bit.
    state: AtomicU64,
    /// A goroutine mutex guarding `inner` (contention parks, as with Go's
    /// `sync.Mutex` in `Weighted`).
    mu: RawMutex,
    /// The wait queue; only under `mu`.
    inner: UnsafeCell<Inner>,
}

// SAFETY: `inner` (and the waiter records it reaches) is touched only
// while holding `mu`; the records' owners stay parked or blocked on `mu`
// while others may touch them (module docs).
unsafe impl Sync for Semaphore {}
// SAFETY: a Semaphore with waiters is borrowed by them and cannot move;
// otherwise its raw pointers are null.
unsafe impl Send for Semaphore {}

/// The semaphore's mutex, held; unlocks on drop.
struct Locked<'a> {
    sem: &'a Semaphore,
}

impl Locked<'_> {
    fn inner(&mut self) -> &mut Inner {
        // SAFETY: we hold the mutex, and `&mut self` makes this reference
        // the only one.
        unsafe { &mut *self.sem.inner.get() }
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        // SAFETY: a Locked exists only while the mutex is held.
        unsafe { self.sem.mu.unlock() }
    }
}

impl Semaphore {
    /// A semaphore with `size` units, all free. Go: `NewWeighted`.
    ///
    /// # Panics
    /// If `size` does not fit in 63 bits.
    #[track_caller]
    pub const fn new(size: usize) -> Semaphore {
        assert!((size as u64) < QUEUE_BIT, "semaphore: size too large");
        Semaphore {
            size,
            state: AtomicU64::new(0),
            mu: RawMutex::new(),
            inner: UnsafeCell::new(Inner { waiters: WaitList::new() }),
        }
    }

    #[inline]
    fn lock(&self) -> Locked<'_> {
        self.mu.lock(WaitReason::SyncMutexLock);
        Locked { sem: self }
    }

    /// The total number of units.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Takes `n` units if nobody is queued and they are free: the lock-free
    /// fast path, and all of `try_acquire`.
    #[inline]
    fn try_fast(&self, n: usize) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & QUEUE_BIT != 0 || self.size - (s as usize) < n {
                return false;
            }
            match self.state.compare_exchange_weak(s, s + n as u64, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(cur) => s = cur,
            }
        }
    }

    /// Under the mutex, with the queue in `inner`: takes `n` units if the
    /// queue is empty and they are free; otherwise leaves `QUEUE_BIT` set,
    /// for the caller to queue (module docs).
    fn try_slow(&self, inner: &Inner, n: usize) -> bool {
        let s = self.state.fetch_or(QUEUE_BIT, Ordering::AcqRel);
        if inner.is_empty() && self.size - ((s & !QUEUE_BIT) as usize) >= n {
            // Nobody queued and it fits: with the bit set only we change
            // the word, so add and clear together.
            self.state.fetch_add((n as u64).wrapping_sub(QUEUE_BIT), Ordering::AcqRel);
            return true;
        }
        false
    }

    /// Undoes `try_slow`'s bit when the caller does not queue after all.
    fn unmark_if_empty(&self, inner: &Inner) {
        if inner.is_empty() {
            self.state.fetch_and(!QUEUE_BIT, Ordering::AcqRel);
        }
    }

    /// Takes `n` units, waiting (FIFO) until they are free. Go: `Acquire`
    /// (without a context).
    ///
    /// # Panics
    /// If `n` exceeds the semaphore's size: such a request could never be
    /// granted.
    #[inline]
    #[track_caller]
    pub fn acquire(&self, n: usize) {
        if !self.try_fast(n) {
            self.acquire_slow(n);
        }
    }

    #[cold]
    #[inline(never)]
    #[track_caller]
    fn acquire_slow(&self, n: usize) {
        let mut l = self.lock();
        if n > self.size {
            drop(l);
            panic!(
                "semaphore: acquire of {n} exceeds the semaphore's size {}: it could never succeed \
                 (acquire at most the size)",
                self.size
            );
        }
        if self.try_slow(l.inner(), n) {
            return;
        }
        let w = Waiter::new(n);
        // SAFETY: mutex held; `w` stays in place until granted (we return
        // only after the granter's swap, module docs).
        unsafe { l.inner().push_back(&w) };
        drop(l);
        let guard = Unqueue { sem: self, w: &w };
        park_unwind_safe(wait_reason(true), |_| w.park_unless_granted());
        std::mem::forget(guard);
        debug_assert!(w.granted.get());
    }

    /// Takes `n` units, waiting at most `timeout`; returns whether it got
    /// them (on false the semaphore is unchanged). Like Go's `Acquire`
    /// with a deadline context, except that units free right now are taken
    /// even with a zero timeout.
    pub fn acquire_timeout(&self, n: usize, timeout: Duration) -> bool {
        if self.try_fast(n) {
            return true;
        }
        let deadline = nanotime().saturating_add(timeout.as_nanos().min(i64::MAX as u128) as i64);
        let mut l = self.lock();
        if n > self.size || nanotime() >= deadline {
            drop(l);
            // A doomed request does not make others queue behind it; it
            // just waits out the timeout (Go waits for its context).
            let left = deadline - nanotime();
            if left > 0 {
                gort_runtime::sleep(Duration::from_nanos(left as u64));
            }
            return false;
        }
        if self.try_slow(l.inner(), n) {
            return true;
        }
        let w = Waiter::new(n);
        // SAFETY: mutex held; `w` stays in place until it is granted or
        // leaves the queue below, and park_timeout returns only after
        // `on_timeout` finished.
        unsafe { l.inner().push_back(&w) };
        drop(l);
        let guard = Unqueue { sem: self, w: &w };
        gort_runtime::engine::park_timeout_unwind_safe(
            wait_reason(true),
            deadline,
            Self::on_timeout,
            &w as *const Waiter as usize,
            |_| w.park_unless_granted(),
        );
        std::mem::forget(guard);
        if w.state.load(Ordering::Acquire) != TIMEDOUT {
            return true; // granted (the granter is done with `w`)
        }
        // Woken by the timeout; a grant may still have come since.
        self.abandon(&w)
    }

    /// For a waiter woken by its timeout or its context: if a grant came
    /// meanwhile, returns true (the units are held); else takes it out of
    /// the queue and, if it was at the head, grants the requests behind it
    /// that now fit (Go: the `<-done` branch of `Acquire`), and returns
    /// false.
    fn abandon(&self, w: &Waiter) -> bool {
        let mut l = self.lock();
        if w.granted.get() {
            return true;
        }
        let inner = l.inner();
        // SAFETY: mutex held; the queue's head, if any, is alive.
        let was_head = unsafe { inner.waiters.front() }.is_some_and(|h| std::ptr::eq(h, w));
        // SAFETY: mutex held; not granted means still queued.
        let removed = unsafe { inner.waiters.remove(w) };
        debug_assert!(removed, "semaphore: a waiter not granted was not queued");
        // If we blocked the head, the ones behind may fit now.
        let to_ready = if was_head {
            // SAFETY: the mutex is held (`l`).
            unsafe { inner.grant(&self.state, self.size) }
        } else {
            Detached::new()
        };
        self.unmark_if_empty(l.inner());
        drop(l);
        to_ready.ready_all();
        false
    }

    /// Takes `n` units, waiting (FIFO) until they are free or `ctx` is
    /// done; returns the context's error in the latter case, with the
    /// semaphore unchanged. Go: x/sync's `Acquire(ctx, n)`:
    /// - a context already done fails even if the units are free;
    /// - a request larger than the size does not queue (it would block the
    ///   requests behind it for ever): it waits for the context, then fails;
    /// - a waiter whose context ends leaves the queue, and if it was at the
    ///   head, the smaller requests behind it that now fit proceed;
    /// - units granted as the context ends are given back, and the call
    ///   fails.
    ///
    /// ```
    /// use std::time::Duration;
    /// use gort_sync::{Semaphore, context};
    ///
    /// let sem = Semaphore::new(1);
    /// sem.acquire(1);
    /// let (ctx, _cancel) = context::with_timeout(&context::background(), Duration::from_millis(5));
    /// assert_eq!(sem.acquire_ctx(&ctx, 1), Err(context::DeadlineExceeded));
    /// sem.release(1);
    /// assert_eq!(sem.acquire_ctx(&context::background(), 1), Ok(()));
    /// ```
    pub fn acquire_ctx(&self, ctx: &Context, n: usize) -> Result<(), context::Error> {
        if let Some(e) = ctx.err() {
            return Err(e);
        }
        if self.try_fast(n) {
            return Ok(());
        }
        let mut l = self.lock();
        if let Some(e) = ctx.err() {
            return Err(e);
        }
        if self.try_slow(l.inner(), n) {
            return Ok(());
        }
        if n > self.size {
            self.unmark_if_empty(l.inner());
            drop(l);
            ctx.done().recv();
            return Err(ctx.err().unwrap_or(context::Canceled));
        }
        let w = Arc::new(SharedWaiter(Waiter::new(n)));
        // SAFETY: mutex held; the record lives in `w`, which we keep until
        // it is granted or leaves the queue below.
        unsafe { l.inner().push_back(&w.0) };
        drop(l);
        let interrupt = {
            let w = w.clone();
            move || Self::interrupt(&w.0)
        };
        let stop = context::after_func(ctx, interrupt);
        let guard = Unqueue { sem: self, w: &w.0 };
        // Durable in a bubble only if nothing outside it can end the wait:
        // the context is the bubble's own, or can never be cancelled.
        park_unwind_safe(wait_reason(ctx.synctest_durable()), |_| w.0.park_unless_granted());
        std::mem::forget(guard);
        stop.stop();
        if w.0.state.load(Ordering::Acquire) != TIMEDOUT {
            // Granted. Go checks the context once more.
            if let Some(e) = ctx.err() {
                self.release(n);
                return Err(e);
            }
            return Ok(());
        }
        if self.abandon(&w.0) {
            // Granted after the context ended: give the units back.
            self.release(n);
        }
        Err(ctx.err().unwrap_or(context::Canceled))
    }

    /// The deadline of a queued `acquire_timeout` passed: wake it unless a
    /// grant came first. It may run before the waiter parked
    /// (`park_timeout` arms the timer before the callback runs); then it
    /// only marks the record, and the waiter
    /// does not park.
    fn on_timeout(arg: usize, _delay: i64) {
        // SAFETY: `arg` is the waiter's record, alive until park_timeout
        // returns, which waits for this callback.
        Self::interrupt(unsafe { &*(arg as *const Waiter) });
    }

    /// Wakes the waiter `w` for its timeout or its context, unless a grant
    /// came first; if it has not parked yet, only marks it, so it does not.
    fn interrupt(w: &Waiter) {
        let mut s = w.state.load(Ordering::Acquire);
        loop {
            let next = match s {
                QUEUED | PARKED => TIMEDOUT,
                _ => return, // granted: the granter readies it, or it never parked
            };
            match w.state.compare_exchange(s, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(PARKED) => {
                    // SAFETY: the CAS made us the one party to ready this park.
                    unsafe { ready(w.g) };
                    return;
                }
                Ok(_) => return, // not parked yet: its CAS to PARKED now fails
                Err(cur) => s = cur,
            }
        }
    }

    /// Takes `n` units if they are free and nobody is queued; never waits.
    /// Go: `TryAcquire`.
    #[inline]
    pub fn try_acquire(&self, n: usize) -> bool {
        self.try_fast(n)
    }

    /// Gives back `n` units and wakes the queued requests that now fit, in
    /// order. Go: `Release`.
    ///
    /// # Panics
    /// `semaphore: released more than held` if fewer than `n` are held.
    #[inline]
    #[track_caller]
    pub fn release(&self, n: usize) {
        let mut s = self.state.load(Ordering::Relaxed);
        while s & QUEUE_BIT == 0 && (s as usize) >= n {
            match self.state.compare_exchange_weak(s, s - n as u64, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return,
                Err(cur) => s = cur,
            }
        }
        self.release_slow(n);
    }

    #[cold]
    #[inline(never)]
    #[track_caller]
    fn release_slow(&self, n: usize) {
        let mut l = self.lock();
        // Without the bit, fast paths may still change the word: CAS.
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if ((s & !QUEUE_BIT) as usize) < n {
                drop(l);
                panic!("semaphore: released more than held");
            }
            match self.state.compare_exchange_weak(s, s - n as u64, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => break,
                Err(cur) => s = cur,
            }
        }
        // SAFETY: mutex held.
        let to_ready = unsafe { l.inner().grant(&self.state, self.size) };
        drop(l);
        to_ready.ready_all();
    }

    /// Units currently held (a snapshot, for diagnostics).
    pub fn held(&self) -> usize {
        (self.state.load(Ordering::Relaxed) & !QUEUE_BIT) as usize
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.state.load(Ordering::Relaxed);
        f.debug_struct("Semaphore")
            .field("size", &self.size)
            .field("held", &((s & !QUEUE_BIT) as usize))
            .field("queued", &(s & QUEUE_BIT != 0))
            .finish()
    }
}
