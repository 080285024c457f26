#![allow(non_snake_case)]
//! Barrier: ports of github.com/marusama/cyclicbarrier's tests (the text's
//! CyclicBarrier), with `wait_timeout` where they cancel a context. The
//! H2O test is in the facade's tests/sync_scenarios.rs.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Chan, panic_message, run};
use gort_runtime::spawn;
use gort_sync::{Barrier, BarrierError, WaitGroup};

/// TestNew: parties must be positive.
#[test]
fn TestNew() {
    let b = Barrier::new(10);
    assert_eq!((b.parties(), b.number_waiting(), b.is_broken()), (10, 0, false));
    let p = catch_unwind(|| Barrier::new(0)).expect_err("0 parties accepted");
    assert_eq!(panic_message(&*p), "parties must be positive number");
}

/// TestAwaitOnce: n parties pass together once.
#[test]
fn TestAwaitOnce() {
    run("TestAwaitOnce", 2, || {
        let n = 100;
        let b = Arc::new(Barrier::new(n));
        let wg = Arc::new(WaitGroup::new());
        let arrived = Arc::new(AtomicUsize::new(0));
        for _ in 0..n {
            let (b, arrived) = (b.clone(), arrived.clone());
            wg.go(move || {
                arrived.fetch_add(1, Ordering::SeqCst);
                b.wait().unwrap();
                assert_eq!(arrived.load(Ordering::SeqCst), n, "released before everyone arrived");
            });
        }
        wg.wait();
        assert_eq!((b.number_waiting(), b.is_broken()), (0, false));
    });
}

/// TestAwaitMany: the barrier is reusable round after round, and no party
/// gets a round ahead of the others.
#[test]
fn TestAwaitMany() {
    run("TestAwaitMany", 2, || {
        let (n, rounds) = (20, 100);
        let b = Arc::new(Barrier::new(n));
        let round_of = Arc::new((0..n).map(|_| AtomicUsize::new(0)).collect::<Vec<_>>());
        let wg = Arc::new(WaitGroup::new());
        for i in 0..n {
            let (b, round_of) = (b.clone(), round_of.clone());
            wg.go(move || {
                for r in 0..rounds {
                    round_of[i].store(r, Ordering::SeqCst);
                    b.wait().unwrap();
                    for other in round_of.iter() {
                        let o = other.load(Ordering::SeqCst);
                        assert!(o == r || o == r + 1, "party in round {o} while we leave round {r}");
                    }
                }
            });
        }
        wg.wait();
    });
}

/// TestAwaitOnceCtxDone: a party whose wait gives up breaks the round; it
/// gets its timeout, the others get Broken; the barrier stays broken until
/// reset.
#[test]
fn TestAwaitOnceCtxDone() {
    run("TestAwaitOnceCtxDone", 2, || {
        let n = 10;
        let b = Arc::new(Barrier::new(n + 1)); // one party never comes
        let results = Arc::new(Chan::new());
        for i in 0..n {
            let (b, results) = (b.clone(), results.clone());
            spawn(move || {
                let r = if i == 0 { b.wait_timeout(Duration::from_millis(20)) } else { b.wait() };
                results.send((i, r));
            });
        }
        let mut timeouts = 0;
        for _ in 0..n {
            let (i, r) = results.recv();
            match r {
                Err(BarrierError::Timeout) => {
                    assert_eq!(i, 0);
                    timeouts += 1;
                }
                Err(BarrierError::Broken) => assert_ne!(i, 0),
                Ok(()) => panic!("party {i} passed a broken barrier"),
            }
        }
        assert_eq!(timeouts, 1);
        assert!(b.is_broken());
        assert_eq!(b.wait(), Err(BarrierError::Broken), "a broken barrier admits nobody");
        b.reset();
        assert!(!b.is_broken());
    });
}

/// A wait whose time is up before it starts does not join (nor break) the
/// round.
#[test]
fn expired_wait_does_not_break() {
    let b = Barrier::new(2);
    assert_eq!(b.wait_timeout(Duration::ZERO), Err(BarrierError::Timeout));
    assert!(!b.is_broken());
    assert_eq!(b.number_waiting(), 0);
}

