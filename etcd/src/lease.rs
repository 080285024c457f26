//! The Lease service: grant, revoke, time-to-live, and keep-alive.
//!
//! Go: client/v3/lease.go (`Grant`, `Revoke`, `TimeToLive`,
//! `KeepAliveOnce`, `KeepAlive` and its `sendKeepAliveLoop`, which
//! refreshes every TTL/3 and gives the lease up once a TTL passes without
//! an answer).
//!
//! `LeaseKeepAlive` is a bidirectional stream that HTTP/1.1 cannot drive
//! in both directions at once, so each refresh is one POST carrying one
//! request, answered by one message. [`KeepAlive`] runs that loop in a
//! goroutine: it refreshes every TTL/3, passes each answer on its channel
//! (dropping answers nobody reads, as Go does), and ends, closing the
//! channel and [`KeepAlive::done`], when the lease is gone (an answer with
//! TTL 0, or no answer for a whole TTL) or when stopped.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use gort_channels::{Chan, Receiver, chan};
use gort_runtime::JoinHandle;
use gort_sync::context::{self, CancelFunc, Context, background};
use serde_json::json;

use crate::client::{Client, sleep_ctx};
use crate::error::{Error, Result};
use crate::stream::Msg;
use crate::types::{
    LeaseGrantResponse, LeaseKeepAliveResponse, LeaseRevokeResponse, LeaseTimeToLiveResponse,
};

impl Client {
    /// Grants a lease of `ttl` seconds. Go: `Grant(ctx, ttl)`.
    pub fn grant(&self, ttl: i64) -> Result<LeaseGrantResponse> {
        self.grant_ctx(&background(), ttl)
    }

    /// [`grant`](Self::grant) under a context.
    pub fn grant_ctx(&self, ctx: &Context, ttl: i64) -> Result<LeaseGrantResponse> {
        if ttl <= 0 {
            return Err(Error::InvalidArgument(format!("lease TTL {ttl}: it must be at least 1 second")));
        }
        self.call(ctx, "/v3/lease/grant", &json!({ "TTL": ttl }), false)
    }

    /// Revokes lease `id`, deleting its keys. Go: `Revoke(ctx, id)`.
    pub fn revoke(&self, id: i64) -> Result<LeaseRevokeResponse> {
        self.revoke_ctx(&background(), id)
    }

    /// [`revoke`](Self::revoke) under a context.
    pub fn revoke_ctx(&self, ctx: &Context, id: i64) -> Result<LeaseRevokeResponse> {
        self.call(ctx, "/v3/lease/revoke", &json!({ "ID": id }), true).map_err(|e| e.for_lease(id))
    }

    /// The lease's remaining TTL (-1 if it does not exist), and its keys
    /// if `keys`. Go: `TimeToLive(ctx, id, WithAttachedKeys())`.
    pub fn time_to_live(&self, id: i64, keys: bool) -> Result<LeaseTimeToLiveResponse> {
        self.time_to_live_ctx(&background(), id, keys)
    }

    /// [`time_to_live`](Self::time_to_live) under a context.
    pub fn time_to_live_ctx(&self, ctx: &Context, id: i64, keys: bool) -> Result<LeaseTimeToLiveResponse> {
        self.call(ctx, "/v3/lease/timetolive", &json!({ "ID": id, "keys": keys }), true)
    }

    /// Refreshes the lease once. An expired or unknown lease is
    /// [`Error::LeaseNotFound`]. Go: `KeepAliveOnce(ctx, id)`.
    pub fn keep_alive_once(&self, id: i64) -> Result<LeaseKeepAliveResponse> {
        self.keep_alive_once_ctx(&background(), id)
    }

    /// [`keep_alive_once`](Self::keep_alive_once) under a context.
    pub fn keep_alive_once_ctx(&self, ctx: &Context, id: i64) -> Result<LeaseKeepAliveResponse> {
        let m: Msg<LeaseKeepAliveResponse> =
            self.call(ctx, "/v3/lease/keepalive", &json!({ "ID": id }), true)?;
        let r = m.into_result(self.current_endpoint()).map_err(|e| e.for_lease(id))?;
        if r.ttl <= 0 {
            return Err(Error::LeaseNotFound { id });
        }
        Ok(r)
    }

