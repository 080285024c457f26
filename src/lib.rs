//! gort: Go's concurrency model for Rust.
//!
//! `go!(move || ...)` starts a goroutine: a stackful coroutine scheduled on
//! an M:P:G scheduler with per-P run queues, work stealing, a sysmon thread
//! that keeps blocked threads from stalling the others, and an epoll
//! netpoller under blocking-style sockets. Goroutines talk over Go's
//! channels with `select!`, and coordinate with Go's `sync` and `context`.
//!
//! ```
//! use std::time::Duration;
//!
//! let h = gort::go!(move || {
//!     gort::sleep(Duration::from_millis(1));
//!     6 * 7
//! });
//! assert_eq!(h.join().unwrap(), 42);
//! ```
//!
//! `go!` called from a plain thread (as above) starts gort's default
//! runtime on first use, with `GORT_MAXPROCS` Ps (default: the number of
//! CPUs). Build your own with [`Runtime::builder`], or run `main` itself as
//! a goroutine with [`#[gort::main]`](macro@main) or [`run`].
//!
//! What lives where:
//! - this crate root: goroutines ([`go!`], [`spawn`], [`Builder`],
//!   [`JoinHandle`]), scheduling ([`yield_now`], [`sleep`], [`syscall`],
//!   [`preempt_point`], [`lock_os_thread`]), goroutine-local storage
//!   ([`local!`]), runtimes ([`Runtime`], [`run`], [`main`],
//!   [`max_procs`], [`set_max_procs`], [`num_cpu`]);
//! - [`chan`], [`select!`], [`Select`], [`after`], [`tick`], [`Timer`],
//!   [`Ticker`]: Go's channels and `select` (gort-channels);
//!   [`after_func`] (Go's `time.AfterFunc`), [`CloseGuard`] (Go's `defer
//!   close(ch)`);
//! - [`sync`]: Go's `sync` package and `x/sync`, and in [`sync::group`]
//!   the course's group primitives; [`context`]: Go's `context`
//!   (gort-sync);
//! - [`net`]: sockets that park the goroutine, on an epoll netpoller, and
//!   serve futures too (features `tokio-io`, `futures-io`, `hyper`: the
//!   async I/O traits on `TcpStream` and `UnixStream`);
//!   [`signal`]: incoming signals on channels (gort-netpoll); with the
//!   `http` feature, `net::http`, an HTTP/HTTPS client on goroutines;
//! - `etcd` (feature `etcd`): an etcd v3 client, Go's `concurrency`
//!   package and etcd's recipes;
//! - [`time`]: the clock every gort timer reads, [`time::now`];
//! - [`debug`]: runtime counters, goroutine dumps; [`testing`]: the leak
//!   check, and [`testing::synctest`]: virtual time for tests (Go 1.25's
//!   `testing/synctest`);
//! - [`future`]: Rust futures on goroutines (`block_on`, `spawn`, timer
//!   futures; with the `hyper` feature, hyper's runtime traits);
//! - [`runtime`]: the park/ready layer, for writing new blocking primitives.
//!
//! Read the safety model in [`runtime`]'s docs: a goroutine may resume on a
//! different OS thread after any blocking call. Porting Go code: the guide
//! in [`docs::porting`].

/// Options other than `stack_size`, and sizes that do not parse, are
/// compile errors that say what to write:
///
/// ```compile_fail
/// #[gort::main(stack_size = "8 megs")] // error: "8 megs" is not a stack size ... e.g. stack_size = "8M"
/// fn main() {}
/// ```
///
/// ```compile_fail
/// #[gort::main(max_procs = 4)] // error: #[gort::main] takes one option ... set GORT_MAXPROCS
/// fn main() {}
/// ```
pub use gort_macros::main;
pub use gort_runtime::{
    Builder, Goroutine, JoinHandle, LocalKey, Panic, PanicPolicy, Runtime, RuntimeBuilder, SpawnError,
    current, local, lock_os_thread, num_goroutine, preempt_point, run, sleep, spawn, syscall,
    unlock_os_thread, yield_now,
};

/// The number of Ps of the calling goroutine's runtime (the default
/// runtime's on a plain thread): how many goroutines run in parallel. Go:
/// `runtime.GOMAXPROCS(0)`.
///
/// It starts as `GORT_MAXPROCS` for the default runtime (default:
/// [`num_cpu`]), [`RuntimeBuilder::max_procs`] for your own, both capped
/// at [`MAX_PROCS`] (65,536), and changes with [`set_max_procs`].
///
/// ```
/// assert!(gort::max_procs() >= 1);
/// assert!(gort::max_procs() <= gort::MAX_PROCS);
/// ```
pub fn max_procs() -> usize {
    gort_runtime::max_procs()
}

