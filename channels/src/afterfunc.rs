//! [`after_func`]: run a function in its own goroutine after a duration,
//! Go's `time.AfterFunc`, with Go's `Stop` and `Reset` on the returned
//! [`FuncTimer`].
//!
//! Go: time/sleep.go (`AfterFunc`, `goFunc`, `Timer.Stop`, `Timer.Reset`
//! for func timers).
//!
//! A [`FuncTimer`] is a runtime [`TimerNode`] and the function, in one
//! reference-counted allocation. When the node fires, its callback (which
//! runs on a scheduler thread and must not block) only starts a goroutine
//! that calls the function, as Go's `goFunc` does, so the function may
//! block, sleep or panic like any goroutine.
//!
//! Made in a synctest bubble, the timer runs on the bubble's clock, its
//! function's goroutine joins the bubble, a zero `d` starts it at once,
//! and `stop`/`reset` from outside the bubble panic (Go's words).
//!
//! ## The timer's reference
//!
//! As in Go, dropping the returned timer does not stop it: `after_func(d,
//! f)` with the result ignored still runs `f`. So while the node is armed,
//! the timer heap owns one strong reference to the allocation, taken when
//! arming and handed over exactly once:
//! - to the callback when the node fires (it moves it into the goroutine);
//! - back to whoever disarms the node first otherwise: `stop`, or `reset`
//!   replacing a pending arming. The runtime's `stop`/`reset` report
//!   whether they removed a pending arming, and return only after any
//!   running callback has finished, so both parties can never take the
//!   same reference.
//!
//! `reset` counts the new arming's reference in *before* arming (the node
//! may fire at once and take it), and gives back the old arming's if it
//! removed one. Concurrent `stop`s and `reset`s of one timer are
//! serialised by the node's own lock, so each arming's reference is taken
//! back exactly once. An armed timer therefore keeps its function alive
//! until it fires or is stopped; if its runtime is shut down first, the
//! timer never fires and that reference (the function) is leaked.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use gort_runtime::engine::{Bubble, TimerNode};

struct Inner {
    node: TimerNode,
    f: Box<dyn Fn() + Send + Sync>,
    /// The synctest bubble the timer was made in: its clock, and the only
    /// goroutines allowed to stop or reset it.
    bubble: Option<Arc<Bubble>>,
}

impl Inner {
    fn node(&self) -> Pin<&TimerNode> {
        // SAFETY: the node lives inside an `Arc` allocation and is never
        // moved out of it; it is dropped (stopping it) only with the
        // allocation.
        unsafe { Pin::new_unchecked(&self.node) }
    }
}

/// The node fired: hand the arming's reference to a goroutine that calls
/// the function (Go: `goFunc`).
fn fire(arg: usize, _delay: i64) {
    // SAFETY: `arg` is the allocation's address, and a fired node's arming
    // owns one strong reference (module docs), which only this callback
    // takes: `stop`/`reset` found the node disarmed and leave it to us.
    let inner = unsafe { Arc::from_raw(arg as *const Inner) };
    gort_runtime::spawn(move || (inner.f)());
}

/// A timer that calls a function in its own goroutine: what Go's
/// `time.AfterFunc` returns. Made by [`after_func`]. Unlike a channel
/// [`Timer`](crate::Timer) it has no channel (Go's `t.C` is nil for it).
///
/// Dropping it does **not** stop it: the function still runs when the
/// time comes (call [`stop`](FuncTimer::stop) to prevent that).
pub struct FuncTimer {
    inner: Arc<Inner>,
}

/// Waits for `d`, then calls `f` in its own goroutine; returns a
/// [`FuncTimer`] whose [`stop`](FuncTimer::stop) cancels the call. Go:
/// `time.AfterFunc(d, f)`. A zero `d` runs `f` at once (in a goroutine).
///
/// `f` is `Fn` because [`reset`](FuncTimer::reset) after it fired makes it
/// run again, possibly while the earlier call still runs.
///
/// ```
/// use std::time::Duration;
///
/// let fired = gort::chan::<&str>(1);
/// let tx = fired.sender();
/// let t = gort::after_func(Duration::from_millis(1), move || {
///     let _ = tx.try_send("called");
/// });
/// assert_eq!(fired.recv(), Some("called"));
/// assert!(!t.stop(), "it already fired");
///
/// let never = gort::after_func(Duration::from_secs(3600), || unreachable!());
/// assert!(never.stop(), "stopped before it fired: the function never runs");
/// ```
pub fn after_func(d: Duration, f: impl Fn() + Send + Sync + 'static) -> FuncTimer {
    let inner = Arc::new(Inner {
        node: TimerNode::new(fire, 0),
        f: Box::new(f),
        bubble: gort_runtime::engine::current_bubble(),
    });
    inner.node.set_arg(Arc::as_ptr(&inner) as usize);
    let t = FuncTimer { inner };
    t.arm(d);
    t
}

impl FuncTimer {
    /// Arms the node `d` from now, counting in the arming's reference
    /// first; returns whether a pending arming was replaced (its reference
    /// given back).
    fn arm(&self, d: Duration) -> bool {
        let b = self.inner.bubble.as_deref();
        let when = gort_runtime::engine::now_nanos_in(b).saturating_add(gort_runtime::engine::nanos(d));
        let p = Arc::as_ptr(&self.inner);
        // SAFETY: `p` comes from the live Arc `self.inner`; the new count
        // is the new arming's reference (module docs).
        unsafe { Arc::increment_strong_count(p) };
        let replaced = self.inner.node().reset_in(b, when, 0);
        if replaced {
            // SAFETY: the old arming was removed before it fired, so its
            // callback will never take its reference: it is ours to drop.
            // `self.inner` still holds another, so this never frees.
            unsafe { Arc::decrement_strong_count(p) };
        }
        // A bubble's timer due at once starts its goroutine now, as Go's
        // (not when the bubble next goes idle, which a caller spinning on
        // the function's effect would never let happen).
        if let Some(b) = b
            && when <= b.now_nanos()
        {
            self.inner.node.run_if_due();
        }
        replaced
    }

    /// Go's `stop of synctest timer from outside bubble` (or `reset of`).
    fn check_bubble(&self, op: &str) {
        if let Some(b) = &self.inner.bubble
            && !b.is_current()
        {
            panic!("{op} of synctest timer from outside bubble");
        }
    }

    /// Prevents the function from running. Returns true if this call
    /// stopped the timer, false if it had already fired (the function has
    /// been started in its own goroutine) or been stopped. It does not
    /// wait for a started function to finish. Go: `Timer.Stop`.
    pub fn stop(&self) -> bool {
        self.check_bubble("stop");
        let stopped = self.inner.node.stop();
        if stopped {
            // SAFETY: as in `arm`: the removed arming's reference is ours,
            // and `self.inner` holds another.
            unsafe { Arc::decrement_strong_count(Arc::as_ptr(&self.inner)) };
        }
        stopped
    }

    /// Makes the function run `d` from now. Returns true if the timer was
    /// pending (this reschedules that call), false if it had fired or been
    /// stopped (this schedules one more call). Go: `Timer.Reset` on a
    /// func timer.
    pub fn reset(&self, d: Duration) -> bool {
        self.check_bubble("reset");
        self.arm(d)
    }
}

impl fmt::Debug for FuncTimer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FuncTimer").field("armed", &self.inner.node.is_armed()).finish()
    }
}
