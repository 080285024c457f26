//! Go: src/internal/synctest/synctest_test.go, ported.
//!
//! Go's `synctest.Run(f)` is `synctest::test(f)` here. Where Go fails with
//! a fatal error (a child process in Go's tests), gort panics in the
//! offending goroutine, so the tests check the panic in-process.
//!
//! Adapted: gort's bubbles start at the real `Instant` (their wall clock,
//! [`gort::time::system_now`], starts at 2000-01-01 as Go's), so
//! TestMonotonicClock waits for an instant an hour ahead instead of one 25
//! years ahead. Not ported: TestIteratorPull (Go's `iter.Pull`
//! coroutines), TestReflectFuncOf and TestWeak (Go's reflect and GC), and
//! TestMallocs' GC angle (it runs as a plain repetition).

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant, SystemTime};

use gort::sync::{Cond, Mutex, WaitGroup};
use gort::testing::synctest;
use gort::time::{self, now, since};
use gort::{Timer, chan, select};

use crate::want_panic;

const SEC: Duration = Duration::from_secs(1);

fn y2k() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(946_684_800)
}

#[test]
fn test_now() {
    synctest::test(|| {
        // Time starts at 2000-1-1 00:00:00.
        assert_eq!(time::system_now(), y2k(), "at start");
        let start = now();
        gort::go!(move || {
            // New goroutines see the same fake clock.
            assert_eq!(time::system_now(), y2k());
            assert_eq!(now(), start);
        });
        // Time advances after a sleep.
        gort::sleep(SEC);
        assert_eq!(time::system_now(), y2k() + SEC, "after sleep");
        assert_eq!(now(), start + SEC);
    });
}

/// Comparing instants from inside a bubble with ones from outside.
#[test]
fn test_monotonic_clock() {
    let start = Instant::now() + Duration::from_secs(3600);
    synctest::test(move || {
        gort::sleep(time::until(start));
        assert_eq!(now(), start);
        let wait = SEC;
        gort::sleep(wait);
        assert_eq!(since(start), wait);
        assert_eq!(now() - start, wait);
    });
}

#[test]
fn test_run_empty() {
    synctest::test(|| {});
}

#[test]
fn test_simple_wait() {
    synctest::test(synctest::wait);
}

#[test]
fn test_goroutine_wait() {
    synctest::test(|| {
        gort::go!(|| {});
        synctest::wait();
    });
}

/// `wait` waits for a chain of goroutines to exit.
#[test]
fn test_wait() {
    synctest::test(|| {
        let done = Arc::new(AtomicBool::new(false));
        let ch = chan::<i32>(0);
        fn f(ch: gort::Chan<i32>, done: Arc<AtomicBool>) {
            let count = ch.recv().unwrap();
            if count == 0 {
                done.store(true, Ordering::Relaxed);
            } else {
                let (c, d) = (ch.clone(), done.clone());
                gort::go!(move || f(c, d));
                ch.send(count - 1).unwrap();
            }
        }
        let (c, d) = (ch.clone(), done.clone());
        gort::go!(move || f(c, d));
        ch.send(100).unwrap();
        synctest::wait();
        assert!(done.load(Ordering::Relaxed), "done = false, want true");
    });
}

#[test]
fn test_mallocs() {
    for _ in 0..100 {
        synctest::test(|| {
            let done = Arc::new(AtomicBool::new(false));
            let ch = chan::<Vec<u8>>(0);
            fn f(ch: gort::Chan<Vec<u8>>, done: Arc<AtomicBool>) {
                let b = ch.recv().unwrap();
                if b.is_empty() {
                    done.store(true, Ordering::Relaxed);
                } else {
                    let (c, d) = (ch.clone(), done.clone());
                    gort::go!(move || f(c, d));
                    ch.send(vec![0; b.len() - 1]).unwrap();
                }
            }
            let (c, d) = (ch.clone(), done.clone());
            gort::go!(move || f(c, d));
            ch.send(vec![0; 100]).unwrap();
            synctest::wait();
            assert!(done.load(Ordering::Relaxed), "done = false, want true");
        });
    }
}

