#![allow(non_snake_case)]
//! context: ports of Go's context/x_test.go, afterfunc_test.go and
//! net_test.go (go1.27.3), one Rust test per Go test, with Go's name. The
//! white-box tests of context_test.go (children maps, the goroutine
//! counter) are unit tests in sync/src/context/tests.rs.
//!
//! Left out: TestAllocs (allocation counts are a property of Go's escape
//! analysis and GC); TestWithValueChecksKey and TestInvalidDerivedFail
//! (a nil parent, a nil key and a non-comparable key do not compile in
//! Rust; compile_fail doctests in the context module show it).
//!
//! Go's `otherContext{ctx}` (a foreign type embedding a context) is
//! `Other`, a `CustomContext` that delegates everything.

mod common;

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::run;
use gort_channels::{Chan, Receiver, chan, select};
use gort_runtime::{spawn, yield_now};
use gort_sync::WaitGroup;
use gort_sync::context::{
    self, CancelFunc, Canceled, Cause, Context, CustomContext, DeadlineExceeded, Error, ValueKey, after_func,
    background, cause, todo, with_cancel, with_cancel_cause, with_deadline, with_timeout, with_timeout_cause,
    with_value, without_cancel,
};

const SHORT: Duration = Duration::from_millis(1);
const VERY_LONG: Duration = Duration::from_secs(1000 * 3600);
/// Go's `quiescent`: how long to wait for something that should happen.
const QUIESCENT: Duration = Duration::from_secs(10);

/// Go's `otherContext`: a context type gort does not know, wrapping one.
struct Other(Context);

impl CustomContext for Other {
    fn deadline(&self) -> Option<Instant> {
        self.0.deadline()
    }
    fn done(&self) -> Option<Receiver<()>> {
        self.0.done_opt().cloned()
    }
    fn err(&self) -> Option<Error> {
        self.0.err()
    }
    fn value(&self, key: &ValueKey<'_>) -> Option<&(dyn Any + Send + Sync)> {
        self.0.value_for(key)
    }
}

fn other(c: &Context) -> Context {
    Context::custom(Other(c.clone()))
}

fn is_done(c: &Context) -> bool {
    select! {
        recv(c.done()) => true,
        default => false,
    }
}

