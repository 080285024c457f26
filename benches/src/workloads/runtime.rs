//! Workloads of the scheduler itself: spawn, yield, sleep, park.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::support::{Wg, report, rss_kb};
use gort::runtime::{GRef, Lock, WaitReason, park, ready};

pub(crate) const WORKLOADS: &[(&str, fn())] =
    &[("spawn", spawn), ("yield", yield_), ("sleep", sleep), ("park", park_many)];

/// 1,000,000 goroutines, each signals a counter; the spawner waits for all.
fn spawn() {
    let n = 1_000_000;
    let wg = Arc::new(Wg::new(n));
    let t = Instant::now();
    for _ in 0..n {
        let wg = wg.clone();
        gort::go!(move || wg.done());
    }
    wg.wait();
    report("spawn", n as u64, t.elapsed());
}

/// 1,000 goroutines × 1,000 yields.
fn yield_() {
    let (g, y) = (1000, 1000);
    let wg = Arc::new(Wg::new(g));
    let t = Instant::now();
    for _ in 0..g {
        let wg = wg.clone();
        gort::go!(move || {
            for _ in 0..y {
                gort::yield_now();
            }
            wg.done();
        });
    }
    wg.wait();
    report("yield", (g * y) as u64, t.elapsed());
}

/// 10,000 goroutines × 10 sleeps of 1 ms.
fn sleep() {
    let (g, s) = (10_000, 10);
    let wg = Arc::new(Wg::new(g));
    let t = Instant::now();
    for _ in 0..g {
        let wg = wg.clone();
        gort::go!(move || {
            for _ in 0..s {
                gort::sleep(Duration::from_millis(1));
            }
            wg.done();
        });
    }
    wg.wait();
    report("sleep", (g * s) as u64, t.elapsed());
}

/// A gate that parks goroutines until it opens.
struct Gate {
    inner: Lock<(bool, Vec<GRef>)>,
}

impl Gate {
    fn wait(&self) {
        let mut g = self.inner.lock();
        if g.0 {
            return;
        }
        g.1.push(gort::runtime::current_g());
        let raw = g.leak();
        park(WaitReason::ChanReceive, |_| {
            // SAFETY: we hold the lock (leaked guard).
            unsafe { raw.unlock() };
            true
        });
    }

    fn open(&self) {
        let waiters = {
            let mut g = self.inner.lock();
            g.0 = true;
            std::mem::take(&mut g.1)
        };
        for w in waiters {
            // SAFETY: each waiter parked after queueing under the lock; we
            // took them all out under the lock.
            unsafe { ready(w) };
        }
    }
}

/// 1,000,000 goroutines blocked at once; prints the RSS they add per
/// goroutine, then releases them all.
fn park_many() {
    let n = 1_000_000;
    let before = rss_kb();
    let started = Arc::new(Wg::new(n));
    let done = Arc::new(Wg::new(n));
    let gate = Arc::new(Gate { inner: Lock::new((false, Vec::new())) });
    let t = Instant::now();
    for _ in 0..n {
        let (started, done, gate) = (started.clone(), done.clone(), gate.clone());
        gort::go!(move || {
            started.done();
            gate.wait();
            done.done();
        });
    }
    started.wait();
    let d = t.elapsed();
    let per = (rss_kb() - before) as f64 * 1024.0 / n as f64;
    gate.open();
    done.wait();
    report("park", n as u64, d);
    println!("park_bytes_per_goroutine {per:.0}");
}
