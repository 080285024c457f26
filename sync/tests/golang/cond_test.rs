#![allow(non_snake_case)]
//! Cond: ports of Go's sync/cond_test.go (pinned to go1.27.3), a Cond
//! with a read lock, and plain threads.
//!
//! Not ported: TestCondCopy (a Cond that is waited on cannot be moved in
//! Rust, so there is no copy checker to test).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::common::{Chan, run};
use gort_runtime::spawn;
use gort_sync::{Cond, Mutex, RwLock};

/// Go: TestCondSignal: 2 waiters; each Signal wakes exactly one; a Signal
/// with no waiters is harmless.
#[test]
fn TestCondSignal() {
    run("TestCondSignal", 2, || {
        let mc = Arc::new((Mutex::new(()), Cond::new()));
        let mut n = 2;
        let running = Arc::new(Chan::new());
        let awake = Arc::new(Chan::new());
        for _ in 0..n {
            let (mc, running, awake) = (mc.clone(), running.clone(), awake.clone());
            spawn(move || {
                let (m, c) = &*mc;
                let g = m.lock();
                running.send(true);
                let g = c.wait(g);
                awake.send(true);
                drop(g);
            });
        }
        for _ in 0..n {
            running.recv(); // wait for everyone to run
        }
        let (m, c) = &*mc;
        while n > 0 {
            assert!(awake.try_recv().is_none(), "goroutine not asleep");
            let g = m.lock();
            c.signal();
            drop(g);
            awake.recv(); // deadlocks if no goroutine wakes up
            gort_runtime::sleep(Duration::from_millis(1));
            assert!(awake.try_recv().is_none(), "too many goroutines awake");
            n -= 1;
        }
        c.signal();
    });
}

/// Go: TestCondSignalGenerations: 100 waiters added one by one; Signal
/// wakes them in FIFO order.
#[test]
fn TestCondSignalGenerations() {
    run("TestCondSignalGenerations", 2, || {
        let mc = Arc::new((Mutex::new(()), Cond::new()));
        let n = 100;
        let running = Arc::new(Chan::new());
        let awake = Arc::new(Chan::new());
        for i in 0..n {
            {
                let (mc, running, awake) = (mc.clone(), running.clone(), awake.clone());
                spawn(move || {
                    let (m, c) = &*mc;
                    let g = m.lock();
                    running.send(true);
                    let g = c.wait(g);
                    awake.send(i);
                    drop(g);
                });
            }
            if i > 0 {
                let a = awake.recv();
                assert_eq!(a, i - 1, "wrong goroutine woke up");
            }
            running.recv();
            let (m, c) = &*mc;
            let g = m.lock();
            c.signal();
            drop(g);
        }
    });
}

/// Go: TestCondBroadcast: 200 waiters × 200 rounds; each Broadcast wakes
/// each waiter exactly once.
#[test]
fn TestCondBroadcast() {
    run("TestCondBroadcast", 2, || {
        let mc = Arc::new((Mutex::new(false), Cond::new()));
        let n = 200;
        let running = Arc::new(Chan::new());
        let awake = Arc::new(Chan::new());
        for i in 0..n {
            let (mc, running, awake) = (mc.clone(), running.clone(), awake.clone());
            spawn(move || {
                let (m, c) = &*mc;
                let mut exit = m.lock();
                while !*exit {
                    running.send(i);
                    exit = c.wait(exit);
                    awake.send(i);
                }
            });
        }
        let (m, c) = &*mc;
        for i in 0..n {
            for _ in 0..n {
                running.recv(); // deadlocks unless n are running
            }
            if i == n - 1 {
                *m.lock() = true;
            }
            assert!(awake.try_recv().is_none(), "goroutine not asleep");
            let g = m.lock();
            c.broadcast();
            drop(g);
            let mut seen = vec![false; n];
            for _ in 0..n {
                let g = awake.recv();
                assert!(!seen[g], "goroutine woke up twice");
                seen[g] = true;
            }
        }
        gort_runtime::sleep(Duration::from_millis(1));
        assert!(running.try_recv().is_none(), "goroutine did not exit");
        c.broadcast();
    });
}

/// Go: TestRace: 3 goroutines hand x = 1 → 2 → 3 over with Wait/Signal;
/// no lost wake-up.
#[test]
fn TestRace() {
    run("TestRace", 2, || {
        let mc = Arc::new((Mutex::new(0), Cond::new()));
        let done = Arc::new(Chan::new());
        {
            let (mc, done) = (mc.clone(), done.clone());
            spawn(move || {
                let (m, c) = &*mc;
                let mut x = m.lock();
                *x = 1;
                x = c.wait(x);
                assert_eq!(*x, 2, "want 2");
                *x = 3;
                c.signal();
                drop(x);
                done.send(true);
            });
        }
        {
            let (mc, done) = (mc.clone(), done.clone());
            spawn(move || {
                let (m, c) = &*mc;
                let mut x = m.lock();
                loop {
                    if *x == 1 {
                        *x = 2;
                        c.signal();
                        break;
                    }
                    drop(x);
                    gort_runtime::yield_now();
                    x = m.lock();
                }
                drop(x);
                done.send(true);
            });
        }
        {
            let (mc, done) = (mc.clone(), done.clone());
            spawn(move || {
                let (m, c) = &*mc;
                let mut x = m.lock();
                loop {
                    if *x == 2 {
                        x = c.wait(x);
                        assert_eq!(*x, 3, "want 3");
                        break;
                    }
                    if *x == 3 {
                        break;
                    }
                    drop(x);
                    gort_runtime::yield_now();
                    x = m.lock();
                }
                drop(x);
                done.send(true);
            });
        }
        for _ in 0..3 {
            done.recv();
        }
    });
}

