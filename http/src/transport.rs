//! ureq's connector, transport and resolver on gort's sockets.
//!
//! Go: net/dial.go (`Dialer.DialContext`: each resolved address in turn,
//! within the timeout), net/lookup.go (the resolver, which may block a
//! thread), net/net.go (`conn.SetReadDeadline`); upstream: ureq's
//! `TcpConnector`/`TcpTransport`, which do the same over std sockets.
//!
//! [`GortConnector`] connects a [`gort_netpoll::TcpStream`] (parking the
//! goroutine) to each resolved address until one answers, within ureq's
//! connect timeout and the goroutine's interrupter deadline
//! ([`crate::Interrupter`]); errors name the address. [`GortTransport`]
//! maps each operation's ureq timeout (and the interrupter's deadline) to
//! the socket's read or write timeout, set only when it changes.
//! [`GortResolver`] resolves host names in [`gort_runtime::syscall`], and IP
//! literals without a lookup.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use gort_netpoll::TcpStream;
use ureq::Timeout;
use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, ShutdownHandle, Transport,
};

use crate::interrupt;

/// A connected socket, shared by its transport, ureq's shutdown handle and
/// the interrupter that may close it.
#[derive(Debug)]
pub(crate) struct Sock {
    pub(crate) stream: TcpStream,
}

impl ShutdownHandle for Sock {
    fn shutdown(&self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

/// ureq connector that opens gort sockets. Chain TLS after it
/// (`GortConnector.chain(RustlsConnector::default())`, as
/// [`crate::AgentBuilder`] does).
#[derive(Debug, Default, Clone, Copy)]
pub struct GortConnector;

/// The remaining time of a ureq timeout, capped by `deadline`; `Ok(None)`
/// is no limit, `Err` a limit already reached.
fn remaining(t: &NextTimeout, deadline: Option<Instant>) -> Result<Option<Duration>, ureq::Error> {
    let mut left = t.not_zero().map(|d| *d);
    if t.after.is_zero() {
        return Err(ureq::Error::Timeout(t.reason));
    }
    if let Some(d) = deadline {
        let r = d.saturating_duration_since(Instant::now());
        if r.is_zero() {
            return Err(ureq::Error::Timeout(t.reason));
        }
        left = Some(left.map_or(r, |l| l.min(r)));
    }
    Ok(left)
}

impl<In: Transport> Connector<In> for GortConnector {
    type Out = Either<In, GortTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        if let Some(c) = chained {
            return Ok(Some(Either::A(c)));
        }
        let deadline = interrupt::scope_deadline()?;
        let mut last: Option<ureq::Error> = None;
        for addr in details.addrs.iter() {
            let left = remaining(&details.timeout, deadline)?;
            let r = match left {
                Some(t) => TcpStream::connect_timeout(addr, t),
                None => TcpStream::connect(addr),
            };
            match r {
                Ok(stream) => {
                    let cfg = details.config;
                    let sock = Arc::new(Sock { stream });
                    (details.register_shutdown)(Arc::downgrade(&sock) as Weak<dyn ShutdownHandle>)?;
                    let buffers = LazyBuffers::new(cfg.input_buffer_size(), cfg.output_buffer_size());
                    return Ok(Some(Either::B(GortTransport::new(sock, buffers))));
                }
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    last = Some(ureq::Error::Timeout(Timeout::Connect))
                }
                Err(e) => {
                    last = Some(ureq::Error::Io(io::Error::new(e.kind(), format!("connect to {addr}: {e}"))))
                }
            }
        }
        Err(last.unwrap_or(ureq::Error::HostNotFound))
    }
}

/// An HTTP connection on a gort socket. Made by [`GortConnector`].
pub struct GortTransport {
    sock: Arc<Sock>,
    buffers: LazyBuffers,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

impl GortTransport {
    fn new(sock: Arc<Sock>, buffers: LazyBuffers) -> GortTransport {
        GortTransport { sock, buffers, read_timeout: None, write_timeout: None }
    }
}

fn io_err(e: io::Error, reason: Timeout) -> ureq::Error {
    if e.kind() == io::ErrorKind::TimedOut { ureq::Error::Timeout(reason) } else { ureq::Error::Io(e) }
}

impl Transport for GortTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let timeout = timeout.for_write();
        let deadline = interrupt::register(&self.sock)?;
        let left = remaining(&timeout, deadline)?;
        if left != self.write_timeout {
            self.sock.stream.set_write_timeout(left)?;
            self.write_timeout = left;
        }
        let out = &self.buffers.output()[..amount];
        (&self.sock.stream).write_all(out).map_err(|e| io_err(e, timeout.reason))
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let timeout = timeout.for_read();
        let deadline = interrupt::register(&self.sock)?;
        let left = remaining(&timeout, deadline)?;
        if left != self.read_timeout {
            self.sock.stream.set_read_timeout(left)?;
            self.read_timeout = left;
        }
        let buf = self.buffers.input_append_buf();
        let n = loop {
            match (&self.sock.stream).read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => break r.map_err(|e| io_err(e, timeout.reason))?,
            }
        };
        self.buffers.input_appended(n);
        Ok(n > 0)
    }

    fn is_open(&mut self) -> bool {
        // A pooled connection is reusable only if the server has neither
        // closed it nor sent anything unasked: peek without waiting.
        let mut b = [0u8; 1];
        // SAFETY: recv into a 1-byte local buffer on our own open socket;
        // MSG_DONTWAIT keeps it from blocking the thread.
        let r = unsafe {
            libc::recv(
                self.sock.stream.as_raw_fd(),
                b.as_mut_ptr().cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        r < 0 && io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock
    }
}

impl fmt::Debug for GortTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GortTransport").field("peer", &self.sock.stream.peer_addr().ok()).finish()
    }
}

/// ureq resolver: IP literals as they are, host names through
/// `getaddrinfo` in [`gort_runtime::syscall`] (so a slow lookup hands the
/// thread's P to other goroutines).
#[derive(Debug, Default, Clone, Copy)]
pub struct GortResolver;

impl Resolver for GortResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        _timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let bad = || ureq::Error::BadUri(format!("{uri}: needs a scheme and a host"));
        let (scheme, authority) = (uri.scheme().ok_or_else(bad)?, uri.authority().ok_or_else(bad)?);
        let hp = DefaultResolver::host_and_port(scheme, authority).ok_or_else(bad)?;
        let found: Vec<SocketAddr> = match hp.parse::<SocketAddr>() {
            Ok(a) => vec![a],
            Err(_) => gort_runtime::syscall(|| hp.to_socket_addrs().map(Iterator::collect))
                .map_err(|e| ureq::Error::Io(io::Error::new(e.kind(), format!("resolve {hp}: {e}"))))?,
        };
        let mut out = self.empty();
        for a in config.ip_family().keep_wanted(found.into_iter()).take(16) {
            out.push(a);
        }
        if out.is_empty() { Err(ureq::Error::HostNotFound) } else { Ok(out) }
    }
}
