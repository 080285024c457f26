#![allow(non_snake_case)]
//! Mutex: ports of Go's sync/mutex_test.go (pinned to go1.27.3) and
//! gort's own checks, from goroutines on several Ps and from threads.
//!
//! Not ported: TestMutexMisuse. Its eight cases (unlock of an unlocked
//! Mutex, RWMutex Unlock/RUnlock mismatches) cannot be written against
//! gort's guards; the doc tests of `Mutex` and `RwLock` check that they do
//! not compile. TestSemaphore is in sema_test.rs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::{Chan, run};
use gort_runtime::spawn;
use gort_sync::Mutex;

fn hammer_mutex(m: &Mutex<()>, loops: usize) {
    for i in 0..loops {
        if i % 3 == 0 {
            if let Some(g) = m.try_lock() {
                drop(g);
            }
            continue;
        }
        drop(m.lock());
    }
}

/// Go: TestMutex: TryLock fails while locked and succeeds when unlocked;
/// then 10 goroutines × 1000 Lock/Unlock with TryLock every 3rd iteration.
#[test]
fn TestMutex() {
    run("TestMutex", 2, || {
        let m = Arc::new(Mutex::new(()));
        let g = m.lock();
        assert!(m.try_lock().is_none(), "TryLock succeeded with mutex locked");
        drop(g);
        assert!(m.try_lock().is_some(), "TryLock failed with mutex unlocked");

        let c = Arc::new(Chan::new());
        for _ in 0..10 {
            let (m, c) = (m.clone(), c.clone());
            spawn(move || {
                hammer_mutex(&m, 1000);
                c.send(true);
            });
        }
        for _ in 0..10 {
            c.recv();
        }
    });
}

/// Go: TestMutexFairness: one goroutine holds the lock 100 µs at a time in
/// a loop; another needs it 10 times (sleeping 100 µs in between) and must
/// finish within 10 s. Without starvation mode the first would take the
/// lock back every time.
#[test]
fn TestMutexFairness() {
    run("TestMutexFairness", 2, || {
        let mu = Arc::new(Mutex::new(()));
        let stop = Arc::new(AtomicBool::new(false));
        let hog = {
            let (mu, stop) = (mu.clone(), stop.clone());
            spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let g = mu.lock();
                    gort_runtime::sleep(Duration::from_micros(100));
                    drop(g);
                }
            })
        };
        let done = Arc::new(Chan::new());
        {
            let (mu, done) = (mu.clone(), done.clone());
            spawn(move || {
                for _ in 0..10 {
                    gort_runtime::sleep(Duration::from_micros(100));
                    drop(mu.lock());
                }
                done.send(true);
            });
        }
        let got = done.recv_timeout(Duration::from_secs(10));
        stop.store(true, Ordering::Relaxed);
        hog.join().unwrap();
        assert!(got.is_some(), "can't acquire Mutex in 10 seconds");
    });
}

/// The same with one P: starvation mode must still hand the lock over
/// (the hand-off yields the P to the waiter).
#[test]
fn mutex_fairness_one_p() {
    run("mutex_fairness_one_p", 1, || {
        let mu = Arc::new(Mutex::new(()));
        let stop = Arc::new(AtomicBool::new(false));
        let hog = {
            let (mu, stop) = (mu.clone(), stop.clone());
            spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let g = mu.lock();
                    gort_runtime::sleep(Duration::from_micros(100));
                    drop(g);
                }
            })
        };
        let t = Instant::now();
        for _ in 0..10 {
            gort_runtime::sleep(Duration::from_micros(100));
            drop(mu.lock());
        }
        stop.store(true, Ordering::Relaxed);
        hog.join().unwrap();
        assert!(t.elapsed() < Duration::from_secs(10), "starved for {:?}", t.elapsed());
    });
}

/// A counter under the mutex from goroutines on 2 Ps and plain threads at
/// once: no lost update, and no two holders at a time.
#[test]
fn mutex_goroutines_and_threads() {
    let m = Arc::new(Mutex::new(0u64));
    let inside = Arc::new(AtomicUsize::new(0));
    let work = |m: &Mutex<u64>, inside: &AtomicUsize| {
        for _ in 0..20_000 {
            let mut g = m.lock();
            assert_eq!(inside.fetch_add(1, Ordering::Relaxed), 0, "two holders");
            *g += 1;
            inside.fetch_sub(1, Ordering::Relaxed);
        }
    };
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (m, inside) = (m.clone(), inside.clone());
            std::thread::spawn(move || work(&m, &inside))
        })
        .collect();
    {
        let (m, inside) = (m.clone(), inside.clone());
        run("mutex_goroutines_and_threads", 2, move || {
            let hs: Vec<_> = (0..6)
                .map(|_| {
                    let (m, inside) = (m.clone(), inside.clone());
                    spawn(move || work(&m, &inside))
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
        });
    }
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(*m.lock(), 8 * 20_000);
}

/// Go allows unlocking from another goroutine than the locker: a guard can
/// be moved to another goroutine, which unlocks by dropping it.
#[test]
fn mutex_unlock_in_another_goroutine() {
    run("mutex_unlock_in_another_goroutine", 2, || {
        static M: Mutex<Vec<u32>> = Mutex::new(Vec::new());
        let mut g = M.lock();
        g.push(1);
        let h = spawn(move || {
            g.push(2);
            drop(g);
        });
        h.join().unwrap();
        assert_eq!(*M.lock(), vec![1, 2]);
    });
}

/// A waiter blocked in lock wakes when the holder unlocks, whether it is a
/// goroutine or a thread, and try_lock never blocks meanwhile.
#[test]
fn mutex_blocked_waiters_wake() {
    run("mutex_blocked_waiters_wake", 2, || {
        let m = Arc::new(Mutex::new(0));
        let g = m.lock();
        let started = Arc::new(AtomicUsize::new(0));
        let gs: Vec<_> = (0..4)
            .map(|_| {
                let (m, started) = (m.clone(), started.clone());
                spawn(move || {
                    started.fetch_add(1, Ordering::SeqCst);
                    *m.lock() += 1;
                })
            })
            .collect();
        let th = {
            let (m, started) = (m.clone(), started.clone());
            std::thread::spawn(move || {
                started.fetch_add(1, Ordering::SeqCst);
                *m.lock() += 1;
            })
        };
        while started.load(Ordering::SeqCst) < 5 {
            gort_runtime::yield_now();
        }
        gort_runtime::sleep(Duration::from_millis(5));
        assert!(m.try_lock().is_none());
        assert!(m.is_locked());
        drop(g);
        for h in gs {
            h.join().unwrap();
        }
        th.join().unwrap();
        assert_eq!(*m.lock(), 5);
    });
}

/// A panic while holding the lock unlocks it (no poisoning, as in Go).
#[test]
fn mutex_panic_unlocks() {
    run("mutex_panic_unlocks", 2, || {
        let m = Arc::new(Mutex::new(1));
        let m2 = m.clone();
        let r = spawn(move || {
            let _g = m2.lock();
            panic!("inside");
        })
        .join();
        assert!(r.is_err());
        assert_eq!(*m.lock(), 1);
    });
}
