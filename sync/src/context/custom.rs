//! Contexts defined by users: [`CustomContext`], Go's `Context` interface
//! implemented by a type outside the package, and how gort's contexts
//! derived from one learn of its cancellation. Go: context/context.go
//! (`propagateCancel`'s last two branches, `afterFuncer`, `stopCtx`,
//! `goroutines`).
//!
//! Go's rules, in order, for a child of a custom parent:
//! 1. the parent can never be done (`done()` is `None`): nothing to do;
//! 2. it is done already: cancel the child now, with its error and cause;
//! 3. its value lookup leads to one of gort's cancellable contexts *whose
//!    done channel is the parent's* (a wrapper that delegates `done` and
//!    `value`, like Go's embedding): register with that context directly;
//! 4. it offers [`CustomContext::after_func`]: register the child's cancel
//!    there, and keep the returned stop function to unregister;
//! 5. else start one goroutine that waits for the parent's or the child's
//!    done channel, whichever closes first (Go counts them in
//!    `goroutines`; so does [`GOROUTINES`], for tests).

use std::any::{Any, type_name};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use gort_channels::Receiver;

use super::cancel::CancelCtx;
use super::{Context, Error, Node, ValueKey, cause};

/// A context implemented outside gort: Go's `Context` interface for user
/// types. Wrap one with [`Context::custom`] to use it as a parent.
///
/// The methods must follow Go's contract: `done` returns the same channel
/// every time (or `None` if the context can never be done); `err` is `None`
/// until `done` is closed and then stays the same; `value` answers keys
/// the type owns and delegates the rest to the context it wraps, if any,
/// with [`Context::value_for`].
///
/// ```
/// use std::any::Any;
/// use std::time::Instant;
/// use gort_channels::Receiver;
/// use gort_sync::context::{self, Context, CustomContext, Error, ValueKey};
///
/// /// Wraps a context and answers one extra key.
/// struct Tenant { inner: Context, name: String }
///
/// #[derive(PartialEq)]
/// struct TenantKey;
///
/// impl CustomContext for Tenant {
///     fn deadline(&self) -> Option<Instant> { self.inner.deadline() }
///     fn done(&self) -> Option<Receiver<()>> { Some(self.inner.done().clone()) }
///     fn err(&self) -> Option<Error> { self.inner.err() }
///     fn value(&self, key: &ValueKey<'_>) -> Option<&(dyn Any + Send + Sync)> {
///         if key.downcast_ref::<TenantKey>().is_some() {
///             return Some(&self.name);
///         }
///         self.inner.value_for(key)
///     }
/// }
///
/// let (root, cancel) = context::with_cancel(&context::background());
/// let tenant = Context::custom(Tenant { inner: root.clone(), name: "acme".into() });
/// let (child, _cancel_child) = context::with_cancel(&tenant);
/// assert_eq!(child.value::<String>(&TenantKey).map(|s| s.as_str()), Some("acme"));
/// cancel.cancel(); // reaches the child through the wrapper, without a goroutine
/// assert_eq!(child.err(), Some(context::Canceled));
/// ```
pub trait CustomContext: Send + Sync + 'static {
    /// Go: `Deadline`.
    fn deadline(&self) -> Option<Instant>;

    /// Go: `Done`; `None` is Go's nil channel (never done).
    fn done(&self) -> Option<Receiver<()>>;

    /// Go: `Err`.
    fn err(&self) -> Option<Error>;

    /// Go: `Value`. Delegate keys you do not own to the wrapped context's
    /// [`Context::value_for`] (that is also how gort finds a wrapped
    /// cancellable context and its cause).
    fn value(&self, key: &ValueKey<'_>) -> Option<&(dyn Any + Send + Sync)>;

    /// Go's optional `AfterFunc(func()) func() bool` method: arrange for
    /// `f` to be called once this context is done, and return a function
    /// that unregisters it (reporting whether it did). Return `None`
    /// (dropping `f`) if the type does not support it; gort then watches
    /// the context with a goroutine.
    fn after_func(&self, f: Box<dyn FnOnce() + Send>) -> Option<Box<dyn FnOnce() -> bool + Send>> {
        drop(f);
        None
    }

    /// The name shown by `Display` (Go: `String()`, else the type name).
    fn name(&self) -> String {
        type_name::<Self>().to_string()
    }
}

/// A custom context inside a [`Context`], with its done channel asked once.
pub(crate) struct CustomCtx {
    imp: Box<dyn CustomContext>,
    done: OnceLock<Option<Receiver<()>>>,
}

impl CustomCtx {
    pub(crate) fn imp(&self) -> &dyn CustomContext {
        &*self.imp
    }

    pub(crate) fn done(&self) -> Option<&Receiver<()>> {
        self.done.get_or_init(|| self.imp.done()).as_ref()
    }
}

impl Context {
    /// Wraps a user-defined context, so that gort's contexts can derive
    /// from it (see [`CustomContext`]).
    pub fn custom(imp: impl CustomContext) -> Context {
        Context::from_node(Arc::new(Node::Custom(CustomCtx { imp: Box::new(imp), done: OnceLock::new() })))
    }
}

/// Goroutines started to watch custom parents (Go: `goroutines`).
pub(crate) static GOROUTINES: AtomicUsize = AtomicUsize::new(0);

/// Cancels `child` because `parent` is done, with the parent's error and
/// cause.
fn cancel_from(parent: &Context, child: &Arc<Node>) {
    let err = parent.err().unwrap_or(Error::Canceled);
    CancelCtx::cancel(child, false, err, cause(parent))
}

/// Registers the new child `child` of the custom context `parent` (whose
/// inner part is `pc`) by the module's rules.
pub(crate) fn propagate(parent: &Context, pc: &CustomCtx, child: &Arc<Node>) {
    let Some(done) = pc.done() else { return };
    if done.is_closed() {
        cancel_from(parent, child);
        return;
    }
    if let Some(p) = parent.cause_source()
        && p.cancel_ctx().done_if_made().is_some_and(|d| d == done)
    {
        CancelCtx::register(p, child);
        return;
    }
    let (par, ch) = (parent.clone(), child.clone());
    if let Some(stop) = pc.imp().after_func(Box::new(move || cancel_from(&par, &ch))) {
        child.cancel_ctx().set_link_stop(stop);
        return;
    }
    GOROUTINES.fetch_add(1, Ordering::Relaxed);
    let (par, ch) = (parent.clone(), child.clone());
    gort_runtime::spawn(move || {
        gort_channels::select! {
            recv(par.done()) => cancel_from(&par, &ch),
            recv(ch.cancel_ctx().done()) => {}
        }
    });
}
