//! Rust futures on goroutines, without an async runtime: [`block_on`],
//! [`spawn`] with a [`JoinHandle`] that is itself a future, the timers
//! [`sleep()`], [`sleep_until`] and [`timeout`] (tokio's names and error
//! type, [`Elapsed`]), and with the `hyper` feature the glue that runs
//! hyper 1 on goroutines (`hyper_rt`).
//!
//! Go: none (Go has no futures). The wake maps onto `goready`, the wait
//! onto `gopark` (`runtime/src/park.rs`); the timers are the runtime's
//! (`runtime/src/timer.rs`, Go's runtime/time.go).
//!
//! ```
//! use std::time::Duration;
//! use gort_runtime::future;
//!
//! let h = future::spawn(async {
//!     future::sleep(Duration::from_millis(1)).await;
//!     6 * 7
//! });
//! // A JoinHandle is a future too, and `join` blocks like a goroutine's.
//! assert_eq!(future::block_on(h).unwrap(), 42);
//!
//! let slow = future::timeout(Duration::from_millis(1), std::future::pending::<()>());
//! assert!(future::block_on(slow).is_err());
//! ```
//!
//! ## The contract
//!
//! - **One future, one goroutine.** `block_on(fut)` polls `fut` on the
//!   calling goroutine; between polls the goroutine parks and its P runs
//!   other goroutines. [`spawn`] starts a goroutine that does `block_on`.
//!   Concurrency comes from goroutines, as in the rest of gort: to wait on
//!   several futures at once, spawn them, or combine them with any
//!   executor-independent combinator (`futures::join!`, `select`).
//! - **Wakes map to `ready`.** The future's `Waker` readies the parked
//!   goroutine exactly once per park, from any goroutine, plain thread or
//!   timer callback. A wake that arrives while the future is being polled
//!   (the future woke itself, or another thread won the race with the
//!   poll) is not lost: `block_on` polls again instead of parking, after
//!   letting the other goroutines of its P run ([`crate::yield_now`]: a
//!   future that wakes itself and returns `Pending`, as `yield_now`
//!   futures do, asks to be polled after the others). Extra wakes (a
//!   waker woken twice, a wake after the future finished) do nothing. No
//!   poll happens without a wake: there is no busy polling.
//! - **A poll may block the goroutine.** A future is allowed to call
//!   gort's blocking primitives inside `poll` (a channel receive, a
//!   `Mutex`, a socket read): they park the goroutine as usual, and only
//!   this future waits. This is what a goroutine is for, and it is how a
//!   `JoinHandle` completes (below); it is wrong only for futures that
//!   promise not to block.
//! - **Wakers outlive `block_on`.** A waker is a reference-counted handle
//!   (`waker` module): a future dropped half-way (a lost `select`, a
//!   timeout) may leave clones in timers or queues; waking them later is
//!   harmless and touches nothing that was freed.
//! - **A future dropped mid-flight** is dropped like any value: its
//!   destructor runs (a [`Sleep`] disarms its timer), and wakers it handed
//!   out stay valid, as said. If the runtime is dropped while a goroutine
//!   waits in `block_on`, its stack is unwound (`park.rs`, "unwind
//!   guards"): the future is dropped there too.
//! - **A panic in `poll`** unwinds out of `block_on`; in a [`spawn`]ed
//!   future it ends the goroutine, and [`JoinHandle::join`] (or awaiting
//!   the handle) returns it as `Err(Panic)`; unjoined, the runtime's
//!   `PanicPolicy` applies, as for any goroutine.
//! - **On a plain thread**, `block_on` blocks the thread on a futex (the
//!   thread's stand-in G, `park.rs`), and wakes from goroutines work the
//!   same.
//! - **Timers.** [`Sleep`] and [`Timeout`] run on the runtime's timer
//!   heaps; the clock is that of the goroutine that makes them: inside
//!   [`crate::testing::synctest::test`], the bubble's, so a one-hour
//!   timeout takes no real time.
//!
//! ## Batching
//!
//! A goroutine readied by a waker that runs in a goroutine runs next on
//! that goroutine's P (its `runnext`, as for a channel hand-off). When a
//! future is woken by several goroutines in turn, as hyper's HTTP/2
//! connection is by the goroutines of the streams it spawned, that would
//! poll it once per wake, each poll a `recv` and a write. So `block_on`,
//! resumed by a goroutine's wake while other goroutines are queued on its
//! P, first lets them run (`yield_local`): their wakes find it readied
//! already and cost nothing, and one poll serves them all. A future woken
//! by a lone goroutine (the P's queue empty), or by the poller, a timer
//! or a plain thread (which do not put it ahead of the queue), is polled
//! at once.
//!
//! ## What does not work: tokio's reactor
//!
//! Futures that need a tokio runtime's reactor (`tokio::net`,
//! `tokio::time`, `tokio::fs`, `tokio::process`, `tokio::signal`, and
//! libraries built on them) panic with tokio's "there is no reactor
//! running" or never complete here: gort does not provide tokio's driver.
//! Use gort's own instead: [`sleep()`], [`sleep_until`] and [`timeout`]
//! for `tokio::time`; gort's sockets (`gort::net`, which park the
//! goroutine) for `tokio::net`, called directly from a goroutine or
//! through their waker-aware readiness; `gort::chan` and `gort::sync`
//! rather than `tokio::sync` where a goroutine waits (tokio's `sync`
//! types need no reactor and work, their waits then park only their
//! future's goroutine). For hyper, `hyper_rt` (feature `hyper`)
//! provides the executor and timer hyper asks for.
//!
//! ## synctest bubbles
//!
//! A goroutine of a bubble waiting in `block_on` counts as durably blocked
//! (the bubble's clock may move on) only while no waker of its future is
//! held outside gort's bubble-aware futures: a [`Sleep`] made in the same
//! bubble, or a [`JoinHandle`] of a goroutine of the same bubble. Any
//! other holder (a socket, a foreign channel, a thread) could wake it from
//! outside, so the wait is then not durable and the clock stands still
//! until the wake comes, as for I/O in Go (`waker` module docs). A future
//! that registers nothing (`std::future::pending()`) is durably blocked,
//! as Go's `select {}`.
//!
//! gort cannot tell where a cloned waker will be woken from, so a clone
//! held by *another goroutine of the same bubble* also counts as held
//! outside: if that goroutine then waits on the bubble's clock (a
//! `sleep`), the bubble never goes idle and its clock does not move (the
//! test waits forever instead of advancing). Hand values between
//! goroutines of a bubble over gort channels, which the bubble sees, or
//! await the other goroutine's [`JoinHandle`].
//!
//! ## Orderings
//!
//! The owner (the goroutine in `block_on`) and the wakers agree through
//! one atomic word; both sides decide by a read-modify-write of it, so its
//! modification order settles every race and AcqRel suffices (`state`
//! module docs, which also say why a store/load Dekker pair is not
//! needed). The owner:
//! 1. clears the word (Acquire: the poll sees what wakers published);
//! 2. polls; `Ready` returns;
//! 3. parks: the park callback, run once the goroutine is off its stack,
//!    moves the word from idle to parked unless a wake set it meanwhile;
//!    if it was set, the callback declines the park and the owner polls
//!    again.
//!
//! A waker sets the notified bit (Release) and, if it found the word
//! exactly parked, readies the owner; the park/ready contract holds
//! because the callback committed the park before any waker could see it.

