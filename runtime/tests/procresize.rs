//! `set_max_procs`: changing the number of Ps of a running runtime (Go's
//! `GOMAXPROCS(n)`) while goroutines hand values back and forth, sleep,
//! spin, yield and make blocking calls. Nothing may be lost, run twice or
//! left behind, and every count must add up.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Slot, Wg};
use gort_runtime::{Runtime, spawn, yield_now};

/// The sizes the tests go through, growing past and shrinking below the
/// starting 2 (revived and dead Ps both).
const SIZES: [usize; 8] = [4, 1, 3, 6, 2, 1, 5, 2];

/// Counts of a mixed workload, checked at the end.
#[derive(Default)]
struct Counts {
    rounds: AtomicU64,
    sum: AtomicU64,
    sleeps: AtomicUsize,
    calls: AtomicUsize,
    yields: AtomicUsize,
}

/// Starts the workload: `pairs` rendezvous pairs passing `rounds` values
/// each, sleepers, yielders and `gort::syscall` callers; returns the Wg
/// they all signal.
fn workload(pairs: u64, rounds: u64, c: &Arc<Counts>) -> Arc<Wg> {
    let wg = Arc::new(Wg::new(2 * pairs as usize + 12));
    for pair in 0..pairs {
        let slot = Arc::new(Slot::new());
        let (s2, wg2) = (slot.clone(), wg.clone());
        spawn(move || {
            for i in 0..rounds {
                s2.put(pair * rounds + i);
            }
            wg2.done();
        });
        let (c1, w1) = (c.clone(), wg.clone());
        spawn(move || {
            for _ in 0..rounds {
                c1.sum.fetch_add(slot.take(), Ordering::Relaxed);
                c1.rounds.fetch_add(1, Ordering::Relaxed);
            }
            w1.done();
        });
    }
    for i in 0..4u64 {
        let (c1, w1) = (c.clone(), wg.clone());
        spawn(move || {
            for j in 0..40 {
                gort_runtime::sleep(Duration::from_micros(200 + (i * 37 + j) % 500));
                c1.sleeps.fetch_add(1, Ordering::Relaxed);
            }
            w1.done();
        });
        let (c1, w1) = (c.clone(), wg.clone());
        spawn(move || {
            for _ in 0..2_000 {
                yield_now();
                c1.yields.fetch_add(1, Ordering::Relaxed);
            }
            w1.done();
        });
        let (c1, w1) = (c.clone(), wg.clone());
        spawn(move || {
            for _ in 0..50 {
                gort_runtime::syscall(|| std::thread::sleep(Duration::from_micros(100)));
                c1.calls.fetch_add(1, Ordering::Relaxed);
            }
            w1.done();
        });
    }
    wg
}

fn check(c: &Counts, pairs: u64, rounds: u64) {
    let n = pairs * rounds;
    assert_eq!(c.rounds.load(Ordering::Relaxed), n, "every value taken once");
    assert_eq!(c.sum.load(Ordering::Relaxed), n * (n - 1) / 2, "no value lost or doubled");
    assert_eq!(c.sleeps.load(Ordering::Relaxed), 4 * 40);
    assert_eq!(c.yields.load(Ordering::Relaxed), 4 * 2_000);
    assert_eq!(c.calls.load(Ordering::Relaxed), 4 * 50);
}

/// A goroutine of the runtime resizes it again and again while the
/// workload runs on it.
#[test]
fn resizing_from_a_goroutine_under_load_loses_nothing() {
    const PAIRS: u64 = 16;
    const ROUNDS: u64 = 2_000;
    let rt = Runtime::builder().max_procs(2).build().unwrap();
    let (m, resized) = rt.block_on(|| {
        let c = Arc::new(Counts::default());
        let wg = workload(PAIRS, ROUNDS, &c);
        let mut resized = 0;
        let mut prev = gort_runtime::max_procs();
        for (i, &n) in SIZES.iter().cycle().enumerate().take(24) {
            gort_runtime::sleep(Duration::from_micros(500 + (i as u64 % 5) * 300));
            assert_eq!(gort_runtime::set_max_procs(n), prev, "returns the previous count");
            assert_eq!(gort_runtime::max_procs(), n);
            prev = n;
            resized += 1;
        }
        wg.wait();
        check(&c, PAIRS, ROUNDS);
        (gort_runtime::debug::metrics(), resized)
    });
    assert_eq!(resized, 24);
    assert_eq!(m.max_procs, SIZES[23 % SIZES.len()]);
    assert!(m.idle_procs as usize <= m.max_procs, "{m:?}");
    // Only the block_on goroutine may be left (the last ones may still be
    // on their way out on another P).
    let t = Instant::now();
    while rt.num_goroutine() > 0 && t.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(rt.num_goroutine(), 0);
}

