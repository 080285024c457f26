//! Unit tests of the timer heap: ordering and removal, firing only what
//! is due, callbacks that stop timers, and periodic timers (saturation,
//! next tick, skipped ticks), driven on a `Timers` without a runtime.

use super::*;
use std::sync::atomic::AtomicUsize;

fn count(arg: usize, _: i64) {
    // SAFETY: tests pass the address of an AtomicUsize that outlives
    // the timer.
    unsafe { &*(arg as *const AtomicUsize) }.fetch_add(1, Ordering::SeqCst);
}

fn add(ts: &Timers, n: Pin<&TimerNode>, when: i64) {
    n.lock.lock();
    ts.add(&n, when, 0, false);
    // SAFETY: locked just above.
    unsafe { n.lock.unlock() };
}

#[test]
fn heap_orders_and_removes() {
    let ts = Timers::new();
    let nodes: Vec<_> = (0..100).map(|_| Box::pin(TimerNode::new(|_, _| {}, 0))).collect();
    for (i, n) in nodes.iter().enumerate() {
        add(&ts, n.as_ref(), 1000 - i as i64 * 7 % 300);
    }
    assert_eq!(ts.len(), 100);
    for n in nodes.iter().step_by(3) {
        assert!(n.stop());
    }
    assert_eq!(ts.len(), 66);
    // The heap property holds with correct back-indices.
    let h = ts.inner.lock();
    for (i, e) in h.entries.iter().enumerate() {
        // SAFETY: nodes in the heap are alive; we hold the lock.
        assert_eq!(unsafe { &*e.node }.idx.get(), i);
        if i > 0 {
            assert!(h.entries[(i - 1) / HEAP_N].when <= e.when);
        }
    }
    drop(h);
    assert_eq!(ts.wake_time(), h_min(&ts));
}

fn h_min(ts: &Timers) -> i64 {
    ts.inner.lock().entries.iter().map(|e| e.when).min().unwrap_or(0)
}

#[test]
fn check_fires_expired_only() {
    let ts = Timers::new();
    let fired = AtomicUsize::new(0);
    let a = Box::pin(TimerNode::new(count, &fired as *const _ as usize));
    let b = Box::pin(TimerNode::new(count, &fired as *const _ as usize));
    add(&ts, a.as_ref(), 10);
    add(&ts, b.as_ref(), 1_000);
    let (_, next, ran) = ts.check_ran(500);
    assert!(ran);
    assert_eq!(next, 1_000);
    assert_eq!(fired.load(Ordering::SeqCst), 1);
    assert!(!a.is_armed());
    assert!(b.is_armed());
    assert!(!a.stop(), "fired timers are not armed");
    assert!(b.stop());
    assert_eq!(ts.wake_time(), 0);
}

/// `check(0)` reads the precise clock only for a timer within a second of
/// the coarse clock: a far one (a server's 30 s header timeout on every
/// connection) leaves `now` unread (0) and only reports the deadline.
#[test]
fn check_leaves_the_clock_unread_for_far_timers() {
    let ts = Timers::new();
    let fired = AtomicUsize::new(0);
    let a = Box::pin(TimerNode::new(count, &fired as *const _ as usize));
    let far = sys::nanotime() + 30 * RUN_IF_DUE_FAR_NS;
    add(&ts, a.as_ref(), far);
    assert_eq!(ts.check(0), (0, far));
    assert!(a.stop());
    let near = sys::nanotime() + RUN_IF_DUE_FAR_NS / 2;
    add(&ts, a.as_ref(), near);
    let (now, next) = ts.check(0);
    assert!(now != 0 && now < near, "a near timer reads the clock ({now})");
    assert_eq!(next, near);
    let (_, _, ran) = ts.check_ran(near);
    assert!(ran, "due at its deadline");
    assert_eq!(fired.load(Ordering::SeqCst), 1);
}

fn stop_other(arg: usize, _: i64) {
    // SAFETY: the test passes a TimerNode that outlives the callback.
    unsafe { &*(arg as *const TimerNode) }.stop();
}

