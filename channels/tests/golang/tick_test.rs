//! time/tick_test.go (go1.27.3).
//!
//! Ported: TestTicker, TestTeardown, TestTick (Go's nil channel for
//! `Tick(d <= 0)` is a channel that never receives), TestNewTickerLtZeroDuration
//! and TestTickerResetLtZeroDuration (zero, the only non-positive
//! `Duration`), TestChan (Go's `testTimerChan`, for Timer and Ticker),
//! TestAfterTimes, TestTickTimes.
//!
//! TestTicker, TestAfterTimes and TestTickTimes run in a synctest bubble:
//! their properties (tick spacing across a reset, the value being the fire
//! time) are checked exactly on the bubble's clock, where Go's versions
//! allow slop and retry on the real one.
//!
//! Left out: TestTickerStopWithDirectInitialization and TestLongAdjustTimers
//! (a Ticker built around a user's channel cannot exist in gort),
//! TestTimerGC (Go's GC; gort's equivalent, that dropping the last handle
//! disarms the timer, is in sleep_test's 100,000-timer test), TestManualTicker
//! (same reason as the first two).

use std::time::{Duration, Instant};

use gort_channels::{Receiver, Ticker, Timer, TryRecvError, chan, select, tick};
use gort_runtime::testing::synctest;
use gort_runtime::time::{now, since};
use gort_runtime::{sleep, spawn};

use crate::{go_test, ms};

/// In a synctest bubble: Go's version allows 30% slop and retries with
/// longer ticks on a busy machine; on the bubble's clock every tick lands
/// exactly on its period, so both of Go's settings run and the times are
/// checked exactly.
#[test]
fn TestTicker() {
    go_test(2, || {
        synctest::test(|| {
            for (count, delta) in [(10u32, ms(20)), (8, Duration::from_secs(1))] {
                let ticker = Ticker::new(delta);
                let t0 = now();
                for k in 1..=count / 2 {
                    assert_eq!(ticker.c().recv(), Some(t0 + delta * k));
                }
                let t1 = now();
                ticker.reset(delta * 2);
                for k in 1..=count - count / 2 {
                    assert_eq!(ticker.c().recv(), Some(t1 + delta * 2 * k));
                }
                ticker.stop();
                assert_eq!(since(t0), 3 * delta * (count / 2));
                // The ticker stopped.
                sleep(2 * delta);
                assert!(ticker.c().try_recv().is_err(), "Ticker did not shut down");
            }
        })
    });
}

#[test]
fn TestTeardown() {
    go_test(2, || {
        for _ in 0..3 {
            let ticker = Ticker::new(ms(20));
            ticker.c().recv();
            ticker.stop();
        }
    });
}

#[test]
fn TestTick() {
    let c = tick(Duration::ZERO);
    assert!(c.recv_timeout(ms(20)).is_err(), "tick(0) must never receive, like Go's nil channel");
}

#[test]
fn TestNewTickerLtZeroDuration() {
    let r = std::panic::catch_unwind(|| Ticker::new(Duration::ZERO));
    let msg = *r.expect_err("Ticker::new(0) should have panicked").downcast::<&str>().unwrap();
    assert_eq!(msg, "non-positive interval for NewTicker");
}

#[test]
fn TestTickerResetLtZeroDuration() {
    let tk = Ticker::new(Duration::from_secs(1));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| tk.reset(Duration::ZERO)));
    let msg = *r.expect_err("Ticker::reset(0) should have panicked").downcast::<&str>().unwrap();
    assert_eq!(msg, "non-positive interval for Ticker.Reset");
}

/// Timer and Ticker behind one interface, as Go's test does (`tickerTimer`
/// gives a Ticker bool results).
trait TestTimer: Send + Sync {
    fn stop(&self) -> bool;
    fn reset(&self, d: Duration) -> bool;
    fn c(&self) -> &Receiver<Instant>;
    fn is_ticker(&self) -> bool;
}

impl TestTimer for Timer {
    fn stop(&self) -> bool {
        Timer::stop(self)
    }
    fn reset(&self, d: Duration) -> bool {
        Timer::reset(self, d.max(Duration::from_nanos(1)))
    }
    fn c(&self) -> &Receiver<Instant> {
        Timer::c(self)
    }
    fn is_ticker(&self) -> bool {
        false
    }
}

struct TickerTimer {
    t: Ticker,
    stopped: std::sync::atomic::AtomicBool,
}

impl TestTimer for TickerTimer {
    fn stop(&self) -> bool {
        let pending = !self.stopped.swap(true, std::sync::atomic::Ordering::SeqCst);
        self.t.stop();
        pending
    }
    fn reset(&self, d: Duration) -> bool {
        let pending = !self.stopped.swap(false, std::sync::atomic::Ordering::SeqCst);
        self.t.reset(d.max(Duration::from_nanos(1)));
        pending
    }
    fn c(&self) -> &Receiver<Instant> {
        self.t.c()
    }
    fn is_ticker(&self) -> bool {
        true
    }
}

