//! White-box tests: ports of Go's context_test.go XTests, which look at the
//! children of cancellable contexts and the count of propagation
//! goroutines, plus checks of the timer's reference counting.
#![allow(non_snake_case)]

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use gort_channels::{Receiver, select};

use super::custom::GOROUTINES;
use super::*;

const VERY_LONG: Duration = Duration::from_secs(1000 * 3600);

fn node(c: &Context) -> &Arc<Node> {
    c.node().expect("a derived context")
}

fn cc(c: &Context) -> &CancelCtx {
    node(c).cancel_ctx()
}

fn blocks(c: &Context) -> bool {
    select! {
        recv(c.done()) => false,
        default => true,
    }
}

/// Go's `parentCancelCtx(child.Context)`: the context a child registered
/// with.
fn registered_with(c: &Context) -> Option<Arc<Node>> {
    match c.parent_for_tests() {
        Some(p) => match p.source() {
            Source::Cancel(n) => Some(n.clone()),
            _ => None,
        },
        None => None,
    }
}

impl Context {
    fn parent_for_tests(&self) -> Option<&Context> {
        match &**self.node()? {
            Node::Cancel(c) => Some(c.parent()),
            _ => None,
        }
    }
}

#[test]
fn TestParentFinishesChild() {
    // parent -> cancel_child; parent -> value_child -> timer_child;
    // parent -> an after-function.
    let (parent, cancel) = with_cancel(&background());
    let (cancel_child, _stop1) = with_cancel(&parent);
    let value_child = with_value(&parent, "key", "value");
    let (timer_child, _stop2) = with_timeout(&value_child, VERY_LONG);
    let after = after_func(&parent, || {});

    for (c, name) in [(&parent, "parent"), (&cancel_child, "cancelChild"), (&timer_child, "timerChild")] {
        assert!(blocks(c), "<-{name}.Done() should block");
    }
    assert!(blocks(&value_child));

    // The parent's children are the three cancellable children.
    let pc = cc(&parent);
    assert_eq!(pc.children_len(), 3, "bad linkage");
    assert!(pc.has_child(node(&cancel_child)) && pc.has_child(node(&timer_child)));
    assert!(pc.has_child(&after_node(&after)), "the after-function is a child");
    assert!(Arc::ptr_eq(&registered_with(&cancel_child).unwrap(), node(&parent)));
    assert!(Arc::ptr_eq(&registered_with(&timer_child).unwrap(), node(&parent)));

    cancel.cancel();
    assert_eq!(pc.children_len(), 0, "cancel didn't clear the children");
    for (c, name) in [
        (&parent, "parent"),
        (&cancel_child, "cancelChild"),
        (&value_child, "valueChild"),
        (&timer_child, "timerChild"),
    ] {
        assert!(!blocks(c), "<-{name}.Done() blocked, but shouldn't have");
        assert_eq!(c.err(), Some(Canceled), "{name}.Err()");
    }
    // The timer child's timer was stopped by the cascade.
    assert!(!cc(&timer_child).timer_node().unwrap().is_armed());

    // A value layer over a cancelled parent is cancelled.
    let precanceled = with_value(&parent, "key", "value");
    assert!(!blocks(&precanceled));
    assert_eq!(precanceled.err(), Some(Canceled));
}

fn after_node(a: &AfterFuncStop) -> Arc<Node> {
    a.node_for_tests().clone()
}

#[test]
fn TestChildFinishesFirst() {
    let (cancelable, _stop) = with_cancel(&background());
    for parent in [background(), cancelable] {
        let (child, cancel) = with_cancel(&parent);
        assert!(blocks(&parent) && blocks(&child));
        let pcok = parent.node().is_some();
        assert_eq!(registered_with(&child).is_some(), pcok, "bad linkage");
        if pcok {
            assert_eq!(cc(&parent).children_len(), 1);
            assert!(cc(&parent).has_child(node(&child)));
        }
        cancel.cancel();
        if pcok {
            assert_eq!(cc(&parent).children_len(), 0, "child's cancel didn't remove self from the parent");
        }
        assert!(!blocks(&child), "<-child.Done() blocked, but shouldn't have");
        assert_eq!(child.err(), Some(Canceled));
        assert!(blocks(&parent), "the parent should not be finished");
        assert_eq!(parent.err(), None);
    }
}

#[test]
fn TestCancelRemoves() {
    let check = |when: &str, ctx: &Context, want: usize| {
        assert_eq!(cc(ctx).children_len(), want, "{when}: children");
    };
    let (ctx, _k1) = with_cancel(&background());
    check("after creation", &ctx, 0);
    let (_c, cancel) = with_cancel(&ctx);
    check("with WithCancel child", &ctx, 1);
    cancel.cancel();
    check("after canceling WithCancel child", &ctx, 0);

    let (ctx, _k2) = with_cancel(&background());
    let (_c, cancel) = with_timeout(&ctx, Duration::from_secs(3600));
    check("with WithTimeout child", &ctx, 1);
    cancel.cancel();
    check("after canceling WithTimeout child", &ctx, 0);

    let (ctx, _k3) = with_cancel(&background());
    let stop = after_func(&ctx, || {});
    check("with AfterFunc child", &ctx, 1);
    stop.stop();
    check("after stopping AfterFunc child", &ctx, 0);
}

