//! [`Options`]: Go's `clientv3.OpOption`s (`WithPrefix`, `WithRev`,
//! `WithLease`, ...) as one builder, and the request bodies they make.
//!
//! Go: client/v3/op.go (`Op`, `OpOption`, `GetPrefixRangeEnd`,
//! `WithFirstCreate` and the other "top" helpers).
//!
//! A key with a range end covers `[key, range_end)`: `with_prefix` sets the
//! end to the key with its last byte (below 0xff) incremented, and
//! `with_from_key` to `"\0"` (every key at or after it). The same builder
//! serves get, put, delete and watch; each request takes the options that
//! apply to it, as in Go.

use serde_json::{Map, Value, json};

use crate::types::wire::b64;

/// What a range is sorted by. Go: `clientv3.SortTarget`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortTarget {
    /// By key.
    Key,
    /// By version.
    Version,
    /// By creation revision.
    Create,
    /// By modification revision.
    Mod,
    /// By value.
    Value,
}

/// Sort direction. Go: `clientv3.SortOrder`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortOrder {
    /// Unsorted (key order).
    None,
    /// Ascending.
    Ascend,
    /// Descending.
    Descend,
}

/// Options of a get, put, delete or watch: Go's `OpOption`s.
///
/// ```
/// use gort_etcd::{Options, SortOrder, SortTarget};
/// let newest = Options::new().with_prefix().with_sort(SortTarget::Mod, SortOrder::Descend).with_limit(1);
/// # drop(newest);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    pub(crate) range_end: Option<Vec<u8>>,
    pub(crate) prefix: bool,
    pub(crate) from_key: bool,
    pub(crate) limit: i64,
    pub(crate) rev: i64,
    pub(crate) sort: Option<(SortTarget, SortOrder)>,
    pub(crate) serializable: bool,
    pub(crate) keys_only: bool,
    pub(crate) count_only: bool,
    pub(crate) min_mod_rev: i64,
    pub(crate) max_mod_rev: i64,
    pub(crate) min_create_rev: i64,
    pub(crate) max_create_rev: i64,
    pub(crate) lease: i64,
    pub(crate) prev_kv: bool,
    pub(crate) ignore_value: bool,
    pub(crate) ignore_lease: bool,
    pub(crate) filter_put: bool,
    pub(crate) filter_delete: bool,
    pub(crate) progress_notify: bool,
}

impl Options {
    /// No options: a single key, at the latest revision.
    pub fn new() -> Options {
        Options::default()
    }

    /// Every key starting with the key. Go: `WithPrefix`.
    pub fn with_prefix(mut self) -> Self {
        self.prefix = true;
        self
    }

    /// Every key at or after the key. Go: `WithFromKey`.
    pub fn with_from_key(mut self) -> Self {
        self.from_key = true;
        self
    }

    /// The keys in `[key, end)`. Go: `WithRange`.
    pub fn with_range(mut self, end: impl AsRef<[u8]>) -> Self {
        self.range_end = Some(end.as_ref().to_vec());
        self
    }

    /// At most `n` keys. Go: `WithLimit`.
    pub fn with_limit(mut self, n: i64) -> Self {
        self.limit = n;
        self
    }

    /// Reads at revision `rev`; watches from it. Go: `WithRev`.
    pub fn with_rev(mut self, rev: i64) -> Self {
        self.rev = rev;
        self
    }

    /// Sorted results. Go: `WithSort`.
    pub fn with_sort(mut self, target: SortTarget, order: SortOrder) -> Self {
        self.sort = Some((target, order));
        self
    }

    /// A serializable read, answered by the member without consensus.
    /// Go: `WithSerializable`.
    pub fn with_serializable(mut self) -> Self {
        self.serializable = true;
        self
    }

    /// Keys without values. Go: `WithKeysOnly`.
    pub fn with_keys_only(mut self) -> Self {
        self.keys_only = true;
        self
    }

    /// Only the count. Go: `WithCountOnly`.
    pub fn with_count_only(mut self) -> Self {
        self.count_only = true;
        self
    }

    /// Keys modified at or after `rev`. Go: `WithMinModRev`.
    pub fn with_min_mod_rev(mut self, rev: i64) -> Self {
        self.min_mod_rev = rev;
        self
    }

