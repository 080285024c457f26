//! `ErrGroup<E>`: a group of goroutines working on subtasks of one task,
//! with the first error and an optional concurrency limit.
//!
//! Go: golang.org/x/sync/errgroup/errgroup.go.
//!
//! [`ErrGroup::go`] runs a fallible function in a new goroutine;
//! [`ErrGroup::wait`] blocks until **all** of them have returned (it does
//! not return early on an error) and then returns the first error, if any.
//! `wait` may be called again and returns the same result. The handle is
//! cheap to clone, so tasks can add more tasks to their own group (a
//! pipeline's stages).
//!
//! [`ErrGroup::set_limit`] bounds how many of the group's goroutines run at
//! once: `go` then parks the caller (a goroutine parks, a thread blocks)
//! until a slot frees up, and [`ErrGroup::try_go`] starts the function only
//! if a slot is free now. The limit is a gort [`Semaphore`], so the caller
//! waiting in `go` is parked, not spinning, and is woken in FIFO order.
//!
//! [`ErrGroup::with_context`] also returns a context derived from a parent
//! that is cancelled when the first task fails, or when `wait` returns,
//! whichever comes first: tasks that watch it (`ctx.done()` in their
//! `select!`s, or `ctx.err()`) stop early once one has failed.
//! Cancellation is cooperative, as in Go: a task that never looks at the
//! context runs to its end. With [`ErrGroup::with_context_cause`] (for
//! error types that are `std::error::Error`), the context's
//! [`cause`](crate::context::cause) is the first error, as x/sync's
//! `WithContext` does with `WithCancelCause`.
//!
//! Differences from Go:
//! - The limit is an `Option<usize>` (`None`: no limit) rather than a
//!   negative number. A limit of 0, with which Go's `Go` blocks for ever,
//!   makes `go` panic with an explanation instead; `try_go` returns false.
//! - As in Go, a panic in a task is not caught: it follows gort's policy
//!   for unjoined goroutines (by default the process ends). The task still
//!   counts as finished for `wait`, as Go's deferred `done` does.
//!
//! Orderings: a task stores its error under the group's mutex before its
//! `WaitGroup::done`, and `wait` reads it after `WaitGroup::wait`, which
//! orders them.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::context::{self, CancelCauseFunc, Cause, Context};
use crate::{Mutex, Semaphore, WaitGroup};

struct Inner<E> {
    wg: WaitGroup,
    err: Mutex<Option<E>>,
    limit: Mutex<Option<Arc<Semaphore>>>,
    active: AtomicUsize,
    /// The group's context's cancel function (`with_context`).
    cancel: Option<CancelCauseFunc>,
    /// Makes the context's cause from the first error (`with_context_cause`).
    to_cause: Option<fn(&E) -> Cause>,
}

impl<E> Inner<E> {
    /// Cancels the group's context, if it has one, with `err` as the cause
    /// when the group knows how to make one.
    fn cancel(&self, err: Option<&E>) {
        if let Some(c) = &self.cancel {
            c.cancel(err.and_then(|e| self.to_cause.map(|f| f(e))));
        }
    }
}

/// A group of goroutines with error propagation, Go's `errgroup.Group`.
/// See the module docs.
///
/// ```
/// use gort_sync::ErrGroup;
///
/// let g: ErrGroup<String> = ErrGroup::new();
/// for i in 0..3 {
///     g.go(move || if i == 1 { Err(format!("task {i} failed")) } else { Ok(()) });
/// }
/// assert_eq!(g.wait(), Err("task 1 failed".to_string()));
/// ```
pub struct ErrGroup<E> {
    inner: Arc<Inner<E>>,
}

impl<E> Clone for ErrGroup<E> {
    fn clone(&self) -> Self {
        ErrGroup { inner: self.inner.clone() }
    }
}

/// Marks a task finished when dropped, also if it panicked (Go: the
/// deferred `g.done()`).
struct TaskDone<E> {
    inner: Arc<Inner<E>>,
    slot: Option<Arc<Semaphore>>,
}

impl<E> Drop for TaskDone<E> {
    fn drop(&mut self) {
        if let Some(s) = &self.slot {
            s.release(1);
        }
        self.inner.active.fetch_sub(1, Ordering::Relaxed);
        self.inner.wg.done();
    }
}

