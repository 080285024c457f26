//! `Once` and its relatives: run a function exactly once.
//!
//! Go: sync/once.go, sync/oncefunc.go; [`OnceRetry`] is the text's
//! "Once with error" extension.
//!
//! - [`Once`]: Go's `Once.Do`. No call returns before the one run of `f`
//!   has finished (a bare CAS flag would let callers see half-initialised
//!   state, which is why Go's fast path is a load and the slow path a
//!   mutex). **A panicking `f` still counts as done**, as in Go: later
//!   calls return without running anything. Calling the same `Once` from
//!   inside `f` deadlocks, as in Go.
//! - [`OnceFunc`], [`OnceValue`]: Go's `OnceFunc` / `OnceValue` /
//!   `OnceValues` (a tuple value covers the last). `f` runs once, its
//!   result is kept, and `f` itself is dropped after running. If `f`
//!   panicked, **every** call panics: the first with the original payload,
//!   later ones with the same message (Rust payloads cannot be cloned, so
//!   later panics carry the message as a `String`).
//! - [`OnceRetry`]: runs a fallible `f` until it succeeds once: an error
//!   (or a panic) leaves it not done, so a later call tries again.
//!
//! Orderings: `done` is stored with Release after `f` returns (or unwinds)
//! and loaded with Acquire on the fast path, so the completion of `f`
//! happens-before every call that returns; callers that find it not done
//! synchronise through the mutex.

use std::cell::UnsafeCell;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, panic_any, resume_unwind};
use std::sync::atomic::{AtomicBool, Ordering};

use gort_runtime::engine::WaitReason;

use crate::mutex::RawMutex;

/// Runs a function exactly once, Go's `sync.Once`.
///
/// ```
/// use gort_sync::Once;
///
/// static INIT: Once = Once::new();
/// let mut runs = 0;
/// INIT.call_once(|| runs += 1);
/// INIT.call_once(|| runs += 1);
/// assert_eq!(runs, 1);
/// assert!(INIT.is_done());
/// ```
pub struct Once {
    /// Set (Release) by the caller that ran the function, once it returned
    /// or panicked, still holding `m`; read (Acquire) by the fast path, so
    /// a caller that sees it sees the function's effects (Go: `done`).
    done: AtomicBool,
    /// Held while the function runs: concurrent callers wait on it, then
    /// see `done` (Go: `m`).
    m: RawMutex,
}

/// Unlocks a [`RawMutex`] when dropped (also while unwinding).
struct Unlock<'a>(&'a RawMutex);

impl Drop for Unlock<'_> {
    fn drop(&mut self) {
        // SAFETY: constructed right after locking.
        unsafe { self.0.unlock() }
    }
}

/// Marks a once done when dropped: after `f` returns *or panics*.
struct SetDone<'a>(&'a AtomicBool);

impl Drop for SetDone<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

impl Once {
    /// A `Once` that has not run.
    pub const fn new() -> Once {
        Once { done: AtomicBool::new(false), m: RawMutex::new() }
    }

    /// Calls `f` if and only if this is the first call on this `Once`;
    /// every call returns only after that one run of `f` has finished.
    /// If `f` panics, the panic propagates to this caller and the `Once`
    /// counts as done. Go: `Do` (`do` is a Rust keyword).
    #[inline]
    pub fn call_once(&self, f: impl FnOnce()) {
        if !self.done.load(Ordering::Acquire) {
            self.call_slow(f);
        }
    }

    #[cold]
    #[inline(never)]
    fn call_slow(&self, f: impl FnOnce()) {
        self.m.lock(WaitReason::SyncMutexLock);
        let _unlock = Unlock(&self.m);
        if !self.done.load(Ordering::Relaxed) {
            // Dropped before `_unlock`: done is set, then the mutex freed.
            let _done = SetDone(&self.done);
            f();
        }
    }

    /// Whether `f` has run (and returned or panicked). False while it is
    /// still running. The text's `Done()` extension (Go issue #41690).
    pub fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }
}

impl Default for Once {
    fn default() -> Self {
        Once::new()
    }
}

impl fmt::Debug for Once {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Once").field("done", &self.is_done()).finish()
    }
}

/// The message of a panic payload, for re-panicking with it.
fn payload_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&'static str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

enum State<T, F> {
    Pending(F),
    Running,
    Done(T),
    Panicked(String),
}

/// A value computed once, on first use, by `f`: Go's `OnceValue` (and
/// `OnceValues`, with a tuple). See the module docs for panics.
///
/// ```
/// use gort_sync::OnceValue;
///
/// static ANSWER: OnceValue<u64> = OnceValue::new(|| 6 * 7);
/// assert_eq!(*ANSWER.get(), 42);
/// ```
pub struct OnceValue<T, F = fn() -> T> {
    /// Runs the function once; its `done` publishes `state`.
    once: Once,
    /// The function, then its value (or the panic's message). Written only
    /// by the one caller running `once`'s function; read by anyone after
    /// `once` is done.
    state: UnsafeCell<State<T, F>>,
}