/// TestAwaitAction: the action runs once per round, on the last arrival,
/// before anyone of the round is released.
#[test]
fn TestAwaitAction() {
    run("TestAwaitAction", 2, || {
        let (n, rounds) = (5, 50);
        let actions = Arc::new(AtomicUsize::new(0));
        let a2 = actions.clone();
        let b = Arc::new(Barrier::with_action(n, move || {
            a2.fetch_add(1, Ordering::SeqCst);
        }));
        let wg = Arc::new(WaitGroup::new());
        for _ in 0..n {
            let (b, actions) = (b.clone(), actions.clone());
            wg.go(move || {
                for r in 0..rounds {
                    b.wait().unwrap();
                    assert!(actions.load(Ordering::SeqCst) > r, "released before the action of round {r}");
                }
            });
        }
        wg.wait();
        assert_eq!(actions.load(Ordering::SeqCst), rounds);
    });
}

/// TestAwaitActionError: a failing (here: panicking) action breaks the
/// barrier; the last arrival carries the panic, the others get Broken.
#[test]
fn TestAwaitActionError() {
    run("TestAwaitActionError", 2, || {
        let n = 4;
        let b = Arc::new(Barrier::with_action(n, || panic!("action failed")));
        let hs: Vec<_> = (0..n)
            .map(|_| {
                let b = b.clone();
                spawn(move || catch_unwind(AssertUnwindSafe(|| b.wait())).map_err(|p| panic_message(&*p)))
            })
            .collect();
        let mut panics = 0;
        for h in hs {
            match h.join().unwrap() {
                Err(msg) => {
                    assert_eq!(msg, "action failed");
                    panics += 1;
                }
                Ok(r) => assert_eq!(r, Err(BarrierError::Broken)),
            }
        }
        assert_eq!(panics, 1);
        assert!(b.is_broken());
    });
}

/// TestReset: reset breaks the waiting parties' round and starts a fresh
/// one that works.
#[test]
fn TestReset() {
    run("TestReset", 2, || {
        let b = Arc::new(Barrier::new(3));
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let b = b.clone();
                spawn(move || b.wait())
            })
            .collect();
        while b.number_waiting() < 2 {
            gort_runtime::sleep(Duration::from_millis(1));
        }
        b.reset();
        for h in hs {
            assert_eq!(h.join().unwrap(), Err(BarrierError::Broken));
        }
        assert!(!b.is_broken());
        let hs: Vec<_> = (0..3)
            .map(|_| {
                let b = b.clone();
                spawn(move || b.wait())
            })
            .collect();
        for h in hs {
            h.join().unwrap().unwrap();
        }
    });
}

/// More goroutines than parties at one barrier: the library can panic
/// ("called more than count of parties") when a round's action is still
/// running; here extra parties simply form the next round, which opens as
/// soon as the previous one trips.
#[test]
fn extra_parties_form_the_next_round() {
    run("extra_parties_form_the_next_round", 2, || {
        let trips = Arc::new(AtomicUsize::new(0));
        let t2 = trips.clone();
        let b = Arc::new(Barrier::with_action(3, move || {
            t2.fetch_add(1, Ordering::SeqCst);
            gort_runtime::sleep(Duration::from_millis(2)); // rounds overlap the action
        }));
        let wg = Arc::new(WaitGroup::new());
        for _ in 0..9 {
            let b = b.clone();
            wg.go(move || b.wait().unwrap());
        }
        wg.wait();
        assert_eq!(trips.load(Ordering::SeqCst), 3);
    });
}

/// Parties on plain threads and goroutines meet at one barrier.
#[test]
fn barrier_threads_and_goroutines() {
    let b = Arc::new(Barrier::new(4));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let b = b.clone();
            std::thread::spawn(move || {
                for _ in 0..20 {
                    b.wait().unwrap();
                }
            })
        })
        .collect();
    let b2 = b.clone();
    run("barrier_threads_and_goroutines", 2, move || {
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let b = b2.clone();
                spawn(move || {
                    for _ in 0..20 {
                        b.wait().unwrap();
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
    for t in threads {
        t.join().unwrap();
    }
}
