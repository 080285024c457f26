//! Workloads of the scheduler itself: spawn, yield, sleep, park.

use std::time::{Duration, Instant};

use super::support::{report, rss_kb, wait_group};

pub(crate) const WORKLOADS: &[(&str, fn())] =
    &[("spawn", spawn), ("yield", yield_), ("sleep", sleep), ("park", park_many), ("dump", dump)];

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

/// The peak resident set size (VmHWM) in KiB.
fn hwm_kb() -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

#[inline(never)]
fn dump_waiter(release: &gort::Chan<()>, started: &gort::sync::WaitGroup, done: &gort::sync::WaitGroup) {
    started.done();
    release.recv();
    done.done();
}

/// The full goroutine dump (every stack, as SIGQUIT prints it) of 100,000
/// goroutines parked in a channel receive: time per goroutine, the dump's
/// size, and how much it raised the peak RSS. The first dump of a process
/// also loads the binary's debug info; that is part of the figure.
fn dump() {
    let n = 100_000;
    let (started, done) = (wait_group(n), wait_group(n));
    let release: &'static gort::Chan<()> = Box::leak(Box::new(gort::chan::<()>(0)));
    for _ in 0..n {
        gort::go!(move || dump_waiter(release, started, done));
    }
    started.wait();
    let hwm = hwm_kb();
    let t = Instant::now();
    let text = gort::debug::dump_string();
    let d = t.elapsed();
    let added = hwm_kb() - hwm;
    assert!(text.contains("dump_waiter(...)"), "the dump shows where the goroutines wait");
    release.close();
    done.wait();
    report("dump", n as u64, d);
    println!("dump_bytes {}", text.len());
    println!("dump_peak_rss_added_kb {added}");
}
