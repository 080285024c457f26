//! `gort_runtime::future`: futures on goroutines. Wakes from goroutines,
//! plain threads and the future itself; spurious wakes; wakers that
//! outlive their future; 100,000 futures at once on 2 Ps; panics; timer
//! futures on the real clock and in synctest bubbles; a runtime dropped
//! under a parked `block_on`; hyper's runtime traits.
//!
//! Every check is causal (a value written before a wake is seen after
//! it); a lost wake-up would hang, so each test runs under a 120 s bound
//! (its work takes milliseconds) that turns a hang into a failure.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use gort_runtime::Runtime;
use gort_runtime::engine::{WaitReason, current_bubble};
use gort_runtime::future::{self, block_on, sleep, sleep_until, spawn, timeout};
use gort_runtime::testing::synctest;

const BOUND: Duration = Duration::from_secs(120);

/// Runs `f` on a thread of its own and fails if it has not finished
/// within [`BOUND`] (a lost wake-up would otherwise hang the test).
fn bounded<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(std::panic::catch_unwind(AssertUnwindSafe(f)));
    });
    match rx.recv_timeout(BOUND) {
        Ok(Ok(v)) => v,
        Ok(Err(p)) => std::panic::resume_unwind(p),
        Err(_) => panic!("{what} did not finish within {BOUND:?}: a lost wake-up"),
    }
}

fn rt2() -> Runtime {
    Runtime::builder().max_procs(2).build().expect("runtime")
}

/// A one-shot gate futures wait on: `open` wakes every registered waker.
#[derive(Default)]
struct Gate {
    open: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
    /// Polls that registered a waker.
    registered: AtomicUsize,
}

impl Gate {
    fn open(&self) {
        self.open.store(true, Ordering::SeqCst);
        let ws = std::mem::take(&mut *self.wakers.lock().unwrap());
        for w in ws {
            w.wake();
        }
    }

    fn wait(self: &Arc<Gate>) -> GateWait {
        GateWait(self.clone())
    }
}

struct GateWait(Arc<Gate>);

impl Future for GateWait {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let g = &self.0;
        if g.open.load(Ordering::SeqCst) {
            return Poll::Ready(());
        }
        g.wakers.lock().unwrap().push(cx.waker().clone());
        g.registered.fetch_add(1, Ordering::SeqCst);
        // `open` sets the flag before taking the wakers under the lock:
        // either it took ours, or we see the flag.
        if g.open.load(Ordering::SeqCst) { Poll::Ready(()) } else { Poll::Pending }
    }
}

/// Waits until `f` holds, polling every millisecond, for at most [`BOUND`].
fn wait_until(what: &str, f: impl Fn() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < BOUND, "{what}: not reached within {BOUND:?}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn wake_from_another_goroutine() {
    bounded("wake_from_another_goroutine", || {
        rt2().block_on(|| {
            for i in 0..2_000u64 {
                let gate = Arc::new(Gate::default());
                let value = Arc::new(AtomicU64::new(u64::MAX));
                let (g, v) = (gate.clone(), value.clone());
                let h = gort_runtime::spawn(move || {
                    if i % 2 == 0 {
                        gort_runtime::yield_now(); // let the future park first, sometimes
                    }
                    v.store(i, Ordering::Relaxed);
                    g.open();
                });
                let seen = block_on(async {
                    gate.wait().await;
                    value.load(Ordering::Relaxed)
                });
                assert_eq!(seen, i, "the value written before the wake is seen after it");
                h.join().unwrap();
            }
        })
    });
}

#[test]
fn wake_from_a_plain_thread() {
    bounded("wake_from_a_plain_thread", || {
        rt2().block_on(|| {
            for i in 0..300u64 {
                let gate = Arc::new(Gate::default());
                let value = Arc::new(AtomicU64::new(u64::MAX));
                let (g, v) = (gate.clone(), value.clone());
                let t = std::thread::spawn(move || {
                    v.store(i, Ordering::Relaxed);
                    g.open();
                });
                let seen = block_on(async {
                    gate.wait().await;
                    value.load(Ordering::Relaxed)
                });
                assert_eq!(seen, i);
                t.join().unwrap();
            }
        })
    });
}

