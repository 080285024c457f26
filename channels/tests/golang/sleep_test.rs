//! time/sleep_test.go (go1.27.3), the tests of timer channels.
//!
//! Ported: TestAfter, TestAfterTick, TestAfterStop (Go's version also uses
//! AfterFunc timers; here every timer is a channel Timer), TestAfterQueuing
//! (the `impl=chan` half), TestTimerStopStress (with channel timers in
//! place of AfterFunc), TestReset, TestTimerModifiedEarlier, TestStopResult,
//! TestResetResult (issue 69312), TestMultiWakeupTicker,
//! TestMultiWakeupTimer, plus a 100,000-timer stress test.
//!
//! TestTimerStopStress runs in a synctest bubble (its property does not
//! depend on real time); the tests of racing stops and resets
//! (TestStopResult, TestResetResult) and of real firings stay on the real
//! clock.
//!
//! Left out: tests of Sleep itself and of the runtime timer heap
//! (TestSleep, TestSleepZeroDeadlock, TestOverflowSleep, TestAdjustTimers,
//! TestIssue5745...: runtime's), of AfterFunc (gort has no AfterFunc
//! timers: TestAfterFunc, TestAfterFuncStarvation, TestAfterQueuing's
//! `impl=func`), TestZeroTimer* (a gort Timer cannot be uninitialised),
//! TestTickerStress/TestTickerConcurrentStress (in tick_test's TestTicker
//! instead), and benchmarks.

use std::time::{Duration, Instant};

use gort_channels::{Receiver, Ticker, Timer, after, chan, select};
use gort_runtime::testing::synctest;
use gort_runtime::{sleep, spawn};

use crate::{go_test, ms};

#[test]
fn TestAfter() {
    go_test(2, || {
        let delay = ms(100);
        let start = Instant::now();
        let end = after(delay).recv().unwrap();
        assert!(start.elapsed() >= delay, "after({delay:?}) slept for only {:?}", start.elapsed());
        assert!(end >= start + delay, "after({delay:?}) delivered a time before it fired");
    });
}

#[test]
fn TestAfterTick() {
    go_test(2, || {
        const COUNT: u32 = 10;
        let delta = ms(10);
        let t0 = Instant::now();
        for _ in 0..COUNT {
            after(delta).recv().unwrap();
        }
        let d = t0.elapsed();
        let target = delta * COUNT;
        assert!(d >= target * 9 / 10, "{COUNT} ticks of {delta:?} too fast: took {d:?}, expected {target:?}");
    });
}

#[test]
fn TestAfterStop() {
    go_test(2, || {
        // Go retries five times because the test uses short times; so do we.
        let mut errs = Vec::new();
        for _ in 0..5 {
            let _t = Timer::new(ms(100));
            let t0 = Timer::new(ms(50));
            let t1 = Timer::new(ms(150));
            let c2 = after(ms(200));
            if !t0.stop() {
                errs.push("failed to stop event 0");
                continue;
            }
            if !t1.stop() {
                errs.push("failed to stop event 1");
                continue;
            }
            c2.recv();
            let mut stopped = true;
            select! {
                recv(t0.c()) -> _ => { errs.push("event 0 was not stopped"); stopped = false; },
                recv(t1.c()) -> _ => { errs.push("event 1 was not stopped"); stopped = false; },
                default => {}
            }
            if !stopped {
                continue;
            }
            if t1.stop() {
                errs.push("Stop returned true twice");
                continue;
            }
            return;
        }
        panic!("TestAfterStop failed 5 times: {errs:?}");
    });
}

const SLOTS: [u32; 13] = [5, 3, 6, 6, 6, 1, 1, 2, 7, 9, 4, 8, 0];

fn after_queuing1(delta: Duration) -> Result<(), String> {
    let result = chan::<(u32, Instant)>(SLOTS.len());
    let t0 = Instant::now();
    for slot in SLOTS {
        let (r, ac) = (result.clone(), after(delta * slot));
        spawn(move || r.send((slot, ac.recv().unwrap())).unwrap());
    }
    let mut order = Vec::new();
    let mut times = Vec::new();
    for _ in SLOTS {
        let (slot, t) = result.recv().unwrap();
        order.push(slot);
        times.push(t);
    }
    if order.windows(2).any(|w| w[1] < w[0]) {
        return Err(format!("after calls returned out of order: {order:?}"));
    }
    for (i, t) in times.iter().enumerate() {
        let dt = t.duration_since(t0);
        let target = delta * order[i];
        if dt + delta / 2 < target || dt > target + delta * 10 {
            return Err(format!("after({target:?}) arrived at {dt:?}"));
        }
    }
    Ok(())
}

#[test]
fn TestAfterQueuing() {
    go_test(2, || {
        let mut err = String::new();
        for i in 0..5 {
            match after_queuing1(ms(20 + i * 50)) {
                Ok(()) => return,
                Err(e) => err = e,
            }
        }
        panic!("{err}");
    });
}

/// Run in a synctest bubble: stopping before the deadline is a property
/// of the timer's protocol, not of real time, and on the bubble's clock
/// the deadlines are exact (the real-time version took 2.5 s). Stops that
/// race real firings are TestStopResult's.
#[test]
fn TestTimerStopStress() {
    go_test(2, || synctest::test(timer_stop_stress));
}

