//! The socket's lifetime counter and per-direction lock.
//!
//! Go: internal/poll/fd_mutex.go (`fdMutex`).
//!
//! One 64-bit word: a closed bit, a read-lock bit, a write-lock bit, a
//! 20-bit count of references (operations in flight), and 20-bit counts of
//! goroutines waiting for the read and the write lock. Reads take the read
//! lock for their whole duration (several syscalls and waits), writes the
//! write lock, so that one direction has at most one waiter in the poll
//! descriptor (see [`crate::pd`]) and concurrent writes do not interleave.
//! Other operations (setsockopt, deadlines) take a plain reference.
//!
//! Closing sets the closed bit: every later lock or reference fails, and
//! the waiters for a lock are released to see it. The descriptor itself is
//! closed by whoever drops the last reference after the closed bit is set
//! (the `bool` results below), so a concurrent close never pulls the fd
//! number from under an operation in flight.
//!
//! Waiting for a lock parks on the runtime semaphore of `rsema` or `wsema`
//! (Go: `runtime_Semacquire`, [`gort_runtime::engine::semacquire`]); the counts in
//! the word decide who releases it, so a release is never lost: a waiter
//! adds itself to the count before it sleeps and the unlocker subtracts it
//! before it posts. A post that comes before the waiter sleeps stays in the
//! semaphore word for it.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use gort_runtime::engine::{WaitReason, semacquire, semrelease};

const CLOSED: u64 = 1 << 0;
const RLOCK: u64 = 1 << 1;
const WLOCK: u64 = 1 << 2;
const REF: u64 = 1 << 3;
const REF_MASK: u64 = ((1 << 20) - 1) << 3;
const RWAIT: u64 = 1 << 23;
const RMASK: u64 = ((1 << 20) - 1) << 23;
const WWAIT: u64 = 1 << 43;
const WMASK: u64 = ((1 << 20) - 1) << 43;

const OVERFLOW: &str = "too many concurrent operations on a single file or socket (max 1048575)";
const INCONSISTENT: &str = "inconsistent poll.fdMutex";

/// Go: `fdMutex`. See the module docs.
pub(crate) struct FdMutex {
    state: AtomicU64,
    /// Semaphores of the read and the write lock's waiters.
    rsema: AtomicU32,
    wsema: AtomicU32,
}

impl FdMutex {
    pub(crate) fn new() -> FdMutex {
        FdMutex { state: AtomicU64::new(0), rsema: AtomicU32::new(0), wsema: AtomicU32::new(0) }
    }

    /// Adds a reference; false if closed.
    pub(crate) fn incref(&self) -> bool {
        let mut old = self.state.load(Ordering::Relaxed);
        loop {
            if old & CLOSED != 0 {
                return false;
            }
            let new = old + REF;
            assert!(new & REF_MASK != 0, "{OVERFLOW}");
            match self.state.compare_exchange_weak(old, new, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(cur) => old = cur,
            }
        }
    }

    /// Marks closed and adds a reference; false if already closed. Lock
    /// waiters are released to observe the close.
    pub(crate) fn incref_and_close(&self) -> bool {
        let mut old = self.state.load(Ordering::Relaxed);
        loop {
            if old & CLOSED != 0 {
                return false;
            }
            let mut new = (old | CLOSED) + REF;
            assert!(new & REF_MASK != 0, "{OVERFLOW}");
            new &= !(RMASK | WMASK);
            match self.state.compare_exchange_weak(old, new, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => {
                    for _ in 0..(old & RMASK) / RWAIT {
                        semrelease(&self.rsema, false);
                    }
                    for _ in 0..(old & WMASK) / WWAIT {
                        semrelease(&self.wsema, false);
                    }
                    return true;
                }
                Err(cur) => old = cur,
            }
        }
    }

    /// Drops a reference; true if it was the last one after a close (the
    /// caller then destroys the descriptor).
    pub(crate) fn decref(&self) -> bool {
        // A CAS loop, not a fetch_sub: an unbalanced call must panic
        // before it corrupts the word.
        let mut old = self.state.load(Ordering::Relaxed);
        loop {
            assert!(old & REF_MASK != 0, "{INCONSISTENT}");
            let new = old - REF;
            match self.state.compare_exchange_weak(old, new, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return new & (CLOSED | REF_MASK) == CLOSED,
                Err(cur) => old = cur,
            }
        }
    }

