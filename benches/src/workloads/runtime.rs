//! Workloads of the scheduler itself: spawn, yield, sleep, park.

use std::time::{Duration, Instant};

use super::support::{report, rss_kb, wait_group};

pub(crate) const WORKLOADS: &[(&str, fn())] =
    &[("spawn", spawn), ("yield", yield_), ("sleep", sleep), ("park", park_many)];

/// 1,000,000 goroutines, each signals a WaitGroup; the spawner waits for all.
fn spawn() {
    let n = 1_000_000;
    let wg = wait_group(n);
    let t = Instant::now();
    for _ in 0..n {
        gort::go!(move || wg.done());
    }
    wg.wait();
    report("spawn", n as u64, t.elapsed());
}

/// 1,000 goroutines × 1,000 yields.
fn yield_() {
    let (g, y) = (1000, 1000);
    let wg = wait_group(g);
    let t = Instant::now();
    for _ in 0..g {
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
    let wg = wait_group(g);
    let t = Instant::now();
    for _ in 0..g {
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

/// 1,000,000 goroutines each blocked on a channel receive at once; prints
/// the RSS they add per goroutine, then releases them all by closing the
/// channel.
fn park_many() {
    let n = 1_000_000;
    let before = rss_kb();
    let (started, done) = (wait_group(n), wait_group(n));
    let release: &'static gort::Chan<()> = Box::leak(Box::new(gort::chan::<()>(0)));
    let t = Instant::now();
    for _ in 0..n {
        gort::go!(move || {
            started.done();
            release.recv();
            done.done();
        });
    }
    started.wait();
    let d = t.elapsed();
    let per = (rss_kb() - before) as f64 * 1024.0 / n as f64;
    release.close();
    done.wait();
    report("park", n as u64, d);
    println!("park_bytes_per_goroutine {per:.0}");
}
