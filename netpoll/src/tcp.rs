//! TCP: [`TcpListener`] and [`TcpStream`], std's API with blocking calls
//! that park the calling goroutine instead of its thread.
//!
//! Go: net/tcpsock.go, net/tcpsock_posix.go, net/sock_posix.go
//! (`netFD.connect`), internal/poll/fd_unix.go (`Accept`).
//!
//! The sockets are made by `mio::net` (non-blocking and close-on-exec
//! from the start): `bind` and `listen` by `mio::net::TcpListener::bind`
//! (then the backlog raised to the kernel's maximum, as Go), `accept` by
//! mio's over the listener's fd, and the connect started by
//! `mio::net::TcpStream::connect`, which, as Go's `netFD.connect`, treats
//! `EINPROGRESS` as started; gort then waits for writability and reads
//! `SO_ERROR`. The sockets stay gort's `NetFd`s, registered with the
//! poller by fd.
//!
//! Like Go (and unlike std), streams have `TCP_NODELAY` set: small writes go
//! out at once. A `write` writes the whole buffer unless an error (or a
//! deadline) stops it, and concurrent writes on one stream do not
//! interleave.

use std::fmt;
use std::io;
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use crate::fd::NetFd;
use crate::home;
use crate::methods;
use crate::pd::Mode;
use crate::sys;

/// A TCP listening socket. Go: `net.TCPListener`.
///
/// ```no_run
/// use std::io::{Read, Write};
/// let ln = gort_netpoll::TcpListener::bind("127.0.0.1:8080")?;
/// loop {
///     let (mut c, _) = ln.accept()?;
///     gort_runtime::spawn(move || {
///         let mut buf = [0u8; 4096];
///         while let Ok(n @ 1..) = c.read(&mut buf) {
///             if c.write_all(&buf[..n]).is_err() {
///                 break;
///             }
///         }
///     });
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct TcpListener {
    fd: NetFd,
}

/// A TCP connection. Go: `net.TCPConn`.
pub struct TcpStream {
    fd: NetFd,
}

impl TcpListener {
    /// Binds to `addr` and listens, with the kernel's maximum backlog
    /// (`somaxconn`, as Go). Names are resolved off the P. The first
    /// resolved address that binds wins.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        sys::each_addr(addr, |a| {
            let l = mio::net::TcpListener::bind(*a)?;
            sys::listen_max(l.as_raw_fd())?;
            Ok(TcpListener { fd: NetFd::new(l.into()) })
        })
    }

    /// Waits for a connection. Fails with `TimedOut` after the deadline
    /// ([`TcpListener::set_deadline`]) and with [`crate::ErrClosed`] once
    /// the listener is closed, also when already waiting.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (s, addr) = self.fd.io(Mode::Read, accept)?;
        Ok((TcpStream::accepted(s, &addr)?, addr))
    }

    /// [`accept`](Self::accept) for futures: takes a pending connection,
    /// or registers `cx`'s waker and returns `Pending` (see
    /// `poll_read_ready`).
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let (s, addr) = ready!(self.fd.poll_io(Mode::Read, cx, accept))?;
        Poll::Ready(Ok((TcpStream::accepted(s, &addr)?, addr)))
    }

    /// An endless iterator over accepted connections (std's `incoming`).
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.fd.with(sys::local_addr)
    }

    /// Sets (None: clears) the deadline of `accept`, Go's `SetDeadline`.
    pub fn set_deadline(&self, t: Option<Instant>) -> io::Result<()> {
        self.fd.set_deadline(Mode::Read, t)
    }
}

/// One accept of a non-blocking, close-on-exec connection (mio's
/// accept4(2) over the listener's fd).
fn accept(fd: RawFd) -> io::Result<(mio::net::TcpStream, SocketAddr)> {
    match sys::view::<mio::net::TcpListener>(fd).accept() {
        // The peer went away before we took it: wait for the next.
        Err(e) if e.raw_os_error() == Some(libc::ECONNABORTED) => Err(io::ErrorKind::WouldBlock.into()),
        r => r,
    }
}

/// Iterator over [`TcpListener::accept`]'s connections.
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;
    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

