//! `Cond`: a condition variable used with gort's lock guards.
//!
//! Go: sync/cond.go, and runtime/sema.go's `notifyList` (here
//! [`gort_runtime::engine::NotifyList`]).
//!
//! [`Cond::wait`] takes a ticket while the caller still holds the lock,
//! unlocks, waits for that ticket, and locks again before returning. Taking
//! the ticket before unlocking is what keeps a `signal` sent between the
//! unlock and the park from being lost. [`Cond::signal`] wakes the waiter
//! with the oldest ticket (FIFO), [`Cond::broadcast`] every waiter. As in
//! Go, `wait` never returns spuriously, but the condition must still be
//! re-checked in a loop: other goroutines may run between the wake-up and
//! the re-lock ([`Cond::wait_while`] does the loop).
//!
//! Differences from Go, by construction:
//! - Go's `Cond` is bound to a `Locker` `L`, and `Wait` without holding
//!   `L` is a fatal "unlock of unlocked mutex". Here `wait` takes the
//!   guard by value, so it cannot be called without holding the lock. Any
//!   of gort's guards works ([`MutexGuard`], and the read or write guard of
//!   [`RwLock`](crate::RwLock), like Go's `NewCond(rw.RLocker())`).
//! - Go panics "sync.Cond is copied" when a used `Cond` was copied. A Rust
//!   `Cond` cannot be moved while anyone waits on it (they borrow it), so
//!   there is nothing to check.

use std::fmt;

use gort_runtime::engine::NotifyList;

use crate::mutex::MutexGuard;
use crate::rwlock::{RwLockReadGuard, RwLockWriteGuard};

mod sealed {
    pub trait Sealed {}
}

/// A lock guard a [`Cond`] can wait with: it can give up its lock for the
/// duration of a wait and take it again. Implemented by gort's guards only.
pub trait CondGuard: Sized + sealed::Sealed {
    /// Unlocks, runs `between`, and locks the same lock again.
    #[doc(hidden)]
    fn unlock_around(self, between: impl FnOnce()) -> Self;
}

impl<T: ?Sized> sealed::Sealed for MutexGuard<'_, T> {}
impl<T: ?Sized> CondGuard for MutexGuard<'_, T> {
    fn unlock_around(self, between: impl FnOnce()) -> Self {
        let m = self.mutex();
        drop(self);
        between();
        m.lock()
    }
}

impl<T: ?Sized> sealed::Sealed for RwLockReadGuard<'_, T> {}
impl<T: ?Sized> CondGuard for RwLockReadGuard<'_, T> {
    fn unlock_around(self, between: impl FnOnce()) -> Self {
        let l = self.lock();
        drop(self);
        between();
        l.read()
    }
}

impl<T: ?Sized> sealed::Sealed for RwLockWriteGuard<'_, T> {}
impl<T: ?Sized> CondGuard for RwLockWriteGuard<'_, T> {
    fn unlock_around(self, between: impl FnOnce()) -> Self {
        let l = self.lock();
        drop(self);
        between();
        l.write()
    }
}

/// A condition variable, Go's `sync.Cond`: goroutines (or threads) wait
/// for an event while holding a lock they give up meanwhile.
///
/// ```
/// use std::sync::Arc;
/// use gort_sync::{Cond, Mutex};
///
/// let pair = Arc::new((Mutex::new(false), Cond::new()));
/// let p = pair.clone();
/// let h = gort_runtime::spawn(move || {
///     *p.0.lock() = true;
///     p.1.signal();
/// });
/// let (lock, cond) = &*pair;
/// let ready = cond.wait_while(lock.lock(), |ready| !*ready);
/// assert!(*ready);
/// drop(ready);
/// h.join().unwrap();
/// ```
///
/// Waiting without holding the lock (Go: a fatal "unlock of unlocked
/// mutex") cannot be written: `wait` needs the guard.
///
/// ```compile_fail
/// let (m, c) = (gort_sync::Mutex::new(0), gort_sync::Cond::new());
/// c.wait(&m); // error: `&Mutex` is not a lock guard
/// ```
#[derive(Default)]
pub struct Cond {
    /// The runtime's ticket list (Go: `notify`): `wait` takes a ticket and
    /// parks under the list's own lock, `signal`/`broadcast` wake by ticket
    /// order. It has its own runtime lock; the user's mutex is not under
    /// it.
    notify: NotifyList,
}

impl Cond {
    /// A condition variable with no waiters.
    pub const fn new() -> Cond {
        Cond { notify: NotifyList::new() }
    }

    /// Unlocks `guard`'s lock, waits for a [`signal`](Cond::signal) or
    /// [`broadcast`](Cond::broadcast), then locks again and returns the
    /// new guard. Go: `Wait`.
    pub fn wait<G: CondGuard>(&self, guard: G) -> G {
        gort_runtime::preempt_point();
        // Take the ticket while the lock is held (module docs).
        let t = self.notify.add();
        guard.unlock_around(|| self.notify.wait(t))
    }

    /// Waits while `condition` holds: `wait` in the loop Go's docs
    /// prescribe. Returns the guard with `condition` false.
    pub fn wait_while<G, T>(&self, mut guard: G, mut condition: impl FnMut(&mut T) -> bool) -> G
    where
        G: CondGuard + std::ops::DerefMut<Target = T>,
        T: ?Sized,
    {
        while condition(&mut *guard) {
            guard = self.wait(guard);
        }
        guard
    }

    /// Wakes the longest-waiting goroutine, if any. Holding the lock is
    /// allowed but not required. Go: `Signal`.
    pub fn signal(&self) {
        self.notify.notify_one();
    }

    /// Wakes every waiting goroutine. Holding the lock is allowed but not
    /// required. Go: `Broadcast`.
    pub fn broadcast(&self) {
        self.notify.notify_all();
    }
}

impl fmt::Debug for Cond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cond").finish_non_exhaustive()
    }
}
