//! Group operations beyond [`ErrGroup`](crate::ErrGroup): the primitives of
//! the course's chapter 18 (go-pkgz/syncs, gollback, Hunch, schedgroup)
//! and an in-process priority queue, under Go's names.
//!
//! | gort | Go (upstream package) | what |
//! |---|---|---|
//! | [`SizedGroup`] | `syncs.SizedGroup` (go-pkgz/syncs) | a WaitGroup that runs at most `size` tasks at once; tasks get the group's context |
//! | [`ErrSizedGroup`] | `syncs.ErrSizedGroup` | the same with errors: every error collected in a [`MultiError`], or stop after the first ([`ErrSizedGroup::term_on_err`]) |
//! | [`gollback::all`], [`race`](gollback::race), [`retry`](gollback::retry) | `gollback.All/Race/Retry` (vardius/gollback) | every result and error in input order; the first success (cancelling the rest); a function retried |
//! | [`hunch::all`], [`take`](hunch::take), [`last`](hunch::last), [`retry`](hunch::retry), [`waterfall`](hunch::waterfall) | `hunch.All/Take/Last/Retry/Waterfall` (aaronjan/hunch) | all results or the first error; the first n successes; the last n; retry; a pipeline of steps |
//! | [`SchedGroup`] | `schedgroup.Group` (mdlayher/schedgroup) | tasks that run at a given time, on one runtime timer for the whole group |
//! | [`PriorityQueue`] | etcd's `recipe.PriorityQueue`, in process | a queue whose `dequeue` blocks until an item comes; lowest priority number first, FIFO within one |
//!
//! Functions take the context as `&Context`; where Go has `interface{}`
//! results, these are generic (`T`, and an error type `E`). Failures that
//! are not a function's own error (the context was done first, no
//! functions to race, retries exhausted) come back as [`Error`].
//!
//! As everywhere in gort, cancellation is cooperative: cancelling a
//! context lets these primitives return early and tells the running
//! functions (through their `&Context`) to stop, but a function that never
//! looks at its context runs to its end, in its goroutine.

use std::fmt;

use crate::context;

pub mod pqueue;
mod racers;
pub mod schedgroup;
pub mod sized;

pub mod gollback;
pub mod hunch;

pub use pqueue::PriorityQueue;
pub use schedgroup::SchedGroup;
pub use sized::{ErrSizedGroup, MultiError, SizedGroup};

/// Why a [`gollback`] or [`hunch`] combinator failed.
#[derive(Clone, PartialEq, Eq)]
pub enum Error<E> {
    /// A function returned this error.
    Failed(E),
    /// The caller's context was done first (Go: `ctx.Err()`).
    Context(context::Error),
    /// [`gollback::race`] was given no functions (gollback's
    /// `ErrNoCallbacks`).
    NoCallbacks,
    /// [`hunch::retry`] made `retries` attempts and each failed; `last` is
    /// the last attempt's error (Hunch's `MaxRetriesExceededError`).
    MaxRetriesExceeded {
        /// The number of attempts made.
        retries: usize,
        /// The last attempt's error.
        last: E,
    },
}

impl<E> Error<E> {
    /// The function's error, if this is one (`Failed` or the last error of
    /// `MaxRetriesExceeded`).
    pub fn func_error(&self) -> Option<&E> {
        match self {
            Error::Failed(e) | Error::MaxRetriesExceeded { last: e, .. } => Some(e),
            _ => None,
        }
    }
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Failed(e) => e.fmt(f),
            Error::Context(e) => e.fmt(f),
            Error::NoCallbacks => f.write_str("no functions to race"),
            Error::MaxRetriesExceeded { retries, last } => {
                write!(f, "max retries exceeded ({retries}); last error: {last}")
            }
        }
    }
}

impl<E: fmt::Debug> fmt::Debug for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Failed(e) => f.debug_tuple("Failed").field(e).finish(),
            Error::Context(e) => f.debug_tuple("Context").field(e).finish(),
            Error::NoCallbacks => f.write_str("NoCallbacks"),
            Error::MaxRetriesExceeded { retries, last } => {
                f.debug_struct("MaxRetriesExceeded").field("retries", retries).field("last", last).finish()
            }
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for Error<E> {}
