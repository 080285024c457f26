//! [`SizedGroup`] and [`ErrSizedGroup`]: wait groups that run at most
//! `size` tasks at once, and [`MultiError`], the errors of an
//! `ErrSizedGroup`.
//!
//! Go: github.com/go-pkgz/syncs (sizedgroup.go, errsizedgroup.go,
//! group_options.go).
//!
//! ## The two modes
//!
//! - **Default**: `go` never blocks. Every task gets its goroutine at once,
//!   and the goroutine waits for one of the `size` slots before it runs
//!   the task. So `size` bounds the tasks *running*, not the goroutines:
//!   1,000 calls make 1,000 goroutines, at most `size` of them past the
//!   slot.
//! - **Preemptive** ([`SizedGroup::preemptive`]): `go` itself waits (the
//!   calling goroutine parks) until a slot is free, and only then starts
//!   the goroutine, so at most `size` of the group's goroutines exist.
//!   With [`discard`](SizedGroup::discard), `go` drops the task instead of
//!   waiting when every slot is taken.
//!
//! (The course's sentence on the default mode breaks off in the source;
//! the modes above are go-pkgz/syncs' own.)
//!
//! ## Contexts and errors
//!
//! Tasks get the group's context: `background()`, or the one given with
//! [`context`](SizedGroup::context). Once it is done, `go` starts nothing
//! and tasks still waiting for a slot give up without running; running
//! tasks see it in their `&Context`. Unlike go-pkgz/syncs, an
//! `ErrSizedGroup`'s tasks get the context too (the course points out that
//! upstream's cannot be cancelled).
//!
//! An [`ErrSizedGroup`] collects every task's error, in the order they
//! happen, into the [`MultiError`] that `wait` returns; it also records
//! once that the context ended before some tasks could run. With
//! [`term_on_err`](ErrSizedGroup::term_on_err) the first error cancels the
//! group's context (so running tasks can stop), and no task starts after
//! it: later `go` calls return at once, queued ones are skipped.
//!
//! Size 0 is taken as 1 (upstream's semaphore does the same). A panicking
//! task frees its slot and counts as finished; the panic itself follows
//! gort's policy for unjoined goroutines (by default the process ends), as
//! for [`ErrGroup`](crate::ErrGroup).
//!
//! The slots are a gort [`Semaphore`]: waiting for one parks the goroutine
//! (a plain thread blocks), woken in FIFO order.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::context::{self, CancelFunc, Context};
use crate::{Mutex, Semaphore, WaitGroup};

/// What both groups share: the slots, the wait group, the context.
struct Base {
    preemptive: bool,
    discard: bool,
    sema: Semaphore,
    wg: WaitGroup,
    ctx: Context,
    /// Cancels `ctx` (an `ErrSizedGroup`'s, for `term_on_err`); dropping
    /// the group cancels it too.
    cancel: Option<CancelFunc>,
}

/// What the caller of `go` decided.
enum Admit {
    /// Start the goroutine; `slot`: it already holds a slot.
    Start { slot: bool },
    /// `discard` and no free slot.
    Discarded,
    /// The context is done.
    Done(context::Error),
}

impl Base {
    fn new(size: usize) -> Base {
        Base {
            preemptive: false,
            discard: false,
            sema: Semaphore::new(size.max(1)),
            wg: WaitGroup::new(),
            ctx: context::background(),
            cancel: None,
        }
    }

    /// The caller's side of `go`: in preemptive mode, takes a slot first.
    fn admit(&self) -> Admit {
        if let Some(e) = self.ctx.err() {
            return Admit::Done(e);
        }
        if !self.preemptive {
            return Admit::Start { slot: false };
        }
        if self.sema.try_acquire(1) {
            return Admit::Start { slot: true };
        }
        if self.discard {
            return Admit::Discarded;
        }
        match self.sema.acquire_ctx(&self.ctx, 1) {
            Ok(()) => Admit::Start { slot: true },
            Err(e) => Admit::Done(e),
        }
    }
}

/// Frees the task's slot and marks it finished when dropped, also if the
/// task panicked (go-pkgz/syncs: the deferred `wg.Done` and unlock).
struct TaskDone {
    base: Arc<Base>,
    slot: bool,
}

