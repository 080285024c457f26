//! Dropping a runtime with goroutines that never finished: their stacks
//! are unwound (destructors and goroutine-local values drop once), a join
//! on one of them returns an error naming it instead of blocking forever,
//! and the runtime's memory is freed, round after round.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gort_runtime::Runtime;

/// Counts its drops.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// The tests of this file run one at a time: the memory test measures the
/// whole process.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn rt(procs: usize) -> Runtime {
    Runtime::builder().max_procs(procs).build().unwrap()
}

/// Waits (bounded, 60 s) until `n` goroutines of `rt` are parked.
fn wait_parked(rt: &Runtime, n: usize) {
    let t = Instant::now();
    while rt.goroutines().iter().filter(|g| g.wait_reason.is_some()).count() < n {
        assert!(t.elapsed() < Duration::from_secs(60), "goroutines did not park within 60 s");
        std::thread::sleep(Duration::from_millis(2));
    }
}

const HOUR: Duration = Duration::from_secs(3600);

#[test]
fn joining_a_goroutine_of_a_dropped_runtime_returns_an_error() {
    let _serial = serial();
    let r = rt(2);
    let h = r.block_on(|| gort_runtime::Builder::new().name("sleeper").spawn(|| gort_runtime::sleep(HOUR)));
    let h2 = r.spawn(|| gort_runtime::sleep(HOUR));
    wait_parked(&r, 2);
    // A plain thread already blocked in join when the runtime goes.
    let joiner = std::thread::spawn(move || h.join());
    std::thread::sleep(Duration::from_millis(20));
    drop(r);
    let e = joiner.join().unwrap().expect_err("the goroutine never finished");
    assert!(e.is_runtime_dropped());
    let msg = e.to_string();
    assert!(msg.contains("[sleeper]") && msg.contains("runtime was dropped"), "{msg}");
    // One joined after the drop.
    assert!(h2.is_finished());
    let e2 = h2.join().expect_err("never finished");
    assert!(e2.is_runtime_dropped(), "{e2}");
}

#[test]
fn a_goroutine_of_another_runtime_joining_gets_the_error() {
    let _serial = serial();
    let (a, b) = (rt(1), rt(1));
    let h = a.spawn(|| gort_runtime::sleep(HOUR));
    let joiner = b.spawn(move || h.join().map_err(|e| e.is_runtime_dropped()));
    wait_parked(&a, 1);
    wait_parked(&b, 1);
    drop(a);
    assert_eq!(joiner.join().unwrap(), Err(true));
}

#[test]
fn goroutines_joining_each_other_in_the_dropped_runtime_unwind() {
    let _serial = serial();
    let drops = Arc::new(AtomicUsize::new(0));
    let r = rt(2);
    let d = drops.clone();
    let inner = r.spawn(move || {
        let _c = Counted(d);
        gort_runtime::sleep(HOUR)
    });
    let d = drops.clone();
    drop(r.spawn(move || {
        let _c = Counted(d);
        let _ = inner.join();
    }));
    wait_parked(&r, 2);
    drop(r);
    assert_eq!(drops.load(Ordering::SeqCst), 2);
}

gort_runtime::local! {
    static LOCAL: RefCell<Option<Counted>> = const { RefCell::new(None) };
}

#[test]
fn goroutine_locals_and_unstarted_closures_drop_once() {
    let _serial = serial();
    let drops = Arc::new(AtomicUsize::new(0));
    let r = rt(1);
    const N: usize = 200;
    for _ in 0..N {
        let d = drops.clone();
        let captured = Counted(drops.clone());
        // Dropped right away: some of these have not even started when
        // the runtime goes; either way each value drops once.
        drop(r.spawn(move || {
            let _keep = captured;
            LOCAL.with(|l| *l.borrow_mut() = Some(Counted(d)));
            gort_runtime::sleep(HOUR);
        }));
    }
    drop(r);
    let d = drops.load(Ordering::SeqCst);
    // Each goroutine dropped its captured value, and those that ran their
    // local too; none twice.
    assert!((N..=2 * N).contains(&d), "{d} drops for {N} goroutines");
}

/// Resident memory (kB) and the number of mappings of this process.
fn memory() -> (usize, usize) {
    let rss = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:").map(|v| v.trim().trim_end_matches(" kB").parse().unwrap()))
        .unwrap();
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap().lines().count();
    (rss, maps)
}

/// 200 runtimes built and dropped with 20 parked goroutines each: the
/// runtimes are freed, so mappings and RSS stay flat (before, each drop
/// leaked the runtime and its stack regions).
#[test]
fn build_and_drop_with_parked_goroutines_does_not_grow_memory() {
    let _serial = serial();
    let round = || {
        let r = rt(2);
        for _ in 0..20 {
            drop(r.spawn(|| gort_runtime::sleep(HOUR)));
        }
        wait_parked(&r, 20);
        drop(r);
    };
    for _ in 0..10 {
        round(); // warm up allocator and caches
    }
    let (rss0, maps0) = memory();
    for _ in 0..200 {
        round();
    }
    let (rss1, maps1) = memory();
    eprintln!("rss {rss0} kB -> {rss1} kB, mappings {maps0} -> {maps1}");
    assert!(maps1 <= maps0 + 20, "mappings grew from {maps0} to {maps1}");
    // Under AddressSanitizer freed heap blocks wait in its quarantine
    // (256 MB by default) and stay resident: only the mappings count.
    #[cfg(not(gort_asan))]
    assert!(rss1 <= rss0 + 8 * 1024, "RSS grew from {rss0} kB to {rss1} kB");
}
