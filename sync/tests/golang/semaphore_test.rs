#![allow(non_snake_case)]
//! Semaphore: ports of golang.org/x/sync/semaphore's semaphore_test.go,
//! with `acquire_timeout` where Go's tests cancel a context, plus the
//! text's scenarios (T-SEMA-1..3) and plain threads.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::{panic_message, run};
use gort_runtime::spawn;
use gort_runtime::testing::synctest;
use gort_sync::{Semaphore, WaitGroup};

/// Go: TestWeighted (HammerWeighted): n goroutines, goroutine i takes i+1
/// units repeatedly with a short random hold; the units held never exceed
/// the size.
#[test]
fn TestWeighted() {
    run("TestWeighted", 2, || {
        let n = gort_runtime::max_procs() + 2;
        let loops = 2000 / n;
        let sem = Arc::new(Semaphore::new(n));
        let held = Arc::new(AtomicUsize::new(0));
        let wg = Arc::new(WaitGroup::new());
        for i in 0..n {
            let (sem, held) = (sem.clone(), held.clone());
            wg.go(move || {
                let w = i + 1;
                for j in 0..loops {
                    sem.acquire(w);
                    let h = held.fetch_add(w, Ordering::SeqCst) + w;
                    assert!(h <= n, "{h} units held of {n}");
                    if j % 8 == 0 {
                        gort_runtime::sleep(Duration::from_micros((j % 50) as u64));
                    }
                    held.fetch_sub(w, Ordering::SeqCst);
                    sem.release(w);
                }
            });
        }
        wg.wait();
        assert_eq!(sem.held(), 0);
    });
}

/// Go: TestWeightedPanic: releasing more than held panics with Go's
/// message.
#[test]
fn TestWeightedPanic() {
    let sem = Semaphore::new(1);
    let p = catch_unwind(AssertUnwindSafe(|| sem.release(1)))
        .expect_err("release of an unacquired weighted semaphore did not panic");
    assert_eq!(panic_message(&*p), "semaphore: released more than held");
}

/// Go: TestWeightedTryAcquire.
#[test]
fn TestWeightedTryAcquire() {
    let sem = Semaphore::new(2);
    let mut tries = Vec::new();
    sem.acquire(1);
    tries.push(sem.try_acquire(1));
    tries.push(sem.try_acquire(1));
    sem.release(2);
    tries.push(sem.try_acquire(1));
    sem.acquire(1);
    tries.push(sem.try_acquire(1));
    assert_eq!(tries, [true, false, true, false]);
}

/// Go: TestWeightedAcquire: acquire with a 10 ms limit succeeds when units
/// free up and fails (leaving the semaphore unchanged) when they do not.
#[test]
fn TestWeightedAcquire() {
    run("TestWeightedAcquire", 2, || {
        let sem = Semaphore::new(2);
        let try_acquire = |n| sem.acquire_timeout(n, Duration::from_millis(10));
        let mut tries = Vec::new();
        sem.acquire(1);
        tries.push(try_acquire(1));
        tries.push(try_acquire(1));
        sem.release(2);
        tries.push(try_acquire(1));
        sem.acquire(1);
        tries.push(try_acquire(1));
        assert_eq!(tries, [true, false, true, false]);
        assert_eq!(sem.held(), 2);
    });
}

/// Go: TestWeightedDoesntBlockIfTooBig: a request larger than the size
/// does not hold up the requests after it. In a synctest bubble: the small
/// requests finish at 3 ms, the impossible one gives up exactly at its
/// 200 ms timeout (on the bubble's clock, instantly).
#[test]
fn TestWeightedDoesntBlockIfTooBig() {
    run("TestWeightedDoesntBlockIfTooBig", 2, || synctest::test(weighted_doesnt_block_if_too_big));
    fn weighted_doesnt_block_if_too_big() {
        let start = gort_runtime::time::now();
        const N: usize = 2;
        let sem = Arc::new(Semaphore::new(N));
        let big = {
            let sem = sem.clone();
            spawn(move || sem.acquire_timeout(N + 1, Duration::from_millis(200)))
        };
        let wg = Arc::new(WaitGroup::new());
        for _ in 0..N * 3 {
            let sem = sem.clone();
            wg.go(move || {
                sem.acquire(1);
                gort_runtime::sleep(Duration::from_millis(1));
                sem.release(1);
            });
        }
        wg.wait();
        assert_eq!(gort_runtime::time::since(start), Duration::from_millis(3), "3 rounds of 1 ms");
        assert!(!big.join().unwrap(), "an impossible request succeeded");
        assert_eq!(gort_runtime::time::since(start), Duration::from_millis(200));
        // Without a timeout, an impossible request is a clear error.
        let p = catch_unwind(AssertUnwindSafe(|| sem.acquire(N + 1))).expect_err("acquire above the size");
        assert!(panic_message(&*p).contains("exceeds the semaphore's size 2"));
    }
}

