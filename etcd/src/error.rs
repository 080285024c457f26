//! The client's errors: one [`Error`] enum for transport failures, server
//! errors, malformed answers, context ends and the concurrency package's
//! own conditions.
//!
//! Go: client/v3 (`rpctypes` errors such as `ErrCompacted`,
//! `ErrLeaseNotFound`), client/v3/concurrency (`ErrLocked`,
//! `ErrSessionExpired`, `ErrElectionNotLeader`, `ErrElectionNoLeader`),
//! contrib/recipes (`ErrKeyExists`, `ErrTooManyClients`).
//!
//! Server errors come from the JSON gateway as `{"error","message","code"}`
//! with an HTTP status; the gRPC code and message are kept, and the
//! messages users meet most (a request over the size limit, an unknown
//! lease, a compacted revision) become their own variants whose text says
//! what to do.

use std::fmt;

use gort_sync::context;

/// A result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// What went wrong in an etcd call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// No endpoint answered: the last one tried and why (connection
    /// refused, connect timeout, connection reset...).
    Unavailable {
        /// The endpoint URL.
        endpoint: String,
        /// The transport's error.
        reason: String,
    },
    /// The server rejected the request: gRPC code, HTTP status and message.
    Server {
        /// The endpoint that answered.
        endpoint: String,
        /// gRPC status code (3 invalid argument, 5 not found, 14 unavailable...).
        code: i32,
        /// HTTP status of the answer.
        status: u16,
        /// etcd's message.
        message: String,
    },
    /// A request larger than the server accepts (`--max-request-bytes`,
    /// 1.5 MiB by default).
    RequestTooLarge {
        /// The request's size in bytes.
        bytes: usize,
    },
    /// The lease does not exist (never granted, revoked, or expired).
    LeaseNotFound {
        /// The lease ID.
        id: i64,
    },
    /// The revision asked for was compacted away.
    Compacted {
        /// The oldest revision still available (the compaction point), when
        /// the server said (watches do; reads do not: 0).
        compact_revision: i64,
    },
    /// A future revision was asked for.
    FutureRevision,
    /// The server's answer could not be understood.
    Malformed {
        /// The endpoint that answered.
        endpoint: String,
        /// What was wrong, with the start of the answer.
        detail: String,
    },
    /// The call's context was cancelled or its deadline passed.
    Context(context::Error),
    /// A bad argument, caught before anything was sent.
    InvalidArgument(String),
    /// The session's lease expired (Go: `ErrSessionExpired`).
    SessionExpired,
    /// `try_lock` found the mutex held (Go: `ErrLocked`).
    Locked,
    /// The election was lost or resigned (Go: `ErrElectionNotLeader`).
    NotLeader,
    /// The election has no leader (Go: `ErrElectionNoLeader`).
    NoLeader,
    /// The key already exists (recipes: `ErrKeyExists`).
    KeyExists,
    /// More parties entered a double barrier than its count (recipes:
    /// `ErrTooManyClients`).
    TooManyClients,
    /// A watch ended for another reason than cancellation by its owner.
    WatchCanceled(String),
}

impl Error {
    /// Whether the error is the end of the call's context.
    pub fn is_context(&self) -> bool {
        matches!(self, Error::Context(_))
    }
}

impl Error {
    /// Names the lease in a [`Error::LeaseNotFound`] (the server's message
    /// does not).
    pub(crate) fn for_lease(self, id: i64) -> Error {
        match self {
            Error::LeaseNotFound { .. } if id != 0 => Error::LeaseNotFound { id },
            e => e,
        }
    }
}

impl From<context::Error> for Error {
    fn from(e: context::Error) -> Error {
        Error::Context(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Unavailable { endpoint, reason } => write!(
                f,
                "etcd endpoint {endpoint} is unreachable: {reason} (is etcd running and listening there? \
                 check the endpoint list passed to Client::connect)"
            ),
            Error::Server { endpoint, code, status, message } => {
                write!(f, "etcd at {endpoint}: {message} (gRPC code {code}, HTTP {status})")
            }
            Error::RequestTooLarge { bytes } => write!(
                f,
                "etcdserver: request is too large ({bytes} bytes): etcd accepts requests up to its \
                 --max-request-bytes (1.5 MiB by default); store large values elsewhere or raise the limit"
            ),
            Error::LeaseNotFound { id } => write!(
                f,
                "etcdserver: requested lease not found (lease {id:x}): it expired or was revoked; grant a new one"
            ),
            Error::Compacted { compact_revision: 0 } => f.write_str(
                "etcdserver: mvcc: required revision has been compacted: read or watch at a later revision",
            ),
            Error::Compacted { compact_revision } => write!(
                f,
                "etcdserver: mvcc: required revision has been compacted (the oldest available is \
                 {compact_revision}): read or watch from that revision or later"
            ),
            Error::FutureRevision => f.write_str("etcdserver: mvcc: required revision is a future revision"),
            Error::Malformed { endpoint, detail } => {
                write!(f, "malformed answer from {endpoint} (is it an etcd v3 client URL?): {detail}")
            }
            Error::Context(e) => write!(f, "{e}"),
            Error::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            Error::SessionExpired => f.write_str("session expired: its lease is gone; make a new Session"),
            Error::Locked => f.write_str("mutex: Locked by another session"),
            Error::NotLeader => f.write_str("election: not leader"),
            Error::NoLeader => f.write_str("election: no leader"),
            Error::KeyExists => f.write_str("key already exists"),
            Error::TooManyClients => f.write_str("too many clients entered the double barrier"),
            Error::WatchCanceled(r) => write!(f, "watch canceled: {r}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<Error> for std::io::Error {
    /// For `?` in functions returning `io::Result`: kind `Other`, or the
    /// context's kind for [`Error::Context`].
    fn from(e: Error) -> std::io::Error {
        match e {
            Error::Context(c) => c.into(),
            e => std::io::Error::other(e),
        }
    }
}
