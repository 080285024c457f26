//! gort's own synctest tests: every gort timer and blocking primitive in a
//! bubble, a simulated hour of retries, independent bubbles, what is not
//! durable, and the misuse gort reports.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use gort::context::{self, DeadlineExceeded};
use gort::sync::{Barrier, BarrierError, ErrGroup, Semaphore, WaitGroup};
use gort::testing::synctest;
use gort::time::{now, since};
use gort::{RecvTimeoutError, Ticker, after, chan, select};

use crate::want_panic;

const SEC: Duration = Duration::from_secs(1);

/// A client retrying a failing call with exponential backoff (100 ms
/// doubling up to 10 minutes) for an hour of simulated time, while a
/// server flips to healthy after 50 minutes: the whole hour runs at once.
/// (The issue asks for under a second of wall time; that is measured by
/// the suite's report, not asserted: a loaded machine must not fail it.)
#[test]
fn retry_with_exponential_backoff_for_an_hour() {
    let (attempts, elapsed) = synctest::test(|| {
        let start = now();
        let healthy_at = start + Duration::from_secs(50 * 60);
        let requests = chan::<gort::Chan<bool>>(0);
        let server = {
            let requests = requests.clone();
            gort::go!(move || {
                for reply in &requests {
                    // Each call takes 20 ms of work.
                    gort::sleep(Duration::from_millis(20));
                    let _ = reply.send(now() >= healthy_at);
                }
            })
        };
        let mut backoff = Duration::from_millis(100);
        let mut attempts = 0u32;
        let deadline = start + Duration::from_secs(3600);
        loop {
            attempts += 1;
            let reply = chan::<bool>(1);
            requests.send(reply.clone()).unwrap();
            match reply.recv_timeout(SEC) {
                Ok(true) => break,
                Ok(false) | Err(RecvTimeoutError::Timeout) => {}
                Err(e) => panic!("{e}"),
            }
            assert!(now() < deadline, "gave up after {attempts} attempts");
            gort::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(600));
        }
        requests.close();
        server.join().unwrap();
        (attempts, since(start))
    });
    // 100 ms * 2^k reaches 10 min at k = 13; the cumulative backoff passes
    // 50 minutes during the capped waits.
    assert!(elapsed >= Duration::from_secs(50 * 60), "healthy only after 50 min; took {elapsed:?}");
    assert!(elapsed < Duration::from_secs(3600), "{elapsed:?}");
    // Deterministic: each attempt costs 20 ms plus its backoff.
    let mut t = Duration::ZERO;
    let mut backoff = Duration::from_millis(100);
    let mut n = 0;
    loop {
        n += 1;
        t += Duration::from_millis(20);
        if t >= Duration::from_secs(50 * 60) {
            break;
        }
        t += backoff;
        backoff = (backoff * 2).min(Duration::from_secs(600));
    }
    assert_eq!((attempts, elapsed), (n, t), "the simulation is exact");
}

/// Two bubbles in parallel on different threads: each has its own clock.
#[test]
fn bubbles_are_independent() {
    let run = |hours: u64| {
        std::thread::spawn(move || {
            synctest::test(move || {
                let start = now();
                for _ in 0..hours {
                    gort::sleep(Duration::from_secs(3600));
                }
                since(start)
            })
        })
    };
    let (a, b) = (run(3), run(7));
    assert_eq!(a.join().unwrap(), Duration::from_secs(3 * 3600));
    assert_eq!(b.join().unwrap(), Duration::from_secs(7 * 3600));
}

/// Goroutines outside a bubble see real time while a bubble races ahead.
#[test]
fn goroutines_outside_see_real_time() {
    let outside = gort::go!(|| {
        let t = now();
        gort::sleep(Duration::from_millis(20));
        (t, now())
    });
    let inside = synctest::test(|| {
        let t = now();
        gort::sleep(Duration::from_secs(24 * 3600));
        since(t)
    });
    let (t0, t1) = outside.join().unwrap();
    assert_eq!(inside, Duration::from_secs(24 * 3600));
    let real = t1 - t0;
    assert!(real >= Duration::from_millis(20), "a real sleep of 20 ms took {real:?}");
    assert!(real < Duration::from_secs(24 * 3600), "the outside clock did not jump: {real:?}");
}

