#![allow(non_snake_case)]
//! What depends on context or channels: `ErrGroup::with_context` (ports of
//! x/sync errgroup_test.go's TestWithContext and TestCancelCause),
//! `Semaphore::acquire_ctx` (ports of x/sync semaphore_test.go's tests that
//! use a context: TestWeightedAcquire, TestWeightedDoesntBlockIfTooBig,
//! TestAllocCancelDoesntStarve, TestWeightedAcquireCanceled) and
//! `SingleFlight::do_chan` (TestDoChan, TestPanicDoSharedByDoChan with the
//! channel), plus the seeds' scenarios with a context.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{is_child, run, run_child};
use gort_channels::{chan, select};
use gort_runtime::spawn;
use gort_runtime::testing::synctest;
use gort_runtime::time::{now, since};
use gort_sync::context::{
    self, Canceled, Cause, DeadlineExceeded, background, cause, with_cancel, with_timeout,
};
use gort_sync::{ErrGroup, Semaphore, SingleFlight};

#[derive(Debug, Clone, PartialEq)]
struct Doom;

impl std::fmt::Display for Doom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("group_test: doomed")
    }
}

impl std::error::Error for Doom {}

/// The errors the tasks return, and what `wait` should return.
type Case = (&'static [Option<Doom>], Result<(), Doom>);

const CASES: [Case; 4] =
    [(&[], Ok(())), (&[None], Ok(())), (&[Some(Doom)], Err(Doom)), (&[Some(Doom), None], Err(Doom))];

/// x/sync: TestWithContext: the group's context is done once `wait`
/// returns, whatever the tasks returned.
#[test]
fn TestWithContext() {
    run("TestWithContext", 2, || {
        let cases = CASES;
        for (errs, want) in cases {
            let (g, ctx) = ErrGroup::<Doom>::with_context(&background());
            for e in errs {
                let e = e.clone();
                g.go(move || e.map_or(Ok(()), Err));
            }
            assert_eq!(g.wait(), want, "errs {errs:?}");
            assert!(ctx.done().is_closed(), "errs {errs:?}: ctx.Done() was not closed");
        }
    });
}

/// x/sync: TestCancelCause: the context's cause is the first error, or
/// `Canceled` when there was none.
#[test]
fn TestCancelCause() {
    run("TestCancelCause", 2, || {
        let cases = CASES;
        for (errs, want) in cases {
            let (g, ctx) = ErrGroup::<Doom>::with_context_cause(&background());
            for e in errs {
                let e = e.clone();
                g.try_go(move || e.map_or(Ok(()), Err));
            }
            assert_eq!(g.wait(), want.clone(), "errs {errs:?}");
            let c = cause(&ctx).expect("done after wait");
            match want {
                Ok(()) => assert!(c == Canceled, "cause {c}"),
                Err(_) => assert_eq!(c.downcast_ref::<Doom>(), Some(&Doom), "cause {c}"),
            }
        }
    });
}

/// The first failure cancels the siblings that watch the context, before
/// `wait` returns; an error type that is not a `std::error::Error` works
/// too (the cause is then `Canceled`).
#[test]
fn errgroup_first_error_cancels_siblings() {
    run("errgroup_first_error_cancels_siblings", 2, || {
        let (g, ctx) = ErrGroup::<String>::with_context(&background());
        let stopped = Arc::new(AtomicUsize::new(0));
        for _ in 0..4 {
            let (ctx, stopped) = (ctx.clone(), stopped.clone());
            g.go(move || {
                let never = chan::<()>(0);
                select! {
                    recv(never) => unreachable!(),
                    recv(ctx.done()) => {
                        stopped.fetch_add(1, Ordering::SeqCst);
                        Err(ctx.err().unwrap().to_string())
                    }
                }
            });
        }
        g.go(|| {
            gort_runtime::sleep(Duration::from_millis(5));
            Err("fetch failed".to_string())
        });
        assert_eq!(g.wait(), Err("fetch failed".to_string()));
        assert_eq!(stopped.load(Ordering::SeqCst), 4);
        assert!(cause(&ctx).unwrap() == Canceled);
    });
}

/// x/sync: TestWeightedAcquire, with contexts that time out after 10 ms.
#[test]
fn TestWeightedAcquire() {
    run("TestWeightedAcquire", 2, || {
        let sem = Semaphore::new(2);
        let try_acquire = |n| {
            let (ctx, _cancel) = with_timeout(&background(), Duration::from_millis(10));
            sem.acquire_ctx(&ctx, n).is_ok()
        };
        let mut tries = Vec::new();
        sem.acquire(1);
        tries.push(try_acquire(1));
        tries.push(try_acquire(1));
        sem.release(2);
        tries.push(try_acquire(1));
        sem.acquire(1);
        tries.push(try_acquire(1));
        assert_eq!(tries, [true, false, true, false]);
        assert_eq!(sem.held(), 2);
    });
}

/// x/sync: TestWeightedDoesntBlockIfTooBig: a request larger than the size
/// waits for its context without holding up the requests after it.
#[test]
fn TestWeightedDoesntBlockIfTooBig() {
    run("TestWeightedDoesntBlockIfTooBig", 2, || {
        const N: usize = 2;
        let sem = Arc::new(Semaphore::new(N));
        let (ctx, cancel) = with_cancel(&background());
        let big = {
            let (sem, ctx) = (sem.clone(), ctx.clone());
            spawn(move || sem.acquire_ctx(&ctx, N + 1))
        };
        let (g, gctx) = ErrGroup::<context::Error>::with_context(&background());
        for _ in 0..N * 3 {
            let (sem, gctx) = (sem.clone(), gctx.clone());
            g.go(move || {
                sem.acquire_ctx(&gctx, 1)?;
                gort_runtime::sleep(Duration::from_millis(1));
                sem.release(1);
                Ok(())
            });
        }
        assert_eq!(g.wait(), Ok(()));
        cancel.cancel();
        assert_eq!(big.join().unwrap(), Err(Canceled));
        assert_eq!(sem.held(), 0);
    });
}

/// x/sync: TestAllocCancelDoesntStarve: a request at the head of the queue
/// whose context is cancelled lets the smaller requests behind it proceed.
#[test]
fn TestAllocCancelDoesntStarve() {
    run("TestAllocCancelDoesntStarve", 2, || {
        let sem = Arc::new(Semaphore::new(10));
        // Block off a portion of the semaphore so that acquire(10) waits.
        sem.acquire(1);
        let (ctx, cancel) = with_cancel(&background());
        let big = {
            let (sem, ctx) = (sem.clone(), ctx.clone());
            spawn(move || sem.acquire_ctx(&ctx, 10))
        };
        // Wait until the acquire(10) call blocks.
        while sem.try_acquire(1) {
            sem.release(1);
            gort_runtime::yield_now();
        }
        // Grab one unit while the acquire(10) call is cancelled: both
        // return, in either order.
        spawn(move || cancel.cancel());
        assert_eq!(sem.acquire_ctx(&background(), 1), Ok(()));
        sem.release(1);
        assert_eq!(big.join().unwrap(), Err(Canceled));
        sem.release(1);
        assert_eq!(sem.held(), 0);
    });
}

/// x/sync: TestWeightedAcquireCanceled (Go issue 63615): a context that
/// ends before enough units are free makes the acquire fail even if the
/// units come right after, and gives back nothing it did not hold; a done
/// context fails even when no waiting is needed.
#[test]
fn TestWeightedAcquireCanceled() {
    run("TestWeightedAcquireCanceled", 2, || {
        let sem = Arc::new(Semaphore::new(2));
        let (ctx, cancel) = with_cancel(&background());
        sem.acquire(1);
        let ch = chan::<()>(0);
        let other = {
            let (sem, ch) = (sem.clone(), ch.clone());
            spawn(move || {
                // Synchronize with the acquire(2) below.
                while sem.try_acquire(1) {
                    sem.release(1);
                    gort_runtime::yield_now();
                }
                // Cancel, then release the unit.
                cancel.cancel();
                sem.release(1);
                ch.close();
            })
        };
        assert_eq!(sem.acquire_ctx(&ctx, 2), Err(Canceled));
        ch.recv();
        other.join().unwrap();
        assert!(sem.try_acquire(2), "try_acquire after a canceled acquire failed");
        sem.release(2);
        assert_eq!(sem.acquire_ctx(&ctx, 1), Err(Canceled));
        assert_eq!(sem.held(), 0);
    });
}

/// Many waiters with deadlines, grants and cancellations racing: the
/// units held never exceed the size, and every unit comes back.
#[test]
fn semaphore_acquire_ctx_stress() {
    run("semaphore_acquire_ctx_stress", 2, || {
        let sem = Arc::new(Semaphore::new(3));
        let held = Arc::new(AtomicUsize::new(0));
        let (g, _gctx) = ErrGroup::<()>::with_context(&background());
        for i in 0..16 {
            let (sem, held) = (sem.clone(), held.clone());
            g.go(move || {
                for j in 0..200usize {
                    let w = 1 + (i + j) % 3;
                    let (ctx, _cancel) =
                        with_timeout(&background(), Duration::from_micros(((i * 7 + j) % 40) as u64));
                    if sem.acquire_ctx(&ctx, w).is_ok() {
                        let h = held.fetch_add(w, Ordering::SeqCst) + w;
                        assert!(h <= 3, "{h} units held of 3");
                        gort_runtime::yield_now();
                        held.fetch_sub(w, Ordering::SeqCst);
                        sem.release(w);
                    }
                }
                Ok(())
            });
        }
        g.wait().unwrap();
        assert_eq!(sem.held(), 0);
        assert!(sem.try_acquire(3));
    });
}

/// x/sync singleflight: TestDoChan, with the channel.
#[test]
fn TestDoChan() {
    run("TestDoChan", 2, || {
        let g: Arc<SingleFlight<&str, String>> = Arc::new(SingleFlight::new());
        let ch = g.do_chan("key", || "bar".to_string());
        let (v, shared) = ch.recv().expect("a result");
        assert_eq!(v, "bar");
        assert!(!shared);
        assert_eq!(ch.recv(), None, "one result, then nothing");
    });
}

/// Callers that join a flight through `do_chan` all get its value, marked
/// shared, and the function runs once.
#[test]
fn do_chan_shared() {
    run("do_chan_shared", 2, || {
        let g: Arc<SingleFlight<u32, u32>> = Arc::new(SingleFlight::new());
        let calls = Arc::new(AtomicUsize::new(0));
        let gate = chan::<()>(0);
        let first = {
            let (calls, gate) = (calls.clone(), gate.clone());
            g.do_chan(7, move || {
                calls.fetch_add(1, Ordering::SeqCst);
                gate.recv();
                49
            })
        };
        let others: Vec<_> = (0..5).map(|_| g.do_chan(7, || unreachable!("joined the flight"))).collect();
        gate.close();
        assert_eq!(first.recv(), Some((49, true)));
        for o in others {
            assert_eq!(o.recv(), Some((49, true)));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    });
}

/// x/sync: TestPanicDoSharedByDoChan, with the channel: a `do_chan` caller
/// joining a `call` flight whose function panics gets no value (its
/// channel is closed), the leader gets the panic.
#[test]
fn TestPanicDoSharedByDoChan() {
    run("TestPanicDoSharedByDoChan", 2, || {
        let g: Arc<SingleFlight<&str, i32>> = Arc::new(SingleFlight::new());
        let blocked = chan::<()>(0);
        let unblock = chan::<()>(0);
        let leader = {
            let (g, blocked, unblock) = (g.clone(), blocked.clone(), unblock.clone());
            spawn(move || {
                g.call("key", || {
                    blocked.send(()).unwrap();
                    unblock.recv();
                    panic!("Panicking in Do")
                })
            })
        };
        blocked.recv();
        let follower = g.do_chan("key", || unreachable!("joined the flight in progress"));
        unblock.close();
        assert!(leader.join().is_err());
        assert_eq!(follower.recv(), None);
    });
}

/// x/sync: TestPanicDoChan, with the channel: a panic in a `do_chan`
/// function ends the process even though nobody waits.
#[test]
fn TestPanicDoChan() {
    if is_child("TestPanicDoChan") {
        run("TestPanicDoChan", 2, || {
            let g: Arc<SingleFlight<&str, i32>> = Arc::new(SingleFlight::new());
            let _ch = g.do_chan("key", || panic!("Panicking in DoChan"));
            gort_runtime::sleep(Duration::from_secs(5));
            eprintln!("DoChan panic went unnoticed");
        });
        return;
    }
    let (status, stderr) = run_child("TestPanicDoChan");
    assert!(!status.success(), "child survived:\n{stderr}");
    assert!(stderr.contains("Panicking in DoChan"), "missing the panic:\n{stderr}");
    assert!(!stderr.contains("unnoticed"), "{stderr}");
}

/// Seeds S05: `search` takes 200 ms; with a 100 ms timeout the caller gets
/// "search canceled" after 100 ms. With a result channel of capacity 1 the
/// search goroutine finishes anyway (no leak); with an unbuffered one it
/// stays blocked in its send (the forgotten sender).
///
/// In a synctest bubble, as the seed's times: the deadline and the search
/// are exact on the bubble's clock, however loaded the machine, and the
/// bubble itself is the leak check: `test` returns only once every
/// goroutine of the bubble has exited, and reports a goroutine left
/// blocked as a deadlock with its wait (the real-time version needed a
/// 1 s search and polling, 2 s).
#[test]
fn seed_search_timeout_no_leak() {
    fn search(term: &str) -> Result<String, String> {
        gort_runtime::sleep(Duration::from_millis(200));
        Ok(format!("some value for {term}"))
    }
    fn process_with_timeout(term: &'static str, cap: usize) -> Result<String, String> {
        let (ctx, _cancel) = with_timeout(&background(), Duration::from_millis(100));
        let ch = chan::<Result<String, String>>(cap);
        let tx = ch.sender();
        spawn(move || {
            let _ = tx.send(search(term));
        });
        select! {
            recv(ctx.done()) => Err("search canceled".to_string()),
            recv(ch) -> r => r.unwrap(),
        }
    }
    run("seed_search_timeout_no_leak", 2, || {
        // The 100 ms deadline, not the 200 ms search, decides. Once the
        // search is over (time stops in a bubble when its main goroutine
        // returns, so that waits for it), the searcher sends into the
        // buffer and exits: `test` returns.
        synctest::test(|| {
            let t = now();
            assert_eq!(process_with_timeout("gort", 1), Err("search canceled".to_string()));
            assert_eq!(since(t), Duration::from_millis(100));
            gort_runtime::sleep(Duration::from_millis(200));
        });
        // Unbuffered: the searcher blocks for ever in its send.
        let r = std::panic::catch_unwind(|| {
            synctest::test(|| {
                let _ = process_with_timeout("gort", 0);
                gort_runtime::sleep(Duration::from_millis(200));
            });
        });
        let msg = common::panic_message(&*r.expect_err("the forgotten sender must be reported"));
        assert!(
            msg.starts_with("deadlock: main bubble goroutine has exited but blocked goroutines remain"),
            "{msg}"
        );
        assert_eq!(msg.matches("\ngoroutine ").count(), 1, "one leaked goroutine: {msg}");
        assert!(msg.contains("[chan send (durable), synctest bubble "), "{msg}");
    });
}

/// Seeds S09: a tracker's `shutdown(ctx)` waits for in-flight events in a
/// helper goroutine and gives up when the context ends; the helper exits
/// when the events finish, so the leak is bounded.
#[test]
fn seed_tracker_shutdown_with_deadline() {
    struct Tracker {
        wg: Arc<gort_sync::WaitGroup>,
    }
    impl Tracker {
        fn event(&self, d: Duration) {
            self.wg.go(move || gort_runtime::sleep(d));
        }
        fn shutdown(&self, ctx: &context::Context) -> Result<(), &'static str> {
            let done = chan::<()>(0);
            let (wg, d) = (self.wg.clone(), done.clone());
            spawn(move || {
                wg.wait();
                d.close();
            });
            select! {
                recv(done) => Ok(()),
                recv(ctx.done()) => Err("timeout"),
            }
        }
    }
    // In a synctest bubble: exact times, and `test` returning is the leak
    // check (the helper and the events finish at 500 ms).
    run("seed_tracker_shutdown_with_deadline", 2, || {
        synctest::test(|| {
            let start = now();
            let tr = Tracker { wg: Arc::new(gort_sync::WaitGroup::new()) };
            for _ in 0..10 {
                tr.event(Duration::from_millis(1));
            }
            let (ctx, _c) = with_timeout(&background(), Duration::from_millis(100));
            assert_eq!(tr.shutdown(&ctx), Ok(()));
            assert_eq!(since(start), Duration::from_millis(1), "the events took 1 ms");

            for _ in 0..10 {
                tr.event(Duration::from_millis(500));
            }
            let (ctx, _c) = with_timeout(&background(), Duration::from_millis(50));
            assert_eq!(tr.shutdown(&ctx), Err("timeout"));
            assert_eq!(ctx.err(), Some(DeadlineExceeded));
            assert_eq!(since(start), Duration::from_millis(51), "shutdown gave up at its deadline");
            // Time stops when the bubble's main goroutine returns: wait for
            // the events, then the helper exits too.
            tr.wg.wait();
            assert_eq!(since(start), Duration::from_millis(501));
        });
    });
}

/// The cause of a group's context can be read while tasks still run.
#[test]
fn errgroup_context_cause_is_first_error() {
    run("errgroup_context_cause_is_first_error", 2, || {
        let (g, ctx) = ErrGroup::<Doom>::with_context_cause(&background());
        g.go(|| Err(Doom));
        ctx.done().recv();
        let c: Cause = cause(&ctx).unwrap();
        assert!(c.is::<Doom>());
        assert_eq!(g.wait(), Err(Doom));
    });
}

/// Seeds S10: the channel-based tracker. `event(ctx, data)` sends to the
/// worker or gives up with the context's error; `shutdown(ctx)` closes the
/// queue and waits for the worker to drain it, or for the context. Events
/// are processed in FIFO order; with a `stop` channel of capacity 1 the
/// worker never leaks, even when shutdown gives up first.
#[test]
fn seed_channel_tracker() {
    struct Tracker {
        ch: gort_channels::Chan<u32>,
        stop: gort_channels::Chan<()>,
        log: Arc<std::sync::Mutex<Vec<u32>>>,
    }
    impl Tracker {
        fn new() -> Tracker {
            Tracker { ch: chan(0), stop: chan(1), log: Arc::default() }
        }
        fn run(&self, work: Duration) -> gort_runtime::JoinHandle<()> {
            let (ch, stop, log) = (self.ch.clone(), self.stop.clone(), self.log.clone());
            spawn(move || {
                for data in &ch {
                    gort_runtime::sleep(work);
                    log.lock().unwrap().push(data);
                }
                stop.send(()).unwrap();
            })
        }
        fn event(&self, ctx: &context::Context, data: u32) -> Result<(), context::Error> {
            select! {
                send(self.ch, data) -> r => {
                    r.expect("event after shutdown"); // Go: send on closed channel panics
                    Ok(())
                }
                recv(ctx.done()) => Err(ctx.err().unwrap()),
            }
        }
        fn shutdown(&self, ctx: &context::Context) -> Result<(), context::Error> {
            self.ch.close();
            select! {
                recv(self.stop) => Ok(()),
                recv(ctx.done()) => Err(ctx.err().unwrap()),
            }
        }
    }
    // In a synctest bubble: exact times, and `test` returning is the leak
    // check.
    run("seed_channel_tracker", 2, || synctest::test(channel_tracker));
    fn channel_tracker() {
        let start = now();
        let tr = Tracker::new();
        let worker = tr.run(Duration::from_millis(1));
        for i in 0..20 {
            tr.event(&background(), i).unwrap();
        }
        let (ctx, _c) = with_timeout(&background(), Duration::from_secs(5));
        assert_eq!(tr.shutdown(&ctx), Ok(()));
        assert_eq!(since(start), Duration::from_millis(20), "20 events of 1 ms");
        assert_eq!(*tr.log.lock().unwrap(), (0..20).collect::<Vec<_>>(), "FIFO, none lost");
        worker.join().unwrap();

        // A cancelled context wins over a send nobody takes.
        let tr = Tracker::new();
        let (ctx, cancel) = with_cancel(&background());
        cancel.cancel();
        assert_eq!(tr.event(&ctx, 1), Err(Canceled));

        // Shutdown gives up after its deadline; the worker finishes later
        // and, with room in `stop`, exits.
        let tr = Tracker::new();
        let worker = tr.run(Duration::from_millis(300));
        tr.event(&background(), 7).unwrap();
        let t = now();
        let (ctx, _c) = with_timeout(&background(), Duration::from_millis(20));
        assert_eq!(tr.shutdown(&ctx), Err(DeadlineExceeded));
        assert_eq!(since(t), Duration::from_millis(20));
        worker.join().unwrap();
        assert_eq!(since(t), Duration::from_millis(300), "the worker finished its event");
    }
}
