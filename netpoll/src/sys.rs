//! Thin wrappers over the socket syscalls that mio does not make: socket
//! options, address conversion for the datagram calls, the hot send and
//! receive calls, name resolution off the P. Sockets themselves are made
//! by `mio::net` (non-blocking, close-on-exec: bind, listen, accept,
//! connect); [`view`] lends a mio or std socket type over a gort fd.
//!
//! Go: net/sock_posix.go (`socket`), net/ipsock_posix.go (`sockaddr`),
//! net/sock_linux.go (`maxListenerBacklog`), syscall's sockaddr conversion.

use std::io;
use std::mem::{self, ManuallyDrop};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, ToSocketAddrs};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::OnceLock;

/// Turns a -1 syscall result into the errno error.
pub(crate) fn cvt<T: PartialOrd + Default>(r: T) -> io::Result<T> {
    if r < T::default() { Err(io::Error::last_os_error()) } else { Ok(r) }
}

/// The socket type `T` (mio's or std's) over `fd`, without owning it: to
/// run one of its methods on a gort socket.
pub(crate) fn view<T: FromRawFd>(fd: RawFd) -> ManuallyDrop<T> {
    // SAFETY: callers pass the fd of a socket of T's kind that they hold a
    // reference to, so it stays open while the view lives; ManuallyDrop
    // keeps the view from closing it.
    ManuallyDrop::new(unsafe { T::from_raw_fd(fd) })
}

/// Sets a listening socket's backlog to the kernel's maximum
/// ([`listen_backlog`], Go's `maxListenerBacklog`): mio listens with std's
/// 128 (TCP), and listen(2) on a socket that listens already changes its
/// backlog on Linux.
pub(crate) fn listen_max(fd: RawFd) -> io::Result<()> {
    // SAFETY: listen on a socket the caller owns; no memory is passed.
    cvt(unsafe { libc::listen(fd, listen_backlog()) }).map(drop)
}

/// Sets an integer socket option.
pub(crate) fn setsockopt(fd: RawFd, level: libc::c_int, name: libc::c_int, v: libc::c_int) -> io::Result<()> {
    // SAFETY: passes a pointer to a local int and its size.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&raw const v).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// Reads an integer socket option.
pub(crate) fn getsockopt(fd: RawFd, level: libc::c_int, name: libc::c_int) -> io::Result<libc::c_int> {
    let mut v: libc::c_int = 0;
    let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: passes a pointer to a local int and its size.
    cvt(unsafe { libc::getsockopt(fd, level, name, (&raw mut v).cast(), &mut len) })?;
    Ok(v)
}

/// A socket address in C form.
pub(crate) struct RawAddr {
    pub(crate) storage: libc::sockaddr_storage,
    pub(crate) len: libc::socklen_t,
}

impl RawAddr {
    /// Zeroed storage to receive an address.
    pub(crate) fn empty() -> RawAddr {
        // SAFETY: sockaddr_storage is plain data; all-zero is valid.
        RawAddr { storage: unsafe { mem::zeroed() }, len: mem::size_of::<libc::sockaddr_storage>() as _ }
    }

    pub(crate) fn from(addr: &SocketAddr) -> RawAddr {
        let mut r = RawAddr::empty();
        match addr {
            SocketAddr::V4(a) => {
                // SAFETY: sockaddr_storage is large and aligned enough for
                // any sockaddr type.
                let sin = unsafe { &mut *(&raw mut r.storage).cast::<libc::sockaddr_in>() };
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_port = a.port().to_be();
                sin.sin_addr = libc::in_addr { s_addr: u32::from_ne_bytes(a.ip().octets()) };
                r.len = mem::size_of::<libc::sockaddr_in>() as _;
            }
            SocketAddr::V6(a) => {
                // SAFETY: sockaddr_storage is large and aligned enough for a
                // sockaddr_in6 too, and `r` is a local that nothing else
                // borrows.
                let sin6 = unsafe { &mut *(&raw mut r.storage).cast::<libc::sockaddr_in6>() };
                sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sin6.sin6_port = a.port().to_be();
                sin6.sin6_addr = libc::in6_addr { s6_addr: a.ip().octets() };
                sin6.sin6_flowinfo = a.flowinfo();
                sin6.sin6_scope_id = a.scope_id();
                r.len = mem::size_of::<libc::sockaddr_in6>() as _;
            }
        }
        r
    }

    pub(crate) fn ptr(&self) -> *const libc::sockaddr {
        (&raw const self.storage).cast()
    }

    pub(crate) fn mut_ptr(&mut self) -> *mut libc::sockaddr {
        (&raw mut self.storage).cast()
    }

    /// The address as an IP socket address.
    pub(crate) fn to_socket_addr(&self) -> io::Result<SocketAddr> {
        match self.storage.ss_family as libc::c_int {
            libc::AF_INET if self.len as usize >= mem::size_of::<libc::sockaddr_in>() => {
                // SAFETY: the family says it is a sockaddr_in, and it fits.
                let sin = unsafe { &*(&raw const self.storage).cast::<libc::sockaddr_in>() };
                let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
                Ok(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(sin.sin_port))))
            }
            libc::AF_INET6 if self.len as usize >= mem::size_of::<libc::sockaddr_in6>() => {
                // SAFETY: the family says it is a sockaddr_in6, and it fits.
                let sin6 = unsafe { &*(&raw const self.storage).cast::<libc::sockaddr_in6>() };
                let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                Ok(SocketAddr::V6(SocketAddrV6::new(
                    ip,
                    u16::from_be(sin6.sin6_port),
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                )))
            }
            _ => Err(io::Error::new(io::ErrorKind::InvalidInput, "invalid socket address family")),
        }
    }
}

