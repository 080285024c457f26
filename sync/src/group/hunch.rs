//! Hunch: combinators over concurrent functions that fail fast. [`all`]
//! (every result, in input order), [`take`] (the first `n` successes),
//! [`last`] (the last `n`), [`retry`], and [`waterfall`] (a pipeline
//! where each step gets the previous step's result).
//!
//! Go: github.com/aaronjan/hunch (`All`, `Take`, `Last`, `Retry`,
//! `Waterfall` over `Executable func(ctx) (interface{}, error)` and
//! `ExecutableInSequence func(ctx, interface{}) (interface{}, error)`).
//!
//! Unlike [`gollback`](super::gollback), every combinator returns at the
//! **first error** (`Err(Error::Failed(e))`), and at once when the
//! caller's context is done (`Err(Error::Context(..))`, also when a
//! function's error arrives after the context ended), without waiting
//! for the functions still running. Each call derives a context from the
//! caller's for its functions and cancels it when it returns, so those
//! functions can stop. Each function (each attempt, each step) runs in its
//! own goroutine.
//!
//! A function that panics while the combinator still waits for it has its
//! panic resumed in the caller; a later one follows the runtime's policy
//! for unjoined goroutines (by default the process ends, as in Go).

use std::sync::Arc;

use gort_channels::select;

use super::Error;
use super::racers::Racers;
use crate::context::{self, Context};

/// A boxed Hunch function, for passing different closures in one call
/// (Go: `Executable`).
pub type Executable<T, E> = Box<dyn FnOnce(&Context) -> Result<T, E> + Send>;

/// A boxed [`waterfall`] step (Go: `ExecutableInSequence`): gets the
/// previous step's result, `None` for the first step.
pub type ExecutableInSequence<T, E> = Box<dyn FnOnce(&Context, Option<T>) -> Result<T, E> + Send>;

/// The caller's context is done: its error.
fn done<E>(ctx: &Context) -> Error<E> {
    Error::Context(ctx.err().unwrap_or(context::Canceled))
}

/// A function failed: its error, unless the caller's context is done
/// (the function most likely failed because of that; the context's error
/// takes priority, as in Hunch's `Retry`).
fn failed<E>(ctx: &Context, e: E) -> Error<E> {
    match ctx.err() {
        Some(c) => Error::Context(c),
        None => Error::Failed(e),
    }
}

/// Runs every function concurrently; returns all results **in the order
/// of `fns`** once all have succeeded, or the first error as soon as one
/// fails. Go: `hunch.All`.
///
/// ```
/// use std::time::Duration;
/// use gort_sync::context;
/// use gort_sync::group::hunch::{self, Executable};
///
/// let fns: Vec<Executable<i32, String>> = vec![
///     Box::new(|_| {
///         gort_runtime::sleep(Duration::from_millis(20));
///         Ok(1)
///     }),
///     Box::new(|_| Ok(2)),
///     Box::new(|_| Ok(3)),
/// ];
/// assert_eq!(hunch::all(&context::background(), fns), Ok(vec![1, 2, 3]));
/// ```
pub fn all<T, E, F>(ctx: &Context, fns: impl IntoIterator<Item = F>) -> Result<Vec<T>, Error<E>>
where
    F: FnOnce(&Context) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    let fns: Vec<F> = fns.into_iter().collect();
    let n = fns.len();
    let (rctx, _cancel) = context::with_cancel(ctx);
    let mut racers = Racers::with_capacity(n);
    for f in fns {
        let rctx = rctx.clone();
        racers.spawn(move || f(&rctx));
    }
    let mut out: Vec<Option<T>> = (0..n).map(|_| None).collect();
    for _ in 0..n {
        select! {
            recv(racers.results()) -> r => match racers.open(r) {
                (i, Ok(v)) => out[i] = Some(v),
                (_, Err(e)) => return Err(failed(ctx, e)),
            },
            recv(ctx.done()) => return Err(done(ctx)),
        }
    }
    Ok(out.into_iter().map(|v| v.expect("every function reported")).collect())
}

/// Runs every function concurrently; returns the first `n` results **in
/// the order they arrive**, as soon as `n` functions have succeeded (`n`
/// is clamped to the number of functions), or the first error. Go:
/// `hunch.Take`. With `n == 0`, returns an empty vector at once without
/// running anything.
///
/// ```
/// use std::time::Duration;
/// use gort_sync::context;
/// use gort_sync::group::hunch::{self, Executable};
///
/// let fns: Vec<Executable<u64, String>> = [200u64, 1, 100]
///     .into_iter()
///     .map(|ms| -> Executable<u64, String> {
///         Box::new(move |_| {
///             gort_runtime::sleep(Duration::from_millis(ms));
///             Ok(ms)
///         })
///     })
///     .collect();
/// assert_eq!(hunch::take(&context::background(), 2, fns), Ok(vec![1, 100]));
/// ```
pub fn take<T, E, F>(ctx: &Context, n: usize, fns: impl IntoIterator<Item = F>) -> Result<Vec<T>, Error<E>>
where
    F: FnOnce(&Context) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    let fns: Vec<F> = fns.into_iter().collect();
    let n = n.min(fns.len());
    if n == 0 {
        return Ok(Vec::new());
    }
    let (rctx, _cancel) = context::with_cancel(ctx);
    let mut racers = Racers::with_capacity(fns.len());
    for f in fns {
        let rctx = rctx.clone();
        racers.spawn(move || f(&rctx));
    }
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        select! {
            recv(racers.results()) -> r => match racers.open(r).1 {
                Ok(v) => out.push(v),
                Err(e) => return Err(failed(ctx, e)),
            },
            recv(ctx.done()) => return Err(done(ctx)),
        }
    }
    Ok(out)
}

