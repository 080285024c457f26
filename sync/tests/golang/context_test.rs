#![allow(non_snake_case)]
//! context: ports of Go's context/x_test.go and net_test.go (go1.27.3),
//! one Rust test per Go test, with Go's name. The tests of AfterFunc,
//! causes and user-defined contexts (TestCause, TestCustomContext*,
//! TestAfterFunc*, afterfunc_test.go) are in context_custom_test.rs; the
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

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::run;
use gort_channels::{Receiver, chan, select};
use gort_runtime::{spawn, yield_now};
use gort_sync::WaitGroup;
use gort_sync::context::{
    self, CancelFunc, Canceled, Cause, Context, CustomContext, DeadlineExceeded, Error, ValueKey, background,
    cause, todo, with_cancel, with_cancel_cause, with_deadline, with_timeout, with_value, without_cancel,
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
    assert_eq!(c1.to_string(), "context.Background.WithValue(golang::context_test::Key1, c1k1)");

    let c2 = with_value(&c1, K2, "c2k2");
    check(&c2, "c2", "c1k1", "c2k2", "");
    assert_eq!(
        c2.to_string(),
        "context.Background.WithValue(golang::context_test::Key1, c1k1).WithValue(golang::context_test::Key2, c2k2)"
    );

    let c3 = with_value(&c2, K3, "c3k3");
    check(&c3, "c2", "c1k1", "c2k2", "c3k3");

    // Go's nil value: the nearest binding wins even if it holds no string.
    let c4 = with_value(&c3, K1, ());
    check(&c4, "c4", "", "c2k2", "c3k3");
    assert_eq!(
        c4.to_string(),
        "context.Background.WithValue(golang::context_test::Key1, c1k1).WithValue(golang::context_test::Key2, c2k2)\
         .WithValue(golang::context_test::Key2, c3k3).WithValue(golang::context_test::Key1, <nil>)"
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