/// Sets the number of Ps of the calling goroutine's runtime (the default
/// runtime's on a plain thread) and returns the previous number; 0 only
/// asks. Go: `runtime.GOMAXPROCS(n)`.
///
/// The world stops for it: each goroutine pauses at its next safe point
/// (a channel operation, a lock, a sleep, [`preempt_point`]; a loop with
/// none loses its P after a 10 ms time slice), the Ps are resized, and the
/// goroutines continue, those queued on removed Ps on the others. Values
/// above [`MAX_PROCS`] are capped. Not from a timer or park callback.
///
/// ```
/// let before = gort::set_max_procs(3);
/// assert_eq!(gort::max_procs(), 3);
/// assert_eq!(gort::set_max_procs(before), 3);
/// ```
#[track_caller]
pub fn set_max_procs(n: usize) -> usize {
    gort_runtime::set_max_procs(n)
}

/// The number of logical CPUs this process may run on. Go:
/// `runtime.NumCPU()`. See [`gort_runtime::num_cpu`].
///
/// ```
/// assert!(gort::num_cpu() >= 1);
/// ```
pub fn num_cpu() -> usize {
    gort_runtime::num_cpu()
}

pub use gort_runtime::MAX_PROCS;

// Channels, select and timer channels (gort-channels). Listed rather than
// globbed: `AsHChan`, `RecvSide` and `SendSide` are gort-channels' plumbing
// for `select!` (which reaches it through its own crate path).
pub use gort_channels::{
    Chan, CloseGuard, FuncTimer, IntoIter, Iter, Receiver, RecvTimeoutError, Select, Selected, SendError,
    SendTimeoutError, Sender, Ticker, Timer, TryIter, TryRecvError, TrySendError, after, after_func, chan,
    select, tick,
};

/// Go's `sync` primitives, goroutine-aware (gort-sync).
pub mod sync {
    pub use gort_sync::*;
}

/// Go's `context`: cancellation, deadlines and request-scoped values that
/// flow down a call tree (gort-sync's `context`).
pub mod context {
    pub use gort_sync::context::*;
}

/// Networking: sockets whose blocking calls park the goroutine
/// (gort-netpoll).
pub mod net {
    pub use gort_netpoll::*;

    /// An HTTP/1.1 and HTTPS client whose calls park only the goroutine:
    /// ureq 3 over gort's sockets, with rustls (gort-http; feature `http`).
    #[cfg(feature = "http")]
    pub mod http {
        pub use gort_http::*;
    }

    /// An HTTP/HTTPS client for goroutines with the default settings, Go's
    /// `http.DefaultClient` (feature `http`).
    #[cfg(feature = "http")]
    pub fn http_client() -> gort_http::ureq::Agent {
        gort_http::agent()
    }
}

/// etcd: a v3 client on goroutines, Go's `clientv3/concurrency` (Session,
/// Mutex, Election, STM) and etcd's recipes (RwMutex, queues, barriers)
/// (gort-etcd; feature `etcd`).
#[cfg(feature = "etcd")]
pub mod etcd {
    pub use gort_etcd::*;
}

/// Incoming signals on channels, Go's `os/signal`: `notify(&[Signal::Interrupt,
/// Signal::Terminate])` returns a channel that receives them (gort-netpoll's
/// `signal`).
pub mod signal {
    pub use gort_netpoll::signal::*;
}

/// Runtime counters (`metrics()`) and goroutine listings with each
/// goroutine's stack trace (`goroutines()`, `dump()`: Go's
/// `runtime.Stack(buf, true)` and SIGQUIT dump; `DumpOptions` groups
/// identical goroutines; `GORT_TRACEBACK=system` shows the runtime's
/// frames). The goroutine leak check for tests is [`crate::testing`]'s.
pub mod debug {
    pub use gort_runtime::debug::{
        DumpOptions, Frame, GoroutineInfo, Metrics, Traceback, TracebackMode, WaitReason, dump, dump_string,
        dump_string_with, dump_with, goroutines, metrics,
    };
}

/// Testing helpers: a goroutine leak check, Go's goleak
/// (`testing::assert_no_leaks()` or a `testing::LeakCheck` guard made at
/// the start of a test), and [`testing::synctest`], Go 1.25's virtual-time
/// bubbles: `synctest::test(|| ...)` runs a test whose timers, sleeps and
/// timeouts take no real time.
pub mod testing {
    pub use gort_runtime::testing::*;
}

/// Time as gort's timers see it, Go's `time` package: [`time::now`] (the
/// clock of every gort timer: the real one, or a synctest bubble's fake
/// one), [`time::since`], [`time::until`], and the timers themselves
/// ([`sleep`], [`after`], [`tick`], [`Timer`], [`Ticker`], [`after_func`]).
///
/// ```
/// use std::time::Duration;
///
/// gort::testing::synctest::test(|| {
///     let start = gort::time::now();
///     let (ctx, _cancel) = gort::context::with_timeout(&gort::context::background(), Duration::from_secs(5));
///     gort::time::sleep(Duration::from_secs(5)); // takes no real time
///     gort::testing::synctest::wait();
///     assert_eq!(ctx.err(), Some(gort::context::DeadlineExceeded));
///     assert_eq!(gort::time::since(start), Duration::from_secs(5));
/// });
/// ```
pub mod time {
    pub use gort_channels::{FuncTimer, Ticker, Timer, after, after_func, tick};
    pub use gort_runtime::sleep;
    pub use gort_runtime::time::*;
}

