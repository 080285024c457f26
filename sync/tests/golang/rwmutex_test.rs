#![allow(non_snake_case)]
//! RwLock: ports of Go's sync/rwmutex_test.go (pinned to go1.27.3), plus
//! writer preference and plain threads.

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::time::Duration;

use crate::common::{Chan, run};
use gort_runtime::spawn;
use gort_sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

fn do_test_parallel_readers(num_readers: usize, procs: usize) {
    run("TestParallelReaders", procs, move || {
        let m = Arc::new(RwLock::new(()));
        let clocked = Arc::new(Chan::new());
        let cunlock = Arc::new(Chan::new());
        let cdone = Arc::new(Chan::new());
        for _ in 0..num_readers {
            let (m, clocked, cunlock, cdone) = (m.clone(), clocked.clone(), cunlock.clone(), cdone.clone());
            spawn(move || {
                let g = m.read();
                clocked.send(true);
                cunlock.recv();
                drop(g);
                cdone.send(true);
            });
        }
        // Wait for all parallel read locks to succeed.
        for _ in 0..num_readers {
            clocked.recv();
        }
        for _ in 0..num_readers {
            cunlock.send(true);
        }
        for _ in 0..num_readers {
            cdone.recv();
        }
    });
}

/// Go: TestParallelReaders: 1, 3 or 4 readers hold the read lock at once.
#[test]
fn TestParallelReaders() {
    do_test_parallel_readers(1, 4);
    do_test_parallel_readers(3, 4);
    do_test_parallel_readers(4, 2);
}

fn reader(rwm: &RwLock<()>, iterations: usize, activity: &AtomicI32) {
    for _ in 0..iterations {
        let g = rwm.read();
        let n = activity.fetch_add(1, Ordering::SeqCst) + 1;
        assert!((1..10000).contains(&n), "wlock({n})");
        for i in 0..100 {
            std::hint::black_box(i);
        }
        activity.fetch_sub(1, Ordering::SeqCst);
        drop(g);
    }
}

fn writer(rwm: &RwLock<()>, iterations: usize, activity: &AtomicI32) {
    for _ in 0..iterations {
        let g = rwm.write();
        let n = activity.fetch_add(10000, Ordering::SeqCst) + 10000;
        assert_eq!(n, 10000, "wlock({n})");
        for i in 0..100 {
            std::hint::black_box(i);
        }
        activity.fetch_sub(10000, Ordering::SeqCst);
        drop(g);
    }
}

/// Go: HammerRWMutex: 2 writers and `readers` readers; the activity
/// counter proves writers exclusive and readers only shared.
fn hammer_rw_mutex(procs: usize, readers: usize, iterations: usize) {
    run("TestRWMutex", procs, move || {
        let activity = Arc::new(AtomicI32::new(0));
        let rwm = Arc::new(RwLock::new(()));
        let mut hs = Vec::new();
        let w = |hs: &mut Vec<_>| {
            let (rwm, activity) = (rwm.clone(), activity.clone());
            hs.push(spawn(move || writer(&rwm, iterations, &activity)));
        };
        let r = |hs: &mut Vec<_>| {
            let (rwm, activity) = (rwm.clone(), activity.clone());
            hs.push(spawn(move || reader(&rwm, iterations, &activity)));
        };
        w(&mut hs);
        for _ in 0..readers / 2 {
            r(&mut hs);
        }
        w(&mut hs);
        for _ in readers / 2..readers {
            r(&mut hs);
        }
        for h in hs {
            h.join().unwrap();
        }
    });
}

/// Go: TestRWMutex: the Try variants, then HammerRWMutex over
/// GOMAXPROCS ∈ {1, 4, 10} and readers ∈ {1, 3, 10, 5}.
#[test]
fn TestRWMutex() {
    let m = RwLock::new(());
    let w = m.write();
    assert!(m.try_write().is_none(), "TryLock succeeded with mutex locked");
    assert!(m.try_read().is_none(), "TryRLock succeeded with mutex locked");
    drop(w);
    let w = m.try_write().expect("TryLock failed with mutex unlocked");
    drop(w);
    let r1 = m.try_read().expect("TryRLock failed with mutex unlocked");
    let r2 = m.try_read().expect("TryRLock failed with mutex rlocked");
    assert!(m.try_write().is_none(), "TryLock succeeded with mutex rlocked");
    drop(r1);
    drop(r2);

    let n = 1000;
    for (procs, readers) in
        [(1, 1), (1, 3), (1, 10), (4, 1), (4, 3), (4, 10), (10, 1), (10, 3), (10, 10), (10, 5)]
    {
        hammer_rw_mutex(procs, readers, n);
    }
}

