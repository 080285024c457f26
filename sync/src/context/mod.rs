//! `context`: deadlines, cancellation and request-scoped values that flow
//! down a call tree, Go's `context` package (go1.27 semantics).
//!
//! Go: context/context.go.
//!
//! A [`Context`] is immutable and cheap to clone (an `Arc` inside). New
//! ones derive from a parent: [`with_cancel`], [`with_deadline`],
//! [`with_timeout`] (and their `_cause` variants), [`with_value`],
//! [`without_cancel`]; the roots are [`background`] and [`todo()`].
//! Cancelling a context cancels every context derived from it, never its
//! parent; [`after_func`] runs a function once a context is done.
//!
//! ```
//! use std::time::Duration;
//! use gort_sync::context;
//!
//! let (ctx, cancel) = context::with_timeout(&context::background(), Duration::from_millis(10));
//! let worker = {
//!     let ctx = ctx.clone();
//!     gort_runtime::spawn(move || {
//!         let work = gort_channels::chan::<u32>(0); // nobody ever sends
//!         gort_channels::select! {
//!             recv(work) -> v => Ok(v),
//!             recv(ctx.done()) => Err(ctx.err().unwrap()),
//!         }
//!     })
//! };
//! assert_eq!(worker.join().unwrap(), Err(context::DeadlineExceeded));
//! drop(cancel); // dropping the cancel function cancels, like Go's `defer cancel()`
//! ```
//!
//! ## Go's API, in Rust
//!
//! | Go | gort |
//! |---|---|
//! | `ctx.Done()` | [`Context::done`]: a `&Receiver<()>` closed on cancellation, for `select!` or `recv()`. A context that can never be cancelled returns a channel that never closes (Go: a nil channel; both block for ever) |
//! | `ctx.Err()` | [`Context::err`]: `None`, or `Some(Canceled)` / `Some(DeadlineExceeded)` ([`Error`], Go's messages). As in Go, once it is `Some`, `done()` is already closed |
//! | `ctx.Deadline()` | [`Context::deadline`]: `Option<Instant>` |
//! | `ctx.Value(key)` | [`Context::value`]`::<V>(&key)` → `Option<&V>` (typed; see below) |
//! | `CancelFunc` | [`CancelFunc`]: `cancel()`, and **dropping it cancels** (Go's `defer cancel()` is automatic; vet's `lostcancel` cannot happen) |
//! | `Cause(ctx)` | [`cause`]`(&ctx)` → `Option<`[`Cause`]`>` |
//! | `AfterFunc(ctx, f) (stop func() bool)` | [`after_func`]`(&ctx, f)` → [`AfterFuncStop`] with `stop() -> bool`; dropping it does not stop |
//! | a nil parent panics, a nil or non-comparable key panics | impossible: there is no nil `Context`, and keys must be `PartialEq` |
//! | a user type implementing `Context` | [`CustomContext`], wrapped by [`Context::custom`] |
//!
//! **Values** are keyed by a key *value* of any `'static + PartialEq` type,
//! compared as Go compares interface keys: the types must be the same and
//! the values equal, so two key types never collide (Go's advice to use an
//! unexported key type becomes: use a private type). The nearest binding
//! of a key wins; if its value is not of the requested type, the lookup
//! gives `None` (Go's failed type assertion), it does not look further up.
//!
//! **Dropping** a `CancelFunc` cancels its context. Keep it alive (`let
//! (ctx, _cancel) = ...`) for as long as the context should live; `let
//! (ctx, _) = ...` cancels at once.
//!
//! ## Implementation (Go's)
//!
//! - A cancellable context (`WithCancel`, `WithDeadline`, the context of
//!   an `AfterFunc`) has a goroutine mutex, a lazily made done channel, an
//!   error set once, and the set of its cancellable children. `cancel`
//!   stores the error and cause, closes the channel, and cancels the
//!   children **while holding its lock**, depth first (iteratively, so a
//!   chain of any depth fits on a goroutine's stack); then it removes
//!   itself from its parent.
//! - Propagation (Go's `propagateCancel`): a new child registers with the
//!   nearest cancellable ancestor (through value and wrapper layers); a
//!   custom parent is watched through its `after_func` if it has one, else
//!   by one goroutine (Go's rules, see [`CustomContext`]).
//! - A deadline is a runtime timer (no goroutine waits for it); when it
//!   fires, its callback starts a goroutine that cancels the context (Go's
//!   `time.AfterFunc`). While armed the timer keeps its context alive;
//!   cancelling stops it.
//! - [`Context::err`] loads one atomic; [`Context::done`] makes the channel
//!   on first use (a context cancelled before anyone asked shares one
//!   closed channel, Go's `closedchan`).
//!
//! Module map: `error` (the errors), `cancel` (the cancellation tree),
//! `deadline` (timers), `value` (values and `without_cancel`), `afterfunc`,
//! `custom` (user-defined contexts).

