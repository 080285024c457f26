//! gollback: run functions concurrently and collect their results
//! ([`all`]), take the first success ([`race`]), or retry one
//! ([`retry`]).
//!
//! Go: github.com/vardius/gollback (`All`, `Race`, `Retry` over
//! `AsyncFunc func(ctx) (interface{}, error)`).
//!
//! A function here is any `FnOnce(&Context) -> Result<T, E>` (`FnMut` for
//! `retry`); to pass different closures in one call, box them as
//! [`AsyncFunc`]. Each function of `all` and `race` runs in its own
//! goroutine with the caller's context (`race`: a context derived from
//! it, cancelled once `race` returns).
//!
//! What the upstream code leaves open, decided here:
//! - `race` returns the error of the **last function to fail**, and only
//!   once every function has failed (upstream answers with the error of
//!   the last function *in the argument list* as soon as that one fails,
//!   even if another would still succeed).
//! - `race` returns [`Error::Context`] if the caller's context is done
//!   before any success, and [`Error::NoCallbacks`] for no functions
//!   (upstream would wait for ever).
//! - A function that panics: `all`, and `race` until it has its answer,
//!   resume the panic in the caller; a panic in a function `race` no
//!   longer waits for follows the runtime's policy for unjoined goroutines
//!   (by default the process ends, as in Go).

use gort_channels::select;

use super::Error;
use super::racers::Racers;
use crate::context::{self, Context};

/// A boxed gollback function, for passing different closures in one call
/// (Go: `AsyncFunc`).
pub type AsyncFunc<T, E> = Box<dyn FnOnce(&Context) -> Result<T, E> + Send>;

/// Runs every function concurrently and waits for all of them; returns
/// their results and errors **in the order of `fns`**: for each function,
/// `Some` value in the first vector or `Some` error in the second. Go:
/// `gollback.All`.
///
/// The course's example: three functions, the first slow, the second
/// failing.
///
/// ```
/// use std::time::Duration;
/// use gort_sync::context;
/// use gort_sync::group::gollback::{self, AsyncFunc};
///
/// let fns: Vec<AsyncFunc<i32, String>> = vec![
///     Box::new(|_ctx| {
///         gort_runtime::sleep(Duration::from_millis(30));
///         Ok(1)
///     }),
///     Box::new(|_ctx| Err("failed".to_string())),
///     Box::new(|_ctx| Ok(3)),
/// ];
/// let (rs, errs) = gollback::all(&context::background(), fns);
/// assert_eq!(rs, [Some(1), None, Some(3)]);
/// assert_eq!(errs, [None, Some("failed".to_string()), None]);
/// ```
pub fn all<T, E, F>(ctx: &Context, fns: impl IntoIterator<Item = F>) -> (Vec<Option<T>>, Vec<Option<E>>)
where
    F: FnOnce(&Context) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    let handles: Vec<_> = fns
        .into_iter()
        .map(|f| {
            let ctx = ctx.clone();
            gort_runtime::spawn(move || f(&ctx))
        })
        .collect();
    let (mut rs, mut errs) = (Vec::with_capacity(handles.len()), Vec::with_capacity(handles.len()));
    for h in handles {
        match h.join() {
            Ok(Ok(v)) => {
                rs.push(Some(v));
                errs.push(None);
            }
            Ok(Err(e)) => {
                rs.push(None);
                errs.push(Some(e));
            }
            Err(p) => p.resume(),
        }
    }
    (rs, errs)
}

/// Runs every function concurrently and returns the first success; then
/// cancels the context the others got, so they can stop. If every
/// function fails, returns the last error; if `ctx` is done first (or by
/// the time the last function failed), [`Error::Context`]; with no
/// functions, [`Error::NoCallbacks`]. Go: `gollback.Race`.
///
/// ```
/// use std::time::Duration;
/// use gort_sync::context;
/// use gort_sync::group::gollback::{self, AsyncFunc};
///
/// let fns: Vec<AsyncFunc<&str, String>> = vec![
///     Box::new(|ctx| {
///         // The slow replica: stops when the race is won.
///         ctx.done().recv();
///         Err("cancelled".into())
///     }),
///     Box::new(|_| Ok("fast replica")),
/// ];
/// assert_eq!(gollback::race(&context::background(), fns), Ok("fast replica"));
/// ```
pub fn race<T, E, F>(ctx: &Context, fns: impl IntoIterator<Item = F>) -> Result<T, Error<E>>
where
    F: FnOnce(&Context) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    let fns: Vec<F> = fns.into_iter().collect();
    if fns.is_empty() {
        return Err(Error::NoCallbacks);
    }
    let n = fns.len();
    // Dropping `_cancel` on return cancels the losers' context.
    let (rctx, _cancel) = context::with_cancel(ctx);
    let mut racers = Racers::with_capacity(n);
    for f in fns {
        let rctx = rctx.clone();
        racers.spawn(move || f(&rctx));
    }
    let mut last = None;
    for _ in 0..n {
        select! {
            recv(racers.results()) -> r => match racers.open(r).1 {
                Ok(v) => return Ok(v),
                Err(e) => last = Some(e),
            },
            recv(ctx.done()) => return Err(Error::Context(ctx.err().unwrap_or(context::Canceled))),
        }
    }
    // The context's error takes priority: the functions most likely failed
    // because of it.
    match ctx.err() {
        Some(e) => Err(Error::Context(e)),
        None => Err(Error::Failed(last.expect("n > 0 functions failed"))),
    }
}

/// Calls `f` until it succeeds, at most `retries` times in all (`0`: until
/// it succeeds, however long that takes); returns its value, or its last
/// error. The context is checked before each attempt: once it is done,
/// returns [`Error::Context`]. Attempts follow each other at once, in the
/// calling goroutine, with no backoff (combine `retries == 0` with a
/// deadline context). Go: `gollback.Retry` (whose parameter upstream
/// spells `retires`).
///
/// The course's example: five attempts or five seconds, whichever ends
/// first.
///
/// ```
/// use std::time::Duration;
/// use gort_sync::context;
/// use gort_sync::group::{Error, gollback};
///
/// let (ctx, _cancel) = context::with_timeout(&context::background(), Duration::from_secs(5));
/// let mut attempts = 0;
/// let r: Result<(), _> = gollback::retry(&ctx, 5, |_| {
///     attempts += 1;
///     Err("failed")
/// });
/// assert_eq!(r, Err(Error::Failed("failed")));
/// assert_eq!(attempts, 5);
/// ```
pub fn retry<T, E>(
    ctx: &Context,
    retries: usize,
    mut f: impl FnMut(&Context) -> Result<T, E>,
) -> Result<T, Error<E>> {
    let mut attempt = 1usize;
    loop {
        if let Some(e) = ctx.err() {
            return Err(Error::Context(e));
        }
        match f(ctx) {
            Ok(v) => return Ok(v),
            Err(e) if attempt == retries => return Err(Error::Failed(e)),
            Err(_) => attempt = attempt.wrapping_add(1),
        }
        // A function that fails at once must not keep its P for ever.
        gort_runtime::preempt_point();
    }
}
