//! `after_func`: Go's `time.AfterFunc` with its `Stop`/`Reset` semantics.
//! Go: time/sleep_test.go (TestAfterFunc, TestAfterStop, TestReset) in
//! spirit; the checks here are causal (values received, counts), never
//! timed upper bounds.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gort_channels::*;

const HOUR: Duration = Duration::from_secs(3600);

/// A function that counts its calls and reports each on a channel.
fn counter() -> (Arc<AtomicUsize>, Chan<usize>, impl Fn() + Send + Sync + 'static) {
    let n = Arc::new(AtomicUsize::new(0));
    let ch = chan::<usize>(64);
    let (n2, tx) = (n.clone(), ch.sender());
    (n, ch, move || {
        let k = n2.fetch_add(1, Ordering::SeqCst) + 1;
        tx.try_send(k).unwrap();
    })
}

fn recv(ch: &Chan<usize>) -> usize {
    ch.recv_timeout(Duration::from_secs(10)).expect("the function did not run within 10 s")
}

#[test]
fn runs_in_its_own_goroutine_after_the_duration() {
    let ch = chan::<(Option<u64>, Duration)>(1);
    let tx = ch.sender();
    let start = Instant::now();
    let caller = std::thread::current().id();
    let _t = after_func(Duration::from_millis(20), move || {
        let me = gort_runtime::current().map(|g| g.id());
        assert_ne!(std::thread::current().id(), caller);
        tx.send((me, start.elapsed())).unwrap();
    });
    let (id, after) = ch.recv().unwrap();
    assert!(id.is_some(), "f runs in a goroutine");
    assert!(after >= Duration::from_millis(20), "fired early: {after:?}");
}

#[test]
fn zero_duration_runs_at_once() {
    let (n, ch, f) = counter();
    let _t = after_func(Duration::ZERO, f);
    assert_eq!(recv(&ch), 1);
    assert_eq!(n.load(Ordering::SeqCst), 1);
}

#[test]
fn stop_before_firing_prevents_the_call() {
    let (n, ch, f) = counter();
    let t = after_func(HOUR, f);
    assert!(t.stop(), "pending: stop stops it");
    assert!(!t.stop(), "already stopped");
    // Reset after a stop schedules it again (Go: returns false).
    assert!(!t.reset(Duration::from_millis(1)));
    assert_eq!(recv(&ch), 1, "ran once, for the reset only");
    assert!(!t.stop(), "fired: stop is too late");
    assert_eq!(n.load(Ordering::SeqCst), 1);
}

#[test]
fn reset_of_a_pending_timer_reschedules_it() {
    let (n, ch, f) = counter();
    let t = after_func(HOUR, f);
    assert!(t.reset(Duration::from_millis(1)), "pending: reset reschedules");
    assert_eq!(recv(&ch), 1);
    // After it fired, reset makes it run once more.
    assert!(!t.reset(Duration::ZERO));
    assert_eq!(recv(&ch), 2);
    assert_eq!(n.load(Ordering::SeqCst), 2);
}

#[test]
fn dropping_the_timer_does_not_stop_it() {
    let (_n, ch, f) = counter();
    drop(after_func(Duration::from_millis(1), f));
    assert_eq!(recv(&ch), 1, "Go's discarded *Timer still fires");
}

#[test]
fn stop_does_not_wait_for_the_function() {
    // f blocks until released; stop returns false at once meanwhile.
    let started = chan::<()>(1);
    let release = chan::<()>(0);
    let (s, r) = (started.sender(), release.receiver());
    let t = after_func(Duration::ZERO, move || {
        s.send(()).unwrap();
        r.recv();
    });
    started.recv().unwrap();
    assert!(!t.stop());
    release.close();
}

/// Many timers, each stopped once while it may be firing: `stop` returns
/// false exactly for those whose function ran, and every function (with
/// the timer's allocation) is freed at the end: the reference the armed
/// timer holds is released exactly once, by the callback or by `stop`.
#[test]
fn stop_racing_the_fire_counts_every_call_and_frees_every_timer() {
    struct Tracked(Arc<AtomicUsize>);
    impl Drop for Tracked {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    const N: usize = 5_000;
    let ran = Arc::new(AtomicUsize::new(0));
    let freed = Arc::new(AtomicUsize::new(0));
    let done = chan::<()>(N);
    let mut late = 0;
    let h = gort_runtime::spawn({
        let (ran, freed, done) = (ran.clone(), freed.clone(), done.clone());
        move || {
            let mut late = 0;
            for i in 0..N {
                let (ran, tx) = (ran.clone(), done.sender());
                let tracked = Tracked(freed.clone());
                let t = after_func(Duration::from_micros((i % 50) as u64), move || {
                    let _keep = &tracked;
                    ran.fetch_add(1, Ordering::SeqCst);
                    tx.send(()).unwrap();
                });
                if i % 3 == 0 {
                    gort_runtime::yield_now();
                }
                if !t.stop() {
                    late += 1;
                }
            }
            late
        }
    });
    late += h.join().unwrap();
    for _ in 0..late {
        done.recv_timeout(Duration::from_secs(10)).expect("a fired function never ran");
    }
    assert_eq!(ran.load(Ordering::SeqCst), late, "stop returned false exactly when f ran");
    // Every goroutine that ran f has returned once its send is received;
    // give the last ones a moment to drop their reference.
    let deadline = Instant::now() + Duration::from_secs(10);
    while freed.load(Ordering::SeqCst) < N && Instant::now() < deadline {
        gort_runtime::sleep(Duration::from_millis(1));
    }
    assert_eq!(freed.load(Ordering::SeqCst), N, "every timer's function was freed");
}
