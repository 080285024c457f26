//! Hunch (aaronjan/hunch): all, take, last, retry, waterfall; fail-fast,
//! ordering, clamping, and cancellation.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Chan, run};
use gort_runtime::testing::synctest;
use gort_sync::context::{self, Context};
use gort_sync::group::Error;
use gort_sync::group::hunch::{self, Executable, ExecutableInSequence};

/// A function that returns `v` after `ms` milliseconds.
fn after(ms: u64, v: u64) -> Executable<u64, String> {
    Box::new(move |_| {
        gort_runtime::sleep(Duration::from_millis(ms));
        Ok(v)
    })
}

/// A function that runs until its context is cancelled, then reports it.
fn until_cancelled(seen: &Arc<Chan<context::Error>>) -> Executable<u64, String> {
    let seen = seen.clone();
    Box::new(move |ctx| {
        ctx.done().recv();
        seen.send(ctx.err().unwrap());
        Err("cancelled".into())
    })
}

#[test]
fn all_returns_results_in_input_order() {
    run("all_returns_results_in_input_order", 2, || {
        let fns = vec![after(60, 1), after(0, 2), after(30, 3)];
        assert_eq!(hunch::all(&context::background(), fns), Ok(vec![1, 2, 3]));
        let none: Vec<Executable<u64, String>> = vec![];
        assert_eq!(hunch::all(&context::background(), none), Ok(vec![]));
    });
}

/// Unlike gollback's all, the first error returns at once, and the
/// others' context is cancelled.
#[test]
fn all_fails_fast() {
    run("all_fails_fast", 2, || {
        let seen = Arc::new(Chan::new());
        let fns: Vec<Executable<u64, String>> =
            vec![until_cancelled(&seen), Box::new(|_| Err("boom".into())), until_cancelled(&seen)];
        assert_eq!(hunch::all(&context::background(), fns), Err(Error::Failed("boom".into())));
        assert_eq!(seen.recv(), context::Canceled);
        assert_eq!(seen.recv(), context::Canceled);
    });
}

/// take: the first n successes in the order they arrive (the slow one is
/// 50 ms behind, far more than a report takes); n is clamped.
#[test]
fn take_first_n_in_completion_order() {
    run("take_first_n_in_completion_order", 2, || {
        let seen = Arc::new(Chan::new());
        let fns = vec![until_cancelled(&seen), after(50, 2), after(0, 1)];
        assert_eq!(hunch::take(&context::background(), 2, fns), Ok(vec![1, 2]));
        assert_eq!(seen.recv(), context::Canceled, "the one not needed is cancelled");

        let fns = vec![after(0, 7), after(0, 7)];
        assert_eq!(hunch::take(&context::background(), 10, fns), Ok(vec![7, 7]), "n clamped to 2");
        assert_eq!(hunch::take(&context::background(), 0, vec![after(0, 1)]), Ok(vec![]));

        let fns: Vec<Executable<u64, String>> = vec![after(1000, 1), Box::new(|_| Err("no".into()))];
        assert_eq!(hunch::take(&context::background(), 1, fns), Err(Error::Failed("no".into())));
    });
}

/// last: every function must succeed; then the last n results in arrival
/// order (in a synctest bubble: the arrival order is the sleeps' order,
/// however late a goroutine starts on a loaded machine).
#[test]
fn last_n_of_all() {
    run("last_n_of_all", 2, || {
        let r = synctest::test(|| {
            hunch::last(&context::background(), 2, vec![after(100, 3), after(0, 1), after(50, 2)])
        });
        assert_eq!(r, Ok(vec![2, 3]));
        let fns = vec![after(0, 1), after(0, 1)];
        assert_eq!(hunch::last(&context::background(), 5, fns), Ok(vec![1, 1]), "n clamped");
        let fns: Vec<Executable<u64, String>> = vec![after(0, 1), Box::new(|_| Err("bad".into()))];
        assert_eq!(hunch::last(&context::background(), 1, fns), Err(Error::Failed("bad".into())));
    });
}