/// An error value with identity, like Go's `errors.New`.
#[derive(Debug)]
struct Msg(&'static str);

impl std::fmt::Display for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Msg {}

fn new_cause(s: &'static str) -> Cause {
    Cause::new(Msg(s))
}

#[test]
fn TestBackground() {
    let c = background();
    assert!(!is_done(&c), "<-c.Done() should block");
    assert_eq!(c.to_string(), "context.Background");
}

#[test]
fn TestTODO() {
    let c = todo();
    assert!(!is_done(&c), "<-c.Done() should block");
    assert_eq!(c.to_string(), "context.TODO");
}

#[test]
fn TestWithCancel() {
    run("TestWithCancel", 2, || {
        let (c1, cancel) = with_cancel(&background());
        assert_eq!(c1.to_string(), "context.Background.WithCancel");
        let o = other(&c1);
        let (c2, _cancel2) = with_cancel(&o);
        let contexts = [c1, o, c2];
        for (i, c) in contexts.iter().enumerate() {
            assert!(c.done_opt().is_some(), "c[{i}].Done() == nil");
            assert_eq!(c.err(), None, "c[{i}].Err()");
            assert!(!is_done(c), "<-c[{i}].Done() should block");
        }
        cancel.cancel(); // Should propagate synchronously.
        for (i, c) in contexts.iter().enumerate() {
            assert!(is_done(c), "<-c[{i}].Done() blocked, but shouldn't have");
            assert_eq!(c.err(), Some(Canceled), "c[{i}].Err()");
        }
    });
}

fn test_deadline(c: &Context, name: &str) {
    let timer = gort_channels::Timer::new(QUIESCENT);
    select! {
        recv(timer.c()) => panic!("{name}: context not timed out after {QUIESCENT:?}"),
        recv(c.done()) => {}
    }
    assert_eq!(c.err(), Some(DeadlineExceeded), "{name}: c.Err()");
}

#[test]
fn TestDeadline() {
    run("TestDeadline", 2, || {
        let (c, _k1) = with_deadline(&background(), Instant::now() + SHORT);
        let s = c.to_string();
        assert!(s.starts_with("context.Background.WithDeadline("), "c.String() = {s:?}");
        test_deadline(&c, "WithDeadline");

        let (c, _k2) = with_deadline(&background(), Instant::now() + SHORT);
        test_deadline(&other(&c), "WithDeadline+otherContext");

        let (c, _k3) = with_deadline(&background(), Instant::now() + SHORT);
        let o = other(&c);
        let (c, _k4) = with_deadline(&o, Instant::now() + VERY_LONG);
        test_deadline(&c, "WithDeadline+otherContext+WithDeadline");

        let (c, _k5) = with_deadline(&background(), Instant::now() - SHORT);
        test_deadline(&c, "WithDeadline+inthepast");

        let (c, _k6) = with_deadline(&background(), Instant::now());
        test_deadline(&c, "WithDeadline+now");
    });
}

#[test]
fn TestTimeout() {
    run("TestTimeout", 2, || {
        let (c, _k1) = with_timeout(&background(), SHORT);
        let s = c.to_string();
        assert!(s.starts_with("context.Background.WithDeadline("), "c.String() = {s:?}");
        test_deadline(&c, "WithTimeout");

        let (c, _k2) = with_timeout(&background(), SHORT);
        test_deadline(&other(&c), "WithTimeout+otherContext");

        let (c, _k3) = with_timeout(&background(), SHORT);
        let o = other(&c);
        let (c, _k4) = with_timeout(&o, VERY_LONG);
        test_deadline(&c, "WithTimeout+otherContext+WithTimeout");
    });
}

#[test]
fn TestCanceledTimeout() {
    run("TestCanceledTimeout", 2, || {
        let (c, _k) = with_timeout(&background(), Duration::from_secs(1));
        let o = other(&c);
        let (c, cancel) = with_timeout(&o, VERY_LONG);
        cancel.cancel(); // Should propagate synchronously.
        assert!(is_done(&c), "<-c.Done() blocked, but shouldn't have");
        assert_eq!(c.err(), Some(Canceled));
    });
}

#[derive(PartialEq)]
struct Key1(i32);
#[derive(PartialEq)]
struct Key2(i32);

const K1: Key1 = Key1(1);
const K2: Key2 = Key2(1); // same int as K1, different type
const K3: Key2 = Key2(3); // same type as K2, different int

#[test]
fn TestValues() {
    let check = |c: &Context, nm: &str, v1: &str, v2: &str, v3: &str| {
        let get = |v: Option<&&'static str>| -> &'static str { v.copied().unwrap_or("") };
        assert_eq!(get(c.value::<&'static str>(&K1)), v1, "{nm}.Value(k1)");
        assert_eq!(get(c.value::<&'static str>(&K2)), v2, "{nm}.Value(k2)");
        assert_eq!(get(c.value::<&'static str>(&K3)), v3, "{nm}.Value(k3)");
    };

    let c0 = background();
    check(&c0, "c0", "", "", "");

    let c1 = with_value(&background(), K1, "c1k1");
    check(&c1, "c1", "c1k1", "", "");
    assert_eq!(c1.to_string(), "context.Background.WithValue(context_test::Key1, c1k1)");

    let c2 = with_value(&c1, K2, "c2k2");
    check(&c2, "c2", "c1k1", "c2k2", "");
    assert_eq!(
        c2.to_string(),
        "context.Background.WithValue(context_test::Key1, c1k1).WithValue(context_test::Key2, c2k2)"
    );

    let c3 = with_value(&c2, K3, "c3k3");
    check(&c3, "c2", "c1k1", "c2k2", "c3k3");

    // Go's nil value: the nearest binding wins even if it holds no string.
    let c4 = with_value(&c3, K1, ());
    check(&c4, "c4", "", "c2k2", "c3k3");
    assert_eq!(
        c4.to_string(),
        "context.Background.WithValue(context_test::Key1, c1k1).WithValue(context_test::Key2, c2k2)\
         .WithValue(context_test::Key2, c3k3).WithValue(context_test::Key1, <nil>)"
    );

    let o0 = other(&background());
    check(&o0, "o0", "", "", "");

    let o1 = other(&with_value(&background(), K1, "c1k1"));
    check(&o1, "o1", "c1k1", "", "");

    let o2 = with_value(&o1, K2, "o2k2");
    check(&o2, "o2", "c1k1", "o2k2", "");

    let o3 = other(&c4);
    check(&o3, "o3", "", "c2k2", "c3k3");

    let o4 = with_value(&o3, K3, ());
    check(&o4, "o4", "", "c2k2", "");
}

#[test]
fn TestSimultaneousCancels() {
    run("TestSimultaneousCancels", 2, || {
        let (root, cancel) = with_cancel(&background());
        let mut ctxs = vec![root.clone()];
        let mut cancels: Vec<CancelFunc> = vec![cancel];
        let mut q = std::collections::VecDeque::from([root]);
        // Create a tree of contexts.
        while let Some(parent) = q.pop_front() {
            if ctxs.len() >= 100 {
                break;
            }
            for _ in 0..4 {
                let (ctx, cancel) = with_cancel(&parent);
                ctxs.push(ctx.clone());
                cancels.push(cancel);
                q.push_back(ctx);
            }
        }
        // Start all the cancels in a random order.
        let wg = Arc::new(WaitGroup::new());
        let mut order: Vec<usize> = (0..cancels.len()).collect();
        shuffle(&mut order, 0x5eed);
        let mut cancels: Vec<Option<CancelFunc>> = cancels.into_iter().map(Some).collect();
        for i in order {
            let cancel = cancels[i].take().unwrap();
            wg.go(move || cancel.cancel());
        }
        let stuck = gort_channels::after(QUIESCENT);
        // Wait on all the contexts in a random order.
        let mut order: Vec<usize> = (0..ctxs.len()).collect();
        shuffle(&mut order, 0xfeed);
        for i in order {
            select! {
                recv(ctxs[i].done()) => {}
                recv(stuck) => panic!("timed out waiting for <-ctx.Done()"),
            }
        }
        // Wait for all the cancel functions to return.
        let done = chan::<()>(0);
        let (d, w) = (done.clone(), wg.clone());
        spawn(move || {
            w.wait();
            d.close();
        });
        select! {
            recv(done) => {}
            recv(stuck) => panic!("timed out waiting for cancel functions"),
        }
    });
}

/// A deterministic shuffle (xorshift), standing in for Go's map order.
fn shuffle(v: &mut [usize], mut seed: u64) {
    for i in (1..v.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        v.swap(i, (seed % (i as u64 + 1)) as usize);
    }
}

#[test]
fn TestInterlockedCancels() {
    run("TestInterlockedCancels", 2, || {
        let (parent, cancel_parent) = with_cancel(&background());
        let (child, cancel_child) = with_cancel(&parent);
        let p = parent.clone();
        spawn(move || {
            p.done().recv();
            cancel_child.cancel();
        });
        cancel_parent.cancel();
        let timer = gort_channels::Timer::new(QUIESCENT);
        select! {
            recv(child.done()) => {}
            recv(timer.c()) => panic!("timed out waiting for child.Done()"),
        }
    });
}

#[test]
fn TestLayersCancel() {
    run("TestLayersCancel", 2, || test_layers(seed(), false));
}

#[test]
fn TestLayersTimeout() {
    run("TestLayersTimeout", 2, || test_layers(seed(), true));
}

fn seed() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
}

#[derive(PartialEq, Debug)]
struct LayerKey(usize);

fn test_layers(mut seed: u64, test_timeout: bool) {
    let mut rand = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    const MIN_LAYERS: usize = 30;
    let mut vals: Vec<usize> = Vec::new();
    let mut cancels: Vec<CancelFunc> = Vec::new();
    let mut num_timers = 0;
    let mut ctx = background();
    let mut i = 0;
    while i < MIN_LAYERS || num_timers == 0 || cancels.is_empty() || vals.is_empty() {
        match rand(3) {
            0 => {
                let v = i;
                ctx = with_value(&ctx, LayerKey(v), v);
                vals.push(v);
            }
            1 => {
                let (c, cancel) = with_cancel(&ctx);
                ctx = c;
                cancels.push(cancel);
            }
            _ => {
                let d = if test_timeout { SHORT } else { VERY_LONG };
                let (c, cancel) = with_timeout(&ctx, d);
                ctx = c;
                cancels.push(cancel);
                num_timers += 1;
            }
        }
        i += 1;
    }
    let check_values = |when: &str| {
        for &key in &vals {
            assert_eq!(ctx.value::<usize>(&LayerKey(key)), Some(&key), "{when}: ctx.Value({key})");
        }
    };
    if !test_timeout {
        assert!(!is_done(&ctx), "ctx should not be canceled yet");
    }
    let s = ctx.to_string();
    assert!(s.starts_with("context.Background."), "ctx.String() = {s:?}");
    check_values("before cancel");
    if test_timeout {
        let timer = gort_channels::Timer::new(QUIESCENT);
        select! {
            recv(ctx.done()) => {}
            recv(timer.c()) => panic!("ctx should have timed out after {QUIESCENT:?}"),
        }
        check_values("after timeout");
    } else {
        let k = rand(cancels.len() as u64) as usize;
        cancels[k].cancel();
        assert!(is_done(&ctx), "ctx should be canceled");
        check_values("after cancel");
    }
}

#[test]
fn TestWithCancelCanceledParent() {
    run("TestWithCancelCanceledParent", 2, || {
        let (parent, pcancel) = with_cancel_cause(&background());
        let c0 = new_cause("Because!");
        pcancel.cancel(Some(c0.clone()));

        let (c, _k) = with_cancel(&parent);
        assert!(is_done(&c), "child not done immediately upon construction");
        assert_eq!(c.err(), Some(Canceled), "child not canceled");
        assert!(cause(&c).unwrap().ptr_eq(&c0), "child has wrong cause");
    });
}

#[test]
fn TestWithCancelSimultaneouslyCanceledParent() {
    run("TestWithCancelSimultaneouslyCanceledParent", 2, || {
        // Cancel the parent goroutine concurrently with creating a child.
        for _ in 0..100 {
            let (parent, pcancel) = with_cancel_cause(&background());
            let c0 = new_cause("Because!");
            let c1 = c0.clone();
            spawn(move || pcancel.cancel(Some(c1)));

            let (c, _k) = with_cancel(&parent);
            c.done().recv();
            assert_eq!(c.err(), Some(Canceled), "child not canceled");
            assert!(cause(&c).unwrap().ptr_eq(&c0), "child has wrong cause");
        }
    });
}

#[test]
fn TestDeadlineExceededSupportsTimeout() {
    assert!(DeadlineExceeded.is_timeout(), "wrong value for timeout");
    assert!(DeadlineExceeded.is_temporary());
    assert!(!Canceled.is_timeout());
    assert_eq!(DeadlineExceeded.to_string(), "context deadline exceeded");
    assert_eq!(Canceled.to_string(), "context canceled");
}

/// Go: net_test.go's TestDeadlineExceededIsNetError: as an I/O error,
/// DeadlineExceeded is a timeout (what `gort::net::is_timeout` checks).
#[test]
fn TestDeadlineExceededIsNetError() {
    let e = std::io::Error::from(DeadlineExceeded);
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
    assert_eq!(e.to_string(), "context deadline exceeded");
}

/// Go's `customContext`: a context made with `AfterFunc` on its parent.
struct CustomCtxInner {
    parent: Context,
    donec: Chan<()>,
    err: OnceLock<Error>,
}

impl CustomCtxInner {
    fn finish(&self, e: Error) {
        if self.err.set(e).is_ok() {
            self.donec.close();
        }
    }
}

struct CustomCtxRef(Arc<CustomCtxInner>);

impl CustomContext for CustomCtxRef {
    fn deadline(&self) -> Option<Instant> {
        self.0.parent.deadline()
    }
    fn done(&self) -> Option<Receiver<()>> {
        Some(self.0.donec.receiver())
    }
    fn err(&self) -> Option<Error> {
        if self.0.donec.is_closed() { self.0.err.get().copied() } else { None }
    }
    fn value(&self, key: &ValueKey<'_>) -> Option<&(dyn Any + Send + Sync)> {
        self.0.parent.value_for(key)
    }
}

fn new_custom_context(parent: &Context) -> (Context, Box<dyn Fn() + Send>) {
    let inner = Arc::new(CustomCtxInner { parent: parent.clone(), donec: chan(0), err: OnceLock::new() });
    let i2 = inner.clone();
    let p = parent.clone();
    let _ = after_func(parent, move || i2.finish(p.err().unwrap_or(Canceled)));
    let i3 = inner.clone();
    (Context::custom(CustomCtxRef(inner)), Box::new(move || i3.finish(Canceled)))
}

#[test]
fn TestCause() {
    run("TestCause", 2, || {
        let forever = Duration::from_secs(1_000_000);
        let parent_cause = new_cause("parentCause");
        let child_cause = new_cause("childCause");
        let too_slow = new_cause("tooSlow");
        let finished_early = new_cause("finishedEarly");
        // Each case returns the context, its wanted error and cause, and
        // the cancel functions to keep alive until checked.
        type Case = (Context, Option<Error>, Option<Cause>, Vec<Box<dyn Any>>);
        type MakeCase = Box<dyn Fn() -> Case>;
        let cases: Vec<(&str, MakeCase)> = vec![
            ("Background", Box::new(|| (background(), None, None, vec![]))),
            ("TODO", Box::new(|| (todo(), None, None, vec![]))),
            (
                "WithCancel",
                Box::new(|| {
                    let (ctx, cancel) = with_cancel(&background());
                    cancel.cancel();
                    (ctx, Some(Canceled), Some(Cause::of(Canceled)), vec![])
                }),
            ),
            (
                "WithCancelCause",
                Box::new({
                    let pc = parent_cause.clone();
                    move || {
                        let (ctx, cancel) = with_cancel_cause(&background());
                        cancel.cancel(Some(pc.clone()));
                        (ctx, Some(Canceled), Some(pc.clone()), vec![])
                    }
                }),
            ),
            (
                "WithCancelCause nil",
                Box::new(|| {
                    let (ctx, cancel) = with_cancel_cause(&background());
                    cancel.cancel(None);
                    (ctx, Some(Canceled), Some(Cause::of(Canceled)), vec![])
                }),
            ),
            (
                "WithCancelCause: parent cause before child",
                Box::new({
                    let (pc, cc) = (parent_cause.clone(), child_cause.clone());
                    move || {
                        let (ctx, cancel_parent) = with_cancel_cause(&background());
                        let (ctx, cancel_child) = with_cancel_cause(&ctx);
                        cancel_parent.cancel(Some(pc.clone()));
                        cancel_child.cancel(Some(cc.clone()));
                        (ctx, Some(Canceled), Some(pc.clone()), vec![])
                    }
                }),
            ),
            (
                "WithCancelCause: parent cause after child",
                Box::new({
                    let (pc, cc) = (parent_cause.clone(), child_cause.clone());
                    move || {
                        let (ctx, cancel_parent) = with_cancel_cause(&background());
                        let (ctx, cancel_child) = with_cancel_cause(&ctx);
                        cancel_child.cancel(Some(cc.clone()));
                        cancel_parent.cancel(Some(pc.clone()));
                        (ctx, Some(Canceled), Some(cc.clone()), vec![])
                    }
                }),
            ),
            (
                "WithCancelCause: parent cause before nil",
                Box::new({
                    let pc = parent_cause.clone();
                    move || {
                        let (ctx, cancel_parent) = with_cancel_cause(&background());
                        let (ctx, cancel_child) = with_cancel(&ctx);
                        cancel_parent.cancel(Some(pc.clone()));
                        cancel_child.cancel();
                        (ctx, Some(Canceled), Some(pc.clone()), vec![])
                    }
                }),
            ),
            (
                "WithCancelCause: parent cause after nil",
                Box::new({
                    let pc = parent_cause.clone();
                    move || {
                        let (ctx, cancel_parent) = with_cancel_cause(&background());
                        let (ctx, cancel_child) = with_cancel(&ctx);
                        cancel_child.cancel();
                        cancel_parent.cancel(Some(pc.clone()));
                        (ctx, Some(Canceled), Some(Cause::of(Canceled)), vec![])
                    }
                }),
            ),
            (
                "WithCancelCause: child cause after nil",
                Box::new({
                    let cc = child_cause.clone();
                    move || {
                        let (ctx, cancel_parent) = with_cancel(&background());
                        let (ctx, cancel_child) = with_cancel_cause(&ctx);
                        cancel_parent.cancel();
                        cancel_child.cancel(Some(cc.clone()));
                        (ctx, Some(Canceled), Some(Cause::of(Canceled)), vec![])
                    }
                }),
            ),
            (
                "WithCancelCause: child cause before nil",
                Box::new({
                    let cc = child_cause.clone();
                    move || {
                        let (ctx, cancel_parent) = with_cancel(&background());
                        let (ctx, cancel_child) = with_cancel_cause(&ctx);
                        cancel_child.cancel(Some(cc.clone()));
                        cancel_parent.cancel();
                        (ctx, Some(Canceled), Some(cc.clone()), vec![])
                    }
                }),
            ),
            (
                "WithTimeout",
                Box::new(|| {
                    let (ctx, cancel) = with_timeout(&background(), Duration::ZERO);
                    cancel.cancel();
                    (ctx, Some(DeadlineExceeded), Some(Cause::of(DeadlineExceeded)), vec![])
                }),
            ),
            (
                "WithTimeout canceled",
                Box::new(move || {
                    let (ctx, cancel) = with_timeout(&background(), forever);
                    cancel.cancel();
                    (ctx, Some(Canceled), Some(Cause::of(Canceled)), vec![])
                }),
            ),
            (
                "WithTimeoutCause",
                Box::new({
                    let ts = too_slow.clone();
                    move || {
                        let (ctx, cancel) =
                            with_timeout_cause(&background(), Duration::ZERO, Some(ts.clone()));
                        cancel.cancel();
                        (ctx, Some(DeadlineExceeded), Some(ts.clone()), vec![])
                    }
                }),
            ),
            (
                "WithTimeoutCause canceled",
                Box::new({
                    let ts = too_slow.clone();
                    move || {
                        let (ctx, cancel) = with_timeout_cause(&background(), forever, Some(ts.clone()));
                        cancel.cancel();
                        (ctx, Some(Canceled), Some(Cause::of(Canceled)), vec![])
                    }
                }),
            ),
            (
                "WithTimeoutCause stacked",
                Box::new({
                    let (ts, fe) = (too_slow.clone(), finished_early.clone());
                    move || {
                        let (ctx, cancel) = with_cancel_cause(&background());
                        let (ctx, k) = with_timeout_cause(&ctx, Duration::ZERO, Some(ts.clone()));
                        cancel.cancel(Some(fe.clone()));
                        (ctx, Some(DeadlineExceeded), Some(ts.clone()), vec![Box::new(k)])
                    }
                }),
            ),
            (
                "WithTimeoutCause stacked canceled",
                Box::new({
                    let (ts, fe) = (too_slow.clone(), finished_early.clone());
                    move || {
                        let (ctx, cancel) = with_cancel_cause(&background());
                        let (ctx, k) = with_timeout_cause(&ctx, forever, Some(ts.clone()));
                        cancel.cancel(Some(fe.clone()));
                        (ctx, Some(Canceled), Some(fe.clone()), vec![Box::new(k)])
                    }
                }),
            ),
            ("WithoutCancel", Box::new(|| (without_cancel(&background()), None, None, vec![]))),
            (
                "WithoutCancel canceled",
                Box::new({
                    let fe = finished_early.clone();
                    move || {
                        let (ctx, cancel) = with_cancel_cause(&background());
                        let ctx = without_cancel(&ctx);
                        cancel.cancel(Some(fe.clone()));
                        (ctx, None, None, vec![])
                    }
                }),
            ),
            (
                "WithoutCancel timeout",
                Box::new({
                    let ts = too_slow.clone();
                    move || {
                        let (ctx, cancel) =
                            with_timeout_cause(&background(), Duration::ZERO, Some(ts.clone()));
                        let ctx = without_cancel(&ctx);
                        cancel.cancel();
                        (ctx, None, None, vec![])
                    }
                }),
            ),
            (
                "parent of custom context not canceled",
                Box::new(|| {
                    let (ctx, k) = with_cancel_cause(&background());
                    let (ctx, cancel2) = new_custom_context(&ctx);
                    cancel2();
                    (ctx, Some(Canceled), Some(Cause::of(Canceled)), vec![Box::new(k)])
                }),
            ),
            (
                "parent of custom context is canceled before",
                Box::new({
                    let pc = parent_cause.clone();
                    move || {
                        let (ctx, cancel1) = with_cancel_cause(&background());
                        let (ctx, cancel2) = new_custom_context(&ctx);
                        cancel1.cancel(Some(pc.clone()));
                        cancel2();
                        (ctx, Some(Canceled), Some(pc.clone()), vec![])
                    }
                }),
            ),
            (
                "parent of custom context is canceled after",
                Box::new({
                    let pc = parent_cause.clone();
                    move || {
                        let (ctx, cancel1) = with_cancel_cause(&background());
                        let (ctx, cancel2) = new_custom_context(&ctx);
                        cancel2();
                        cancel1.cancel(Some(pc.clone()));
                        // As in Go: the custom child was canceled first, but
                        // Cause cannot tell, and reports the parent's cause.
                        (ctx, Some(Canceled), Some(pc.clone()), vec![])
                    }
                }),
            ),
        ];
        for (name, make) in cases {
            let (ctx, err, want, _keep) = make();
            assert_eq!(ctx.err(), err, "{name}: ctx.Err()");
            let got = cause(&ctx);
            match (&got, &want) {
                (None, None) => {}
                (Some(g), Some(w)) => assert!(
                    g.ptr_eq(w)
                        || (g.downcast_ref::<Error>().is_some()
                            && g.downcast_ref::<Error>() == w.downcast_ref::<Error>()),
                    "{name}: Cause(ctx) = {g} want {w}"
                ),
                _ => panic!("{name}: Cause(ctx) = {got:?} want {want:?}"),
            }
        }
    });
}

#[test]
fn TestCauseRace() {
    run("TestCauseRace", 2, || {
        let c0 = new_cause("TestCauseRace");
        let (ctx, cancel) = with_cancel_cause(&background());
        let c1 = c0.clone();
        spawn(move || cancel.cancel(Some(c1)));
        loop {
            // Poll Cause, rather than waiting for Done, to test that access
            // to the underlying cause is synchronized properly.
            if let Some(err) = cause(&ctx) {
                assert!(err.ptr_eq(&c0), "Cause returned {err}, want {c0}");
                break;
            }
            yield_now();
        }
    });
}

#[test]
fn TestWithoutCancel() {
    let (key, value) = ("key", "value");
    let ctx = with_value(&background(), key, value);
    let ctx = without_cancel(&ctx);
    assert_eq!(ctx.deadline(), None);
    assert!(ctx.done_opt().is_none(), "ctx.Done() want nil");
    assert_eq!(ctx.err(), None);
    assert_eq!(ctx.value::<&str>(&key), Some(&value));
}

/// Go's `customDoneContext`: a wrapper with its own done channel.
struct CustomDone {
    inner: Context,
    donec: Receiver<()>,
}

impl CustomContext for CustomDone {
    fn deadline(&self) -> Option<Instant> {
        self.inner.deadline()
    }
    fn done(&self) -> Option<Receiver<()>> {
        Some(self.donec.clone())
    }
    fn err(&self) -> Option<Error> {
        self.inner.err()
    }
    fn value(&self, key: &ValueKey<'_>) -> Option<&(dyn Any + Send + Sync)> {
        self.inner.value_for(key)
    }
}

#[test]
fn TestCustomContextPropagation() {
    run("TestCustomContextPropagation", 2, || {
        let c0 = new_cause("TestCustomContextPropagation");
        let donec = chan::<()>(0);
        let (ctx1, cancel1) = with_cancel_cause(&background());
        let ctx2 = Context::custom(CustomDone { inner: ctx1.clone(), donec: donec.receiver() });
        let (ctx3, _cancel3) = with_cancel(&ctx2);

        cancel1.cancel(Some(c0.clone()));
        donec.close();

        ctx3.done().recv();
        assert_eq!(ctx3.err(), Some(Canceled), "child not canceled");
        assert!(cause(&ctx3).unwrap().ptr_eq(&c0), "child has wrong cause");
    });
}

/// Go's `customCauseContext`.
struct Ccc {
    mu: Mutex<CccState>,
}

struct CccState {
    done: Chan<()>,
    err: Option<Error>,
    cancel_child: Option<CancelFunc>,
}

impl Ccc {
    fn new() -> Arc<Ccc> {
        Arc::new(Ccc { mu: Mutex::new(CccState { done: chan(0), err: None, cancel_child: None }) })
    }

    fn cancel(&self) {
        let cancel_child = {
            let mut st = self.mu.lock().unwrap();
            st.err = Some(Canceled);
            st.done.close();
            st.cancel_child.take()
        };
        if let Some(c) = cancel_child {
            c.cancel();
        }
    }

    fn err(&self) -> Option<Error> {
        self.mu.lock().unwrap().err
    }
}

struct CccRef(Arc<Ccc>);

impl CustomContext for CccRef {
    fn deadline(&self) -> Option<Instant> {
        None
    }
    fn done(&self) -> Option<Receiver<()>> {
        Some(self.0.mu.lock().unwrap().done.receiver())
    }
    fn err(&self) -> Option<Error> {
        self.0.err()
    }
    fn value(&self, _key: &ValueKey<'_>) -> Option<&(dyn Any + Send + Sync)> {
        None
    }
}

fn is_canceled_cause(c: Option<Cause>) -> bool {
    c.is_some_and(|c| c == Canceled)
}

#[test]
fn TestCustomContextCause() {
    run("TestCustomContextCause", 2, || {
        // If we cancel a custom context, Err and Cause return Canceled.
        let ccc = Ccc::new();
        let cctx = Context::custom(CccRef(ccc.clone()));
        ccc.cancel();
        assert_eq!(ccc.err(), Some(Canceled));
        assert!(is_canceled_cause(cause(&cctx)), "Cause(ccc)");

        // A child of a custom context, cancelled with a cause, has that
        // cause; the custom parent is not cancelled.
        let ccc = Ccc::new();
        let cctx = Context::custom(CccRef(ccc.clone()));
        let (ctx, cause_func) = with_cancel_cause(&cctx);
        let c0 = new_cause("TestCustomContextCause");
        cause_func.cancel(Some(c0.clone()));
        assert_eq!(ctx.err(), Some(Canceled));
        assert!(cause(&ctx).unwrap().ptr_eq(&c0));
        assert_eq!(ccc.err(), None);
        assert!(cause(&cctx).is_none());

        // Cancelling the custom parent now leaves the child's cause, and
        // cancels the parent without a cause.
        ccc.cancel();
        assert_eq!(ctx.err(), Some(Canceled));
        assert!(cause(&ctx).unwrap().ptr_eq(&c0));
        assert_eq!(ccc.err(), Some(Canceled));
        assert!(is_canceled_cause(cause(&cctx)));

        // A child associated with a custom context is cancelled with it.
        let ccc = Ccc::new();
        let cctx = Context::custom(CccRef(ccc.clone()));
        let (ctx, cancel_func) = with_cancel(&cctx);
        ccc.mu.lock().unwrap().cancel_child = Some(cancel_func);
        ccc.cancel();
        assert_eq!(ctx.err(), Some(Canceled));
        assert!(is_canceled_cause(cause(&ctx)));
        assert_eq!(ccc.err(), Some(Canceled));
        assert!(is_canceled_cause(cause(&cctx)));
    });
}

/// A channel that says whether a function ran, and a function that says so.
fn signal() -> (Chan<()>, impl FnOnce() + Send + 'static) {
    let donec = chan::<()>(1);
    let tx = donec.sender();
    (donec, move || tx.close())
}

#[test]
fn TestAfterFuncCalledAfterCancel() {
    run("TestAfterFuncCalledAfterCancel", 2, || {
        let (ctx, cancel) = with_cancel(&background());
        let (donec, f) = signal();
        let stop = after_func(&ctx, f);
        assert!(donec.recv_timeout(SHORT).is_err(), "AfterFunc called before context is done");
        cancel.cancel();
        assert_eq!(donec.recv_timeout(QUIESCENT), Err(gort_channels::RecvTimeoutError::Closed));
        assert!(!stop.stop(), "stop() = true, want false");
    });
}

#[test]
fn TestAfterFuncCalledAfterTimeout() {
    run("TestAfterFuncCalledAfterTimeout", 2, || {
        let (ctx, _cancel) = with_timeout(&background(), SHORT);
        let (donec, f) = signal();
        let _stop = after_func(&ctx, f);
        assert_eq!(donec.recv_timeout(QUIESCENT), Err(gort_channels::RecvTimeoutError::Closed));
    });
}

#[test]
fn TestAfterFuncCalledImmediately() {
    run("TestAfterFuncCalledImmediately", 2, || {
        let (ctx, cancel) = with_cancel(&background());
        cancel.cancel();
        let (donec, f) = signal();
        let _stop = after_func(&ctx, f);
        assert_eq!(donec.recv_timeout(QUIESCENT), Err(gort_channels::RecvTimeoutError::Closed));
    });
}

#[test]
fn TestAfterFuncNotCalledAfterStop() {
    run("TestAfterFuncNotCalledAfterStop", 2, || {
        let (ctx, cancel) = with_cancel(&background());
        let (donec, f) = signal();
        let stop = after_func(&ctx, f);
        assert!(stop.stop(), "stop() = false, want true");
        cancel.cancel();
        assert!(donec.recv_timeout(SHORT * 10).is_err());
        assert!(!donec.is_closed(), "AfterFunc called for already-canceled context");
        assert!(!stop.stop(), "stop() = true, want false");
    });
}

/// Canceling a context does not wait for its after-functions to finish.
#[test]
fn TestAfterFuncCalledAsynchronously() {
    run("TestAfterFuncCalledAsynchronously", 2, || {
        let (ctx, cancel) = with_cancel(&background());
        let donec = chan::<()>(0);
        let tx = donec.clone();
        // The send blocks until donec is read from.
        let stop = after_func(&ctx, move || tx.send(()).unwrap());
        cancel.cancel();
        // After cancel returns, read from donec and unblock the AfterFunc.
        assert_eq!(donec.recv_timeout(QUIESCENT), Ok(()));
        stop.stop();
    });
}

/// Issue 75533: once Err is non-nil, Done is closed.
#[test]
fn TestContextErrDoneRace() {
    run("TestContextErrDoneRace", 2, || {
        for _ in 0..10 {
            let (ctx, cancel) = with_cancel(&background());
            let donec = ctx.done().clone();
            spawn(move || cancel.cancel());
            while ctx.err().is_none() {
                gort_runtime::preempt_point();
            }
            assert!(donec.is_closed(), "ctx.Err is non-nil, but ctx.Done is not closed");
        }
    });
}

/// Go's `afterFuncContext` (afterfunc_test.go): a custom context with an
/// `AfterFunc` method and no done channel of its own closing.
#[derive(Default)]
struct AfCtx {
    mu: Mutex<AfState>,
}

#[derive(Default)]
struct AfState {
    after_funcs: HashMap<u64, Box<dyn FnOnce() + Send>>,
    next: u64,
    done: Option<Chan<()>>,
    err: Option<Error>,
}

impl AfCtx {
    fn cancel(&self, err: Error) {
        let mut st = self.mu.lock().unwrap();
        if st.err.is_some() {
            return;
        }
        st.err = Some(err);
        for (_, f) in st.after_funcs.drain() {
            spawn(f);
        }
    }

    fn len(&self) -> usize {
        self.mu.lock().unwrap().after_funcs.len()
    }
}

struct AfRef(Arc<AfCtx>);

impl CustomContext for AfRef {
    fn deadline(&self) -> Option<Instant> {
        None
    }
    fn done(&self) -> Option<Receiver<()>> {
        let mut st = self.0.mu.lock().unwrap();
        Some(st.done.get_or_insert_with(|| chan(0)).receiver())
    }
    fn err(&self) -> Option<Error> {
        self.0.mu.lock().unwrap().err
    }
    fn value(&self, _key: &ValueKey<'_>) -> Option<&(dyn Any + Send + Sync)> {
        None
    }
    fn after_func(&self, f: Box<dyn FnOnce() + Send>) -> Option<Box<dyn FnOnce() -> bool + Send>> {
        let mut st = self.0.mu.lock().unwrap();
        let k = st.next;
        st.next += 1;
        st.after_funcs.insert(k, f);
        let me = self.0.clone();
        Some(Box::new(move || me.mu.lock().unwrap().after_funcs.remove(&k).is_some()))
    }
}

fn af_ctx() -> (Arc<AfCtx>, Context) {
    let a = Arc::new(AfCtx::default());
    (a.clone(), Context::custom(AfRef(a)))
}

#[test]
fn TestCustomContextAfterFuncCancel() {
    run("TestCustomContextAfterFuncCancel", 2, || {
        let (ctx0, c0) = af_ctx();
        let (ctx1, _cancel) = with_cancel(&c0);
        ctx0.cancel(Canceled);
        ctx1.done().recv();
    });
}

#[test]
fn TestCustomContextAfterFuncTimeout() {
    run("TestCustomContextAfterFuncTimeout", 2, || {
        let (ctx0, c0) = af_ctx();
        let (ctx1, _cancel) = with_timeout(&c0, VERY_LONG);
        ctx0.cancel(Canceled);
        ctx1.done().recv();
    });
}

#[test]
fn TestCustomContextAfterFuncAfterFunc() {
    run("TestCustomContextAfterFuncAfterFunc", 2, || {
        let (ctx0, c0) = af_ctx();
        let (donec, f) = signal();
        let stop = after_func(&c0, f);
        ctx0.cancel(Canceled);
        donec.recv();
        stop.stop();
    });
}

#[test]
fn TestCustomContextAfterFuncUnregisterCancel() {
    run("TestCustomContextAfterFuncUnregisterCancel", 2, || {
        let (ctx0, c0) = af_ctx();
        let (_c1, cancel1) = with_cancel(&c0);
        let (_c2, cancel2) = with_cancel(&c0);
        assert_eq!(ctx0.len(), 2, "after WithCancel(ctx0): afterFuncs");
        cancel1.cancel();
        cancel2.cancel();
        assert_eq!(ctx0.len(), 0, "after canceling WithCancel(ctx0): afterFuncs");
    });
}

#[test]
fn TestCustomContextAfterFuncUnregisterTimeout() {
    run("TestCustomContextAfterFuncUnregisterTimeout", 2, || {
        let (ctx0, c0) = af_ctx();
        let (_c, cancel) = with_timeout(&c0, VERY_LONG);
        assert_eq!(ctx0.len(), 1, "after WithTimeout(ctx0, d): afterFuncs");
        cancel.cancel();
        assert_eq!(ctx0.len(), 0, "after canceling WithTimeout(ctx0, d): afterFuncs");
    });
}

#[test]
fn TestCustomContextAfterFuncUnregisterAfterFunc() {
    run("TestCustomContextAfterFuncUnregisterAfterFunc", 2, || {
        let (ctx0, c0) = af_ctx();
        let stop = after_func(&c0, || {});
        assert_eq!(ctx0.len(), 1, "after AfterFunc(ctx0, f): afterFuncs");
        stop.stop();
        assert_eq!(ctx0.len(), 0, "after stopping AfterFunc(ctx0, f): afterFuncs");
    });
}

// gort's own tests (not in Go's suite).

/// Dropping a CancelFunc cancels; `let (ctx, _cancel)` keeps it alive.
#[test]
fn context_drop_cancel_func_cancels() {
    let (ctx, cancel) = with_cancel(&background());
    assert_eq!(ctx.err(), None);
    drop(cancel);
    assert_eq!(ctx.err(), Some(Canceled));
    let (ctx, _cancel) = with_timeout(&background(), VERY_LONG);
    assert_eq!(ctx.err(), None);
}

/// A chain far deeper than a goroutine stack allows recursion is cancelled
/// (and printed) without overflowing.
#[test]
fn context_deep_chain() {
    run("context_deep_chain", 2, || {
        let (root, cancel) = with_cancel(&background());
        let mut ctx = root;
        let mut keep = Vec::new();
        for i in 0..20_000 {
            if i % 3 == 0 {
                ctx = with_value(&ctx, LayerKey(i), i);
            } else {
                let (c, k) = with_cancel(&ctx);
                ctx = c;
                keep.push(k);
            }
        }
        ctx.done(); // make the leaf's channel, so cancel closes it
        cancel.cancel();
        assert_eq!(ctx.err(), Some(Canceled));
        assert!(ctx.to_string().starts_with("context.Background.WithCancel.WithValue("));
        drop(keep);
    });
}

/// Contexts work from plain threads (no runtime needed to block).
#[test]
fn context_plain_threads() {
    let (ctx, cancel) = with_timeout(&background(), Duration::from_millis(20));
    let c = ctx.clone();
    let waiter = std::thread::spawn(move || {
        c.done().recv();
        c.err()
    });
    assert_eq!(waiter.join().unwrap(), Some(DeadlineExceeded));
    drop(cancel);
    let (ctx, cancel) = with_cancel(&background());
    let t = std::thread::spawn(move || cancel.cancel());
    ctx.done().recv();
    t.join().unwrap();
    assert_eq!(ctx.err(), Some(Canceled));
}

/// Seeds S26: values through three levels with shadowing, a copy-on-write
/// map, cancellation waking waiters on the root, a child and a grandchild,
/// and a timeout on the runtime timer.
#[test]
fn context_seed_tree() {
    run("context_seed_tree", 2, || {
        #[derive(PartialEq)]
        struct Meta;
        let ctx1 = with_value(&todo(), Meta, HashMap::from([("k1", "v1")]));
        let mut m2 = ctx1.value::<HashMap<&str, &str>>(&Meta).unwrap().clone();
        m2.insert("k2", "v2");
        let ctx2 = with_value(&ctx1, Meta, m2);
        assert_eq!(ctx1.value::<HashMap<&str, &str>>(&Meta).unwrap().len(), 1);
        assert_eq!(ctx2.value::<HashMap<&str, &str>>(&Meta).unwrap().len(), 2);

        let (root, cancel) = with_cancel(&ctx2);
        let (child, _k1) = with_cancel(&root);
        let grand = with_value(&child, "key", 4);
        let (grand, _k2) = with_cancel(&grand);
        let wg = Arc::new(WaitGroup::new());
        for c in [root.clone(), child.clone(), grand.clone()] {
            wg.go(move || {
                c.done().recv();
                assert_eq!(c.err(), Some(Canceled));
            });
        }
        cancel.cancel();
        wg.wait();
        assert_eq!(grand.value::<i32>(&"key"), Some(&4), "values stay readable");

        // Cancelling a child leaves the parent alone.
        let (p, _kp) = with_cancel(&background());
        let (c, kc) = with_cancel(&p);
        kc.cancel();
        assert_eq!(c.err(), Some(Canceled));
        assert_eq!(p.err(), None);

        let t = Instant::now();
        let (ctx, _k) = with_timeout(&background(), Duration::from_millis(100));
        ctx.done().recv();
        let took = t.elapsed();
        assert_eq!(ctx.err(), Some(DeadlineExceeded));
        assert!(took >= Duration::from_millis(100), "done after {took:?}");
        assert!(took < Duration::from_secs(1), "done after {took:?}");
    });
}

/// Go's `context` is cheap to share: many goroutines wait on one context
/// in `select!` with their own channels, and all wake on cancel.
#[test]
fn context_select_many_waiters() {
    run("context_select_many_waiters", 2, || {
        let (ctx, cancel) = with_cancel(&background());
        let wg = Arc::new(WaitGroup::new());
        for _ in 0..200 {
            let ctx = ctx.clone();
            wg.go(move || {
                let work = chan::<u8>(0);
                select! {
                    recv(work) => panic!("no work is ever sent"),
                    recv(ctx.done()) => assert_eq!(ctx.err(), Some(Canceled)),
                }
            });
        }
        gort_runtime::sleep(Duration::from_millis(5));
        cancel.cancel();
        wg.wait();
    });
}

/// The error and the cause are usable as ordinary errors.
#[test]
fn context_errors_are_errors() {
    let e: Box<dyn std::error::Error + Send + Sync> = Box::new(DeadlineExceeded);
    assert_eq!(e.to_string(), "context deadline exceeded");
    let c: Cause = Msg("boom").into();
    assert!(c.is::<Msg>());
    assert_eq!(format!("{c}"), "boom");
    assert!(Cause::from(Canceled).ptr_eq(&Cause::of(Canceled)));
    let _ = context::Error::Canceled;
}