impl TcpStream {
    fn from_mio(s: mio::net::TcpStream) -> io::Result<TcpStream> {
        s.set_nodelay(true)?;
        Ok(TcpStream { fd: NetFd::new(s.into()) })
    }

    /// A connection accepted from `peer`, homed with its connecting end if
    /// that is this process's ([`crate::home`]).
    fn accepted(s: mio::net::TcpStream, peer: &SocketAddr) -> io::Result<TcpStream> {
        let s = TcpStream::from_mio(s)?;
        s.fd.set_home(home::accepted(peer));
        Ok(s)
    }

    /// Connects to `addr`, trying each resolved address in turn. Names
    /// are resolved off the P; the connect itself parks until it completes.
    pub fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        sys::each_addr(addr, |a| TcpStream::connect_addr(a, None))
    }

    /// Connects to `addr`, failing with `TimedOut` after `timeout`.
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        if timeout.is_zero() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "cannot set a 0 duration timeout"));
        }
        TcpStream::connect_addr(addr, Some(timeout))
    }

    /// Go: `netFD.connect`.
    fn connect_addr(addr: &SocketAddr, timeout: Option<Duration>) -> io::Result<TcpStream> {
        // mio starts the connect; `EINPROGRESS` is a connect under way.
        let s = loop {
            match mio::net::TcpStream::connect(*addr) {
                // Interrupted before it started (Go: EINTR is in progress,
                // but mio closed that socket): start again.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => break TcpStream::from_mio(r?)?,
            }
        };
        // A loopback connection's two ends share a home (`crate::home`);
        // the local port is bound once the connect started, before the
        // peer can accept.
        let home = home::for_connect(addr);
        if home != home::NONE {
            s.fd.set_home(home);
            home::connected(&sys::local_addr(s.fd.raw())?, home);
        }
        let deadline = timeout.map_or(0, |t| {
            gort_runtime::engine::nanotime().saturating_add(t.as_nanos().min(i64::MAX as u128) as i64)
        });
        let _h = s.fd.lock(Mode::Write)?;
        loop {
            match sys::getsockopt(s.fd.raw(), libc::SOL_SOCKET, libc::SO_ERROR)? {
                libc::EINPROGRESS | libc::EALREADY | libc::EINTR => {}
                0 | libc::EISCONN => {
                    // Completed at once, or a wake-up that may be spurious:
                    // connected only if it has a peer.
                    if sys::peer_addr(s.fd.raw()).is_ok() {
                        drop(_h);
                        return Ok(s);
                    }
                }
                e => return Err(io::Error::from_raw_os_error(e)),
            }
            s.fd.wait(Mode::Write, deadline)?;
        }
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.fd.with(sys::peer_addr)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.fd.with(sys::local_addr)
    }

    /// Shuts down the read half, the write half, or both. After
    /// `Shutdown::Write` the peer reads end-of-file; a goroutine blocked in
    /// `read` on this stream after `Shutdown::Read` (or `Both`) returns 0.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.fd.with(|fd| sys::shutdown(fd, how))
    }

    /// Sets `TCP_NODELAY` (on by default, as in Go).
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.fd.with(|fd| sys::setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, on as libc::c_int))
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.fd.with(|fd| sys::getsockopt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY).map(|v| v != 0))
    }

    /// Reads without consuming (`MSG_PEEK`).
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.fd.io(Mode::Read, |fd| sys::recv(fd, buf, libc::MSG_PEEK))
    }

    /// Whether a read would return at once: data has arrived, the peer
    /// closed the connection (end of file), or an error waits. Waits up
    /// to `timeout` for it, parking the goroutine (None: as long as it
    /// takes); `Some(Duration::ZERO)` probes now and never waits. Nothing
    /// is consumed.
    ///
    /// A connection pool (ureq's `is_open`) probes an idle connection
    /// before reusing it: an idle HTTP/1.1 connection has nothing to read,
    /// so `Ok(true)` means the server closed it (or broke the protocol),
    /// and it must be dropped. The read deadline (`set_read_deadline`)
    /// ends a wait with `TimedOut`; the read timeout does not apply.
    /// Fails with [`crate::ErrClosed`] on a closed stream.
    ///
    /// ```
    /// use std::time::Duration;
    /// let ln = gort_netpoll::TcpListener::bind("127.0.0.1:0")?;
    /// let c = gort_netpoll::TcpStream::connect(ln.local_addr()?)?;
    /// let (s, _) = ln.accept()?;
    /// assert!(!c.poll_readable(Some(Duration::ZERO))?, "idle: nothing to read");
    /// drop(s); // the server closes the connection
    /// assert!(c.poll_readable(Some(Duration::from_secs(10)))?, "end of file arrived");
    /// assert!(c.poll_readable(Some(Duration::ZERO))?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn poll_readable(&self, timeout: Option<Duration>) -> io::Result<bool> {
        if timeout == Some(Duration::ZERO) {
            return self.fd.with(|fd| sys::poll_now(fd, Mode::Read));
        }
        let until = timeout.map_or(0, |t| {
            gort_runtime::engine::nanotime().saturating_add(t.as_nanos().min(i64::MAX as u128) as i64)
        });
        let r = self.fd.io_until(Mode::Read, until, |fd| match sys::poll_now(fd, Mode::Read)? {
            true => Ok(()),
            false => Err(io::ErrorKind::WouldBlock.into()),
        });
        match r {
            Ok(()) => Ok(true),
            Err(e) if until != 0 && sys_timed_out(&e) && gort_runtime::engine::nanotime() >= until => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }
}