#[test]
fn a_callback_may_stop_a_timer_due_at_the_same_time() {
    let ts = Timers::new();
    let fired = AtomicUsize::new(0);
    let b = Box::pin(TimerNode::new(count, &fired as *const _ as usize));
    let a = Box::pin(TimerNode::new(stop_other, &*b as *const TimerNode as usize));
    add(&ts, a.as_ref(), 100);
    add(&ts, b.as_ref(), 100);
    // Must not hang: b is not counted as running while a's callback
    // stops it.
    ts.check(200);
    assert_eq!(fired.load(Ordering::SeqCst), 0, "b was stopped before it ran");
    assert_eq!(ts.wake_time(), 0);
}

#[test]
fn a_huge_period_saturates_instead_of_wrapping() {
    let ts = Timers::new();
    let fired = AtomicUsize::new(0);
    let a = Box::pin(TimerNode::new(count, &fired as *const _ as usize));
    a.lock.lock();
    ts.add(&a, 100, i64::MAX, false);
    // SAFETY: locked above.
    unsafe { a.lock.unlock() };
    ts.check(1_000);
    assert_eq!(fired.load(Ordering::SeqCst), 1);
    assert_eq!(ts.wake_time(), i64::MAX, "next tick saturates far in the future");
    assert!(a.stop());
}

fn arm(ts: &Timers, n: Pin<&TimerNode>, when: i64, period: i64) {
    n.lock.lock();
    ts.add(&n, when, period, false);
    // SAFETY: locked just above.
    unsafe { n.lock.unlock() };
}

#[test]
fn run_if_due_runs_a_due_timer_once_and_leaves_others() {
    let ts = Timers::new();
    let fired = AtomicUsize::new(0);
    let arg = &fired as *const _ as usize;
    let (a, b, c) = (
        Box::pin(TimerNode::new(count, arg)),
        Box::pin(TimerNode::new(count, arg)),
        Box::pin(TimerNode::new(count, arg)),
    );
    let now = sys::nanotime();
    arm(&ts, a.as_ref(), now - 1_000, 0);
    arm(&ts, b.as_ref(), now + 3_600_000_000_000, 0);
    // A due node below the heap's top: run_if_due must find it by index.
    arm(&ts, c.as_ref(), now - 500, 0);
    assert!(c.run_if_due());
    assert!(!c.is_armed());
    assert_eq!(fired.load(Ordering::SeqCst), 1);
    assert!(!c.run_if_due(), "a fired one-shot timer does not run again");
    assert!(!b.run_if_due(), "not due for an hour (the coarse clock says so)");
    let d = Box::pin(TimerNode::new(count, arg));
    arm(&ts, d.as_ref(), sys::nanotime() + 200_000_000, 0);
    assert!(!d.run_if_due(), "not due for 200 ms (the precise clock says so)");
    assert!(d.stop());
    assert!(b.is_armed());
    assert!(a.run_if_due());
    assert_eq!(fired.load(Ordering::SeqCst), 2);
    assert_eq!(ts.len(), 1);
    assert_eq!(ts.wake_time(), now + 3_600_000_000_000);
    assert!(b.stop());
}

#[test]
fn run_if_due_moves_a_periodic_timer_to_its_next_tick() {
    let ts = Timers::new();
    let fired = AtomicUsize::new(0);
    let a = Box::pin(TimerNode::new(count, &fired as *const _ as usize));
    let now = sys::nanotime();
    let period = 3_600_000_000_000;
    arm(&ts, a.as_ref(), now - 10, period);
    assert!(a.run_if_due());
    assert!(!a.run_if_due(), "the next tick is an hour away");
    assert_eq!(fired.load(Ordering::SeqCst), 1);
    assert!(a.is_armed());
    assert_eq!(ts.wake_time(), now - 10 + period);
    assert!(a.stop());
}

#[test]
fn periodic_timer_skips_missed_ticks() {
    let ts = Timers::new();
    let fired = AtomicUsize::new(0);
    let a = Box::pin(TimerNode::new(count, &fired as *const _ as usize));
    a.lock.lock();
    ts.add(&a, 100, 50, false);
    // SAFETY: locked above.
    unsafe { a.lock.unlock() };
    ts.check(1_000);
    assert_eq!(fired.load(Ordering::SeqCst), 1, "one tick, not 19");
    assert_eq!(ts.wake_time(), 1_050);
    assert!(a.stop());
}
