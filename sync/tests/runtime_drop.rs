//! Dropping a runtime whose goroutines are parked on channels, sync
//! primitives and timers unwinds their stacks: every value on those stacks
//! is dropped exactly once, and the primitives they were queued on keep
//! working for plain threads afterwards (no dangling waiter record).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gort_channels::{Chan, Timer, chan, select};
use gort_runtime::Runtime;
use gort_runtime::engine::WaitReason;
use gort_sync::{Barrier, Cond, Mutex, RwLock, Semaphore, WaitGroup};

/// Counts its drops.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Waits (bounded, 60 s) until `n` goroutines of `rt` are parked.
fn wait_parked(rt: &Runtime, n: usize) {
    let t = Instant::now();
    loop {
        let parked = rt.goroutines().iter().filter(|g| g.wait_reason.is_some()).count();
        if parked >= n {
            return;
        }
        assert!(t.elapsed() < Duration::from_secs(60), "only {parked} of {n} goroutines parked after 60 s");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn goroutines_parked_on_every_primitive_are_unwound_at_runtime_drop() {
    let drops = Arc::new(AtomicUsize::new(0));
    let sent_drops = Arc::new(AtomicUsize::new(0));
    let reached = Arc::new(AtomicUsize::new(0));
    let send_c: Chan<Counted> = chan(0);
    let recv_c: Chan<Counted> = chan(0);
    let (sel_a, sel_b): (Chan<u32>, Chan<u32>) = (chan(0), chan(0));
    let sel_send: Chan<Counted> = chan(0);
    let mutex = Arc::new(Mutex::new(0u32));
    let rw = Arc::new(RwLock::new(0u32));
    let wg = Arc::new(WaitGroup::new());
    let cond = Arc::new((Mutex::new(false), Cond::new()));
    let sem = Arc::new(Semaphore::new(1));
    let barrier = Arc::new(Barrier::new(2));
    // Held by this (plain) thread, so the goroutines park on them.
    let held = mutex.lock();
    let held_rw = rw.write();
    wg.add(1);
    sem.acquire(1);

    let rt = Runtime::builder().max_procs(2).build().unwrap();
    let mut n = 0;
    let mut go = |f: Box<dyn FnOnce() + Send>| {
        let (d, r) = (drops.clone(), reached.clone());
        n += 1;
        // Unjoined: dropping the runtime must not apply the panic policy.
        drop(rt.spawn(move || {
            let _on_stack = Counted(d);
            f();
            r.fetch_add(1, Ordering::SeqCst);
        }));
    };
    let (c, s) = (send_c.clone(), sent_drops.clone());
    go(Box::new(move || {
        let _ = c.send(Counted(s));
    }));
    let c = recv_c.clone();
    go(Box::new(move || drop(c.recv())));
    let (a, b) = (sel_a.clone(), sel_b.clone());
    go(Box::new(move || {
        select! {
            recv(a) -> _ => {},
            recv(b) -> _ => {},
        }
    }));
    let (a, c, s) = (sel_a.clone(), sel_send.clone(), sent_drops.clone());
    go(Box::new(move || {
        select! {
            recv(a) -> _ => {},
            send(c, Counted(s)) -> _ => {},
        }
    }));
    let m = mutex.clone();
    go(Box::new(move || drop(m.lock())));
    let l = rw.clone();
    go(Box::new(move || drop(l.read())));
    let w = wg.clone();
    go(Box::new(move || w.wait()));
    let cv = cond.clone();
    go(Box::new(move || {
        let g = cv.0.lock();
        drop(cv.1.wait(g));
    }));
    let s = sem.clone();
    go(Box::new(move || s.acquire(1)));
    let s = sem.clone();
    go(Box::new(move || {
        let _ = s.acquire_timeout(1, Duration::from_secs(3600));
    }));
    let b = barrier.clone();
    go(Box::new(move || {
        let _ = b.wait();
    }));
    go(Box::new(|| gort_runtime::sleep(Duration::from_secs(3600))));
    go(Box::new(|| {
        let _ = Timer::new(Duration::from_secs(3600)).c().recv();
    }));
    go(Box::new(|| {
        let _ = recv_timeout_never();
    }));
    let n = n;
    wait_parked(&rt, n);
    drop(rt);

    assert_eq!(drops.load(Ordering::SeqCst), n, "every goroutine's stack value dropped once");
    assert_eq!(sent_drops.load(Ordering::SeqCst), 2, "the values of the parked sends dropped once");
    assert_eq!(reached.load(Ordering::SeqCst), 0, "no goroutine ran on past its park");

    // The channels work from plain threads: no waiter of the dead
    // goroutines is left in their queues.
    for c in [&send_c, &recv_c, &sel_send] {
        assert!(c.try_recv().is_err(), "nothing to receive");
        let c2 = c.clone();
        let t = std::thread::spawn(move || c2.send(Counted(Arc::new(AtomicUsize::new(0)))).is_ok());
        assert!(c.recv().is_some());
        assert!(t.join().unwrap());
        c.close();
        assert!(c.recv().is_none());
    }
    for c in [&sel_a, &sel_b] {
        let c2 = c.clone();
        let t = std::thread::spawn(move || c2.send(7).is_ok());
        assert_eq!(c.recv(), Some(7));
        assert!(t.join().unwrap());
        c.close();
    }
    // The sync primitives with their own guards keep their counts right.
    // (Mutex, RwLock and WaitGroup unlink their dead waiters from the
    // runtime semaphore, but their own counters still count them: see
    // the runtime's unwind module docs.)
    drop(held);
    drop(held_rw);
    sem.release(1);
    assert!(sem.try_acquire(1), "no dead waiter holds or queues for the unit");
    sem.release(1);
    assert_eq!(barrier.number_waiting(), 0, "the dead party left its round");
    let b2 = barrier.clone();
    let t = std::thread::spawn(move || b2.wait());
    assert_eq!(barrier.wait(), Ok(()));
    assert_eq!(t.join().unwrap(), Ok(()));
    cond.1.broadcast();
    wg.done();
    wg.wait();
}

/// A receive with a deadline far away (the timed park path).
fn recv_timeout_never() -> Option<u32> {
    let c: Chan<u32> = chan(0);
    c.recv_timeout(Duration::from_secs(3600)).ok()
}

/// A goroutine parked through the plain public `park` (third-party code
/// that cleans nothing up) is left parked, and the others are unwound.
#[test]
fn a_goroutine_parked_with_the_plain_park_is_left_parked() {
    let drops = Arc::new(AtomicUsize::new(0));
    let rt = Runtime::builder().max_procs(1).build().unwrap();
    let d = drops.clone();
    drop(rt.spawn(move || {
        let _kept = Counted(d);
        gort_runtime::engine::park(WaitReason::Other, |_| true);
    }));
    let d = drops.clone();
    drop(rt.spawn(move || {
        let _unwound = Counted(d);
        gort_runtime::sleep(Duration::from_secs(3600));
    }));
    wait_parked(&rt, 2);
    drop(rt);
    assert_eq!(drops.load(Ordering::SeqCst), 1, "only the guarded park was unwound");
}
