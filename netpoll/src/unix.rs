//! Unix domain sockets: [`UnixListener`], [`UnixStream`], [`UnixDatagram`],
//! std's API with blocking calls that park the calling goroutine.
//!
//! Go: net/unixsock.go, net/unixsock_posix.go.
//!
//! The sockets are made by `mio::net` (non-blocking, close-on-exec from
//! the start): bind, listen (backlog raised to the kernel's maximum, as
//! Go), accept, connect and the pairs. Addresses are std's
//! [`std::os::unix::net::SocketAddr`] (mio's too); where std already has
//! the syscall and the address conversion, the operation runs std's method
//! on a borrowed view of the non-blocking fd ([`sys::view`]), inside the
//! usual try-then-wait loop.

use std::fmt;
use std::io;
use std::net::Shutdown;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::{self as stdunix, SocketAddr};
use std::path::Path;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use crate::fd::NetFd;
use crate::methods;
use crate::pd::Mode;
use crate::sys::{self, view};

/// A Unix stream listening socket. Go: `net.UnixListener`. Closing or
/// dropping it does not remove the socket file.
pub struct UnixListener {
    fd: NetFd,
}

/// A Unix stream connection. Go: `net.UnixConn`.
pub struct UnixStream {
    fd: NetFd,
}

/// A Unix datagram socket. Go: `net.UnixConn` on `unixgram`.
pub struct UnixDatagram {
    fd: NetFd,
}

impl UnixListener {
    /// Binds to the socket file `path` and listens.
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        let l = mio::net::UnixListener::bind(path)?;
        sys::listen_max(l.as_raw_fd())?;
        Ok(UnixListener { fd: NetFd::new(l.into()) })
    }

    /// Waits for a connection (see [`crate::TcpListener::accept`]).
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (s, addr) = self.fd.io(Mode::Read, accept)?;
        Ok((UnixStream { fd: NetFd::new(s) }, addr))
    }

    /// [`accept`](Self::accept) for futures (see
    /// [`crate::TcpListener::poll_accept`]).
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(UnixStream, SocketAddr)>> {
        let (s, addr) = ready!(self.fd.poll_io(Mode::Read, cx, accept))?;
        Poll::Ready(Ok((UnixStream { fd: NetFd::new(s) }, addr)))
    }

    /// An endless iterator over accepted connections.
    pub fn incoming(&self) -> UnixIncoming<'_> {
        UnixIncoming { listener: self }
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.fd.with(|fd| view::<stdunix::UnixListener>(fd).local_addr())
    }

    /// Sets (None: clears) the deadline of `accept`.
    pub fn set_deadline(&self, t: Option<Instant>) -> io::Result<()> {
        self.fd.set_deadline(Mode::Read, t)
    }
}

/// One accept of a non-blocking, close-on-exec connection and its peer's
/// address (mio's accept4(2) over the listener's fd).
fn accept(fd: RawFd) -> io::Result<(OwnedFd, SocketAddr)> {
    let (s, addr) = view::<mio::net::UnixListener>(fd).accept()?;
    Ok((s.into(), addr))
}

/// Iterator over [`UnixListener::accept`]'s connections.
pub struct UnixIncoming<'a> {
    listener: &'a UnixListener,
}

impl Iterator for UnixIncoming<'_> {
    type Item = io::Result<UnixStream>;
    fn next(&mut self) -> Option<io::Result<UnixStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

impl UnixStream {
    /// Connects to the socket file `path`. A Unix connect completes at
    /// once (mio's non-blocking connect) unless the listener's backlog is
    /// full; then it blocks until there is room, with the P released
    /// ([`gort_runtime::syscall`]).
    pub fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        let path = path.as_ref();
        match mio::net::UnixStream::connect(path) {
            Ok(s) => Ok(UnixStream { fd: NetFd::new(s.into()) }),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let s = gort_runtime::syscall(|| stdunix::UnixStream::connect(path))?;
                s.set_nonblocking(true)?;
                Ok(UnixStream { fd: NetFd::new(s.into()) })
            }
            Err(e) => Err(e),
        }
    }

    /// A connected pair of streams.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = mio::net::UnixStream::pair()?;
        Ok((UnixStream { fd: NetFd::new(a.into()) }, UnixStream { fd: NetFd::new(b.into()) }))
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.fd.with(|fd| view::<stdunix::UnixStream>(fd).local_addr())
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.fd.with(|fd| view::<stdunix::UnixStream>(fd).peer_addr())
    }

    /// Shuts down one or both halves (see [`crate::TcpStream::shutdown`]).
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.fd.with(|fd| sys::shutdown(fd, how))
    }
}

impl UnixDatagram {
    /// A datagram socket bound to the socket file `path`.
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixDatagram> {
        Ok(UnixDatagram { fd: NetFd::new(mio::net::UnixDatagram::bind(path)?.into()) })
    }

    /// A datagram socket bound to no address.
    pub fn unbound() -> io::Result<UnixDatagram> {
        Ok(UnixDatagram { fd: NetFd::new(mio::net::UnixDatagram::unbound()?.into()) })
    }

    /// A connected pair of datagram sockets.
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = mio::net::UnixDatagram::pair()?;
        Ok((UnixDatagram { fd: NetFd::new(a.into()) }, UnixDatagram { fd: NetFd::new(b.into()) }))
    }

    /// Sets the default peer for `send` and filters `recv` to it.
    pub fn connect<P: AsRef<Path>>(&self, path: P) -> io::Result<()> {
        self.fd.with(|fd| view::<mio::net::UnixDatagram>(fd).connect(path))
    }

    /// Receives one datagram and its sender's address.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.fd.io(Mode::Read, |fd| view::<stdunix::UnixDatagram>(fd).recv_from(buf))
    }

    /// Receives one datagram from the connected peer.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.fd.io(Mode::Read, |fd| sys::recv(fd, buf, 0))
    }

    /// Sends one datagram to the socket file `path`.
    pub fn send_to<P: AsRef<Path>>(&self, buf: &[u8], path: P) -> io::Result<usize> {
        let path = path.as_ref();
        self.fd.io(Mode::Write, |fd| view::<stdunix::UnixDatagram>(fd).send_to(buf, path))
    }

    /// Sends one datagram to the connected peer.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.fd.io(Mode::Write, |fd| sys::send(fd, buf))
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.fd.with(|fd| view::<stdunix::UnixDatagram>(fd).local_addr())
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.fd.with(|fd| view::<stdunix::UnixDatagram>(fd).peer_addr())
    }

    /// Shuts down one or both directions.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.fd.with(|fd| sys::shutdown(fd, how))
    }
}

methods::socket_basics!(
    UnixListener <- stdunix::UnixListener,
    UnixStream <- stdunix::UnixStream,
    UnixDatagram <- stdunix::UnixDatagram,
);
methods::timeouts_and_deadlines!(UnixStream, UnixDatagram);
// Not drained by a short read: a Unix stream read stops at a message
// carrying fds or another writer's credentials with more data queued.
methods::stream_io!(UnixStream: false);
methods::read_ready!(UnixListener, UnixStream, UnixDatagram);
methods::write_ready!(UnixStream, UnixDatagram);

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixListener").field("fd", &self.fd.raw()).finish()
    }
}

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixStream").field("fd", &self.fd.raw()).finish()
    }
}

impl fmt::Debug for UnixDatagram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixDatagram").field("fd", &self.fd.raw()).finish()
    }
}
