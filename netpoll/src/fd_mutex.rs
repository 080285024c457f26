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
//! Waiting for a lock parks on a small semaphore (Go: `runtime_Semacquire`
//! on `rsema`/`wsema`); the counts in the word decide who releases it, so a
//! release is never lost: a waiter adds itself to the count before it
//! sleeps and the unlocker subtracts it before it posts.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use gort_runtime::{GRef, Lock, WaitReason};

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
    rsema: Sema,
    wsema: Sema,
}

impl FdMutex {
    pub(crate) fn new() -> FdMutex {
        FdMutex { state: AtomicU64::new(0), rsema: Sema::new(), wsema: Sema::new() }
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
                        self.rsema.release();
                    }
                    for _ in 0..(old & WMASK) / WWAIT {
                        self.wsema.release();
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
        let old = self.state.fetch_sub(REF, Ordering::AcqRel);
        assert!(old & REF_MASK != 0, "{INCONSISTENT}");
        let new = old - REF;
        new & (CLOSED | REF_MASK) == CLOSED
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
                    sema.acquire();
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
                        sema.release();
                    }
                    return new & (CLOSED | REF_MASK) == CLOSED;
                }
                Err(cur) => old = cur,
            }
        }
    }

    fn parts(&self, read: bool) -> (u64, u64, u64, &Sema) {
        if read { (RLOCK, RWAIT, RMASK, &self.rsema) } else { (WLOCK, WWAIT, WMASK, &self.wsema) }
    }
}

/// A counting semaphore that parks goroutines (and blocks plain threads).
/// Go: the runtime semaphore behind `runtime_Semacquire`, FIFO.
struct Sema {
    inner: Lock<SemaInner>,
}

struct SemaInner {
    count: u32,
    waiters: VecDeque<GRef>,
}

impl Sema {
    fn new() -> Sema {
        Sema { inner: Lock::new(SemaInner { count: 0, waiters: VecDeque::new() }) }
    }

    fn acquire(&self) {
        gort_runtime::preempt_point();
        let mut s = self.inner.lock();
        if s.count > 0 {
            s.count -= 1;
            return;
        }
        s.waiters.push_back(gort_runtime::current_g());
        let raw = s.leak();
        gort_runtime::park(WaitReason::Semacquire, |_| {
            // SAFETY: the guard was leaked above: we hold the lock.
            unsafe { raw.unlock() };
            true
        });
    }

    fn release(&self) {
        let g = {
            let mut s = self.inner.lock();
            match s.waiters.pop_front() {
                Some(g) => Some(g),
                None => {
                    s.count += 1;
                    None
                }
            }
        };
        if let Some(g) = g {
            // SAFETY: we took g out of the queue under the lock, after it
            // parked (it queued itself and parked before releasing it).
            unsafe { gort_runtime::ready(g) };
        }
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
