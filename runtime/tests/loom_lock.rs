//! Model checks (loom) of the runtime lock's protocol (`lockword.rs`), the
//! real functions over loom's atomics and a futex built from a loom mutex
//! and condition variable:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test --release -p gort-runtime --test loom_lock
//! ```
//!
//! Every thread takes the lock once, touches data only the holder may
//! touch (loom's cell reports overlapping access), and releases it. A lost
//! wake-up leaves a thread asleep with nobody to wake it, which loom
//! reports as a deadlock. The asymmetric barrier pair is modelled as a
//! SeqCst fence on each side, so what this checks is the protocol with
//! symmetric fences; that membarrier may stand in for the sleeper's fence
//! is the argument of `membarrier.rs`. Removing the unlock's re-check of
//! `sleepers`, its barrier, or the contended unlock's wake-up makes these
//! tests fail.
#![cfg(loom)]

#[allow(dead_code)]
#[path = "../src/lockword.rs"]
mod lockword;
#[allow(dead_code)]
#[path = "../src/membarrier.rs"]
mod membarrier;

use std::sync::atomic::Ordering;

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicU32, fence};
use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;

use lockword::FutexWord;

/// A futex: waiting checks the value and sleeps atomically with respect to
/// waking (the kernel's hash-bucket lock, here a mutex), with the full
/// barriers the kernel issues on both sides.
struct Futex {
    v: AtomicU32,
    bucket: Mutex<()>,
    cv: Condvar,
}

impl Futex {
    fn new(v: u32) -> Futex {
        Futex { v: AtomicU32::new(v), bucket: Mutex::new(()), cv: Condvar::new() }
    }
}

impl FutexWord for Futex {
    fn load(&self, order: Ordering) -> u32 {
        self.v.load(order)
    }
    /// A swap, not a store: loom orders a plain store inconsistently
    /// against a concurrent read-modify-write of the same atomic (it let a
    /// swap that happens-after the unlock's store read a value from before
    /// it, tokio-rs/loom#254), reporting executions C11 forbids. As a swap
    /// the store takes its place in the modification order when it runs,
    /// and the interleavings still put it on either side of a sleeper's
    /// swap; loads may still read stale values.
    fn store(&self, v: u32, order: Ordering) {
        self.v.swap(v, order);
    }
    fn swap(&self, v: u32, order: Ordering) -> u32 {
        self.v.swap(v, order)
    }
    fn cas(&self, old: u32, new: u32, success: Ordering, failure: Ordering) -> bool {
        self.v.compare_exchange(old, new, success, failure).is_ok()
    }
    fn fetch_add(&self, v: u32, order: Ordering) -> u32 {
        self.v.fetch_add(v, order)
    }
    fn fetch_sub(&self, v: u32, order: Ordering) -> u32 {
        self.v.fetch_sub(v, order)
    }
    fn wait(&self, expected: u32) {
        let g = self.bucket.lock().unwrap();
        fence(Ordering::SeqCst);
        if self.v.load(Ordering::Relaxed) == expected {
            drop(self.cv.wait(g).unwrap());
        }
    }
    fn wake_one(&self) {
        fence(Ordering::SeqCst);
        let _g = self.bucket.lock().unwrap();
        self.cv.notify_one();
    }
    fn pause(_spins: u32) {
        thread::yield_now();
    }
}

struct Shared {
    key: Futex,
    sleepers: Futex,
    data: UnsafeCell<u32>,
}

/// One critical section, spinning `rounds` times before sleeping.
fn critical_section(s: &Shared, rounds: u32) {
    if !lockword::try_lock(&s.key) {
        lockword::lock_slow(&s.key, &s.sleepers, rounds, 1);
    }
    // SAFETY: we hold the lock; loom reports any access racing this one.
    s.data.with_mut(|d| unsafe { *d += 1 });
    lockword::unlock(&s.key, &s.sleepers);
}

fn run(threads: u32, rounds: u32, preemptions: usize) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(preemptions);
    b.check(move || {
        let s = Arc::new(Shared { key: Futex::new(0), sleepers: Futex::new(0), data: UnsafeCell::new(0) });
        let hs: Vec<_> = (1..threads)
            .map(|_| {
                let s = s.clone();
                thread::spawn(move || critical_section(&s, rounds))
            })
            .collect();
        critical_section(&s, rounds);
        for h in hs {
            h.join().unwrap();
        }
        // SAFETY: every thread has finished.
        let n = s.data.with(|d| unsafe { *d });
        assert_eq!(n, threads);
        assert_eq!(s.sleepers.load(Ordering::Relaxed), 0);
    });
}

/// A holder and a thread that goes straight to sleeping: the plain-store
/// unlock against the sleeper's announcement.
#[test]
fn two_threads_sleep_and_wake() {
    run(2, 0, 3);
}

/// Three threads: a woken sleeper can lose the lock to another thread and
/// sleep again; the unlock that follows must wake it.
#[test]
fn three_threads_sleep_and_wake() {
    run(3, 0, 2);
}

/// Three threads that spin once before sleeping.
#[test]
fn three_threads_spin_then_sleep() {
    run(3, 1, 2);
}
