//! gort's own tests of timer channels beyond Go's (those are ported in
//! `golang/sleep_test.rs` and `golang/tick_test.rs`): `stop` and `reset`
//! racing their own callbacks from goroutines and threads, and timer
//! channels dropped while their timers fire.

use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use gort_channels::*;
use gort_runtime::engine::cheaprandn;
use gort_runtime::{spawn, yield_now};

/// Runs `f` on a thread and waits for it at most `limit` (a hang fails the
/// test instead of stalling the suite).
fn within<T: Send + 'static>(limit: Duration, what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || tx.send(f()).unwrap());
    rx.recv_timeout(limit).unwrap_or_else(|_| panic!("{what}: no progress in {limit:?} (deadlock?)"))
}

/// Many parties stop and reset one Timer and one Ticker whose periods are
/// microseconds, so callbacks run all the time: `stop`/`reset` wait for a
/// running callback while holding the timer's `op` lock, and the callback
/// must never need that lock (nor anything a waiter holds).
#[test]
fn stop_and_reset_racing_callbacks_never_deadlock() {
    const ROUNDS: usize = 20_000;
    within(Duration::from_secs(120), "stop/reset stress", || {
        let timer = Arc::new(Timer::new(Duration::from_micros(1)));
        let ticker = Arc::new(Ticker::new(Duration::from_micros(1)));
        let work = {
            let (timer, ticker) = (timer.clone(), ticker.clone());
            move || {
                for _ in 0..ROUNDS {
                    let d = Duration::from_micros(u64::from(cheaprandn(20)) + 1);
                    match cheaprandn(6) {
                        0 => drop(timer.stop()),
                        1 => drop(timer.reset(d)),
                        2 => drop(timer.c().try_recv()),
                        3 => ticker.stop(),
                        4 => ticker.reset(d),
                        _ => drop(ticker.c().try_recv()),
                    }
                    // Let the scheduler run the timers (it does between
                    // goroutines).
                    yield_now();
                }
            }
        };
        let goroutines: Vec<_> = (0..4).map(|_| spawn(work.clone())).collect();
        let threads: Vec<_> = (0..2).map(|_| thread::spawn(work.clone())).collect();
        for g in goroutines {
            g.join().unwrap();
        }
        for t in threads {
            t.join().unwrap();
        }
        // Go 1.23's promise still holds after the storm: nothing of an
        // earlier arming is received after stop returns.
        timer.stop();
        ticker.stop();
        thread::sleep(Duration::from_millis(5));
        assert!(timer.c().try_recv().is_err(), "a stopped timer delivered");
        assert!(ticker.c().try_recv().is_err(), "a stopped ticker delivered");
    });
}

/// Timer channels dropped while their callbacks may be running, from
/// goroutines and threads: the last handle stops the timer, waiting out a
/// running callback, before the channel is freed.
#[test]
fn timer_channels_dropped_while_firing() {
    const ROUNDS: usize = 10_000;
    within(Duration::from_secs(120), "drop while firing", || {
        let work = || {
            for i in 0..ROUNDS {
                let c = match i % 4 {
                    0 => after(Duration::ZERO),
                    1 => tick(Duration::from_nanos(500)),
                    2 => Timer::new(Duration::from_micros(1)).c().clone(),
                    _ => Ticker::new(Duration::from_micros(1)).c().clone(),
                };
                // A clone dropped on another party first, so the last
                // release is a race too.
                let c2 = c.clone();
                for _ in 0..cheaprandn(200) {
                    std::hint::spin_loop();
                }
                yield_now(); // the scheduler runs timers between goroutines
                if i % 3 == 0 {
                    let _ = c.try_recv();
                }
                drop(c2);
                drop(c);
            }
        };
        let goroutines: Vec<_> = (0..4).map(|_| spawn(work)).collect();
        let threads: Vec<_> = (0..2).map(|_| thread::spawn(work)).collect();
        for g in goroutines {
            g.join().unwrap();
        }
        for t in threads {
            t.join().unwrap();
        }
    });
}

/// An armed timer channel that nobody references any more is stopped and
/// freed at once: an `after(1h)` that lost a select leaves nothing behind.
/// (In debug builds, `HChan`'s drop asserts that its timer was stopped
/// before the channel was dropped.)
#[test]
fn dropped_armed_timer_channels_are_stopped_first() {
    let ch = chan::<u32>(1);
    for i in 0..1_000 {
        ch.send(i).unwrap();
        select! {
            recv(ch) -> v => assert_eq!(v, Some(i)),
            recv(after(Duration::from_secs(3600))) -> _ => unreachable!("an hour passed"),
        }
    }
    drop(tick(Duration::from_secs(3600)));
    drop(Ticker::new(Duration::from_secs(3600)));
    drop(Timer::new(Duration::from_secs(3600)));
}
