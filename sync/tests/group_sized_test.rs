//! SizedGroup and ErrSizedGroup (go-pkgz/syncs): the course's example,
//! both modes, Discard, the context, errors, and the bounded-group
//! regression scenario of the course's bilibili errgroup section.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Chan, run};
use gort_runtime::testing::synctest;
use gort_runtime::{PanicPolicy, Runtime, spawn};
use gort_sync::WaitGroup;
use gort_sync::context;
use gort_sync::group::{ErrSizedGroup, SizedGroup};

/// Counts running tasks and keeps the high-water mark.
#[derive(Default)]
struct Gauge {
    now: AtomicUsize,
    max: AtomicUsize,
}

impl Gauge {
    fn enter(&self) {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(n, Ordering::SeqCst);
    }
    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The course's example: NewSizedGroup(10), 1,000 tasks that sleep 5 ms
/// and count; Wait; prints 1000. Ten slots make it take exactly
/// 1000 × 5 ms / 10 = 0.5 s: in a synctest bubble that is checked on the
/// bubble's clock, instantly (on the real clock it was only a lower bound,
/// and took half a second).
#[test]
fn course_example_1000_tasks_10_at_a_time() {
    run("course_example_1000_tasks_10_at_a_time", 2, || synctest::test(course_example));
    fn course_example() {
        let swg = SizedGroup::new(10);
        let c = Arc::new(AtomicU32::new(0));
        let gauge = Arc::new(Gauge::default());
        let t = gort_runtime::time::now();
        for _ in 0..1000 {
            let (c, gauge) = (c.clone(), gauge.clone());
            assert!(swg.go(move |_ctx| {
                gauge.enter();
                gort_runtime::sleep(Duration::from_millis(5));
                c.fetch_add(1, Ordering::SeqCst);
                gauge.leave();
            }));
        }
        swg.wait();
        assert_eq!(c.load(Ordering::SeqCst), 1000);
        assert!(gauge.max.load(Ordering::SeqCst) <= 10, "more than 10 tasks ran at once");
        assert_eq!(gort_runtime::time::since(t), Duration::from_millis(500), "10 slots, 1000 × 5 ms");
    }
}

/// Default mode: `go` never blocks and every call gets a goroutine at
/// once (they wait inside); preemptive mode: `go` waits for a slot, so the
/// group never has more goroutines than slots.
#[test]
fn default_mode_spawns_preemptive_mode_blocks() {
    run("default_mode_spawns_preemptive_mode_blocks", 2, || {
        let hold = Arc::new(Chan::<()>::new());
        let started = Arc::new(Chan::<()>::new());
        let before = gort_runtime::num_goroutine();
        let g = SizedGroup::new(1);
        let (h, s) = (hold.clone(), started.clone());
        g.go(move |_| {
            s.send(());
            h.recv()
        });
        started.recv(); // the first task has the slot
        // All of these return at once although the only slot is held.
        let ran = Arc::new(AtomicUsize::new(0));
        for _ in 0..100 {
            let ran = ran.clone();
            assert!(g.go(move |_| {
                ran.fetch_add(1, Ordering::SeqCst);
            }));
        }
        assert_eq!(gort_runtime::num_goroutine() - before, 101, "one goroutine per call");
        assert_eq!(ran.load(Ordering::SeqCst), 0, "none runs while the slot is held");
        hold.send(());
        g.wait();
        assert_eq!(ran.load(Ordering::SeqCst), 100);

        // Preemptive: the second `go` parks its caller until the slot frees.
        let g = SizedGroup::new(1).preemptive();
        let h = hold.clone();
        g.go(move |_| h.recv());
        let returned = Arc::new(AtomicBool::new(false));
        let caller = {
            let (g, returned) = (g.clone(), returned.clone());
            spawn(move || {
                g.go(|_| {});
                returned.store(true, Ordering::SeqCst);
            })
        };
        for _ in 0..50 {
            gort_runtime::yield_now();
        }
        assert!(!returned.load(Ordering::SeqCst), "go returned while every slot was taken");
        hold.send(());
        caller.join().unwrap();
        g.wait();
        assert!(returned.load(Ordering::SeqCst));
    });
}

/// Discard: with every slot taken, `go` drops the task and says so.
#[test]
fn discard_drops_tasks_when_full() {
    run("discard_drops_tasks_when_full", 2, || {
        let hold = Arc::new(Chan::<()>::new());
        let g = SizedGroup::new(1).discard();
        let h = hold.clone();
        assert!(g.go(move |_| h.recv()));
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        assert!(!g.go(move |_| r.store(true, Ordering::SeqCst)), "no free slot: discarded");
        hold.send(());
        g.wait();
        assert!(!ran.load(Ordering::SeqCst));
        assert!(g.go(|_| {}), "a free slot again");
        g.wait();
    });
}

/// Cancelling the group's context: tasks waiting for a slot give up
/// without running, `go` starts nothing more, running tasks see it.
#[test]
fn cancel_skips_waiting_tasks() {
    run("cancel_skips_waiting_tasks", 2, || {
        let (ctx, cancel) = context::with_cancel(&context::background());
        let g = SizedGroup::new(1).context(&ctx);
        let started = Arc::new(Chan::<()>::new());
        let s = started.clone();
        g.go(move |ctx| {
            s.send(());
            ctx.done().recv(); // runs until cancelled
        });
        started.recv();
        let ran = Arc::new(AtomicUsize::new(0));
        for _ in 0..10 {
            let ran = ran.clone();
            g.go(move |_| {
                ran.fetch_add(1, Ordering::SeqCst);
            });
        }
        cancel.cancel();
        g.wait();
        assert_eq!(ran.load(Ordering::SeqCst), 0, "queued tasks do not run after the cancel");
        assert!(!g.go(|_| unreachable!()), "nothing starts on a done context");
    });
}

/// A bounded group under 10,000 concurrent `go` calls while its single
/// slot is busy loses no task and does not deadlock (the course's
/// bilibili errgroup bug: an unsynchronised append lost tasks and Wait
/// hung for ever). Both modes.
#[test]
fn ten_thousand_concurrent_go_calls_lose_nothing() {
    run("ten_thousand_concurrent_go_calls_lose_nothing", 2, || {
        for preemptive in [false, true] {
            let g = if preemptive { SizedGroup::new(1).preemptive() } else { SizedGroup::new(1) };
            g.go(|_| gort_runtime::sleep(Duration::from_millis(20)));
            let count = Arc::new(AtomicUsize::new(0));
            let callers = Arc::new(WaitGroup::new());
            for _ in 0..10_000 {
                let (g, count) = (g.clone(), count.clone());
                callers.go(move || {
                    g.go(move |_| {
                        count.fetch_add(1, Ordering::SeqCst);
                    });
                });
            }
            callers.wait(); // every go has returned: only then Wait (Go's rule)
            g.wait();
            assert_eq!(count.load(Ordering::SeqCst), 10_000, "preemptive: {preemptive}");
        }
    });
}

/// A panicking task frees its slot and counts as finished.
#[test]
fn a_panicking_task_frees_its_slot() {
    let _w = common::watchdog("a_panicking_task_frees_its_slot", 60);
    let rt = Runtime::builder().max_procs(2).panic_policy(PanicPolicy::Continue).build().unwrap();
    rt.block_on(|| {
        let g = SizedGroup::new(1);
        g.go(|_| panic!("task failed"));
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        g.go(move |_| r.store(true, Ordering::SeqCst));
        g.wait();
        assert!(ran.load(Ordering::SeqCst));
    });
}

/// Without term_on_err every error is collected, in a MultiError with
/// go-pkgz/syncs' message.
#[test]
fn err_sized_group_collects_every_error() {
    run("err_sized_group_collects_every_error", 2, || {
        let g = ErrSizedGroup::new(3);
        let ran = Arc::new(AtomicUsize::new(0));
        for i in 0..10 {
            let ran = ran.clone();
            g.go(move |_| {
                ran.fetch_add(1, Ordering::SeqCst);
                if i % 2 == 1 { Err(format!("e{i}")) } else { Ok(()) }
            });
        }
        let err = g.wait().unwrap_err();
        assert_eq!(ran.load(Ordering::SeqCst), 10, "errors do not stop the others");
        let mut errs = err.errors().to_vec();
        errs.sort();
        assert_eq!(errs, ["e1", "e3", "e5", "e7", "e9"]);
        assert_eq!(err.context_err(), None);
        assert_eq!(err.len(), 5);
        let msg = err.to_string();
        assert!(msg.starts_with("5 error(s) occurred: [0] {e"), "{msg}");
        assert!(msg.contains(", [4] {e"), "{msg}");
        // Wait again: the same result.
        assert_eq!(g.wait().unwrap_err(), err);

        let ok: ErrSizedGroup<String> = ErrSizedGroup::new(2);
        ok.go(|_| Ok(()));
        assert_eq!(ok.wait(), Ok(()));
    });
}

/// term_on_err: the first error cancels the group's context (a running
/// task sees it) and no task starts after it; `go` returns false then.
#[test]
fn term_on_err_stops_the_group() {
    run("term_on_err_stops_the_group", 2, || {
        let g = ErrSizedGroup::new(2).term_on_err();
        let started = Arc::new(Chan::<()>::new());
        let s = started.clone();
        let saw_cancel = Arc::new(AtomicBool::new(false));
        let sc = saw_cancel.clone();
        g.go(move |ctx| {
            s.send(());
            ctx.done().recv(); // until the other task's error cancels it
            sc.store(true, Ordering::SeqCst);
            Ok(())
        });
        started.recv();
        g.go(|_| Err("first"));
        // Wait for the error to land (the cancelled task has returned).
        let t = Instant::now();
        while !saw_cancel.load(Ordering::SeqCst) {
            assert!(t.elapsed() < Duration::from_secs(10), "the error did not cancel the group");
            gort_runtime::sleep(Duration::from_millis(1));
        }
        assert!(!g.go(|_| unreachable!("no task starts after the first error")));
        assert!(g.ctx().err().is_some());
        let err = g.wait().unwrap_err();
        assert_eq!(err.errors(), ["first"]);
        assert_eq!(err.context_err(), None, "the group's own cancel is not reported");
    });
}

/// term_on_err with tasks queued for the one slot (preemptive: `go` order
/// is run order): after the first task fails, the others never run.
#[test]
fn term_on_err_skips_queued_tasks() {
    run("term_on_err_skips_queued_tasks", 2, || {
        let g = ErrSizedGroup::new(1).preemptive().term_on_err();
        let ran = Arc::new(AtomicUsize::new(0));
        for i in 0..20 {
            let ran = ran.clone();
            g.go(move |_| {
                ran.fetch_add(1, Ordering::SeqCst);
                Err(format!("task {i}"))
            });
        }
        let err = g.wait().unwrap_err();
        assert_eq!(err.errors(), ["task 0"]);
        assert_eq!(ran.load(Ordering::SeqCst), 1);
    });
}

/// A context that is done before a task could start is reported once, in
/// MultiError::context_err, after the tasks' own errors.
#[test]
fn err_sized_group_reports_the_context() {
    run("err_sized_group_reports_the_context", 2, || {
        let (ctx, cancel) = context::with_cancel(&context::background());
        let g = ErrSizedGroup::new(1).context(&ctx);
        g.go(|_| Err("before"));
        g.wait().unwrap_err();
        cancel.cancel();
        assert!(!g.go(|_| Ok(())));
        assert!(!g.go(|_| Ok(())));
        let err = g.wait().unwrap_err();
        assert_eq!(err.errors(), ["before"]);
        assert_eq!(err.context_err(), Some(context::Canceled));
        assert_eq!(err.to_string(), "2 error(s) occurred: [0] {before}, [1] {context canceled}");
    });
}