/// A done context returns at once from every combinator.
#[test]
fn a_done_context_returns_at_once() {
    run("a_done_context_returns_at_once", 2, || {
        let (ctx, cancel) = context::with_cancel(&context::background());
        let seen = Arc::new(Chan::new());
        let stopper = gort_runtime::spawn(move || {
            gort_runtime::sleep(Duration::from_millis(5));
            cancel.cancel();
        });
        let fns = vec![until_cancelled(&seen), until_cancelled(&seen)];
        assert_eq!(hunch::all(&ctx, fns), Err(Error::Context(context::Canceled)));
        stopper.join().unwrap();
        assert_eq!(
            hunch::take(&ctx, 1, vec![until_cancelled(&seen)]),
            Err(Error::Context(context::Canceled))
        );
        assert_eq!(
            hunch::last(&ctx, 1, vec![until_cancelled(&seen)]),
            Err(Error::Context(context::Canceled))
        );
        let r: Result<u64, Error<String>> = hunch::retry(&ctx, 0, |ctx| {
            ctx.done().recv();
            Err("x".into())
        });
        assert_eq!(r, Err(Error::Context(context::Canceled)));
        let steps: Vec<ExecutableInSequence<u64, String>> = vec![Box::new(|ctx, _| {
            ctx.done().recv();
            Ok(1)
        })];
        assert_eq!(hunch::waterfall(&ctx, steps), Err(Error::Context(context::Canceled)));
    });
}

/// retry: each attempt in a new goroutine; MaxRetriesExceeded after the
/// count with the last error; 0 retries until success.
#[test]
fn retry_counts_attempts() {
    run("retry_counts_attempts", 2, || {
        let attempts = Arc::new(AtomicUsize::new(0));
        let ids = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (a, i) = (attempts.clone(), ids.clone());
        let r: Result<(), _> = hunch::retry(&context::background(), 4, move |_| {
            i.lock().unwrap().push(gort_runtime::current().unwrap().id());
            Err(format!("attempt {}", a.fetch_add(1, Ordering::SeqCst) + 1))
        });
        assert_eq!(r, Err(Error::MaxRetriesExceeded { retries: 4, last: "attempt 4".into() }));
        assert_eq!(r.unwrap_err().to_string(), "max retries exceeded (4); last error: attempt 4");
        let mut ids = ids.lock().unwrap().clone();
        ids.dedup();
        assert_eq!(ids.len(), 4, "one goroutine per attempt");

        let a = Arc::new(AtomicUsize::new(0));
        let a2 = a.clone();
        let r = hunch::retry(&context::background(), 0, move |_| {
            let n = a2.fetch_add(1, Ordering::SeqCst) + 1;
            if n < 25 { Err("not yet") } else { Ok(n) }
        });
        assert_eq!(r, Ok(25));
    });
}

/// waterfall: each step gets the previous result; the first error stops
/// the chain (later steps never run).
#[test]
fn waterfall_chains_and_stops_at_the_first_error() {
    run("waterfall_chains_and_stops_at_the_first_error", 2, || {
        let steps: Vec<ExecutableInSequence<String, String>> = vec![
            Box::new(|_, prev| {
                assert!(prev.is_none());
                Ok("a".into())
            }),
            Box::new(|_, prev| Ok(prev.unwrap() + "b")),
            Box::new(|_: &Context, prev: Option<String>| Ok(prev.unwrap() + "c")),
        ];
        assert_eq!(hunch::waterfall(&context::background(), steps), Ok(Some("abc".to_string())));

        let ran = Arc::new(AtomicUsize::new(0));
        let r2 = ran.clone();
        let steps: Vec<ExecutableInSequence<String, String>> = vec![
            Box::new(|_, _| Err("step 1 failed".into())),
            Box::new(move |_, _| {
                r2.fetch_add(1, Ordering::SeqCst);
                Ok("never".into())
            }),
        ];
        assert_eq!(
            hunch::waterfall(&context::background(), steps),
            Err(Error::Failed("step 1 failed".into()))
        );
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        let none: Vec<ExecutableInSequence<u8, ()>> = vec![];
        assert_eq!(hunch::waterfall(&context::background(), none), Ok(None));
    });
}
