//! The responses of etcd's v3 API as the JSON gateway sends them.
//!
//! Go: api/etcdserverpb/rpc.proto and api/mvccpb/kv.proto, in the
//! gateway's JSON mapping (jsonpb): keys and values are standard base64,
//! 64-bit integers are strings, fields equal to zero (or false, or empty)
//! are left out, so every field here defaults to zero. Field names follow
//! the proto (`create_revision`, `ID`, `TTL`); the status answer uses
//! camelCase (`dbSize`), accepted here under both spellings.

use std::borrow::Cow;

use base64::Engine;
use serde::Deserialize;
use serde::de::{self, Deserializer};

/// Deserializers for the gateway's encodings.
pub(crate) mod wire {
    use super::*;

    /// An int64: a JSON string of digits (jsonpb), or a number.
    pub(crate) fn i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum N<'a> {
            S(Cow<'a, str>),
            N(i64),
        }
        match N::deserialize(d)? {
            N::N(n) => Ok(n),
            N::S(s) => s.parse().map_err(|_| de::Error::custom(format!("not an integer: {s:?}"))),
        }
    }

    /// A uint64, encoded as [`i64`](prim@i64) is.
    pub(crate) fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum N<'a> {
            S(Cow<'a, str>),
            N(u64),
        }
        match N::deserialize(d)? {
            N::N(n) => Ok(n),
            N::S(s) => s.parse().map_err(|_| de::Error::custom(format!("not an integer: {s:?}"))),
        }
    }

    /// Bytes: a standard base64 string.
    pub(crate) fn bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = Cow::<str>::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s.as_bytes())
            .map_err(|e| de::Error::custom(format!("bad base64 {s:?}: {e}")))
    }

    /// A list of base64 strings.
    pub(crate) fn bytes_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        let v = Vec::<Cow<str>>::deserialize(d)?;
        v.iter()
            .map(|s| {
                base64::engine::general_purpose::STANDARD
                    .decode(s.as_bytes())
                    .map_err(|e| de::Error::custom(format!("bad base64 {s:?}: {e}")))
            })
            .collect()
    }

    /// Base64-encodes bytes for a request.
    pub(crate) fn b64(b: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(b)
    }
}

/// Every response's header. Go: `etcdserverpb.ResponseHeader`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ResponseHeader {
    /// The cluster's ID.
    #[serde(deserialize_with = "wire::u64")]
    pub cluster_id: u64,
    /// The ID of the member that answered.
    #[serde(deserialize_with = "wire::u64")]
    pub member_id: u64,
    /// The key-value store's revision when the request was applied.
    #[serde(deserialize_with = "wire::i64")]
    pub revision: i64,
    /// The raft term when the request was applied.
    #[serde(deserialize_with = "wire::u64")]
    pub raft_term: u64,
}

/// A key and its value with their revisions. Go: `mvccpb.KeyValue`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct KeyValue {
    /// The key.
    #[serde(deserialize_with = "wire::bytes")]
    pub key: Vec<u8>,
    /// The revision of the key's last creation.
    #[serde(deserialize_with = "wire::i64")]
    pub create_revision: i64,
    /// The revision of the key's last modification.
    #[serde(deserialize_with = "wire::i64")]
    pub mod_revision: i64,
    /// The number of modifications since creation (a deletion resets it to 0).
    #[serde(deserialize_with = "wire::i64")]
    pub version: i64,
    /// The value.
    #[serde(deserialize_with = "wire::bytes")]
    pub value: Vec<u8>,
    /// The lease attached to the key (0: none).
    #[serde(deserialize_with = "wire::i64")]
    pub lease: i64,
}

impl KeyValue {
    /// The key as text (invalid UTF-8 replaced).
    pub fn key_str(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.key)
    }

    /// The value as text (invalid UTF-8 replaced).
    pub fn value_str(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.value)
    }
}

/// The answer to a range (get). Go: `clientv3.GetResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct GetResponse {
    /// The header.
    pub header: ResponseHeader,
    /// The keys found (none with `count_only`).
    pub kvs: Vec<KeyValue>,
    /// Whether a limit left some keys out.
    pub more: bool,
    /// The number of keys in the range.
    #[serde(deserialize_with = "wire::i64")]
    pub count: i64,
}

/// The answer to a put. Go: `clientv3.PutResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct PutResponse {
    /// The header.
    pub header: ResponseHeader,
    /// The previous key-value, with `with_prev_kv`.
    pub prev_kv: Option<KeyValue>,
}

/// The answer to a delete. Go: `clientv3.DeleteResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct DeleteResponse {
    /// The header.
    pub header: ResponseHeader,
    /// How many keys were deleted.
    #[serde(deserialize_with = "wire::i64")]
    pub deleted: i64,
    /// The deleted key-values, with `with_prev_kv`.
    pub prev_kvs: Vec<KeyValue>,
}

/// One operation's answer inside a transaction's. Go:
/// `etcdserverpb.ResponseOp`; exactly one field is set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ResponseOp {
    /// A get's answer.
    pub response_range: Option<GetResponse>,
    /// A put's answer.
    pub response_put: Option<PutResponse>,
    /// A delete's answer.
    pub response_delete_range: Option<DeleteResponse>,
    /// A nested transaction's answer.
    pub response_txn: Option<TxnResponse>,
}

