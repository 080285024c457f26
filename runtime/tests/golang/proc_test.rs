//! runtime/proc_test.go (go1.27.3): the scheduler's progress and
//! parallelism, and goroutines locked to their thread.
//!
//! Ported: TestYieldProgress, TestGoroutineParallelism,
//! TestGoroutineParallelism2, TestLockOSThreadNesting, TestYieldLocked
//! with TestBlockLocked, and TestLockOSThreadExit (each test's comment
//! names its Go test).
//!
//! The rest of proc_test.go is not ported yet. gort's own scheduler tests
//! (migration, fairness, lifecycle) are in `tests/scheduler.rs`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::{Slot, Wg, gettid};
use gort_runtime::{Runtime, spawn, yield_now};

// Go: TestYieldProgress
#[test]
fn yield_progress() {
    let rt = Runtime::builder().max_procs(2).build().unwrap();
    rt.block_on(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let ack = Arc::new(AtomicBool::new(false));
        let (f2, a2) = (flag.clone(), ack.clone());
        spawn(move || {
            while !f2.load(Ordering::Acquire) {
                yield_now();
            }
            a2.store(true, Ordering::Release);
        });
        gort_runtime::sleep(Duration::from_millis(10));
        flag.store(true, Ordering::Release);
        let t = Instant::now();
        while !ack.load(Ordering::Acquire) {
            assert!(t.elapsed() < Duration::from_secs(10), "no progress");
            yield_now();
        }
    });
}

// Go: TestGoroutineParallelism. Needs 2 CPUs: P goroutines spin, with no
// yields, waiting for their turn on a shared counter.
#[test]
fn goroutine_parallelism() {
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        return;
    }
    const P: u64 = 2;
    let rt = Runtime::builder().max_procs(P as usize).build().unwrap();
    for _ in 0..10 {
        rt.block_on(|| {
            let x = Arc::new(AtomicU64::new(0));
            let wg = Arc::new(Wg::new(P as usize));
            for p in 0..P {
                let (x, wg) = (x.clone(), wg.clone());
                spawn(move || {
                    for i in 0..3 {
                        let expected = P * i + p;
                        let t = Instant::now();
                        while x.load(Ordering::Acquire) != expected {
                            assert!(t.elapsed() < Duration::from_secs(10), "no parallelism");
                            std::hint::spin_loop();
                        }
                        x.store(expected + 1, Ordering::Release);
                    }
                    wg.done();
                });
            }
            wg.wait();
        });
    }
}

// Go: TestGoroutineParallelism2, the nested-spawn variant run after the
// workers went idle: catches lost wake-ups in the spinning protocol.
#[test]
fn goroutine_parallelism_after_idle() {
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        return;
    }
    const P: u64 = 2;
    let rt = Runtime::builder().max_procs(P as usize).build().unwrap();
    for _ in 0..10 {
        // Let every M park first.
        std::thread::sleep(Duration::from_millis(5));
        rt.block_on(|| {
            let x = Arc::new(AtomicU64::new(0));
            let wg = Arc::new(Wg::new(P as usize));
            let (x1, wg1) = (x.clone(), wg.clone());
            spawn(move || {
                for p in 0..P {
                    let (x, wg) = (x1.clone(), wg1.clone());
                    spawn(move || {
                        for i in 0..3 {
                            let expected = P * i + p;
                            let t = Instant::now();
                            while x.load(Ordering::Acquire) != expected {
                                assert!(t.elapsed() < Duration::from_secs(10), "lost wake-up");
                                std::hint::spin_loop();
                            }
                            x.store(expected + 1, Ordering::Release);
                        }
                        wg.done();
                    });
                }
            });
            wg.wait();
        });
    }
}

// Go: TestLockOSThreadNesting
#[test]
fn lock_os_thread_nests() {
    let rt = Runtime::builder().max_procs(2).build().unwrap();
    rt.block_on(|| {
        gort_runtime::lock_os_thread();
        gort_runtime::lock_os_thread();
        assert_eq!(gort_runtime::os_thread_lock_count(), 2);
        gort_runtime::unlock_os_thread();
        assert_eq!(gort_runtime::os_thread_lock_count(), 1);
        gort_runtime::unlock_os_thread();
        assert_eq!(gort_runtime::os_thread_lock_count(), 0);
        gort_runtime::unlock_os_thread(); // no-op
        assert_eq!(gort_runtime::os_thread_lock_count(), 0);
    });
}

// Go: TestYieldLocked and TestBlockLocked: a locked goroutine yields,
// sleeps and blocks, always resuming on its own thread, while others run.
#[test]
fn locked_goroutine_stays_on_its_thread() {
    let rt = Runtime::builder().max_procs(2).build().unwrap();
    rt.block_on(|| {
        let slot = Arc::new(Slot::new());
        let s2 = slot.clone();
        let h = spawn(move || {
            gort_runtime::lock_os_thread();
            let tid = gettid();
            for i in 0..10 {
                yield_now();
                assert_eq!(gettid(), tid);
                gort_runtime::sleep(Duration::from_millis(1));
                assert_eq!(gettid(), tid);
                s2.put(i); // blocks until taken
                assert_eq!(gettid(), tid);
            }
            gort_runtime::unlock_os_thread();
            tid
        });
        let others = Arc::new(AtomicUsize::new(0));
        let wg = Arc::new(Wg::new(50));
        for _ in 0..50 {
            let (o, wg) = (others.clone(), wg.clone());
            spawn(move || {
                for _ in 0..10 {
                    yield_now();
                }
                o.fetch_add(1, Ordering::Relaxed);
                wg.done();
            });
        }
        for i in 0..10 {
            assert_eq!(slot.take(), i);
        }
        wg.wait();
        let locked_tid = h.join().unwrap();
        assert_eq!(others.load(Ordering::Relaxed), 50);
        assert!(locked_tid > 0);
    });
}

// Go: TestLockOSThreadExit: a goroutine that exits while locked takes its
// thread with it.
#[test]
fn locked_goroutine_exit_ends_its_thread() {
    let rt = Runtime::builder().max_procs(2).build().unwrap();
    let tid = rt.block_on(|| {
        spawn(|| {
            gort_runtime::lock_os_thread();
            gettid()
        })
        .join()
        .unwrap()
    });
    let t = Instant::now();
    while std::path::Path::new(&format!("/proc/self/task/{tid}")).exists() {
        assert!(t.elapsed() < Duration::from_secs(10), "locked thread {tid} still alive");
        std::thread::sleep(Duration::from_millis(1));
    }
    // The runtime keeps working.
    assert_eq!(rt.block_on(|| spawn(|| 7).join().unwrap()), 7);
}
