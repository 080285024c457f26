//! gort-http: an HTTP/1.1 and HTTPS client whose calls park only the
//! calling goroutine.
//!
//! Go: net/http's `Client` over `net.Dialer` (`DialContext`, deadlines);
//! upstream: ureq 3's `unversioned::transport` (the client runs over a
//! user-supplied connector and resolver).
//!
//! [`agent()`] (or [`AgentBuilder`]) makes a [`ureq::Agent`] whose sockets are
//! [`gort_netpoll::TcpStream`]s: connecting, reading and writing park the
//! goroutine on the netpoller instead of blocking its thread, and host
//! names are resolved through [`gort_runtime::syscall`] (the thread is
//! handed off while `getaddrinfo` blocks, as Go's cgo resolver is).
//! HTTPS goes through rustls over the same sockets. ureq's timeouts map to
//! socket deadlines: the connect timeout bounds each connect, and the
//! per-call, per-read and per-write timeouts become read and write
//! timeouts of the socket.
//!
//! Go's `http.NewRequestWithContext` is [`with_context`]: it runs a call
//! under a [`gort_sync::context::Context`], whose deadline bounds every
//! connect, read and write of the call and whose cancellation closes the
//! call's socket, so a goroutine blocked in the call returns at once with
//! the context's error. [`Interrupter`] is the underlying tool: a handle
//! another goroutine can use to abort the calls running under it (a
//! streaming response, for instance).
//!
//! ```no_run
//! let agent = gort_http::agent();
//! let body = gort_runtime::spawn(move || {
//!     agent.get("http://127.0.0.1:8080/").call()?.body_mut().read_to_string()
//! })
//! .join()
//! .unwrap()?;
//! # Ok::<(), ureq::Error>(())
//! ```
//!
//! Invariants: a transport registers its socket with the goroutine's
//! current [`Interrupter`] (if any) before every operation, and the
//! interrupter forgets it when its scope ends, so interrupting never closes
//! a pooled socket that another call has since taken.

mod interrupt;
mod transport;

pub use interrupt::{Interrupter, with_context};
pub use transport::{GortConnector, GortResolver, GortTransport};
pub use ureq;

use std::time::Duration;

use ureq::unversioned::transport::{Connector, RustlsConnector};

/// Builds an agent: [`ureq::config::ConfigBuilder`] settings plus gort's
/// transport.
///
/// ```
/// use std::time::Duration;
/// let agent = gort_http::AgentBuilder::new()
///     .connect_timeout(Duration::from_secs(2))
///     .max_idle_per_host(32)
///     .build();
/// # drop(agent);
/// ```
#[derive(Debug, Clone)]
pub struct AgentBuilder {
    connect_timeout: Duration,
    max_idle_per_host: usize,
    status_as_error: bool,
    tls: Option<ureq::tls::TlsConfig>,
}

impl Default for AgentBuilder {
    fn default() -> Self {
        AgentBuilder::new()
    }
}

impl AgentBuilder {
    /// Defaults: a 10 s connect timeout, 16 idle connections kept per
    /// host, 4xx/5xx statuses as errors (ureq's default), the webpki roots
    /// for HTTPS.
    pub fn new() -> AgentBuilder {
        AgentBuilder {
            connect_timeout: Duration::from_secs(10),
            max_idle_per_host: 16,
            status_as_error: true,
            tls: None,
        }
    }

    /// The timeout of each connect (of all the resolved addresses tried).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// How many idle keep-alive connections the agent keeps per host.
    pub fn max_idle_per_host(mut self, n: usize) -> Self {
        self.max_idle_per_host = n;
        self
    }

    /// Whether a 4xx or 5xx response is an `Err(StatusCode)` (true, ureq's
    /// default) or an ordinary response whose body can be read.
    pub fn status_as_error(mut self, on: bool) -> Self {
        self.status_as_error = on;
        self
    }

    /// The TLS settings for HTTPS (root certificates, client certificate).
    pub fn tls_config(mut self, tls: ureq::tls::TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The agent: gort's connector chained to rustls, gort's resolver.
    pub fn build(self) -> ureq::Agent {
        let mut cfg = ureq::Agent::config_builder()
            .timeout_connect(Some(self.connect_timeout))
            .max_idle_connections(self.max_idle_per_host.max(10) * 4)
            .max_idle_connections_per_host(self.max_idle_per_host)
            .http_status_as_error(self.status_as_error);
        if let Some(tls) = self.tls {
            cfg = cfg.tls_config(tls);
        }
        ureq::Agent::with_parts(cfg.build(), GortConnector.chain(RustlsConnector::default()), GortResolver)
    }
}

/// An agent with [`AgentBuilder::new`]'s defaults: Go's
/// `http.DefaultClient` for goroutines.
pub fn agent() -> ureq::Agent {
    AgentBuilder::new().build()
}
