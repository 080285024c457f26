//! The keys the recipes are made of, and the waits on them.
//!
//! Go: client/v3/experimental/recipes/key.go (`newUniqueKV`,
//! `newSequentialKV`, `putNewKV`, `newUniqueEphemeralKey`), watch.go
//! (`WaitEvents`, `WaitPrefixEvents`), queue.go's `claimFirstKey` and
//! `deleteRevKey`.

use std::time::{SystemTime, UNIX_EPOCH};

use gort_sync::context::Context;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::kv::{Compare, Op};
use crate::options::Options;
use crate::types::{Event, EventType, KeyValue};

/// A key this process created, with the revision it was created at.
#[derive(Debug, Clone)]
pub(crate) struct RemoteKv {
    pub(crate) key: String,
    pub(crate) rev: i64,
}

/// Creates `key` with `val` only if it does not exist (attached to `lease`
/// unless 0); returns the creation revision, or [`Error::KeyExists`].
pub(crate) fn put_new_kv(c: &Client, ctx: &Context, key: &str, val: &[u8], lease: i64) -> Result<i64> {
    let resp = c
        .txn()
        .when([Compare::version(key).eq(0)])
        .and_then([Op::put(key, val, Options::new().with_lease(lease))])
        .commit_ctx(ctx)?;
    if resp.succeeded { Ok(resp.header.revision) } else { Err(Error::KeyExists) }
}

fn now_nanos() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

/// Creates `prefix/<nanoseconds>` with `val`, retrying on a collision.
pub(crate) fn new_unique_kv(
    c: &Client,
    ctx: &Context,
    prefix: &str,
    val: &[u8],
    lease: i64,
) -> Result<RemoteKv> {
    loop {
        let key = format!("{prefix}/{}", now_nanos());
        match put_new_kv(c, ctx, &key, val, lease) {
            Ok(rev) => return Ok(RemoteKv { key, rev }),
            Err(Error::KeyExists) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Creates `prefix/<16-digit sequence>`, one past the prefix's last key.
/// The base key `__<prefix>` is rewritten in the same transaction, and the
/// transaction requires it unchanged since the read, so two writers cannot
/// take the same number.
pub(crate) fn new_sequential_kv(c: &Client, ctx: &Context, prefix: &str, val: &[u8]) -> Result<RemoteKv> {
    loop {
        let resp = c.get_ctx(ctx, prefix, Options::last_key())?;
        let next = resp
            .kvs
            .first()
            .and_then(|kv| kv.key_str().rsplit('/').next().and_then(|n| n.parse::<u64>().ok()))
            .map_or(0, |n| n + 1);
        let key = format!("{prefix}/{next:016}");
        let base = format!("__{prefix}");
        let t = c
            .txn()
            .when([Compare::mod_revision(&base).lt(resp.header.revision + 1)])
            .and_then([Op::put(&base, "", Options::new()), Op::put(&key, val, Options::new())])
            .commit_ctx(ctx)?;
        if t.succeeded {
            return Ok(RemoteKv { key, rev: t.header.revision });
        }
    }
}

/// Deletes `key` if its mod revision is still `rev`; whether it did.
pub(crate) fn delete_rev_key(c: &Client, ctx: &Context, key: &[u8], rev: i64) -> Result<bool> {
    let t = c
        .txn()
        .when([Compare::mod_revision(key).eq(rev)])
        .and_then([Op::delete(key, Options::new())])
        .commit_ctx(ctx)?;
    Ok(t.succeeded)
}

/// Claims the first of `kvs` nobody else deleted first.
pub(crate) fn claim_first_key(c: &Client, ctx: &Context, kvs: &[KeyValue]) -> Result<Option<KeyValue>> {
    for kv in kvs {
        if delete_rev_key(c, ctx, &kv.key, kv.mod_revision)? {
            return Ok(Some(kv.clone()));
        }
    }
    Ok(None)
}

/// Waits for the first event of one of `kinds` on `key` (or on every key
/// under it, with `prefix`), watching from `rev`.
pub(crate) fn wait_events(
    c: &Client,
    ctx: &Context,
    key: &str,
    prefix: bool,
    rev: i64,
    kinds: &[EventType],
) -> Result<Event> {
    let mut opts = Options::new().with_rev(rev);
    if prefix {
        opts = opts.with_prefix();
    }
    let w = c.watch_ctx(ctx, key, opts);
    for resp in w.chan() {
        if let Some(e) = resp.err() {
            return Err(e);
        }
        if let Some(ev) = resp.events.into_iter().find(|e| kinds.contains(&e.kind)) {
            return Ok(ev);
        }
    }
    Err(crate::client::ended(ctx))
}
