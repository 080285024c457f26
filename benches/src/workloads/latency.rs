//! Latency workloads that build their own runtime (see mod.rs's
//! `STANDALONE`): `soak_latency`, a 20 s run of the long soak's mix
//! (`gort_benches::soak`), and `sleeper`, one goroutine doing 1 ms sleeps
//! next to one ping-pong pair on a single P (issue 12 §3). Each prints
//! `latency NAME n=.. p50=.. p99=.. p99.9=.. max=..` lines in µs, which the
//! comparison program tabulates beside Go's (benches/go/soak_bench.go).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use gort_benches::soak::{self, Config, Hist};

use super::support::report;

pub(crate) const STANDALONE: &[(&str, fn())] = &[("soak_latency", soak_latency), ("sleeper", sleeper)];

/// Max procs from GORT_MAXPROCS (set by the comparison program), else 2.
fn procs() -> usize {
    std::env::var("GORT_MAXPROCS").ok().and_then(|v| v.parse().ok()).filter(|&n| n > 0).unwrap_or(2)
}

/// The soak's mix for SOAK_LATENCY_SECS (default 20) seconds; prints its
/// four latency histograms and whether its checks passed (status 1 if
/// not).
fn soak_latency() {
    let secs = std::env::var("SOAK_LATENCY_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let cfg = Config { procs: procs(), secs, verbose: false, ..Config::default() };
    let rt = gort::Runtime::builder().max_procs(cfg.procs).build().expect("runtime");
    let r = soak::run(&rt, &cfg);
    for l in &r.latency {
        println!("{l}");
    }
    for c in r.checks.iter().filter(|c| c.contains(" FAIL ")) {
        println!("{c}");
    }
    println!("soak checks {}", if r.passed { "passed" } else { "FAILED" });
    if !r.passed {
        std::process::exit(1);
    }
}

/// One P; a ping-pong pair bouncing as fast as it can, and a goroutine
/// sleeping 1 ms at a time for 3 s. Prints the pair's round trips (its
/// ns/op) and how long past 1 ms each sleep took (`sleeper_late_us`).
fn sleeper() {
    let rt = gort::Runtime::builder().max_procs(1).build().expect("runtime");
    rt.block_on(|| {
        let stop = Arc::new(AtomicBool::new(false));
        let (a, b) = (gort::chan::<u64>(0), gort::chan::<u64>(0));
        let (a2, b2) = (a.clone(), b.clone());
        let echo = gort::go!(move || {
            while let Some(v) = a2.recv() {
                b2.send(v + 1).expect("pair channel open");
            }
        });
        let s = stop.clone();
        let pair = gort::go!(move || {
            let (mut n, t) = (0u64, Instant::now());
            while !s.load(Ordering::Relaxed) {
                a.send(n).expect("pair channel open");
                n = b.recv().expect("pair channel open");
            }
            a.close();
            (n, t.elapsed())
        });
        let late = Hist::new();
        let want = Duration::from_millis(1);
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(3) {
            let s = Instant::now();
            gort::sleep(want);
            late.record_late(s.elapsed(), want);
        }
        stop.store(true, Ordering::Relaxed);
        let (n, d) = pair.join().expect("pair");
        echo.join().expect("echo");
        report("sleeper", n, d);
        println!("{}", late.line("sleeper_late_us"));
    });
}