impl<E: Send + 'static> ErrGroup<E> {
    /// An empty group with no limit.
    pub fn new() -> Self {
        Self::build(None, None)
    }

    fn build(cancel: Option<CancelCauseFunc>, to_cause: Option<fn(&E) -> Cause>) -> Self {
        ErrGroup {
            inner: Arc::new(Inner {
                wg: WaitGroup::new(),
                err: Mutex::new(None),
                limit: Mutex::new(None),
                active: AtomicUsize::new(0),
                cancel,
                to_cause,
            }),
        }
    }

    /// An empty group, and a context derived from `parent` that is
    /// cancelled when a task first returns an error or when
    /// [`wait`](Self::wait) returns, whichever happens first (or when the
    /// group and its tasks are all gone). Go: `errgroup.WithContext`.
    ///
    /// ```
    /// use gort_sync::{ErrGroup, context};
    ///
    /// let (g, ctx) = ErrGroup::<String>::with_context(&context::background());
    /// g.go(|| Err("disk full".to_string()));
    /// let c = ctx.clone();
    /// g.go(move || {
    ///     c.done().recv(); // a long task that stops when a sibling fails
    ///     Ok(())
    /// });
    /// assert_eq!(g.wait(), Err("disk full".to_string()));
    /// assert_eq!(ctx.err(), Some(context::Canceled));
    /// ```
    pub fn with_context(parent: &Context) -> (Self, Context) {
        let (ctx, cancel) = context::with_cancel_cause(parent);
        (Self::build(Some(cancel), None), ctx)
    }

    /// Runs `f` in a new goroutine. Under a limit, first waits until fewer
    /// than `limit` of the group's goroutines are active. If `f` returns an
    /// error and it is the group's first, `wait` will return it. Go: `Go`.
    ///
    /// # Panics
    /// If the limit is 0: no goroutine could ever start.
    #[track_caller]
    pub fn go<F>(&self, f: F)
    where
        F: FnOnce() -> Result<(), E> + Send + 'static,
    {
        let slot = self.inner.limit.lock().clone();
        if let Some(s) = &slot {
            if s.size() == 0 {
                panic!(
                    "errgroup: go with a limit of 0 can never start a goroutine (use try_go, or a limit above 0)"
                );
            }
            s.acquire(1);
        }
        self.start(slot, f);
    }

    /// Runs `f` in a new goroutine only if the limit allows one more right
    /// now; returns whether it did. Go: `TryGo`.
    #[track_caller]
    pub fn try_go<F>(&self, f: F) -> bool
    where
        F: FnOnce() -> Result<(), E> + Send + 'static,
    {
        let slot = self.inner.limit.lock().clone();
        if let Some(s) = &slot
            && !s.try_acquire(1)
        {
            return false;
        }
        self.start(slot, f);
        true
    }

    #[track_caller]
    fn start<F>(&self, slot: Option<Arc<Semaphore>>, f: F)
    where
        F: FnOnce() -> Result<(), E> + Send + 'static,
    {
        self.inner.wg.add(1);
        self.inner.active.fetch_add(1, Ordering::Relaxed);
        let done = TaskDone { inner: self.inner.clone(), slot };
        gort_runtime::spawn(move || {
            let done = done;
            if let Err(e) = f() {
                let mut first = done.inner.err.lock();
                if first.is_none() {
                    done.inner.cancel(Some(&e));
                    *first = Some(e);
                }
            }
        });
    }

    /// Limits the number of the group's goroutines active at once to `n`;
    /// `None` removes the limit. Go: `SetLimit`.
    ///
    /// # Panics
    /// If any of the group's goroutines is still active, with Go's message.
    #[track_caller]
    pub fn set_limit(&self, n: Option<usize>) {
        let mut limit = self.inner.limit.lock();
        let active = self.inner.active.load(Ordering::Relaxed);
        if active != 0 {
            panic!("errgroup: modify limit while {active} goroutines in the group are still active");
        }
        *limit = n.map(|n| Arc::new(Semaphore::new(n)));
    }

    /// The number of the group's goroutines that have not finished yet.
    pub fn active(&self) -> usize {
        self.inner.active.load(Ordering::Relaxed)
    }
}

impl<E: Clone + Send + 'static> ErrGroup<E> {
    /// Waits until every goroutine started with `go` has returned, then
    /// returns the first error any of them returned. Go: `Wait`.
    pub fn wait(&self) -> Result<(), E> {
        self.inner.wg.wait();
        let err = self.inner.err.lock();
        self.inner.cancel(err.as_ref());
        match &*err {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }
}

impl<E: std::error::Error + Clone + Send + Sync + 'static> ErrGroup<E> {
    /// Like [`with_context`](Self::with_context), and the context's
    /// [`cause`](crate::context::cause) is the first error (x/sync's
    /// `WithContext`, which uses `WithCancelCause`).
    pub fn with_context_cause(parent: &Context) -> (Self, Context) {
        let (ctx, cancel) = context::with_cancel_cause(parent);
        (Self::build(Some(cancel), Some(|e: &E| Cause::new(e.clone()))), ctx)
    }
}

impl<E: Send + 'static> Default for ErrGroup<E> {
    fn default() -> Self {
        ErrGroup::new()
    }
}

impl<E> fmt::Debug for ErrGroup<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErrGroup")
            .field("active", &self.inner.active.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}
