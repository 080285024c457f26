//! [`Session`]: a lease kept alive while the process lives.
//!
//! Go: client/v3/concurrency/session.go (`NewSession`, `WithTTL`,
//! `WithLease`, `WithContext`, `Done`, `Orphan`, `Close`).
//!
//! A session grants a lease (TTL 60 s unless told otherwise, as Go) or
//! adopts one, and keeps it alive with [`Client::keep_alive`]'s goroutine.
//! [`Session::done`] closes when the keep-alive ends: the lease was lost
//! or the session was orphaned or closed. Keys attached to the lease
//! (mutex and election keys) vanish within the TTL once nobody refreshes
//! it, which is how a crashed holder releases its locks. `close` stops the
//! refreshes and revokes the lease, deleting its keys at once; dropping
//! the last handle only stops the refreshes.

use std::sync::Arc;
use std::sync::Mutex as StdMutex;
use std::time::Duration;

use gort_channels::Receiver;
use gort_sync::context::{self, Context, background};

use crate::client::Client;
use crate::error::Result;
use crate::lease::KeepAlive;

/// A session's settings. Go: the `SessionOption`s.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    ttl: i64,
    lease: i64,
    ctx: Context,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions::new()
    }
}

impl SessionOptions {
    /// TTL 60 s, a new lease, no context.
    pub fn new() -> SessionOptions {
        SessionOptions { ttl: 60, lease: 0, ctx: background() }
    }

    /// The lease's TTL in seconds. Go: `WithTTL`.
    pub fn ttl(mut self, seconds: i64) -> Self {
        self.ttl = seconds;
        self
    }

    /// Adopt an existing lease instead of granting one. Go: `WithLease`.
    pub fn lease(mut self, id: i64) -> Self {
        self.lease = id;
        self
    }

    /// A context whose end stops the keep-alive. Go: `WithContext`.
    pub fn context(mut self, ctx: &Context) -> Self {
        self.ctx = ctx.clone();
        self
    }
}

/// A lease kept alive by a goroutine. Cheap to clone; clones share the
/// lease. Go: `concurrency.Session`.
#[derive(Debug, Clone)]
pub struct Session {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: Client,
    lease: i64,
    ttl: i64,
    ka: StdMutex<KeepAlive>,
    done: Receiver<()>,
}

impl Session {
    /// A session with a new 60 s lease. Go: `NewSession(client)`.
    pub fn new(client: &Client) -> Result<Session> {
        Session::with_options(client, SessionOptions::new())
    }

    /// A session with a new lease of `ttl` seconds. Go:
    /// `NewSession(client, WithTTL(ttl))`.
    pub fn with_ttl(client: &Client, ttl: i64) -> Result<Session> {
        Session::with_options(client, SessionOptions::new().ttl(ttl))
    }

    /// A session with these options.
    pub fn with_options(client: &Client, opts: SessionOptions) -> Result<Session> {
        let (lease, ttl) = if opts.lease != 0 {
            (opts.lease, opts.ttl)
        } else {
            let g = client.grant_ctx(&opts.ctx, opts.ttl)?;
            (g.id, g.ttl)
        };
        let ka = match client.keep_alive_ctx(&opts.ctx, lease) {
            Ok(ka) => ka,
            Err(e) => {
                if opts.lease == 0 {
                    let _ = client.revoke(lease);
                }
                return Err(e);
            }
        };
        let done = ka.done();
        Ok(Session {
            inner: Arc::new(Inner { client: client.clone(), lease, ttl, ka: StdMutex::new(ka), done }),
        })
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// The lease ID. Go: `Lease()`.
    pub fn lease(&self) -> i64 {
        self.inner.lease
    }

    /// The lease's TTL in seconds.
    pub fn ttl(&self) -> i64 {
        self.inner.ttl
    }

    /// Closed when the keep-alive ends: the lease is lost, or the session
    /// was orphaned or closed. Go: `Done()`.
    pub fn done(&self) -> &Receiver<()> {
        &self.inner.done
    }

    /// Whether the lease is known lost.
    pub fn is_expired(&self) -> bool {
        self.inner.ka.lock().unwrap_or_else(|e| e.into_inner()).is_lost()
    }

    /// Stops the refreshes; the lease expires after its TTL. Go: `Orphan()`.
    pub fn orphan(&self) {
        self.inner.ka.lock().unwrap_or_else(|e| e.into_inner()).stop();
    }

    /// Stops the refreshes and revokes the lease (its keys are deleted),
    /// waiting at most the TTL. Go: `Close()`.
    pub fn close(&self) -> Result<()> {
        self.orphan();
        let (ctx, _cancel) =
            context::with_timeout(&background(), Duration::from_secs(self.inner.ttl.max(1) as u64));
        match self.inner.client.revoke_ctx(&ctx, self.inner.lease) {
            Ok(_) | Err(crate::Error::LeaseNotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
