//! The KV service: get, put, delete, compact, transactions; and status.
//!
//! Go: client/v3/kv.go (`KV`, `Get`, `Put`, `Delete`, `Compact`, `Txn`),
//! client/v3/txn.go (`If`/`Then`/`Else`/`Commit`), client/v3/compare.go
//! (`Compare`, `Value`, `Version`, `CreateRevision`, `ModRevision`,
//! `LeaseValue`), client/v3/maintenance.go (`Status`).
//!
//! Every method has a `_ctx` form taking a context whose deadline and
//! cancellation end the call ([`crate::client`] explains how). Go's
//! `If`/`Then`/`Else` are keywords in Rust: a [`Txn`] uses `when`,
//! `and_then` and `or_else`. Reads, status and compaction are retried on
//! another endpoint when a connection breaks; puts, deletes and
//! transactions are not (they may have been applied).

use std::marker::PhantomData;

use gort_sync::context::{Context, background};
use serde_json::{Value, json};

use crate::client::Client;
use crate::error::Result;
use crate::options::Options;
use crate::types::wire::b64;
use crate::types::{CompactResponse, DeleteResponse, GetResponse, PutResponse, StatusResponse, TxnResponse};

impl Client {
    /// The value of `key`. Go: `Get(ctx, key)`.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<GetResponse> {
        self.get_ctx(&background(), key, Options::new())
    }

    /// The keys under `prefix`. Go: `Get(ctx, prefix, WithPrefix())`.
    pub fn get_prefix(&self, prefix: impl AsRef<[u8]>) -> Result<GetResponse> {
        self.get_ctx(&background(), prefix, Options::new().with_prefix())
    }

    /// A get with options (range, limit, sort, revision, keys_only,
    /// count_only...). Go: `Get(ctx, key, opts...)`.
    pub fn get_with(&self, key: impl AsRef<[u8]>, opts: Options) -> Result<GetResponse> {
        self.get_ctx(&background(), key, opts)
    }

    /// [`get_with`](Self::get_with) under a context.
    pub fn get_ctx(&self, ctx: &Context, key: impl AsRef<[u8]>, opts: Options) -> Result<GetResponse> {
        self.call(ctx, "/v3/kv/range", &opts.range_request(key.as_ref()), true)
    }

    /// Sets `key` to `value`. Go: `Put(ctx, key, val)`.
    pub fn put(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<PutResponse> {
        self.put_ctx(&background(), key, value, Options::new())
    }

    /// A put with options (lease, prev_kv, ignore_value, ignore_lease).
    pub fn put_with(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        opts: Options,
    ) -> Result<PutResponse> {
        self.put_ctx(&background(), key, value, opts)
    }

    /// [`put_with`](Self::put_with) under a context.
    pub fn put_ctx(
        &self,
        ctx: &Context,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        opts: Options,
    ) -> Result<PutResponse> {
        let body = opts.put_request(key.as_ref(), value.as_ref());
        let r = self.call(ctx, "/v3/kv/put", &body, false);
        r.map_err(|e| e.for_lease(opts.lease))
    }

    /// Deletes `key`. Go: `Delete(ctx, key)`.
    pub fn delete(&self, key: impl AsRef<[u8]>) -> Result<DeleteResponse> {
        self.delete_ctx(&background(), key, Options::new())
    }

    /// A delete with options (prefix, range, from_key, prev_kv).
    pub fn delete_with(&self, key: impl AsRef<[u8]>, opts: Options) -> Result<DeleteResponse> {
        self.delete_ctx(&background(), key, opts)
    }

    /// [`delete_with`](Self::delete_with) under a context.
    pub fn delete_ctx(&self, ctx: &Context, key: impl AsRef<[u8]>, opts: Options) -> Result<DeleteResponse> {
        self.call(ctx, "/v3/kv/deleterange", &opts.delete_request(key.as_ref()), false)
    }

    /// Discards the history before `rev`. Go: `Compact(ctx, rev)`.
    pub fn compact(&self, rev: i64) -> Result<CompactResponse> {
        self.compact_ctx(&background(), rev)
    }

    /// [`compact`](Self::compact) under a context.
    pub fn compact_ctx(&self, ctx: &Context, rev: i64) -> Result<CompactResponse> {
        self.call(ctx, "/v3/kv/compaction", &json!({ "revision": rev }), true)
    }

    /// A transaction: `client.txn().when([..]).and_then([..]).or_else([..]).commit()`.
    /// Go: `Txn(ctx).If(...).Then(...).Else(...).Commit()`.
    pub fn txn(&self) -> Txn {
        Txn { client: self.clone(), cmps: Vec::new(), then: Vec::new(), els: Vec::new() }
    }

    /// The status of the member at `endpoint` (one of the client's
    /// endpoints, or any client URL). Go: `Status(ctx, endpoint)`.
    pub fn status(&self, endpoint: &str) -> Result<StatusResponse> {
        self.status_ctx(&background(), endpoint)
    }

    /// [`status`](Self::status) under a context.
    pub fn status_ctx(&self, ctx: &Context, endpoint: &str) -> Result<StatusResponse> {
        let one =
            Client::new(crate::client::Config { endpoints: vec![endpoint.to_string()], ..self.inner_cfg() })?;
        one.call(ctx, "/v3/maintenance/status", &json!({}), true)
    }
}