#[cfg(feature = "hyper")]
pub mod hyper_rt;
mod sleep;
mod state;
mod task;
mod waker;

pub use sleep::{Elapsed, Sleep, Timeout, sleep, sleep_until, timeout, timeout_at};
pub use task::{JoinHandle, spawn};

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll};

use crate::g::WaitReason;
use waker::Signal;

/// Runs `fut` to completion on the calling goroutine, parking it while
/// the future waits; on a plain thread, blocks the thread. Returns the
/// future's output. See the module docs for the contract.
///
/// Not to be confused with [`crate::Runtime::block_on`], which runs a
/// closure as a goroutine of a runtime; the two combine:
/// `rt.block_on(|| future::block_on(fut))`.
///
/// ```
/// let v = gort_runtime::future::block_on(async { 1 + 1 });
/// assert_eq!(v, 2);
/// ```
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let sig = Signal::for_current();
    let waker = sig.owner_waker();
    let mut cx = Context::from_waker(&waker);
    loop {
        sig.state.begin_poll();
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            // A safe point, as a channel operation that did not block
            // has: a loop of ready futures still yields to preemption.
            crate::proc::preempt_point();
            return v;
        }
        let reason =
            if sig.only_internal_holders() { WaitReason::FutureWaitDurable } else { WaitReason::FutureWait };
        if !park_until_woken(&sig, reason) {
            // Woken while polling: poll again, after the P's other
            // goroutines had their turn (module docs).
            crate::gopark::yield_now();
        } else if sig.goroutine_wake.load(std::sync::atomic::Ordering::Relaxed) && others_queued() {
            // Readied by a goroutine into `runnext`, ahead of goroutines
            // already queued here (module docs, "Batching"): let them run
            // first, so that the wakes they make too are served by one
            // poll.
            crate::gopark::yield_local();
        }
    }
}

/// Whether goroutines wait in the local run queue of the calling
/// goroutine's P (false on a plain thread). A hint: it reads the queue's
/// atomics without entering the runtime, so a P that sysmon retook just
/// now answers for its new owner, which only costs a needless yield or a
/// poll without one.
#[inline]
fn others_queued() -> bool {
    crate::m::with_m(|ml| ml.and_then(|ml| ml.p()).is_some_and(|p| !p.runq_empty()))
}

/// Parks the owner unless a wake came in since the poll began. Returns
/// whether it parked (and was then readied by a waker).
#[inline]
fn park_until_woken(sig: &Signal, reason: WaitReason) -> bool {
    // If the runtime is dropped while we are parked, this goroutine's
    // stack is unwound from inside the park: take the park back so no
    // waker readies a G being torn down, or wait for the waker that
    // already claimed it (park.rs, "unwind guards").
    struct Unpark<'a>(&'a Signal);
    impl Drop for Unpark<'_> {
        fn drop(&mut self) {
            if !self.0.state.abandon() {
                crate::unwind::wait_for_waker();
            }
        }
    }
    let guard = Unpark(sig);
    // The callback touches only `sig` (on the heap, alive while the owner
    // is), never the owner's stack: once `try_park` commits, a waker may
    // ready the owner and it may resume elsewhere at once.
    crate::gopark::park_unwind_safe(reason, |_| sig.state.try_park());
    std::mem::forget(guard);
    // The word says which: PARKED stays set until the next `begin_poll`
    // if the park was committed (and then readied), and is clear if the
    // callback declined it.
    sig.state.load() & state::PARKED != 0
}
