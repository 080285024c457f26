//! The methods the socket types share, written once.
//!
//! Go: net/net.go (`conn`'s `SetDeadline`, `SetReadDeadline`,
//! `SetWriteDeadline`, `Close`, `Read`, `Write`), which every Go connection
//! type embeds.
//!
//! Every socket type is a struct whose one field is `fd: NetFd`; each macro
//! below adds a group of inherent methods (or trait impls) to the types
//! named, as Go's embedding of `conn` does. Inherent methods rather than a
//! trait's default methods keep std's API: callers need no trait in scope.
//!
//! - [`socket_basics!`]: `close`, `take_error`, `try_clone`, and adoption
//!   of the std type (`From`), `AsRawFd`. Every socket type.
//! - [`timeouts_and_deadlines!`]: the std per-operation timeouts and Go's
//!   deadlines of both directions. Connections and datagram sockets.
//! - [`stream_io!`]: `Read` and `Write` for the type and for a shared
//!   reference to it. Stream connections; `TYPE: true` for those whose
//!   short reads empty the receive queue (TCP: fd.rs, "Drained
//!   streams").
//! - [`ip_ttl!`]: the IP time-to-live. TCP and UDP sockets.
//! - [`read_ready!`] and [`write_ready!`]: readiness for futures
//!   (`poll_read_ready`, `poll_write_ready`). Every socket reads; every
//!   socket but a listener writes.

/// `close`, `take_error`, `try_clone`, `From<std type>` and `AsRawFd` for
/// each `Type <- StdType`.
macro_rules! socket_basics {
    ($($t:ident <- $std:ty),* $(,)?) => {$(
        impl $t {
            /// Closes the socket now, Go's `Close`: goroutines blocked on it
            /// (reading, writing or accepting) return [`crate::ErrClosed`],
            /// and the fd is released once they have returned. Fails with
            /// `ErrClosed` if already closed. Dropping the socket closes it
            /// too.
            pub fn close(&self) -> std::io::Result<()> {
                self.fd.close()
            }

            /// The pending socket error, if any (`SO_ERROR`).
            pub fn take_error(&self) -> std::io::Result<Option<std::io::Error>> {
                self.fd.with(crate::sys::take_error)
            }

            /// A second handle on the same socket: a dup'd fd with its own
            /// deadlines and timeouts, as std's `try_clone`. One goroutine
            /// can read through one handle while another writes through the
            /// other. Closing or dropping one handle leaves the other open;
            /// `shutdown` affects both.
            pub fn try_clone(&self) -> std::io::Result<$t> {
                Ok($t { fd: crate::fd::NetFd::new(self.fd.with(crate::sys::dup)?) })
            }
        }

        impl From<$std> for $t {
            /// Adopts a std socket (made non-blocking).
            fn from(s: $std) -> $t {
                let fd = std::os::fd::OwnedFd::from(s);
                let _ = crate::sys::set_nonblocking(std::os::fd::AsRawFd::as_raw_fd(&fd));
                $t { fd: crate::fd::NetFd::new(fd) }
            }
        }

        impl std::os::fd::AsRawFd for $t {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                self.fd.raw()
            }
        }
    )*};
}

/// The per-operation timeouts (std) and deadlines (Go) of both directions.
macro_rules! timeouts_and_deadlines {
    ($($t:ident),* $(,)?) => {$(
        impl $t {
            /// Timeout of each read or receive (None: none). One that waits
            /// longer fails with `TimedOut`. Zero is an error, as in std.
            pub fn set_read_timeout(&self, t: Option<std::time::Duration>) -> std::io::Result<()> {
                self.fd.set_timeout(crate::pd::Mode::Read, t)
            }

            /// Timeout of each write or send (None: none; zero is an error).
            pub fn set_write_timeout(&self, t: Option<std::time::Duration>) -> std::io::Result<()> {
                self.fd.set_timeout(crate::pd::Mode::Write, t)
            }

            /// The read timeout.
            pub fn read_timeout(&self) -> std::io::Result<Option<std::time::Duration>> {
                self.fd.timeout(crate::pd::Mode::Read)
            }

            /// The write timeout.
            pub fn write_timeout(&self) -> std::io::Result<Option<std::time::Duration>> {
                self.fd.timeout(crate::pd::Mode::Write)
            }

            /// Sets both deadlines, Go's `SetDeadline`: reads and writes,
            /// also those already blocked, fail with `TimedOut` from `t` on.
            /// A past `t` fails them at once; None clears the deadlines.
            pub fn set_deadline(&self, t: Option<std::time::Instant>) -> std::io::Result<()> {
                self.set_read_deadline(t)?;
                self.set_write_deadline(t)
            }

            /// The deadline of reads (see `set_deadline`), Go's
            /// `SetReadDeadline`.
            pub fn set_read_deadline(&self, t: Option<std::time::Instant>) -> std::io::Result<()> {
                self.fd.set_deadline(crate::pd::Mode::Read, t)
            }

            /// The deadline of writes (see `set_deadline`), Go's
            /// `SetWriteDeadline`.
            pub fn set_write_deadline(&self, t: Option<std::time::Instant>) -> std::io::Result<()> {
                self.fd.set_deadline(crate::pd::Mode::Write, t)
            }
        }
    )*};
}

