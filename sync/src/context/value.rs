//! Request-scoped values ([`with_value`]) and [`without_cancel`]. Go:
//! context/context.go (`valueCtx`, `WithValue`, `value`, `stringify`,
//! `withoutCancelCtx`, `WithoutCancel`).
//!
//! A value layer holds one key and one value, boxed together behind a
//! small trait that compares a probe key with its own: the probe must be
//! of the same type and equal (Go compares interface values, type and
//! value). Lookups walk the chain from the leaf up and stop at the first
//! layer whose key matches, as Go's iterative `value` does.

use std::any::{Any, type_name};
use std::fmt;
use std::sync::Arc;

use super::{Context, Node};

/// A key being looked up, as [`CustomContext::value`](super::CustomContext::value)
/// receives it. Opaque: pass it on to [`Context::value_for`] to delegate.
pub struct ValueKey<'a>(pub(crate) KeyRepr<'a>);

pub(crate) enum KeyRepr<'a> {
    /// A user's key.
    User(&'a dyn Any),
    /// The private key under which a cancellable context answers with
    /// itself (Go: `&cancelCtxKey`).
    CancelCtx,
}

impl ValueKey<'_> {
    pub(crate) fn is_cancel_ctx(&self) -> bool {
        matches!(self.0, KeyRepr::CancelCtx)
    }

    /// The key as `K`, if it is a user's key of type `K`: for custom
    /// contexts that answer some keys themselves.
    pub fn downcast_ref<K: Any>(&self) -> Option<&K> {
        match self.0 {
            KeyRepr::User(k) => k.downcast_ref::<K>(),
            KeyRepr::CancelCtx => None,
        }
    }
}

impl fmt::Debug for ValueKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            KeyRepr::User(_) => "ValueKey(user)",
            KeyRepr::CancelCtx => "ValueKey(cancel context)",
        })
    }
}

/// One key and its value, type-erased.
trait Entry: Send + Sync {
    /// Whether `key` is this entry's key (same type, equal).
    fn matches(&self, key: &dyn Any) -> bool;
    fn value(&self) -> &(dyn Any + Send + Sync);
    /// Go's `stringify` of the key and the value.
    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

struct KeyVal<K, V> {
    key: K,
    val: V,
}

impl<K, V> Entry for KeyVal<K, V>
where
    K: Any + PartialEq + Send + Sync,
    V: Any + Send + Sync,
{
    fn matches(&self, key: &dyn Any) -> bool {
        key.downcast_ref::<K>().is_some_and(|k| *k == self.key)
    }

    fn value(&self) -> &(dyn Any + Send + Sync) {
        &self.val
    }

    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        stringify::<K>(&self.key, f)?;
        f.write_str(", ")?;
        stringify::<V>(&self.val, f)
    }
}

/// Go's `stringify`: strings print as themselves, anything else as its
/// type's name (Rust cannot ask an unbounded type for `Display`).
fn stringify<T: Any>(v: &T, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let any = v as &dyn Any;
    if let Some(s) = any.downcast_ref::<String>() {
        f.write_str(s)
    } else if let Some(s) = any.downcast_ref::<&'static str>() {
        f.write_str(s)
    } else if any.downcast_ref::<()>().is_some() {
        f.write_str("<nil>")
    } else {
        f.write_str(type_name::<T>())
    }
}

/// A value layer. Go: `valueCtx`.
pub(crate) struct ValueCtx {
    parent: Context,
    entry: Box<dyn Entry>,
}

impl ValueCtx {
    pub(crate) fn parent(&self) -> &Context {
        &self.parent
    }

    pub(crate) fn parent_mut(&mut self) -> &mut Context {
        &mut self.parent
    }

    /// `Some(answer)` if this layer decides the lookup of `key` (its key
    /// matches), else `None` to go on with the parent.
    pub(crate) fn lookup(&self, key: &ValueKey<'_>) -> Option<Option<&(dyn Any + Send + Sync)>> {
        match key.0 {
            KeyRepr::User(k) if self.entry.matches(k) => Some(Some(self.entry.value())),
            _ => None,
        }
    }

    pub(crate) fn fmt_layer(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(".WithValue(")?;
        self.entry.describe(f)?;
        f.write_str(")")
    }
}

/// Returns a copy of `parent` in which `key` is bound to `val`. Go:
/// `context.WithValue`.
///
/// Use values for request-scoped data that crosses API boundaries (a
/// request id, credentials), not to pass optional parameters. The key's
/// type should be private to your module, so no other code can use or
/// shadow it; Go's panics for a nil or non-comparable key cannot happen
/// (the key is a value of a `PartialEq` type):
///
/// ```compile_fail
/// use gort_sync::context;
/// // A closure is not comparable: Go panics "key is not comparable",
/// // Rust does not compile.
/// let _ = context::with_value(&context::background(), || 1, "v");
/// ```
pub fn with_value<K, V>(parent: &Context, key: K, val: V) -> Context
where
    K: Any + PartialEq + Send + Sync,
    V: Any + Send + Sync,
{
    let entry: Box<dyn Entry> = Box::new(KeyVal { key, val });
    Context::from_node(Arc::new(Node::Value(ValueCtx { parent: parent.clone(), entry })))
}

/// Returns a copy of `parent` that is not cancelled when `parent` is: no
/// deadline, no error, a done channel that never closes, and `parent`'s
/// values. Its [`cause`](super::cause) is `None`. Go:
/// `context.WithoutCancel`.
///
/// ```
/// use gort_sync::context;
///
/// let (parent, cancel) = context::with_cancel(&context::background());
/// let detached = context::without_cancel(&parent);
/// cancel.cancel();
/// assert_eq!(parent.err(), Some(context::Canceled));
/// assert_eq!(detached.err(), None);
/// ```
pub fn without_cancel(parent: &Context) -> Context {
    Context::from_node(Arc::new(Node::WithoutCancel(parent.clone())))
}
