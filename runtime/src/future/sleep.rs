//! Timer futures: [`Sleep`] ([`sleep()`], [`sleep_until`]) and [`Timeout`]
//! ([`timeout`], [`timeout_at`], error [`Elapsed`]), tokio's names and
//! behaviour, on the runtime's timers.
//!
//! Go: time/sleep.go (`time.Sleep`, `time.NewTimer`), runtime/time.go;
//! the future form follows tokio's `tokio::time`.
//!
//! A [`Sleep`] owns a [`TimerNode`] armed at its first `Pending` poll. The
//! node's callback sets the `fired` flag, takes the registered waker out of
//! the slot and wakes it. The clock is fixed when the `Sleep` is made: the
//! real one, or inside a synctest bubble the bubble's (the node is armed
//! in the bubble's heap, as Go's timers made in a bubble are), so a
//! `timeout(1h, ..)` in a bubble completes as soon as the bubble idles.
//!
//! ## Orderings
//!
//! The callback stores `fired` (Release) and then takes the waker under
//! the slot's lock; a poll stores its waker under that lock and then reads
//! `fired` (Acquire). The lock orders the two: either the callback's lock
//! comes after the poll's, and it finds and wakes the waker, or it comes
//! before, and the poll's read sees `fired`. No wake is lost.
//!
//! ## Lifetime
//!
//! The callback reaches the slot through the address stored in the node,
//! which is stable because a polled `Sleep` is pinned. `Drop` stops the
//! node first, which waits out a callback in flight (`timer.rs`: `stop`
//! returns only when no callback runs or will run), so the callback never
//! sees a freed slot. The waker may outlive the `Sleep` (`waker` module).
//! The slot's lock is a leaf: nothing is taken under it, and wakers are
//! cloned, woken and dropped outside it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::lock::Lock;
use crate::synctest::Bubble;
use crate::timer::TimerNode;

/// What the timer callback shares with the polls.
struct Slot {
    fired: AtomicBool,
    waker: Lock<Option<Waker>>,
}

/// A future that completes at a deadline: [`sleep()`]'s and
/// [`sleep_until`]'s. Tokio's `tokio::time::Sleep`, on gort's timers.
///
/// It is `!Unpin` (its timer is linked into a heap while armed): await it,
/// or pin it (`std::pin::pin!`, `Box::pin`) to poll it by hand. Dropping
/// it disarms the timer.
pub struct Sleep {
    node: TimerNode,
    slot: Slot,
    /// The deadline on the sleep's clock, in [`crate::sys::nanotime`] units.
    when: i64,
    deadline: Instant,
    /// The synctest bubble whose clock this sleep runs on (None: the real
    /// clock); the count keeps the bubble's heap alive while armed.
    bubble: Option<Arc<Bubble>>,
    /// The id of `bubble`, 0 for none.
    bubble_id: u64,
    /// The node is armed for `when` (or has fired for it).
    armed: bool,
}

/// A future that completes after `d` (tokio's `tokio::time::sleep`; Go's
/// `time.Sleep` as a future). On the caller's clock: inside a synctest
/// bubble, the bubble's.
///
/// ```
/// use std::time::Duration;
/// let t = std::time::Instant::now();
/// gort_runtime::future::block_on(gort_runtime::future::sleep(Duration::from_millis(2)));
/// assert!(t.elapsed() >= Duration::from_millis(2));
/// ```
pub fn sleep(d: Duration) -> Sleep {
    let bubble = crate::synctest::bubble::current();
    let (when, deadline) = match &bubble {
        Some(b) => {
            let now = b.now_instant();
            (
                b.now_nanos().saturating_add(crate::time::ns::nanos(d)),
                now.checked_add(d).unwrap_or_else(|| far_future(now)),
            )
        }
        None => {
            // One clock reading: the deadline converts without another.
            let now = Instant::now();
            let deadline = now.checked_add(d).unwrap_or_else(|| far_future(now));
            (crate::sys::instant_nanos(deadline), deadline)
        }
    };
    Sleep::new(bubble, when, deadline)
}

