//! gort-sync: Go's `sync` primitives for goroutines, usable from plain
//! threads too.
//!
//! Every blocking call here parks a goroutine (its OS thread goes on
//! running other goroutines) or, called from a plain thread, blocks that
//! thread; one primitive can be shared by both. They are built the way Go
//! builds them: [`Mutex`], [`RwLock`] and [`WaitGroup`] on the runtime's
//! address-keyed semaphores ([`gort_runtime::engine::semacquire`]), [`Cond`] on its
//! ticket-ordered notify list, and the rest on those and on park/ready.
//!
//! | gort | Go |
//! |---|---|
//! | [`Mutex<T>`] | `sync.Mutex` (Go's algorithm: spinning, FIFO waiters, starvation mode) |
//! | [`RwLock<T>`] | `sync.RWMutex` (writer-preferring) |
//! | [`WaitGroup`] | `sync.WaitGroup`, with `Go`; [`WaitGroup::add_guard`] for `Add(1)` + `defer Done()` |
//! | [`Once`], [`OnceFunc`], [`OnceValue`] | `sync.Once`, `OnceFunc`, `OnceValue(s)` |
//! | [`OnceRetry`] | the "Once with error" extension: retries until success |
//! | [`Cond`] | `sync.Cond` |
//! | [`Pool<T>`] | `sync.Pool` (with a cleanup rule in place of GC) |
//! | [`Map<K, V>`] | `sync.Map` |
//! | [`atomic::Value<T>`] | `atomic.Value` |
//! | [`Semaphore`] | `x/sync/semaphore.Weighted` |
//! | [`SingleFlight<K, V>`] | `x/sync/singleflight.Group` |
//! | [`ErrGroup<E>`] | `x/sync/errgroup.Group` |
//! | [`Barrier`] | the text's CyclicBarrier |
//! | [`group`] | the course's chapter 18 beyond ErrGroup: `SizedGroup`, `ErrSizedGroup`, gollback, Hunch, schedgroup, and a `PriorityQueue` |
//! | [`context`] | `context` (cancellation, deadlines, values) |
//!
//! Where Go reports misuse at run time, these types mostly make it
//! impossible: locks are released by dropping guards (no unlock of an
//! unlocked mutex, no `RUnlock`/`Unlock` mix-up), `Cond::wait` takes the
//! guard (no wait without the lock), typed values need no type checks, and
//! nothing can be copied after use. What remains keeps Go's panic messages
//! (`sync: negative WaitGroup counter`, `semaphore: released more than
//! held`, ...).
//!
//! With a [`context::Context`]: [`ErrGroup::with_context`] (a context
//! cancelled on the first error), [`Semaphore::acquire_ctx`] (an acquire
//! that gives up when the context is done); with gort's channels:
//! [`SingleFlight::do_chan`]. Timeouts without a context:
//! `Semaphore::acquire_timeout`, `Barrier::wait_timeout`.

mod barrier;
mod cond;
pub mod context;
mod errgroup;
pub mod group;
mod map;
mod mutex;
mod once;
mod pool;
mod rwlock;
mod semaphore;
mod singleflight;
mod value;
mod waitgroup;

pub use barrier::{Barrier, BarrierError};
pub use cond::{Cond, CondGuard};
pub use errgroup::ErrGroup;
pub use map::Map;
pub use mutex::{Mutex, MutexGuard, STARVATION_THRESHOLD_NS};
pub use once::{Once, OnceFunc, OnceRetry, OnceValue};
pub use pool::{DEFAULT_CLEANUP_INTERVAL, Pool, pool_cleanup, set_pool_cleanup_interval};
pub use rwlock::{MAX_READERS, RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use semaphore::Semaphore;
pub use singleflight::{Flight, SingleFlight};
pub use waitgroup::{DoneGuard, WaitGroup};

/// Atomics, as Go's `sync/atomic`: std's atomic types plus [`Value`](crate::atomic::Value).
pub mod atomic {
    pub use crate::value::Value;
    pub use std::sync::atomic::*;
}

/// An unrecoverable error in the manner of Go's `fatal`: prints `fatal
/// error: msg` and exits with status 2, without unwinding. Reached only if
/// a primitive's internal state is corrupt; the guards make Go's misuse
/// cases unreachable.
#[cold]
pub(crate) fn fatal(msg: &str) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = writeln!(std::io::stderr(), "fatal error: {msg}");
    std::process::exit(2)
}