#[test]
fn test_timer_read_before_deadline() {
    synctest::test(|| {
        let start = now();
        let tm = Timer::new(5 * SEC);
        tm.c().recv();
        assert_eq!(since(start), 5 * SEC);
    });
}

#[test]
fn test_timer_read_after_deadline() {
    synctest::test(|| {
        let delay = SEC;
        let want = now() + delay;
        let tm = Timer::new(delay);
        gort::sleep(2 * delay);
        assert_eq!(tm.c().recv(), Some(want), "the value is the fire time");
    });
}

#[test]
fn test_timer_reset() {
    synctest::test(|| {
        let start = now();
        let tm = Timer::new(SEC);
        assert_eq!(tm.c().recv(), Some(start + SEC), "first sleep");
        tm.reset(2 * SEC);
        assert_eq!(tm.c().recv(), Some(start + 3 * SEC), "second sleep");
        tm.reset(3 * SEC);
        gort::sleep(SEC);
        tm.reset(3 * SEC);
        assert_eq!(tm.c().recv(), Some(start + 7 * SEC), "third sleep");
    });
}

#[test]
fn test_time_after() {
    synctest::test(|| {
        let i = Arc::new(AtomicI32::new(0));
        let i2 = i.clone();
        let _t = gort::after_func(SEC, move || {
            // Bubble membership propagates through the after_func.
            i2.fetch_add(1, Ordering::SeqCst); // 1
            let i3 = i2.clone();
            gort::go!(move || {
                gort::sleep(SEC);
                i3.fetch_add(1, Ordering::SeqCst); // 2
            });
        });
        gort::sleep(3 * SEC);
        synctest::wait();
        assert_eq!(i.load(Ordering::SeqCst), 2, "after sleep and wait");
    });
}

#[test]
fn test_timer_after_bubble_exit() {
    let run = Arc::new(AtomicBool::new(false));
    let r = run.clone();
    synctest::test(move || {
        let _ = gort::after_func(SEC, move || r.store(true, Ordering::SeqCst));
    });
    assert!(!run.load(Ordering::SeqCst), "timer ran before bubble exit");
}

/// A timer made outside a bubble runs on the real clock, and waiting for
/// it inside is not durable: the bubble waits for it in real time.
#[test]
fn test_timer_from_outside_bubble() {
    let tm = Arc::new(Timer::new(Duration::from_millis(10)));
    let t = tm.clone();
    synctest::test(move || {
        t.c().recv();
    });
    assert!(!tm.stop(), "synctest::test unexpectedly returned before the timer fired");
}

/// Timers firing at the same instant do not always fire in the same order.
#[test]
fn test_timer_nondeterminism() {
    synctest::test(|| {
        const ITERATIONS: usize = 1000;
        let (mut seen1, mut seen2) = (false, false);
        for _ in 0..ITERATIONS {
            let tm1 = Timer::new(Duration::from_nanos(1));
            let tm2 = Timer::new(Duration::from_nanos(1));
            select! {
                recv(tm1.c()) => seen1 = true,
                recv(tm2.c()) => seen2 = true,
            }
            if seen1 && seen2 {
                return;
            }
            synctest::wait();
        }
        panic!("after {ITERATIONS} iterations, seen timer1:{seen1}, timer2:{seen2}; want both");
    });
}

/// Goroutines sleeping to the same instant do not always run in the same
/// order.
#[test]
fn test_sleep_nondeterminism() {
    synctest::test(|| {
        const ITERATIONS: usize = 1000;
        let (mut seen1, mut seen2) = (false, false);
        for _ in 0..ITERATIONS {
            let first = Arc::new(AtomicI32::new(0));
            let f1 = first.clone();
            gort::go!(move || {
                gort::sleep(Duration::from_nanos(1));
                let _ = f1.compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst);
            });
            let f2 = first.clone();
            gort::go!(move || {
                gort::sleep(Duration::from_nanos(1));
                let _ = f2.compare_exchange(0, 2, Ordering::SeqCst, Ordering::SeqCst);
            });
            gort::sleep(Duration::from_nanos(1));
            synctest::wait();
            match first.load(Ordering::SeqCst) {
                1 => seen1 = true,
                2 => seen2 = true,
                v => panic!("first = {v}, want 1 or 2"),
            }
            if seen1 && seen2 {
                return;
            }
            synctest::wait();
        }
        panic!("after {ITERATIONS} iterations, seen goroutine 1:{seen1}, 2:{seen2}; want both");
    });
}

