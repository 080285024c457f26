//! [`Barrier`] and [`DoubleBarrier`]: processes waiting for each other.
//!
//! Go: client/v3/experimental/recipes/barrier.go, double_barrier.go.
//!
//! A [`Barrier`] is one key: `hold` creates it, `release` deletes it, and
//! `wait` returns at once if it is absent, else waits for its deletion
//! (watching from one past the read's revision).
//!
//! A [`DoubleBarrier`] of `count` parties (Go's algorithm): `enter` creates
//! an ephemeral unique key under `key/waiters`; the party that makes the
//! count complete puts `key/ready`, and the others wait for that put.
//! `leave` lets parties go only when every one has left: the party with
//! the oldest waiter key waits for the newest to be deleted, every other
//! party deletes its own key and waits for the oldest's deletion, and each
//! looks again after its wait; the last one deletes `key/ready`. Keys are
//! on the session's lease, so a crashed party's key goes within the TTL
//! and the others can proceed.

use gort_sync::context::{Context, background};

use crate::client::Client;
use crate::concurrency::Session;
use crate::error::{Error, Result};
use crate::options::Options;
use crate::types::EventType;

use super::keys::{RemoteKv, new_unique_kv, put_new_kv, wait_events};

/// A barrier that holds every waiter until released. Go: `recipe.Barrier`.
#[derive(Debug, Clone)]
pub struct Barrier {
    c: Client,
    key: String,
}

impl Barrier {
    /// The barrier at `key`. Go: `NewBarrier(client, key)`.
    pub fn new(client: &Client, key: &str) -> Barrier {
        Barrier { c: client.clone(), key: key.to_string() }
    }

    /// Raises the barrier; [`Error::KeyExists`] if already raised. Go: `Hold`.
    pub fn hold(&self) -> Result<()> {
        put_new_kv(&self.c, &background(), &self.key, b"", 0).map(|_| ())
    }

    /// Lowers the barrier, letting every waiter through. Go: `Release`.
    pub fn release(&self) -> Result<()> {
        self.c.delete(&self.key).map(|_| ())
    }

    /// Waits until the barrier is lowered (returns at once if it is not
    /// raised). Go: `Wait`.
    pub fn wait(&self) -> Result<()> {
        self.wait_ctx(&background())
    }

    /// [`wait`](Self::wait), giving up when `ctx` ends.
    pub fn wait_ctx(&self, ctx: &Context) -> Result<()> {
        let resp = self.c.get_ctx(ctx, &self.key, Options::new())?;
        if resp.kvs.is_empty() {
            return Ok(());
        }
        wait_events(&self.c, ctx, &self.key, false, resp.header.revision + 1, &[EventType::Delete])
            .map(|_| ())
    }
}

/// A barrier that `count` parties enter together and leave together. Go:
/// `recipe.DoubleBarrier`.
#[derive(Debug)]
pub struct DoubleBarrier {
    s: Session,
    key: String,
    count: usize,
    my_key: Option<RemoteKv>,
}

impl DoubleBarrier {
    /// A double barrier at `key` for `count` parties. Go:
    /// `NewDoubleBarrier(s, key, count)`.
    pub fn new(session: &Session, key: &str, count: usize) -> DoubleBarrier {
        DoubleBarrier { s: session.clone(), key: key.to_string(), count, my_key: None }
    }

    /// Waits until `count` parties have entered. Go: `Enter`.
    pub fn enter(&mut self) -> Result<()> {
        self.enter_ctx(&background())
    }

    /// [`enter`](Self::enter), giving up when `ctx` ends.
    pub fn enter_ctx(&mut self, ctx: &Context) -> Result<()> {
        let c = self.s.client();
        let waiters = format!("{}/waiters", self.key);
        let ek = new_unique_kv(c, ctx, &waiters, b"", self.s.lease())?;
        let rev = ek.rev;
        self.my_key = Some(ek);
        let resp = c.get_ctx(ctx, format!("{waiters}/"), Options::new().with_prefix())?;
        if resp.kvs.len() > self.count {
            return Err(Error::TooManyClients);
        }
        let ready = format!("{}/ready", self.key);
        if resp.kvs.len() == self.count {
            c.put_ctx(ctx, &ready, "", Options::new())?;
            return Ok(());
        }
        wait_events(c, ctx, &ready, false, rev, &[EventType::Put]).map(|_| ())
    }

    /// Waits until every party has left. Go: `Leave`.
    pub fn leave(&mut self) -> Result<()> {
        self.leave_ctx(&background())
    }

    /// [`leave`](Self::leave), giving up when `ctx` ends.
    pub fn leave_ctx(&mut self, ctx: &Context) -> Result<()> {
        let c = self.s.client().clone();
        let waiters = format!("{}/waiters/", self.key);
        loop {
            let resp = c.get_ctx(ctx, &waiters, Options::new().with_prefix())?;
            if resp.kvs.is_empty() {
                return Ok(());
            }
            let lowest = resp.kvs.iter().min_by_key(|kv| kv.mod_revision).expect("non-empty");
            let highest = resp.kvs.iter().max_by_key(|kv| kv.mod_revision).expect("non-empty");
            let mine = self.my_key.as_ref().map(|k| k.key.clone()).unwrap_or_default();
            if resp.kvs.len() == 1 {
                // The last one out.
                c.delete_ctx(ctx, format!("{}/ready", self.key), Options::new())?;
                c.delete_ctx(ctx, &mine, Options::new())?;
                self.my_key = None;
                return Ok(());
            }
            if lowest.key == mine.as_bytes() {
                // The oldest waits for the newest to go.
                wait_events(&c, ctx, &highest.key_str(), false, highest.mod_revision, &[EventType::Delete])?;
            } else {
                c.delete_ctx(ctx, &mine, Options::new())?;
                wait_events(&c, ctx, &lowest.key_str(), false, lowest.mod_revision, &[EventType::Delete])?;
            }
        }
    }
}