/// Wakes itself `n` times (by reference, or through a clone woken by
/// value), returning `Pending` each time: a notification that arrives
/// during the poll must make `block_on` poll again, not park (nobody else
/// would ever wake it).
struct SelfWake {
    polls: u32,
    n: u32,
}

impl Future for SelfWake {
    type Output = u32;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
        self.polls += 1;
        if self.polls > self.n {
            return Poll::Ready(self.polls);
        }
        if self.polls % 2 == 0 {
            cx.waker().wake_by_ref();
        } else {
            // On purpose: a clone woken by value, the other path.
            #[allow(clippy::waker_clone_wake)]
            cx.waker().clone().wake();
        }
        Poll::Pending
    }
}

#[test]
fn self_wake_polls_again_without_parking() {
    bounded("self_wake (goroutine)", || {
        rt2().block_on(|| assert_eq!(block_on(SelfWake { polls: 0, n: 10_000 }), 10_001))
    });
    bounded("self_wake (plain thread)", || assert_eq!(block_on(SelfWake { polls: 0, n: 1_000 }), 1_001));
}

/// In every pending poll, has a plain thread wake the waker and waits
/// until it has: the wake lands while the poll is still running.
struct WokenDuringPoll {
    round: u32,
    rounds: u32,
    to_thread: mpsc::Sender<(Waker, Arc<AtomicBool>)>,
}

impl Future for WokenDuringPoll {
    type Output = u32;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
        if self.round == self.rounds {
            return Poll::Ready(self.round);
        }
        self.round += 1;
        let done = Arc::new(AtomicBool::new(false));
        self.to_thread.send((cx.waker().clone(), done.clone())).unwrap();
        while !done.load(Ordering::Acquire) {
            std::hint::spin_loop();
        }
        Poll::Pending
    }
}

#[test]
fn a_wake_racing_the_poll_is_not_lost() {
    let run = || {
        let (tx, rx) = mpsc::channel::<(Waker, Arc<AtomicBool>)>();
        let waker_thread = std::thread::spawn(move || {
            for (w, done) in rx {
                w.wake();
                done.store(true, Ordering::Release);
            }
        });
        let n = block_on(WokenDuringPoll { round: 0, rounds: 500, to_thread: tx });
        waker_thread.join().unwrap();
        n
    };
    bounded("racing wake (goroutine)", move || assert_eq!(rt2().block_on(run), 500));
    bounded("racing wake (plain thread)", move || assert_eq!(run(), 500));
}

/// Pending until `counter` reaches `target`; counts its polls.
struct UntilCount {
    counter: Arc<AtomicU64>,
    target: u64,
    polls: Arc<AtomicU64>,
    stash: Arc<Mutex<Option<Waker>>>,
}

impl Future for UntilCount {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        *self.stash.lock().unwrap() = Some(cx.waker().clone());
        if self.counter.load(Ordering::SeqCst) >= self.target { Poll::Ready(()) } else { Poll::Pending }
    }
}

