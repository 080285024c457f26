//! [`spawn`]: a future on a goroutine of its own, and its [`JoinHandle`],
//! which joins like a goroutine's handle and is also a future.
//!
//! Go: the `go` statement (runtime/proc.go `newproc`); the handle follows
//! tokio's `JoinHandle` in being awaitable.
//!
//! The goroutine runs `block_on(fut)` inside the runtime's own task
//! (`spawn.rs`), so the result, the panic (`Err(Panic)` with the
//! goroutine's id and stack trace), the `PanicPolicy` for a handle dropped
//! unjoined, and the synctest rules for joins are the runtime's.
//!
//! Awaiting the handle needs a wake when the goroutine finishes, which the
//! runtime's task (built for one parked joiner) does not give. A drop
//! guard on the goroutine's stack gives it: when `block_on` returns or
//! unwinds, the guard sets `exited` (Release), then takes the registered
//! waker out of the slot's lock and wakes it. A poll registers its waker
//! under that lock and then reads `exited` (Acquire); as in `sleep.rs`,
//! the lock orders the two, so the wake is never lost. Once `exited` is
//! seen, the poll calls the runtime's `join`, which returns at once if the
//! result is published and otherwise parks for the few instructions
//! between the guard and the publication (the goroutine stores its result
//! right after its closure returns; the runtime's `join` readies the
//! waiter). That park is a legitimate blocking poll (`future` module
//! docs).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};

use crate::Panic;
use crate::lock::Lock;

/// What the goroutine's exit guard shares with the handle's polls.
struct Exit {
    exited: AtomicBool,
    waker: Lock<Option<Waker>>,
}

/// Sets `exited` and wakes the registered waker when dropped: at the end
/// of the goroutine's `block_on`, returned or unwound.
struct ExitGuard(Arc<Exit>);

impl Drop for ExitGuard {
    fn drop(&mut self) {
        self.0.exited.store(true, Ordering::Release);
        let w = self.0.waker.lock().take();
        if let Some(w) = w {
            w.wake();
        }
    }
}

/// A future running on its own goroutine ([`spawn`]). [`join`] waits for
/// it like [`crate::JoinHandle::join`]; awaiting the handle does the same
/// without blocking the awaiting task's goroutine before the future ends.
/// Dropping the handle detaches the goroutine (its panic, if any, then
/// follows the runtime's `PanicPolicy`).
///
/// [`join`]: JoinHandle::join
#[must_use = "dropping a JoinHandle detaches the goroutine"]
pub struct JoinHandle<T> {
    inner: Option<crate::JoinHandle<T>>,
    exit: Arc<Exit>,
    /// The goroutine's synctest bubble id (the spawner's), 0 for none.
    bubble: u64,
}

/// Runs `fut` on a new goroutine (which does [`block_on`](super::block_on))
/// and returns its handle. The goroutine belongs to the caller's runtime
/// (the default one on a plain thread) and synctest bubble.
///
/// ```
/// use gort_runtime::future;
/// let h = future::spawn(async { "done" });
/// assert_eq!(h.join().unwrap(), "done");
/// ```
#[track_caller]
pub fn spawn<F>(fut: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let exit = Arc::new(Exit { exited: AtomicBool::new(false), waker: Lock::new(None) });
    let guard = ExitGuard(exit.clone());
    let inner = crate::spawn(move || {
        let _guard = guard;
        super::block_on(fut)
    });
    JoinHandle { inner: Some(inner), exit, bubble: super::waker::current_bubble_id() }
}

impl<T> JoinHandle<T> {
    fn inner(&self) -> &crate::JoinHandle<T> {
        self.inner.as_ref().expect("gort::future::JoinHandle used after its result was taken")
    }

    /// Waits for the future to finish and returns its output, or the panic
    /// that ended it. Parks a goroutine; blocks a plain thread. As
    /// [`crate::JoinHandle::join`].
    pub fn join(mut self) -> Result<T, Panic> {
        self.inner.take().expect("gort::future::JoinHandle used after its result was taken").join()
    }

    /// Whether the goroutine has finished.
    pub fn is_finished(&self) -> bool {
        self.inner().is_finished()
    }

    /// The goroutine's id.
    pub fn id(&self) -> u64 {
        self.inner().id()
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, Panic>;

    /// Ready with the output (or the panic) once the goroutine has
    /// finished. Polling again after that panics, as for any completed
    /// future.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if !this.exit.exited.load(Ordering::Acquire) {
            let w = cx.waker();
            let stale = {
                let slot = this.exit.waker.lock();
                !slot.as_ref().is_some_and(|s| super::waker::same(s, w))
            };
            if stale {
                let new = super::waker::register(w, this.bubble);
                let old = this.exit.waker.lock().replace(new);
                drop(old);
            }
            // Acquire: pairs with the guard's Release (module docs).
            if !this.exit.exited.load(Ordering::Acquire) {
                return Poll::Pending;
            }
        }
        let h = this.inner.take().expect("gort::future::JoinHandle polled after it returned its result");
        Poll::Ready(h.join())
    }
}

impl<T> std::fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinHandle").field("id", &self.inner.as_ref().map(|h| h.id())).finish()
    }
}