/// Resolves `addr` on the calling thread with the P released, so a slow
/// DNS lookup never stalls other goroutines (getaddrinfo blocks).
pub(crate) fn resolve<A: ToSocketAddrs>(addr: A) -> io::Result<Vec<SocketAddr>> {
    gort_runtime::syscall(|| addr.to_socket_addrs().map(Iterator::collect))
}

/// Runs `f` on each resolved address until one succeeds; std's rule for
/// `connect` and `bind`.
pub(crate) fn each_addr<A: ToSocketAddrs, T>(
    addr: A,
    mut f: impl FnMut(&SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for a in resolve(addr)? {
        match f(&a) {
            Ok(v) => return Ok(v),
            Err(e) => last = Some(e),
        }
    }
    Err(last
        .unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "could not resolve to any addresses")))
}

/// The listen backlog: the kernel's `somaxconn` (Go:
/// `maxListenerBacklog`), 4096 if unreadable.
pub(crate) fn listen_backlog() -> libc::c_int {
    static N: OnceLock<libc::c_int> = OnceLock::new();
    *N.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|s| s.trim().parse::<libc::c_int>().ok())
            .filter(|&n| n > 0)
            .unwrap_or(4096)
            .min(65535)
    })
}

/// Duplicates `fd` (close-on-exec), for `try_clone`.
pub(crate) fn dup(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: fcntl on an fd we hold a reference to; the result is checked.
    let n = cvt(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) })?;
    // SAFETY: n was just created and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(n) })
}

/// Makes a socket taken from std non-blocking.
pub(crate) fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    let mut on: libc::c_int = 1;
    // SAFETY: FIONBIO reads an int from a valid local pointer.
    cvt(unsafe { libc::ioctl(fd, libc::FIONBIO, &mut on) }).map(drop)
}

/// recv(2) into `buf`.
///
/// The hot syscalls go through `syscall(2)` rather than glibc's wrappers:
/// those are thread-cancellation points and pay for enabling and disabling
/// asynchronous cancellation around every call, which gort never uses (Go
/// issues raw syscalls too).
#[inline]
pub(crate) fn recv(fd: RawFd, buf: &mut [u8], flags: libc::c_int) -> io::Result<usize> {
    // SAFETY: recvfrom with a buffer valid for writes of its length and no
    // address buffer.
    let r = unsafe {
        libc::syscall(
            libc::SYS_recvfrom,
            fd,
            buf.as_mut_ptr(),
            buf.len(),
            flags,
            std::ptr::null_mut::<libc::sockaddr>(),
            std::ptr::null_mut::<libc::socklen_t>(),
        )
    };
    cvt(r).map(|n| n as usize)
}

/// send(2) from `buf`, without SIGPIPE (see [`recv`] on `syscall(2)`).
#[inline]
pub(crate) fn send(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: sendto with a buffer valid for reads of its length and no
    // address.
    let r = unsafe {
        libc::syscall(
            libc::SYS_sendto,
            fd,
            buf.as_ptr(),
            buf.len(),
            libc::MSG_NOSIGNAL,
            std::ptr::null::<libc::sockaddr>(),
            0 as libc::socklen_t,
        )
    };
    cvt(r).map(|n| n as usize)
}

/// [`recv`] into a buffer that may be uninitialised; returns how many of
/// its first bytes the kernel wrote.
#[cfg(any(feature = "tokio-io", feature = "hyper"))]
pub(crate) fn recv_uninit(fd: RawFd, buf: &mut [mem::MaybeUninit<u8>]) -> io::Result<usize> {
    // SAFETY: recvfrom only writes into the buffer, at most its length;
    // no address buffer.
    let r = unsafe {
        libc::syscall(
            libc::SYS_recvfrom,
            fd,
            buf.as_mut_ptr(),
            buf.len(),
            0,
            std::ptr::null_mut::<libc::sockaddr>(),
            std::ptr::null_mut::<libc::socklen_t>(),
        )
    };
    cvt(r).map(|n| n as usize)
}

