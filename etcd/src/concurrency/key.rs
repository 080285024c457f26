//! Waiting for keys to be deleted: the wait under every lock and election.
//!
//! Go: client/v3/concurrency/key.go (`waitDelete`, `waitDeletes`).
//!
//! `wait_deletes` waits until no key under a prefix was created at or
//! before a revision: it finds the newest such key, watches it from the
//! revision of the read that found it until a delete event, and repeats.
//! Watching from that revision means a delete that happens between the
//! read and the watch's creation is still seen.

use gort_sync::context::Context;

use crate::client::Client;
use crate::error::Result;
use crate::options::Options;
use crate::types::{EventType, ResponseHeader};

/// Waits for `key`'s deletion, watching from revision `rev`.
pub(crate) fn wait_delete(c: &Client, ctx: &Context, key: &[u8], rev: i64) -> Result<()> {
    let w = c.watch_ctx(ctx, key, Options::new().with_rev(rev));
    for resp in w.chan() {
        if let Some(e) = resp.err() {
            return Err(e);
        }
        if resp.events.iter().any(|e| e.kind == EventType::Delete) {
            return Ok(());
        }
    }
    Err(crate::client::ended(ctx))
}

/// Waits until every key under `prefix` created at or before
/// `max_create_rev` is gone; returns the header of the last read.
pub(crate) fn wait_deletes(
    c: &Client,
    ctx: &Context,
    prefix: &[u8],
    max_create_rev: i64,
) -> Result<ResponseHeader> {
    let opts = Options::last_create().with_max_create_rev(max_create_rev);
    loop {
        let resp = c.get_ctx(ctx, prefix, opts.clone())?;
        let Some(kv) = resp.kvs.first() else { return Ok(resp.header) };
        wait_delete(c, ctx, &kv.key, resp.header.revision)?;
    }
}
