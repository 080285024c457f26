//! Unix domain sockets: [`UnixListener`], [`UnixStream`], [`UnixDatagram`],
//! std's API with blocking calls that park the calling goroutine.
//!
//! Go: net/unixsock.go, net/unixsock_posix.go.
//!
//! Addresses are std's [`std::os::unix::net::SocketAddr`]; where std
//! already has the syscall and the address conversion, the operation runs
//! std's method on a borrowed view of the non-blocking fd, inside the
//! usual try-then-wait loop.

use std::fmt;
use std::io;
use std::mem::ManuallyDrop;
use std::net::Shutdown;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{self as stdunix, SocketAddr};
use std::path::Path;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use crate::fd::NetFd;
use crate::methods;
use crate::pd::Mode;
use crate::sys::{self, cvt};

/// std's socket type `T` over `fd`, without owning it.
fn view<T: FromRawFd>(fd: RawFd) -> ManuallyDrop<T> {
    // SAFETY: callers pass an fd they hold a reference to, so it stays
    // open while the view lives; ManuallyDrop keeps the view from closing
    // it.
    ManuallyDrop::new(unsafe { T::from_raw_fd(fd) })
}

fn adopt(fd: OwnedFd) -> io::Result<NetFd> {
    sys::set_nonblocking(fd.as_raw_fd())?;
    Ok(NetFd::new(fd))
}

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
        let l = stdunix::UnixListener::bind(path)?;
        Ok(UnixListener { fd: adopt(l.into())? })
    }

    /// Waits for a connection (see [`crate::TcpListener::accept`]).
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let fd = self.fd.io(Mode::Read, accept4)?;
        let addr = view::<stdunix::UnixStream>(fd.as_raw_fd()).peer_addr()?;
        Ok((UnixStream { fd: NetFd::new(fd) }, addr))
    }

    /// [`accept`](Self::accept) for futures (see
    /// [`crate::TcpListener::poll_accept`]).
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(UnixStream, SocketAddr)>> {
        let fd = ready!(self.fd.poll_io(Mode::Read, cx, accept4))?;
        let addr = view::<stdunix::UnixStream>(fd.as_raw_fd()).peer_addr()?;
        Poll::Ready(Ok((UnixStream { fd: NetFd::new(fd) }, addr)))
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

/// One accept4(2) of a non-blocking, close-on-exec connection.
fn accept4(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: accept4 without an address buffer is valid.
    let r = unsafe {
        libc::accept4(
            fd,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        )
    };
    // SAFETY: accept4 returned a new fd that nobody else owns.
    cvt(r).map(|n| unsafe { OwnedFd::from_raw_fd(n) })
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
    /// once or blocks only while the listener's backlog is full; it runs
    /// with the P released ([`gort_runtime::syscall`]).
    pub fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        let s = gort_runtime::syscall(|| stdunix::UnixStream::connect(path))?;
        Ok(UnixStream { fd: adopt(s.into())? })
    }

    /// A connected pair of streams.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = stdunix::UnixStream::pair()?;
        Ok((UnixStream { fd: adopt(a.into())? }, UnixStream { fd: adopt(b.into())? }))
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
        Ok(UnixDatagram { fd: adopt(stdunix::UnixDatagram::bind(path)?.into())? })
    }

    /// A datagram socket bound to no address.
    pub fn unbound() -> io::Result<UnixDatagram> {
        Ok(UnixDatagram { fd: adopt(stdunix::UnixDatagram::unbound()?.into())? })
    }

    /// A connected pair of datagram sockets.
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = stdunix::UnixDatagram::pair()?;
        Ok((UnixDatagram { fd: adopt(a.into())? }, UnixDatagram { fd: adopt(b.into())? }))
    }

    /// Sets the default peer for `send` and filters `recv` to it.
    pub fn connect<P: AsRef<Path>>(&self, path: P) -> io::Result<()> {
        self.fd.with(|fd| view::<stdunix::UnixDatagram>(fd).connect(path))
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
methods::stream_io!(UnixStream);
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