/// Go's `myDoneCtx`: a wrapper whose done channel is not its parent's.
struct MyDone(Context);

impl CustomContext for MyDone {
    fn deadline(&self) -> Option<Instant> {
        self.0.deadline()
    }
    fn done(&self) -> Option<Receiver<()>> {
        Some(gort_channels::chan::<()>(0).receiver())
    }
    fn err(&self) -> Option<Error> {
        self.0.err()
    }
    fn value(&self, key: &ValueKey<'_>) -> Option<&(dyn Any + Send + Sync)> {
        self.0.value_for(key)
    }
}

/// Go's `myCtx`: a wrapper that delegates everything.
struct My(Context);

impl CustomContext for My {
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

/// The only unit test that makes propagation goroutines, so the global
/// count is not disturbed by other tests running in parallel.
#[test]
fn TestCustomContextGoroutines() {
    let mut g = GOROUTINES.load(Ordering::SeqCst);
    let mut created = |want: usize| {
        let now = GOROUTINES.load(Ordering::SeqCst);
        assert_eq!(now - g, want, "goroutines created");
        g = now;
    };

    let (_c, cancel0) = with_cancel(&Context::custom(MyDone(background())));
    cancel0.cancel();
    created(1);

    let (_c, cancel0) = with_timeout(&Context::custom(MyDone(background())), VERY_LONG);
    cancel0.cancel();
    created(1);

    let (ctx1, cancel1) = with_cancel(&background());
    created(0);

    let ctx2 = Context::custom(My(ctx1.clone()));
    let (ctx3, _cancel3) = with_cancel(&ctx2);
    created(0);

    let (_c, _cancel3b) = with_cancel(&Context::custom(MyDone(ctx2.clone())));
    created(1); // ctx1 does not provide the done channel: must not be used

    let (ctx4, _cancel4) = with_timeout(&ctx3, VERY_LONG);
    created(0);

    let (ctx5, cancel5) = with_cancel(&ctx4);
    created(0);

    cancel5.cancel();
    created(0);

    let (_c, cancel6) = with_timeout(&ctx5, VERY_LONG);
    created(0);

    // Applied to a cancelled context.
    cancel6.cancel();
    cancel1.cancel();
    let (_c, _cancel7) = with_cancel(&ctx5);
    created(0);
}

/// An armed deadline holds one reference to its context, released when the
/// timer is stopped by a cancel; a fired deadline releases it too.
#[test]
fn deadline_timer_reference() {
    let (ctx, cancel) = with_timeout(&background(), VERY_LONG);
    let n = node(&ctx).clone();
    assert!(cc(&ctx).timer_node().unwrap().is_armed());
    // ctx, cancel, n, and the timer.
    assert_eq!(Arc::strong_count(&n), 4);
    cancel.cancel();
    assert!(!cc(&ctx).timer_node().unwrap().is_armed());
    drop(cancel);
    assert_eq!(Arc::strong_count(&n), 2, "the timer's reference was not released");

    let (ctx, cancel) = with_timeout(&background(), Duration::from_millis(1));
    let n = node(&ctx).clone();
    ctx.done().recv();
    assert_eq!(ctx.err(), Some(DeadlineExceeded));
    let t = Instant::now();
    // The goroutine that cancelled may still be finishing.
    while Arc::strong_count(&n) != 3 {
        assert!(t.elapsed() < Duration::from_secs(10), "the fired timer's reference was not released");
        std::thread::yield_now();
    }
    drop(cancel);
}

/// A deadline in the past, and a parent cancelled before the deadline
/// context is made, never leave a timer armed.
#[test]
fn deadline_not_armed_when_done() {
    let (ctx, _k) = with_deadline(&background(), Instant::now() - Duration::from_secs(1));
    assert_eq!(ctx.err(), Some(DeadlineExceeded));
    assert!(!cc(&ctx).timer_node().unwrap().is_armed());
    assert_eq!(Arc::strong_count(node(&ctx)), 2);

    let (p, pc) = with_cancel(&background());
    pc.cancel();
    let (ctx, _k) = with_timeout(&p, VERY_LONG);
    assert_eq!(ctx.err(), Some(Canceled));
    assert!(!cc(&ctx).timer_node().unwrap().is_armed());
}

/// A parent cancelled concurrently with making deadline children never
/// leaves one of them armed (the arming race of deadline.rs).
#[test]
fn deadline_arming_race() {
    for _ in 0..200 {
        let (p, pc) = with_cancel(&background());
        let t = std::thread::spawn(move || pc.cancel());
        let kids: Vec<_> = (0..8).map(|_| with_timeout(&p, VERY_LONG)).collect();
        t.join().unwrap();
        for (c, _k) in &kids {
            assert_eq!(c.err(), Some(Canceled));
            assert!(!cc(c).timer_node().unwrap().is_armed(), "a cancelled context's timer stayed armed");
        }
    }
}

/// Contexts and their cancel functions can be shared and sent anywhere.
#[test]
fn context_types_are_send_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Context>();
    send_sync::<CancelFunc>();
    send_sync::<CancelCauseFunc>();
    send_sync::<AfterFuncStop>();
    send_sync::<Cause>();
    send_sync::<Error>();
}
