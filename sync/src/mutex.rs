//! `Mutex<T>`: Go's sync.Mutex, owning the data it protects.
//!
//! Go: internal/sync/mutex.go (the algorithm sync.Mutex wraps since Go
//! 1.24), runtime/proc.go (`sync_runtime_canSpin`, `sync_runtime_doSpin`).
//!
//! ## Algorithm
//!
//! The state word packs `LOCKED` (bit 0), `WOKEN` (bit 1: a woken or
//! spinning goroutine will compete, so `unlock` need not wake another),
//! `STARVING` (bit 2) and, from bit 3 up, the number of waiters parked on
//! the runtime semaphore `sema` ([`gort_runtime::engine::semacquire`]).
//!
//! - **Fast path**: `lock` is one CAS 0 → LOCKED, `unlock` one atomic
//!   subtract; both are inlined, the slow paths are not.
//! - **Normal mode**: waiters queue FIFO, but a woken waiter does not own
//!   the lock: it competes with newcomers, which usually win (they are
//!   already running). A woken waiter that loses goes back to the *front*
//!   of the queue (LIFO re-queue). Newcomers spin briefly first, and only
//!   when spinning can pay off: `can_spin` allows at most 4 rounds, on a
//!   multi-core machine, while another P is running and our own run queue
//!   is empty; each round is `do_spin` (30 PAUSEs). A spinner sets WOKEN
//!   so that `unlock` does not wake a sleeper it would then race.
//! - **Starvation mode**: a waiter that has waited more than 1 ms
//!   ([`STARVATION_THRESHOLD_NS`]) sets STARVING. From then on `unlock`
//!   hands the lock directly to the queue head (a semaphore hand-off, after
//!   which the unlocker yields so the head runs at once), newcomers neither
//!   spin nor grab the lock but queue at the tail. The waiter that receives
//!   the lock switches back to normal mode if it waited less than 1 ms or
//!   is the last waiter, since starvation mode is much slower and two
//!   goroutines could otherwise stay in it lock-step for ever.
//!
//! Normal mode gives throughput (a goroutine can take the lock many times
//! in a row while others sleep); starvation mode bounds the tail latency.
//!
//! ## Orderings
//!
//! Every state transition is a read-modify-write on `state`, so all of
//! them form one modification order. The CAS that acquires is Acquire and
//! the subtract that releases is Release: whatever a holder wrote is
//! visible to the next. A hand-off in starvation mode passes ownership
//! through the semaphore (`ready` publishes), and the new owner's AcqRel
//! add on `state` then reads the releaser's subtract.
//!
//! ## What guards rule out
//!
//! Go treats "unlock of unlocked mutex" as a fatal error, and allows any
//! goroutine to unlock a mutex another locked. Here the only way to unlock
//! is to drop the [`MutexGuard`] that `lock` returned: unlocking twice, or
//! unlocking a mutex nobody locked, cannot be written. A guard may still be
//! moved to another goroutine (it is `Send` when `T` is), which then
//! unlocks, as Go allows. There is no poisoning: as in Go, a panic while
//! locked just unlocks (the guard drops during unwinding).
//!
//! Like Go's, the mutex is not reentrant: locking it again from the holder
//! deadlocks. `lock` checks for preemption only on its slow path; an
//! uncontended lock/unlock never enters the runtime.

use std::cell::UnsafeCell;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

use gort_runtime::engine::{WaitReason, can_spin, do_spin, nanotime, semacquire, semrelease};
use gort_runtime::preempt_point;

const LOCKED: i32 = 1;
const WOKEN: i32 = 2;
const STARVING: i32 = 4;
const WAITER_SHIFT: u32 = 3;
const ONE_WAITER: i32 = 1 << WAITER_SHIFT;

/// How long a waiter waits before the mutex switches to starvation mode
/// (Go: `starvationThresholdNs`, 1 ms).
pub const STARVATION_THRESHOLD_NS: i64 = 1_000_000;

/// Go's mutex without data: the lock under [`Mutex`], [`crate::RwLock`]
/// and [`crate::Once`]. Unlocking is unsafe (the caller must hold it);
/// the safe types wrap it in guards.
pub(crate) struct RawMutex {
    /// `LOCKED`, `WOKEN`, `STARVING` and the waiter count (module docs).
    /// Written by every locker and unlocker, only by read-modify-writes
    /// (one modification order); no lock protects it, it is the lock.
    state: AtomicI32,
    /// The runtime semaphore's word, keyed by its address: touched only by
    /// `semacquire`/`semrelease` (which order it themselves, under their
    /// `SemaRoot` lock). Waiters park on it; an unlocker releases it when
    /// `state` says someone waits and nobody is `WOKEN`.
    sema: AtomicU32,
}

