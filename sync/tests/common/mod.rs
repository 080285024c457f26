//! Helpers shared by gort-sync's tests: a runtime with a watchdog, and a
//! small unbounded channel built directly on park/ready (so that tests of
//! the sync primitives do not depend on the primitives under test, nor on
//! gort's channels), standing in for the Go tests' `chan`s.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use gort_runtime::Runtime;
use gort_runtime::engine::{GRef, Lock, WaitReason, current_g, park, ready};

/// The watchdog, the child-process runner and the panic message are
/// shared with the other crates' tests.
#[allow(unused_imports)] // each test binary uses a part
pub use test_support::{Watchdog, is_child, panic_message, run_child, watchdog};

/// Runs `f` as the main goroutine of a fresh runtime with `procs` Ps,
/// under a 60 s watchdog.
pub fn run<T: Send + 'static>(name: &str, procs: usize, f: impl FnOnce() -> T + Send + 'static) -> T {
    let _w = watchdog(name, 60);
    let rt = Runtime::builder().max_procs(procs).build().expect("runtime");
    rt.block_on(f)
}

/// An unbounded FIFO channel: `send` never blocks, `recv` parks.
pub struct Chan<T> {
    inner: Lock<Inner<T>>,
}

struct Inner<T> {
    q: VecDeque<T>,
    receivers: VecDeque<GRef>,
}

impl<T> Chan<T> {
    pub fn new() -> Chan<T> {
        Chan { inner: Lock::new(Inner { q: VecDeque::new(), receivers: VecDeque::new() }) }
    }

    pub fn send(&self, v: T) {
        let mut i = self.inner.lock();
        i.q.push_back(v);
        let w = i.receivers.pop_front();
        drop(i);
        if let Some(w) = w {
            // SAFETY: the receiver queued itself under the lock and parked;
            // we took it out under the lock, so only we ready it.
            unsafe { ready(w) };
        }
    }

    pub fn recv(&self) -> T {
        loop {
            let mut i = self.inner.lock();
            if let Some(v) = i.q.pop_front() {
                return v;
            }
            i.receivers.push_back(current_g());
            let raw = i.leak();
            park(WaitReason::ChanReceive, |_| {
                // SAFETY: we hold the lock (leaked guard).
                unsafe { raw.unlock() };
                true
            });
        }
    }

    pub fn try_recv(&self) -> Option<T> {
        self.inner.lock().q.pop_front()
    }

    /// Polls for up to `d` (tests only: the poll period is 1 ms).
    pub fn recv_timeout(&self, d: Duration) -> Option<T> {
        let end = Instant::now() + d;
        loop {
            if let Some(v) = self.try_recv() {
                return Some(v);
            }
            if Instant::now() >= end {
                return None;
            }
            gort_runtime::sleep(Duration::from_millis(1));
        }
    }

    pub fn len(&self) -> usize {
        self.inner.lock().q.len()
    }
}