    /// Keys modified at or before `rev`. Go: `WithMaxModRev`.
    pub fn with_max_mod_rev(mut self, rev: i64) -> Self {
        self.max_mod_rev = rev;
        self
    }

    /// Keys created at or after `rev`. Go: `WithMinCreateRev`.
    pub fn with_min_create_rev(mut self, rev: i64) -> Self {
        self.min_create_rev = rev;
        self
    }

    /// Keys created at or before `rev`. Go: `WithMaxCreateRev`.
    pub fn with_max_create_rev(mut self, rev: i64) -> Self {
        self.max_create_rev = rev;
        self
    }

    /// A put attaches the key to lease `id`. Go: `WithLease`.
    pub fn with_lease(mut self, id: i64) -> Self {
        self.lease = id;
        self
    }

    /// Puts and deletes return the previous key-value; watches report it.
    /// Go: `WithPrevKV`.
    pub fn with_prev_kv(mut self) -> Self {
        self.prev_kv = true;
        self
    }

    /// A put keeps the current value (updates the lease). Go: `WithIgnoreValue`.
    pub fn with_ignore_value(mut self) -> Self {
        self.ignore_value = true;
        self
    }

    /// A put keeps the current lease. Go: `WithIgnoreLease`.
    pub fn with_ignore_lease(mut self) -> Self {
        self.ignore_lease = true;
        self
    }

    /// A watch leaves out puts. Go: `WithFilterPut`.
    pub fn with_filter_put(mut self) -> Self {
        self.filter_put = true;
        self
    }

    /// A watch leaves out deletes. Go: `WithFilterDelete`.
    pub fn with_filter_delete(mut self) -> Self {
        self.filter_delete = true;
        self
    }

    /// A watch gets empty progress responses while idle. Go: `WithProgressNotify`.
    pub fn with_progress_notify(mut self) -> Self {
        self.progress_notify = true;
        self
    }

    /// The prefix's key with the lowest create revision. Go: `WithFirstCreate`.
    pub fn first_create() -> Options {
        Options::top(SortTarget::Create, SortOrder::Ascend)
    }

    /// The prefix's key with the highest create revision. Go: `WithLastCreate`.
    pub fn last_create() -> Options {
        Options::top(SortTarget::Create, SortOrder::Descend)
    }

    /// The prefix's lowest key. Go: `WithFirstKey`.
    pub fn first_key() -> Options {
        Options::top(SortTarget::Key, SortOrder::Ascend)
    }

    /// The prefix's highest key. Go: `WithLastKey`.
    pub fn last_key() -> Options {
        Options::top(SortTarget::Key, SortOrder::Descend)
    }

    /// The prefix's key with the lowest mod revision. Go: `WithFirstRev`.
    pub fn first_rev() -> Options {
        Options::top(SortTarget::Mod, SortOrder::Ascend)
    }

    /// The prefix's key with the highest mod revision. Go: `WithLastRev`.
    pub fn last_rev() -> Options {
        Options::top(SortTarget::Mod, SortOrder::Descend)
    }

    fn top(t: SortTarget, o: SortOrder) -> Options {
        Options::new().with_prefix().with_sort(t, o).with_limit(1)
    }

    /// The range end these options give `key`, if any.
    pub(crate) fn end_for(&self, key: &[u8]) -> Option<Vec<u8>> {
        if let Some(e) = &self.range_end {
            Some(e.clone())
        } else if self.from_key {
            Some(vec![0])
        } else if self.prefix {
            Some(prefix_range_end(key))
        } else {
            None
        }
    }