    /// Takes the read (or write) lock and a reference, waiting for the
    /// lock; false if closed.
    pub(crate) fn rwlock(&self, read: bool) -> bool {
        let (bit, wait, mask, sema) = self.parts(read);
        let mut old = self.state.load(Ordering::Relaxed);
        loop {
            if old & CLOSED != 0 {
                return false;
            }
            let new = if old & bit == 0 {
                let n = (old | bit) + REF;
                assert!(n & REF_MASK != 0, "{OVERFLOW}");
                n
            } else {
                let n = old + wait;
                assert!(n & mask != 0, "{OVERFLOW}");
                n
            };
            match self.state.compare_exchange_weak(old, new, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) if old & bit == 0 => return true,
                Ok(_) => {
                    // The unlocker (or closer) subtracts our wait count
                    // before it posts.
                    semacquire(sema, false, WaitReason::Semacquire);
                    old = self.state.load(Ordering::Relaxed);
                }
                Err(cur) => old = cur,
            }
        }
    }

    /// Releases the lock and its reference, handing the lock to one waiter;
    /// true if that was the last reference after a close.
    pub(crate) fn rwunlock(&self, read: bool) -> bool {
        let (bit, wait, mask, sema) = self.parts(read);
        let mut old = self.state.load(Ordering::Relaxed);
        loop {
            assert!(old & bit != 0 && old & REF_MASK != 0, "{INCONSISTENT}");
            let mut new = (old & !bit) - REF;
            if old & mask != 0 {
                new -= wait;
            }
            match self.state.compare_exchange_weak(old, new, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => {
                    if old & mask != 0 {
                        semrelease(sema, false);
                    }
                    return new & (CLOSED | REF_MASK) == CLOSED;
                }
                Err(cur) => old = cur,
            }
        }
    }

    fn parts(&self, read: bool) -> (u64, u64, u64, &AtomicU32) {
        if read { (RLOCK, RWAIT, RMASK, &self.rsema) } else { (WLOCK, WWAIT, WMASK, &self.wsema) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_close_and_last_reference() {
        let mu = FdMutex::new();
        assert!(mu.rwlock(true));
        assert!(mu.rwlock(false), "read and write locks are independent");
        assert!(mu.incref());
        assert!(mu.incref_and_close());
        assert!(!mu.incref_and_close(), "second close fails");
        assert!(!mu.rwlock(true) && !mu.incref(), "closed: no new operations");
        assert!(!mu.decref(), "close's own reference");
        assert!(!mu.rwunlock(true));
        assert!(!mu.decref());
        assert!(mu.rwunlock(false), "the last reference after close destroys");
    }

    #[test]
    fn waiters_get_the_lock_in_turn() {
        use std::sync::Arc;
        use std::sync::atomic::AtomicUsize;
        let mu = Arc::new(FdMutex::new());
        let inside = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let (mu, inside) = (mu.clone(), inside.clone());
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        assert!(mu.rwlock(false));
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders of the write lock");
                        std::hint::spin_loop();
                        inside.fetch_sub(1, Ordering::SeqCst);
                        assert!(!mu.rwunlock(false));
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert!(mu.incref_and_close());
        assert!(mu.decref());
    }
}

#[cfg(test)]
mod goroutine_tests {
    //! Go: internal/poll/fd_mutex_test.go, with the waiters as goroutines
    //! parked on the runtime semaphore.

    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;
    use std::sync::mpsc;
    use std::time::Duration;

    use gort_runtime::Runtime;

    /// Runs `f` on a runtime of two Ps, failing if it takes 10 s.
    fn on_runtime(f: impl FnOnce() + Send + 'static) {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let rt = Runtime::builder().max_procs(2).build().unwrap();
            rt.block_on(f);
            tx.send(()).unwrap();
        });
        rx.recv_timeout(Duration::from_secs(10)).expect("the test goroutines hung");
    }

    /// Go: TestMutexCloseUnblock. Goroutines parked for the read lock do
    /// not get it, and the close releases them with false.
    #[test]
    fn close_releases_parked_lockers() {
        on_runtime(|| {
            let mu = Arc::new(FdMutex::new());
            assert!(mu.rwlock(true));
            let failed = Arc::new(AtomicUsize::new(0));
            let hs: Vec<_> = (0..4)
                .map(|_| {
                    let (mu, failed) = (mu.clone(), failed.clone());
                    gort_runtime::spawn(move || {
                        let got = mu.rwlock(true);
                        failed.fetch_add(1, Ordering::SeqCst);
                        got
                    })
                })
                .collect();
            gort_runtime::sleep(Duration::from_millis(10));
            assert_eq!(failed.load(Ordering::SeqCst), 0, "a second reader got the read lock");
            assert!(mu.incref_and_close());
            for h in hs {
                assert!(!h.join().unwrap(), "a reader got the lock of a closed mutex");
            }
            assert!(!mu.decref());
            assert!(mu.rwunlock(true), "the last reference after close destroys");
        });
    }

    /// Go: TestMutexPanic. Unbalanced unlocks panic with Go's message, and
    /// leave the mutex usable.
    #[test]
    fn unbalanced_calls_panic() {
        let inconsistent = |f: &dyn Fn(&FdMutex), mu: &FdMutex| {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(mu)));
            let msg = r.expect_err("did not panic");
            let msg = msg.downcast_ref::<String>().expect("a formatted message");
            assert!(msg.contains(INCONSISTENT), "wrong panic message {msg:?}");
        };
        let mu = FdMutex::new();
        inconsistent(&|mu| _ = mu.decref(), &mu);
        inconsistent(&|mu| _ = mu.rwunlock(true), &mu);
        inconsistent(&|mu| _ = mu.rwunlock(false), &mu);
        inconsistent(
            &|mu| {
                assert!(mu.rwlock(false));
                mu.rwunlock(false);
                mu.rwunlock(false);
            },
            &mu,
        );
        assert!(mu.incref());
        assert!(!mu.decref());
        assert!(mu.rwlock(true) && !mu.rwunlock(true));
        assert!(mu.rwlock(false) && !mu.rwunlock(false));
    }

    /// Go: TestMutexOverflowPanic.
    #[test]
    fn too_many_references_panic() {
        let mu = FdMutex::new();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            for _ in 0..1 << 21 {
                mu.incref();
            }
        }));
        let msg = r.expect_err("did not panic");
        let msg = msg.downcast_ref::<String>().expect("a formatted message");
        assert!(msg.contains("too many") && !msg.contains("inconsistent"), "wrong panic message {msg:?}");
    }

    /// Go: TestMutexStress (its -short size): goroutines take references,
    /// read locks and write locks at random; each lock excludes its own
    /// kind. Four goroutines on two Ps, so lockers park on the semaphores.
    #[test]
    fn stress() {
        on_runtime(|| {
            let mu = Arc::new(FdMutex::new());
            // (entered, left) per lock kind; equal whenever nobody holds it.
            let state = Arc::new([
                AtomicUsize::new(0),
                AtomicUsize::new(0),
                AtomicUsize::new(0),
                AtomicUsize::new(0),
            ]);
            let hs: Vec<_> = (0..4)
                .map(|_| {
                    let (mu, state) = (mu.clone(), state.clone());
                    gort_runtime::spawn(move || {
                        for _ in 0..10_000 {
                            match gort_runtime::engine::cheaprandn(3) {
                                0 => {
                                    assert!(mu.incref());
                                    assert!(!mu.decref());
                                }
                                k => {
                                    let read = k == 1;
                                    let s = if read { &state[..2] } else { &state[2..] };
                                    assert!(mu.rwlock(read));
                                    assert_eq!(
                                        s[0].load(Ordering::Relaxed),
                                        s[1].load(Ordering::Relaxed),
                                        "two holders"
                                    );
                                    s[0].fetch_add(1, Ordering::Relaxed);
                                    if gort_runtime::engine::cheaprandn(8) == 0 {
                                        gort_runtime::yield_now(); // let the others queue up
                                    }
                                    s[1].fetch_add(1, Ordering::Relaxed);
                                    assert!(!mu.rwunlock(read));
                                }
                            }
                        }
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
            assert!(mu.incref_and_close());
            assert!(mu.decref());
        });
    }
}
