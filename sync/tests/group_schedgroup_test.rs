//! schedgroup (mdlayher/schedgroup): the course's example, due times,
//! cancellation, wait semantics and the two misuse panics.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Chan, run};
use gort_runtime::testing::synctest;
use gort_runtime::time::{now, since};
use gort_sync::context;
use gort_sync::group::SchedGroup;

/// The course's example: Delay(n × 100 ms) for n = 1, 2, 3 prints 1, 2, 3
/// in order; then Wait. Scheduled out of order here, so the group's heap
/// does the ordering. In a synctest bubble: each task runs exactly at its
/// time on the bubble's clock, and the test takes no real time.
#[test]
fn course_example_prints_1_2_3() {
    run("course_example_prints_1_2_3", 2, || {
        synctest::test(|| {
            let start = now();
            let out = Arc::new(Chan::<(u64, Duration)>::new());
            let sg = SchedGroup::new(&context::background());
            for n in [3u64, 1, 2] {
                let out = out.clone();
                sg.delay(Duration::from_millis(n * 100), move || out.send((n, since(start))));
            }
            assert_eq!(sg.wait(), Ok(()));
            let got: Vec<_> = (0..3).map(|_| out.try_recv().expect("ran before wait returned")).collect();
            let ms = Duration::from_millis;
            assert_eq!(got, [(1, ms(100)), (2, ms(200)), (3, ms(300))]);
        })
    });
}

/// No task starts before its time; each starts once, in its own
/// goroutine.
#[test]
fn tasks_run_once_never_early() {
    run("tasks_run_once_never_early", 2, || {
        let sg = SchedGroup::new(&context::background());
        let ran = Arc::new(AtomicUsize::new(0));
        let early = Arc::new(AtomicUsize::new(0));
        let caller = gort_runtime::current().unwrap().id();
        for i in 0..2_000u64 {
            let due = Instant::now() + Duration::from_micros((i * 7919) % 30_000);
            let (ran, early) = (ran.clone(), early.clone());
            sg.schedule(due, move || {
                if Instant::now() < due {
                    early.fetch_add(1, Ordering::SeqCst);
                }
                assert_ne!(gort_runtime::current().unwrap().id(), caller);
                ran.fetch_add(1, Ordering::SeqCst);
            });
        }
        assert_eq!(sg.wait(), Ok(()));
        assert_eq!(ran.load(Ordering::SeqCst), 2_000);
        assert_eq!(early.load(Ordering::SeqCst), 0, "a task ran before its time");
    });
}

/// A due time in the past and a zero delay run at once, before a task due
/// later (which is not waited for here: the first two report, then the
/// group's context is cancelled).
#[test]
fn past_and_zero_run_at_once() {
    run("past_and_zero_run_at_once", 2, || {
        let (ctx, cancel) = context::with_cancel(&context::background());
        let sg = SchedGroup::new(&ctx);
        let out = Arc::new(Chan::<&str>::new());
        let o = out.clone();
        sg.delay(Duration::from_secs(3600), move || o.send("an hour later"));
        let o = out.clone();
        sg.schedule(Instant::now() - Duration::from_secs(1), move || o.send("past"));
        let o = out.clone();
        sg.delay(Duration::ZERO, move || o.send("zero"));
        let mut got = [out.recv(), out.recv()];
        got.sort();
        assert_eq!(got, ["past", "zero"]);
        assert_eq!(sg.pending(), 1);
        cancel.cancel();
        assert_eq!(sg.wait(), Err(context::Canceled));
        assert_eq!(out.try_recv(), None, "the hour-later task never ran");
    });
}

