//! Parking with a deadline, for the primitives' timed waits
//! (`Semaphore::acquire_timeout`, `Barrier::wait_timeout`).
//!
//! Go: runtime/sema.go has no timed wait; this mirrors what Go's
//! `selectgo` does with a timer case: arm first, then become visible.
//!
//! Why not [`gort_runtime::park_timeout`] for goroutines: it arms its timer
//! in the park callback *after* the primitive's unlock step has run. Once
//! that step has published the waiter (released the lock it queued under,
//! or flipped its hand-shake word), a waker may ready the goroutine, which
//! another P can resume at once; it then returns and pops the frame that
//! holds the timer node while the parking M is still arming it (a
//! use-after-free, seen as crashes in `semaphore_stress_mixed`; reported
//! to the runtime). [`park_until`] arms the timer first and publishes
//! last, so nothing touches the goroutine's stack after publication.
//!
//! The price is a different contract for `on_timeout`: it may run *before*
//! `publish` (when the deadline is very close), concurrently with it. Each
//! primitive's timeout handler deals with that: the semaphore's through
//! its hand-shake word, the barrier's by taking the lock that `publish`
//! releases.
//!
//! On a plain thread the runtime's own `park_timeout` is used: there the
//! timeout handler runs on the waiting thread itself, after `publish`.

use std::pin::pin;

use gort_runtime::timer::{TimerFn, TimerNode};
use gort_runtime::{GRef, WaitReason, in_goroutine, park, park_timeout};

/// Parks until readied, with `on_timeout(arg, delay)` run at `deadline`
/// (a `nanotime` instant) unless the node is stopped first; `publish` runs
/// once the caller is off its stack and returns whether to stay parked.
/// When this returns, `on_timeout` is not running and will not run.
pub(crate) fn park_until(
    reason: WaitReason,
    deadline: i64,
    on_timeout: TimerFn,
    arg: usize,
    publish: impl FnOnce(GRef) -> bool,
) {
    if !in_goroutine() {
        park_timeout(reason, deadline, on_timeout, arg, publish);
        return;
    }
    let node = pin!(TimerNode::new(on_timeout, arg));
    let node = node.as_ref();
    park(reason, |g| {
        // Arm first: after `publish` nothing here may touch this frame.
        node.reset(deadline, 0);
        publish(g)
    });
    // Dropping `node` stops the timer and waits out a callback in flight.
}