#[test]
fn spurious_and_duplicate_wakes_are_harmless() {
    bounded("spurious wakes", || {
        rt2().block_on(|| {
            let counter = Arc::new(AtomicU64::new(0));
            let polls = Arc::new(AtomicU64::new(0));
            let wakes = Arc::new(AtomicU64::new(0));
            let stash = Arc::new(Mutex::new(None::<Waker>));
            let fut = UntilCount {
                counter: counter.clone(),
                target: 20_000,
                polls: polls.clone(),
                stash: stash.clone(),
            };
            let hammer =
                |counter: Arc<AtomicU64>, wakes: Arc<AtomicU64>, stash: Arc<Mutex<Option<Waker>>>| {
                    move || {
                        for _ in 0..10_000 {
                            counter.fetch_add(1, Ordering::SeqCst);
                            let w = stash.lock().unwrap().clone();
                            if let Some(w) = w {
                                // Twice: the second is a duplicate.
                                w.wake_by_ref();
                                w.wake_by_ref();
                                wakes.fetch_add(2, Ordering::SeqCst);
                            }
                        }
                    }
                };
            let t = std::thread::spawn(hammer(counter.clone(), wakes.clone(), stash.clone()));
            let g = gort_runtime::spawn(hammer(counter.clone(), wakes.clone(), stash.clone()));
            block_on(fut);
            t.join().unwrap();
            g.join().unwrap();
            // No busy polling: every poll after the first followed a wake.
            let (p, w) = (polls.load(Ordering::SeqCst), wakes.load(Ordering::SeqCst));
            assert!(p <= w + 1, "{p} polls for {w} wakes");
            // Wakes after the future finished: nothing to do, no crash.
            let late = stash.lock().unwrap().take().unwrap();
            late.wake_by_ref();
            late.wake();
            // The scheduler is intact: goroutines still park and wake.
            let hs: Vec<_> =
                (0..100).map(|i| gort_runtime::spawn(move || block_on(async move { i }))).collect();
            assert_eq!(hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>(), 4950);
        })
    });
}

#[test]
fn a_pending_future_nobody_wakes_is_not_polled_again() {
    struct CountPolls(Arc<AtomicU64>);
    impl Future for CountPolls {
        type Output = ();
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Poll::Pending
        }
    }
    bounded("no busy polling", || {
        let polls = Arc::new(AtomicU64::new(0));
        let p = polls.clone();
        let r = rt2().block_on(move || block_on(timeout(Duration::from_millis(30), CountPolls(p))));
        assert!(r.is_err(), "timed out");
        // The first poll, and the one after the timeout's timer fired.
        assert_eq!(polls.load(Ordering::SeqCst), 2);
    });
}

/// Stashes a clone of its waker, then never completes.
struct Stash(Arc<Mutex<Vec<Waker>>>);

impl Future for Stash {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.lock().unwrap().push(cx.waker().clone());
        Poll::Pending
    }
}

#[test]
fn a_waker_that_outlives_its_future_is_harmless() {
    bounded("waker outlives its future", || {
        rt2().block_on(|| {
            let stash = Arc::new(Mutex::new(Vec::new()));
            // The futures are dropped (lost the timeout) with their wakers
            // held here, and their goroutines exit: their Gs are reused.
            let hs: Vec<_> = (0..20)
                .map(|_| {
                    let s = stash.clone();
                    gort_runtime::spawn(move || {
                        block_on(timeout(Duration::from_millis(2), Stash(s))).is_err()
                    })
                })
                .collect();
            assert!(hs.into_iter().all(|h| h.join().unwrap()));
            // One clone per poll: before and after each timeout fired.
            assert_eq!(stash.lock().unwrap().len(), 40);
            // New goroutines, likely on the old Gs, park in block_on.
            let gate = Arc::new(Gate::default());
            let released = Arc::new(AtomicUsize::new(0));
            let parked: Vec<_> = (0..200)
                .map(|_| {
                    let (g, r) = (gate.clone(), released.clone());
                    gort_runtime::spawn(move || {
                        block_on(g.wait());
                        r.fetch_add(1, Ordering::SeqCst);
                    })
                })
                .collect();
            while gate.registered.load(Ordering::SeqCst) < 200 {
                gort_runtime::yield_now();
            }
            // The old wakers, woken from this goroutine and from a thread,
            // must not ready anybody.
            let old: Vec<Waker> = std::mem::take(&mut *stash.lock().unwrap());
            let (mine, theirs) = old.split_at(20);
            for w in mine {
                w.wake_by_ref();
            }
            let theirs = theirs.to_vec();
            std::thread::spawn(move || theirs.into_iter().for_each(Waker::wake)).join().unwrap();
            gort_runtime::sleep(Duration::from_millis(5));
            // A goroutine readied by an old waker would poll its future
            // again, find the gate shut and register once more.
            assert_eq!(gate.registered.load(Ordering::SeqCst), 200, "an old waker readied a goroutine");
            gate.open();
            for h in parked {
                h.join().unwrap();
            }
            assert_eq!(released.load(Ordering::SeqCst), 200);
        })
    });
}