/// The result a comparison tests for. Go: the `"="`, `"!="`, `"<"`, `">"`
/// of `Compare`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CmpResult {
    Equal,
    NotEqual,
    Less,
    Greater,
}

/// A condition of a transaction. Go: `clientv3.Cmp`.
///
/// ```
/// use gort_etcd::Compare;
/// let absent = Compare::create_revision("lock/a").eq(0);
/// let unchanged = Compare::mod_revision("acct/1").lt(42);
/// let holds = Compare::value("flag").eq("on");
/// # drop((absent, unchanged, holds));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Compare {
    key: Vec<u8>,
    range_end: Option<Vec<u8>>,
    target: &'static str,
    field: &'static str,
    result: CmpResult,
    value: Value,
}

/// A comparison's left side, waiting for its operator ([`eq`](CompareTarget::eq),
/// [`ne`](CompareTarget::ne), [`lt`](CompareTarget::lt), [`gt`](CompareTarget::gt)).
#[derive(Debug, Clone)]
pub struct CompareTarget<T> {
    key: Vec<u8>,
    range_end: Option<Vec<u8>>,
    target: &'static str,
    field: &'static str,
    _t: PhantomData<T>,
}

/// Marker: a comparison of bytes.
#[derive(Debug, Clone, Copy)]
pub struct Bytes;

/// Marker: a comparison of numbers.
#[derive(Debug, Clone, Copy)]
pub struct Number;

impl Compare {
    fn target<T>(key: impl AsRef<[u8]>, target: &'static str, field: &'static str) -> CompareTarget<T> {
        CompareTarget { key: key.as_ref().to_vec(), range_end: None, target, field, _t: PhantomData }
    }

    /// The key's value. Go: `Value(key)`.
    pub fn value(key: impl AsRef<[u8]>) -> CompareTarget<Bytes> {
        Compare::target(key, "VALUE", "value")
    }

    /// The key's version (0: absent). Go: `Version(key)`.
    pub fn version(key: impl AsRef<[u8]>) -> CompareTarget<Number> {
        Compare::target(key, "VERSION", "version")
    }

    /// The key's create revision (0: absent). Go: `CreateRevision(key)`.
    pub fn create_revision(key: impl AsRef<[u8]>) -> CompareTarget<Number> {
        Compare::target(key, "CREATE", "create_revision")
    }

    /// The key's mod revision (0: absent). Go: `ModRevision(key)`.
    pub fn mod_revision(key: impl AsRef<[u8]>) -> CompareTarget<Number> {
        Compare::target(key, "MOD", "mod_revision")
    }

    /// The key's lease (0: none). Go: `LeaseValue(key)`.
    pub fn lease(key: impl AsRef<[u8]>) -> CompareTarget<Number> {
        Compare::target(key, "LEASE", "lease")
    }

    pub(crate) fn to_json(&self) -> Value {
        let mut m = serde_json::Map::new();
        let r = match self.result {
            CmpResult::Equal => "EQUAL",
            CmpResult::NotEqual => "NOT_EQUAL",
            CmpResult::Less => "LESS",
            CmpResult::Greater => "GREATER",
        };
        m.insert("result".into(), r.into());
        m.insert("target".into(), self.target.into());
        m.insert("key".into(), b64(&self.key).into());
        if let Some(e) = &self.range_end {
            m.insert("range_end".into(), b64(e).into());
        }
        m.insert(self.field.into(), self.value.clone());
        Value::Object(m)
    }
}

impl<T> CompareTarget<T> {
    /// Compares every key under the key as a prefix. Go: `WithPrefix` on a `Cmp`.
    pub fn with_prefix(mut self) -> Self {
        self.range_end = Some(crate::options::prefix_range_end(&self.key));
        self
    }

    fn make(self, result: CmpResult, value: Value) -> Compare {
        Compare {
            key: self.key,
            range_end: self.range_end,
            target: self.target,
            field: self.field,
            result,
            value,
        }
    }
}

macro_rules! operators {
    ($marker:ty, $arg:ty, $v:ident => $json:expr) => {
        impl CompareTarget<$marker> {
            /// `=`
            pub fn eq(self, $v: $arg) -> Compare {
                self.make(CmpResult::Equal, $json)
            }
            /// `!=`
            pub fn ne(self, $v: $arg) -> Compare {
                self.make(CmpResult::NotEqual, $json)
            }
            /// `<`
            pub fn lt(self, $v: $arg) -> Compare {
                self.make(CmpResult::Less, $json)
            }
            /// `>`
            pub fn gt(self, $v: $arg) -> Compare {
                self.make(CmpResult::Greater, $json)
            }
        }
    };
}
operators!(Number, i64, v => Value::from(v));
operators!(Bytes, impl AsRef<[u8]>, v => Value::from(b64(v.as_ref())));

