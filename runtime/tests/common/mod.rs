//! Helpers shared by the runtime's integration tests (the child-process
//! runner comes from the `test-support` crate).
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};

use gort_runtime::engine::{GRef, Lock, LockGuard, WaitReason, park, ready};

/// A minimal WaitGroup on park/ready, so runtime tests need no sync crate.
pub struct Wg {
    n: AtomicUsize,
    waiter: Lock<Option<GRef>>,
}

impl Wg {
    pub fn new(n: usize) -> Wg {
        Wg { n: AtomicUsize::new(n), waiter: Lock::new(None) }
    }

    pub fn done(&self) {
        if self.n.fetch_sub(1, Ordering::AcqRel) == 1 {
            let w = self.waiter.lock().take();
            if let Some(w) = w {
                // SAFETY: the waiter parked after queueing itself under the
                // lock; we took it out under the lock.
                unsafe { ready(w) };
            }
        }
    }

    pub fn wait(&self) {
        let mut g = self.waiter.lock();
        if self.n.load(Ordering::Acquire) == 0 {
            return;
        }
        *g = Some(gort_runtime::engine::current_g());
        park_releasing(g, WaitReason::Other);
    }
}

/// Parks the caller, which has queued itself under `guard`'s lock; the
/// lock is released once the caller is off its stack (Go: `goparkunlock`).
fn park_releasing<T>(guard: LockGuard<'_, T>, reason: WaitReason) {
    let raw = guard.leak();
    park(reason, |_| {
        // SAFETY: we hold the lock (the leaked guard's).
        unsafe { raw.unlock() };
        true
    });
}

/// A one-slot rendezvous between one putter and one taker: `put` blocks
/// until `take` takes the value.
pub struct Slot {
    inner: Lock<SlotInner>,
}

struct SlotInner {
    value: Option<u64>,
    taker: Option<GRef>,
    putter: Option<GRef>,
}

impl Slot {
    pub fn new() -> Slot {
        Slot { inner: Lock::new(SlotInner { value: None, taker: None, putter: None }) }
    }

    /// One putter at a time: waits for the previous value to be taken,
    /// then for its own.
    pub fn put(&self, v: u64) {
        let mut s = self.inner.lock();
        while s.value.is_some() {
            s.putter = Some(gort_runtime::engine::current_g());
            park_releasing(s, WaitReason::ChanSend);
            s = self.inner.lock();
        }
        s.value = Some(v);
        if let Some(t) = s.taker.take() {
            drop(s);
            // SAFETY: taken out under the lock.
            unsafe { ready(t) };
            return;
        }
        s.putter = Some(gort_runtime::engine::current_g());
        park_releasing(s, WaitReason::ChanSend);
    }

    pub fn take(&self) -> u64 {
        let mut s = self.inner.lock();
        loop {
            if let Some(v) = s.value.take() {
                if let Some(p) = s.putter.take() {
                    drop(s);
                    // SAFETY: taken out under the lock.
                    unsafe { ready(p) };
                }
                return v;
            }
            s.taker = Some(gort_runtime::engine::current_g());
            park_releasing(s, WaitReason::ChanReceive);
            s = self.inner.lock();
        }
    }
}

/// The kernel thread id of the caller.
pub fn gettid() -> i64 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::syscall(libc::SYS_gettid) }
}

/// Number of threads in this process.
pub fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").map(|d| d.count()).unwrap_or(0)
}

/// The child-process runner shared by every crate's tests: re-runs the
/// current test binary for one test with `GORT_CHILD=<name>`.
#[allow(unused_imports)] // each test binary uses a part
pub use test_support::{is_child, run_child, run_child_env};
