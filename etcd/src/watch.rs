//! The Watch service: a goroutine streams a watch's events onto a gort
//! channel.
//!
//! Go: client/v3/watch.go (`Watch`, `WatchResponse`, the watcher's resume
//! from the last revision seen after a broken stream).
//!
//! `POST /v3/watch` with one `create_request` answers with a long-lived
//! chunked stream, one JSON message per line: first `created`, then event
//! batches. The watch goroutine reads it and sends each batch on the
//! channel. It remembers the next revision it needs (one past the last
//! event, or past the creation's header revision when no start revision
//! was given), so when the connection breaks it reconnects, to the next
//! endpoint, from that revision: no event is lost or repeated. A watch is
//! cancelled by closing its connection: [`WatchStream::cancel`], dropping
//! the stream, or the context's end. A watch the server ends (compacted
//! revision, [`crate::WatchResponse::err`]) delivers that response, then
//! the channel closes.

use std::io::BufRead;
use std::time::Duration;

use gort_channels::{Receiver, Sender, chan};
use gort_http::ureq;
use gort_sync::context::{self, CancelFunc, Context, background};

use crate::client::{Client, Fail, classify, server_error, sleep_ctx};
use crate::options::Options;
use crate::stream::Msg;
use crate::types::WatchResponse;

impl Client {
    /// Watches `key` (with options: prefix, range, from revision, prev_kv,
    /// filters, progress notify). Go: `Watch(ctx, key, opts...)`.
    ///
    /// ```no_run
    /// use gort_etcd::{Client, Options};
    /// let cli = Client::connect(["127.0.0.1:2379"])?;
    /// let w = cli.watch("config/", Options::new().with_prefix());
    /// for resp in w.chan() {
    ///     for ev in &resp.events {
    ///         println!("{:?} {}", ev.kind, ev.kv.key_str());
    ///     }
    /// }
    /// # Ok::<(), gort_etcd::Error>(())
    /// ```
    pub fn watch(&self, key: impl AsRef<[u8]>, opts: Options) -> WatchStream {
        self.watch_ctx(&background(), key, opts)
    }

    /// [`watch`](Self::watch), cancelled when `ctx` ends.
    pub fn watch_ctx(&self, ctx: &Context, key: impl AsRef<[u8]>, opts: Options) -> WatchStream {
        let (ctx, cancel) = context::with_cancel(ctx);
        let ch = chan::<WatchResponse>(16);
        let (c, tx, key) = (self.clone(), ch.sender(), key.as_ref().to_vec());
        gort_runtime::Builder::new().name("etcd watch").spawn(move || {
            watch_loop(&c, &ctx, &key, &opts, &tx);
            tx.close();
        });
        WatchStream { ch: ch.receiver(), cancel }
    }
}

/// How one connection of a watch ended.
enum End {
    /// The watch is over (cancelled by the server, or by us).
    Over,
    /// The connection broke: resume elsewhere.
    Broken,
}

fn watch_loop(c: &Client, ctx: &Context, key: &[u8], opts: &Options, tx: &Sender<WatchResponse>) {
    let mut next = opts.rev;
    let mut backoff = Duration::from_millis(50);
    while ctx.err().is_none() {
        let (i, ep) = c.pick();
        let ep = ep.to_string();
        let body = serde_json::to_vec(&opts.watch_request(key, next)).expect("a JSON value serializes");
        let url = format!("{ep}/v3/watch");
        let r = gort_http::with_context(ctx, || -> Result<End, Fail> {
            let resp = c.inner.agent.post(&url).header("content-type", "application/json").send(&body[..]);
            let mut resp = resp.map_err(classify)?;
            let status = resp.status().as_u16();
            if status != 200 {
                let bytes = resp.body_mut().read_to_vec().map_err(classify)?;
                return Err(Fail::Answer(server_error(&ep, status, &bytes, body.len())));
            }
            let reader = resp.into_body().into_with_config().limit(u64::MAX).reader();
            for line in std::io::BufReader::new(reader).lines() {
                let line = line.map_err(|e| classify(ureq::Error::Io(e)))?;
                if line.trim().is_empty() {
                    continue;
                }
                let msg: Msg<WatchResponse> =
                    crate::client::decode(&ep, line.as_bytes()).map_err(Fail::Answer)?;
                let wr = match msg.into_result(&ep) {
                    Ok(wr) => wr,
                    Err(e) => return Err(Fail::Answer(e)),
                };
                if let Some(last) = wr.events.last() {
                    next = last.kv.mod_revision + 1;
                } else if wr.created && next == 0 {
                    next = wr.header.revision + 1;
                }
                if wr.created && !wr.canceled {
                    continue;
                }
                let over = wr.canceled;
                gort_channels::select! {
                    send(tx, wr) -> _ => {},
                    recv(ctx.done()) -> _ => return Ok(End::Over),
                }
                if over {
                    return Ok(End::Over);
                }
            }
            Ok(End::Broken)
        });
        match r {
            Err(_) | Ok(Ok(End::Over)) => return,
            Ok(Ok(End::Broken)) | Ok(Err(Fail::Connect(_) | Fail::Transport(_))) => {}
            Ok(Err(Fail::Answer(e))) => {
                // The server refused the watch itself (a compacted start
                // revision on some versions): report it as a cancellation.
                let mut wr =
                    WatchResponse { canceled: true, cancel_reason: e.to_string(), ..Default::default() };
                if let crate::Error::Compacted { compact_revision } = e {
                    wr.compact_revision = compact_revision.max(1);
                }
                let _ = tx.send(wr);
                return;
            }
            Ok(Err(Fail::Ctx(_))) => return,
        }
        c.rotate(i);
        if sleep_ctx(ctx, backoff).is_err() {
            return;
        }
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
}

/// A running watch: its channel of responses and the handle that cancels
/// it. Dropping it cancels the watch. Go: `WatchChan` and the context that
/// cancels it.
#[derive(Debug)]
pub struct WatchStream {
    ch: Receiver<WatchResponse>,
    cancel: CancelFunc,
}

impl WatchStream {
    /// The responses; closed once the watch ends.
    pub fn chan(&self) -> &Receiver<WatchResponse> {
        &self.ch
    }

    /// The next response, or `None` once the watch ended.
    pub fn recv(&self) -> Option<WatchResponse> {
        self.ch.recv()
    }

    /// Cancels the watch: closes its connection; the channel then closes.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }
}

impl Drop for WatchStream {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