/// One operation of a transaction. Go: `clientv3.Op` (`OpGet`, `OpPut`,
/// `OpDelete`, `OpTxn`).
#[derive(Debug, Clone)]
pub enum Op {
    /// A get with options.
    Get(Vec<u8>, Options),
    /// A put with options.
    Put(Vec<u8>, Vec<u8>, Options),
    /// A delete with options.
    Delete(Vec<u8>, Options),
    /// A nested transaction: conditions, then-ops, else-ops.
    Txn(Vec<Compare>, Vec<Op>, Vec<Op>),
}

impl Op {
    /// Go: `OpGet(key, opts...)`.
    pub fn get(key: impl AsRef<[u8]>, opts: Options) -> Op {
        Op::Get(key.as_ref().to_vec(), opts)
    }

    /// Go: `OpPut(key, val, opts...)`.
    pub fn put(key: impl AsRef<[u8]>, value: impl AsRef<[u8]>, opts: Options) -> Op {
        Op::Put(key.as_ref().to_vec(), value.as_ref().to_vec(), opts)
    }

    /// Go: `OpDelete(key, opts...)`.
    pub fn delete(key: impl AsRef<[u8]>, opts: Options) -> Op {
        Op::Delete(key.as_ref().to_vec(), opts)
    }

    pub(crate) fn to_json(&self) -> Value {
        match self {
            Op::Get(k, o) => json!({ "request_range": o.range_request(k) }),
            Op::Put(k, v, o) => json!({ "request_put": o.put_request(k, v) }),
            Op::Delete(k, o) => json!({ "request_delete_range": o.delete_request(k) }),
            Op::Txn(c, t, e) => json!({ "request_txn": txn_body(c, t, e) }),
        }
    }

    fn mutates(&self) -> bool {
        match self {
            Op::Get(..) => false,
            Op::Put(..) | Op::Delete(..) => true,
            Op::Txn(_, t, e) => t.iter().chain(e).any(Op::mutates),
        }
    }
}

fn txn_body(cmps: &[Compare], then: &[Op], els: &[Op]) -> Value {
    json!({
        "compare": cmps.iter().map(Compare::to_json).collect::<Vec<_>>(),
        "success": then.iter().map(Op::to_json).collect::<Vec<_>>(),
        "failure": els.iter().map(Op::to_json).collect::<Vec<_>>(),
    })
}

/// A transaction being built: conditions, the operations if they all hold,
/// the operations otherwise. Go: `clientv3.Txn`.
///
/// ```no_run
/// use gort_etcd::{Client, Compare, Op, Options};
/// let cli = Client::connect(["127.0.0.1:2379"])?;
/// let created = cli
///     .txn()
///     .when([Compare::create_revision("job/1").eq(0)])
///     .and_then([Op::put("job/1", "mine", Options::new())])
///     .or_else([Op::get("job/1", Options::new())])
///     .commit()?
///     .succeeded;
/// # let _ = created;
/// # Ok::<(), gort_etcd::Error>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a transaction does nothing until commit"]
pub struct Txn {
    client: Client,
    cmps: Vec<Compare>,
    then: Vec<Op>,
    els: Vec<Op>,
}

impl Txn {
    /// Adds conditions (all must hold). Go: `If`.
    pub fn when(mut self, cmps: impl IntoIterator<Item = Compare>) -> Self {
        self.cmps.extend(cmps);
        self
    }

    /// Adds operations run if the conditions hold. Go: `Then`.
    pub fn and_then(mut self, ops: impl IntoIterator<Item = Op>) -> Self {
        self.then.extend(ops);
        self
    }

    /// Adds operations run otherwise. Go: `Else`.
    pub fn or_else(mut self, ops: impl IntoIterator<Item = Op>) -> Self {
        self.els.extend(ops);
        self
    }

    /// Sends the transaction. Go: `Commit`.
    pub fn commit(self) -> Result<TxnResponse> {
        self.commit_ctx(&background())
    }

    /// [`commit`](Self::commit) under a context.
    pub fn commit_ctx(self, ctx: &Context) -> Result<TxnResponse> {
        let read_only = !self.then.iter().chain(&self.els).any(Op::mutates);
        let lease = self
            .then
            .iter()
            .chain(&self.els)
            .find_map(|o| match o {
                Op::Put(_, _, o) if o.lease != 0 => Some(o.lease),
                _ => None,
            })
            .unwrap_or(0);
        let body = txn_body(&self.cmps, &self.then, &self.els);
        self.client.call(ctx, "/v3/kv/txn", &body, read_only).map_err(|e| e.for_lease(lease))
    }
}