/// A plain thread resizes a runtime whose goroutines run the workload.
#[test]
fn resizing_from_a_plain_thread_under_load_loses_nothing() {
    const PAIRS: u64 = 8;
    const ROUNDS: u64 = 2_000;
    let rt = Arc::new(Runtime::builder().max_procs(2).build().unwrap());
    let c = Arc::new(Counts::default());
    let (c2, done) = (c.clone(), Arc::new(AtomicBool::new(false)));
    let d2 = done.clone();
    let h = rt.spawn(move || {
        workload(PAIRS, ROUNDS, &c2).wait();
        d2.store(true, Ordering::Release);
    });
    let mut i = 0;
    while !done.load(Ordering::Acquire) {
        rt.set_max_procs(SIZES[i % SIZES.len()]);
        assert_eq!(rt.max_procs(), SIZES[i % SIZES.len()]);
        i += 1;
        std::thread::sleep(Duration::from_millis(1));
    }
    h.join().unwrap();
    check(&c, PAIRS, ROUNDS);
    eprintln!("{i} resizes");
}

/// Sleepers whose timers sit on Ps that die still wake, and goroutines
/// queued on them still run.
#[test]
fn timers_and_queued_goroutines_of_removed_ps_survive() {
    let rt = Runtime::builder().max_procs(6).build().unwrap();
    let woke = rt.block_on(|| {
        let woke = Arc::new(AtomicUsize::new(0));
        let wg = Arc::new(Wg::new(600));
        for i in 0..600u64 {
            let (woke, wg) = (woke.clone(), wg.clone());
            spawn(move || {
                // Spread over the Ps first, then sleep: the timers land on
                // all six heaps.
                yield_now();
                gort_runtime::sleep(Duration::from_millis(20 + i % 30));
                woke.fetch_add(1, Ordering::Relaxed);
                wg.done();
            });
        }
        gort_runtime::sleep(Duration::from_millis(5));
        assert_eq!(gort_runtime::set_max_procs(1), 6);
        wg.wait();
        woke.load(Ordering::Relaxed)
    });
    assert_eq!(woke, 600);
}

/// A goroutine looping without a runtime call cannot be paused; the world
/// stops anyway once sysmon takes its P after a time slice.
#[test]
fn a_goroutine_that_never_yields_does_not_block_the_resize() {
    let rt = Runtime::builder().max_procs(2).build().unwrap();
    let finished_first = rt.block_on(|| {
        let stop = Arc::new(AtomicBool::new(false));
        let looped_out = Arc::new(AtomicBool::new(false));
        let (s2, l2) = (stop.clone(), looped_out.clone());
        let spinner = spawn(move || {
            let t = Instant::now();
            // Bounded: 5 s at most; the resize needs one time slice (10 ms).
            while !s2.load(Ordering::Relaxed) && t.elapsed() < Duration::from_secs(5) {
                std::hint::spin_loop();
            }
            l2.store(!s2.load(Ordering::Relaxed), Ordering::Relaxed);
        });
        gort_runtime::sleep(Duration::from_millis(5));
        gort_runtime::set_max_procs(3);
        // Causal: the resize came back while the spinner still spun.
        stop.store(true, Ordering::Relaxed);
        spinner.join().unwrap();
        !looped_out.load(Ordering::Relaxed)
    });
    assert!(finished_first, "set_max_procs waited for the spinning goroutine to end");
}

#[test]
fn zero_only_asks() {
    let rt = Runtime::builder().max_procs(3).build().unwrap();
    assert_eq!(rt.set_max_procs(0), 3);
    assert_eq!(rt.max_procs(), 3);
    assert_eq!(rt.block_on(|| spawn(|| 7).join().unwrap()), 7);
}

#[test]
fn resizing_inside_with_proc_is_a_clear_panic() {
    let rt = Runtime::builder().max_procs(2).build().unwrap();
    let r =
        rt.block_on(|| spawn(|| gort_runtime::engine::with_proc(|_| gort_runtime::set_max_procs(3))).join());
    let p = r.expect_err("set_max_procs inside with_proc must panic");
    assert!(p.to_string().contains("set_max_procs called where the runtime cannot block"), "{p}");
    assert_eq!(rt.max_procs(), 2);
}