#[test]
fn channel_timeouts_on_the_bubbles_clock() {
    synctest::test(|| {
        let start = now();
        let ch = chan::<u32>(0);
        assert_eq!(ch.recv_timeout(30 * SEC), Err(RecvTimeoutError::Timeout));
        assert_eq!(since(start), 30 * SEC);
        assert!(ch.send_timeout(1, 30 * SEC).is_err());
        assert_eq!(since(start), 60 * SEC);
        let deadline = now() + 5 * SEC;
        assert_eq!(ch.recv_deadline(deadline), Err(RecvTimeoutError::Timeout));
        assert_eq!(now(), deadline);
        select! {
            recv(ch) => panic!("nobody sends"),
            recv(after(SEC)) -> t => assert_eq!(t, Some(deadline + SEC)),
        }
        // A value that comes in time is received at the time it is sent.
        let c = ch.clone();
        gort::go!(move || {
            gort::sleep(SEC);
            c.send(7).unwrap();
        });
        assert_eq!(ch.recv_timeout(10 * SEC), Ok(7));
        assert_eq!(since(start), 67 * SEC);
    });
}

/// A ticker's ticks land exactly on its period, however long it runs.
#[test]
fn ticker_does_not_drift() {
    synctest::test(|| {
        let start = now();
        let t = Ticker::new(Duration::from_millis(250));
        for k in 1..=2_000u32 {
            assert_eq!(t.c().recv(), Some(start + Duration::from_millis(250) * k));
        }
        t.stop();
        assert_eq!(since(start), Duration::from_millis(500_000));
    });
}

#[test]
fn semaphore_timeouts() {
    synctest::test(|| {
        let sem = Arc::new(Semaphore::new(2));
        sem.acquire(2);
        let start = now();
        assert!(!sem.acquire_timeout(1, 10 * SEC), "no unit frees up");
        assert_eq!(since(start), 10 * SEC);
        let s = sem.clone();
        gort::go!(move || {
            gort::sleep(3 * SEC);
            s.release(1);
        });
        assert!(sem.acquire_timeout(1, 10 * SEC), "a unit frees up after 3 s");
        assert_eq!(since(start), 13 * SEC);
        let (ctx, _cancel) = context::with_timeout(&context::background(), 5 * SEC);
        assert_eq!(sem.acquire_ctx(&ctx, 1), Err(DeadlineExceeded));
        assert_eq!(since(start), 18 * SEC);
        sem.release(2);
        assert_eq!(sem.acquire_ctx(&context::background(), 2), Ok(()));
    });
}

#[test]
fn barrier_timeouts() {
    synctest::test(|| {
        let b = Arc::new(Barrier::new(3));
        let start = now();
        let b2 = b.clone();
        let other = gort::go!(move || b2.wait());
        // The third party never comes: this one gives up after 2 s and
        // breaks the round for the other.
        assert_eq!(b.wait_timeout(2 * SEC), Err(BarrierError::Timeout));
        assert_eq!(since(start), 2 * SEC);
        assert_eq!(other.join().unwrap(), Err(BarrierError::Broken));
    });
}

#[test]
fn err_group_with_a_timeout() {
    synctest::test(|| {
        let (parent, _cancel) = context::with_timeout(&context::background(), 30 * SEC);
        let (g, ctx) = ErrGroup::<String>::with_context(&parent);
        let start = now();
        for i in 0..5u64 {
            let ctx = ctx.clone();
            g.go(move || {
                select! {
                    recv(after(Duration::from_secs(10 + 20 * i))) => Ok(()),
                    recv(ctx.done()) => Err(format!("task {i}: {}", ctx.err().unwrap())),
                }
            });
        }
        // Tasks 0 (10 s) finishes; 1 (30 s) races the deadline; 2.. are cut.
        let err = g.wait().unwrap_err();
        assert!(err.ends_with("context deadline exceeded"), "{err}");
        assert_eq!(since(start), 30 * SEC);
    });
}

/// `join` of a goroutine of the bubble is durable; `WaitGroup::wait` too.
#[test]
fn join_and_wait_group_are_durable() {
    synctest::test(|| {
        let start = now();
        let h = gort::go!(|| gort::sleep(Duration::from_secs(3600)));
        h.join().unwrap();
        assert_eq!(since(start), Duration::from_secs(3600));
        let wg = Arc::new(WaitGroup::new());
        for i in 1..=3u64 {
            let w = wg.add_guard_owned();
            gort::go!(move || {
                let _w = w;
                gort::sleep(Duration::from_secs(i));
            });
        }
        wg.wait();
        assert_eq!(since(start), Duration::from_secs(3603));
    });
}