impl RawMutex {
    pub(crate) const fn new() -> RawMutex {
        RawMutex { state: AtomicI32::new(0), sema: AtomicU32::new(0) }
    }

    /// Locks; `reason` is what a goroutine dump shows while it waits.
    #[inline]
    pub(crate) fn lock(&self, reason: WaitReason) {
        if self.state.compare_exchange(0, LOCKED, Ordering::Acquire, Ordering::Relaxed).is_err() {
            self.lock_slow(reason);
        }
    }

    /// Locks if the mutex is free and not promised to a starving waiter.
    /// Go: `TryLock` (it ignores WOKEN: a running goroutine may take the
    /// lock before a woken waiter gets to run).
    #[inline]
    pub(crate) fn try_lock(&self) -> bool {
        let old = self.state.load(Ordering::Relaxed);
        if old & (LOCKED | STARVING) != 0 {
            return false;
        }
        self.state.compare_exchange(old, old | LOCKED, Ordering::Acquire, Ordering::Relaxed).is_ok()
    }

    /// Whether the mutex is currently locked (a racy snapshot).
    pub(crate) fn is_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) & LOCKED != 0
    }

    #[cold]
    #[inline(never)]
    fn lock_slow(&self, reason: WaitReason) {
        preempt_point();
        let mut wait_start: i64 = 0;
        let mut starving = false;
        let mut awoke = false;
        let mut iter = 0u32;
        let mut old = self.state.load(Ordering::Relaxed);
        loop {
            // Spin only in normal mode while the lock is held: in
            // starvation mode the lock goes to a waiter, so spinning is
            // pointless.
            if old & (LOCKED | STARVING) == LOCKED && can_spin(iter) {
                // Claim WOKEN so that unlock does not wake a sleeper.
                if !awoke
                    && old & WOKEN == 0
                    && old >> WAITER_SHIFT != 0
                    && self
                        .state
                        .compare_exchange(old, old | WOKEN, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                {
                    awoke = true;
                }
                do_spin();
                iter += 1;
                old = self.state.load(Ordering::Relaxed);
                continue;
            }
            let mut new = old;
            // Do not grab a starving mutex: newcomers queue.
            if old & STARVING == 0 {
                new |= LOCKED;
            }
            if old & (LOCKED | STARVING) != 0 {
                new += ONE_WAITER;
            }
            // Switch to starvation mode, only if the mutex is still locked:
            // unlock expects a starving mutex to have waiters.
            if starving && old & LOCKED != 0 {
                new |= STARVING;
            }
            if awoke {
                // We were woken (or claimed WOKEN while spinning): clear it.
                if new & WOKEN == 0 {
                    crate::fatal("sync: inconsistent mutex state");
                }
                new &= !WOKEN;
            }
            match self.state.compare_exchange(old, new, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => {
                    if old & (LOCKED | STARVING) == 0 {
                        return; // locked with the CAS
                    }
                    // Waited before: back to the front of the queue.
                    let lifo = wait_start != 0;
                    if wait_start == 0 {
                        wait_start = nanotime();
                    }
                    semacquire(&self.sema, lifo, reason);
                    starving = starving || nanotime() - wait_start > STARVATION_THRESHOLD_NS;
                    old = self.state.load(Ordering::Relaxed);
                    if old & STARVING != 0 {
                        // The lock was handed to us; the state still says
                        // unlocked and counts us as a waiter: fix both.
                        if old & (LOCKED | WOKEN) != 0 || old >> WAITER_SHIFT == 0 {
                            crate::fatal("sync: inconsistent mutex state");
                        }
                        let mut delta = LOCKED - ONE_WAITER;
                        if !starving || old >> WAITER_SHIFT == 1 {
                            // Exit starvation mode (module docs).
                            delta -= STARVING;
                        }
                        self.state.fetch_add(delta, Ordering::AcqRel);
                        return;
                    }
                    awoke = true;
                    iter = 0;
                }
                Err(cur) => old = cur,
            }
        }
    }

    /// Unlocks.
    ///
    /// # Safety
    /// The mutex must be locked, by (or on behalf of) the caller.
    #[inline]
    pub(crate) unsafe fn unlock(&self) {
        let new = self.state.fetch_sub(LOCKED, Ordering::Release) - LOCKED;
        if new != 0 {
            self.unlock_slow(new);
        }
    }

    #[cold]
    #[inline(never)]
    fn unlock_slow(&self, new: i32) {
        if (new + LOCKED) & LOCKED == 0 {
            crate::fatal("sync: unlock of unlocked mutex");
        }
        if new & STARVING != 0 {
            // Hand the lock to the queue head and let it run now. LOCKED
            // stays clear (the head sets it); STARVING keeps newcomers out.
            semrelease(&self.sema, true);
            return;
        }
        let mut old = new;
        loop {
            // Nobody to wake, or someone already took the lock, or a woken
            // or spinning goroutine will: nothing to do.
            if old >> WAITER_SHIFT == 0 || old & (LOCKED | WOKEN | STARVING) != 0 {
                return;
            }
            // Take the right to wake one waiter.
            let new = (old - ONE_WAITER) | WOKEN;
            match self.state.compare_exchange(old, new, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => {
                    semrelease(&self.sema, false);
                    return;
                }
                Err(cur) => old = cur,
            }
        }
    }
}