/// A future that completes at `deadline` (tokio's
/// `tokio::time::sleep_until`), an instant of the caller's clock
/// ([`crate::time::now`]: inside a synctest bubble, the bubble's).
pub fn sleep_until(deadline: Instant) -> Sleep {
    let bubble = crate::synctest::bubble::current();
    let when = nanos_at(bubble.as_deref(), deadline);
    Sleep::new(bubble, when, deadline)
}

/// `t` in [`crate::sys::nanotime`] units on `bubble`'s clock (the real one for
/// None).
fn nanos_at(bubble: Option<&Bubble>, t: Instant) -> i64 {
    match bubble {
        Some(b) => b.nanos_at(t),
        None => crate::sys::instant_nanos(t),
    }
}

/// About 30 years on: what tokio uses for a deadline that overflows.
fn far_future(now: Instant) -> Instant {
    now + Duration::from_secs(86400 * 365 * 30)
}

impl Sleep {
    fn new(bubble: Option<Arc<Bubble>>, when: i64, deadline: Instant) -> Sleep {
        let bubble_id = bubble.as_ref().map_or(0, |b| b.id());
        Sleep {
            node: TimerNode::new(fire, 0),
            slot: Slot { fired: AtomicBool::new(false), waker: Lock::new(None) },
            when,
            deadline,
            bubble,
            bubble_id,
            armed: false,
        }
    }

    /// The instant at which the sleep completes, on its clock.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        self.slot.fired.load(Ordering::Acquire) || self.reached()
    }

    /// Moves the deadline to `deadline` (an instant of the sleep's clock),
    /// whether or not the sleep has completed: it completes again at the
    /// new deadline. A task waiting on it is woken then.
    pub fn reset(self: Pin<&mut Self>, deadline: Instant) {
        // SAFETY: the Sleep stays pinned: `this` is used only in place,
        // never moved out of or swapped.
        let this = unsafe { self.get_unchecked_mut() };
        this.when = nanos_at(this.bubble.as_deref(), deadline);
        this.deadline = deadline;
        // Waits out a callback of the old arming, so that it cannot set
        // `fired` after the clear below.
        this.node.stop();
        this.slot.fired.store(false, Ordering::Relaxed);
        this.armed = false;
        let waiting = this.slot.waker.lock().is_some();
        if waiting {
            // A poll registered: arm now so that its task is woken at the
            // new deadline even if it is not polled before then.
            this.arm();
        }
    }

    /// Whether the sleep's clock reached `when` (a far deadline on the
    /// real clock is settled without reading the precise clock).
    fn reached(&self) -> bool {
        match self.bubble.as_deref() {
            Some(b) => b.now_nanos() >= self.when,
            None => crate::sys::reached(self.when),
        }
    }

    /// Arms the node for `when` in the sleep's heap. Called only on a
    /// pinned Sleep (through `Pin::get_unchecked_mut`).
    fn arm(&mut self) {
        self.node.set_arg(&self.slot as *const Slot as usize);
        // SAFETY: the caller reached `self` through a pinned Sleep, which
        // is never moved: the node keeps this address while armed (its
        // Drop, and ours, disarm it before it goes).
        let node = unsafe { Pin::new_unchecked(&self.node) };
        node.reset_in(self.bubble.as_deref(), self.when, 0);
        self.armed = true;
    }

    /// Stores the poll's waker in the slot (keeps the stored one if it
    /// wakes the same task). A `block_on` waker of the sleep's bubble is
    /// registered as bubble-internal (`waker` module docs).
    fn register(&self, w: &Waker) {
        {
            let slot = self.slot.waker.lock();
            if slot.as_ref().is_some_and(|s| super::waker::same(s, w)) {
                return;
            }
        }
        let new = super::waker::register(w, self.bubble_id);
        let old = self.slot.waker.lock().replace(new);
        drop(old);
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: the Sleep stays pinned: `this` is used only in place.
        let this = unsafe { self.get_unchecked_mut() };
        if this.slot.fired.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        if this.reached() {
            // Due: no timer needed (a stale arming is stopped, so that it
            // does not wake the task later for nothing).
            if this.armed {
                this.node.stop();
            }
            this.slot.fired.store(true, Ordering::Relaxed);
            return Poll::Ready(());
        }
        this.register(cx.waker());
        if !this.armed {
            this.arm();
        }
        // Acquire: see the module docs' orderings.
        if this.slot.fired.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        // Before the slot goes: waits out a running callback.
        self.node.stop();
    }
}