impl TaskDone {
    /// Waits for a slot unless the task has one; false if the context
    /// ended first.
    fn take_slot(&mut self) -> Result<(), context::Error> {
        if !self.slot {
            self.base.sema.acquire_ctx(&self.base.ctx, 1)?;
            self.slot = true;
        }
        Ok(())
    }
}

impl Drop for TaskDone {
    fn drop(&mut self) {
        if self.slot {
            self.base.sema.release(1);
        }
        self.base.wg.done();
    }
}

#[track_caller]
fn base_mut(base: &mut Arc<Base>) -> &mut Base {
    Arc::get_mut(base)
        .expect("syncs: set a group's options before cloning it or starting a task (options are fixed then)")
}

/// A wait group that runs at most `size` of its tasks at once:
/// go-pkgz/syncs' `SizedGroup`. See the [module docs](self) for the two
/// modes. Cheap to clone (every clone is the same group); set the options
/// before.
///
/// The course's example: ten slots, 1,000 tasks of 5 ms each.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::time::Duration;
/// use gort_sync::group::SizedGroup;
///
/// let swg = SizedGroup::new(10);
/// let c = Arc::new(AtomicU32::new(0));
/// for _ in 0..1000 {
///     let c = c.clone();
///     swg.go(move |_ctx| {
///         gort_runtime::sleep(Duration::from_millis(5));
///         c.fetch_add(1, Ordering::Relaxed);
///     });
/// }
/// swg.wait();
/// assert_eq!(c.load(Ordering::Relaxed), 1000); // after about 1000 × 5 ms / 10 = 0.5 s
/// ```
#[derive(Clone)]
pub struct SizedGroup {
    base: Arc<Base>,
}

impl SizedGroup {
    /// A group with `size` slots (0 is taken as 1), in the default mode,
    /// with the background context. Go: `NewSizedGroup(size)`.
    pub fn new(size: usize) -> SizedGroup {
        SizedGroup { base: Arc::new(Base::new(size)) }
    }

    /// Gives the tasks `ctx` (Go: the `Context(ctx)` option): once it is
    /// done, no task starts.
    ///
    /// # Panics
    /// If the group was cloned already (options come first).
    #[track_caller]
    pub fn context(mut self, ctx: &Context) -> SizedGroup {
        base_mut(&mut self.base).ctx = ctx.clone();
        self
    }

    /// `go` waits for a free slot before starting the goroutine (Go: the
    /// `Preemptive` option).
    ///
    /// # Panics
    /// If the group was cloned already.
    #[track_caller]
    pub fn preemptive(mut self) -> SizedGroup {
        base_mut(&mut self.base).preemptive = true;
        self
    }

    /// `go` drops the task when no slot is free (Go: the `Discard` option;
    /// it implies [`preemptive`](Self::preemptive)).
    ///
    /// # Panics
    /// If the group was cloned already.
    #[track_caller]
    pub fn discard(mut self) -> SizedGroup {
        let b = base_mut(&mut self.base);
        b.preemptive = true;
        b.discard = true;
        self
    }

    /// Runs `f` with the group's context in a new goroutine once a slot
    /// is free (module docs for when `go` itself waits). Returns false if
    /// the task was dropped: the context was done, or (with `discard`) no
    /// slot was free. A started task is still skipped if the context ends
    /// while it waits for a slot. Go: `Go`.
    #[track_caller]
    pub fn go(&self, f: impl FnOnce(&Context) + Send + 'static) -> bool {
        let slot = match self.base.admit() {
            Admit::Start { slot } => slot,
            Admit::Discarded | Admit::Done(_) => return false,
        };
        self.base.wg.add(1);
        let mut done = TaskDone { base: self.base.clone(), slot };
        gort_runtime::spawn(move || {
            if done.take_slot().is_err() || done.base.ctx.err().is_some() {
                return;
            }
            f(&done.base.ctx);
        });
        true
    }

    /// Waits until every task started with `go` has finished (or been
    /// skipped). Go: `Wait`.
    pub fn wait(&self) {
        self.base.wg.wait();
    }
}

impl fmt::Debug for SizedGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SizedGroup")
            .field("size", &self.base.sema.size())
            .field("running", &self.base.sema.held())
            .field("tasks", &self.base.wg.count())
            .finish()
    }
}

