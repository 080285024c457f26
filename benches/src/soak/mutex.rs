//! Mutex contention: goroutines incrementing one counter under one
//! `gort::sync::Mutex`, yielding while holding it every 100 locks and
//! sleeping 500 µs every 1,000 (issue 12 §1).
//!
//! Go: benches/go/soak/mutex.go.
//!
//! Each worker counts its own increments; the check wants the counter to
//! equal their sum (a lost update or a double entry breaks it).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use gort::JoinHandle;
use gort::sync::Mutex;

use super::progress::Part;
use super::report::Checks;
use super::{Shared, go_named};

/// The counter and the workers' own counts.
pub(crate) struct Stats {
    counter: Mutex<u64>,
    increments: AtomicU64,
    /// The counter, read under the lock after the joins.
    last: AtomicU64,
}

impl Stats {
    pub(crate) fn new() -> Stats {
        Stats { counter: Mutex::new(0), increments: AtomicU64::new(0), last: AtomicU64::new(0) }
    }
}

/// Starts the workers.
pub(crate) fn spawn(sh: &Arc<Shared>, hs: &mut Vec<JoinHandle<()>>) {
    for w in 0..sh.cfg.mutex {
        let s = sh.clone();
        hs.push(go_named(format!("mutex/{w}"), move || worker(&s, w)));
    }
}

fn worker(sh: &Shared, w: usize) {
    let beat = sh.progress.beat(Part::Mutex, w);
    let mut k = 0u64;
    while !sh.stopped() {
        let mut g = sh.mu.counter.lock();
        *g += 1;
        k += 1;
        if k % 100 == 0 {
            gort::yield_now(); // still holding the lock, on purpose
        }
        drop(g);
        if k % 1000 == 0 {
            sh.nap(Duration::from_micros(500));
        }
        beat.tick();
    }
    sh.mu.increments.fetch_add(k, Ordering::Relaxed);
}

/// Reads the counter under the lock (from a goroutine, after the joins).
pub(crate) fn settle(sh: &Shared) {
    sh.mu.last.store(*sh.mu.counter.lock(), Ordering::Relaxed);
}

/// The counter equals the sum of the increments.
pub(crate) fn check(sh: &Shared, c: &mut Checks) {
    let (counter, inc) = (sh.mu.last.load(Ordering::Relaxed), sh.mu.increments.load(Ordering::Relaxed));
    c.add(
        "mutex",
        counter == inc && (sh.cfg.mutex == 0 || inc > 0),
        format!("counter={counter} increments={inc}"),
    );
}
