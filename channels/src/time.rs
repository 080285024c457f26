//! Timer channels: [`after`], [`tick`], [`Timer`] and [`Ticker`], with Go
//! 1.23 semantics.
//!
//! Go: time/sleep.go, time/tick.go, runtime/time.go (`sendTime`,
//! `timerchandrain`, `Timer.Stop`/`Reset` on channel timers).
//!
//! A timer channel is a channel of [`Instant`] with a one-slot buffer and a
//! runtime [`TimerNode`] living in the channel's allocation. When the node
//! fires, its callback makes a non-blocking send of the (back-dated) fire
//! time: straight into a parked receiver, else into the slot, else (a
//! ticker whose last tick nobody took) it is dropped.
//!
//! What Go 1.23 promises, and how it holds here:
//! - **The channel looks unbuffered**: `len()` and `cap()` are 0, as Go's
//!   `chanlen`/`chancap` report for timer channels, expired or not.
//! - **An expired timer is ready at once**: every receive (blocking or
//!   not) and every select on a timer channel first fires its timer if the
//!   deadline has passed (`Header::run_timer_if_due`, Go's `maybeRunChan`),
//!   so `try_recv` or a select with `default` after the deadline takes the
//!   value, whether or not the scheduler has checked the timer heap yet.
//! - **No stale value after `stop` or `reset` returns**: both first stop
//!   the node, and the runtime's `stop` returns only when no callback of
//!   the old arming runs or will run; then they drain the slot (Go's
//!   `timerchandrain`). So no value of the old arming can be received
//!   afterwards. `reset` arms the node again only after draining.
//! - **Results**: `stop` returns true if it stopped an armed timer or
//!   drained an undelivered value (from the caller's point of view the
//!   timer had not fired yet); `reset` the same about the old arming. So
//!   when either returns false, the value was already received by someone,
//!   or the timer was never armed (issue 69312).
//! - **An unreferenced timer costs nothing**: the runtime's heap holds no
//!   reference, only the node; dropping the last handle of the channel
//!   stops the node (removing it from its heap) and frees everything. An
//!   `after(1h)` that lost a select is gone when the select returns.
//!
//! **synctest bubbles**: a timer channel made in a bubble belongs to it,
//! as any channel, and so does its timer: it is armed on the bubble's
//! clock and heap (`TimerNode::reset_in` with the channel's bubble), its
//! values are the bubble's `Instant`s, a deadline already due fires at
//! once (Go: `modify`'s immediate run in a bubble), and `stop`/`reset`
//! from outside the bubble panic with Go's messages.
//!
//! Unlike Go, the node is armed eagerly (Go adds a channel timer to a heap
//! only while a goroutine is blocked on it, `blockTimerChan`); with the
//! eager choice an unreceived ticker keeps firing (and dropping ticks)
//! until it is stopped or dropped.
//!
//! `stop` and `reset` of one timer are serialised by a small lock, `op`
//! (Go: `t.mu`), so that one's drain cannot eat the other's new value.
//!
//! ## Locks, waits and the callback
//!
//! Lock order: `op` first. Under it, `TimerNode::stop` and `reset` take
//! the node's lock and then a timer heap's lock, and the drain takes the
//! channel lock, one after the other: the channel lock is never held
//! together with a timer's lock. `stop` and `reset` wait, holding `op`
//! (and the node's lock), until a running callback returns. That wait is
//! bounded:
//!
//! - the callback, `send_time`, takes only the channel lock (the runtime
//!   holds no lock while it runs callbacks, and a receiver firing a due
//!   timer holds none either: it does so before locking the channel), and
//!   never `op`: only `Timer` and `Ticker` methods, called by user code,
//!   take `op`, and their drain receives under the channel lock without
//!   firing the timer;
//! - nobody holds a channel lock while waiting for a timer or for `op`:
//!   the drain takes the channel lock only after `stop` has returned, and
//!   channel operations never stop or reset a timer channel's timer under
//!   their lock. So even when the runtime runs several callbacks in a row
//!   on one thread, each gets its channel lock after a short critical
//!   section;
//! - nothing under `op` suspends the goroutine (which could leave the
//!   thread-blocking `op` held with no one to release it): `stop` spins
//!   and yields the thread, `TimerNode::reset` takes the P without ever
//!   suspending, and the drain readies a goroutine without parking.
//!
//! ## Lifetime
//!
//! The callback reaches the channel through the address stored in the
//! node, not through a counted reference: an armed timer does not keep its
//! channel alive. The last handle's `ChanRef` stops the node (waiting out
//! a running callback) before it drops the channel, so the callback never
//! sees a freed channel, and its shared borrow never overlaps the drop's
//! unique one (see `chanref.rs`).