/// Go: TestCondSignalStealing: a new waiter racing with Broadcast must not
/// steal the wake-up meant for the earlier waiter. 1000 iterations.
#[test]
fn TestCondSignalStealing() {
    run("TestCondSignalStealing", 2, || {
        for _ in 0..1000 {
            let mc = Arc::new((Mutex::new(false), Cond::new()));
            let ch = Arc::new(Chan::new());
            // Start a waiter.
            {
                let (mc, ch) = (mc.clone(), ch.clone());
                spawn(move || {
                    let (m, c) = &*mc;
                    let g = m.lock();
                    ch.send(());
                    let g = c.wait(g);
                    drop(g);
                    ch.send(());
                });
            }
            ch.recv();
            let (m, c) = &*mc;
            drop(m.lock());
            // The waiter is in wait: we synchronised with it, then took and
            // released the mutex it held. Now race a broadcast against a
            // new waiter: the new one may or may not be woken, the first
            // must be.
            {
                let mc = mc.clone();
                spawn(move || mc.1.broadcast());
            }
            {
                let mc = mc.clone();
                spawn(move || {
                    let (m, c) = &*mc;
                    let g = m.lock();
                    drop(c.wait_while(g, |done| !*done));
                });
            }
            // The first waiter does get signalled.
            ch.recv();
            // Release the second waiter in case it missed the broadcast.
            *m.lock() = true;
            c.broadcast();
        }
    });
}

/// A Cond used with a read lock (Go: `NewCond(rw.RLocker())`) and with a
/// write lock; waiters on plain threads and goroutines.
#[test]
fn cond_with_rwlock_and_threads() {
    static STATE: RwLock<u32> = RwLock::new(0);
    static C: Cond = Cond::new();
    let woke = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let woke = woke.clone();
            std::thread::spawn(move || {
                let mut g = STATE.read();
                while *g == 0 {
                    g = C.wait(g);
                }
                woke.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    let w2 = woke.clone();
    run("cond_with_rwlock_and_threads", 2, move || {
        let hs: Vec<_> = (0..3)
            .map(|_| {
                let woke = w2.clone();
                spawn(move || {
                    let g = C.wait_while(STATE.write(), |v| *v == 0);
                    assert_eq!(*g, 1);
                    woke.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        gort_runtime::sleep(Duration::from_millis(5));
        *STATE.write() = 1;
        C.broadcast();
        for h in hs {
            h.join().unwrap();
        }
    });
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(woke.load(Ordering::SeqCst), 5);
}

/// The classic bounded blocking queue (the text's exercise): producers
/// wait while it is full, consumers while it is empty; nothing is lost.
#[test]
fn cond_bounded_queue() {
    struct Queue {
        items: Mutex<std::collections::VecDeque<u32>>,
        not_full: Cond,
        not_empty: Cond,
    }
    run("cond_bounded_queue", 2, || {
        const CAP: usize = 4;
        let q = Arc::new(Queue {
            items: Mutex::new(Default::default()),
            not_full: Cond::new(),
            not_empty: Cond::new(),
        });
        let producers: Vec<_> = (0..4)
            .map(|p| {
                let q = q.clone();
                spawn(move || {
                    for i in 0..500 {
                        let mut g = q.not_full.wait_while(q.items.lock(), |it| it.len() == CAP);
                        g.push_back(p * 1000 + i);
                        drop(g);
                        q.not_empty.signal();
                    }
                })
            })
            .collect();
        let consumers: Vec<_> = (0..3)
            .map(|_| {
                let q = q.clone();
                spawn(move || {
                    let mut got = Vec::new();
                    loop {
                        let mut g = q.not_empty.wait_while(q.items.lock(), |it| it.is_empty());
                        let v = g.pop_front().unwrap();
                        assert!(g.len() < CAP);
                        drop(g);
                        q.not_full.signal();
                        if v == u32::MAX {
                            return got;
                        }
                        got.push(v);
                    }
                })
            })
            .collect();
        for p in producers {
            p.join().unwrap();
        }
        for _ in 0..3 {
            let mut g = q.not_full.wait_while(q.items.lock(), |it| it.len() == CAP);
            g.push_back(u32::MAX);
            drop(g);
            q.not_empty.signal();
        }
        let mut all: Vec<u32> = consumers.into_iter().flat_map(|c| c.join().unwrap()).collect();
        all.sort();
        let want: Vec<u32> = (0..4).flat_map(|p| (0..500).map(move |i| p * 1000 + i)).collect();
        assert_eq!(all, want);
    });
}
