//! Errors of channel operations. Each failed send gives its value back.
//!
//! Go panics with "send on closed channel"; gort returns [`SendError`],
//! whose message is Go's, so `ch.send(v).unwrap()` panics with Go's words
//! and a program that expects closes can recover the value.

use std::fmt;

/// The channel was closed: the value was not sent and comes back.
/// Go: the panic "send on closed channel".
#[derive(PartialEq, Eq, Clone, Copy)]
pub struct SendError<T>(pub T);

/// Why [`try_send`](crate::Chan::try_send) did not send.
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum TrySendError<T> {
    /// No receiver waiting and no buffer room (Go: the select's `default`).
    Full(T),
    /// The channel is closed.
    Closed(T),
}

/// Why [`send_timeout`](crate::Chan::send_timeout) did not send.
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum SendTimeoutError<T> {
    /// The time ran out first.
    Timeout(T),
    /// The channel is (or got) closed.
    Closed(T),
}

/// Why [`try_recv`](crate::Chan::try_recv) got nothing.
#[derive(PartialEq, Eq, Clone, Copy, Debug)]
pub enum TryRecvError {
    /// Nothing to receive now (Go: the select's `default`).
    Empty,
    /// Closed and drained (Go: `v, ok := <-c` with `ok == false`).
    Closed,
}

/// Why [`recv_timeout`](crate::Chan::recv_timeout) got nothing.
#[derive(PartialEq, Eq, Clone, Copy, Debug)]
pub enum RecvTimeoutError {
    /// The time ran out first.
    Timeout,
    /// Closed and drained.
    Closed,
}

impl<T> SendError<T> {
    /// The value that was not sent.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> TrySendError<T> {
    /// The value that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            TrySendError::Full(v) | TrySendError::Closed(v) => v,
        }
    }

    /// Whether the send failed because the channel is closed.
    pub fn is_closed(&self) -> bool {
        matches!(self, TrySendError::Closed(_))
    }
}

impl<T> SendTimeoutError<T> {
    /// The value that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            SendTimeoutError::Timeout(v) | SendTimeoutError::Closed(v) => v,
        }
    }

    /// Whether the send failed because the channel is closed.
    pub fn is_closed(&self) -> bool {
        matches!(self, SendTimeoutError::Closed(_))
    }
}

const CLOSED: &str = "send on closed channel";

/// Go's words, so `ch.send(v).unwrap()` panics with "called `Result::unwrap()`
/// on an `Err` value: send on closed channel". The value is not shown (it
/// need not be `Debug`); take it back with [`SendError::into_inner`].
impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(CLOSED)
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(CLOSED)
    }
}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("send on full channel"),
            TrySendError::Closed(_) => f.write_str(CLOSED),
        }
    }
}

impl<T> fmt::Debug for SendTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendTimeoutError::Timeout(_) => f.write_str("Timeout(..)"),
            SendTimeoutError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for SendTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendTimeoutError::Timeout(_) => f.write_str("timed out sending on channel"),
            SendTimeoutError::Closed(_) => f.write_str(CLOSED),
        }
    }
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("receive on empty channel"),
            TryRecvError::Closed => f.write_str("receive on closed channel"),
        }
    }
}

impl fmt::Display for RecvTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvTimeoutError::Timeout => f.write_str("timed out receiving on channel"),
            RecvTimeoutError::Closed => f.write_str("receive on closed channel"),
        }
    }
}

impl<T> std::error::Error for SendError<T> {}
impl<T> std::error::Error for TrySendError<T> {}
impl<T> std::error::Error for SendTimeoutError<T> {}
impl std::error::Error for TryRecvError {}
impl std::error::Error for RecvTimeoutError {}