/// The errors of an [`ErrSizedGroup`]: every task error, in the order they
/// happened, and whether the group's context ended before some task ran.
/// Go: go-pkgz/syncs' `MultiError`, whose message it keeps:
/// `2 error(s) occurred: [0] {first}, [1] {second}`.
#[derive(Clone, PartialEq, Eq)]
pub struct MultiError<E> {
    errors: Vec<E>,
    context: Option<context::Error>,
}

impl<E> MultiError<E> {
    /// The tasks' errors, in the order they were returned.
    pub fn errors(&self) -> &[E] {
        &self.errors
    }

    /// The tasks' errors, by value.
    pub fn into_errors(self) -> Vec<E> {
        self.errors
    }

    /// Set if the group's context was done before some task could run
    /// (those tasks were skipped). Not set for tasks skipped after an
    /// error under `term_on_err`.
    pub fn context_err(&self) -> Option<context::Error> {
        self.context
    }

    /// The number of errors, the context's included.
    pub fn len(&self) -> usize {
        self.errors.len() + usize::from(self.context.is_some())
    }

    /// Always false for a `MultiError` returned by `wait` (kept for
    /// `len`'s sake).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<E: fmt::Display> fmt::Display for MultiError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} error(s) occurred: ", self.len())?;
        let ctx = self.context.iter().map(|e| e as &dyn fmt::Display);
        for (i, e) in self.errors.iter().map(|e| e as &dyn fmt::Display).chain(ctx).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "[{i}] {{{e}}}")?;
        }
        Ok(())
    }
}

impl<E: fmt::Debug> fmt::Debug for MultiError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MultiError").field("errors", &self.errors).field("context", &self.context).finish()
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for MultiError<E> {}

/// An [`ErrSizedGroup`]'s error state.
struct Errs<E> {
    term_on_err: bool,
    /// Set with the first error (Release), read by the termination checks.
    failed: AtomicBool,
    errors: Mutex<Vec<E>>,
    context: Mutex<Option<context::Error>>,
}

impl<E> Errs<E> {
    fn terminated(&self) -> bool {
        self.term_on_err && self.failed.load(Ordering::Acquire)
    }

    fn record_ctx(&self, e: context::Error) {
        self.context.lock().get_or_insert(e);
    }
}

/// A [`SizedGroup`] whose tasks return errors: go-pkgz/syncs'
/// `ErrSizedGroup`. `wait` returns every error in a [`MultiError`];
/// with [`term_on_err`](Self::term_on_err), the first error stops the
/// group (module docs).
///
/// ```
/// use gort_sync::group::ErrSizedGroup;
///
/// let g = ErrSizedGroup::new(2);
/// for i in 0..4 {
///     g.go(move |_ctx| if i % 2 == 1 { Err(format!("task {i} failed")) } else { Ok(()) });
/// }
/// let err = g.wait().unwrap_err();
/// let mut errs = err.errors().to_vec();
/// errs.sort();
/// assert_eq!(errs, ["task 1 failed", "task 3 failed"]);
/// assert!(err.to_string().starts_with("2 error(s) occurred: [0] {task "));
/// ```
pub struct ErrSizedGroup<E> {
    base: Arc<Base>,
    errs: Arc<Errs<E>>,
}

impl<E> Clone for ErrSizedGroup<E> {
    fn clone(&self) -> Self {
        ErrSizedGroup { base: self.base.clone(), errs: self.errs.clone() }
    }
}

