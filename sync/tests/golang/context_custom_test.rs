#![allow(non_snake_case)]
//! context: ports of Go's tests of AfterFunc, causes and user-defined
//! contexts (context/x_test.go's TestCause, TestCustomContext*,
//! TestAfterFunc*; afterfunc_test.go), go1.27.3, one Rust test per Go
//! test with Go's name. The rest of x_test.go is in context_test.rs.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::common::run;
use gort_channels::{Chan, Receiver, chan};
use gort_runtime::spawn;
use gort_sync::context::{
    CancelFunc, Canceled, Cause, Context, CustomContext, DeadlineExceeded, Error, ValueKey, after_func,
    background, cause, todo, with_cancel, with_cancel_cause, with_timeout, with_timeout_cause,
    without_cancel,
};

const SHORT: Duration = Duration::from_millis(1);
const VERY_LONG: Duration = Duration::from_secs(1000 * 3600);
/// Go's `quiescent`: how long to wait for something that should happen.
const QUIESCENT: Duration = Duration::from_secs(10);

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
        if donec.recv_timeout(Duration::from_secs(2)).is_ok() {
            unreachable!()
        }
        if !donec.is_closed() {
            eprintln!("STALL: ctx err {:?}\n{}", ctx.err(), gort_runtime::debug::dump_string());
        }
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
