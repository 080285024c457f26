//! Why a context ended: [`Error`] (Go's `Canceled` and `DeadlineExceeded`)
//! and [`Cause`] (Go's cause errors, `WithCancelCause` and `Cause`).
//!
//! Go: context/context.go (`Canceled`, `DeadlineExceeded`,
//! `deadlineExceededError`, the `cause` field).
//!
//! Go's `Err()` returns one of two sentinel errors compared with `==`;
//! here it is the two-variant [`Error`], which is `Copy` and compares with
//! `==` the same way. A cause is any error the canceller chose, shared by
//! every context it reaches: [`Cause`] holds it in an `Arc`. Comparing two
//! causes with [`Cause::ptr_eq`] is Go's `==` on error values made by
//! `errors.New`; [`Cause::downcast_ref`] is Go's `errors.As`.

use std::any::Any;
use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::sync::{Arc, LazyLock};

/// Why a context is done: Go's `context.Canceled` and
/// `context.DeadlineExceeded`. Its `Display` is Go's message.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Error {
    /// The context was cancelled (its cancel function was called, or an
    /// ancestor's was). Go: `Canceled`, "context canceled".
    Canceled,
    /// The context's deadline passed. Go: `DeadlineExceeded`, "context
    /// deadline exceeded", whose `Timeout()` and `Temporary()` are true.
    DeadlineExceeded,
}

impl Error {
    /// Whether this is a timeout: true for `DeadlineExceeded`, as Go's
    /// `Timeout()` (so `net.Error`-style checks treat it as one).
    pub fn is_timeout(&self) -> bool {
        *self == Error::DeadlineExceeded
    }

    /// Go's `Temporary()`: true for `DeadlineExceeded`.
    pub fn is_temporary(&self) -> bool {
        self.is_timeout()
    }

    pub(crate) fn code(self) -> u8 {
        match self {
            Error::Canceled => 1,
            Error::DeadlineExceeded => 2,
        }
    }

    /// The error stored as `code` (0 is none).
    pub(crate) fn from_code(code: u8) -> Option<Error> {
        match code {
            0 => None,
            1 => Some(Error::Canceled),
            _ => Some(Error::DeadlineExceeded),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::Canceled => "context canceled",
            Error::DeadlineExceeded => "context deadline exceeded",
        })
    }
}

impl StdError for Error {}

impl From<Error> for io::Error {
    /// `DeadlineExceeded` becomes kind `TimedOut` (what socket deadlines
    /// give), `Canceled` kind `Interrupted`; the message is Go's.
    fn from(e: Error) -> io::Error {
        let kind = match e {
            Error::Canceled => io::ErrorKind::Interrupted,
            Error::DeadlineExceeded => io::ErrorKind::TimedOut,
        };
        io::Error::new(kind, e)
    }
}

/// The error that explains a cancellation: Go's cause (`WithCancelCause`,
/// `WithDeadlineCause`, `Cause`). Any `std::error::Error + Send + Sync`
/// converts into one (`Cause::from(e)` or `e.into()`); clones share it.
///
/// ```
/// use gort_sync::context::{self, Cause};
///
/// #[derive(Debug)]
/// struct Shutdown;
/// impl std::fmt::Display for Shutdown {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str("server shutting down")
///     }
/// }
/// impl std::error::Error for Shutdown {}
///
/// let (ctx, cancel) = context::with_cancel_cause(&context::background());
/// cancel.cancel(Some(Cause::from(Shutdown)));
/// assert_eq!(ctx.err(), Some(context::Canceled));
/// let cause = context::cause(&ctx).unwrap();
/// assert!(cause.is::<Shutdown>());
/// assert_eq!(cause.to_string(), "server shutting down");
/// ```
#[derive(Clone)]
pub struct Cause(Arc<dyn StdError + Send + Sync + 'static>);

static CANCELED: LazyLock<Cause> = LazyLock::new(|| Cause(Arc::new(Error::Canceled)));
static DEADLINE_EXCEEDED: LazyLock<Cause> = LazyLock::new(|| Cause(Arc::new(Error::DeadlineExceeded)));

impl Cause {
    /// Wraps `e`.
    pub fn new<E: StdError + Send + Sync + 'static>(e: E) -> Cause {
        Cause(Arc::new(e))
    }

    /// Wraps an error that is already shared.
    pub fn from_arc(e: Arc<dyn StdError + Send + Sync + 'static>) -> Cause {
        Cause(e)
    }

    /// The cause that stands for `e` itself (shared, no allocation): what
    /// `cause` reports for a context cancelled without a cause.
    pub fn of(e: Error) -> Cause {
        match e {
            Error::Canceled => CANCELED.clone(),
            Error::DeadlineExceeded => DEADLINE_EXCEEDED.clone(),
        }
    }

    /// Whether the cause is an error of type `E` (Go: `errors.As`).
    pub fn is<E: StdError + 'static>(&self) -> bool {
        self.downcast_ref::<E>().is_some()
    }

    /// The cause as an `E`, if it is one.
    pub fn downcast_ref<E: StdError + 'static>(&self) -> Option<&E> {
        let e: &(dyn StdError + 'static) = &*self.0;
        e.downcast_ref::<E>()
    }

    /// Whether both are the same error value (Go's `==` on errors made by
    /// `errors.New` or `fmt.Errorf`).
    pub fn ptr_eq(&self, other: &Cause) -> bool {
        // Compare data addresses only: vtable pointers of one type may
        // differ between codegen units.
        std::ptr::eq(Arc::as_ptr(&self.0) as *const u8, Arc::as_ptr(&other.0) as *const u8)
    }

    /// The shared error.
    pub fn into_inner(self) -> Arc<dyn StdError + Send + Sync + 'static> {
        self.0
    }

    /// The error, as a trait object.
    pub fn as_error(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.0
    }
}

impl<E: StdError + Send + Sync + 'static> From<E> for Cause {
    fn from(e: E) -> Cause {
        // The two context errors map to their shared causes, so that a
        // cause equal to the context's error compares equal with ptr_eq.
        if let Some(ce) = (&e as &dyn Any).downcast_ref::<Error>() {
            return Cause::of(*ce);
        }
        Cause::new(e)
    }
}

impl std::ops::Deref for Cause {
    type Target = dyn StdError + Send + Sync + 'static;
    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl fmt::Debug for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl PartialEq<Error> for Cause {
    /// Whether the cause is the context error `e` (Go: `Cause(ctx) ==
    /// context.Canceled`).
    fn eq(&self, e: &Error) -> bool {
        self.downcast_ref::<Error>() == Some(e)
    }
}