impl<E: Send + 'static> ErrSizedGroup<E> {
    /// A group with `size` slots (0 is taken as 1), in the default mode,
    /// with a context derived from `background()`. Go:
    /// `NewErrSizedGroup(size)`.
    pub fn new(size: usize) -> ErrSizedGroup<E> {
        let mut base = Base::new(size);
        let (ctx, cancel) = context::with_cancel(&context::background());
        base.ctx = ctx;
        base.cancel = Some(cancel);
        ErrSizedGroup {
            base: Arc::new(base),
            errs: Arc::new(Errs {
                term_on_err: false,
                failed: AtomicBool::new(false),
                errors: Mutex::new(Vec::new()),
                context: Mutex::new(None),
            }),
        }
    }

    /// Derives the group's context from `ctx` (Go: the `Context(ctx)`
    /// option): once `ctx` is done, no task starts, and `wait` reports it
    /// in [`MultiError::context_err`].
    ///
    /// # Panics
    /// If the group was cloned already (options come first).
    #[track_caller]
    pub fn context(mut self, ctx: &Context) -> ErrSizedGroup<E> {
        let b = base_mut(&mut self.base);
        let (c, cancel) = context::with_cancel(ctx);
        b.ctx = c;
        b.cancel = Some(cancel);
        self
    }

    /// `go` waits for a free slot before starting the goroutine (Go: the
    /// `Preemptive` option).
    ///
    /// # Panics
    /// If the group was cloned already.
    #[track_caller]
    pub fn preemptive(mut self) -> ErrSizedGroup<E> {
        base_mut(&mut self.base).preemptive = true;
        self
    }

    /// `go` drops the task when no slot is free (Go: the `Discard`
    /// option; implies [`preemptive`](Self::preemptive)).
    ///
    /// # Panics
    /// If the group was cloned already.
    #[track_caller]
    pub fn discard(mut self) -> ErrSizedGroup<E> {
        let b = base_mut(&mut self.base);
        b.preemptive = true;
        b.discard = true;
        self
    }

    /// After the first error, cancel the group's context and start no
    /// other task (Go: the `TermOnErr` option).
    ///
    /// # Panics
    /// If the group was cloned already.
    #[track_caller]
    pub fn term_on_err(mut self) -> ErrSizedGroup<E> {
        Arc::get_mut(&mut self.errs)
            .expect(
                "syncs: set a group's options before cloning it or starting a task (options are fixed then)",
            )
            .term_on_err = true;
        self
    }

    /// Runs `f` with the group's context in a new goroutine once a slot
    /// is free, and collects its error. Returns false if the task was
    /// dropped: the group stopped after an error (`term_on_err`), the
    /// context was done, or (with `discard`) no slot was free. Go: `Go`.
    #[track_caller]
    pub fn go(&self, f: impl FnOnce(&Context) -> Result<(), E> + Send + 'static) -> bool {
        if self.errs.terminated() {
            return false;
        }
        let slot = match self.base.admit() {
            Admit::Start { slot } => slot,
            Admit::Discarded => return false,
            Admit::Done(e) => {
                if !self.errs.terminated() {
                    self.errs.record_ctx(e);
                }
                return false;
            }
        };
        self.base.wg.add(1);
        let mut done = TaskDone { base: self.base.clone(), slot };
        let errs = self.errs.clone();
        gort_runtime::spawn(move || {
            if errs.terminated() {
                return;
            }
            let ctx_done = done.take_slot().err().or_else(|| done.base.ctx.err());
            // Checked again after waiting: the error may have come meanwhile.
            if errs.terminated() {
                return;
            }
            if let Some(e) = ctx_done {
                errs.record_ctx(e);
                return;
            }
            if let Err(e) = f(&done.base.ctx) {
                errs.errors.lock().push(e);
                if !errs.failed.swap(true, Ordering::AcqRel)
                    && errs.term_on_err
                    && let Some(c) = &done.base.cancel
                {
                    c.cancel();
                }
            }
        });
        true
    }

    /// The group's context (derived from [`context`](Self::context)'s, or
    /// from `background()`), for work outside the tasks that should stop
    /// with them.
    pub fn ctx(&self) -> &Context {
        &self.base.ctx
    }
}

impl<E: Clone + Send + 'static> ErrSizedGroup<E> {
    /// Waits until every task started with `go` has finished (or been
    /// skipped), then returns their errors, if any (Go: `Wait`). Returns
    /// the same result if called again with no new tasks.
    pub fn wait(&self) -> Result<(), MultiError<E>> {
        self.base.wg.wait();
        let errors = self.errs.errors.lock().clone();
        let context = *self.errs.context.lock();
        if errors.is_empty() && context.is_none() { Ok(()) } else { Err(MultiError { errors, context }) }
    }
}

impl<E> fmt::Debug for ErrSizedGroup<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErrSizedGroup")
            .field("size", &self.base.sema.size())
            .field("running", &self.base.sema.held())
            .field("tasks", &self.base.wg.count())
            .field("failed", &self.errs.failed.load(Ordering::Relaxed))
            .finish()
    }
}