#[test]
fn a_dropped_sleep_wakes_nobody_later() {
    bounded("dropped sleep", || {
        rt2().block_on(|| {
            let polled_once = async {
                let mut s = pin!(sleep(Duration::from_millis(5)));
                // Poll once (armed), then drop it armed.
                std::future::poll_fn(|cx| {
                    assert!(s.as_mut().poll(cx).is_pending());
                    Poll::Ready(())
                })
                .await;
            };
            block_on(polled_once);
            // Past the dropped timer's deadline: nothing fires into freed memory.
            gort_runtime::sleep(Duration::from_millis(20));
            assert_eq!(block_on(async { 3 }), 3);
        })
    });
}

#[test]
fn a_hundred_thousand_futures_on_two_ps() {
    const N: usize = 100_000;
    bounded("100,000 futures", || {
        rt2().block_on(|| {
            let gate = Arc::new(Gate::default());
            let hs: Vec<_> = (0..N)
                .map(|i| {
                    let g = gate.clone();
                    spawn(async move {
                        g.wait().await;
                        i as u64
                    })
                })
                .collect();
            // Every future is pending at once before the gate opens.
            while gate.registered.load(Ordering::SeqCst) < N {
                gort_runtime::sleep(Duration::from_millis(1));
            }
            gate.open();
            let sum: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
            assert_eq!(sum, (N as u64) * (N as u64 - 1) / 2);
        })
    });
}

#[test]
fn a_panic_in_poll_reaches_join() {
    bounded("panic in poll", || {
        let h = spawn(async {
            std::future::ready(()).await;
            panic!("boom in poll");
        });
        let p = h.join().unwrap_err();
        assert_eq!(p.message(), Some("boom in poll"));
        // Awaited rather than joined, from a goroutine.
        let p = rt2().block_on(|| block_on(spawn(async { panic!("boom again") })).unwrap_err());
        assert_eq!(p.message(), Some("boom again"));
        // block_on itself lets a panic out to its caller.
        let r = std::panic::catch_unwind(|| block_on(async { panic!("direct") }));
        assert!(r.is_err());
    });
}

#[test]
fn block_on_a_plain_thread() {
    bounded("block_on on a plain thread", || {
        assert!(gort_runtime::current().is_none(), "this is a plain thread");
        // Woken by a goroutine of the default runtime.
        let h = spawn(async {
            sleep(Duration::from_millis(2)).await;
            5
        });
        assert_eq!(block_on(h).unwrap(), 5);
        // Woken by another plain thread.
        let gate = Arc::new(Gate::default());
        let g = gate.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(2));
            g.open();
        });
        block_on(gate.wait());
        t.join().unwrap();
        // The handle's blocking join works here too.
        assert_eq!(spawn(async { 9 }).join().unwrap(), 9);
    });
}

