//! [`Queue`] and [`PriorityQueue`]: multi-producer, multi-consumer queues
//! shared by processes.
//!
//! Go: client/v3/experimental/recipes/queue.go, priority_queue.go.
//!
//! Algorithm (Go's): `enqueue` creates a new key under the queue's prefix
//! (a unique time-ordered key for [`Queue`]; `prefix/<priority, 5
//! digits>/<sequence>` for [`PriorityQueue`]). `dequeue` reads the first
//! key (oldest by mod revision, or lowest key: lowest priority number
//! first, then arrival order) and claims it by deleting it only if its mod
//! revision is unchanged: of several consumers exactly one claim succeeds,
//! so no element is lost or delivered twice. A consumer that finds the
//! queue empty watches the prefix from the read's revision for the next
//! put and claims that key, or starts over if another consumer got it.
//! `dequeue` blocks while the queue is empty.

use gort_sync::context::{Context, background};

use crate::client::Client;
use crate::error::Result;
use crate::options::Options;
use crate::types::EventType;

use super::keys::{claim_first_key, delete_rev_key, new_sequential_kv, new_unique_kv, wait_events};

/// Takes the first key under `prefix` (by `first`'s order), waiting for a
/// put while there is none.
fn dequeue(c: &Client, ctx: &Context, prefix: &str, first: &Options) -> Result<String> {
    loop {
        let resp = c.get_ctx(ctx, prefix, first.clone())?;
        if let Some(kv) = claim_first_key(c, ctx, &resp.kvs)? {
            return Ok(kv.value_str().into_owned());
        }
        if resp.more {
            // The keys read were all claimed by others; read on.
            continue;
        }
        let ev = wait_events(c, ctx, prefix, true, resp.header.revision, &[EventType::Put])?;
        if delete_rev_key(c, ctx, &ev.kv.key, ev.kv.mod_revision)? {
            return Ok(ev.kv.value_str().into_owned());
        }
    }
}

/// A FIFO queue of strings. Go: `recipe.Queue`.
#[derive(Debug, Clone)]
pub struct Queue {
    c: Client,
    pfx: String,
}

impl Queue {
    /// The queue under `prefix`. Go: `NewQueue(client, prefix)`.
    pub fn new(client: &Client, prefix: &str) -> Queue {
        Queue { c: client.clone(), pfx: prefix.to_string() }
    }

    /// Adds `val` at the back. Go: `Enqueue`.
    pub fn enqueue(&self, val: &str) -> Result<()> {
        self.enqueue_ctx(&background(), val)
    }

    /// [`enqueue`](Self::enqueue) under a context.
    pub fn enqueue_ctx(&self, ctx: &Context, val: &str) -> Result<()> {
        new_unique_kv(&self.c, ctx, &self.pfx, val.as_bytes(), 0).map(|_| ())
    }

    /// Takes the front element, blocking while the queue is empty. Go: `Dequeue`.
    pub fn dequeue(&self) -> Result<String> {
        self.dequeue_ctx(&background())
    }

    /// [`dequeue`](Self::dequeue), giving up when `ctx` ends.
    pub fn dequeue_ctx(&self, ctx: &Context) -> Result<String> {
        dequeue(&self.c, ctx, &format!("{}/", self.pfx), &Options::first_rev())
    }
}

/// A queue ordered by priority (lower number first), FIFO within a
/// priority. Go: `recipe.PriorityQueue`.
#[derive(Debug, Clone)]
pub struct PriorityQueue {
    c: Client,
    pfx: String,
}

impl PriorityQueue {
    /// The queue under `prefix`. Go: `NewPriorityQueue(client, prefix)`.
    pub fn new(client: &Client, prefix: &str) -> PriorityQueue {
        PriorityQueue { c: client.clone(), pfx: format!("{prefix}/") }
    }

    /// Adds `val` with priority `pr` (0 comes out first). Go: `Enqueue`.
    pub fn enqueue(&self, val: &str, pr: u16) -> Result<()> {
        self.enqueue_ctx(&background(), val, pr)
    }

    /// [`enqueue`](Self::enqueue) under a context.
    pub fn enqueue_ctx(&self, ctx: &Context, val: &str, pr: u16) -> Result<()> {
        let prefix = format!("{}{pr:05}", self.pfx);
        new_sequential_kv(&self.c, ctx, &prefix, val.as_bytes()).map(|_| ())
    }

    /// Takes the element with the lowest priority number, blocking while
    /// the queue is empty. Go: `Dequeue`.
    pub fn dequeue(&self) -> Result<String> {
        self.dequeue_ctx(&background())
    }

    /// [`dequeue`](Self::dequeue), giving up when `ctx` ends.
    pub fn dequeue_ctx(&self, ctx: &Context) -> Result<String> {
        dequeue(&self.c, ctx, &self.pfx, &Options::first_key())
    }
}