/// Go's `testTimerChan`.
fn test_timer_chan(tim: std::sync::Arc<dyn TestTimer>) {
    let sched = ms(10);
    let tries = 100;
    let c = tim.c().clone();
    let no_tick = |c: &Receiver<Instant>| assert!(c.try_recv().is_err(), "extra tick");
    let assert_tick = |c: &Receiver<Instant>| {
        if c.try_recv().is_ok() {
            return;
        }
        for _ in 0..tries {
            sleep(sched);
            if c.try_recv().is_ok() {
                return;
            }
        }
        panic!("missing tick");
    };
    // Go's `case <-done:` fires on a value or on close.
    let is_done = |d: &gort_channels::Chan<bool>| d.try_recv() != Err(TryRecvError::Empty);
    let not_done = |d: &gort_channels::Chan<bool>| assert!(!is_done(d), "early done");
    let wait_done = |d: &gort_channels::Chan<bool>| {
        for _ in 0..tries {
            sleep(sched);
            if is_done(d) {
                return;
            }
        }
        panic!("never got done");
    };
    let is_ticker = tim.is_ticker();

    // Simple stop; modify of an unfired timer.
    tim.stop();
    no_tick(&c);
    tim.reset(Duration::from_secs(10_000));
    no_tick(&c);

    // Modify of a timer about to fire.
    tim.reset(Duration::from_nanos(1));
    sleep(sched);
    assert_eq!((c.len(), c.cap()), (0, 0), "len(C), cap(C) want 0, 0");
    assert_tick(&c);

    // Reset does not let through a tick of the old period.
    sleep(sched);
    tim.reset(Duration::from_secs(10_000));
    no_tick(&c);

    tim.reset(Duration::from_secs(10_000));
    // Stop while a goroutine is blocked on C.
    let done = chan::<bool>(0);
    not_done(&done);
    let (c1, d1) = (c.clone(), done.clone());
    spawn(move || {
        c1.recv();
        d1.close();
    });
    sleep(sched);
    not_done(&done);
    // Reset far away while a goroutine is blocked.
    tim.reset(Duration::from_secs(20_000));
    sleep(sched);
    not_done(&done);
    // Imminent reset while a goroutine is blocked.
    tim.reset(Duration::from_nanos(1));
    wait_done(&done);
    // A ticker has ticked again by now (1 ns period); a timer has not.
    if is_ticker {
        assert_tick(&c);
    } else {
        no_tick(&c);
    }
    tim.stop();
    no_tick(&c);

    // Again with select and two goroutines waiting.
    tim.reset(Duration::from_secs(10_000));
    let done = chan::<bool>(2);
    let (done1, done2, stop) = (chan::<bool>(0), chan::<bool>(0), chan::<bool>(0));
    for dn in [done1.clone(), done2.clone()] {
        let (c1, d, s) = (c.clone(), done.clone(), stop.clone());
        spawn(move || {
            select! {
                recv(c1) -> _ => { let _ = d.try_send(true); },
                recv(s) -> _ => {},
            }
            dn.close();
        });
    }
    sleep(sched);
    not_done(&done);
    tim.reset(sched / 2);
    sleep(sched);
    wait_done(&done);
    tim.stop();
    stop.close();
    wait_done(&done1);
    wait_done(&done2);
    if is_ticker {
        // An extra send may have sent done again, and filled C after that.
        let _ = done.try_recv();
        let _ = c.try_recv();
    }
    not_done(&done);

    // Blocked receivers of a stopped timer get nothing.
    let stop = chan::<bool>(0);
    let done = chan::<bool>(2);
    for _ in 0..2 {
        let (c1, s, d) = (c.clone(), stop.clone(), done.clone());
        spawn(move || {
            select! {
                recv(c1) -> _ => panic!("unexpected data"),
                recv(s) -> _ => {},
            }
            d.send(true).unwrap();
        });
    }
    sleep(sched);
    stop.close();
    wait_done(&done);
    wait_done(&done);

    // Stop and Reset block old values from being received (go.dev/issue/37196).
    tim.reset(Duration::from_nanos(1));
    sleep(ms(10));
    assert!(tim.stop(), "tim.stop() = false, want true");
    no_tick(&c);
    tim.reset(Duration::from_secs(3600));
    no_tick(&c);
    assert!(tim.reset(Duration::from_nanos(1)), "tim.reset() = false, want true");
    assert_tick(&c);
    sleep(ms(10));
    if is_ticker {
        assert_tick(&c);
        sleep(ms(10));
    } else {
        no_tick(&c);
    }
    assert_eq!(tim.reset(Duration::from_secs(3600)), is_ticker, "tim.reset() result");
    no_tick(&c);
}

#[test]
fn TestChan() {
    go_test(2, || {
        test_timer_chan(std::sync::Arc::new(Timer::new(Duration::from_secs(10_000))));
        test_timer_chan(std::sync::Arc::new(TickerTimer {
            t: Ticker::new(Duration::from_secs(10_000)),
            stopped: false.into(),
        }));
    });
}

/// The time received is when the timer fired, not when it is received.
/// In a synctest bubble (Go's version retries ten times on the real
/// clock): the value is exactly the deadline.
fn times(make: fn(Duration) -> Receiver<Instant>) {
    go_test(2, move || {
        synctest::test(move || {
            let start = now();
            let c = make(ms(10));
            sleep(ms(500));
            assert_eq!(c.recv(), Some(start + ms(10)));
        })
    });
}

#[test]
fn TestAfterTimes() {
    times(gort_channels::after);
}

#[test]
fn TestTickTimes() {
    times(tick);
}