/// A zero-length timer's value is there without waiting for the bubble
/// to block.
#[test]
fn test_timer_runs_immediately() {
    synctest::test(|| {
        let start = now();
        let tm = Timer::new(Duration::ZERO);
        select! {
            recv(tm.c()) -> got => assert_eq!(got, Some(start)),
            default => panic!("0-duration timer channel is not readable; want it to be"),
        }
    });
}

/// Reading a timer's channel gives the time it fired, even in the past.
#[test]
fn test_timer_ran_in_past() {
    synctest::test(|| {
        let delay = SEC;
        let want = now() + delay;
        let tm = Timer::new(delay);
        gort::sleep(2 * delay);
        select! {
            recv(tm.c()) -> got => assert_eq!(got, Some(want)),
            default => panic!("expired timer channel is not readable; want it to be"),
        }
    });
}

/// A zero-length after_func starts without waiting for the bubble to
/// block (here it never would: the caller spins).
#[test]
fn test_after_func_runs_immediately() {
    synctest::test(|| {
        let b = Arc::new(AtomicBool::new(false));
        let b2 = b.clone();
        let _ = gort::after_func(Duration::ZERO, move || b2.store(true, Ordering::SeqCst));
        while !b.load(Ordering::SeqCst) {
            gort::yield_now();
        }
    });
}

/// `reset(0)` does not hang the bubble (Go issue 76052).
#[test]
fn test_timer_reset_zero_do_not_hang() {
    synctest::test(|| {
        let timer = Arc::new(Timer::new(Duration::ZERO));
        let (ctx, cancel) = gort::context::with_cancel(&gort::context::background());
        let t = timer.clone();
        gort::go!(move || {
            loop {
                select! {
                    recv(ctx.done()) => return,
                    recv(t.c()) => {}
                }
            }
        });
        synctest::wait();
        timer.reset(Duration::ZERO);
        synctest::wait();
        cancel.cancel();
        synctest::wait();
    });
}

/// Channels made outside a bubble: waiting on them inside is not durable,
/// so the bubble waits (in real time) for the outside to act.
#[test]
fn test_channel_from_outside_bubble() {
    type Op = fn(&gort::Chan<i32>);
    type Inside = Box<dyn Fn(gort::Chan<i32>, gort::Chan<()>) + Send + Sync>;
    let choutside = chan::<()>(0);
    let cases: Vec<(&str, Op, Inside)> = vec![
        (
            "read closed",
            |ch| ch.close(),
            Box::new(|ch, _| {
                ch.recv();
            }),
        ),
        ("read value", |ch| ch.send(0).unwrap(), Box::new(|ch, _| assert_eq!(ch.recv(), Some(0)))),
        (
            "write value",
            |ch| {
                ch.recv();
            },
            Box::new(|ch, _| ch.send(0).unwrap()),
        ),
        (
            "select outside only",
            |ch| ch.close(),
            Box::new(|ch, outside| {
                select! {
                    recv(ch) => {}
                    recv(outside) => {}
                }
            }),
        ),
        (
            "select mixed",
            |ch| ch.close(),
            Box::new(|ch, _| {
                let ch2 = chan::<()>(0);
                select! {
                    recv(ch) => {}
                    recv(ch2) => {}
                }
            }),
        ),
    ];
    for (desc, outside, inside) in cases {
        let ch = chan::<i32>(0);
        let c = ch.clone();
        let _t = gort::after_func(Duration::from_millis(1), move || outside(&c));
        let inside = Arc::new(inside);
        let o = choutside.clone();
        synctest::test(move || inside(ch, o));
        eprintln!("{desc}: ok");
    }
}

