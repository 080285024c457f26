//! WaitGroup's done-guard: Go's `wg.Add(1)` + `defer wg.Done()`.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::run;
use gort_runtime::spawn;
use gort_sync::WaitGroup;

/// Every way out of a task marks it done: normal return, early return and
/// panic; `wait` returns once all have left.
#[test]
fn guard_marks_done_on_return_early_return_and_panic() {
    run("guard_marks_done_on_return_early_return_and_panic", 2, || {
        let wg = Arc::new(WaitGroup::new());
        let finished = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::new();
        for i in 0..3 {
            let done = wg.add_guard_owned();
            let finished = finished.clone();
            handles.push(spawn(move || {
                let _done = done;
                finished.fetch_add(1, Ordering::SeqCst);
                match i {
                    0 => Ok(()),
                    1 => Err("early return"),
                    _ => panic!("task {i} failed"),
                }
            }));
        }
        assert_eq!(wg.count(), 3);
        wg.wait();
        assert_eq!(finished.load(Ordering::SeqCst), 3);
        assert_eq!(wg.count(), 0);
        let results: Vec<_> = handles.into_iter().map(|h| h.join()).collect();
        assert!(results[0].as_ref().is_ok_and(|r| r.is_ok()));
        assert!(results[1].as_ref().is_ok_and(|r| r.is_err()));
        assert!(results[2].is_err(), "the panic is the joiner's to see");
    });
}

/// The guard holds the counter up until it drops, so `wait` cannot return
/// before then (a causal check: the guard's holder is parked).
#[test]
fn wait_waits_for_the_guard() {
    run("wait_waits_for_the_guard", 2, || {
        let wg = Arc::new(WaitGroup::new());
        let release = common::Chan::<()>::new();
        let release = Arc::new(release);
        let r = release.clone();
        let done = wg.add_guard_owned();
        let h = spawn(move || {
            r.recv();
            drop(done);
        });
        let waiter = {
            let wg = wg.clone();
            spawn(move || wg.wait())
        };
        for _ in 0..20 {
            gort_runtime::yield_now();
        }
        assert!(!waiter.is_finished(), "wait returned while a guard was alive");
        release.send(());
        waiter.join().unwrap();
        h.join().unwrap();
    });
}

/// A borrowed guard, and `done()` to finish early, then the explicit
/// drop does nothing more.
#[test]
fn borrowed_guard_and_explicit_done() {
    let wg = WaitGroup::new();
    let g1 = wg.add_guard();
    let g2 = wg.add_guard();
    assert_eq!(wg.count(), 2);
    g1.done();
    assert_eq!(wg.count(), 1);
    drop(g2);
    assert_eq!(wg.count(), 0);
    wg.wait();
}