mod afterfunc;
mod cancel;
mod custom;
mod deadline;
mod error;
mod value;

#[cfg(test)]
mod tests;

use std::any::Any;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use gort_channels::Receiver;

pub use afterfunc::{AfterFuncStop, after_func};
pub use cancel::{CancelCauseFunc, CancelFunc, with_cancel, with_cancel_cause};
pub use custom::CustomContext;
pub use deadline::{with_deadline, with_deadline_cause, with_timeout, with_timeout_cause};
pub use error::{Cause, Error};
pub use value::{ValueKey, with_value, without_cancel};

/// Go's `context.Canceled`.
pub use error::Error::Canceled;
/// Go's `context.DeadlineExceeded`.
pub use error::Error::DeadlineExceeded;

use cancel::CancelCtx;
use custom::CustomCtx;
use value::{KeyRepr, ValueCtx};

/// A context: Go's `context.Context`. See the [module docs](self).
///
/// Cheap to clone; every clone is the same context. Safe to share between
/// goroutines and threads.
#[derive(Clone)]
pub struct Context {
    repr: Repr,
}

#[derive(Clone)]
enum Repr {
    Background,
    Todo,
    Node(Arc<Node>),
}

/// A derived context. Go: `cancelCtx`/`timerCtx`/`afterFuncCtx` (one
/// type here, with an extension), `valueCtx`, `withoutCancelCtx`, and a
/// user's type.
pub(crate) enum Node {
    Cancel(CancelCtx),
    Value(ValueCtx),
    WithoutCancel(Context),
    Custom(CustomCtx),
}

impl Node {
    /// The cancellable part; only called on nodes known to be `Cancel`
    /// (the children of a cancellable context always are).
    #[inline]
    pub(crate) fn cancel_ctx(&self) -> &CancelCtx {
        match self {
            Node::Cancel(c) => c,
            _ => unreachable!("context: a cancellation child that cannot be cancelled"),
        }
    }
}

impl Node {
    /// Takes the parent out of a node being dropped.
    fn take_parent(&mut self) -> Context {
        match self {
            Node::Cancel(c) => {
                // The registration may hold another reference to an
                // ancestor: release it first, or that ancestor would be
                // dropped recursively when this node's fields drop.
                c.clear_link();
                std::mem::take(c.parent_mut())
            }
            Node::Value(v) => std::mem::take(v.parent_mut()),
            Node::WithoutCancel(p) => std::mem::take(p),
            Node::Custom(_) => background(),
        }
    }
}

impl Drop for Node {
    /// Drops the chain of parents iteratively: a chain of contexts may be
    /// far deeper than a goroutine's stack allows recursion (a node's
    /// parent is dropped here only if this node held the last reference).
    fn drop(&mut self) {
        let mut next = self.take_parent();
        while let Repr::Node(mut n) = next.repr {
            if Arc::strong_count(&n) > 1 {
                // Shared (the common case, checked cheaply first): only a
                // decrement. If the others let go meanwhile, this drop is
                // the last one, which costs one more level of this loop.
                break;
            }
            match Arc::get_mut(&mut n) {
                // The last reference: unlink its parent before it drops.
                Some(node) => next = node.take_parent(),
                None => break,
            }
        }
    }
}

/// The empty root of every context tree: never cancelled, no deadline, no
/// values. Go: `context.Background()`. Free to call (no allocation).
pub fn background() -> Context {
    Context { repr: Repr::Background }
}

/// Like [`background`], for code that does not know yet which context to
/// use (its name says so in the goroutine's context chain). Go:
/// `context.TODO()`.
pub fn todo() -> Context {
    Context { repr: Repr::Todo }
}

/// A channel that is never closed: the done channel of contexts that can
/// never be cancelled (Go returns a nil channel, which blocks the same way).
fn never_done() -> &'static Receiver<()> {
    static NEVER: OnceLock<Receiver<()>> = OnceLock::new();
    // Of no synctest bubble, and a durable wait in any (Go's nil channel).
    NEVER.get_or_init(gort_channels::__private::chan_never::<()>)
}

/// A closed channel, shared by the contexts cancelled before anyone asked
/// for their done channel. Go: `closedchan`.
fn closed_done() -> &'static Receiver<()> {
    static CLOSED: OnceLock<Receiver<()>> = OnceLock::new();
    CLOSED.get_or_init(|| {
        // Of no synctest bubble: every context shares it.
        let c = gort_channels::__private::chan_outside_bubbles::<()>(0);
        c.close();
        c.receiver()
    })
}