/// A mutual exclusion lock protecting a `T`, Go's `sync.Mutex` with the
/// data inside. Blocks goroutines by parking them (the thread keeps
/// running others) and plain threads by blocking them; a goroutine and a
/// thread may share one mutex. See the module docs for the algorithm.
///
/// ```
/// use std::sync::Arc;
/// use gort_sync::Mutex;
///
/// let counter = Arc::new(Mutex::new(0));
/// let hs: Vec<_> = (0..4)
///     .map(|_| {
///         let c = counter.clone();
///         gort_runtime::spawn(move || {
///             for _ in 0..1000 {
///                 *c.lock() += 1;
///             }
///         })
///     })
///     .collect();
/// for h in hs {
///     h.join().unwrap();
/// }
/// assert_eq!(*counter.lock(), 4000);
/// ```
///
/// Go's fatal "sync: unlock of unlocked mutex" (TestMutexMisuse's
/// `Mutex.Unlock` and `Mutex.Unlock2` cases) cannot be written: unlocking
/// is dropping the guard, and a guard can be dropped once.
///
/// ```compile_fail
/// let mu = gort_sync::Mutex::new(());
/// let g = mu.lock();
/// drop(g);
/// drop(g); // error: use of moved value
/// ```
///
/// Nor can the data be reached without the lock, or kept after unlocking:
///
/// ```compile_fail
/// let mu = gort_sync::Mutex::new(vec![1]);
/// let first = {
///     let g = mu.lock();
///     &g[0] // error: `g` does not live long enough
/// };
/// ```
pub struct Mutex<T: ?Sized> {
    raw: RawMutex,
    data: UnsafeCell<T>,
}

// SAFETY: the mutex hands out access to `data` to one holder at a time, so
// sharing it is sound when T may move between threads (as std's Mutex).
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}
// SAFETY: moving the mutex moves the T.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}

impl<T> Mutex<T> {
    /// An unlocked mutex holding `value`.
    pub const fn new(value: T) -> Mutex<T> {
        Mutex { raw: RawMutex::new(), data: UnsafeCell::new(value) }
    }

    /// Consumes the mutex, returning the data.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks the mutex, parking the calling goroutine (or blocking the
    /// calling thread) until it is available. Go: `Lock`.
    #[inline]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.raw.lock(WaitReason::SyncMutexLock);
        MutexGuard { mutex: self }
    }

    /// Locks the mutex if that can be done without waiting. Go: `TryLock`.
    /// Like Go's, it fails while the mutex is handed over to a starving
    /// waiter, even if it looks unlocked.
    #[inline]
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        // Not `then_some`: it would build (and drop, unlocking) a guard
        // even when the lock was not taken.
        self.raw.try_lock().then(|| MutexGuard { mutex: self })
    }

    /// Whether the mutex is locked right now. Only a snapshot, for
    /// diagnostics (the text's `IsLocked` extension).
    pub fn is_locked(&self) -> bool {
        self.raw.is_locked()
    }

    /// Mutable access without locking: `&mut self` proves nobody else
    /// holds the mutex.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Self {
        Mutex::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Some(g) => d.field("data", &&*g),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish_non_exhaustive()
    }
}

/// Proof that a [`Mutex`] is locked, giving access to its data; dropping
/// it unlocks. Go: the span between `Lock` and `Unlock`.
#[must_use = "dropping the guard unlocks the mutex at once"]
pub struct MutexGuard<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
}

// SAFETY: a guard may be moved to another goroutine or thread, which then
// uses and unlocks the mutex (Go allows unlocking from another goroutine;
// gort's mutex is not tied to a thread). That hands `&mut T` over, so T
// must be Send.
unsafe impl<T: ?Sized + Send> Send for MutexGuard<'_, T> {}
// SAFETY: sharing the guard shares `&T`.
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    /// The mutex this guard holds, e.g. to lock it again after a
    /// [`crate::Cond`] wait.
    pub(crate) fn mutex(&self) -> &'a Mutex<T> {
        self.mutex
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while the mutex is locked.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard exists only while the mutex is locked, and
        // `&mut self` makes this the only reference through it.
        unsafe { &mut *self.mutex.data.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: a live guard means the mutex is locked on our behalf.
        unsafe { self.mutex.raw.unlock() }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
