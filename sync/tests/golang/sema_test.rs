#![allow(non_snake_case)]
//! The runtime semaphore under Mutex, RwLock and WaitGroup, from
//! goroutines. Ports of Go's runtime/sema_test.go (TestSemaHandoff*) and
//! sync/mutex_test.go's TestSemaphore, pinned to go1.27.3.
//!
//! This binary runs nothing else, so that `semnwait` (which counts every
//! waiter of a table root) sees only the tests' own waiters; the handoff
//! tests run one at a time.

#[path = "../common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use common::{Chan, run};
use gort_runtime::engine::{WaitReason, semacquire, semnwait, semrelease};
use gort_runtime::{spawn, yield_now};

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// One attempt: does the waiter run before the releaser continues after a
/// hand-off release?
fn test_sema_handoff(procs: usize) -> bool {
    let sema = Arc::new(AtomicU32::new(0));
    let res = Arc::new(AtomicU32::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let finished = Arc::new(Chan::new());
    // Keep the other Ps busy so that the releaser cannot win the race by
    // running on another CPU while the waiter runs (as Go's test does).
    for _ in 0..procs {
        let (done, finished) = (done.clone(), finished.clone());
        spawn(move || {
            while !done.load(Ordering::Relaxed) {
                yield_now();
            }
            finished.send(());
        });
    }
    {
        let (sema, res, done, finished) = (sema.clone(), res.clone(), done.clone(), finished.clone());
        spawn(move || {
            semacquire(&sema, false, WaitReason::Semacquire);
            let _ = res.compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst);
            semrelease(&sema, true);
            done.store(true, Ordering::Relaxed);
            finished.send(());
        });
    }
    while semnwait(&sema) == 0 {
        yield_now(); // wait for the goroutine to block in semacquire
    }
    // The crux: release with hand-off and at once race the waiter's CAS.
    semrelease(&sema, true);
    let _ = res.compare_exchange(0, 2, Ordering::SeqCst, Ordering::SeqCst);
    for _ in 0..procs + 1 {
        finished.recv();
    }
    res.load(Ordering::SeqCst) == 1
}

fn sema_handoff(name: &str, procs: usize) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    const ITER: usize = 10_000;
    let ok = run(name, procs, move || (0..ITER).filter(|_| test_sema_handoff(procs)).count());
    eprintln!("{name}: {ok} of {ITER} hand-offs direct");
    assert!(ok >= ITER * 2 / 3, "direct handoff < 2/3: {ok} of {ITER}");
}

/// Go: TestSemaHandoff (the default number of Ps).
#[test]
fn TestSemaHandoff() {
    let procs = std::thread::available_parallelism().map_or(2, |n| n.get());
    sema_handoff("TestSemaHandoff", procs);
}

/// Go: TestSemaHandoff1 (GOMAXPROCS=1).
#[test]
fn TestSemaHandoff1() {
    sema_handoff("TestSemaHandoff1", 1);
}

/// Go: TestSemaHandoff2 (GOMAXPROCS=2).
#[test]
fn TestSemaHandoff2() {
    sema_handoff("TestSemaHandoff2", 2);
}

/// Go: TestSemaphore (mutex_test.go): 10 goroutines × 1000 acquire/release
/// on a semaphore starting at 1; here with a check of mutual exclusion.
#[test]
fn TestSemaphore() {
    run("TestSemaphore", 2, || {
        let s = Arc::new(AtomicU32::new(1));
        let inside = Arc::new(AtomicU32::new(0));
        let c = Arc::new(Chan::new());
        for _ in 0..10 {
            let (s, inside, c) = (s.clone(), inside.clone(), c.clone());
            spawn(move || {
                for _ in 0..1000 {
                    semacquire(&s, false, WaitReason::Semacquire);
                    assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                    inside.fetch_sub(1, Ordering::SeqCst);
                    semrelease(&s, false);
                }
                c.send(true);
            });
        }
        for _ in 0..10 {
            c.recv();
        }
        assert_eq!(s.load(Ordering::SeqCst), 1);
    });
}

/// Goroutines and plain threads wait on one semaphore and are all woken.
#[test]
fn semaphore_goroutines_and_threads() {
    let s = Arc::new(AtomicU32::new(0));
    let c = Arc::new(Chan::new());
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let (s, c) = (s.clone(), c.clone());
            std::thread::spawn(move || {
                semacquire(&s, false, WaitReason::Semacquire);
                c.send(());
            })
        })
        .collect();
    run("semaphore_goroutines_and_threads", 2, move || {
        for _ in 0..3 {
            let (s, c) = (s.clone(), c.clone());
            spawn(move || {
                semacquire(&s, false, WaitReason::Semacquire);
                c.send(());
            });
        }
        for _ in 0..6 {
            semrelease(&s, false);
        }
        for _ in 0..6 {
            c.recv();
        }
    });
    for t in threads {
        t.join().unwrap();
    }
}