static WL: RwLock<()> = RwLock::new(());

/// Go: TestRLocker: read locks taken by one goroutine and released by
/// another still exclude the writer; the writer excludes readers. Go's
/// `RLocker()` view is what a read guard is here.
#[test]
fn TestRLocker() {
    run("TestRLocker", 2, || {
        let wlocked: Arc<Chan<RwLockWriteGuard<'static, ()>>> = Arc::new(Chan::new());
        let rlocked: Arc<Chan<(RwLockReadGuard<'static, ()>, RwLockReadGuard<'static, ()>)>> =
            Arc::new(Chan::new());
        let n = 10;
        {
            let (wlocked, rlocked) = (wlocked.clone(), rlocked.clone());
            spawn(move || {
                for _ in 0..n {
                    let a = WL.read();
                    let b = WL.read();
                    rlocked.send((a, b));
                    wlocked.send(WL.write());
                }
            });
        }
        for _ in 0..n {
            let (a, b) = rlocked.recv();
            drop(a);
            gort_runtime::sleep(Duration::from_millis(1));
            assert!(wlocked.try_recv().is_none(), "read guard didn't read-lock it");
            drop(b);
            let w = wlocked.recv();
            assert!(rlocked.try_recv().is_none(), "read guard didn't respect the write lock");
            drop(w);
        }
    });
}

/// Writer preference: once a writer waits, new readers wait behind it
/// (readers already inside are not disturbed), and the readers that
/// queued during the write are all let in when it ends.
#[test]
fn rwlock_pending_writer_blocks_new_readers() {
    run("rwlock_pending_writer_blocks_new_readers", 2, || {
        static L: RwLock<u32> = RwLock::new(0);
        let first = L.read();
        let writer_in = Arc::new(AtomicUsize::new(0));
        let w = {
            let writer_in = writer_in.clone();
            spawn(move || {
                let mut g = L.write();
                writer_in.store(1, Ordering::SeqCst);
                *g += 1;
            })
        };
        // Let the writer announce itself.
        while L.try_read().is_some() {
            gort_runtime::sleep(Duration::from_micros(100));
        }
        assert!(L.try_read().is_none(), "a new reader got in past a pending writer");
        let late: Vec<_> = (0..3)
            .map(|_| {
                let writer_in = writer_in.clone();
                spawn(move || {
                    let g = L.read();
                    assert_eq!(writer_in.load(Ordering::SeqCst), 1, "reader overtook the pending writer");
                    *g
                })
            })
            .collect();
        gort_runtime::sleep(Duration::from_millis(5));
        assert_eq!(writer_in.load(Ordering::SeqCst), 0, "writer got in while a reader held the lock");
        drop(first);
        w.join().unwrap();
        for h in late {
            assert_eq!(h.join().unwrap(), 1);
        }
    });
}

/// Readers and writers on plain threads and goroutines at once.
#[test]
fn rwlock_goroutines_and_threads() {
    let l = Arc::new(RwLock::new((0u64, 0u64)));
    let work = |l: &RwLock<(u64, u64)>| {
        for i in 0..5000 {
            if i % 10 == 0 {
                let mut g = l.write();
                g.0 += 1;
                g.1 += 1;
            } else {
                let g = l.read();
                assert_eq!(g.0, g.1, "torn write seen by a reader");
            }
        }
    };
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let l = l.clone();
            std::thread::spawn(move || work(&l))
        })
        .collect();
    {
        let l = l.clone();
        run("rwlock_goroutines_and_threads", 2, move || {
            let hs: Vec<_> = (0..4)
                .map(|_| {
                    let l = l.clone();
                    spawn(move || work(&l))
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
    assert_eq!(*l.read(), (3000, 3000));
}