/// A bubble's channel used from outside, or from another bubble, panics
/// with Go's message.
#[test]
fn test_channel_moved_out_of_bubble() {
    type Op = fn(gort::Chan<()>);
    let cases: [(&str, Op, &str); 3] = [
        (
            "receive",
            |ch| {
                ch.recv();
            },
            "receive on synctest channel from outside bubble",
        ),
        (
            "send",
            |ch| {
                let _ = ch.send(());
            },
            "send on synctest channel from outside bubble",
        ),
        ("close", |ch| ch.close(), "close of synctest channel from outside bubble"),
    ];
    for (desc, f, want) in cases {
        // Outside any bubble.
        let ch = synctest::test(|| chan::<()>(0));
        let err = gort::go!(move || f(ch)).join().expect_err(desc);
        assert_eq!(err.message(), Some(want), "{desc} outside_bubble");
        // From a different bubble.
        let ch = synctest::test(|| chan::<()>(0));
        let err = gort::go!(move || synctest::test(move || f(ch))).join().expect_err(desc);
        assert_eq!(err.message(), Some(want), "{desc} different_bubble");
    }
}

/// A bubble's timer used from outside panics with Go's messages.
#[test]
fn test_timer_from_inside_bubble() {
    type Op = fn(&Timer);
    let cases: [(&str, Op, &str); 3] = [
        (
            "read channel",
            |tm| {
                tm.c().recv();
            },
            "receive on synctest channel from outside bubble",
        ),
        (
            "Reset",
            |tm| {
                tm.reset(SEC);
            },
            "reset of synctest timer from outside bubble",
        ),
        (
            "Stop",
            |tm| {
                tm.stop();
            },
            "stop of synctest timer from outside bubble",
        ),
    ];
    for (desc, f, want) in cases {
        let tm = synctest::test(|| Timer::new(SEC));
        let err = gort::go!(move || f(&tm)).join().expect_err(desc);
        assert_eq!(err.message(), Some(want), "{desc}");
    }
}

#[test]
fn test_deadlock_root() {
    want_panic("deadlock: all goroutines in bubble are blocked", || {
        synctest::test(|| select! {});
    });
}

#[test]
fn test_deadlock_child() {
    want_panic("deadlock: main bubble goroutine has exited but blocked goroutines remain", || {
        synctest::test(|| {
            gort::go!(|| select! {});
        });
    });
}

#[test]
fn test_deadlock_ticker() {
    want_panic("deadlock: main bubble goroutine has exited but blocked goroutines remain", || {
        synctest::test(|| {
            gort::go!(|| {
                let t = gort::tick(SEC);
                if t.recv().is_some() {
                    panic!("ticker unexpectedly ran");
                }
            });
        });
    });
}

#[test]
fn test_cond() {
    synctest::test(|| {
        let mu = Arc::new(Mutex::new(()));
        let cond = Arc::new(Cond::new());
        let start = now();
        const WAIT_TIME: Duration = Duration::from_millis(1);
        let (m, c) = (mu.clone(), cond.clone());
        gort::go!(move || {
            // Signal the cond.
            gort::sleep(WAIT_TIME);
            let g = m.lock();
            c.signal();
            drop(g);
            // Broadcast to the cond.
            gort::sleep(WAIT_TIME);
            let g = m.lock();
            c.broadcast();
            drop(g);
        });

        // Wait for cond.signal.
        let g = mu.lock();
        let g = cond.wait(g);
        drop(g);
        assert_eq!(since(start), WAIT_TIME, "after cond.signal: time elapsed");

        // Wait for cond.broadcast in two goroutines.
        let waiter_done = Arc::new(AtomicBool::new(false));
        let (m, c, d) = (mu.clone(), cond.clone(), waiter_done.clone());
        gort::go!(move || {
            let g = m.lock();
            let g = c.wait(g);
            drop(g);
            d.store(true, Ordering::SeqCst);
        });
        let g = mu.lock();
        let g = cond.wait(g);
        drop(g);
        synctest::wait();
        assert!(waiter_done.load(Ordering::SeqCst), "after cond.broadcast: waiter not done");
        assert_eq!(since(start), 2 * WAIT_TIME, "after cond.broadcast: time elapsed");
    });
}

