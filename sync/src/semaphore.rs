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
//! Waiter records live on the waiters' stacks in an intrusive doubly
//! linked list (O(1) removal when a timed wait gives up), guarded by the
//! semaphore's runtime lock; a waiter is granted (state `GRANTED`, units
//! counted in `cur`) under that lock and readied after it is released.
//!
//! `acquire_timeout` waits at most a given time. When the deadline passes
//! while it is still queued, it leaves the queue and, if it was at the head
//! and units are free, grants the requests behind it (Go does the same
//! when a context ends). If it was granted first, it keeps the units.
//!
//! As with the Mutex, an acquire that does not wait never enters the
//! scheduler (one that waits parks, which yields anyway).
//!
//! ## Misuse
//!
//! - `release` of more than is held panics with Go's message `semaphore:
//!   released more than held`. Unsigned weights make Go's silent
//!   negative-release bug impossible.
//! - `acquire(n)` with `n` larger than the size could never succeed; Go
//!   blocks until its context ends, here `acquire` panics naming the sizes
//!   (and `acquire_timeout` waits out its timeout and fails, as Go does
//!   with a context).

use std::cell::Cell;
use std::fmt;
use std::ptr;
use std::time::Duration;

use gort_runtime::{GRef, Lock, WaitReason, current_g, nanotime, park, park_timeout, ready};

const QUEUED: u8 = 0;
const GRANTED: u8 = 1;
const CANCELLED: u8 = 2;

/// A queued `acquire`, on the waiter's stack.
struct Waiter {
    n: usize,
    g: GRef,
    sem: *const Semaphore,
    state: Cell<u8>,
    prev: Cell<*const Waiter>,
    next: Cell<*const Waiter>,
}

struct Inner {
    cur: usize,
    head: *const Waiter,
    tail: *const Waiter,
}

// SAFETY: the raw pointers are queued waiter records, touched only under
// the semaphore's lock (module docs); their owners stay parked until a
// releaser or their own timeout takes them out under that lock.
unsafe impl Send for Inner {}

impl Inner {
    /// # Safety
    /// Lock held; `w` is alive and not queued.
    unsafe fn push_back(&mut self, w: *const Waiter) {
        // SAFETY: guaranteed by the caller; queued records are alive.
        unsafe {
            (*w).prev.set(self.tail);
            (*w).next.set(ptr::null());
            match self.tail.as_ref() {
                Some(t) => t.next.set(w),
                None => self.head = w,
            }
        }
        self.tail = w;
    }

    /// # Safety
    /// Lock held; `w` is queued.
    unsafe fn remove(&mut self, w: *const Waiter) {
        // SAFETY: guaranteed by the caller; queued records are alive.
        unsafe {
            let (p, n) = ((*w).prev.get(), (*w).next.get());
            match p.as_ref() {
                Some(p) => p.next.set(n),
                None => self.head = n,
            }
            match n.as_ref() {
                Some(n) => n.prev.set(p),
                None => self.tail = p,
            }
            (*w).prev.set(ptr::null());
            (*w).next.set(ptr::null());
        }
    }

    /// Grants queued requests from the head while they fit; returns the
    /// granted ones as a list linked through `next`, to ready after
    /// unlocking. Go: `notifyWaiters`.
    ///
    /// # Safety
    /// Lock held.
    unsafe fn grant(&mut self, size: usize) -> *const Waiter {
        let mut granted: *const Waiter = ptr::null();
        // SAFETY: queued records are alive and ours under the lock; once
        // granted, a record is ours until we ready it.
        unsafe {
            while let Some(w) = self.head.as_ref() {
                if size - self.cur < w.n {
                    // Not enough for the head: everyone behind it waits too.
                    break;
                }
                self.cur += w.n;
                self.remove(w);
                w.state.set(GRANTED);
                w.next.set(granted);
                granted = w;
            }
        }
        granted
    }
}