/// `Read` and `Write` for a stream type and for `&` it: a read returns what
/// one `recv` gives; a write writes the whole buffer under the write lock
/// (concurrent writes do not interleave) unless an error or a deadline
/// stops it.
macro_rules! stream_io {
    ($($t:ident: $drains:expr),* $(,)?) => {$(
        impl std::io::Read for &$t {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let len = buf.len();
                self.fd.read_stream(len, $drains, |fd| crate::sys::recv(fd, buf, 0))
            }
        }

        impl std::io::Write for &$t {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.fd.write_all(buf, crate::sys::send)
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }

        impl std::io::Read for $t {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                std::io::Read::read(&mut &*self, buf)
            }
        }

        #[cfg(any(feature = "tokio-io", feature = "futures-io", feature = "hyper"))]
        impl crate::compat::Stream for $t {
            const DRAINS: bool = $drains;

            fn net_fd(&self) -> &crate::fd::NetFd {
                &self.fd
            }
        }

        impl std::io::Write for $t {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                std::io::Write::write(&mut &*self, buf)
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
    )*};
}

/// `set_ttl` and `ttl`, the IP time-to-live (`IP_TTL`).
macro_rules! ip_ttl {
    ($($t:ident),* $(,)?) => {$(
        impl $t {
            /// Sets the IP time-to-live (of accepted sockets, on a listener).
            pub fn set_ttl(&self, ttl: u32) -> std::io::Result<()> {
                self.fd.with(|fd| crate::sys::setsockopt(fd, libc::IPPROTO_IP, libc::IP_TTL, ttl as libc::c_int))
            }

            /// The IP time-to-live.
            pub fn ttl(&self) -> std::io::Result<u32> {
                self.fd.with(|fd| crate::sys::getsockopt(fd, libc::IPPROTO_IP, libc::IP_TTL).map(|v| v as u32))
            }
        }
    )*};
}

/// `poll_read_ready`: read readiness for futures.
macro_rules! read_ready {
    ($($t:ident),* $(,)?) => {$(
        impl $t {
            /// Polls for read readiness, for futures: `Ready(Ok(()))` once
            /// a read (or accept) would not block: data, end of file, an
            /// error to report, a connection to accept. Otherwise registers
            /// `cx`'s waker, which readiness, [`close`](Self::close), a
            /// deadline change or the deadline wakes, and returns
            /// `Pending`; no goroutine or thread waits meanwhile.
            ///
            /// Only the waker of the latest poll of this direction is
            /// woken (tokio's rule): two tasks waiting to read one socket
            /// must not both rely on it. Fails with [`crate::ErrClosed`]
            /// once the socket is closed, and with `TimedOut` after the
            /// read deadline (`set_deadline`, `set_read_deadline`), or,
            /// where the socket has a read timeout, once it has passed
            /// since this task's first poll that had to wait. Works from
            /// any executor, on a plain thread or in a goroutine.
            pub fn poll_read_ready(
                &self,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                self.fd.poll_ready(crate::pd::Mode::Read, cx)
            }
        }
    )*};
}

/// `poll_write_ready`: write readiness for futures.
macro_rules! write_ready {
    ($($t:ident),* $(,)?) => {$(
        impl $t {
            /// Polls for write readiness, for futures: `Ready(Ok(()))` once
            /// a write would not block (or would report an error), else
            /// registers `cx`'s waker and returns `Pending`. As
            /// `poll_read_ready` for the write direction: the write
            /// deadline and timeout apply.
            pub fn poll_write_ready(
                &self,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                self.fd.poll_ready(crate::pd::Mode::Write, cx)
            }
        }
    )*};
}

pub(crate) use {ip_ttl, read_ready, socket_basics, stream_io, timeouts_and_deadlines, write_ready};