/// Cancelling the context drops the pending tasks unrun; wait returns the
/// context's error after the started tasks have returned.
#[test]
fn cancel_drops_pending_tasks() {
    struct Tracked(Arc<AtomicUsize>);
    impl Drop for Tracked {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    run("cancel_drops_pending_tasks", 2, || {
        let (ctx, cancel) = context::with_cancel(&context::background());
        let sg = SchedGroup::new(&ctx);
        let (ran, dropped) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        for _ in 0..1_000 {
            let (ran, t) = (ran.clone(), Tracked(dropped.clone()));
            sg.delay(Duration::from_secs(3600), move || {
                let _t = t;
                ran.fetch_add(1, Ordering::SeqCst);
            });
        }
        // One task already running when the cancel comes: wait waits for it.
        let (started, release) = (Arc::new(Chan::<()>::new()), Arc::new(Chan::<()>::new()));
        let (s, r) = (started.clone(), release.clone());
        sg.delay(Duration::ZERO, move || {
            s.send(());
            r.recv();
        });
        started.recv();
        cancel.cancel();
        let waiter = {
            let sg = sg.clone();
            gort_runtime::spawn(move || sg.wait())
        };
        for _ in 0..20 {
            gort_runtime::yield_now();
        }
        assert!(!waiter.is_finished(), "wait returned before the running task");
        release.send(());
        assert_eq!(waiter.join().unwrap(), Err(context::Canceled));
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        assert_eq!(dropped.load(Ordering::SeqCst), 1_000, "pending tasks dropped by wait");
        assert_eq!(sg.pending(), 0);
    });
}

/// Wait checks the context first: a context that is already done wins
/// even over tasks that are due.
#[test]
fn wait_checks_the_context_first() {
    run("wait_checks_the_context_first", 2, || {
        let (ctx, cancel) = context::with_cancel(&context::background());
        let sg = SchedGroup::new(&ctx);
        cancel.cancel();
        sg.delay(Duration::from_secs(3600), || unreachable!());
        assert_eq!(sg.wait(), Err(context::Canceled));
        let (ctx, _cancel) = context::with_timeout(&context::background(), Duration::from_millis(10));
        let sg = SchedGroup::new(&ctx);
        sg.delay(Duration::from_secs(3600), || unreachable!());
        assert_eq!(sg.wait(), Err(context::DeadlineExceeded));
    });
}

/// An empty group's wait returns at once; wait also waits for tasks that
/// are running.
#[test]
fn wait_on_empty_and_running() {
    run("wait_on_empty_and_running", 2, || {
        assert_eq!(SchedGroup::new(&context::background()).wait(), Ok(()));
        let sg = SchedGroup::new(&context::background());
        let done = Arc::new(AtomicUsize::new(0));
        let d = done.clone();
        sg.delay(Duration::from_millis(1), move || {
            gort_runtime::sleep(Duration::from_millis(30));
            d.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(sg.wait(), Ok(()));
        assert_eq!(done.load(Ordering::SeqCst), 1, "wait returned while a task ran");
    });
}

/// The two misuse rules panic with schedgroup's messages.
#[test]
fn misuse_panics() {
    run("misuse_panics", 2, || {
        let sg = SchedGroup::new(&context::background());
        sg.wait().unwrap();
        let p = std::panic::catch_unwind(|| sg.delay(Duration::ZERO, || {})).unwrap_err();
        assert_eq!(
            common::panic_message(&*p),
            "schedgroup: attempted to schedule task after Group.Wait was called"
        );
        let p = std::panic::catch_unwind(|| sg.schedule(Instant::now(), || {})).unwrap_err();
        assert_eq!(
            common::panic_message(&*p),
            "schedgroup: attempted to schedule task after Group.Wait was called"
        );
        let p = std::panic::catch_unwind(|| sg.wait()).unwrap_err();
        assert_eq!(common::panic_message(&*p), "schedgroup: multiple calls to Group.Wait");
    });
}

/// Tasks scheduled from several goroutines at once all run.
#[test]
fn concurrent_scheduling() {
    run("concurrent_scheduling", 2, || {
        let sg = SchedGroup::new(&context::background());
        let ran = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..8)
            .map(|g| {
                let (sg, ran) = (sg.clone(), ran.clone());
                gort_runtime::spawn(move || {
                    for i in 0..500u64 {
                        let ran = ran.clone();
                        sg.delay(Duration::from_micros((g * 131 + i * 17) % 5_000), move || {
                            ran.fetch_add(1, Ordering::SeqCst);
                        });
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(sg.wait(), Ok(()));
        assert_eq!(ran.load(Ordering::SeqCst), 4_000);
    });
}

/// A group dropped without wait still runs its tasks, and its monitor
/// goroutine exits after the last one.
#[test]
fn dropped_group_runs_its_tasks_and_leaves_no_goroutine() {
    run("dropped_group_runs_its_tasks_and_leaves_no_goroutine", 2, || {
        let before = gort_runtime::num_goroutine();
        let out = Arc::new(Chan::<u32>::new());
        {
            let sg = SchedGroup::new(&context::background());
            for i in 0..3 {
                let out = out.clone();
                sg.delay(Duration::from_millis(5 * i as u64), move || out.send(i));
            }
        }
        let mut got = [out.recv(), out.recv(), out.recv()];
        got.sort();
        assert_eq!(got, [0, 1, 2]);
        let t = Instant::now();
        while gort_runtime::num_goroutine() > before {
            assert!(t.elapsed() < Duration::from_secs(10), "the monitor goroutine did not exit");
            gort_runtime::sleep(Duration::from_millis(1));
        }
    });
}
