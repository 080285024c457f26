//! `atomic::Value<T>`: an atomically replaceable shared value, for
//! copy-on-write configuration.
//!
//! Go: sync/atomic/value.go.
//!
//! A writer builds a new immutable snapshot and stores it; readers load the
//! current snapshot without locks and keep using it as long as they like,
//! while later stores install newer ones. Several versions may be alive at
//! once; each is freed when its last reader drops it. Snapshots are shared
//! as `Arc<T>`.
//!
//! Built on [`arc_swap`], whose loads are lock-free and do not contend
//! with each other (a load is a few atomic operations on per-thread debt
//! slots, not a shared reference count bump on a contended line).
//!
//! Differences from Go, by construction: Go panics on `Store(nil)` and on
//! storing a value of a different dynamic type than the first; a typed
//! `Value<T>` has neither problem. Go's `Load` returns nil before the first
//! `Store`; here that is `None` (or use [`Value::from`] to start with a
//! value). `compare_and_swap` compares values with `==`, as Go's does.

use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwapOption;

/// An atomically loaded and stored `Arc<T>`, Go's `atomic.Value`.
///
/// ```
/// use gort_sync::atomic::Value;
///
/// #[derive(Debug, PartialEq)]
/// struct Config { addr: String, workers: usize }
///
/// let cfg = Value::new();
/// assert!(cfg.load().is_none());
/// cfg.store(Config { addr: "10.0.0.1".into(), workers: 4 });
/// let snapshot = cfg.load().unwrap(); // keeps this version alive
/// cfg.store(Config { addr: "10.0.0.2".into(), workers: 8 });
/// assert_eq!(snapshot.workers, 4);
/// assert_eq!(cfg.load().unwrap().workers, 8);
/// ```
pub struct Value<T> {
    v: ArcSwapOption<T>,
}

impl<T> Value<T> {
    /// An empty value: [`Value::load`] returns `None` until a store.
    pub const fn new() -> Value<T> {
        Value { v: ArcSwapOption::const_empty() }
    }

    /// The current snapshot, or `None` before the first store. Go: `Load`.
    #[inline]
    pub fn load(&self) -> Option<Arc<T>> {
        self.v.load_full()
    }

    /// Replaces the value. Go: `Store`.
    pub fn store(&self, value: impl Into<Arc<T>>) {
        self.v.store(Some(value.into()));
    }

    /// Replaces the value and returns the previous one. Go: `Swap`.
    pub fn swap(&self, value: impl Into<Arc<T>>) -> Option<Arc<T>> {
        self.v.swap(Some(value.into()))
    }

    /// Stores `new` if the current value equals `old` (`==` on the values,
    /// as Go compares); returns whether it did. Never matches before the
    /// first store. Go: `CompareAndSwap`.
    pub fn compare_and_swap(&self, old: &T, new: impl Into<Arc<T>>) -> bool
    where
        T: PartialEq,
    {
        let new = Some(new.into());
        loop {
            let cur = self.v.load_full();
            match &cur {
                Some(c) if **c == *old => {}
                _ => return false,
            }
            // Swap only if the snapshot we compared is still current; if
            // another store slipped in, compare again.
            let prev = self.v.compare_and_swap(&cur, new.clone());
            let same = match (&*prev, &cur) {
                (Some(p), Some(c)) => Arc::ptr_eq(p, c),
                _ => false,
            };
            if same {
                return true;
            }
        }
    }
}

impl<T> Default for Value<T> {
    fn default() -> Self {
        Value::new()
    }
}

impl<T> From<T> for Value<T> {
    fn from(value: T) -> Self {
        Value { v: ArcSwapOption::from_pointee(value) }
    }
}

impl<T: fmt::Debug> fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Value").field(&self.load()).finish()
    }
}
