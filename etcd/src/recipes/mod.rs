//! etcd's recipes: a read/write lock, queues and barriers shared by
//! processes.
//!
//! Go: client/v3/experimental/recipes (formerly contrib/recipes):
//! rwmutex.go, queue.go, priority_queue.go, barrier.go, double_barrier.go,
//! key.go, watch.go.
//!
//! The algorithms are the Go recipes', so gort and Go processes can share
//! them. They build on unique keys (a prefix plus the time in nanoseconds,
//! created only if absent), sequential keys (a prefix plus a counter,
//! guarded by a base key's revision), and waits for a key's next put or
//! delete through a watch from a known revision (so no event between the
//! read and the watch is missed).

mod barrier;
mod keys;
mod queue;
mod rwmutex;

pub use barrier::{Barrier, DoubleBarrier};
pub use queue::{PriorityQueue, Queue};
pub use rwmutex::RwMutex;