/// A push iterator (a function calling `yield` for each value) that
/// sleeps between values, consumed in a goroutine.
#[test]
fn test_iterator_push() {
    synctest::test(|| {
        fn seq(mut yield_: impl FnMut(Instant) -> bool) {
            while yield_(now()) {
                gort::sleep(SEC);
            }
        }
        let got = Arc::new(StdMutex::new(Vec::new()));
        let g = got.clone();
        gort::go!(move || {
            seq(|t| {
                let mut g = g.lock().unwrap();
                g.push(t);
                g.len() < 3
            });
        });
        let want = vec![now(), now() + SEC, now() + 2 * SEC];
        gort::sleep(5 * SEC);
        synctest::wait();
        assert_eq!(*got.lock().unwrap(), want);
    });
}

#[test]
fn test_wait_group_in_bubble() {
    synctest::test(|| {
        let wg = Arc::new(WaitGroup::new());
        wg.add(1);
        const DELAY: Duration = SEC;
        let w = wg.clone();
        gort::go!(move || {
            gort::sleep(DELAY);
            w.done();
        });
        let start = now();
        wg.wait();
        assert_eq!(since(start), DELAY, "WaitGroup::wait() took");
    });
}

/// Go issue 74386.
#[test]
fn test_wait_group_racing_adds() {
    synctest::test(|| {
        let wg = Arc::new(WaitGroup::new());
        for _ in 0..100 {
            wg.go(|| {});
        }
        wg.wait();
    });
}

/// A group raised outside is waited on non-durably inside: the bubble
/// waits, in real time, for the `done` from outside.
#[test]
fn test_wait_group_out_of_bubble() {
    let wg = Arc::new(WaitGroup::new());
    wg.add(1);
    let donec = chan::<()>(0);
    let (w, d) = (wg.clone(), donec.clone());
    gort::go!(move || {
        synctest::test(move || {
            w.wait();
            d.close();
        })
    });
    select! {
        recv(donec) => panic!("synctest::test finished before WaitGroup::done was called"),
        recv(gort::after(Duration::from_millis(1))) => {}
    }
    wg.done();
    donec.recv();
}

#[test]
fn test_wait_group_moved_into_bubble() {
    let wg = Arc::new(WaitGroup::new());
    wg.add(1);
    let w = wg.clone();
    want_panic("sync: WaitGroup.Add called from inside and outside synctest bubble", || {
        synctest::test(move || w.add(1));
    });
}

#[test]
fn test_wait_group_moved_out_of_bubble() {
    let wg = Arc::new(WaitGroup::new());
    let w = wg.clone();
    synctest::test(move || w.add(1));
    want_panic("sync: WaitGroup.Add called from inside and outside synctest bubble", || wg.add(1));
}

#[test]
fn test_wait_group_moved_between_bubbles_with_non_zero_count() {
    let wg = Arc::new(WaitGroup::new());
    let w = wg.clone();
    synctest::test(move || w.add(1));
    let w = wg.clone();
    want_panic("sync: WaitGroup.Add called from multiple synctest bubbles", || {
        synctest::test(move || w.add(1));
    });
}

#[test]
fn test_wait_group_disassociate_in_wait() {
    let wg = Arc::new(WaitGroup::new());
    let w = wg.clone();
    synctest::test(move || {
        w.add(1);
        w.done();
        // Count and waiters are 0, so wait disassociates the group.
        w.wait();
    });
    let w = wg.clone();
    synctest::test(move || {
        // Reusing the group is safe: it is no longer bubbled.
        w.add(1);
        w.done();
    });
}

#[test]
fn test_wait_group_disassociate_in_add() {
    let wg = Arc::new(WaitGroup::new());
    let w = wg.clone();
    synctest::test(move || {
        w.add(1);
        let w2 = w.clone();
        gort::go!(move || w2.wait());
        synctest::wait(); // for wait to block
        // Count is 0 and waiters != 0: done wakes the waiters and
        // disassociates the group.
        w.done();
    });
    let w = wg.clone();
    synctest::test(move || {
        // Reusing the group is safe: it is no longer bubbled.
        w.add(1);
        w.done();
    });
}

