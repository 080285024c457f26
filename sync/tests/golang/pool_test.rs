#![allow(non_snake_case)]
//! Pool: ports of Go's sync/pool_test.go (pinned to go1.27.3), with gort's
//! cleanup rounds in place of Go's GC, and plain threads.
//!
//! Not ported: TestNilPool (there is no nil pool), TestPoolGC and
//! TestPoolRelease (GC finalizers), TestPoolDequeue/TestPoolChain (gort's
//! per-P lists are not Go's lock-free dequeue; stealing is tested below).
//! Tests that count on when cleanup rounds happen hold SERIAL and turn the
//! automatic rounds off, as Go's do with `debug.SetGCPercent(-1)`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::{Chan, run};
use gort_runtime::spawn;
use gort_sync::{Pool, pool_cleanup, set_pool_cleanup_interval};

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    let g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    set_pool_cleanup_interval(None);
    g
}

/// Go: TestPool: with the P pinned (one P here), Put a, Put b, then Get a,
/// Get b, Get nothing. After 100 Puts, one cleanup round keeps the items
/// (victim cache) and a second drops them.
#[test]
fn TestPool() {
    let _s = serial();
    run("TestPool", 1, || {
        let p: Pool<&'static str> = Pool::new();
        assert_eq!(p.get(), None, "expected empty");
        p.put("a");
        p.put("b");
        assert_eq!(p.get(), Some("a"));
        assert_eq!(p.get(), Some("b"));
        assert_eq!(p.get(), None);

        for _ in 0..100 {
            p.put("c");
        }
        // After one round, the victim cache keeps them alive.
        p.cleanup();
        assert_eq!(p.get(), Some("c"), "want c after one cleanup");
        // A second round drops the victim cache.
        p.cleanup();
        assert_eq!(p.get(), None, "want nothing after a second cleanup");
    });
}

/// Go: TestPoolNew: New is called when the pool is empty.
#[test]
fn TestPoolNew() {
    let _s = serial();
    run("TestPoolNew", 1, || {
        let i = Arc::new(AtomicUsize::new(0));
        let i2 = i.clone();
        let p = Pool::with_new(move || i2.fetch_add(1, Ordering::SeqCst) + 1);
        assert_eq!(p.get(), Some(1));
        assert_eq!(p.get(), Some(2));
        p.put(42);
        assert_eq!(p.get(), Some(42));
        assert_eq!(p.get(), Some(3));
    });
}

/// Go: TestPoolStress: 10 goroutines × Put/Get; values are never corrupted
/// (here: every value got is one that was put, and no value is got twice
/// at once).
#[test]
fn TestPoolStress() {
    run("TestPoolStress", 2, || {
        const P: usize = 10;
        const N: usize = 100_000;
        let p: Arc<Pool<Box<usize>>> = Arc::new(Pool::new());
        let done = Arc::new(Chan::new());
        for g in 0..P {
            let (p, done) = (p.clone(), done.clone());
            spawn(move || {
                let mut v = Box::new(g);
                for _ in 0..N {
                    p.put(v);
                    v = p.get().unwrap_or_else(|| Box::new(g));
                    assert!(*v < P, "corrupted value {}", *v);
                }
                done.send(true);
            });
        }
        for _ in 0..P {
            done.recv();
        }
    });
}

/// No item is lost or handed out twice while goroutines on every P put
/// and take concurrently, stealing from each other's shared lists (Go:
/// getSlow). A pool may miss items held in another P's private slot, so
/// the rest is collected after a cleanup round, from the victim cache.
#[test]
fn pool_steals_from_other_ps() {
    let _s = serial();
    run("pool_steals_from_other_ps", 2, || {
        let p: Arc<Pool<u32>> = Arc::new(Pool::new());
        let hs: Vec<_> = (0..4)
            .map(|i| {
                let p = p.clone();
                spawn(move || {
                    for j in 0..50 {
                        p.put(i * 100 + j);
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        // Drain from goroutines on every P, concurrently.
        let got = Arc::new(gort_sync::Mutex::new(Vec::new()));
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let (p, got) = (p.clone(), got.clone());
                spawn(move || {
                    while let Some(v) = p.get() {
                        got.lock().push(v);
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        let mut got = std::mem::take(&mut *got.lock());
        assert!(!got.is_empty());
        p.cleanup();
        while let Some(v) = p.get() {
            got.push(v);
        }
        got.sort();
        let want: Vec<u32> = (0..4).flat_map(|i| (0..50).map(move |j| i * 100 + j)).collect();
        assert_eq!(got, want, "items lost or duplicated");
    });
}

/// Plain threads share the pool with goroutines.
#[test]
fn pool_threads_and_goroutines() {
    let _s = serial();
    let p: Arc<Pool<String>> = Arc::new(Pool::new());
    let t = {
        let p = p.clone();
        std::thread::spawn(move || {
            for i in 0..10 {
                p.put(format!("t{i}"));
            }
        })
    };
    t.join().unwrap();
    let p2 = p.clone();
    let n = run("pool_threads_and_goroutines", 2, move || {
        let mut n = 0;
        while let Some(s) = p2.get() {
            assert!(s.starts_with('t'));
            n += 1;
        }
        n
    });
    assert_eq!(n, 10, "a goroutine must find what a thread put");
    p.put("x".into());
    assert_eq!(p.get().as_deref(), Some("x"));
}

/// `pool_cleanup` ages every live pool, like Go's runtime.GC: items
/// survive one round and are dropped at the second, on the cleaning
/// thread.
#[test]
fn pool_cleanup_ages_every_pool() {
    let _s = serial();
    struct Probe(Arc<AtomicUsize>);
    impl Drop for Probe {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let drops = Arc::new(AtomicUsize::new(0));
    let a: Pool<Probe> = Pool::new();
    let b: Pool<Probe> = Pool::new();
    for _ in 0..3 {
        a.put(Probe(drops.clone()));
        b.put(Probe(drops.clone()));
    }
    pool_cleanup();
    assert_eq!(drops.load(Ordering::SeqCst), 0, "one round must keep the items");
    pool_cleanup();
    assert_eq!(drops.load(Ordering::SeqCst), 6, "two rounds must drop them");
    assert!(a.get().is_none() && b.get().is_none());
    // Dropping a pool drops its items and unregisters it.
    a.put(Probe(drops.clone()));
    drop(a);
    assert_eq!(drops.load(Ordering::SeqCst), 7);
    pool_cleanup();
}

/// The automatic rule: with a 20 ms period, items are gone within a few
/// periods without anyone touching the pool.
#[test]
fn pool_cleanup_runs_periodically() {
    let _s = serial();
    struct Probe(Arc<AtomicUsize>);
    impl Drop for Probe {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let drops = Arc::new(AtomicUsize::new(0));
    let p: Pool<Probe> = Pool::new();
    p.put(Probe(drops.clone()));
    set_pool_cleanup_interval(Some(Duration::from_millis(20)));
    let t = Instant::now();
    while drops.load(Ordering::SeqCst) == 0 && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(5));
    }
    set_pool_cleanup_interval(None);
    assert_eq!(drops.load(Ordering::SeqCst), 1, "the periodic cleanup did not drop the item");
}