// SAFETY: `state` is written only inside the Once's single run and read
// only after it completed (module docs); the value is shared by reference
// (T: Sync) and may be created and dropped on different threads (T: Send);
// `f` runs on whichever thread calls first (F: Send).
unsafe impl<T: Send + Sync, F: Send> Sync for OnceValue<T, F> {}
// SAFETY: moving it moves the T and the F.
unsafe impl<T: Send, F: Send> Send for OnceValue<T, F> {}

impl<T, F: FnOnce() -> T> OnceValue<T, F> {
    /// A value that `f` will compute on first use.
    pub const fn new(f: F) -> OnceValue<T, F> {
        OnceValue { once: Once::new(), state: UnsafeCell::new(State::Pending(f)) }
    }

    /// The value, computing it first if this is the first call. Concurrent
    /// first calls wait for the one computation.
    ///
    /// # Panics
    /// If `f` panicked, here and on every later call.
    pub fn get(&self) -> &T {
        self.once.call_once(|| {
            // SAFETY: inside the Once's single run nobody else touches
            // `state` (readers wait on the Once).
            let st = unsafe { &mut *self.state.get() };
            let State::Pending(f) = std::mem::replace(st, State::Running) else {
                unreachable!("OnceValue runs f once");
            };
            match catch_unwind(AssertUnwindSafe(f)) {
                Ok(v) => *st = State::Done(v),
                Err(p) => {
                    *st = State::Panicked(payload_message(&*p));
                    resume_unwind(p);
                }
            }
        });
        // SAFETY: the Once is done, so `state` no longer changes.
        match unsafe { &*self.state.get() } {
            State::Done(v) => v,
            State::Panicked(msg) => panic_any(msg.clone()),
            State::Pending(_) | State::Running => unreachable!("OnceValue read before its run finished"),
        }
    }
}

impl<T: fmt::Debug, F> fmt::Debug for OnceValue<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("OnceValue");
        if self.once.is_done() {
            // SAFETY: done: `state` no longer changes.
            match unsafe { &*self.state.get() } {
                State::Done(v) => d.field("value", v),
                State::Panicked(m) => d.field("panicked", m),
                _ => d.field("state", &"running"),
            };
        } else {
            d.field("state", &"pending");
        }
        d.finish()
    }
}

/// A function that runs at most once, however often it is called: Go's
/// `OnceFunc`. See the module docs for panics.
///
/// ```
/// use gort_sync::OnceFunc;
///
/// let close = OnceFunc::new(|| println!("closing"));
/// close.call();
/// close.call(); // prints nothing
/// ```
pub struct OnceFunc<F = fn()> {
    inner: OnceValue<(), F>,
}

impl<F: FnOnce()> OnceFunc<F> {
    /// Wraps `f`.
    pub const fn new(f: F) -> OnceFunc<F> {
        OnceFunc { inner: OnceValue::new(f) }
    }

    /// Runs `f` if this is the first call; otherwise waits for that first
    /// run to finish.
    ///
    /// # Panics
    /// If `f` panicked, here and on every later call.
    pub fn call(&self) {
        self.inner.get();
    }
}

impl<F> fmt::Debug for OnceFunc<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnceFunc").field("done", &self.inner.once.is_done()).finish()
    }
}

/// Runs a fallible function until it succeeds once: the text's "Once with
/// error". An `Err` (or a panic) leaves it not done, so the next call runs
/// its function again; after a success, calls return `Ok(())` at once.
///
/// ```
/// use gort_sync::OnceRetry;
///
/// let connect = OnceRetry::new();
/// assert!(connect.call(|| Err::<(), _>("refused")).is_err());
/// assert!(connect.call(|| Ok::<(), &str>(())).is_ok());
/// assert!(connect.call(|| -> Result<(), &str> { unreachable!() }).is_ok());
/// ```
pub struct OnceRetry {
    /// Set (Release) after a call succeeded, holding `m`; read (Acquire)
    /// by the fast path.
    done: AtomicBool,
    /// Serialises the calls that may run the function.
    m: RawMutex,
}

impl OnceRetry {
    /// Not done yet.
    pub const fn new() -> OnceRetry {
        OnceRetry { done: AtomicBool::new(false), m: RawMutex::new() }
    }

    /// Runs `f` unless a previous call succeeded; concurrent calls run one
    /// at a time. Returns `f`'s error, or `Ok(())` once done.
    pub fn call<E>(&self, f: impl FnOnce() -> Result<(), E>) -> Result<(), E> {
        if self.done.load(Ordering::Acquire) {
            return Ok(());
        }
        self.m.lock(WaitReason::SyncMutexLock);
        let _unlock = Unlock(&self.m);
        if self.done.load(Ordering::Relaxed) {
            return Ok(());
        }
        f()?;
        self.done.store(true, Ordering::Release);
        Ok(())
    }

    /// Whether a call has succeeded.
    pub fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }
}

impl Default for OnceRetry {
    fn default() -> Self {
        OnceRetry::new()
    }
}

impl fmt::Debug for OnceRetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnceRetry").field("done", &self.is_done()).finish()
    }
}