/// Go: TestLargeAcquireDoesntStarve: with n holders cycling one unit each,
/// a request for all n units still gets them (the head of the queue blocks
/// the small requests behind it).
#[test]
fn TestLargeAcquireDoesntStarve() {
    run("TestLargeAcquireDoesntStarve", 2, || {
        let n = gort_runtime::max_procs() * 2;
        let sem = Arc::new(Semaphore::new(n));
        let running = Arc::new(AtomicBool::new(true));
        let wg = Arc::new(WaitGroup::new());
        for _ in 0..n {
            sem.acquire(1);
            let (sem, running) = (sem.clone(), running.clone());
            wg.go(move || {
                while running.load(Ordering::SeqCst) {
                    gort_runtime::sleep(Duration::from_millis(1));
                    sem.release(1);
                    sem.acquire(1);
                }
                sem.release(1);
            });
        }
        sem.acquire(n);
        running.store(false, Ordering::SeqCst);
        sem.release(n);
        wg.wait();
    });
}

/// Go: TestAllocCancelDoesntStarve (T-SEMA-2): a large request at the head
/// blocks smaller ones behind it; when it gives up, the ones behind it get
/// the free units.
///
/// In a synctest bubble: the small request waits exactly until the large
/// one's 50 ms timeout.
#[test]
fn TestAllocCancelDoesntStarve() {
    run("TestAllocCancelDoesntStarve", 2, || synctest::test(alloc_cancel_doesnt_starve));
    fn alloc_cancel_doesnt_starve() {
        let sem = Arc::new(Semaphore::new(10));
        sem.acquire(1);
        // Queue a request for all 10 units; it waits behind the held one.
        let big = {
            let sem = sem.clone();
            spawn(move || sem.acquire_timeout(10, Duration::from_millis(50)))
        };
        while sem.try_acquire(1) {
            sem.release(1);
            gort_runtime::yield_now();
        }
        // A small request cannot jump the queue, though 9 units are free...
        assert!(!sem.try_acquire(1), "try_acquire succeeded past a queued request");
        let t = gort_runtime::time::now();
        // ...but gets them as soon as the large request gives up.
        sem.acquire(1);
        assert!(!big.join().unwrap());
        assert_eq!(
            gort_runtime::time::since(t),
            Duration::from_millis(50),
            "the small request waited behind the large one, until its timeout"
        );
        sem.release(2);
        assert_eq!(sem.held(), 0);
    }
}

/// FIFO order: queued requests are granted in arrival order.
#[test]
fn semaphore_fifo() {
    run("semaphore_fifo", 1, || {
        let sem = Arc::new(Semaphore::new(1));
        sem.acquire(1);
        let order = Arc::new(gort_sync::Mutex::new(Vec::new()));
        let hs: Vec<_> = (0..5)
            .map(|i| {
                let (sem, order) = (sem.clone(), order.clone());
                let h = spawn(move || {
                    sem.acquire(1);
                    order.lock().push(i);
                    sem.release(1);
                });
                // One P: the goroutine queues before the next one starts.
                gort_runtime::yield_now();
                h
            })
            .collect();
        sem.release(1);
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(*order.lock(), vec![0, 1, 2, 3, 4]);
    });
}