use std::pin::Pin;
use std::time::{Duration, Instant};

use gort_runtime::engine::{RawLock, TimerNode, ready};

use crate::channel::Receiver;
use crate::chanref::ChanRef;
use crate::hchan::{Attempt, HChan};

/// The timer part of a timer channel.
pub(crate) struct ChanTimer {
    pub(crate) node: TimerNode,
    /// Serialises stop and reset (Go: `t.mu`).
    op: RawLock,
}

/// The timer callback: a non-blocking send of the fire time. Go:
/// `sendTime`.
fn send_time(arg: usize, delay: i64) {
    // SAFETY: arg is the address of the HChan<Instant> that owns the node.
    // Its last ChanRef stops the node, waiting for this callback to return,
    // before it drops the channel; until then the channel is used only
    // through shared references, like this one (module docs, Lifetime).
    let c = unsafe { &*(arg as *const HChan<Instant>) };
    // The time on the timer's own clock: its bubble's if it was made in one.
    let now = match c.hdr.bubble() {
        Some(b) => b.now_instant(),
        None => Instant::now(),
    };
    let mut when = now.checked_sub(Duration::from_nanos(delay.max(0) as u64)).unwrap_or(now);
    c.hdr.lock.lock();
    // SAFETY: we hold the lock; `when` is a valid Instant (Copy, so a failed
    // send needs no drop).
    let r = unsafe { c.send_locked(&mut when) };
    // SAFETY: we hold the lock.
    unsafe { c.hdr.lock.unlock() };
    if let Attempt::Done(Some(g)) = r {
        // SAFETY: send_locked dequeued g's waiter under the lock.
        unsafe { ready(g) };
    }
}

fn nanos(d: Duration) -> i64 {
    d.as_nanos().min(i64::MAX as u128) as i64
}

/// A new timer channel, armed to fire after `d` (then every `period` if
/// not zero) unless `armed` is false.
fn timer_chan(d: Duration, period: Duration, armed: bool) -> Receiver<Instant> {
    let mut hc = HChan::<Instant>::new(1);
    let t = Box::pin(ChanTimer { node: TimerNode::new(send_time, 0), op: RawLock::new() });
    // SAFETY: the channel is not shared yet; the node is pinned in the
    // box that `hc.timer` keeps for the channel's whole life.
    unsafe { hc.hdr.set_timer(&t.node) };
    hc.timer = Some(t);
    let c = ChanRef::new(hc);
    let t = c.timer.as_ref().expect("just set").as_ref();
    t.node.set_arg(c.as_ptr() as usize);
    if armed {
        arm(&c.hdr, node(t), d, period);
    }
    Receiver { c }
}

/// Arms `node`, the timer of the channel whose header is `h`, to fire `d`
/// from now on the channel's clock (its synctest bubble's, if it was made
/// in one), then every `period` if not zero. A bubble's timer due at once
/// fires here, as Go's do, rather than when the bubble next goes idle: a
/// zero-length timer is ready for the next receive.
fn arm(h: &crate::hchan::Header, node: Pin<&TimerNode>, d: Duration, period: Duration) {
    let b = h.bubble();
    let when = gort_runtime::engine::now_nanos_in(b).saturating_add(nanos(d));
    node.reset_in(b, when, nanos(period));
    if let Some(b) = b
        && when <= b.now_nanos()
    {
        node.run_if_due();
    }
}

fn node(t: Pin<&ChanTimer>) -> Pin<&TimerNode> {
    // SAFETY: structural pinning: the node is never moved out of its
    // pinned ChanTimer.
    unsafe { t.map_unchecked(|t| &t.node) }
}

fn chan_timer(c: &HChan<Instant>) -> Pin<&ChanTimer> {
    c.timer.as_ref().expect("a timer channel has a timer").as_ref()
}

