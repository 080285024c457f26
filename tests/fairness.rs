//! Fairness on one P (issue 12 §3): a ping-pong pair hands the P back and
//! forth through `runnext`, each hand-off inheriting the time slice, as in
//! Go. What bounds the pair: timers are checked at every scheduling
//! decision (a due sleeper is readied into `runnext` and runs next), and
//! sysmon preempts a chain that kept one time slice for 10 ms (the pair's
//! next channel operation yields). These tests are causal: the others must
//! make their progress while the pair is still running; a starved one
//! would hang the test, which a watchdog turns into a failure.
//! (How long the waits are is measured by the comparison program's
//! `sleeper` workload, beside Go's.)

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Runs `other` on a one-P runtime next to a channel ping-pong pair that
/// runs until `other` returns; returns the pair's round trips.
fn next_to_a_pair(other: impl FnOnce() + Send + 'static) -> u64 {
    let _w = test_support::watchdog("a goroutine next to the ping-pong pair (starved?)", 60);
    let rt = gort::Runtime::builder().max_procs(1).build().unwrap();
    rt.block_on(move || {
        let stop = Arc::new(AtomicBool::new(false));
        let trips = Arc::new(AtomicU64::new(0));
        let (a, b) = (gort::chan::<u64>(0), gort::chan::<u64>(0));
        let (a2, b2) = (a.clone(), b.clone());
        let echo = gort::go!(move || {
            while let Some(v) = a2.recv() {
                b2.send(v + 1).unwrap();
            }
        });
        let (s, t) = (stop.clone(), trips.clone());
        let pair = gort::go!(move || {
            let mut n = 0;
            while !s.load(Ordering::Relaxed) {
                a.send(n).unwrap();
                n = b.recv().unwrap();
                t.fetch_add(1, Ordering::Relaxed);
            }
            a.close();
        });
        // Let the pair get going first.
        while trips.load(Ordering::Relaxed) < 100 {
            gort::yield_now();
        }
        other();
        stop.store(true, Ordering::Relaxed);
        pair.join().unwrap();
        echo.join().unwrap();
        trips.load(Ordering::Relaxed)
    })
}

#[test]
fn a_sleeper_keeps_waking_next_to_a_ping_pong_pair() {
    let trips = next_to_a_pair(|| {
        for _ in 0..200 {
            gort::sleep(Duration::from_millis(1));
        }
    });
    assert!(trips >= 100);
}

#[test]
fn a_goroutine_readied_from_a_plain_thread_runs_next_to_a_pair() {
    // Readied from outside the runtime: it waits in the global queue, which
    // a P looks at every 61st scheduling decision and when its own queue
    // is empty; the pair's time-slice preemption makes those decisions.
    next_to_a_pair(|| {
        let c = gort::chan::<u32>(0);
        let c2 = c.clone();
        let t = std::thread::spawn(move || {
            for i in 0..20 {
                c2.send(i).unwrap();
            }
        });
        for i in 0..20 {
            assert_eq!(c.recv(), Some(i));
        }
        t.join().unwrap();
    });
}
