//! [`Election`]: leader election among processes.
//!
//! Go: client/v3/concurrency/election.go (`NewElection`, `ResumeElection`,
//! `Campaign`, `Proclaim`, `Resign`, `Leader`, `Observe`, `Key`, `Rev`).
//!
//! Algorithm (Go's): a candidate's key is `prefix/<lease hex>`, created in
//! a transaction with its value (or found, when the session already
//! campaigned, and given the new value). The leader is the key with the
//! lowest create revision; a candidate waits, as a mutex waiter does,
//! until every key created before its own is deleted. `proclaim` rewrites
//! the value only while the key still has the revision it was created
//! with (else [`Error::NotLeader`]); `resign` deletes it under the same
//! condition. `observe` reads the leader, then watches its key: each put
//! is a new value, its deletion means a new leader is read (or awaited).

use gort_channels::{Receiver, chan};
use gort_sync::context::{Context, background};

use crate::error::{Error, Result};
use crate::kv::{Compare, Op};
use crate::options::Options;
use crate::types::{EventType, GetResponse, KeyValue, ResponseHeader};

use super::Session;
use super::key::wait_deletes;

/// An election on a key prefix. Go: `concurrency.Election`.
///
/// ```no_run
/// # use gort_etcd::{Client, concurrency::{Session, Election}};
/// # let cli = Client::connect(["127.0.0.1:2379"])?;
/// let s = Session::with_ttl(&cli, 5)?;
/// let mut e = Election::new(&s, "/election/db");
/// e.campaign("node-1")?; // returns once elected
/// e.proclaim("node-1 at epoch 2")?;
/// e.resign()?;
/// # Ok::<(), gort_etcd::Error>(())
/// ```
#[derive(Debug)]
pub struct Election {
    s: Session,
    pfx: String,
    leader_key: String,
    leader_rev: i64,
    leading: bool,
    hdr: ResponseHeader,
}

impl Election {
    /// An election on `prefix`. Go: `NewElection(s, pfx)`.
    pub fn new(session: &Session, prefix: &str) -> Election {
        Election {
            s: session.clone(),
            pfx: format!("{prefix}/"),
            leader_key: String::new(),
            leader_rev: 0,
            leading: false,
            hdr: ResponseHeader::default(),
        }
    }

    /// An election already won, rebuilt from its key and create revision.
    /// Go: `ResumeElection`.
    pub fn resume(session: &Session, prefix: &str, leader_key: &str, leader_rev: i64) -> Election {
        let mut e = Election::new(session, prefix);
        e.leader_key = leader_key.to_string();
        e.leader_rev = leader_rev;
        e.leading = true;
        e
    }

    /// Runs for leader with `value`, returning once elected. Go: `Campaign`.
    pub fn campaign(&mut self, value: impl AsRef<[u8]>) -> Result<()> {
        self.campaign_ctx(&background(), value)
    }

    /// [`campaign`](Self::campaign), giving up (and withdrawing) when `ctx` ends.
    pub fn campaign_ctx(&mut self, ctx: &Context, value: impl AsRef<[u8]>) -> Result<()> {
        let value = value.as_ref();
        let c = self.s.client().clone();
        let k = format!("{}{:x}", self.pfx, self.s.lease());
        let resp = c
            .txn()
            .when([Compare::create_revision(&k).eq(0)])
            .and_then([Op::put(&k, value, Options::new().with_lease(self.s.lease()))])
            .or_else([Op::get(&k, Options::new())])
            .commit_ctx(ctx)?;
        self.leader_key = k;
        self.leader_rev = resp.header.revision;
        self.leading = true;
        if !resp.succeeded {
            let kv =
                resp.responses.first().and_then(|r| r.response_range.as_ref()).and_then(|r| r.kvs.first());
            let kv = kv.ok_or(Error::SessionExpired)?;
            self.leader_rev = kv.create_revision;
            if kv.value != value {
                if let Err(e) = self.proclaim_ctx(ctx, value) {
                    let _ = self.resign_ctx(ctx);
                    return Err(e);
                }
            }
        }
        match wait_deletes(&c, ctx, self.pfx.as_bytes(), self.leader_rev - 1) {
            Ok(_) => {
                let g = c.get_ctx(ctx, &self.leader_key, Options::new())?;
                if g.kvs.is_empty() {
                    self.leading = false;
                    return Err(Error::SessionExpired);
                }
                self.hdr = resp.header;
                Ok(())
            }
            Err(e) => {
                if e.is_context() {
                    let _ = self.resign();
                } else {
                    self.leading = false;
                }
                Err(e)
            }
        }
    }

    /// Sets the leader's value without a new election; fails with
    /// [`Error::NotLeader`] if this candidate no longer leads. Go: `Proclaim`.
    pub fn proclaim(&mut self, value: impl AsRef<[u8]>) -> Result<()> {
        self.proclaim_ctx(&background(), value)
    }