/// Runs every function concurrently; once **all** have succeeded,
/// returns the last `n` results in the order they arrived (`n` clamped;
/// `n == 1`: only the last one). Any error first is returned as soon as it
/// comes. Go: `hunch.Last`.
///
/// ```
/// use std::time::Duration;
/// use gort_sync::context;
/// use gort_sync::group::hunch::{self, Executable};
///
/// let fns: Vec<Executable<u64, String>> = [200u64, 1, 100]
///     .into_iter()
///     .map(|ms| -> Executable<u64, String> {
///         Box::new(move |_| {
///             gort_runtime::sleep(Duration::from_millis(ms));
///             Ok(ms)
///         })
///     })
///     .collect();
/// assert_eq!(hunch::last(&context::background(), 1, fns), Ok(vec![200]));
/// ```
pub fn last<T, E, F>(ctx: &Context, n: usize, fns: impl IntoIterator<Item = F>) -> Result<Vec<T>, Error<E>>
where
    F: FnOnce(&Context) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    let fns: Vec<F> = fns.into_iter().collect();
    let mut all = take(ctx, fns.len(), fns)?;
    let n = n.min(all.len());
    Ok(all.split_off(all.len() - n))
}

/// Calls `f` until it succeeds, at most `retries` times in all (`0`: until
/// it succeeds); each attempt runs in a new goroutine, one after the
/// other, with no pause between them. Returns the first success, or
/// [`Error::MaxRetriesExceeded`] with the last error; if `ctx` is done
/// first (even during an attempt), [`Error::Context`] at once. Go:
/// `hunch.Retry`.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use gort_sync::context;
/// use gort_sync::group::{Error, hunch};
///
/// let attempts = Arc::new(AtomicU32::new(0));
/// let a = attempts.clone();
/// let r = hunch::retry(&context::background(), 3, move |_| {
///     let n = a.fetch_add(1, Ordering::SeqCst) + 1;
///     if n < 3 { Err(format!("attempt {n} failed")) } else { Ok(n) }
/// });
/// assert_eq!(r, Ok(3));
///
/// let r: Result<(), _> = hunch::retry(&context::background(), 2, |_| Err("down"));
/// assert_eq!(r, Err(Error::MaxRetriesExceeded { retries: 2, last: "down" }));
/// ```
pub fn retry<T, E, F>(ctx: &Context, retries: usize, f: F) -> Result<T, Error<E>>
where
    F: Fn(&Context) -> Result<T, E> + Send + Sync + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    let (rctx, _cancel) = context::with_cancel(ctx);
    let f = Arc::new(f);
    let mut attempt = 0usize;
    loop {
        // One goroutine per attempt: a channel of one report each time.
        let mut racer = Racers::with_capacity(1);
        let (rctx2, f2) = (rctx.clone(), f.clone());
        racer.spawn(move || f2(&rctx2));
        select! {
            recv(racer.results()) -> r => match racer.open(r).1 {
                Ok(v) => return Ok(v),
                Err(e) => {
                    if ctx.err().is_some() {
                        return Err(done(ctx));
                    }
                    attempt = attempt.wrapping_add(1);
                    if attempt == retries {
                        return Err(Error::MaxRetriesExceeded { retries, last: e });
                    }
                }
            },
            recv(ctx.done()) => return Err(done(ctx)),
        }
    }
}

/// Runs `steps` one after the other, each in its own goroutine, passing
/// each step the previous step's result (`None` to the first); returns
/// the last step's result (`None` for no steps), or the first error. Go:
/// `hunch.Waterfall`.
///
/// ```
/// use gort_sync::context;
/// use gort_sync::group::hunch::{self, ExecutableInSequence};
///
/// let steps: Vec<ExecutableInSequence<i32, String>> = vec![
///     Box::new(|_, prev| Ok(prev.unwrap_or(0) + 1)),
///     Box::new(|_, prev| Ok(prev.unwrap() * 10)),
///     Box::new(|_, prev| Ok(prev.unwrap() + 2)),
/// ];
/// assert_eq!(hunch::waterfall(&context::background(), steps), Ok(Some(12)));
/// ```
pub fn waterfall<T, E, F>(ctx: &Context, steps: impl IntoIterator<Item = F>) -> Result<Option<T>, Error<E>>
where
    F: FnOnce(&Context, Option<T>) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    let (rctx, _cancel) = context::with_cancel(ctx);
    let mut prev = None;
    for step in steps {
        let mut racer = Racers::with_capacity(1);
        let (rctx2, input) = (rctx.clone(), prev.take());
        racer.spawn(move || step(&rctx2, input));
        select! {
            recv(racer.results()) -> r => match racer.open(r).1 {
                Ok(v) => prev = Some(v),
                Err(e) => return Err(failed(ctx, e)),
            },
            recv(ctx.done()) => return Err(done(ctx)),
        }
    }
    Ok(prev)
}
