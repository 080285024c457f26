//! An expired timer's channel is ready at once, as in Go 1.23: a
//! non-blocking receive or a select with `default` after the deadline takes
//! the timer's value every time, whether or not the scheduler has looked at
//! the timer heap yet (Go: `maybeRunChan`, called from `chanrecv` and
//! `selectgo`). `len()` and `cap()` stay 0, as Go's `chanlen`/`chancap`
//! report for timer channels. And Go 1.23's `stop`/`reset` semantics hold
//! for such timers: a value not yet received counts as not fired.
//!
//! The goroutine cases run on a one-P runtime while the goroutine spins
//! past the deadline: no other P can run the timer heap meanwhile, so only
//! the receive itself can make the value ready.

use std::time::{Duration, Instant};

use gort_channels::*;
use gort_runtime::Runtime;

const TRIES: usize = 100;

/// Spins (without yielding, so the scheduler gets no chance to run timers
/// on this P) until `d` has passed since `from`. Callers start counting
/// after arming returns: on a loaded machine the arming itself may be
/// descheduled for long, and the deadline counts from inside it.
fn spin_until(from: Instant, d: Duration) {
    while from.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// Runs `f` as a goroutine of a one-P runtime, and on a plain thread.
fn in_goroutine_and_thread(f: fn()) {
    let rt = Runtime::builder().max_procs(1).build().unwrap();
    rt.block_on(f);
    f();
}

#[test]
fn after_zero_takes_the_timer_case_over_default_every_time() {
    in_goroutine_and_thread(|| {
        for i in 0..TRIES {
            let ch = after(Duration::ZERO);
            select! {
                recv(ch) -> v => assert!(v.is_some(), "try {i}: a timer channel is never closed"),
                default => panic!("try {i}: select took default over an expired after(0)"),
            }
        }
    });
}

#[test]
fn after_zero_is_ready_for_try_recv_and_among_other_cases() {
    in_goroutine_and_thread(|| {
        let never = chan::<u8>(0);
        for i in 0..TRIES {
            let start = Instant::now();
            let t = after(Duration::ZERO).try_recv();
            assert!(t.is_ok(), "try {i}: try_recv on an expired after(0) found nothing");
            assert!(t.unwrap() <= Instant::now());
            let t = after(Duration::ZERO);
            select! {
                recv(never) -> _ => unreachable!(),
                recv(t) -> v => assert!(v.unwrap() >= start - Duration::from_secs(1)),
                default => panic!("try {i}: select took default over an expired after(0)"),
            }
        }
    });
}

#[test]
fn an_expired_timer_is_ready_for_try_recv_select_default_and_len_stays_zero() {
    in_goroutine_and_thread(|| {
        let d = Duration::from_micros(50);
        for i in 0..TRIES {
            let start = Instant::now();
            let t = Timer::new(d);
            // The deadline is at most `d` after `new` returned.
            spin_until(Instant::now(), 2 * d);
            assert_eq!(t.c().len(), 0, "a timer channel looks unbuffered (Go's chanlen)");
            assert_eq!(t.c().cap(), 0);
            assert!(t.c().is_empty());
            if i % 2 == 0 {
                let v = t.c().try_recv();
                assert!(v.is_ok(), "try {i}: try_recv on an expired Timer found nothing");
                assert!(v.unwrap() >= start + d, "the value is the fire time, not earlier");
            } else {
                select! {
                    recv(t.c()) -> v => assert!(v.unwrap() >= start + d),
                    default => panic!("try {i}: select took default over an expired Timer"),
                }
            }
            assert!(t.c().try_recv().is_err(), "one value per arming");
            // Received: from the caller's view it had fired.
            assert!(!t.stop());
            // Reset to the past: ready again at once.
            assert!(!t.reset(Duration::ZERO));
            assert!(t.c().try_recv().is_ok(), "try {i}: a timer reset to 0 is ready at once");
        }
    });
}

#[test]
fn an_expired_ticker_is_ready_and_ticks_stay_a_period_apart() {
    in_goroutine_and_thread(|| {
        let d = Duration::from_micros(200);
        for i in 0..TRIES {
            let tk = Ticker::new(d);
            spin_until(Instant::now(), 2 * d);
            assert_eq!(tk.c().len(), 0);
            let t1 = tk.c().try_recv().unwrap_or_else(|_| panic!("try {i}: expired Ticker not ready"));
            let t1_seen = Instant::now();
            spin_until(t1_seen, 2 * d);
            let t2 = select! {
                recv(tk.c()) -> v => v.unwrap(),
                default => panic!("try {i}: select took default over an expired Ticker"),
            };
            // Values are the ticks' scheduled times, read off two clocks: allow
            // for jitter in the reading, not for a tick repeated.
            assert!(t2 >= t1 + d / 2, "try {i}: ticks {t1:?} and {t2:?} less than a period apart");
            tk.stop();
        }
    });
}

#[test]
fn stop_and_reset_of_an_expired_unreceived_timer_keep_go_semantics() {
    in_goroutine_and_thread(|| {
        let d = Duration::from_micros(50);
        for i in 0..TRIES {
            let t = Timer::new(d);
            spin_until(Instant::now(), 2 * d);
            // Expired but not received: stop says it had not fired, and no
            // value of that arming is received afterwards.
            if i % 2 == 0 {
                assert!(t.stop(), "try {i}: stop of an expired, unreceived timer returns true");
            } else {
                assert!(t.reset(Duration::from_secs(3600)), "try {i}: reset returns true likewise");
            }
            assert!(t.c().try_recv().is_err(), "try {i}: a stale value after stop/reset");
            select! {
                recv(t.c()) -> _ => panic!("try {i}: a stale value after stop/reset"),
                default => {}
            }
            assert!(!t.stop() || i % 2 == 1, "stopped twice");
        }
    });
}

#[test]
fn a_stopped_or_reset_expired_ticker_delivers_nothing_stale() {
    in_goroutine_and_thread(|| {
        let d = Duration::from_micros(100);
        for i in 0..TRIES {
            let tk = Ticker::new(d);
            spin_until(Instant::now(), 3 * d);
            if i % 2 == 0 {
                tk.stop();
                // Several periods later: nothing, stopped.
                spin_until(Instant::now(), 3 * d);
            } else {
                tk.reset(Duration::from_secs(3600));
            }
            assert!(tk.c().try_recv().is_err(), "try {i}: a tick after stop/reset");
            select! {
                recv(tk.c()) -> _ => panic!("try {i}: a tick after stop/reset"),
                default => {}
            }
        }
    });
}

#[test]
fn a_blocking_receive_on_an_expired_timer_returns_at_once() {
    in_goroutine_and_thread(|| {
        for _ in 0..TRIES {
            let v = after(Duration::ZERO).recv();
            assert!(v.is_some());
            let t = Timer::new(Duration::ZERO);
            assert!(t.c().recv_timeout(Duration::from_secs(10)).is_ok());
        }
    });
}