    /// Keeps lease `id` alive in a goroutine until stopped or lost. The
    /// first refresh happens now (an unknown lease fails here). Go:
    /// `KeepAlive(ctx, id)`.
    pub fn keep_alive(&self, id: i64) -> Result<KeepAlive> {
        self.keep_alive_ctx(&background(), id)
    }

    /// [`keep_alive`](Self::keep_alive), also stopped when `ctx` ends.
    pub fn keep_alive_ctx(&self, ctx: &Context, id: i64) -> Result<KeepAlive> {
        let first = self.keep_alive_once_ctx(ctx, id)?;
        let (ctx, cancel) = context::with_cancel(ctx);
        let ch = chan::<LeaseKeepAliveResponse>(16);
        let done = chan::<()>(0);
        let lost = Arc::new(AtomicBool::new(false));
        let (c, tx, d, l) = (self.clone(), ch.sender(), done.clone(), lost.clone());
        let handle = gort_runtime::Builder::new().name("etcd keepalive").spawn(move || {
            let _ = tx.try_send(first.clone());
            keep_alive_loop(&c, &ctx, id, first.ttl, &tx, &l);
            tx.close();
            d.close();
        });
        Ok(KeepAlive { id, ch: ch.receiver(), done, lost, cancel, handle: Some(handle) })
    }
}

/// Refreshes every TTL/3 until the context ends or the lease is gone.
fn keep_alive_loop(
    c: &Client,
    ctx: &Context,
    id: i64,
    mut ttl: i64,
    tx: &gort_channels::Sender<LeaseKeepAliveResponse>,
    lost: &AtomicBool,
) {
    let mut last_ok = Instant::now();
    let mut wait = Duration::from_secs(ttl.max(1) as u64) / 3;
    loop {
        if sleep_ctx(ctx, wait).is_err() {
            return;
        }
        match c.keep_alive_once_ctx(ctx, id) {
            Ok(r) => {
                last_ok = Instant::now();
                ttl = r.ttl;
                wait = Duration::from_secs(ttl.max(1) as u64) / 3;
                let _ = tx.try_send(r);
            }
            Err(Error::Context(_)) => return,
            Err(Error::LeaseNotFound { .. }) => {
                lost.store(true, Ordering::Release);
                return;
            }
            Err(_) => {
                // Unreachable for now: try again soon, until a whole TTL
                // has passed since the last refresh.
                if last_ok.elapsed() >= Duration::from_secs(ttl.max(1) as u64) {
                    lost.store(true, Ordering::Release);
                    return;
                }
                wait = Duration::from_millis(500);
            }
        }
    }
}

/// A running keep-alive of one lease. Dropping it stops the refreshes
/// (the lease then expires after its TTL). Go: the channel `KeepAlive`
/// returns, with the context that stops it.
#[derive(Debug)]
pub struct KeepAlive {
    id: i64,
    ch: Receiver<LeaseKeepAliveResponse>,
    done: Chan<()>,
    lost: Arc<AtomicBool>,
    cancel: CancelFunc,
    handle: Option<JoinHandle<()>>,
}

impl KeepAlive {
    /// The lease ID.
    pub fn id(&self) -> i64 {
        self.id
    }

    /// The refreshes' answers; closed when the keep-alive ends. Answers
    /// nobody reads are dropped.
    pub fn chan(&self) -> &Receiver<LeaseKeepAliveResponse> {
        &self.ch
    }

    /// A channel closed when the keep-alive ends (lease lost, or stopped).
    pub fn done(&self) -> Receiver<()> {
        self.done.receiver()
    }

    /// Whether it ended because the lease was lost (expired, revoked, or
    /// unrefreshed for a whole TTL).
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::Acquire)
    }

    /// Stops refreshing and waits for the goroutine to end. Idempotent.
    pub fn stop(&mut self) {
        self.cancel.cancel();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for KeepAlive {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