/// The text's worker example (T-SEMA-1), scaled down: W workers, 4W tasks
/// of 10 ms each, dispatched with acquire(1) and released by the workers;
/// a final acquire(W) waits for all of them. In a synctest bubble: four
/// rounds of 10 ms take exactly 40 ms.
#[test]
fn semaphore_worker_pool() {
    run("semaphore_worker_pool", 2, || synctest::test(worker_pool));
    fn worker_pool() {
        let w = gort_runtime::max_procs();
        let sem = Arc::new(Semaphore::new(w));
        let task = Arc::new(gort_sync::Mutex::new(vec![0usize; w * 4]));
        let t = gort_runtime::time::now();
        for i in 0..w * 4 {
            sem.acquire(1);
            let (sem, task) = (sem.clone(), task.clone());
            spawn(move || {
                gort_runtime::sleep(Duration::from_millis(10));
                task.lock()[i] = i + 1;
                sem.release(1);
            });
        }
        sem.acquire(w);
        let elapsed = gort_runtime::time::since(t);
        assert_eq!(*task.lock(), (1..=w * 4).collect::<Vec<_>>());
        assert_eq!(elapsed, Duration::from_millis(40), "tasks overlapped beyond the limit, or waited");
    }
}

/// Goroutines and plain threads share the semaphore; a thread's
/// acquire_timeout gives up on time and leaves it unchanged.
#[test]
fn semaphore_threads_and_goroutines() {
    let sem = Arc::new(Semaphore::new(2));
    let inside = Arc::new(AtomicUsize::new(0));
    let work = |sem: &Semaphore, inside: &AtomicUsize| {
        for _ in 0..2000 {
            sem.acquire(1);
            assert!(inside.fetch_add(1, Ordering::SeqCst) < 2);
            inside.fetch_sub(1, Ordering::SeqCst);
            sem.release(1);
        }
    };
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (sem, inside) = (sem.clone(), inside.clone());
            std::thread::spawn(move || work(&sem, &inside))
        })
        .collect();
    {
        let (sem, inside) = (sem.clone(), inside.clone());
        run("semaphore_threads_and_goroutines", 2, move || {
            let hs: Vec<_> = (0..4)
                .map(|_| {
                    let (sem, inside) = (sem.clone(), inside.clone());
                    spawn(move || work(&sem, &inside))
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
    sem.acquire(2);
    let t = Instant::now();
    assert!(!sem.acquire_timeout(1, Duration::from_millis(20)));
    assert!(t.elapsed() >= Duration::from_millis(20));
    assert_eq!(sem.held(), 2);
}

/// Fast paths (one CAS while nobody queues) and slow paths (the queue)
/// interleaved: acquire, try_acquire and acquire_timeout of mixed weights
/// from goroutines and a thread; the units held never exceed the size and
/// all come back.
#[test]
fn semaphore_stress_mixed() {
    let sem = Arc::new(Semaphore::new(5));
    let held = Arc::new(AtomicUsize::new(0));
    let work = |sem: &Semaphore, held: &AtomicUsize, seed: u64| {
        let mut r = seed;
        for i in 0..3000u64 {
            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;
            let w = (r % 3 + 1) as usize;
            let got = match i % 3 {
                0 => {
                    sem.acquire(w);
                    true
                }
                1 => sem.try_acquire(w),
                _ => sem.acquire_timeout(w, Duration::from_micros(200)),
            };
            if got {
                let h = held.fetch_add(w, Ordering::SeqCst) + w;
                assert!(h <= 5, "{h} units held of 5");
                if i % 16 == 0 {
                    gort_runtime::yield_now();
                }
                held.fetch_sub(w, Ordering::SeqCst);
                sem.release(w);
            }
        }
    };
    let t = {
        let (sem, held) = (sem.clone(), held.clone());
        std::thread::spawn(move || work(&sem, &held, 99))
    };
    let (s2, h2) = (sem.clone(), held.clone());
    run("semaphore_stress_mixed", 2, move || {
        let hs: Vec<_> = (1..=6u64)
            .map(|g| {
                let (sem, held) = (s2.clone(), h2.clone());
                spawn(move || work(&sem, &held, g * 7919))
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
    t.join().unwrap();
    assert_eq!(sem.held(), 0);
    assert!(sem.try_acquire(5), "units lost");
}