    /// [`proclaim`](Self::proclaim) under a context.
    pub fn proclaim_ctx(&mut self, ctx: &Context, value: impl AsRef<[u8]>) -> Result<()> {
        if !self.leading {
            return Err(Error::NotLeader);
        }
        let resp = self
            .s
            .client()
            .txn()
            .when([Compare::create_revision(&self.leader_key).eq(self.leader_rev)])
            .and_then([Op::put(&self.leader_key, value, Options::new().with_lease(self.s.lease()))])
            .commit_ctx(ctx)?;
        if !resp.succeeded {
            self.leader_key.clear();
            self.leading = false;
            return Err(Error::NotLeader);
        }
        self.hdr = resp.header;
        Ok(())
    }

    /// Gives up leadership (or candidacy); a no-op if not running. Go: `Resign`.
    pub fn resign(&mut self) -> Result<()> {
        self.resign_ctx(&background())
    }

    /// [`resign`](Self::resign) under a context.
    pub fn resign_ctx(&mut self, ctx: &Context) -> Result<()> {
        if !self.leading {
            return Ok(());
        }
        let resp = self
            .s
            .client()
            .txn()
            .when([Compare::create_revision(&self.leader_key).eq(self.leader_rev)])
            .and_then([Op::delete(&self.leader_key, Options::new())])
            .commit_ctx(ctx)?;
        self.hdr = resp.header;
        self.leader_key.clear();
        self.leading = false;
        Ok(())
    }

    /// The current leader's key and value; [`Error::NoLeader`] if none.
    /// Go: `Leader`.
    pub fn leader(&self) -> Result<GetResponse> {
        self.leader_ctx(&background())
    }

    /// [`leader`](Self::leader) under a context.
    pub fn leader_ctx(&self, ctx: &Context) -> Result<GetResponse> {
        let r = self.s.client().get_ctx(ctx, &self.pfx, Options::first_create())?;
        if r.kvs.is_empty() { Err(Error::NoLeader) } else { Ok(r) }
    }

    /// Leader changes: the current leader (when there is one), then every
    /// new value and every new leader, in order, until `ctx` ends (then the
    /// channel closes). Go: `Observe(ctx)`.
    pub fn observe(&self, ctx: &Context) -> Receiver<GetResponse> {
        let ch = chan::<GetResponse>(0);
        let (c, pfx, ctx, tx) = (self.s.client().clone(), self.pfx.clone(), ctx.clone(), ch.sender());
        gort_runtime::Builder::new().name("etcd election observe").spawn(move || {
            let _ = observe_loop(&c, &ctx, &pfx, &tx);
            tx.close();
        });
        ch.receiver()
    }

    /// This candidate's key (empty when not running). Go: `Key()`.
    pub fn key(&self) -> &str {
        &self.leader_key
    }

    /// The create revision of this candidate's key. Go: `Rev()`.
    pub fn rev(&self) -> i64 {
        self.leader_rev
    }

    /// The header of the last election call. Go: `Header()`.
    pub fn header(&self) -> &ResponseHeader {
        &self.hdr
    }
}

/// Sends `r` unless `ctx` ended; false if it did (or nobody listens).
fn offer(tx: &gort_channels::Sender<GetResponse>, ctx: &Context, r: GetResponse) -> bool {
    gort_channels::select! {
        send(tx, r) -> sent => sent.is_ok(),
        recv(ctx.done()) -> _ => false,
    }
}

fn observe_loop(
    c: &crate::Client,
    ctx: &Context,
    pfx: &str,
    tx: &gort_channels::Sender<GetResponse>,
) -> Result<()> {
    loop {
        let resp = c.get_ctx(ctx, pfx, Options::first_create())?;
        let (mut hdr, kv): (ResponseHeader, KeyValue) = match resp.kvs.first() {
            Some(kv) => (resp.header.clone(), kv.clone()),
            None => {
                // No leader: wait for the first put under the prefix.
                let w = c.watch_ctx(ctx, pfx, Options::new().with_prefix().with_rev(resp.header.revision));
                let mut found = None;
                while found.is_none() {
                    let wr = w.recv().ok_or(Error::WatchCanceled("observe".into()))?;
                    if let Some(e) = wr.err() {
                        return Err(e);
                    }
                    if let Some(ev) = wr.events.iter().find(|e| e.kind == EventType::Put) {
                        let mut h = wr.header.clone();
                        h.revision = ev.kv.mod_revision;
                        found = Some((h, ev.kv.clone()));
                    }
                }
                found.expect("loop ends with a leader")
            }
        };
        if !offer(tx, ctx, GetResponse { header: hdr.clone(), kvs: vec![kv.clone()], more: false, count: 1 })
        {
            return Ok(());
        }
        // Follow this leader's key until it is deleted.
        let w = c.watch_ctx(ctx, &kv.key, Options::new().with_rev(hdr.revision + 1));
        'leader: loop {
            let wr = w.recv().ok_or(Error::WatchCanceled("observe".into()))?;
            if let Some(e) = wr.err() {
                return Err(e);
            }
            for ev in wr.events {
                if ev.kind == EventType::Delete {
                    break 'leader;
                }
                hdr = wr.header.clone();
                if !offer(
                    tx,
                    ctx,
                    GetResponse { header: hdr.clone(), kvs: vec![ev.kv], more: false, count: 1 },
                ) {
                    return Ok(());
                }
            }
        }
    }
}
