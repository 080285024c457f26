//! `Map<K, V>`: a concurrent map with sync.Map's API.
//!
//! Go: sync/map.go (since Go 1.24 a hash-trie, internal/sync/hashtriemap.go).
//!
//! Built on [`dashmap`], a widely used sharded concurrent hash map: each
//! shard is a hash table behind a reader-writer lock, so operations on keys
//! of different shards never contend, and reads of one shard share it.
//! What sync.Map's API needs maps onto it directly: `load_or_store` is an
//! entry lookup under the shard's write lock, `compare_and_swap` a
//! `get_mut` under that lock, `compare_and_delete` a `remove_if`.
//!
//! **Range.** dashmap's own iterator holds each shard's read lock while it
//! yields that shard's entries, so a callback that wrote to the map would
//! deadlock. Go's `Range` promises more: `f` may call any method on the
//! map, no key is visited twice, and concurrent operations are never
//! blocked. [`Map::range`] therefore first collects the keys (holding one
//! shard lock at a time, running no user code), then for each key loads its
//! current value and calls `f` with no lock held. Hence, as in Go: each key
//! is visited at most once; a key deleted before its turn is skipped; a key
//! stored during the call may or may not be visited; values are those of
//! some moment during the call. The price is one clone of every key.
//!
//! Values are returned by clone (`V: Clone`), as Go returns interface
//! values by copy: store an `Arc` for large values.
//!
//! Shard locks block the OS thread, never park a goroutine; they are held
//! only for O(1) work plus your `Hash`, `Eq` and `Clone` of keys and values,
//! which must not block on gort primitives.

use std::borrow::Borrow;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hash};

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;

/// A map safe for concurrent use by goroutines and threads, Go's
/// `sync.Map`, typed.
///
/// ```
/// use gort_sync::Map;
///
/// let m: Map<&str, u32> = Map::new();
/// m.store("a", 1);
/// assert_eq!(m.load_or_store("a", 2), (1, true));
/// assert!(m.compare_and_swap("a", &1, 3));
/// assert_eq!(m.load("a"), Some(3));
/// let mut n = 0;
/// m.range(|_, v| {
///     n += v;
///     true
/// });
/// assert_eq!(n, 3);
/// ```
pub struct Map<K, V, S = RandomState> {
    m: DashMap<K, V, S>,
}

impl<K: Eq + Hash, V> Map<K, V, RandomState> {
    /// An empty map.
    pub fn new() -> Self {
        Map { m: DashMap::new() }
    }
}

impl<K: Eq + Hash, V> Default for Map<K, V, RandomState> {
    fn default() -> Self {
        Map::new()
    }
}

impl<K, V, S> Map<K, V, S>
where
    K: Eq + Hash,
    S: BuildHasher + Clone,
{
    /// An empty map using `hasher`.
    pub fn with_hasher(hasher: S) -> Self {
        Map { m: DashMap::with_hasher(hasher) }
    }

    /// The value stored for `key`, if any. Go: `Load`.
    pub fn load<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        V: Clone,
    {
        self.m.get(key).map(|r| r.value().clone())
    }

    /// Sets the value for `key`. Go: `Store`.
    pub fn store(&self, key: K, value: V) {
        self.m.insert(key, value);
    }

    /// Returns the existing value for `key` and true if present; otherwise
    /// stores `value` and returns it and false. Go: `LoadOrStore`.
    pub fn load_or_store(&self, key: K, value: V) -> (V, bool)
    where
        V: Clone,
    {
        match self.m.entry(key) {
            Entry::Occupied(e) => (e.get().clone(), true),
            Entry::Vacant(e) => (e.insert(value).value().clone(), false),
        }
    }

    /// Deletes `key`, returning its previous value if it had one. Go:
    /// `LoadAndDelete`.
    pub fn load_and_delete<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.m.remove(key).map(|(_, v)| v)
    }

    /// Deletes `key`. Go: `Delete`.
    pub fn delete<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.m.remove(key);
    }

    /// Stores `value` for `key` and returns the previous value, if any.
    /// Go: `Swap`.
    pub fn swap(&self, key: K, value: V) -> Option<V> {
        self.m.insert(key, value)
    }

    /// Stores `new` for `key` if its current value equals `old`; returns
    /// whether it did. A missing key never matches. Go: `CompareAndSwap`.
    pub fn compare_and_swap<Q>(&self, key: &Q, old: &V, new: V) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        V: PartialEq,
    {
        match self.m.get_mut(key) {
            Some(mut r) if *r.value() == *old => {
                *r.value_mut() = new;
                true
            }
            _ => false,
        }
    }

    /// Deletes `key` if its current value equals `old`; returns whether it
    /// did. Go: `CompareAndDelete`.
    pub fn compare_and_delete<Q>(&self, key: &Q, old: &V) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        V: PartialEq,
    {
        self.m.remove_if(key, |_, v| *v == *old).is_some()
    }

    /// Calls `f` for each key and value present in the map, until `f`
    /// returns false. Not a snapshot; `f` may call any method on the map
    /// (see the module docs for exactly what is promised). Go: `Range`.
    pub fn range(&self, mut f: impl FnMut(&K, &V) -> bool)
    where
        K: Clone,
        V: Clone,
    {
        let keys: Vec<K> = self.m.iter().map(|e| e.key().clone()).collect();
        for k in keys {
            let Some(v) = self.load(&k) else { continue };
            if !f(&k, &v) {
                return;
            }
        }
    }

    /// Deletes every entry. Go: `Clear`.
    pub fn clear(&self) {
        self.m.clear();
    }
}

impl<K, V, S> fmt::Debug for Map<K, V, S>
where
    K: Eq + Hash + fmt::Debug,
    V: fmt::Debug,
    S: BuildHasher + Clone,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Map").field("len", &self.m.len()).finish_non_exhaustive()
    }
}