#[test]
fn sleep_and_timeout_on_the_real_clock() {
    bounded("sleep and timeout", || {
        rt2().block_on(|| {
            let t = Instant::now();
            block_on(sleep(Duration::from_millis(20)));
            assert!(t.elapsed() >= Duration::from_millis(20), "woke early: {:?}", t.elapsed());

            // In the past: ready at once, and repeatedly.
            let mut s = pin!(sleep_until(Instant::now() - Duration::from_secs(1)));
            assert!(s.is_elapsed());
            block_on(s.as_mut());
            block_on(s.as_mut());

            // reset: from an hour to 10 ms, after the first poll armed it.
            let t = Instant::now();
            let mut s = pin!(sleep(Duration::from_secs(3600)));
            let armed = block_on(timeout(Duration::from_millis(1), s.as_mut()));
            assert!(armed.is_err());
            s.as_mut().reset(Instant::now() + Duration::from_millis(10));
            block_on(s.as_mut());
            assert!(t.elapsed() >= Duration::from_millis(10));
            assert!(s.deadline() <= Instant::now());

            assert_eq!(block_on(timeout(Duration::from_secs(10), async { 4 })), Ok(4));
            let e = block_on(timeout(Duration::from_millis(5), std::future::pending::<()>())).unwrap_err();
            assert_eq!(e.to_string(), "deadline has elapsed");
            assert_eq!(std::io::Error::from(e).kind(), std::io::ErrorKind::TimedOut);
            let r = block_on(future::timeout_at(
                Instant::now() + Duration::from_millis(5),
                sleep(Duration::from_secs(60)),
            ));
            assert!(r.is_err());
        })
    });
}

#[test]
fn an_hour_long_timeout_in_a_synctest_bubble_takes_no_time() {
    bounded("synctest timeout", || {
        let real = Instant::now();
        synctest::test(|| {
            let start = gort_runtime::time::now();
            let r = block_on(timeout(Duration::from_secs(3600), std::future::pending::<()>()));
            assert!(r.is_err(), "the pending future timed out");
            assert_eq!(gort_runtime::time::since(start), Duration::from_secs(3600));
            // A sleep, and a spawned future awaited through its handle.
            let h = spawn(async {
                sleep(Duration::from_secs(60)).await;
                gort_runtime::time::now()
            });
            let woke = block_on(h).unwrap();
            assert_eq!(woke - start, Duration::from_secs(3660));
        });
        // Expected: milliseconds; an hour if the bubble's clock were ignored.
        assert!(real.elapsed() < Duration::from_secs(60), "took {:?}", real.elapsed());
    });
}

#[test]
fn in_a_bubble_a_waker_held_outside_keeps_the_clock_still() {
    bounded("non-durable wait in a bubble", || {
        synctest::test(|| {
            let start = gort_runtime::time::now();
            // A goroutine of the bubble whose sleep would fire if the clock
            // moved.
            let sleeper = gort_runtime::spawn(|| gort_runtime::sleep(Duration::from_secs(1)));
            let gate = Arc::new(Gate::default());
            let g = gate.clone();
            // A plain thread, outside the bubble, holds the waker: the wait
            // is not durable, and waking it from outside is no error.
            let t = std::thread::spawn(move || {
                while g.registered.load(Ordering::SeqCst) == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
                std::thread::sleep(Duration::from_millis(20));
                g.open();
            });
            block_on(gate.wait());
            assert_eq!(
                gort_runtime::time::since(start),
                Duration::ZERO,
                "the clock moved while a waker was held outside"
            );
            t.join().unwrap();
            sleeper.join().unwrap();
            assert_eq!(gort_runtime::time::since(start), Duration::from_secs(1));
        });
    });
}

#[test]
fn block_on_parks_with_the_right_wait_reason() {
    bounded("wait reasons", || {
        let rt = rt2();
        let gate = Arc::new(Gate::default());
        let g = gate.clone();
        let h = rt.spawn(move || block_on(g.wait()));
        wait_until("the goroutine parks", || {
            rt.goroutines().iter().any(|i| i.wait_reason == Some(WaitReason::FutureWait))
        });
        gate.open();
        h.join().unwrap();
        // In a bubble, waiting only on a bubble timer is durable.
        synctest::test(|| {
            let h = gort_runtime::spawn(|| block_on(sleep(Duration::from_secs(5))));
            synctest::wait();
            let me = gort_runtime::current().unwrap().id();
            let bubble = current_bubble().unwrap().id();
            let reason = gort_runtime::debug::goroutines()
                .into_iter()
                .find(|i| i.synctest_bubble == bubble && i.id != me)
                .and_then(|i| i.wait_reason);
            assert_eq!(reason, Some(WaitReason::FutureWaitDurable));
            h.join().unwrap();
        });
    });
}

