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

mod sized;

pub use sized::{ErrSizedGroup, MultiError, SizedGroup};