/// Where a context's cancellation comes from: the nearest layer that is
/// not a value.
pub(crate) enum Source<'a> {
    /// Nothing can cancel it.
    Never,
    /// A cancellable context of ours (the `Arc` is its node).
    Cancel(&'a Arc<Node>),
    /// A user's context.
    Custom(&'a Context, &'a CustomCtx),
}

impl Context {
    pub(crate) fn from_node(n: Arc<Node>) -> Context {
        Context { repr: Repr::Node(n) }
    }

    #[cfg(test)]
    pub(crate) fn node(&self) -> Option<&Arc<Node>> {
        match &self.repr {
            Repr::Node(n) => Some(n),
            _ => None,
        }
    }

    /// Whether this context is the node `n`.
    pub(crate) fn node_is(&self, n: &Arc<Node>) -> bool {
        matches!(&self.repr, Repr::Node(m) if Arc::ptr_eq(m, n))
    }

    /// The nearest layer that decides when this context is done.
    pub(crate) fn source(&self) -> Source<'_> {
        let mut c = self;
        loop {
            let Repr::Node(n) = &c.repr else { return Source::Never };
            match &**n {
                Node::Cancel(_) => return Source::Cancel(n),
                Node::Value(v) => c = v.parent(),
                Node::WithoutCancel(_) => return Source::Never,
                Node::Custom(cc) => return Source::Custom(c, cc),
            }
        }
    }

    /// Whether a goroutine of a synctest bubble that waits for this
    /// context waits durably: nothing outside its bubble can cancel the
    /// context (it can never be cancelled, or its nearest cancellable
    /// layer was made in the caller's bubble; as in Go, where a done
    /// channel made in a bubble is the bubble's).
    pub(crate) fn synctest_durable(&self) -> bool {
        match self.source() {
            Source::Never => true,
            Source::Cancel(n) => {
                let id = n.cancel_ctx().bubble;
                id != 0 && gort_runtime::engine::current_bubble().is_some_and(|b| b.id() == id)
            }
            Source::Custom(..) => false,
        }
    }

    /// A channel that is closed when this context is done: when it is
    /// cancelled, its deadline passes, or its parent is done. Use it in
    /// `select!` (`recv(ctx.done()) => ...`) or wait with `recv()` (it
    /// returns `None` once closed). Every call returns the same channel.
    /// For a context that can never be cancelled, a channel that never
    /// closes (shared by all of them: a `select!` that waits on it queues
    /// there; code that waits on many such contexts at once can pass
    /// [`done_opt`](Self::done_opt) instead, whose `None` case costs
    /// nothing). Go: `Done`.
    #[inline]
    pub fn done(&self) -> &Receiver<()> {
        match self.source() {
            Source::Never => never_done(),
            Source::Cancel(n) => n.cancel_ctx().done(),
            Source::Custom(_, c) => c.done().unwrap_or(never_done()),
        }
    }

    /// Go's `Done()` exactly: the done channel, or `None` (Go's nil
    /// channel) for a context that can never be cancelled: [`background`],
    /// [`todo()`], [`without_cancel`], values over those.
    pub fn done_opt(&self) -> Option<&Receiver<()>> {
        match self.source() {
            Source::Never => None,
            Source::Cancel(n) => Some(n.cancel_ctx().done()),
            Source::Custom(_, c) => c.done(),
        }
    }

    /// Why the context is done, or `None` while it is not:
    /// [`Canceled`] or [`DeadlineExceeded`]. Once `Some`, it stays the
    /// same, and [`done`](Self::done) is already closed. Go: `Err`.
    #[inline]
    pub fn err(&self) -> Option<Error> {
        match self.source() {
            Source::Never => None,
            Source::Cancel(n) => n.cancel_ctx().err(),
            Source::Custom(_, c) => c.imp().err(),
        }
    }

    /// When the context will be cancelled by its deadline (its own or an
    /// ancestor's), if it has one. Go: `Deadline`.
    pub fn deadline(&self) -> Option<Instant> {
        let mut c = self;
        loop {
            let Repr::Node(n) = &c.repr else { return None };
            match &**n {
                Node::Cancel(cc) => match cc.deadline() {
                    Some(d) => return Some(d),
                    None => c = cc.parent(),
                },
                Node::Value(v) => c = v.parent(),
                Node::WithoutCancel(_) => return None,
                Node::Custom(cc) => return cc.imp().deadline(),
            }
        }
    }

    /// The value bound to `key` by the nearest [`with_value`] layer that
    /// has that key, if it is a `V`. Go: `Value` plus a type assertion.
    ///
    /// ```
    /// use gort_sync::context;
    ///
    /// #[derive(PartialEq)]
    /// struct RequestId; // a private key type cannot collide with others'
    ///
    /// let ctx = context::with_value(&context::background(), RequestId, 42u64);
    /// let (ctx, _cancel) = context::with_cancel(&ctx);
    /// assert_eq!(ctx.value::<u64>(&RequestId), Some(&42));
    /// assert_eq!(ctx.value::<String>(&RequestId), None); // wrong type
    /// ```
    pub fn value<V: Any>(&self, key: &(impl Any + PartialEq)) -> Option<&V> {
        self.value_any(key)?.downcast_ref::<V>()
    }

    /// The value bound to `key`, untyped (Go's `Value`).
    pub fn value_any(&self, key: &(impl Any + PartialEq)) -> Option<&(dyn Any + Send + Sync)> {
        self.value_for(&ValueKey(KeyRepr::User(key)))
    }

    /// The lookup behind [`value`](Self::value), for [`CustomContext`]
    /// implementations that delegate `value` to a context they wrap (they
    /// must, for the wrapped context's cancellation to be found, as Go's
    /// embedding does).
    pub fn value_for(&self, key: &ValueKey<'_>) -> Option<&(dyn Any + Send + Sync)> {
        let mut c = self;
        loop {
            let Repr::Node(n) = &c.repr else { return None };
            match &**n {
                Node::Value(v) => {
                    if let Some(found) = v.lookup(key) {
                        return found;
                    }
                    c = v.parent();
                }
                Node::Cancel(cc) => {
                    if key.is_cancel_ctx() {
                        return Some(n as &(dyn Any + Send + Sync));
                    }
                    c = cc.parent();
                }
                Node::WithoutCancel(inner) => {
                    if key.is_cancel_ctx() {
                        return None;
                    }
                    c = inner;
                }
                Node::Custom(cc) => return cc.imp().value(key),
            }
        }
    }

    /// The cancellable context whose cause this context reports (Go:
    /// `c.Value(&cancelCtxKey)`).
    pub(crate) fn cause_source(&self) -> Option<&Arc<Node>> {
        self.value_for(&ValueKey(KeyRepr::CancelCtx))?.downcast_ref::<Arc<Node>>()
    }

    /// Whether both are the same context.
    pub fn ptr_eq(&self, other: &Context) -> bool {
        match (&self.repr, &other.repr) {
            (Repr::Background, Repr::Background) | (Repr::Todo, Repr::Todo) => true,
            (Repr::Node(a), Repr::Node(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// Writes this context's own layer of Go's `String()` form.
    fn fmt_layer(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Background => f.write_str("context.Background"),
            Repr::Todo => f.write_str("context.TODO"),
            Repr::Node(n) => match &**n {
                Node::Cancel(cc) => cc.fmt_layer(f),
                Node::Value(v) => v.fmt_layer(f),
                Node::WithoutCancel(_) => f.write_str(".WithoutCancel"),
                Node::Custom(cc) => f.write_str(&cc.imp().name()),
            },
        }
    }

    /// The layer under this one, for `Display`.
    fn fmt_parent(&self) -> Option<&Context> {
        match &self.repr {
            Repr::Node(n) => match &**n {
                Node::Cancel(cc) => Some(cc.parent()),
                Node::Value(v) => Some(v.parent()),
                Node::WithoutCancel(p) => Some(p),
                Node::Custom(_) => None,
            },
            _ => None,
        }
    }
}

impl fmt::Display for Context {
    /// Go's `String()`: the chain from the root, e.g.
    /// `context.Background.WithValue(key, v).WithCancel`. Values print as
    /// themselves if they are strings, else as their type's name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Iterative: a chain may be deeper than the stack allows recursion.
        let mut chain = vec![self];
        while let Some(p) = chain.last().and_then(|c| c.fmt_parent()) {
            chain.push(p);
        }
        for c in chain.iter().rev() {
            c.fmt_layer(f)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Context({self}")?;
        if let Some(e) = self.err() {
            write!(f, ", err: {e}")?;
        }
        f.write_str(")")
    }
}

impl Default for Context {
    /// [`background`].
    fn default() -> Context {
        background()
    }
}

/// The cause of `ctx`'s cancellation: the cause given to the cancel
/// function (or deadline) that ended it or an ancestor, else its
/// [`Error`]; `None` while it is not done. Go: `context.Cause`.
pub fn cause(ctx: &Context) -> Option<Cause> {
    let err = ctx.err()?;
    if let Some(n) = ctx.cause_source()
        && let Some(c) = n.cancel_ctx().cause()
    {
        return Some(c);
    }
    Some(Cause::of(err))
}