/// Sets its flag when dropped.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn dropping_the_runtime_unwinds_a_parked_block_on() {
    bounded("runtime drop", || {
        let rt = rt2();
        let dropped = Arc::new(AtomicBool::new(false));
        let stash = Arc::new(Mutex::new(Vec::new()));
        let (d, s) = (dropped.clone(), stash.clone());
        drop(rt.spawn(move || {
            let flag = DropFlag(d);
            block_on(async move {
                let _flag = flag;
                Stash(s).await
            })
        }));
        wait_until("the goroutine parks", || {
            rt.goroutines().iter().any(|i| i.wait_reason == Some(WaitReason::FutureWait))
        });
        drop(rt);
        assert!(dropped.load(Ordering::SeqCst), "the future on the unwound stack was dropped");
        // Its waker outlived the runtime: waking it does nothing.
        for w in stash.lock().unwrap().drain(..) {
            w.wake();
        }
    });
}

#[cfg(feature = "hyper")]
mod hyper_rt {
    use super::*;
    use gort_runtime::future::hyper_rt::{GortExecutor, GortTimer};
    use hyper::rt::{Executor, Timer};

    #[test]
    fn the_executor_runs_each_future_on_a_goroutine() {
        bounded("hyper executor", || {
            let (tx, rx) = mpsc::channel();
            for i in 0..10 {
                let tx = tx.clone();
                GortExecutor.execute(async move {
                    sleep(Duration::from_millis(1)).await;
                    tx.send((i, gort_runtime::current().map(|g| g.id()))).unwrap();
                });
            }
            let mut ids: Vec<u64> =
                (0..10).map(|_| rx.recv().unwrap().1.expect("ran on a goroutine")).collect();
            ids.sort();
            ids.dedup();
            assert_eq!(ids.len(), 10, "one goroutine per future");
        });
    }

    /// A hyper Sleep that is not gort's.
    struct Other;
    impl Future for Other {
        type Output = ();
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
            Poll::Pending
        }
    }
    impl hyper::rt::Sleep for Other {}

    #[test]
    fn the_timer_sleeps_and_resets() {
        bounded("hyper timer", || {
            let t = Instant::now();
            block_on(GortTimer.sleep(Duration::from_millis(5)));
            assert!(t.elapsed() >= Duration::from_millis(5));
            block_on(GortTimer.sleep_until(Instant::now() + Duration::from_millis(1)));
            // reset moves gort's Sleep in place...
            let mut s = GortTimer.sleep(Duration::from_secs(3600));
            assert!(block_on(timeout(Duration::from_millis(1), s.as_mut())).is_err());
            let before = &*s as *const dyn hyper::rt::Sleep as *const ();
            GortTimer.reset(&mut s, Instant::now() + Duration::from_millis(5));
            assert_eq!(&*s as *const dyn hyper::rt::Sleep as *const (), before, "reset in place");
            block_on(s.as_mut());
            // ...and replaces anyone else's.
            let mut o: Pin<Box<dyn hyper::rt::Sleep>> = Box::pin(Other);
            GortTimer.reset(&mut o, Instant::now() + Duration::from_millis(1));
            block_on(o.as_mut());
        });
    }

    #[test]
    fn the_timer_follows_a_synctest_bubble() {
        bounded("hyper timer in a bubble", || {
            synctest::test(|| {
                let start = GortTimer.now();
                assert_eq!(start, gort_runtime::time::now());
                block_on(GortTimer.sleep(Duration::from_secs(3600)));
                assert_eq!(GortTimer.now() - start, Duration::from_secs(3600));
            });
        });
    }
}