    /// The body of `/v3/kv/range`.
    pub(crate) fn range_request(&self, key: &[u8]) -> Value {
        let mut m = Map::new();
        m.insert("key".into(), b64(key).into());
        self.put_end(&mut m, key);
        put_i64(&mut m, "limit", self.limit);
        put_i64(&mut m, "revision", self.rev);
        if let Some((t, o)) = self.sort {
            let t = match t {
                SortTarget::Key => "KEY",
                SortTarget::Version => "VERSION",
                SortTarget::Create => "CREATE",
                SortTarget::Mod => "MOD",
                SortTarget::Value => "VALUE",
            };
            let o = match o {
                SortOrder::None => "NONE",
                SortOrder::Ascend => "ASCEND",
                SortOrder::Descend => "DESCEND",
            };
            m.insert("sort_target".into(), t.into());
            m.insert("sort_order".into(), o.into());
        }
        put_bool(&mut m, "serializable", self.serializable);
        put_bool(&mut m, "keys_only", self.keys_only);
        put_bool(&mut m, "count_only", self.count_only);
        put_i64(&mut m, "min_mod_revision", self.min_mod_rev);
        put_i64(&mut m, "max_mod_revision", self.max_mod_rev);
        put_i64(&mut m, "min_create_revision", self.min_create_rev);
        put_i64(&mut m, "max_create_revision", self.max_create_rev);
        Value::Object(m)
    }

    /// The body of `/v3/kv/put`.
    pub(crate) fn put_request(&self, key: &[u8], value: &[u8]) -> Value {
        let mut m = Map::new();
        m.insert("key".into(), b64(key).into());
        m.insert("value".into(), b64(value).into());
        put_i64(&mut m, "lease", self.lease);
        put_bool(&mut m, "prev_kv", self.prev_kv);
        put_bool(&mut m, "ignore_value", self.ignore_value);
        put_bool(&mut m, "ignore_lease", self.ignore_lease);
        Value::Object(m)
    }

    /// The body of `/v3/kv/deleterange`.
    pub(crate) fn delete_request(&self, key: &[u8]) -> Value {
        let mut m = Map::new();
        m.insert("key".into(), b64(key).into());
        self.put_end(&mut m, key);
        put_bool(&mut m, "prev_kv", self.prev_kv);
        Value::Object(m)
    }

    /// The `create_request` of `/v3/watch`, starting at `start_rev`.
    pub(crate) fn watch_request(&self, key: &[u8], start_rev: i64) -> Value {
        let mut m = Map::new();
        m.insert("key".into(), b64(key).into());
        self.put_end(&mut m, key);
        put_i64(&mut m, "start_revision", start_rev);
        put_bool(&mut m, "prev_kv", self.prev_kv);
        put_bool(&mut m, "progress_notify", self.progress_notify);
        let mut filters = Vec::new();
        if self.filter_put {
            filters.push("NOPUT");
        }
        if self.filter_delete {
            filters.push("NODELETE");
        }
        if !filters.is_empty() {
            m.insert("filters".into(), json!(filters));
        }
        json!({ "create_request": Value::Object(m) })
    }

    fn put_end(&self, m: &mut Map<String, Value>, key: &[u8]) {
        if let Some(end) = self.end_for(key) {
            m.insert("range_end".into(), b64(&end).into());
        }
    }
}

fn put_i64(m: &mut Map<String, Value>, k: &str, v: i64) {
    if v != 0 {
        m.insert(k.into(), v.into());
    }
}

fn put_bool(m: &mut Map<String, Value>, k: &str, v: bool) {
    if v {
        m.insert(k.into(), true.into());
    }
}

/// The end of the range of keys starting with `prefix`: the prefix with
/// its last byte below 0xff incremented (trailing 0xff bytes dropped), or
/// `"\0"` (all keys) when there is no such byte. Go: `GetPrefixRangeEnd`.
pub fn prefix_range_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(&last) = end.last() {
        if last < 0xff {
            *end.last_mut().expect("non-empty") = last + 1;
            return end;
        }
        end.pop();
    }
    vec![0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_range_end(b"a/"), b"a0");
        assert_eq!(prefix_range_end(b"a\xff"), b"b");
        assert_eq!(prefix_range_end(b"\xff\xff"), b"\0");
        assert_eq!(prefix_range_end(b""), b"\0");
    }

    #[test]
    fn range_bodies_leave_zero_fields_out() {
        let v = Options::first_create().range_request(b"k/");
        assert_eq!(
            v,
            json!({"key": "ay8=", "range_end": "azA=", "limit": 1, "sort_target": "CREATE", "sort_order": "ASCEND"})
        );
        assert_eq!(Options::new().range_request(b"k"), json!({"key": "aw=="}));
    }
}
