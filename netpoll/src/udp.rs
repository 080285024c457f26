//! UDP: [`UdpSocket`], std's API with blocking calls that park the calling
//! goroutine.
//!
//! Go: net/udpsock.go, net/udpsock_posix.go, internal/poll/fd_unix.go
//! (`ReadFrom`, `WriteTo`).
//!
//! The socket is made by `mio::net::UdpSocket::bind` (non-blocking,
//! close-on-exec) and connected by mio's `connect` over its fd; sends and
//! receives are gort's own syscalls.
//!
//! Each send is one datagram (one syscall that either sends all of it or
//! fails); receives on one socket are serialised, as are sends.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

use crate::fd::NetFd;
use crate::methods;
use crate::pd::Mode;
use crate::sys::{self, RawAddr, cvt};

/// A UDP socket. Go: `net.UDPConn`.
///
/// ```
/// let a = gort_netpoll::UdpSocket::bind("127.0.0.1:0")?;
/// let b = gort_netpoll::UdpSocket::bind("127.0.0.1:0")?;
/// a.send_to(b"ping", b.local_addr()?)?;
/// let mut buf = [0u8; 16];
/// let (n, from) = b.recv_from(&mut buf)?;
/// assert_eq!((&buf[..n], from), (&b"ping"[..], a.local_addr()?));
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UdpSocket {
    fd: NetFd,
}

impl UdpSocket {
    /// Binds to `addr` (names resolved off the P).
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        sys::each_addr(addr, |a| Ok(UdpSocket { fd: NetFd::new(mio::net::UdpSocket::bind(*a)?.into()) }))
    }

    /// Sets the default peer for `send` and filters `recv` to it.
    pub fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        sys::each_addr(addr, |a| self.fd.with(|fd| sys::view::<mio::net::UdpSocket>(fd).connect(*a)))
    }

    /// Receives one datagram; returns its length and sender. A datagram
    /// longer than `buf` is truncated.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let mut from = RawAddr::empty();
        let n = self.fd.io(Mode::Read, |fd| sys::recv_from(fd, buf, 0, &mut from))?;
        Ok((n, from.to_socket_addr()?))
    }

    /// Like `recv_from` without taking the datagram off the queue.
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let mut from = RawAddr::empty();
        let n = self.fd.io(Mode::Read, |fd| sys::recv_from(fd, buf, libc::MSG_PEEK, &mut from))?;
        Ok((n, from.to_socket_addr()?))
    }

    /// Sends one datagram to `addr` (the first resolved address).
    pub fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], addr: A) -> io::Result<usize> {
        let to = sys::resolve(addr)?
            .into_iter()
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no addresses to send data to"))?;
        let to = RawAddr::from(&to);
        self.fd.io(Mode::Write, |fd| sys::send_to(fd, buf, &to))
    }

    /// Receives one datagram from the connected peer.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.fd.io(Mode::Read, |fd| sys::recv(fd, buf, 0))
    }

    /// Like `recv` without taking the datagram off the queue.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.fd.io(Mode::Read, |fd| sys::recv(fd, buf, libc::MSG_PEEK))
    }

    /// Sends one datagram to the connected peer.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.fd.io(Mode::Write, |fd| sys::send(fd, buf))
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.fd.with(sys::local_addr)
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.fd.with(sys::peer_addr)
    }

    /// Allows sending to broadcast addresses (`SO_BROADCAST`).
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.fd.with(|fd| sys::setsockopt(fd, libc::SOL_SOCKET, libc::SO_BROADCAST, on as libc::c_int))
    }

    /// Whether `SO_BROADCAST` is set.
    pub fn broadcast(&self) -> io::Result<bool> {
        self.fd.with(|fd| sys::getsockopt(fd, libc::SOL_SOCKET, libc::SO_BROADCAST).map(|v| v != 0))
    }

    /// Joins an IPv4 multicast group on the interface with address `iface`.
    pub fn join_multicast_v4(&self, group: &Ipv4Addr, iface: &Ipv4Addr) -> io::Result<()> {
        self.mreq_v4(libc::IP_ADD_MEMBERSHIP, group, iface)
    }

    /// Leaves an IPv4 multicast group.
    pub fn leave_multicast_v4(&self, group: &Ipv4Addr, iface: &Ipv4Addr) -> io::Result<()> {
        self.mreq_v4(libc::IP_DROP_MEMBERSHIP, group, iface)
    }

    fn mreq_v4(&self, opt: libc::c_int, group: &Ipv4Addr, iface: &Ipv4Addr) -> io::Result<()> {
        let m = libc::ip_mreq {
            imr_multiaddr: libc::in_addr { s_addr: u32::from_ne_bytes(group.octets()) },
            imr_interface: libc::in_addr { s_addr: u32::from_ne_bytes(iface.octets()) },
        };
        self.fd.with(|fd| {
            // SAFETY: passes a pointer to a local ip_mreq and its size.
            cvt(unsafe {
                libc::setsockopt(
                    fd,
                    libc::IPPROTO_IP,
                    opt,
                    (&raw const m).cast(),
                    std::mem::size_of::<libc::ip_mreq>() as libc::socklen_t,
                )
            })
            .map(drop)
        })
    }

    /// Joins an IPv6 multicast group on interface index `iface`.
    pub fn join_multicast_v6(&self, group: &Ipv6Addr, iface: u32) -> io::Result<()> {
        let m = libc::ipv6_mreq {
            ipv6mr_multiaddr: libc::in6_addr { s6_addr: group.octets() },
            ipv6mr_interface: iface,
        };
        self.fd.with(|fd| {
            // SAFETY: passes a pointer to a local ipv6_mreq and its size.
            cvt(unsafe {
                libc::setsockopt(
                    fd,
                    libc::IPPROTO_IPV6,
                    libc::IPV6_ADD_MEMBERSHIP,
                    (&raw const m).cast(),
                    std::mem::size_of::<libc::ipv6_mreq>() as libc::socklen_t,
                )
            })
            .map(drop)
        })
    }
}

methods::socket_basics!(UdpSocket <- std::net::UdpSocket);
methods::timeouts_and_deadlines!(UdpSocket);
methods::ip_ttl!(UdpSocket);
methods::read_ready!(UdpSocket);
methods::write_ready!(UdpSocket);

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("UdpSocket");
        if let Ok(a) = self.local_addr() {
            d.field("addr", &a);
        }
        d.field("fd", &self.fd.raw()).finish()
    }
}
