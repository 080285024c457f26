//! Software transactional memory: run a function over etcd keys as one
//! transaction, re-running it when another writer got there first.
//!
//! Go: client/v3/concurrency/stm.go (`NewSTM`, `STM`, `Isolation`:
//! `SerializableSnapshot`, `Serializable`, `RepeatableReads`,
//! `ReadCommitted`).
//!
//! The function reads through [`Stm::get`] (each key fetched once, then
//! served from the read set) and writes into a write set with
//! [`Stm::put`] / [`Stm::del`]; nothing is written until it returns. Then
//! one transaction applies the write set if the isolation level's
//! conditions hold, and otherwise the function runs again from scratch:
//! - `RepeatableReads`: every key read still has the mod revision it was
//!   read at (absent keys are still absent);
//! - `Serializable`: the same, and all reads come from the snapshot at the
//!   first read's revision;
//! - `SerializableSnapshot` (the default): `Serializable`, and no key
//!   written was modified after that snapshot either (so write-write
//!   conflicts retry too);
//! - `ReadCommitted`: no conditions; the writes always apply.
//!
//! An error returned by the function aborts without writing. Unlike Go,
//! a failed commit does not prefetch the read set for the next run: the
//! next run reads it again.

use std::collections::BTreeMap;

use gort_sync::context::{Context, background};

use crate::client::Client;
use crate::error::Result;
use crate::kv::{Compare, Op};
use crate::options::Options;
use crate::types::{GetResponse, TxnResponse};

/// An isolation level. Go: `concurrency.Isolation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Isolation {
    /// Serializable reads and no write-write conflicts (Go's default).
    #[default]
    SerializableSnapshot,
    /// Reads from one snapshot; read keys unchanged at commit.
    Serializable,
    /// Read keys unchanged at commit.
    RepeatableReads,
    /// No checks.
    ReadCommitted,
}

/// A write waiting for commit: a value, or a deletion.
#[derive(Debug, Clone)]
enum Write {
    Put(Vec<u8>, Options),
    Del,
}

/// The transaction an STM function works in. Go: the `STM` interface.
#[derive(Debug)]
pub struct Stm {
    client: Client,
    ctx: Context,
    iso: Isolation,
    rset: BTreeMap<Vec<u8>, GetResponse>,
    wset: BTreeMap<Vec<u8>, Write>,
    snapshot: Option<i64>,
}

impl Stm {
    /// The value of `key` in this transaction (its own write if any; empty
    /// if absent), as text. Go: `Get`.
    pub fn get(&mut self, key: impl AsRef<[u8]>) -> Result<String> {
        Ok(String::from_utf8_lossy(&self.get_bytes(key)?).into_owned())
    }

    /// [`get`](Self::get) as bytes.
    pub fn get_bytes(&mut self, key: impl AsRef<[u8]>) -> Result<Vec<u8>> {
        let key = key.as_ref();
        if let Some(w) = self.wset.get(key) {
            return Ok(match w {
                Write::Put(v, _) => v.clone(),
                Write::Del => Vec::new(),
            });
        }
        Ok(self.fetch(key)?.kvs.first().map(|kv| kv.value.clone()).unwrap_or_default())
    }

    /// The mod revision of `key` as read (0 if absent). Go: `Rev`.
    pub fn rev(&mut self, key: impl AsRef<[u8]>) -> Result<i64> {
        Ok(self.fetch(key.as_ref())?.kvs.first().map_or(0, |kv| kv.mod_revision))
    }

    /// Sets `key` at commit. Go: `Put`.
    pub fn put(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.put_with(key, value, Options::new());
    }

    /// Sets `key` at commit, with put options (a lease). Go: `Put(k, v, opts...)`.
    pub fn put_with(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>, opts: Options) {
        self.wset.insert(key.as_ref().to_vec(), Write::Put(value.as_ref().to_vec(), opts));
    }

    /// Deletes `key` at commit. Go: `Del`.
    pub fn del(&mut self, key: impl AsRef<[u8]>) {
        self.wset.insert(key.as_ref().to_vec(), Write::Del);
    }

    fn fetch(&mut self, key: &[u8]) -> Result<&GetResponse> {
        if !self.rset.contains_key(key) {
            let serial = matches!(self.iso, Isolation::Serializable | Isolation::SerializableSnapshot);
            let opts = match self.snapshot {
                Some(rev) if serial => Options::new().with_rev(rev).with_serializable(),
                _ => Options::new(),
            };
            let r = self.client.get_ctx(&self.ctx, key, opts)?;
            if serial && self.snapshot.is_none() {
                self.snapshot = Some(r.header.revision);
            }
            self.rset.insert(key.to_vec(), r);
        }
        Ok(&self.rset[key])
    }

    fn reset(&mut self) {
        self.rset.clear();
        self.wset.clear();
        self.snapshot = None;
    }

    /// The commit's conditions for this isolation level.
    fn conflicts(&self) -> Vec<Compare> {
        let reads = || {
            self.rset
                .iter()
                .map(|(k, r)| Compare::mod_revision(k).eq(r.kvs.first().map_or(0, |kv| kv.mod_revision)))
        };
        match self.iso {
            Isolation::ReadCommitted => Vec::new(),
            Isolation::RepeatableReads | Isolation::Serializable => reads().collect(),
            Isolation::SerializableSnapshot => {
                let mut c: Vec<Compare> = reads().collect();
                if let Some(rev) = self.snapshot {
                    c.extend(self.wset.keys().map(|k| Compare::mod_revision(k).lt(rev + 1)));
                }
                c
            }
        }
    }

    fn commit(&self) -> Result<TxnResponse> {
        let ops = self.wset.iter().map(|(k, w)| match w {
            Write::Put(v, o) => Op::put(k, v, o.clone()),
            Write::Del => Op::delete(k, Options::new()),
        });
        self.client.txn().when(self.conflicts()).and_then(ops).commit_ctx(&self.ctx)
    }
}

/// Runs `apply` as a transaction with the default isolation
/// (`SerializableSnapshot`), retrying on conflict. Go: `NewSTM(client, apply)`.
///
/// ```no_run
/// # use gort_etcd::{Client, concurrency::new_stm};
/// # let cli = Client::connect(["127.0.0.1:2379"])?;
/// // Move 10 from one account to another, atomically.
/// new_stm(&cli, |stm| {
///     let a: i64 = stm.get("acct/a")?.parse().unwrap_or(0);
///     let b: i64 = stm.get("acct/b")?.parse().unwrap_or(0);
///     stm.put("acct/a", (a - 10).to_string());
///     stm.put("acct/b", (b + 10).to_string());
///     Ok(())
/// })?;
/// # Ok::<(), gort_etcd::Error>(())
/// ```
pub fn new_stm(client: &Client, apply: impl FnMut(&mut Stm) -> Result<()>) -> Result<TxnResponse> {
    new_stm_with(client, &background(), Isolation::default(), apply)
}

/// [`new_stm`] with a context (Go: `WithAbortContext`) and an isolation
/// level (Go: `WithIsolation`).
pub fn new_stm_with(
    client: &Client,
    ctx: &Context,
    iso: Isolation,
    mut apply: impl FnMut(&mut Stm) -> Result<()>,
) -> Result<TxnResponse> {
    let mut stm = Stm {
        client: client.clone(),
        ctx: ctx.clone(),
        iso,
        rset: BTreeMap::new(),
        wset: BTreeMap::new(),
        snapshot: None,
    };
    loop {
        stm.reset();
        apply(&mut stm)?;
        let resp = stm.commit()?;
        if resp.succeeded {
            return Ok(resp);
        }
    }
}
