//! Aborting HTTP calls from another goroutine: [`Interrupter`] and
//! [`with_context`].
//!
//! Go: net/http's request context (`transport.go` closes the connection
//! when the request's context is done) and `net.Dialer.DialContext`.
//!
//! A goroutine runs calls under an interrupter with [`Interrupter::run`]:
//! the interrupter is pushed on a goroutine-local stack for the duration,
//! and every transport operation of those calls registers its socket with
//! each interrupter on the stack (and takes the nearest of their deadlines)
//! before it blocks. [`Interrupter::interrupt`] marks the interrupter fired
//! and closes the registered socket, which wakes the blocked goroutine with
//! `ErrClosed`; an operation that registers after the interrupter fired
//! fails at once. Both sides hold the interrupter's lock, so an interrupt
//! never slips between a registration and the operation that follows it.
//! When `run` returns the socket is forgotten, so a later interrupt cannot
//! close a pooled connection that another call has since taken.

use std::cell::RefCell;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use gort_sync::context::{self, Context};

use crate::transport::Sock;

gort_runtime::local! {
    /// The interrupters of the calls this goroutine is running, innermost last.
    static SCOPES: RefCell<Vec<Arc<Inner>>> = RefCell::new(Vec::new());
}

#[derive(Debug)]
struct Inner {
    deadline: Option<Instant>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    fired: bool,
    sock: Option<Arc<Sock>>,
}

/// A handle that aborts the HTTP calls run under it, from any goroutine or
/// thread. Clones share the same interrupter.
///
/// ```no_run
/// let agent = gort_http::agent();
/// let stop = gort_http::Interrupter::new();
/// let s = stop.clone();
/// let streaming = gort_runtime::spawn(move || {
///     s.run(|| agent.get("http://127.0.0.1:8080/events").call().map(|_| ()))
/// });
/// stop.interrupt(); // the call returns with an I/O error
/// # let _ = streaming.join();
/// ```
#[derive(Debug, Clone)]
pub struct Interrupter {
    inner: Arc<Inner>,
}

impl Default for Interrupter {
    fn default() -> Self {
        Interrupter::new()
    }
}

impl Interrupter {
    /// An interrupter without a deadline.
    pub fn new() -> Interrupter {
        Interrupter::with_deadline(None)
    }

    /// An interrupter whose calls also stop at `deadline`: every connect,
    /// read and write of them times out then.
    pub fn with_deadline(deadline: Option<Instant>) -> Interrupter {
        Interrupter { inner: Arc::new(Inner { deadline, state: Mutex::new(State::default()) }) }
    }

    /// Runs `f` (which makes HTTP calls on gort agents) under this
    /// interrupter, in the calling goroutine.
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        struct Pop<'a>(&'a Arc<Inner>);
        impl Drop for Pop<'_> {
            fn drop(&mut self) {
                SCOPES.with(|s| {
                    let mut s = s.borrow_mut();
                    if let Some(i) = s.iter().rposition(|x| Arc::ptr_eq(x, self.0)) {
                        s.remove(i);
                    }
                });
                self.0.state.lock().unwrap_or_else(|e| e.into_inner()).sock = None;
            }
        }
        SCOPES.with(|s| s.borrow_mut().push(self.inner.clone()));
        let _pop = Pop(&self.inner);
        f()
    }

    /// Aborts the calls running under this interrupter (closing the socket
    /// one of them is using) and every later one. Idempotent.
    pub fn interrupt(&self) {
        let sock = {
            let mut st = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
            st.fired = true;
            st.sock.take()
        };
        if let Some(s) = sock {
            let _ = s.stream.close();
        }
    }

    /// Whether [`interrupt`](Self::interrupt) was called.
    pub fn is_interrupted(&self) -> bool {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner()).fired
    }

    /// The deadline given at construction.
    pub fn deadline(&self) -> Option<Instant> {
        self.inner.deadline
    }
}

/// The error of an operation started after its interrupter fired.
fn interrupted() -> io::Error {
    io::Error::new(io::ErrorKind::Interrupted, "HTTP call interrupted (its context is done)")
}

/// The nearest deadline of the goroutine's interrupters, or an error if one
/// of them has fired. Called before a connect (the socket does not exist
/// yet).
pub(crate) fn scope_deadline() -> io::Result<Option<Instant>> {
    SCOPES.with(|s| {
        let mut d: Option<Instant> = None;
        for i in s.borrow().iter() {
            if i.state.lock().unwrap_or_else(|e| e.into_inner()).fired {
                return Err(interrupted());
            }
            d = match (d, i.deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        Ok(d)
    })
}

/// Registers `sock` with each of the goroutine's interrupters and returns
/// their nearest deadline; fails if one of them has fired.
pub(crate) fn register(sock: &Arc<Sock>) -> io::Result<Option<Instant>> {
    SCOPES.with(|s| {
        let mut d: Option<Instant> = None;
        for i in s.borrow().iter() {
            let mut st = i.state.lock().unwrap_or_else(|e| e.into_inner());
            if st.fired {
                return Err(interrupted());
            }
            if !st.sock.as_ref().is_some_and(|x| Arc::ptr_eq(x, sock)) {
                st.sock = Some(sock.clone());
            }
            d = match (d, i.deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        Ok(d)
    })
}

/// Runs `f` (HTTP calls on gort agents) under `ctx`, Go's
/// `http.NewRequestWithContext`: the context's deadline bounds every
/// connect, read and write, and its cancellation closes the socket in use,
/// so `f` returns promptly. Returns the context's error if it ended before
/// or while `f` ran (dropping `f`'s result), else `f`'s result.
///
/// ```no_run
/// use std::time::Duration;
/// use gort_sync::context;
/// let agent = gort_http::agent();
/// let (ctx, _cancel) = context::with_timeout(&context::background(), Duration::from_millis(100));
/// match gort_http::with_context(&ctx, || agent.get("http://127.0.0.1:8080/slow").call()) {
///     Err(e) => assert_eq!(e, context::Error::DeadlineExceeded),
///     Ok(resp) => { let _ = resp; }
/// }
/// ```
pub fn with_context<R>(ctx: &Context, f: impl FnOnce() -> R) -> Result<R, context::Error> {
    if let Some(e) = ctx.err() {
        return Err(e);
    }
    // A deadline that has passed is exceeded even if the context's own
    // timer has not fired yet (it may be a moment late on a busy machine).
    if ctx.deadline().is_some_and(|d| Instant::now() >= d) {
        return Err(context::Error::DeadlineExceeded);
    }
    let intr = Interrupter::with_deadline(ctx.deadline());
    let stop = ctx.done_opt().is_some().then(|| {
        let i = intr.clone();
        context::after_func(ctx, move || i.interrupt())
    });
    let r = intr.run(f);
    if let Some(s) = stop {
        s.stop();
    }
    if let Some(e) = ctx.err() {
        return Err(e);
    }
    // The socket's deadline may pass a moment before the context's timer.
    if intr.deadline().is_some_and(|d| Instant::now() >= d) {
        return Err(context::Error::DeadlineExceeded);
    }
    Ok(r)
}