fn timer_stop_stress() {
    let start = gort_runtime::time::now();
    let fired = chan::<usize>(100);
    let hs: Vec<_> = (0..100)
        .map(|i| {
            let fired = fired.clone();
            spawn(move || {
                let timer = Timer::new(ms(2000));
                sleep(ms(1000));
                timer.stop();
                if timer.c().try_recv().is_ok() {
                    fired.send(i).unwrap();
                }
                timer
            })
        })
        .collect();
    let timers: Vec<Timer> = hs.into_iter().map(|h| h.join().unwrap()).collect();
    sleep(ms(1500)); // past every original deadline
    assert_eq!(gort_runtime::time::since(start), ms(2500));
    for (i, t) in timers.iter().enumerate() {
        assert!(t.c().try_recv().is_err(), "timer {i} was not stopped");
    }
    assert!(fired.try_recv().is_err(), "a timer fired before its deadline");
}

fn test_reset(d: Duration) -> Result<(), &'static str> {
    let t0 = Timer::new(2 * d);
    sleep(d);
    if !t0.reset(3 * d) {
        return Err("resetting unfired timer returned false");
    }
    sleep(2 * d);
    if t0.c().try_recv().is_ok() {
        return Err("timer fired early");
    }
    sleep(2 * d);
    if t0.c().try_recv().is_err() {
        return Err("reset timer did not fire");
    }
    if t0.reset(ms(50)) {
        return Err("resetting expired timer returned true");
    }
    Ok(())
}

#[test]
fn TestReset() {
    go_test(2, || {
        // Longer and longer durations until one works, as Go does.
        let mut d = ms(1);
        loop {
            match test_reset(d) {
                Ok(()) => return,
                Err(e) if d > Duration::from_secs(10) => panic!("{e}"),
                Err(_) => d *= 2,
            }
        }
    });
}

#[test]
fn TestTimerModifiedEarlier() {
    go_test(2, || {
        let mut fail = 0;
        for _ in 0..1000 {
            let timer = Timer::new(Duration::from_secs(3600));
            for _ in 0..10 {
                if !timer.stop() {
                    timer.c().recv();
                }
                timer.reset(Duration::ZERO); // Go resets to a time in the past
            }
            let deadline = Timer::new(Duration::from_secs(10));
            let now = Instant::now();
            select! {
                recv(timer.c()) -> _ => if now.elapsed() > Duration::from_secs(8) { fail += 1 },
                recv(deadline.c()) -> _ => panic!("deadline expired"),
            }
        }
        assert_eq!(fail, 0, "{fail} failures");
    });
}

/// TestStopResult / TestResetResult: racing a timer's firing with
/// stop/reset, a false result means a value can be received.
fn stop_reset_result(test_stop: bool) {
    go_test(2, move || {
        let stop_or_reset =
            move |t: &Timer| if test_stop { t.stop() } else { t.reset(Duration::from_secs(3600)) };
        let start = chan::<()>(0);
        let hs: Vec<_> = (0..1000)
            .map(|_| {
                let start = start.clone();
                spawn(move || {
                    start.recv();
                    for _ in 0..100 {
                        let t1 = Timer::new(ms(1));
                        let t2 = Timer::new(ms(1));
                        let other = select! {
                            recv(t1.c()) -> _ => &t2,
                            recv(t2.c()) -> _ => &t1,
                        };
                        if !stop_or_reset(other) {
                            // The test fails if this read hangs.
                            assert!(
                                other.c().recv_timeout(Duration::from_secs(30)).is_ok(),
                                "no value after a false result"
                            );
                        }
                    }
                })
            })
            .collect();
        start.close();
        for h in hs {
            h.join().unwrap();
        }
    });
}

#[test]
fn TestStopResult() {
    stop_reset_result(true);
}

#[test]
fn TestResetResult() {
    stop_reset_result(false);
}

fn multi_wakeup(ticker: bool) {
    go_test(2, move || {
        let procs = gort_runtime::max_procs();
        let (tk, tm) = if ticker {
            (Some(Ticker::new(Duration::from_micros(1))), None)
        } else {
            (None, Some(Timer::new(Duration::from_nanos(1))))
        };
        let c: Receiver<Instant> =
            tk.as_ref().map(|t| t.c().clone()).or(tm.as_ref().map(|t| t.c().clone())).unwrap();
        // Go's counts are 100,000 and 10,000; after the timer's one value
        // every timer iteration waits out its 1 ms after(), so 1,000 here.
        let n = if ticker { 100_000 } else { 1_000 };
        let hs: Vec<_> = (0..procs)
            .map(|_| {
                let c = c.clone();
                spawn(move || {
                    for _ in 0..n {
                        select! {
                            recv(c) -> _ => {},
                            recv(after(ms(1))) -> _ => {},
                        }
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
}

#[test]
fn TestMultiWakeupTicker() {
    multi_wakeup(true);
}

#[test]
fn TestMultiWakeupTimer() {
    multi_wakeup(false);
}

/// Not in Go: 100,000 timers at once, half stopped before they fire, the
/// rest received; none is lost, none fires after its stop.
#[test]
fn hundred_thousand_timers() {
    go_test(2, || {
        const N: usize = 100_000;
        let timers: Vec<Timer> = (0..N).map(|i| Timer::new(ms(20 + (i % 50) as u64))).collect();
        let mut stopped = 0;
        for t in timers.iter().step_by(2) {
            assert!(t.stop(), "an unfired timer's stop returned false");
            stopped += 1;
        }
        let mut received = 0;
        for (i, t) in timers.iter().enumerate() {
            if i % 2 == 1 {
                t.c().recv_timeout(Duration::from_secs(30)).expect("timer never fired");
                received += 1;
            }
        }
        sleep(ms(100));
        for t in timers.iter().step_by(2) {
            assert!(t.c().try_recv().is_err(), "a stopped timer fired");
        }
        assert_eq!((stopped, received), (N / 2, N / 2));
        // Dropping 50,000 pending after()s costs nothing afterwards.
        let pending: Vec<_> = (0..N / 2).map(|_| after(Duration::from_secs(3600))).collect();
        drop(pending);
    });
}
