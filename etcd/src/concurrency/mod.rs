//! Go's `clientv3/concurrency`: sessions, distributed mutexes, leader
//! election and software transactional memory, on etcd.
//!
//! Go: client/v3/concurrency (session.go, mutex.go, election.go, stm.go,
//! key.go).
//!
//! The algorithms are Go's, so a gort program and a Go program can share a
//! lock or an election on the same etcd:
//! - a [`Session`] is a lease kept alive by a goroutine; everything a
//!   session creates is attached to its lease, so it disappears within the
//!   TTL when its process dies;
//! - a [`Mutex`] waiter creates `prefix/<lease id in hex>` and owns the lock
//!   when its key has the lowest create revision under the prefix; a
//!   waiter watches only the key created just before its own for deletion
//!   (no thundering herd), so waiters are served in arrival order;
//! - an [`Election`] is the same queue, whose first key is the leader and
//!   holds the leader's value;
//! - [`stm`] runs a function as a transaction, retrying it on conflict.

mod election;
mod key;
mod mutex;
mod session;
pub mod stm;

pub use election::Election;
pub use mutex::Mutex;
pub use session::{Session, SessionOptions};
pub use stm::{Isolation, Stm, new_stm, new_stm_with};