/// The deadlock report lists the bubble's goroutines with Go's header.
#[test]
fn deadlock_report_lists_the_bubbles_goroutines() {
    let msg = want_panic("deadlock: all goroutines in bubble are blocked\n\n", || {
        synctest::test(|| {
            let ch = chan::<u32>(0);
            let c = ch.clone();
            gort::Builder::new().name("stuck-sender").spawn(move || c.send(1).unwrap());
            let g = ch.clone();
            gort::go!(move || g.send(2));
            synctest::wait();
            let _never = chan::<()>(0).recv();
        });
    });
    assert!(msg.contains("[chan receive (durable), synctest bubble "), "{msg}");
    assert!(msg.contains("[chan send (durable), synctest bubble "), "{msg}");
    assert!(msg.contains("name: stuck-sender"), "{msg}");
}

#[test]
fn misuse_panics_with_a_clear_message() {
    want_panic("synctest::wait: goroutine is not in a bubble", synctest::wait);
    want_panic("synctest::test called from within a synctest bubble", || {
        synctest::test(|| synctest::test(|| {}));
    });
    // Two goroutines in wait at once.
    want_panic("synctest::wait: wait already in progress", || {
        synctest::test(|| {
            let ch = chan::<()>(0);
            let c = ch.clone();
            let h = gort::go!(move || {
                synctest::wait();
                c.close();
            });
            while gort::debug::goroutines().iter().all(|g| g.state != "synctest.Wait") {
                gort::yield_now();
            }
            let r = std::panic::catch_unwind(synctest::wait);
            ch.recv();
            h.join().unwrap();
            if let Err(p) = r {
                std::panic::resume_unwind(p);
            }
        });
    });
    // A bubble's after_func and Ticker stopped or reset from outside.
    let (f, t) = synctest::test(|| {
        let f = gort::after_func(SEC, || {});
        let t = Ticker::new(SEC);
        (f, t)
    });
    want_panic("stop of synctest timer from outside bubble", || {
        let _ = f.stop();
    });
    want_panic("reset of synctest timer from outside bubble", || {
        let _ = f.reset(SEC);
    });
    want_panic("stop of synctest timer from outside bubble", || t.stop());
    want_panic("reset of synctest timer from outside bubble", || t.reset(SEC));
}

/// I/O is not durable: while a goroutine of the bubble waits on a socket
/// (here with a real 50 ms read deadline), the bubble's clock stands
/// still, and a sleeper of the bubble wakes only after the read is over.
#[test]
fn io_is_not_durable() {
    let ln = gort::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = ln.local_addr().unwrap();
    let peer = gort::go!(move || ln.accept().map(|(c, _)| c));
    let (order, frozen) = synctest::test(move || {
        let order = Arc::new(AtomicU32::new(0));
        let o = order.clone();
        let sleeper = gort::go!(move || {
            gort::sleep(SEC);
            o.fetch_add(1, Ordering::SeqCst)
        });
        let start = now();
        let mut c = gort::net::TcpStream::connect(addr).unwrap();
        c.set_read_deadline(Some(now() + Duration::from_millis(50))).unwrap();
        let mut buf = [0u8; 8];
        let err = c.read(&mut buf).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
        let frozen = since(start);
        let first = order.fetch_add(1, Ordering::SeqCst);
        assert_eq!(sleeper.join().unwrap(), 1, "the sleeper woke after the read");
        (first, frozen)
    });
    assert_eq!(order, 0, "the read ended first");
    assert_eq!(frozen, Duration::ZERO, "the bubble's clock stood still during the read");
    drop(peer.join().unwrap());
}

/// A mutex is not durable (as in Go): while a goroutine of the bubble
/// waits for a lock held outside the bubble, its clock stands still, even
/// though another member sleeps and could otherwise be woken.
#[test]
fn a_mutex_wait_is_not_durable() {
    let m = Arc::new(gort::sync::Mutex::new(0u32));
    let locked = chan::<()>(0);
    let (m2, l2) = (m.clone(), locked.clone());
    let holder = gort::go!(move || {
        let mut g = m2.lock();
        l2.send(()).unwrap();
        gort::sleep(Duration::from_millis(20)); // real time, outside
        *g += 1;
    });
    let (frozen, after) = synctest::test(move || {
        locked.recv(); // not durable either: an outside channel
        let start = now();
        let slept = Arc::new(AtomicUsize::new(0));
        let s = slept.clone();
        let sleeper = gort::go!(move || {
            gort::sleep(SEC);
            s.fetch_add(1, Ordering::SeqCst);
        });
        let v = *m.lock();
        assert_eq!(v, 1, "the holder's update is seen");
        assert_eq!(slept.load(Ordering::SeqCst), 0, "the sleeper did not wake while we waited");
        let frozen = since(start);
        sleeper.join().unwrap();
        (frozen, since(start))
    });
    holder.join().unwrap();
    assert_eq!(frozen, Duration::ZERO);
    assert_eq!(after, SEC);
}