/// Rust futures on goroutines, without an async runtime:
/// [`future::block_on`] parks the goroutine until the future's waker
/// fires, [`future::spawn`] runs a future on a goroutine of its own (its
/// `JoinHandle` joins, or is awaited), and [`future::sleep`],
/// [`future::sleep_until`] and [`future::timeout`] are tokio-style timer
/// futures on gort's timers (a synctest bubble's clock inside one). With
/// the `hyper` feature, `future::hyper_rt` runs hyper 1 on goroutines.
/// Futures that need tokio's reactor (`tokio::net`, `tokio::time`) do not
/// work: the module docs say what to use instead.
///
/// ```
/// use std::time::Duration;
/// use gort::future;
///
/// let h = future::spawn(async {
///     future::sleep(Duration::from_millis(1)).await;
///     "slept"
/// });
/// assert_eq!(future::block_on(h).unwrap(), "slept");
/// ```
pub mod future {
    pub use gort_runtime::future::*;
}

/// The runtime layer under gort's primitives, for writing new blocking
/// primitives: park/ready and [`GRef`](runtime::GRef), the runtime lock,
/// semaphores, timers, the poller hook, synctest bubbles (gort-runtime's
/// `engine` module; `runtime/HACKING.md` says how to use it), next to the
/// user API (spawn, [`Runtime`], sleep, syscall, ...), which the crate
/// root also offers.
///
/// The safety model (gort-runtime's crate docs): a goroutine may resume on
/// a different OS thread after any blocking call, so it must keep no
/// `!Send` value (an `Rc`, a std `MutexGuard`, a `thread_local!` borrow)
/// across one; goroutine-local storage is [`local!`](crate::local).
pub mod runtime {
    pub use gort_runtime::engine::*;
    pub use gort_runtime::{
        Builder, DEFAULT_STACK_SIZE, DEFAULT_THREAD_KEEP_ALIVE, Goroutine, IDLE_M_RESERVE, JoinHandle,
        LocalKey, MAX_PROCS, Panic, PanicPolicy, Runtime, RuntimeBuilder, SpawnError, current,
        default_runtime, local, lock_os_thread, max_procs, num_cpu, num_goroutine, os_thread_lock_count,
        preempt_point, run, set_max_procs, sleep, spawn, syscall, unlock_os_thread, yield_now,
    };
}

/// Guides, as documentation.
pub mod docs {
    /// Porting Go code to gort: Go constructs and their gort form, and the
    /// three traps (the repository's PORTING.md; its examples run as
    /// doctests).
    #[doc = include_str!("../PORTING.md")]
    pub mod porting {}
}

/// Starts a goroutine, Go's `go` statement. Returns a [`JoinHandle`].
///
/// Two forms:
/// - a closure: `go!(move || work(x))`;
/// - a call: `go!(work(a, b))` or `go!(server.handle(conn))`: as in Go, the
///   function (or receiver) and the arguments are evaluated now, by the
///   caller, and the call runs in the new goroutine.
///
/// ```
/// fn add(a: i32, b: i32) -> i32 { a + b }
/// let mut x = 1;
/// let h = gort::go!(add(x, 2)); // x is read now
/// x += 10;
/// assert_eq!(h.join().unwrap(), 3);
/// assert_eq!(gort::go!(move || x).join().unwrap(), 11);
/// ```
#[macro_export]
macro_rules! go {
    (move $($closure:tt)*) => {
        $crate::spawn(move $($closure)*)
    };
    (|| $($body:tt)*) => {
        $crate::spawn(|| $($body)*)
    };
    (| $($closure:tt)*) => {
        $crate::spawn(| $($closure)*)
    };
    ($recv:ident . $method:ident ( $($arg:expr),* $(,)? )) => {{
        let recv = $recv;
        $crate::__go_bind!([recv . $method] [] $($arg),*)
    }};
    ($($seg:ident)::+ ( $($arg:expr),* $(,)? )) => {{
        let callee = $($seg)::+;
        $crate::__go_bind!([callee] [] $($arg),*)
    }};
    ($f:expr) => {
        $crate::spawn($f)
    };
}

/// Evaluates `go!`'s arguments one by one into fresh bindings (each
/// recursion step's `arg` is a distinct identifier by macro hygiene), then
/// spawns the call.
#[doc(hidden)]
#[macro_export]
macro_rules! __go_bind {
    ([$($callee:tt)*] [$($bound:ident)*]) => {
        $crate::spawn(move || $($callee)* ($($bound),*))
    };
    ([$($callee:tt)*] [$($bound:ident)*] $head:expr $(, $tail:expr)*) => {{
        let arg = $head;
        $crate::__go_bind!([$($callee)*] [$($bound)* arg] $($tail),*)
    }};
}