static TEST_WAIT_GROUP_LINKER_ALLOCATED_WG: WaitGroup = WaitGroup::new();

/// A static group: Go cannot bubble one (no heap span to tag); gort can,
/// and its wait is durable like any other's.
#[test]
fn test_wait_group_linker_allocated() {
    synctest::test(|| {
        TEST_WAIT_GROUP_LINKER_ALLOCATED_WG.add(1);
        gort::go!(|| TEST_WAIT_GROUP_LINKER_ALLOCATED_WG.done());
        TEST_WAIT_GROUP_LINKER_ALLOCATED_WG.wait();
    });
}

#[test]
fn test_wait_group_heap_allocated() {
    static WG: std::sync::LazyLock<Arc<WaitGroup>> = std::sync::LazyLock::new(|| Arc::new(WaitGroup::new()));
    synctest::test(|| {
        WG.add(1);
        gort::go!(|| WG.wait());
        synctest::wait();
        WG.done();
    });
}

/// Go issue 75134: many bubbles, racing.
#[test]
fn test_wait_group_many_bubbles() {
    let wg = Arc::new(WaitGroup::new());
    for _ in 0..100 {
        wg.go(|| {
            synctest::test(|| {
                let cancelc = chan::<()>(0);
                let wg2 = Arc::new(WaitGroup::new());
                for _ in 0..100 {
                    let c = cancelc.clone();
                    wg2.go(move || {
                        c.recv();
                    });
                }
                synctest::wait();
                cancelc.close();
                wg2.wait();
            });
        });
    }
    wg.wait();
}

#[test]
fn test_happens_before() {
    // Two goroutines touch different variables, so both are accounted for.
    let (v1, v2) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let inc = |v: &Arc<AtomicU32>| {
        v.fetch_add(1, Ordering::Relaxed);
    };
    let (a, b) = (v1.clone(), v2.clone());
    synctest::test(move || {
        inc(&a); // 1
        inc(&b); // 1

        // wait returns after these goroutines exit.
        let (a2, b2) = (a.clone(), b.clone());
        gort::go!(move || inc(&a2)); // 2
        gort::go!(move || inc(&b2)); // 2
        synctest::wait();
        assert_eq!((a.load(Ordering::Relaxed), b.load(Ordering::Relaxed)), (2, 2));

        inc(&a); // 3
        inc(&b); // 3

        // wait returns after these goroutines block.
        let ch1 = chan::<()>(0);
        for v in [a.clone(), b.clone()] {
            let c = ch1.clone();
            gort::go!(move || {
                inc(&v); // 4
                c.recv();
            });
        }
        synctest::wait();
        assert_eq!((a.load(Ordering::Relaxed), b.load(Ordering::Relaxed)), (4, 4));

        inc(&a); // 5
        inc(&b); // 5
        ch1.close();

        // wait returns after these timers run.
        for v in [a.clone(), b.clone()] {
            let _ = gort::after_func(Duration::ZERO, move || inc(&v)); // 6
        }
        synctest::wait();
        assert_eq!((a.load(Ordering::Relaxed), b.load(Ordering::Relaxed)), (6, 6));

        inc(&a); // 7
        inc(&b); // 7

        // wait returns after these timer goroutines block.
        let ch2 = chan::<()>(0);
        for v in [a.clone(), b.clone()] {
            let c = ch2.clone();
            let _ = gort::after_func(Duration::ZERO, move || {
                inc(&v); // 8
                c.recv();
            });
        }
        synctest::wait();
        assert_eq!((a.load(Ordering::Relaxed), b.load(Ordering::Relaxed)), (8, 8));

        inc(&a); // 9
        inc(&b); // 9
        ch2.close();
    });
    // This test happens after the previous one returns.
    let (a, b) = (v1.clone(), v2.clone());
    synctest::test(move || {
        gort::go!(move || {
            gort::go!(move || inc(&a)); // 10
        });
        gort::go!(move || {
            gort::go!(move || inc(&b)); // 10
        });
    });
    // And these checks after it returns.
    assert_eq!(v1.load(Ordering::Relaxed), 10, "v1");
    assert_eq!(v2.load(Ordering::Relaxed), 10, "v2");
}
