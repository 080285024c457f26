//! Deadlines: [`with_deadline`], [`with_timeout`] and their `_cause`
//! variants. Go: context/context.go (`timerCtx`, `WithDeadline`,
//! `WithDeadlineCause`, `WithTimeout`, `WithTimeoutCause`).
//!
//! A deadline context is a cancellable context whose extension holds a
//! runtime [`TimerNode`] (in the context's own allocation: no goroutine
//! waits for the deadline, and 100,000 pending deadlines are 100,000 heap
//! entries).
//!
//! ## The timer's reference
//!
//! Arming leaks one strong reference to the context into the timer's
//! argument (`Arc::into_raw`); exactly one party takes it back:
//! - the callback, when the timer fires. Runtime timer callbacks run on a
//!   scheduler thread and must not block or take locks a stopper may hold,
//!   so it only starts a goroutine (Go's `time.AfterFunc` does the same)
//!   that owns the reference and cancels the context with
//!   `DeadlineExceeded`;
//! - whoever cancels the context first otherwise: it stops the timer, and
//!   if `stop` reports that it disarmed it, the callback will never run and
//!   the reference is released there.
//!
//! So an armed timer keeps its context alive until the deadline, as in Go
//! (where a forgotten cancel leaks until then), and never fires into freed
//! memory.
//!
//! Deadlines are `Instant`s of the caller's clock
//! ([`gort_runtime::time::now`]): in a synctest bubble, the bubble's. A
//! deadline context made in a bubble arms its timer on the bubble's heap,
//! so its deadline passes when the bubble's clock reaches it, and the
//! goroutine that cancels it joins the bubble.
//!
//! The timer lives on a P of the runtime that armed it (the default one
//! outside any). If that runtime is shut down first, the deadline never
//! fires (the context can still be cancelled), and the reference the
//! timer held is not released.
//!
//! Arming happens after registration with the parent and outside every
//! lock (arming may enter the scheduler). A cancel that races with arming
//! is caught by the pair of SeqCst fences below: the armer publishes the
//! timer then checks the error; the canceller publishes the error then
//! stops the timer. One of the two sees the other, so the timer of a
//! cancelled context is always stopped.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{Ordering, fence};
use std::time::{Duration, Instant, UNIX_EPOCH};

use gort_runtime::engine::TimerNode;

use super::cancel::{CancelCtx, CancelFunc, Ext, new_cancel, with_cancel};
use super::{Cause, Context, Error, Node};

/// The extension of a deadline context. Go: the rest of `timerCtx`.
pub(crate) struct TimerExt {
    pub(crate) deadline: Instant,
    pub(crate) node: TimerNode,
    /// The cause to report when the deadline passes.
    cause: Option<Cause>,
}

impl TimerExt {
    /// Stops the timer of `node` (whose extension this is); if that
    /// disarmed it, releases the reference the arming holds.
    pub(crate) fn stop(&self, node: &Arc<Node>) {
        // Pairs with the fence in `arm` (module docs).
        fence(Ordering::SeqCst);
        if self.node.stop() {
            // SAFETY: arming leaked one strong reference to this very
            // allocation; `stop` disarmed the timer, so the callback, the
            // only other taker, will never run: the reference is ours.
            unsafe { drop(Arc::from_raw(Arc::as_ptr(node))) };
        }
    }

    pub(crate) fn fmt_layer(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Go prints the wall-clock deadline and the time left.
        let now = gort_runtime::time::now();
        let sys = gort_runtime::time::system_now();
        let wall =
            if self.deadline >= now { sys + (self.deadline - now) } else { sys - (now - self.deadline) };
        let secs = wall.duration_since(UNIX_EPOCH).unwrap_or_default();
        let left = if self.deadline >= now {
            format!("{:?}", self.deadline - now)
        } else {
            format!("-{:?}", now - self.deadline)
        };
        write!(f, ".WithDeadline({}.{:09} [{left}])", secs.as_secs(), secs.subsec_nanos())
    }
}

