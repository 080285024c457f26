//! Helpers shared by the workloads: the report line, RSS, and a minimal
//! wait group on park/ready (until gort::sync's WaitGroup is used).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use gort::runtime::{GRef, Lock, WaitReason, park, ready};

/// Prints `name ops elapsed_ns ns/op=X`, the anchors' format.
pub(crate) fn report(name: &str, ops: u64, d: Duration) {
    println!("{name} {ops} {} ns/op={:.1}", d.as_nanos(), d.as_nanos() as f64 / ops as f64);
}

/// Resident set size of this process in KiB (VmRSS).
pub(crate) fn rss_kb() -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// Counts down to zero; `wait` parks until it gets there.
pub(crate) struct Wg {
    n: AtomicUsize,
    waiter: Lock<Option<GRef>>,
}

impl Wg {
    pub(crate) fn new(n: usize) -> Wg {
        Wg { n: AtomicUsize::new(n), waiter: Lock::new(None) }
    }

    pub(crate) fn done(&self) {
        if self.n.fetch_sub(1, Ordering::AcqRel) == 1 {
            let w = self.waiter.lock().take();
            if let Some(w) = w {
                // SAFETY: the waiter queued itself under the lock and parked;
                // we took it out under the lock, so only we ready it.
                unsafe { ready(w) };
            }
        }
    }

    pub(crate) fn wait(&self) {
        let mut g = self.waiter.lock();
        if self.n.load(Ordering::Acquire) == 0 {
            return;
        }
        *g = Some(gort::runtime::current_g());
        let raw = g.leak();
        park(WaitReason::SyncWaitGroupWait, |_| {
            // SAFETY: we hold the lock (the guard was leaked above).
            unsafe { raw.unlock() };
            true
        });
    }
}
