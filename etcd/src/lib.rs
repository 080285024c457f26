//! gort-etcd: an etcd v3 client on goroutines, with Go's `concurrency`
//! package and etcd's recipes.
//!
//! Go: go.etcd.io/etcd/client/v3 (`clientv3`), client/v3/concurrency,
//! client/v3/experimental/recipes (formerly contrib/recipes).
//!
//! The client speaks etcd's v3 API through the JSON gateway that every etcd
//! serves on its client port (`POST /v3/kv/range`, `/v3/lease/grant`,
//! `/v3/watch`, ...), over HTTP/1.1 on gort's netpoller sockets
//! ([`gort_http`]), so a call parks only its goroutine. The API follows
//! clientv3 in Rust casing: [`Client::connect`], `get`/`put`/`delete` with
//! [`Options`] (Go's `OpOption`s), [`Client::txn`] with [`Compare`] and
//! [`Op`], leases (`grant`, `revoke`, `time_to_live`, `keep_alive`),
//! [`Client::watch`] onto a gort channel, `status`, `compact`. Every
//! blocking call has a `_ctx` form taking a
//! [`gort_sync::context::Context`]: its deadline and cancellation close the
//! connection and return [`Error::Context`].
//!
//! [`concurrency`] has Go's `Session`, `Mutex`, `Election` and STM;
//! [`recipes`] has etcd's `RwMutex`, `Queue`, `PriorityQueue`, `Barrier` and
//! `DoubleBarrier`. Their algorithms are Go's, so gort and Go programs can
//! share one lock or election. [`server`] starts etcd processes for tests
//! and benchmarks.
//!
//! ```no_run
//! use gort_etcd::{Client, concurrency::{Mutex, Session}};
//!
//! let cli = Client::connect(["http://127.0.0.1:2379"])?;
//! let session = Session::new(&cli)?; // a lease kept alive by a goroutine
//! let mut m = Mutex::new(&session, "/my-lock");
//! m.lock()?;
//! // ... only one process in the cluster runs this at a time ...
//! m.unlock()?;
//! session.close()?;
//! # Ok::<(), gort_etcd::Error>(())
//! ```

mod client;
pub mod concurrency;
mod error;
mod kv;
mod lease;
mod options;
pub mod recipes;
pub mod server;
mod stream;
mod types;
mod watch;

pub use client::{Client, Config};
pub use error::{Error, Result};
pub use kv::{Bytes, Compare, CompareTarget, Number, Op, Txn};
pub use lease::KeepAlive;
pub use options::{Options, SortOrder, SortTarget, prefix_range_end};
pub use types::*;
pub use watch::WatchStream;
