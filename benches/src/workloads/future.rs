//! Futures on goroutines (`gort::future`): the cost of a `block_on` wake.
//!
//! gort-only: Go has no futures, so there is no Go twin; the comparison
//! program runs these without Go (`gort_only`) and the baseline is gort's
//! own park/ready, measured in the same process and the same shape.
//!
//! `block_on_wake` prints two lines:
//! - `park_ready`: two goroutines hand a turn back and forth N times with
//!   the raw `park`/`ready` layer (a one-word parker, below): each round
//!   trip is one park and one ready on each side;
//! - `block_on_wake`: the same, but one side is a future under
//!   `gort::future::block_on`, which returns `Pending` after handing the
//!   turn over and is woken through its `Waker` (`wake_by_ref`) by the
//!   other side. The ratio of the two is what a future's wake costs over a
//!   goroutine's park/ready.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use gort::runtime::{GRef, WaitReason, park, ready};

use super::support::report;

pub(crate) const WORKLOADS: &[(&str, fn())] = &[("block_on_wake", block_on_wake)];

/// Workloads without a Go twin.
pub(crate) const GORT_ONLY: &[&str] = &["block_on_wake"];

const ROUNDS: u64 = 1_000_000;

const EMPTY: usize = 0;
const NOTIFIED: usize = 1;

/// One goroutine's turn on the raw park/ready layer: the word is EMPTY,
/// NOTIFIED (a turn waits to be taken) or the parked goroutine's G.
struct Parker(AtomicUsize);

impl Parker {
    fn new() -> Parker {
        Parker(AtomicUsize::new(EMPTY))
    }

    /// Waits for a turn (only the owner calls this).
    fn wait(&self) {
        if self.0.compare_exchange(NOTIFIED, EMPTY, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            return;
        }
        park(WaitReason::Other, |g| {
            match self.0.compare_exchange(EMPTY, g.as_ptr() as usize, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => true,
                Err(_) => {
                    // NOTIFIED meanwhile: take the turn, do not park. Only
                    // the owner moves the word away from NOTIFIED.
                    self.0.store(EMPTY, Ordering::Release);
                    false
                }
            }
        });
    }

    /// Gives the owner a turn.
    fn notify(&self) {
        let mut cur = self.0.load(Ordering::Acquire);
        loop {
            let (next, g) = match cur {
                NOTIFIED => return,
                EMPTY => (NOTIFIED, None),
                g => (EMPTY, Some(g)),
            };
            match self.0.compare_exchange(cur, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    if let Some(g) = g {
                        // SAFETY: the word held `GRef::as_ptr` of the
                        // owner, published from its park callback (so it is
                        // parked), and our CAS took it out: we alone ready
                        // it, with the GRef rebuilt from that address.
                        unsafe { ready(GRef::from_ptr(g as *const ())) };
                    }
                    return;
                }
                Err(c) => cur = c,
            }
        }
    }
}

/// The future side: each poll hands the turn to `other` and returns
/// `Pending`, until `rounds` polls have been woken.
struct Handoff {
    polls: u64,
    rounds: u64,
    other: Arc<Parker>,
    waker: Arc<OnceLock<Waker>>,
}

impl Future for Handoff {
    type Output = u64;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u64> {
        if self.polls == self.rounds {
            return Poll::Ready(self.polls);
        }
        if self.polls == 0 {
            // The waker side gets a clone once, before its first turn.
            let _ = self.waker.set(cx.waker().clone());
        }
        self.polls += 1;
        self.other.notify();
        Poll::Pending
    }
}

/// `n` round trips with both sides on raw park/ready.
fn park_ready_rounds(n: u64) -> Duration {
    let (a, b) = (Arc::new(Parker::new()), Arc::new(Parker::new()));
    let (a2, b2) = (a.clone(), b.clone());
    let h = gort::go!(move || {
        for _ in 0..n {
            b2.wait();
            a2.notify();
        }
    });
    let t = Instant::now();
    for _ in 0..n {
        b.notify();
        a.wait();
    }
    let d = t.elapsed();
    h.join().unwrap();
    d
}

/// `n` round trips with this side a future under `block_on`, woken
/// through its Waker by the other side.
fn block_on_rounds(n: u64) -> Duration {
    let b = Arc::new(Parker::new());
    let waker = Arc::new(OnceLock::<Waker>::new());
    let (b2, w2) = (b.clone(), waker.clone());
    let h = gort::go!(move || {
        for _ in 0..n {
            b2.wait();
            w2.get().expect("set before the first turn").wake_by_ref();
        }
    });
    let t = Instant::now();
    let polls = gort::future::block_on(Handoff { polls: 0, rounds: n, other: b, waker });
    let d = t.elapsed();
    h.join().unwrap();
    assert_eq!(polls, n);
    d
}

fn block_on_wake() {
    // Warm both paths up (threads started, caches filled), then time
    // each once, in the same process.
    park_ready_rounds(ROUNDS / 10);
    block_on_rounds(ROUNDS / 10);
    report("park_ready", ROUNDS, park_ready_rounds(ROUNDS));
    report("block_on_wake", ROUNDS, block_on_rounds(ROUNDS));
}
