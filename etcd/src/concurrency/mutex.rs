//! [`Mutex`]: a lock shared by every process of an etcd cluster.
//!
//! Go: client/v3/concurrency/mutex.go (`NewMutex`, `Lock`, `TryLock`,
//! `Unlock`, `IsOwner`, `Key`, `tryAcquire`).
//!
//! Algorithm (Go's): a waiter's key is `prefix/<lease hex>`. One
//! transaction creates it if absent (attached to the session's lease) and
//! reads the prefix's first key by create revision; the waiter owns the
//! lock when that first key is its own. Otherwise it waits until every key
//! under the prefix created before its own is deleted
//! ([`super::key::wait_deletes`]: it watches only its predecessor, so an
//! unlock wakes one waiter), then checks its own key still exists (the
//! session may have expired meanwhile). Waiters are thus served in the
//! order their keys were created. Two mutexes on one session share the
//! key: they are the same owner, as in Go.

use gort_sync::context::{Context, background};

use crate::error::{Error, Result};
use crate::kv::{Compare, Op};
use crate::options::Options;
use crate::types::ResponseHeader;

use super::Session;
use super::key::wait_deletes;

/// A distributed mutex. Go: `concurrency.Mutex`. Not for sharing between
/// goroutines (give each its own, on its own session, to contend).
///
/// ```no_run
/// # use gort_etcd::{Client, concurrency::{Session, Mutex}};
/// # let cli = Client::connect(["127.0.0.1:2379"])?;
/// let s = Session::with_ttl(&cli, 10)?;
/// let mut m = Mutex::new(&s, "/locks/report");
/// m.lock()?;
/// assert!(m.key().starts_with("/locks/report/"));
/// m.unlock()?;
/// # Ok::<(), gort_etcd::Error>(())
/// ```
#[derive(Debug)]
pub struct Mutex {
    s: Session,
    pfx: String,
    my_key: String,
    my_rev: i64,
    hdr: ResponseHeader,
}

impl Mutex {
    /// A mutex on `prefix` for this session. Go: `NewMutex(s, pfx)`.
    pub fn new(session: &Session, prefix: &str) -> Mutex {
        Mutex {
            s: session.clone(),
            pfx: format!("{prefix}/"),
            my_key: String::new(),
            my_rev: -1,
            hdr: ResponseHeader::default(),
        }
    }

    /// Creates the waiter's key (if needed) and reads the owner; returns
    /// whether this waiter owns the lock.
    fn try_acquire(&mut self, ctx: &Context) -> Result<bool> {
        let c = self.s.client();
        self.my_key = format!("{}{:x}", self.pfx, self.s.lease());
        let owner = Op::get(&self.pfx, Options::first_create());
        let resp = c
            .txn()
            .when([Compare::create_revision(&self.my_key).eq(0)])
            .and_then([Op::put(&self.my_key, "", Options::new().with_lease(self.s.lease())), owner.clone()])
            .or_else([Op::get(&self.my_key, Options::new()), owner])
            .commit_ctx(ctx)?;
        self.my_rev = resp.header.revision;
        if !resp.succeeded {
            let mine =
                resp.responses.first().and_then(|r| r.response_range.as_ref()).and_then(|r| r.kvs.first());
            self.my_rev = mine.ok_or(Error::SessionExpired)?.create_revision;
        }
        let first = resp.responses.get(1).and_then(|r| r.response_range.as_ref()).and_then(|r| r.kvs.first());
        self.hdr = resp.header.clone();
        Ok(first.is_none_or(|kv| kv.create_revision == self.my_rev))
    }

    /// Takes the lock, waiting as long as it takes. Go: `Lock(ctx)`.
    pub fn lock(&mut self) -> Result<()> {
        self.lock_ctx(&background())
    }

    /// Takes the lock, or gives up when `ctx` ends (removing this waiter's
    /// key, so the queue moves on). Go: `Lock(ctx)`.
    pub fn lock_ctx(&mut self, ctx: &Context) -> Result<()> {
        if self.try_acquire(ctx)? {
            return Ok(());
        }
        let c = self.s.client().clone();
        match wait_deletes(&c, ctx, self.pfx.as_bytes(), self.my_rev - 1) {
            Ok(hdr) => {
                // The session may have expired while we waited.
                let g = c.get_ctx(ctx, &self.my_key, Options::new())?;
                if g.kvs.is_empty() {
                    self.my_rev = -1;
                    return Err(Error::SessionExpired);
                }
                self.hdr = hdr;
                Ok(())
            }
            Err(e) => {
                if e.is_context() {
                    let _ = self.unlock();
                }
                Err(e)
            }
        }
    }

    /// Takes the lock if nobody holds it, else fails with
    /// [`Error::Locked`] at once. Go: `TryLock(ctx)`.
    pub fn try_lock(&mut self) -> Result<()> {
        self.try_lock_ctx(&background())
    }

    /// [`try_lock`](Self::try_lock) under a context.
    pub fn try_lock_ctx(&mut self, ctx: &Context) -> Result<()> {
        if self.try_acquire(ctx)? {
            return Ok(());
        }
        self.s.client().delete_ctx(ctx, &self.my_key, Options::new())?;
        self.my_key.clear();
        self.my_rev = -1;
        Err(Error::Locked)
    }

    /// Releases the lock (deletes this waiter's key). Go: `Unlock(ctx)`.
    pub fn unlock(&mut self) -> Result<()> {
        self.unlock_ctx(&background())
    }

    /// [`unlock`](Self::unlock) under a context.
    pub fn unlock_ctx(&mut self, ctx: &Context) -> Result<()> {
        if !self.my_key.is_empty() {
            self.s.client().delete_ctx(ctx, &self.my_key, Options::new())?;
        }
        self.my_key.clear();
        self.my_rev = -1;
        Ok(())
    }

    /// A condition that holds while this mutex owns the lock, for
    /// transactions guarded by it. Go: `IsOwner()`.
    pub fn is_owner(&self) -> Compare {
        // Unlocked: a key no mutex uses, with a revision no key has (Go's "\x00", -1).
        let key = if self.my_key.is_empty() { "\0" } else { &self.my_key };
        Compare::create_revision(key).eq(self.my_rev)
    }

    /// The key of this waiter (empty when not locked). Go: `Key()`.
    pub fn key(&self) -> &str {
        &self.my_key
    }

    /// The header of the read that granted the lock. Go: `Header()`.
    pub fn header(&self) -> &ResponseHeader {
        &self.hdr
    }
}