/// The deadline passed: hand the timer's reference to a goroutine that
/// cancels the context (module docs).
fn on_deadline(arg: usize, _delay: i64) {
    // SAFETY: `arg` is the reference leaked by `arm`; the timer fired, so
    // `stop` will report false and leave it to us.
    let node = unsafe { Arc::from_raw(arg as *const Node) };
    gort_runtime::spawn(move || {
        let cause = match &node.cancel_ctx().ext {
            Ext::Timer(t) => t.cause.clone(),
            _ => None,
        };
        CancelCtx::cancel(&node, true, Error::DeadlineExceeded, cause);
    });
}

/// Returns a copy of `parent` that is cancelled with
/// [`DeadlineExceeded`](Error::DeadlineExceeded) at `deadline`, or
/// earlier when the returned [`CancelFunc`] is called or dropped, or when
/// the parent is done. If the parent's deadline is earlier, this is
/// [`with_cancel`]; a deadline already past gives a context that is done
/// at once. Go: `context.WithDeadline`.
pub fn with_deadline(parent: &Context, deadline: Instant) -> (Context, CancelFunc) {
    with_deadline_cause(parent, deadline, None)
}

/// Like [`with_deadline`], and the context's [`cause`](super::cause) is
/// `cause` (if not `None`) when the deadline passes. Go:
/// `context.WithDeadlineCause`.
pub fn with_deadline_cause(
    parent: &Context,
    deadline: Instant,
    cause: Option<Cause>,
) -> (Context, CancelFunc) {
    if let Some(cur) = parent.deadline()
        && cur < deadline
    {
        // The parent's deadline comes first and will cancel this one.
        return with_cancel(parent);
    }
    let ext = TimerExt { deadline, node: TimerNode::new(on_deadline, 0), cause: cause.clone() };
    let n = new_cancel(parent, Ext::Timer(Box::pin(ext)));
    let ctx = Context::from_node(n.clone());
    // The caller's clock: its synctest bubble's, in one (then the timer
    // is the bubble's too).
    let now = gort_runtime::time::now();
    if deadline <= now {
        CancelCtx::cancel(&n, true, Error::DeadlineExceeded, cause);
    } else {
        arm(&n, deadline - now);
    }
    (ctx, CancelFunc::new(n))
}

/// Arms the timer of the new deadline context `n` to fire `after` from
/// now, unless it is already cancelled (module docs).
fn arm(n: &Arc<Node>, after: Duration) {
    let c = n.cancel_ctx();
    if c.is_canceled() {
        return; // its parent was done already
    }
    let t = c.timer_node().expect("a deadline context has a timer");
    t.set_arg(Arc::into_raw(n.clone()) as usize);
    let nanos = after.as_nanos().min(i64::MAX as u128) as i64;
    t.reset(gort_runtime::engine::now_nanos().saturating_add(nanos), 0);
    // Pairs with the fence in `TimerExt::stop`.
    fence(Ordering::SeqCst);
    if c.is_canceled()
        && let Ext::Timer(te) = &c.ext
    {
        te.stop(n);
    }
}

/// [`with_deadline`]`(parent, now + timeout)`. Go: `context.WithTimeout`.
///
/// ```
/// use std::time::Duration;
/// use gort_sync::context;
///
/// let (ctx, _cancel) = context::with_timeout(&context::background(), Duration::from_millis(5));
/// ctx.done().recv(); // closed when the timeout passes
/// assert_eq!(ctx.err(), Some(context::DeadlineExceeded));
/// assert!(ctx.err().unwrap().is_timeout());
/// ```
pub fn with_timeout(parent: &Context, timeout: Duration) -> (Context, CancelFunc) {
    with_deadline_cause(parent, deadline_in(timeout), None)
}

/// [`with_deadline_cause`]`(parent, now + timeout, cause)`. Go:
/// `context.WithTimeoutCause`.
pub fn with_timeout_cause(
    parent: &Context,
    timeout: Duration,
    cause: Option<Cause>,
) -> (Context, CancelFunc) {
    with_deadline_cause(parent, deadline_in(timeout), cause)
}

/// Now plus `d`, saturating at a century away (Instant cannot represent
/// Go's maximum duration).
fn deadline_in(d: Duration) -> Instant {
    let now = gort_runtime::time::now();
    now.checked_add(d).unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 86_400))
}
