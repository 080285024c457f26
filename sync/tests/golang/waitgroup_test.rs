#![allow(non_snake_case)]
//! WaitGroup: ports of Go's sync/waitgroup_test.go (pinned to go1.27.3),
//! the reuse misuse, and plain threads.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::time::Duration;

use crate::common::{Chan, is_child, panic_message, run, run_child};
use gort_runtime::spawn;
use gort_sync::WaitGroup;

fn test_wait_group(wg1: &Arc<WaitGroup>, wg2: &Arc<WaitGroup>) {
    let n = 16;
    wg1.add(n);
    wg2.add(n);
    let exited = Arc::new(Chan::new());
    for _ in 0..n {
        let (wg1, wg2, exited) = (wg1.clone(), wg2.clone(), exited.clone());
        spawn(move || {
            wg1.done();
            wg2.wait();
            exited.send(true);
        });
    }
    wg1.wait();
    for _ in 0..n {
        assert!(exited.try_recv().is_none(), "WaitGroup released group too soon");
        wg2.done();
    }
    for _ in 0..n {
        exited.recv(); // blocks if the barrier fails to unlock someone
    }
}

/// Go: TestWaitGroup: two groups as a barrier for 16 goroutines, reused for
/// 8 rounds; Wait does not release early.
#[test]
fn TestWaitGroup() {
    run("TestWaitGroup", 2, || {
        let wg1 = Arc::new(WaitGroup::new());
        let wg2 = Arc::new(WaitGroup::new());
        for _ in 0..8 {
            test_wait_group(&wg1, &wg2);
        }
    });
}

/// Go: TestWaitGroupMisuse: Add(1), Done, Done panics (recoverably) with
/// Go's message.
#[test]
fn TestWaitGroupMisuse() {
    let wg = WaitGroup::new();
    wg.add(1);
    wg.done();
    let err = catch_unwind(AssertUnwindSafe(|| wg.done())).expect_err("Should panic");
    assert_eq!(panic_message(&*err), "sync: negative WaitGroup counter");
    // Add(10), Add(-10), Add(-1), the text's other case.
    let wg = WaitGroup::new();
    wg.add(10);
    wg.add(-10);
    let err = catch_unwind(AssertUnwindSafe(|| wg.add(-1))).expect_err("Should panic");
    assert_eq!(panic_message(&*err), "sync: negative WaitGroup counter");
}

/// Go: TestWaitGroupRace: no spurious wake-up; both increments are visible
/// after Wait. 1000 iterations.
#[test]
fn TestWaitGroupRace() {
    run("TestWaitGroupRace", 2, || {
        for _ in 0..1000 {
            let wg = Arc::new(WaitGroup::new());
            let n = Arc::new(AtomicI32::new(0));
            for _ in 0..2 {
                wg.add(1);
                let (wg, n) = (wg.clone(), n.clone());
                spawn(move || {
                    n.fetch_add(1, Ordering::SeqCst);
                    wg.done();
                });
            }
            wg.wait();
            assert_eq!(n.load(Ordering::SeqCst), 2, "Spurious wakeup from Wait");
        }
    });
}

/// Go: TestWaitGroupAlign: a WaitGroup after a byte field works.
#[test]
fn TestWaitGroupAlign() {
    struct X {
        _x: u8,
        wg: WaitGroup,
    }
    run("TestWaitGroupAlign", 2, || {
        let x = Arc::new(X { _x: 0, wg: WaitGroup::new() });
        x.wg.add(1);
        let x2 = x.clone();
        spawn(move || x2.wg.done());
        x.wg.wait();
    });
}

/// Go: TestWaitGroupGo: `go(f)` then `wait` sees f's effect.
#[test]
fn TestWaitGroupGo() {
    run("TestWaitGroupGo", 2, || {
        let wg = Arc::new(WaitGroup::new());
        let i = Arc::new(AtomicI32::new(0));
        let i2 = i.clone();
        wg.go(move || {
            i2.fetch_add(1, Ordering::Relaxed);
        });
        wg.wait();
        assert_eq!(i.load(Ordering::Relaxed), 1);
    });
}

/// Go: TestIssue76126: if f panics inside `go`, the process dies with the
/// panic and Wait never returns.
#[test]
fn TestIssue76126() {
    if is_child("TestIssue76126") {
        run("TestIssue76126", 2, || {
            let wg = Arc::new(WaitGroup::new());
            drop(wg.go(|| panic!("test"))); // nobody joins it
            wg.wait(); // the process should end here
            eprintln!("Wait returned"); // must not be reached
        });
        return;
    }
    let (status, stderr) = run_child("TestIssue76126");
    assert!(!status.success(), "child survived: {stderr}");
    assert!(stderr.contains("test"), "missing the panic message:\n{stderr}");
    assert!(!stderr.contains("Wait returned"), "Wait returned after the panic:\n{stderr}");
}

/// Reusing the group (a new Add) before a woken Wait has returned panics
/// with Go's message. Deterministic on one P: the woken waiter runs only
/// when the main goroutine blocks.
#[test]
fn wait_group_reused_before_wait_returned() {
    run("wait_group_reused_before_wait_returned", 1, || {
        let wg = Arc::new(WaitGroup::new());
        wg.add(1);
        let parked = Arc::new(AtomicUsize::new(0));
        let w = {
            let (wg, parked) = (wg.clone(), parked.clone());
            spawn(move || {
                parked.store(1, Ordering::SeqCst);
                wg.wait();
            })
        };
        while parked.load(Ordering::SeqCst) == 0 {
            gort_runtime::yield_now();
        }
        gort_runtime::yield_now(); // let it park in wait
        wg.done(); // wakes the waiter (it has not run yet)
        wg.add(1); // reuse before it returned
        let err = w.join().expect_err("reuse not detected");
        assert_eq!(err.message(), Some("sync: WaitGroup is reused before previous Wait has returned"));
    });
}

/// Plain threads and goroutines as waiters and as workers of one group;
/// a wait on a zero counter returns at once.
#[test]
fn wait_group_threads_and_goroutines() {
    let wg = Arc::new(WaitGroup::new());
    wg.wait();
    let done = Arc::new(AtomicUsize::new(0));
    wg.add(8);
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let (wg, done) = (wg.clone(), done.clone());
            std::thread::spawn(move || {
                wg.wait();
                assert_eq!(done.load(Ordering::SeqCst), 8);
            })
        })
        .collect();
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (wg, done) = (wg.clone(), done.clone());
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(2));
                done.fetch_add(1, Ordering::SeqCst);
                wg.done();
            })
        })
        .collect();
    {
        let (wg, done) = (wg.clone(), done.clone());
        run("wait_group_threads_and_goroutines", 2, move || {
            for _ in 0..4 {
                let (wg, done) = (wg.clone(), done.clone());
                spawn(move || {
                    gort_runtime::sleep(Duration::from_millis(2));
                    done.fetch_add(1, Ordering::SeqCst);
                    wg.done();
                });
            }
            wg.wait();
            assert_eq!(done.load(Ordering::SeqCst), 8);
        });
    }
    for t in waiters.into_iter().chain(workers) {
        t.join().unwrap();
    }
    assert_eq!(wg.count(), 0);
}
