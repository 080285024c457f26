//! gollback (vardius/gollback): all, race, retry; the course's examples
//! with their documented outputs, cancellation, and the cases upstream
//! leaves open.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Chan, run};
use gort_sync::context;
use gort_sync::group::Error;
use gort_sync::group::gollback::{self, AsyncFunc};

/// The course's All example: fn1 sleeps then returns 1, fn2 fails with
/// "failed", fn3 returns 3: `rs=[1 <nil> 3]`, `errs=[<nil> failed <nil>]`,
/// in input order although fn1 finishes last.
#[test]
fn all_keeps_input_order() {
    run("all_keeps_input_order", 2, || {
        let fns: Vec<AsyncFunc<i32, String>> = vec![
            Box::new(|_| {
                gort_runtime::sleep(Duration::from_millis(30));
                Ok(1)
            }),
            Box::new(|_| Err("failed".to_string())),
            Box::new(|_| Ok(3)),
        ];
        let (rs, errs) = gollback::all(&context::background(), fns);
        assert_eq!(rs, [Some(1), None, Some(3)]);
        assert_eq!(errs, [None, Some("failed".to_string()), None]);
        let (rs, errs) = gollback::all::<i32, String, AsyncFunc<i32, String>>(&context::background(), vec![]);
        assert!(rs.is_empty() && errs.is_empty());
    });
}

/// The functions of `all` get the caller's context.
#[test]
fn all_passes_the_context() {
    run("all_passes_the_context", 2, || {
        let (ctx, cancel) = context::with_cancel(&context::background());
        cancel.cancel();
        let fns = (0..3).map(|_| |ctx: &context::Context| ctx.err().map_or(Ok(()), Err));
        let (_, errs) = gollback::all(&ctx, fns);
        assert_eq!(errs, [Some(context::Canceled); 3]);
    });
}

/// Race returns the first success and cancels the context of the others,
/// which stop.
#[test]
fn race_returns_the_first_success_and_cancels_the_rest() {
    run("race_returns_the_first_success_and_cancels_the_rest", 2, || {
        let stopped = Arc::new(Chan::<context::Error>::new());
        let mut fns: Vec<AsyncFunc<&str, String>> = Vec::new();
        for _ in 0..3 {
            let stopped = stopped.clone();
            fns.push(Box::new(move |ctx| {
                ctx.done().recv(); // a slow replica: only the cancel ends it
                stopped.send(ctx.err().unwrap());
                Err("cancelled".into())
            }));
        }
        fns.push(Box::new(|_| Ok("winner")));
        assert_eq!(gollback::race(&context::background(), fns), Ok("winner"));
        for _ in 0..3 {
            assert_eq!(stopped.recv(), context::Canceled, "a loser saw the cancel");
        }
    });
}

/// When every function fails, race returns the last error to arrive, once
/// all have failed.
#[test]
fn race_all_failed_returns_the_last_error() {
    run("race_all_failed_returns_the_last_error", 2, || {
        let first_done = Arc::new(Chan::<()>::new());
        let fd = first_done.clone();
        let fns: Vec<AsyncFunc<(), &str>> = vec![
            // Listed first, fails last: it waits for the other, then 50 ms
            // more (the other's report takes microseconds).
            Box::new(move |_| {
                fd.recv();
                gort_runtime::sleep(Duration::from_millis(50));
                Err("slow failure")
            }),
            Box::new({
                let fd = first_done.clone();
                move |_| {
                    fd.send(());
                    Err("fast failure")
                }
            }),
        ];
        assert_eq!(gollback::race(&context::background(), fns), Err(Error::Failed("slow failure")));
    });
}

/// A done context ends the race with its error; no functions is an error.
#[test]
fn race_context_and_no_functions() {
    run("race_context_and_no_functions", 2, || {
        let (ctx, cancel) = context::with_timeout(&context::background(), Duration::from_millis(10));
        let fns = (0..2).map(|_| {
            |ctx: &context::Context| -> Result<(), ()> {
                ctx.done().recv();
                Err(())
            }
        });
        assert_eq!(gollback::race(&ctx, fns), Err(Error::Context(context::DeadlineExceeded)));
        drop(cancel);
        let none: Vec<AsyncFunc<(), ()>> = Vec::new();
        assert_eq!(gollback::race(&context::background(), none), Err(Error::NoCallbacks));
    });
}

/// A panic before the race is decided continues in the caller.
#[test]
fn race_resumes_a_panic() {
    run("race_resumes_a_panic", 2, || {
        let fns: Vec<AsyncFunc<(), ()>> = vec![Box::new(|_| panic!("racer exploded"))];
        let race = std::panic::AssertUnwindSafe(|| gollback::race(&context::background(), fns));
        let p = std::panic::catch_unwind(race).unwrap_err();
        assert_eq!(common::panic_message(&*p), "racer exploded");
    });
}

/// The course's Retry example: a 5 s timeout and 5 attempts of an
/// always-failing function: the error after exactly 5 attempts.
#[test]
fn retry_gives_up_after_the_count() {
    run("retry_gives_up_after_the_count", 2, || {
        let (ctx, _cancel) = context::with_timeout(&context::background(), Duration::from_secs(5));
        let mut attempts = 0;
        let r: Result<(), _> = gollback::retry(&ctx, 5, |_| {
            attempts += 1;
            Err(format!("attempt {attempts}"))
        });
        assert_eq!(r, Err(Error::Failed("attempt 5".to_string())));
        assert_eq!(attempts, 5);
        // Success on the third attempt returns at once.
        let mut n = 0;
        assert_eq!(
            gollback::retry(&ctx, 5, |_| if n < 2 {
                n += 1;
                Err(())
            } else {
                Ok(n)
            }),
            Ok(2)
        );
    });
}

/// retries == 0 retries until success, or until the context ends: with an
/// always-failing function, the deadline's error.
#[test]
fn retry_zero_runs_until_the_context_ends() {
    run("retry_zero_runs_until_the_context_ends", 2, || {
        // Before the context: a preemption between its making and a later
        // clock read would make the deadline look early.
        let t = Instant::now();
        let (ctx, _cancel) = context::with_timeout(&context::background(), Duration::from_millis(20));
        let attempts = AtomicUsize::new(0);
        let r: Result<(), _> = gollback::retry(&ctx, 0, |_| {
            attempts.fetch_add(1, Ordering::Relaxed);
            gort_runtime::sleep(Duration::from_millis(1));
            Err("down")
        });
        assert_eq!(r, Err(Error::Context(context::DeadlineExceeded)));
        assert!(t.elapsed() >= Duration::from_millis(20));
        assert!(attempts.load(Ordering::Relaxed) >= 2, "kept retrying past 1");
        // A context done before the first attempt: no attempt at all.
        let r: Result<(), Error<()>> = gollback::retry(&ctx, 3, |_| unreachable!());
        assert_eq!(r, Err(Error::Context(context::DeadlineExceeded)));
    });
}
