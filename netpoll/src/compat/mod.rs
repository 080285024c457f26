//! Async I/O adapters: gort's stream sockets ([`crate::TcpStream`],
//! [`crate::UnixStream`], and shared references to them) implement the
//! I/O traits of the async ecosystem, each behind a cargo feature:
//!
//! - `tokio-io`: `tokio::io::AsyncRead` and `AsyncWrite` (the `tokio`
//!   crate with no runtime feature: only its traits);
//! - `futures-io`: `futures_io::AsyncRead` and `AsyncWrite`;
//! - `hyper`: `hyper::rt::Read` and `Write` (hyper 1), so a hyper client
//!   or server connection runs over a gort socket.
//!
//! No Go counterpart: Go code blocks instead. Every poll tries the
//! non-blocking syscall and, on `EAGAIN`, registers the task's waker in
//! the socket's poll descriptor and returns `Pending` (`fd/poll.rs`): no
//! tokio reactor, helper goroutine or duplicated fd is involved, and the
//! futures may run on any executor, on plain threads or in goroutines.
//! Deadlines and timeouts set on the socket apply (a poll fails with
//! `TimedOut`), and closing the socket wakes a waiting task, whose poll
//! fails with [`crate::ErrClosed`], as a blocking call's would.
//!
//! Reads return what one `recv` gives; writes write what one `send` takes
//! (partial writes, as the traits expect, not the blocking `write`'s whole
//! buffer); vectored writes are one `sendmsg`. Flushing does nothing (no
//! buffer); shutting down (`poll_shutdown`, `poll_close`) shuts the write
//! half down, so the peer reads end of file. Only the latest task polling
//! one direction is woken (see `poll_read_ready`).

use std::io;
use std::task::{Context, Poll};

use crate::fd::NetFd;
use crate::pd::Mode;
use crate::sys;

#[cfg(feature = "futures-io")]
mod futures_io;
#[cfg(feature = "hyper")]
mod hyper;
#[cfg(feature = "tokio-io")]
mod tokio;

/// A stream socket the adapters are implemented for (every type given to
/// `methods::stream_io!`), or a reference to one.
pub(crate) trait Stream {
    /// Whether a short read empties the receive queue (TCP; not Unix
    /// streams, whose reads stop at messages carrying credentials): the
    /// next read may wait for readiness before its syscall (fd.rs,
    /// "Drained streams").
    const DRAINS: bool;

    fn net_fd(&self) -> &NetFd;
}

impl<T: Stream> Stream for &T {
    const DRAINS: bool = T::DRAINS;

    fn net_fd(&self) -> &NetFd {
        (**self).net_fd()
    }
}

/// Reads into `buf`: the byte count, 0 at end of file.
#[cfg(feature = "futures-io")]
pub(crate) fn poll_read<S: Stream>(s: &S, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
    let len = buf.len();
    s.net_fd().poll_read_stream(cx, len, S::DRAINS, |fd| sys::recv(fd, buf, 0))
}

/// Reads into a buffer that may be uninitialised: the count of its first
/// bytes written, 0 at end of file.
#[cfg(any(feature = "tokio-io", feature = "hyper"))]
pub(crate) fn poll_read_uninit<S: Stream>(
    s: &S,
    cx: &mut Context<'_>,
    buf: &mut [std::mem::MaybeUninit<u8>],
) -> Poll<io::Result<usize>> {
    let len = buf.len();
    s.net_fd().poll_read_stream(cx, len, S::DRAINS, |fd| sys::recv_uninit(fd, buf))
}

/// Writes what one `send` takes of `buf`.
pub(crate) fn poll_write(s: &impl Stream, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
    s.net_fd().poll_io(Mode::Write, cx, |fd| sys::send(fd, buf))
}

/// Writes what one `sendmsg` takes of `bufs`.
pub(crate) fn poll_write_vectored(
    s: &impl Stream,
    cx: &mut Context<'_>,
    bufs: &[io::IoSlice<'_>],
) -> Poll<io::Result<usize>> {
    s.net_fd().poll_io(Mode::Write, cx, |fd| sys::send_vectored(fd, bufs))
}

/// Shuts the write half down (the peer reads end of file).
pub(crate) fn poll_shutdown(s: &impl Stream) -> Poll<io::Result<()>> {
    Poll::Ready(s.net_fd().with(|fd| sys::shutdown(fd, std::net::Shutdown::Write)))
}

/// Stamps an adapter's impl for each stream type and a shared reference
/// to it; in `$body`, `&*self` (self a `Pin<&mut Self>`) is a
/// `&impl Stream` for the helpers above.
macro_rules! for_streams {
    ($tr:path => $($body:tt)*) => {
        for_streams!(@one $tr, crate::TcpStream, $($body)*);
        for_streams!(@one $tr, &crate::TcpStream, $($body)*);
        for_streams!(@one $tr, crate::UnixStream, $($body)*);
        for_streams!(@one $tr, &crate::UnixStream, $($body)*);
    };
    (@one $tr:path, $t:ty, $($body:tt)*) => {
        impl $tr for $t {
            $($body)*
        }
    };
}
pub(crate) use for_streams;
