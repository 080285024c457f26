#![allow(non_snake_case)]
//! SingleFlight: ports of golang.org/x/sync/singleflight's
//! singleflight_test.go, with a `Flight` handle where Go uses DoChan's
//! channel. Not ported: TestGoexitDo (no Goexit in Rust).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::time::Duration;

use crate::common::{Chan, is_child, panic_message, run, run_child};
use gort_runtime::spawn;
use gort_sync::{SingleFlight, WaitGroup};

/// Go: TestDo.
#[test]
fn TestDo() {
    let g: SingleFlight<&str, String> = SingleFlight::new();
    let (v, shared) = g.call("key", || "bar".to_string());
    assert_eq!(v, "bar");
    assert!(!shared);
}

/// Go: TestDoErr: the function's error reaches the caller.
#[test]
fn TestDoErr() {
    let g: SingleFlight<&str, Result<String, String>> = SingleFlight::new();
    let (v, _) = g.call("key", || Err("some error".to_string()));
    assert_eq!(v, Err("some error".to_string()));
}

/// Go: TestDoDupSuppress: 10 concurrent calls for one key run the function
/// fewer than 10 times (at least once), and all get its value.
#[test]
fn TestDoDupSuppress() {
    run("TestDoDupSuppress", 2, || {
        let g: Arc<SingleFlight<&str, String>> = Arc::new(SingleFlight::new());
        let wg1 = Arc::new(WaitGroup::new());
        let wg2 = Arc::new(WaitGroup::new());
        let c: Arc<Chan<String>> = Arc::new(Chan::new());
        let calls = Arc::new(AtomicI32::new(0));
        const N: i32 = 10;
        wg1.add(1);
        for _ in 0..N {
            wg1.add(1);
            wg2.add(1);
            let (g, wg1, wg2, c, calls) = (g.clone(), wg1.clone(), wg2.clone(), c.clone(), calls.clone());
            spawn(move || {
                wg1.done();
                let (v, _) = g.call("key", || {
                    if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                        wg1.done(); // first invocation
                    }
                    let v = c.recv();
                    c.send(v.clone()); // pump, for any later calls
                    gort_runtime::sleep(Duration::from_millis(10)); // let more goroutines enter
                    v
                });
                assert_eq!(v, "bar");
                wg2.done();
            });
        }
        wg1.wait();
        // One goroutine is in the function; all have reached the call.
        c.send("bar".to_string());
        wg2.wait();
        let got = calls.load(Ordering::SeqCst);
        assert!(got > 0 && got < N, "number of calls = {got}; want over 0 and less than {N}");
    });
}

/// Go: TestForget: after Forget, a new call runs its function instead of
/// joining the old flight, and calls after that join the new flight.
#[test]
fn TestForget() {
    run("TestForget", 2, || {
        let g: Arc<SingleFlight<&str, i32>> = Arc::new(SingleFlight::new());
        let first_started = Arc::new(Chan::new());
        let unblock_first = Arc::new(Chan::new());
        let first_finished = Arc::new(Chan::new());
        {
            let (g, fs, uf, ff) =
                (g.clone(), first_started.clone(), unblock_first.clone(), first_finished.clone());
            spawn(move || {
                g.call("key", || {
                    fs.send(());
                    uf.recv();
                    ff.send(());
                    1
                });
            });
        }
        first_started.recv();
        g.forget(&"key");
        let unblock_second = Arc::new(Chan::new());
        let second = {
            let us = unblock_second.clone();
            g.call_handle("key", move || {
                us.recv();
                2
            })
        };
        unblock_first.send(());
        first_finished.recv();
        let third = g.call_handle("key", || 3);
        unblock_second.send(());
        let _ = second.wait();
        let (v, shared) = third.wait();
        assert_eq!(v, 2, "we should receive the result of the second call");
        assert!(shared);
    });
}

/// Go: TestDoChan: the handle delivers the value.
#[test]
fn TestDoChan() {
    run("TestDoChan", 2, || {
        let g: Arc<SingleFlight<&str, String>> = Arc::new(SingleFlight::new());
        let f = g.call_handle("key", || "bar".to_string());
        let (v, shared) = f.wait();
        assert_eq!(v, "bar");
        assert!(!shared);
    });
}