/// Stops (and with `rearm`, re-arms for `(d, period)`) the timer of `c`,
/// draining any value of the old arming. Returns whether the old arming
/// was pending.
///
/// # Panics
/// Go's `stop of synctest timer from outside bubble` (or `reset of`) if
/// the timer belongs to a synctest bubble the caller is not in.
fn stop_reset(c: &HChan<Instant>, rearm: Option<(Duration, Duration)>) -> bool {
    if let Some(b) = c.hdr.bubble()
        && !b.is_current()
    {
        let op = if rearm.is_some() { "reset" } else { "stop" };
        panic!("{op} of synctest timer from outside bubble");
    }
    let t = chan_timer(c);
    // Held across waiting out a running callback, which never takes it
    // (module docs: Locks, waits and the callback).
    t.op.lock();
    let was_armed = t.node.stop();
    let drained = c.drain_one();
    if let Some((d, period)) = rearm {
        arm(&c.hdr, node(t), d, period);
    }
    // SAFETY: locked above.
    unsafe { t.op.unlock() };
    was_armed || drained
}

/// A channel that receives the time once, after `d` (Go: `time.After`).
/// Dropping it before then cancels the timer; it costs nothing after.
///
/// ```
/// use std::time::Duration;
/// let ch = gort::chan::<()>(0);
/// gort::select! {
///     recv(ch) -> _ => unreachable!(),
///     recv(gort::after(Duration::from_millis(5))) -> t => assert!(t.is_some()),
/// }
/// ```
pub fn after(d: Duration) -> Receiver<Instant> {
    timer_chan(d, Duration::ZERO, true)
}

/// A channel that receives the time every `d` (Go: `time.Tick`); ticks
/// nobody takes are dropped. It stops when the receiver is dropped. As Go's
/// `Tick(d <= 0)` returns a nil channel, `tick(Duration::ZERO)` returns a
/// channel that never receives.
pub fn tick(d: Duration) -> Receiver<Instant> {
    timer_chan(d, d, !d.is_zero())
}

/// A single event in the future: Go's `time.Timer`. Its channel
/// [`c`](Timer::c) receives the time when it fires.
pub struct Timer {
    c: Receiver<Instant>,
}

impl Timer {
    /// A timer that fires after `d` (Go: `time.NewTimer`).
    pub fn new(d: Duration) -> Timer {
        Timer { c: timer_chan(d, Duration::ZERO, true) }
    }

    /// The channel on which the time is delivered (Go: `t.C`).
    pub fn c(&self) -> &Receiver<Instant> {
        &self.c
    }

    /// Stops the timer. Returns true if it had not fired yet, or had fired
    /// but its value was not received (the value is discarded). After
    /// `stop` returns, no value is received until the timer is reset.
    pub fn stop(&self) -> bool {
        stop_reset(&self.c.c, None)
    }

    /// Stops the timer and arms it to fire after `d`. Returns what
    /// [`stop`](Self::stop) would. No value of the earlier arming is
    /// received after `reset` returns.
    pub fn reset(&self, d: Duration) -> bool {
        stop_reset(&self.c.c, Some((d, Duration::ZERO)))
    }
}

/// Ticks at regular intervals: Go's `time.Ticker`. Its channel
/// [`c`](Ticker::c) receives the time at each tick; ticks nobody takes are
/// dropped, so a slow receiver sees fewer ticks, not a backlog.
pub struct Ticker {
    c: Receiver<Instant>,
}

impl Ticker {
    /// A ticker with period `d` (Go: `time.NewTicker`).
    ///
    /// # Panics
    /// With Go's "non-positive interval for NewTicker" if `d` is zero.
    #[track_caller]
    pub fn new(d: Duration) -> Ticker {
        if d.is_zero() {
            panic!("non-positive interval for NewTicker");
        }
        Ticker { c: timer_chan(d, d, true) }
    }

    /// The channel on which the ticks are delivered (Go: `t.C`).
    pub fn c(&self) -> &Receiver<Instant> {
        &self.c
    }

    /// Stops the ticker; no tick is received after this returns. The
    /// channel is not closed.
    pub fn stop(&self) {
        stop_reset(&self.c.c, None);
    }

    /// Stops the ticker and restarts it with period `d`: the next tick
    /// comes `d` from now. No earlier tick is received after this returns.
    ///
    /// # Panics
    /// With Go's "non-positive interval for Ticker.Reset" if `d` is zero.
    #[track_caller]
    pub fn reset(&self, d: Duration) {
        if d.is_zero() {
            panic!("non-positive interval for Ticker.Reset");
        }
        stop_reset(&self.c.c, Some((d, d)));
    }
}

impl std::fmt::Debug for Timer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timer")
            .field("armed", &self.c.c.timer.as_ref().is_some_and(|t| t.node.is_armed()))
            .finish()
    }
}

impl std::fmt::Debug for Ticker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ticker")
            .field("armed", &self.c.c.timer.as_ref().is_some_and(|t| t.node.is_armed()))
            .finish()
    }
}