/// Readies a list returned by [`Inner::grant`].
///
/// # Safety
/// The list was built under the lock, which is now released.
unsafe fn ready_all(mut w: *const Waiter) {
    while !w.is_null() {
        // SAFETY: each record's owner is parked waiting for our ready; read
        // the link before readying, after which the record may vanish.
        unsafe {
            let next = (*w).next.get();
            ready((*w).g);
            w = next;
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
    size: usize,
    inner: Lock<Inner>,
}

impl Semaphore {
    /// A semaphore with `size` units, all free. Go: `NewWeighted`.
    pub const fn new(size: usize) -> Semaphore {
        Semaphore { size, inner: Lock::new(Inner { cur: 0, head: ptr::null(), tail: ptr::null() }) }
    }

    /// The total number of units.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Takes `n` units, waiting (FIFO) until they are free. Go: `Acquire`
    /// (without a context).
    ///
    /// # Panics
    /// If `n` exceeds the semaphore's size: such a request could never be
    /// granted.
    pub fn acquire(&self, n: usize) {
        let mut inner = self.inner.lock();
        if self.size - inner.cur >= n && inner.head.is_null() {
            inner.cur += n;
            return;
        }
        if n > self.size {
            drop(inner);
            panic!(
                "semaphore: acquire of {n} exceeds the semaphore's size {}: it could never succeed \
                 (acquire at most the size)",
                self.size
            );
        }
        let w = self.waiter(n);
        // SAFETY: lock held; `w` stays in place until granted (we return
        // only after a releaser granted and readied us).
        unsafe { inner.push_back(&w) };
        let raw = inner.leak();
        park(WaitReason::Semacquire, |_| {
            // SAFETY: we hold the lock (leaked guard); we are parked now.
            unsafe { raw.unlock() };
            true
        });
        debug_assert_eq!(w.state.get(), GRANTED);
    }

    /// Takes `n` units, waiting at most `timeout`; returns whether it got
    /// them (on false the semaphore is unchanged). Like Go's `Acquire`
    /// with a deadline context, except that units free right now are taken
    /// even with a zero timeout.
    pub fn acquire_timeout(&self, n: usize, timeout: Duration) -> bool {
        let deadline = nanotime().saturating_add(timeout.as_nanos().min(i64::MAX as u128) as i64);
        let mut inner = self.inner.lock();
        if self.size - inner.cur >= n && inner.head.is_null() {
            inner.cur += n;
            return true;
        }
        if nanotime() >= deadline {
            return false;
        }
        if n > self.size {
            // Doomed: do not make others queue behind it; just wait out the
            // timeout (Go waits for its context).
            drop(inner);
            gort_runtime::sleep(Duration::from_nanos((deadline - nanotime()).max(0) as u64));
            return false;
        }
        let w = self.waiter(n);
        // SAFETY: lock held; `w` stays in place until it is granted or
        // cancelled, and park_timeout returns only after that and after
        // `on_timeout` finished.
        unsafe { inner.push_back(&w) };
        let raw = inner.leak();
        park_timeout(
            WaitReason::Semacquire,
            deadline,
            Self::on_timeout,
            &w as *const Waiter as usize,
            |_| {
                // SAFETY: we hold the lock (leaked guard); we are parked now.
                unsafe { raw.unlock() };
                true
            },
        );
        w.state.get() == GRANTED
    }

    /// The deadline of a queued `acquire_timeout` passed: leave the queue
    /// unless already granted, and ready the waiter.
    fn on_timeout(arg: usize, _delay: i64) {
        // SAFETY: `arg` is the waiter's record, alive until park_timeout
        // returns, which waits for this callback; its `sem` is borrowed by
        // the waiter, so alive too.
        let (w, sem) = unsafe {
            let w = &*(arg as *const Waiter);
            (w, &*w.sem)
        };
        let mut inner = sem.inner.lock();
        if w.state.get() != QUEUED {
            return; // granted: the releaser readies it
        }
        let was_head = ptr::eq(inner.head, w);
        // SAFETY: lock held and `w` is queued.
        unsafe { inner.remove(w) };
        w.state.set(CANCELLED);
        let granted =
            // SAFETY: lock held.
            if was_head && sem.size > inner.cur { unsafe { inner.grant(sem.size) } } else { ptr::null() };
        let g = w.g;
        drop(inner);
        // SAFETY: we took `w` out of the queue under the lock: ours to
        // ready; the granted list likewise.
        unsafe {
            ready(g);
            ready_all(granted);
        }
    }

    fn waiter(&self, n: usize) -> Waiter {
        Waiter {
            n,
            g: current_g(),
            sem: self,
            state: Cell::new(QUEUED),
            prev: Cell::new(ptr::null()),
            next: Cell::new(ptr::null()),
        }
    }

    /// Takes `n` units if they are free and nobody is queued; never waits.
    /// Go: `TryAcquire`.
    pub fn try_acquire(&self, n: usize) -> bool {
        let mut inner = self.inner.lock();
        let ok = self.size - inner.cur >= n && inner.head.is_null();
        if ok {
            inner.cur += n;
        }
        ok
    }

    /// Gives back `n` units and wakes the queued requests that now fit, in
    /// order. Go: `Release`.
    ///
    /// # Panics
    /// `semaphore: released more than held` if fewer than `n` are held.
    pub fn release(&self, n: usize) {
        let mut inner = self.inner.lock();
        if n > inner.cur {
            drop(inner);
            panic!("semaphore: released more than held");
        }
        inner.cur -= n;
        // SAFETY: lock held.
        let granted = unsafe { inner.grant(self.size) };
        drop(inner);
        // SAFETY: built under the lock, now released.
        unsafe { ready_all(granted) };
    }

    /// Units currently held (a snapshot, for diagnostics).
    pub fn held(&self) -> usize {
        self.inner.lock().cur
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner.lock();
        f.debug_struct("Semaphore")
            .field("size", &self.size)
            .field("held", &inner.cur)
            .field("queued", &!inner.head.is_null())
            .finish()
    }
}
