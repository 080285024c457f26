//! gort-netpoll: the epoll netpoller and blocking-style sockets for gort.
//!
//! Go: runtime/netpoll.go, runtime/netpoll_epoll.go, internal/poll, net.
//!
//! The sockets here ([`TcpListener`], [`TcpStream`], [`UdpSocket`],
//! [`UnixListener`], [`UnixStream`], [`UnixDatagram`]) have std's API, and
//! their blocking calls block only the calling goroutine: each call tries
//! the non-blocking syscall first and, on `EAGAIN`, parks the goroutine on
//! the socket's poll descriptor. The runtime's scheduler polls epoll
//! ([`poller`](self) module) without blocking before it steals work, and
//! one idle M blocks in it until the next timer; the goroutines whose
//! sockets became ready run again, on the P that polled them. Both ends
//! of a loopback connection made in the process share an epoll instance
//! of their own P's (a shard), so that their goroutines stay on one core.
//! From a plain thread the same calls block the thread in poll(2), so the
//! types work everywhere.
//!
//! Beyond std: Go's deadlines (`set_deadline`, `set_read_deadline`,
//! `set_write_deadline`, absolute [`std::time::Instant`]s that also cut
//! short a call already blocked), and `close(&self)`, Go's `Close`, which
//! wakes every goroutine blocked on the socket with [`ErrClosed`]. Errors:
//! a deadline or timeout gives `io::ErrorKind::TimedOut` ([`is_timeout`]);
//! a closed socket gives [`ErrClosed`] ([`is_closed`]).
//!
//! [`signal`] delivers incoming signals (SIGINT, SIGTERM...) on channels,
//! Go's `os/signal`. [`lookup_host`] resolves names without stalling a P.
//!
//! ## Futures
//!
//! Every socket also serves futures, on any executor: `poll_read_ready`
//! and `poll_write_ready` (and `poll_accept` on listeners) register the
//! task's waker with the same poll descriptor a goroutine parks on, and
//! the stream types implement the async I/O traits behind cargo features:
//! `tokio-io` (`tokio::io::AsyncRead`/`AsyncWrite`), `futures-io`
//! (`futures_io::AsyncRead`/`AsyncWrite`) and `hyper`
//! (`hyper::rt::Read`/`Write`). Deadlines, timeouts and `close` act on an
//! async wait as on a blocking one.
//!
//! Layers, bottom up: [`pd`](self) (Go's `pollDesc` state machine, plus a
//! waker state), `poller` (epoll through mio's `Poll`, `Registry` and
//! `Waker`, a root instance and one shard per P, with the wait itself a
//! raw `epoll_wait` so that several Ms poll at once; the
//! `gort_runtime::engine::Poller` implementation), `home` (which
//! instance a socket is registered in), `fd_mutex` (Go's `fdMutex`),
//! `fd` (the operation loop, waits, deadlines, close; `fd::poll`, the
//! same for futures), `sys` (the
//! syscalls mio does not make), then the socket types (made by
//! `mio::net`) and `compat` (the async traits).

#![warn(missing_docs)]

#[cfg(any(feature = "tokio-io", feature = "futures-io", feature = "hyper"))]
mod compat;
mod fd;
mod fd_mutex;
mod home;
mod methods;
mod pd;
mod poller;
pub mod signal;
mod sys;
mod tcp;
mod udp;
mod unix;

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixDatagram, UnixIncoming, UnixListener, UnixStream};

/// Resolves `host_port` (`"example.com:443"`, `("localhost", 80)`, an IP
/// address with its port...) to socket addresses: getaddrinfo(3), through
/// std's [`ToSocketAddrs`], run with the P released
/// ([`gort_runtime::syscall`]), so a slow resolver stalls only the calling
/// goroutine, never the others of its P. Go: `net.DefaultResolver`'s
/// lookups under `net.Dial`; tokio's `lookup_host`.
///
/// ```
/// let addrs: Vec<_> = gort_netpoll::lookup_host("localhost:80")?.collect();
/// assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 80));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn lookup_host<A: ToSocketAddrs>(host_port: A) -> io::Result<std::vec::IntoIter<SocketAddr>> {
    sys::resolve(host_port).map(Vec::into_iter)
}

/// The error of an operation on a closed socket, or of one blocked when
/// the socket was closed: Go's `net.ErrClosed`, "use of closed network
/// connection". Its `io::ErrorKind` is `NotConnected`; test with
/// [`is_closed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrClosed;

impl fmt::Display for ErrClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("use of closed network connection")
    }
}

impl std::error::Error for ErrClosed {}

/// The error of an operation whose deadline or timeout passed: Go's
/// `os.ErrDeadlineExceeded`, "i/o timeout", of kind `TimedOut`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrDeadlineExceeded;

impl fmt::Display for ErrDeadlineExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("i/o timeout")
    }
}

impl std::error::Error for ErrDeadlineExceeded {}

/// Whether `e` reports a closed socket ([`ErrClosed`]), Go's
/// `errors.Is(err, net.ErrClosed)`.
pub fn is_closed(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|e| e.is::<ErrClosed>())
}

/// Whether `e` is a timeout (kind `TimedOut`, from a deadline, a timeout,
/// or the OS).
pub fn is_timeout(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::TimedOut
}

pub(crate) fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, ErrClosed)
}

pub(crate) fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, ErrDeadlineExceeded)
}