impl std::fmt::Debug for Sleep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sleep").field("deadline", &self.deadline).field("bubble", &self.bubble_id).finish()
    }
}

/// The timer callback: the deadline passed.
fn fire(arg: usize, _delay: i64) {
    // SAFETY: `arg` is the address of the Slot of a pinned Sleep whose
    // node is armed; the Sleep's drop (and reset) stop the node, waiting
    // for this callback, before the slot can go.
    let slot = unsafe { &*(arg as *const Slot) };
    slot.fired.store(true, Ordering::Release);
    let w = slot.waker.lock().take();
    if let Some(w) = w {
        w.wake();
    }
}

/// The error of a [`Timeout`] whose deadline passed first (tokio's
/// `tokio::time::error::Elapsed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed(());

impl std::fmt::Display for Elapsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for std::io::Error {
    fn from(e: Elapsed) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::TimedOut, e)
    }
}

/// A future with a deadline: [`timeout`]'s and [`timeout_at`]'s (tokio's
/// `tokio::time::Timeout`).
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Timeout<F> {
    value: F,
    delay: Sleep,
}

/// Runs `fut` with a time limit of `d`: `Ok` with its output if it
/// completes first, `Err(Elapsed)` once `d` has passed (the future is then
/// dropped with the `Timeout`). On the caller's clock, like [`sleep()`].
///
/// ```
/// use std::time::Duration;
/// use gort_runtime::future::{block_on, timeout};
///
/// assert_eq!(block_on(timeout(Duration::from_secs(5), async { 7 })), Ok(7));
/// let never = std::future::pending::<()>();
/// assert!(block_on(timeout(Duration::from_millis(1), never)).is_err());
/// ```
pub fn timeout<F: Future>(d: Duration, fut: F) -> Timeout<F> {
    Timeout { value: fut, delay: sleep(d) }
}

/// [`timeout`] with a deadline, an instant of the caller's clock.
pub fn timeout_at<F: Future>(deadline: Instant, fut: F) -> Timeout<F> {
    Timeout { value: fut, delay: sleep_until(deadline) }
}

impl<F> Timeout<F> {
    /// The inner future.
    pub fn get_ref(&self) -> &F {
        &self.value
    }

    /// The inner future, mutably.
    pub fn get_mut(&mut self) -> &mut F {
        &mut self.value
    }

    /// The inner future, without the deadline.
    pub fn into_inner(self) -> F {
        // Moving out of a type with Drop glue only in its fields is fine.
        let Timeout { value, delay } = self;
        drop(delay);
        value
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: structural pinning of both fields: neither is moved out
        // of the pinned Timeout (into_inner takes it by value, unpinned).
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: `value` is pinned structurally: it lives inside the
        // pinned Timeout and is never moved out while pinned.
        let value = unsafe { Pin::new_unchecked(&mut this.value) };
        if let Poll::Ready(v) = value.poll(cx) {
            return Poll::Ready(Ok(v));
        }
        // SAFETY: `delay` is pinned structurally too: only into_inner,
        // which takes the Timeout unpinned by value, moves it out.
        let delay = unsafe { Pin::new_unchecked(&mut this.delay) };
        match delay.poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed(()))),
            Poll::Pending => Poll::Pending,
        }
    }
}
