//! [`RwMutex`]: a read/write lock shared by processes.
//!
//! Go: client/v3/experimental/recipes/rwmutex.go.
//!
//! Algorithm (Go's): a reader creates a unique key under `prefix/read`, a
//! writer under `prefix/write`, both attached to the session's lease. A
//! reader waits until no writer key older than its own remains; a writer
//! waits until no key at all (reader or writer) older than its own
//! remains. Each wait watches the newest such older key for deletion and
//! looks again. Requests are served in arrival order: a writer that
//! arrived before a reader goes first, and readers that arrived after a
//! waiting writer wait for it (so neither side starves).

use gort_sync::context::{Context, background};

use crate::concurrency::Session;
use crate::error::Result;
use crate::options::Options;
use crate::types::EventType;

use super::keys::{RemoteKv, new_unique_kv, wait_events};

/// A distributed read/write lock. Go: `recipe.RWMutex`.
#[derive(Debug)]
pub struct RwMutex {
    s: Session,
    pfx: String,
    my_key: Option<RemoteKv>,
}

impl RwMutex {
    /// A lock on `prefix` for this session. Go: `NewRWMutex(s, prefix)`.
    pub fn new(session: &Session, prefix: &str) -> RwMutex {
        RwMutex { s: session.clone(), pfx: prefix.to_string(), my_key: None }
    }

    /// Takes a read lock. Go: `RLock`.
    pub fn rlock(&mut self) -> Result<()> {
        self.rlock_ctx(&background())
    }

    /// [`rlock`](Self::rlock) under a context.
    pub fn rlock_ctx(&mut self, ctx: &Context) -> Result<()> {
        let k = new_unique_kv(self.s.client(), ctx, &format!("{}/read", self.pfx), b"", self.s.lease())?;
        self.my_key = Some(k);
        // Wait for the writers that came before.
        self.wait_for_older(ctx, &format!("{}/write", self.pfx))
    }

    /// Takes the write lock. Go: `Lock`.
    pub fn lock(&mut self) -> Result<()> {
        self.lock_ctx(&background())
    }

    /// [`lock`](Self::lock) under a context.
    pub fn lock_ctx(&mut self, ctx: &Context) -> Result<()> {
        let k = new_unique_kv(self.s.client(), ctx, &format!("{}/write", self.pfx), b"", self.s.lease())?;
        self.my_key = Some(k);
        // Wait for everyone that came before.
        self.wait_for_older(ctx, &format!("{}/", self.pfx))
    }

    fn wait_for_older(&mut self, ctx: &Context, pfx: &str) -> Result<()> {
        let my_rev = self.my_key.as_ref().map_or(0, |k| k.rev);
        let r = (|| loop {
            let c = self.s.client();
            let resp = c.get_ctx(ctx, pfx, Options::last_rev().with_max_mod_rev(my_rev - 1))?;
            let Some(kv) = resp.kvs.first() else { return Ok(()) };
            wait_events(c, ctx, &kv.key_str(), false, my_rev, &[EventType::Delete])?;
        })();
        if r.is_err() {
            let _ = self.release();
        }
        r
    }

    fn release(&mut self) -> Result<()> {
        if let Some(k) = self.my_key.take() {
            self.s.client().delete(&k.key)?;
        }
        Ok(())
    }

    /// Releases a read lock. Go: `RUnlock`.
    pub fn runlock(&mut self) -> Result<()> {
        self.release()
    }

    /// Releases the write lock. Go: `Unlock`.
    pub fn unlock(&mut self) -> Result<()> {
        self.release()
    }
}