/// The answer to a transaction. Go: `clientv3.TxnResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct TxnResponse {
    /// The header.
    pub header: ResponseHeader,
    /// Whether the comparisons held (the `then` branch ran).
    pub succeeded: bool,
    /// The answers of the branch that ran, in order.
    pub responses: Vec<ResponseOp>,
}

/// The answer to a lease grant. Go: `clientv3.LeaseGrantResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct LeaseGrantResponse {
    /// The header.
    pub header: ResponseHeader,
    /// The lease ID.
    #[serde(rename = "ID", deserialize_with = "wire::i64")]
    pub id: i64,
    /// The TTL the server chose, in seconds.
    #[serde(rename = "TTL", deserialize_with = "wire::i64")]
    pub ttl: i64,
}

/// The answer to a lease revoke.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct LeaseRevokeResponse {
    /// The header.
    pub header: ResponseHeader,
}

/// The answer to one keep-alive. Go: `clientv3.LeaseKeepAliveResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct LeaseKeepAliveResponse {
    /// The header.
    pub header: ResponseHeader,
    /// The lease ID.
    #[serde(rename = "ID", deserialize_with = "wire::i64")]
    pub id: i64,
    /// The renewed TTL in seconds; 0 means the lease no longer exists.
    #[serde(rename = "TTL", deserialize_with = "wire::i64")]
    pub ttl: i64,
}

/// The answer to a lease time-to-live query. Go:
/// `clientv3.LeaseTimeToLiveResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct LeaseTimeToLiveResponse {
    /// The header.
    pub header: ResponseHeader,
    /// The lease ID.
    #[serde(rename = "ID", deserialize_with = "wire::i64")]
    pub id: i64,
    /// Seconds left; -1 if the lease does not exist.
    #[serde(rename = "TTL", deserialize_with = "wire::i64")]
    pub ttl: i64,
    /// The TTL granted at creation.
    #[serde(rename = "grantedTTL", deserialize_with = "wire::i64")]
    pub granted_ttl: i64,
    /// The keys attached, when asked for.
    #[serde(deserialize_with = "wire::bytes_list")]
    pub keys: Vec<Vec<u8>>,
}

/// The answer to a compaction.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct CompactResponse {
    /// The header.
    pub header: ResponseHeader,
}

/// A member's status. Go: `clientv3.StatusResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct StatusResponse {
    /// The header.
    pub header: ResponseHeader,
    /// The server's version, e.g. "3.4.23".
    pub version: String,
    /// The backend database's size in bytes.
    #[serde(rename = "dbSize", alias = "db_size", deserialize_with = "wire::i64")]
    pub db_size: i64,
    /// The member ID of the raft leader.
    #[serde(deserialize_with = "wire::u64")]
    pub leader: u64,
    /// The raft index.
    #[serde(rename = "raftIndex", alias = "raft_index", deserialize_with = "wire::u64")]
    pub raft_index: u64,
    /// The raft term.
    #[serde(rename = "raftTerm", alias = "raft_term", deserialize_with = "wire::u64")]
    pub raft_term: u64,
    /// Alarms and errors the member reports.
    pub errors: Vec<String>,
}

/// What happened to a key in a watch event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum EventType {
    /// A put (the gateway leaves this zero value out).
    #[default]
    #[serde(rename = "PUT")]
    Put,
    /// A delete.
    #[serde(rename = "DELETE")]
    Delete,
}

/// One change seen by a watch. Go: `clientv3.Event`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Event {
    /// Put or delete.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// The key after the change (for a delete: the key, its mod revision
    /// is the deletion's).
    pub kv: KeyValue,
    /// The key before the change, with `with_prev_kv`.
    pub prev_kv: Option<KeyValue>,
}

impl Event {
    /// Whether the event is a put that created the key.
    pub fn is_create(&self) -> bool {
        self.kind == EventType::Put && self.kv.create_revision == self.kv.mod_revision
    }
}

/// A batch of watch events, or the watch's end. Go:
/// `clientv3.WatchResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct WatchResponse {
    /// The header (its revision: the store's when the batch was sent).
    pub header: ResponseHeader,
    /// The server's watch ID.
    #[serde(deserialize_with = "wire::i64")]
    pub watch_id: i64,
    /// Set on the answer to the watch's creation.
    pub created: bool,
    /// Set when the server ended the watch.
    pub canceled: bool,
    /// When cancelled for compaction: the compaction revision.
    #[serde(deserialize_with = "wire::i64")]
    pub compact_revision: i64,
    /// Why the server ended the watch.
    pub cancel_reason: String,
    /// The events, in revision order.
    pub events: Vec<Event>,
}

impl WatchResponse {
    /// The error this response carries, Go's `WatchResponse.Err()`: the
    /// watch was compacted, or cancelled by the server.
    pub fn err(&self) -> Option<crate::Error> {
        if self.compact_revision != 0 {
            Some(crate::Error::Compacted { compact_revision: self.compact_revision })
        } else if self.canceled {
            Some(crate::Error::WatchCanceled(if self.cancel_reason.is_empty() {
                "canceled by the server".into()
            } else {
                self.cancel_reason.clone()
            }))
        } else {
            None
        }
    }
}