/// Whether `e` is a deadline's error (not the OS's `ETIMEDOUT`).
fn sys_timed_out(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|e| e.is::<crate::ErrDeadlineExceeded>())
}

methods::socket_basics!(TcpListener <- std::net::TcpListener, TcpStream <- std::net::TcpStream);
methods::timeouts_and_deadlines!(TcpStream);
methods::ip_ttl!(TcpListener, TcpStream);
methods::stream_io!(TcpStream: true);
methods::read_ready!(TcpListener, TcpStream);
methods::write_ready!(TcpStream);

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TcpStream");
        if let Ok(a) = self.local_addr() {
            d.field("addr", &a);
        }
        if let Ok(a) = self.peer_addr() {
            d.field("peer", &a);
        }
        d.field("fd", &self.fd.raw()).finish()
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TcpListener");
        if let Ok(a) = self.local_addr() {
            d.field("addr", &a);
        }
        d.field("fd", &self.fd.raw()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::sync::mpsc;

    /// Both ends of a loopback connection made in the process are
    /// registered in one poller shard, successive connections take the
    /// shards in turn, and a connection from a peer this process did not
    /// connect (std's socket here) is registered in the root
    /// (`crate::home`).
    #[test]
    fn a_loopback_connections_two_ends_share_a_shard() {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let rt = gort_runtime::Runtime::builder().max_procs(2).build().unwrap();
            let shards = rt.block_on(|| {
                let ln = TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = ln.local_addr().unwrap();
                // A read that times out binds a socket to the poller.
                let bind = |end: &mut TcpStream| {
                    end.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
                    let e = end.read(&mut [0u8; 1]).unwrap_err();
                    assert_eq!(e.kind(), io::ErrorKind::TimedOut);
                    end.fd.shard().unwrap()
                };
                let mut shards = Vec::new();
                for _ in 0..8 {
                    let mut c = TcpStream::connect(addr).unwrap();
                    let (mut s, _) = ln.accept().unwrap();
                    shards.push((bind(&mut c), bind(&mut s)));
                }
                let _foreign = std::net::TcpStream::connect(addr).unwrap();
                let (mut s, _) = ln.accept().unwrap();
                (shards, bind(&mut s))
            });
            tx.send(shards).unwrap();
        });
        let (shards, foreign) = rx.recv_timeout(Duration::from_secs(20)).expect("the test hung");
        for (c, s) in &shards {
            assert!(c.is_some(), "a loopback connection without a home: {shards:?}");
            assert_eq!(c, s, "the two ends of a connection are in different shards: {shards:?}");
        }
        let in_0 = shards.iter().filter(|(c, _)| *c == Some(0)).count();
        assert!((2..=6).contains(&in_0), "connections per shard {in_0} of 8: {shards:?}");
        assert_eq!(foreign, None, "a foreign peer's connection is not in the root");
    }
}