/// sendmsg(2) of several buffers at once, without SIGPIPE (writev would
/// raise it).
#[cfg(any(feature = "tokio-io", feature = "futures-io", feature = "hyper"))]
pub(crate) fn send_vectored(fd: RawFd, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
    // SAFETY: msghdr is plain data; all-zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    // IoSlice is ABI-compatible with iovec on Unix (std guarantees it).
    msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
    // At most IOV_MAX (1024 on Linux) buffers per call; the rest is a
    // partial write.
    msg.msg_iovlen = bufs.len().min(1024) as _;
    // SAFETY: msg points at `bufs`' iovecs, valid for reads for the call.
    cvt(unsafe { libc::sendmsg(fd, &msg, libc::MSG_NOSIGNAL) }).map(|n| n as usize)
}

/// Whether `fd` is ready for reading (`read`: data, end of file, an error,
/// a pending connection) or writing, now: poll(2) with no wait.
pub(crate) fn poll_now(fd: RawFd, mode: crate::pd::Mode) -> io::Result<bool> {
    let events = match mode {
        crate::pd::Mode::Read => libc::POLLIN | libc::POLLRDHUP,
        crate::pd::Mode::Write => libc::POLLOUT,
    };
    let mut p = libc::pollfd { fd, events, revents: 0 };
    // SAFETY: one valid pollfd on an fd the caller holds; no wait.
    let n = cvt(unsafe { libc::poll(&mut p, 1, 0) })?;
    Ok(n > 0 && p.revents != 0)
}

/// recvfrom(2) into `buf`, filling `from`.
pub(crate) fn recv_from(
    fd: RawFd,
    buf: &mut [u8],
    flags: libc::c_int,
    from: &mut RawAddr,
) -> io::Result<usize> {
    from.len = mem::size_of::<libc::sockaddr_storage>() as _;
    // SAFETY: buf is valid for writes of its length; from's storage and
    // length describe a valid buffer.
    cvt(unsafe {
        libc::recvfrom(fd, buf.as_mut_ptr().cast(), buf.len(), flags, from.mut_ptr(), &mut from.len)
    })
    .map(|n| n as usize)
}

/// sendto(2) from `buf` to `to`.
pub(crate) fn send_to(fd: RawFd, buf: &[u8], to: &RawAddr) -> io::Result<usize> {
    // SAFETY: buf is valid for reads of its length; `to` is a valid address.
    cvt(unsafe { libc::sendto(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL, to.ptr(), to.len) })
        .map(|n| n as usize)
}

/// shutdown(2).
pub(crate) fn shutdown(fd: RawFd, how: std::net::Shutdown) -> io::Result<()> {
    let how = match how {
        std::net::Shutdown::Read => libc::SHUT_RD,
        std::net::Shutdown::Write => libc::SHUT_WR,
        std::net::Shutdown::Both => libc::SHUT_RDWR,
    };
    // SAFETY: shutdown on an fd we hold a reference to.
    cvt(unsafe { libc::shutdown(fd, how) }).map(drop)
}

/// The pending socket error (SO_ERROR), std's `take_error`.
pub(crate) fn take_error(fd: RawFd) -> io::Result<Option<io::Error>> {
    let e = getsockopt(fd, libc::SOL_SOCKET, libc::SO_ERROR)?;
    Ok((e != 0).then(|| io::Error::from_raw_os_error(e)))
}

/// getsockname(2) / getpeername(2) as an IP address.
pub(crate) fn local_addr(fd: RawFd) -> io::Result<SocketAddr> {
    let mut a = RawAddr::empty();
    // SAFETY: a's storage and length describe a valid buffer.
    cvt(unsafe { libc::getsockname(fd, a.mut_ptr(), &mut a.len) })?;
    a.to_socket_addr()
}

pub(crate) fn peer_addr(fd: RawFd) -> io::Result<SocketAddr> {
    let mut a = RawAddr::empty();
    // SAFETY: a's storage and length describe a valid buffer.
    cvt(unsafe { libc::getpeername(fd, a.mut_ptr(), &mut a.len) })?;
    a.to_socket_addr()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockaddr_round_trips() {
        for s in ["127.0.0.1:80", "[::1]:443", "[fe80::1%2]:8080", "0.0.0.0:0"] {
            let a: SocketAddr = s.parse().unwrap();
            assert_eq!(RawAddr::from(&a).to_socket_addr().unwrap(), a, "{s}");
        }
    }
}
