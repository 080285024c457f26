//! hyper 1's runtime traits on goroutines (feature `hyper`): an
//! [`Executor`](hyper::rt::Executor) that runs each future hyper hands it
//! (a connection, a background dispatch task) on a goroutine of its own,
//! and a [`Timer`](hyper::rt::Timer) on gort's timer futures, so hyper's
//! client and server builders need no tokio runtime.
//!
//! Go: net/http runs each connection on its own goroutine; this does the
//! same for hyper's tasks. The shape follows hyper-util's `TokioExecutor`
//! and `TokioTimer`.
//!
//! ```
//! use gort_runtime::future::hyper_rt::{GortExecutor, GortTimer};
//! use hyper::rt::{Executor, Timer};
//!
//! let (tx, rx) = std::sync::mpsc::channel();
//! GortExecutor.execute(async move { tx.send(1).unwrap() });
//! assert_eq!(rx.recv().unwrap(), 1);
//!
//! let s = GortTimer.sleep(std::time::Duration::from_millis(1));
//! gort_runtime::future::block_on(s);
//! ```
//!
//! Sockets: hyper reads and writes through `hyper::rt::Read`/`Write`;
//! gort's sockets implement them (gort-netpoll's feature `hyper`), and
//! futures waiting on them park their goroutine. A future run by
//! [`GortExecutor`] that panics ends its goroutine, and, as nobody joins
//! it, the runtime's `PanicPolicy` applies (by default the process exits,
//! as Go's does for a panicking connection goroutine without `recover`).

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use super::Sleep;

/// hyper's executor on goroutines: [`execute`](hyper::rt::Executor::execute)
/// runs the future on a goroutine of its own ([`super::block_on`] there)
/// and detaches it. It skips [`super::spawn`]'s `JoinHandle` (an
/// allocation and a lock per task), since hyper never awaits what it
/// executes: on HTTP/2 that is one task per stream.
#[derive(Clone, Copy, Debug, Default)]
pub struct GortExecutor;

impl<F> hyper::rt::Executor<F> for GortExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    #[track_caller]
    fn execute(&self, fut: F) {
        drop(crate::spawn(move || {
            super::block_on(fut);
        }));
    }
}

/// hyper's timer on gort's [`Sleep`]: on the caller's clock (a synctest
/// bubble's inside one), and `reset` moves a gort `Sleep` in place.
#[derive(Clone, Copy, Debug, Default)]
pub struct GortTimer;

impl hyper::rt::Timer for GortTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(super::sleep(duration))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(super::sleep_until(deadline))
    }

    fn now(&self) -> Instant {
        crate::time::now()
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<Sleep>() {
            Some(s) => s.reset(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

impl hyper::rt::Sleep for Sleep {}
