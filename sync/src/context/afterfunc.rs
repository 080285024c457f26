//! [`after_func`]: run a function once a context is done. Go:
//! context/context.go (`AfterFunc`, `afterFuncCtx`).
//!
//! As in Go, the function is held by a private cancellable context
//! registered under `ctx` like any child: cancelling `ctx` cancels it, and
//! its cancellation starts the function in a new goroutine. `once` decides
//! between the two ends, exactly once: whichever of "start the function"
//! (on cancellation) and "stop" swaps it first wins and takes the function
//! out of its cell. So the function runs at most once, `stop` returns true
//! only if it prevented the run, and cancellation never waits for the
//! function.

use std::cell::UnsafeCell;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::cancel::{CancelCtx, Ext, new_cancel};
use super::{Context, Error, Node};

/// The extension of an after-function's context. Go: the rest of
/// `afterFuncCtx`.
pub(crate) struct AfterFuncExt {
    /// Set by the first of start and stop (Go: `once`).
    once: AtomicBool,
    /// Taken by whoever set `once`.
    f: UnsafeCell<Option<Box<dyn FnOnce() + Send>>>,
}

// SAFETY: `f` is written at construction, before the context is shared,
// and afterwards touched only by the one party that swapped `once` from
// false to true (AcqRel, which also orders the construction before it).
unsafe impl Sync for AfterFuncExt {}

impl AfterFuncExt {
    /// Takes the function if neither start nor stop has yet.
    pub(crate) fn take(&self) -> Option<Box<dyn FnOnce() + Send>> {
        if self.once.swap(true, Ordering::AcqRel) {
            return None;
        }
        // SAFETY: we won `once`: the cell is ours alone (see above).
        unsafe { (*self.f.get()).take() }
    }
}

/// Arranges for `f` to run in a new goroutine once `ctx` is done (at once
/// if it already is), and returns a handle that can prevent that. Several
/// functions may be registered on one context; each runs independently.
/// Go: `context.AfterFunc`.
///
/// ```
/// use gort_sync::context;
///
/// let (ctx, cancel) = context::with_cancel(&context::background());
/// let ran = gort_channels::chan::<&str>(1);
/// let tx = ran.sender();
/// let _stop = context::after_func(&ctx, move || tx.send("cleaned up").unwrap());
/// cancel.cancel(); // starts f; does not wait for it
/// assert_eq!(ran.recv(), Some("cleaned up"));
/// ```
pub fn after_func(ctx: &Context, f: impl FnOnce() + Send + 'static) -> AfterFuncStop {
    let ext = AfterFuncExt { once: AtomicBool::new(false), f: UnsafeCell::new(Some(Box::new(f))) };
    AfterFuncStop { node: new_cancel(ctx, Ext::AfterFunc(ext)) }
}

/// Stops an [`after_func`] registration. Dropping it does **not** stop it
/// (Go: not calling `stop`).
pub struct AfterFuncStop {
    node: Arc<Node>,
}

impl AfterFuncStop {
    /// Unregisters the function. Returns true if that stopped it from
    /// running; false if it has already been started (the context was done)
    /// or stopped. Does not wait for a started function to finish. Go: the
    /// `stop` function.
    pub fn stop(&self) -> bool {
        let Ext::AfterFunc(a) = &self.node.cancel_ctx().ext else {
            unreachable!("an after-function's context")
        };
        match a.take() {
            Some(f) => {
                drop(f);
                CancelCtx::cancel(&self.node, true, Error::Canceled, None);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
impl AfterFuncStop {
    pub(crate) fn node_for_tests(&self) -> &Arc<Node> {
        &self.node
    }
}

impl fmt::Debug for AfterFuncStop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AfterFuncStop").field("done", &self.node.cancel_ctx().is_canceled()).finish()
    }
}
