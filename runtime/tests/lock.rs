//! The runtime's futex lock under contention heavy enough that threads go
//! to sleep on it: mutual exclusion holds and no sleeper is left behind
//! (a lost wake-up would hang the test, so a watchdog turns it into a
//! failure). Run with membarrier and, in a child process, with the fence
//! fallback (`GORT_NO_MEMBARRIER=1`).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gort_runtime::engine::Lock;

const THREADS: usize = 4;
const ITERS: usize = 20_000;

fn hammer() {
    let lock = Arc::new(Lock::new(0usize));
    let inside = Arc::new(AtomicBool::new(false));
    let finished = Arc::new(AtomicUsize::new(0));
    let hs: Vec<_> = (0..THREADS)
        .map(|t| {
            let (lock, inside, finished) = (lock.clone(), inside.clone(), finished.clone());
            std::thread::spawn(move || {
                for i in 0..ITERS {
                    let mut g = lock.lock();
                    assert!(!inside.swap(true, Ordering::Relaxed), "two holders at once");
                    *g += 1;
                    if (i + t) % 512 == 0 {
                        // Hold the lock long enough that the others stop
                        // spinning and sleep on it.
                        std::thread::sleep(Duration::from_micros(200));
                    }
                    inside.store(false, Ordering::Relaxed);
                    drop(g);
                }
                finished.fetch_add(1, Ordering::Release);
            })
        })
        .collect();
    let t0 = Instant::now();
    while finished.load(Ordering::Acquire) < THREADS {
        assert!(t0.elapsed() < Duration::from_secs(60), "a thread never woke: lost wake-up");
        std::thread::sleep(Duration::from_millis(5));
    }
    for h in hs {
        h.join().unwrap();
    }
    assert_eq!(*lock.lock(), THREADS * ITERS);
}

#[test]
fn sleepers_are_woken_and_excluded() {
    hammer();
}

#[test]
fn sleepers_are_woken_and_excluded_with_fences() {
    const NAME: &str = "sleepers_are_woken_and_excluded_with_fences";
    if common::is_child(NAME) {
        hammer();
        return;
    }
    let (status, stderr) = common::run_child_env(NAME, &[("GORT_NO_MEMBARRIER", "1")]);
    assert!(status.success(), "{stderr}");
}