/// Go: TestPanicDo: a panic in the function reaches every waiting caller.
#[test]
fn TestPanicDo() {
    run("TestPanicDo", 2, || {
        let g: Arc<SingleFlight<&str, i32>> = Arc::new(SingleFlight::new());
        const N: usize = 5;
        let panics = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(Chan::new());
        let hs: Vec<_> = (0..N)
            .map(|_| {
                let (g, panics, gate) = (g.clone(), panics.clone(), gate.clone());
                spawn(move || {
                    let r = catch_unwind(AssertUnwindSafe(|| {
                        g.call("key", || {
                            // Hold the flight while the others join; pump
                            // the gate for a late one that starts its own.
                            gate.recv();
                            gate.send(());
                            panic!("invalid memory address or nil pointer dereference")
                        })
                    }));
                    let p = r.expect_err("call returned after a panic");
                    assert_eq!(panic_message(&*p), "invalid memory address or nil pointer dereference");
                    panics.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        gort_runtime::sleep(Duration::from_millis(20));
        gate.send(());
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(panics.load(Ordering::SeqCst), N, "expect {N} panics");
    });
}

/// Go: TestPanicDoChan: a panic in a DoChan function cannot go unnoticed:
/// it ends the process even though nobody waits for the result.
#[test]
fn TestPanicDoChan() {
    if is_child("TestPanicDoChan") {
        run("TestPanicDoChan", 2, || {
            let g: Arc<SingleFlight<&str, i32>> = Arc::new(SingleFlight::new());
            let _f = g.call_handle("key", || panic!("Panicking in DoChan"));
            gort_runtime::sleep(Duration::from_secs(5));
            eprintln!("DoChan panic went unnoticed");
        });
        return;
    }
    let (status, stderr) = run_child("TestPanicDoChan");
    assert!(!status.success(), "child survived:\n{stderr}");
    assert!(stderr.contains("Panicking in DoChan"), "missing the panic:\n{stderr}");
    assert!(!stderr.contains("unnoticed"), "{stderr}");
}

/// Go: TestPanicDoSharedByDoChan: a DoChan caller joining a Do flight
/// whose function panics gets the panic too.
#[test]
fn TestPanicDoSharedByDoChan() {
    run("TestPanicDoSharedByDoChan", 2, || {
        let g: Arc<SingleFlight<&str, i32>> = Arc::new(SingleFlight::new());
        let blocked = Arc::new(Chan::new());
        let unblock = Arc::new(Chan::new());
        let leader = {
            let (g, blocked, unblock) = (g.clone(), blocked.clone(), unblock.clone());
            spawn(move || {
                g.call("key", || {
                    blocked.send(());
                    unblock.recv();
                    panic!("Panicking in Do")
                })
            })
        };
        blocked.recv();
        let follower = g.call_handle("key", || unreachable!("joined the flight in progress"));
        unblock.send(());
        assert!(leader.join().is_err());
        let p = catch_unwind(AssertUnwindSafe(|| follower.wait())).expect_err("follower got a value");
        assert_eq!(panic_message(&*p), "Panicking in Do");
    });
}

/// Sequential calls each run the function (unlike Once), and the flight is
/// shared between goroutines and plain threads.
#[test]
fn singleflight_sequential_and_threads() {
    let g: Arc<SingleFlight<u32, u32>> = Arc::new(SingleFlight::new());
    let calls = AtomicUsize::new(0);
    for i in 0..3 {
        let (v, shared) = g.call(7, || {
            calls.fetch_add(1, Ordering::SeqCst);
            i
        });
        assert_eq!((v, shared), (i, false));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 3);

    let runs = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Chan::new());
    let leader = {
        let (g, runs, gate) = (g.clone(), runs.clone(), gate.clone());
        std::thread::spawn(move || {
            g.call(1, || {
                runs.fetch_add(1, Ordering::SeqCst);
                gate.recv();
                99
            })
        })
    };
    while runs.load(Ordering::SeqCst) == 0 {
        std::thread::yield_now();
    }
    let g2 = g.clone();
    let results = run("singleflight_sequential_and_threads", 2, move || {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let g = g2.clone();
                spawn(move || g.call(1, || unreachable!("joined the thread's flight")))
            })
            .collect();
        gort_runtime::sleep(Duration::from_millis(5));
        gate.send(());
        hs.into_iter().map(|h| h.join().unwrap()).collect::<Vec<_>>()
    });
    assert_eq!(leader.join().unwrap(), (99, true));
    assert!(results.iter().all(|&r| r == (99, true)));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}
