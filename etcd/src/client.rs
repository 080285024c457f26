//! [`Client`]: endpoints, the HTTP calls to the JSON gateway, failover and
//! retries.
//!
//! Go: client/v3/client.go (`New`, `Config`), client/v3/retry.go and
//! retry_interceptor.go (which calls are retried on which errors), the
//! round-robin balancer's move to the next endpoint on a failed connection.
//!
//! Every call is one `POST /v3/<service>/<method>` with a JSON body on a
//! pooled keep-alive connection of a [`gort_http`] agent, so it parks only
//! its goroutine. The client sticks to one endpoint and moves to the next
//! when a connection to it fails or it answers 5xx:
//! - a connection that cannot be made means the request was never sent,
//!   so any call moves on at once; when every endpoint refused in turn,
//!   the call fails with [`Error::Unavailable`] naming the last one;
//! - a connection broken mid-call moves an idempotent call (reads, status,
//!   keep-alives) to the next endpoint; a mutation reports the failure,
//!   since it may have been applied;
//! - "unavailable" answers (no leader, leader changed, too many requests)
//!   are retried on the next endpoint with a backoff from 25 ms doubling to
//!   500 ms, for up to [`Config::retry_timeout`] or the context's deadline.
//!
//! With a context ([`gort_sync::context::Context`]), the call runs under
//! [`gort_http::with_context`]: its deadline bounds every connect, read and
//! write, and cancellation closes the connection and returns
//! [`Error::Context`].

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gort_http::ureq;
use gort_sync::context::{self, Context};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, Result};

/// The largest answer read (a range of many keys can be large).
const MAX_ANSWER: u64 = 1 << 30;

/// A client's settings. Go: `clientv3.Config`.
#[derive(Debug, Clone)]
pub struct Config {
    /// Client URLs of the members (`http://127.0.0.1:2379`); a bare
    /// `host:port` means `http://host:port`.
    pub endpoints: Vec<String>,
    /// The timeout of each connect. Go: `DialTimeout`. Default 5 s.
    pub dial_timeout: Duration,
    /// How long "unavailable" answers (no leader, leader changed) are
    /// retried before the call fails. Default 10 s.
    pub retry_timeout: Duration,
    /// Idle connections kept per endpoint. Default 64.
    pub max_idle_per_endpoint: usize,
}

impl Config {
    /// The defaults, with these endpoints.
    pub fn new<I: IntoIterator<Item = S>, S: AsRef<str>>(endpoints: I) -> Config {
        Config {
            endpoints: endpoints.into_iter().map(|s| s.as_ref().to_string()).collect(),
            dial_timeout: Duration::from_secs(5),
            retry_timeout: Duration::from_secs(10),
            max_idle_per_endpoint: 64,
        }
    }
}

/// An etcd v3 client. Cheap to clone; clones share connections. Go:
/// `clientv3.Client`.
///
/// ```no_run
/// let cli = gort_etcd::Client::connect(["http://127.0.0.1:2379"])?;
/// cli.put("greeting", "hello")?;
/// let resp = cli.get("greeting")?;
/// assert_eq!(resp.kvs[0].value, b"hello");
/// # Ok::<(), gort_etcd::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    endpoints: Vec<String>,
    current: AtomicUsize,
    pub(crate) agent: ureq::Agent,
    cfg: Config,
}

/// How a call failed on one endpoint.
pub(crate) enum Fail {
    /// No connection could be made: nothing was sent.
    Connect(String),
    /// The connection broke during the call.
    Transport(String),
    /// The server answered with an error (or an answer we cannot read).
    Answer(Error),
    /// The context ended.
    Ctx(context::Error),
}

/// Whether an answer says the member could not serve the request and did
/// not apply it.
fn retryable(e: &Error, idempotent: bool) -> bool {
    let Error::Server { code, status, message, .. } = e else { return false };
    let unavailable = *code == 14 || *status == 503;
    let not_applied = ["no leader", "leader changed", "too many requests", "not capable", "unhealthy"]
        .iter()
        .any(|m| message.contains(m));
    (unavailable || *status >= 500) && (idempotent || not_applied)
}

impl Client {
    /// A client of these endpoints with [`Config::new`]'s defaults. Go:
    /// `clientv3.New(clientv3.Config{Endpoints: ...})`. Nothing is sent
    /// yet: an unreachable endpoint shows in the first call.
    pub fn connect<I: IntoIterator<Item = S>, S: AsRef<str>>(endpoints: I) -> Result<Client> {
        Client::new(Config::new(endpoints))
    }

    /// A client with these settings; fails on an empty or malformed
    /// endpoint list.
    pub fn new(cfg: Config) -> Result<Client> {
        if cfg.endpoints.is_empty() {
            return Err(Error::InvalidArgument(
                "no endpoints: pass at least one client URL, e.g. http://127.0.0.1:2379".into(),
            ));
        }
        let mut endpoints = Vec::new();
        for e in &cfg.endpoints {
            let e = e.trim().trim_end_matches('/');
            let url = if e.contains("://") { e.to_string() } else { format!("http://{e}") };
            let ok_scheme = url.starts_with("http://") || url.starts_with("https://");
            let host = url.split("://").nth(1).unwrap_or("");
            if !ok_scheme || host.is_empty() || host.contains('/') {
                return Err(Error::InvalidArgument(format!(
                    "endpoint {e:?} is not a client URL: use http://host:port or https://host:port"
                )));
            }
            endpoints.push(url);
        }
        let agent = gort_http::AgentBuilder::new()
            .connect_timeout(cfg.dial_timeout)
            .max_idle_per_host(cfg.max_idle_per_endpoint)
            .status_as_error(false)
            .build();
        Ok(Client { inner: Arc::new(Inner { endpoints, current: AtomicUsize::new(0), agent, cfg }) })
    }

    /// The endpoints, as URLs.
    pub fn endpoints(&self) -> &[String] {
        &self.inner.endpoints
    }

    /// The client's settings.
    pub(crate) fn inner_cfg(&self) -> Config {
        self.inner.cfg.clone()
    }

    /// The endpoint calls go to now.
    pub fn current_endpoint(&self) -> &str {
        let i = self.inner.current.load(Ordering::Relaxed);
        &self.inner.endpoints[i % self.inner.endpoints.len()]
    }

    /// Moves to the endpoint after `from` (unless another call already has).
    pub(crate) fn rotate(&self, from: usize) {
        let _ = self.inner.current.compare_exchange(
            from,
            from.wrapping_add(1),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    /// The index and URL of the endpoint in use.
    pub(crate) fn pick(&self) -> (usize, &str) {
        let i = self.inner.current.load(Ordering::Relaxed);
        (i, &self.inner.endpoints[i % self.inner.endpoints.len()])
    }

    /// Calls `path` with `body` and decodes the answer, moving between
    /// endpoints and retrying as the module docs say.
    pub(crate) fn call<T: DeserializeOwned>(
        &self,
        ctx: &Context,
        path: &str,
        body: &Value,
        idempotent: bool,
    ) -> Result<T> {
        let body = serde_json::to_vec(body).expect("a JSON value serializes");
        let n = self.inner.endpoints.len();
        let start = Instant::now();
        let mut refused = 0;
        let mut broken = 0;
        let mut backoff = Duration::from_millis(25);
        loop {
            let (i, ep) = self.pick();
            match self.post(ctx, ep, path, &body) {
                Ok(bytes) => return decode(ep, &bytes),
                Err(Fail::Ctx(e)) => return Err(Error::Context(e)),
                Err(Fail::Connect(reason)) => {
                    refused += 1;
                    self.rotate(i);
                    if refused >= n {
                        return Err(Error::Unavailable { endpoint: ep.to_string(), reason });
                    }
                }
                Err(Fail::Transport(reason)) => {
                    broken += 1;
                    self.rotate(i);
                    if !idempotent || broken > n {
                        return Err(Error::Unavailable { endpoint: ep.to_string(), reason });
                    }
                    refused = 0;
                }
                Err(Fail::Answer(e)) => {
                    if !retryable(&e, idempotent) || start.elapsed() >= self.inner.cfg.retry_timeout {
                        return Err(e);
                    }
                    refused = 0;
                    self.rotate(i);
                    if n == 1 || (i + 1) % n == 0 {
                        sleep_ctx(ctx, backoff)?;
                        backoff = (backoff * 2).min(Duration::from_millis(500));
                    }
                }
            }
        }
    }

    /// One POST to one endpoint.
    fn post(&self, ctx: &Context, ep: &str, path: &str, body: &[u8]) -> std::result::Result<Vec<u8>, Fail> {
        let url = format!("{ep}{path}");
        let run = || -> std::result::Result<(u16, Vec<u8>), ureq::Error> {
            let mut resp =
                self.inner.agent.post(&url).header("content-type", "application/json").send(body)?;
            let status = resp.status().as_u16();
            let bytes = resp.body_mut().with_config().limit(MAX_ANSWER).read_to_vec()?;
            Ok((status, bytes))
        };
        let r = if ctx.done_opt().is_none() {
            run()
        } else {
            gort_http::with_context(ctx, run).map_err(Fail::Ctx)?
        };
        match r {
            Ok((200, bytes)) => Ok(bytes),
            Ok((status, bytes)) => Err(Fail::Answer(server_error(ep, status, &bytes, body.len()))),
            Err(e) => Err(classify(e)),
        }
    }
}

/// Sleeps `d`, or less if `ctx` ends first (then its error).
pub(crate) fn sleep_ctx(ctx: &Context, d: Duration) -> Result<()> {
    match ctx.done_opt() {
        None => {
            gort_runtime::sleep(d);
            Ok(())
        }
        Some(done) => {
            gort_channels::select! {
                recv(done) -> _ => Err(Error::Context(ctx.err().unwrap_or(context::Error::Canceled))),
                recv(gort_channels::after(d)) -> _ => Ok(()),
            }
        }
    }
}

/// Why a stream ended under `ctx`: the context's error (also when its
/// deadline has passed but its timer has not fired yet), else a watch that
/// ended by itself.
pub(crate) fn ended(ctx: &Context) -> Error {
    match ctx.err() {
        Some(e) => Error::Context(e),
        None if ctx.deadline().is_some_and(|d| Instant::now() >= d) => {
            Error::Context(context::Error::DeadlineExceeded)
        }
        None => Error::WatchCanceled("the watch ended".into()),
    }
}

/// Sorts a transport error into "never connected" and "broke mid-call".
pub(crate) fn classify(e: ureq::Error) -> Fail {
    use std::io::ErrorKind as K;
    match &e {
        ureq::Error::Timeout(ureq::Timeout::Connect) => Fail::Connect("connect timed out".into()),
        ureq::Error::HostNotFound => Fail::Connect("host not found".into()),
        ureq::Error::Io(io)
            if matches!(
                io.kind(),
                K::ConnectionRefused | K::AddrNotAvailable | K::HostUnreachable | K::NetworkUnreachable
            ) =>
        {
            Fail::Connect(io.to_string())
        }
        _ => Fail::Transport(e.to_string()),
    }
}

/// Decodes a 200 answer.
pub(crate) fn decode<T: DeserializeOwned>(ep: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::Malformed { endpoint: ep.to_string(), detail: malformed(e, bytes) })
}

fn malformed(e: serde_json::Error, bytes: &[u8]) -> String {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(120)]).into_owned();
    format!("{e}; the answer starts {head:?}")
}

/// The error of a non-200 answer: `{"error","message","code"}`.
pub(crate) fn server_error(ep: &str, status: u16, bytes: &[u8], request_len: usize) -> Error {
    #[derive(serde::Deserialize)]
    struct Wire {
        #[serde(default)]
        error: String,
        #[serde(default)]
        message: String,
        #[serde(default)]
        code: i32,
    }
    let w: Wire = match serde_json::from_slice(bytes) {
        Ok(w) => w,
        Err(e) => {
            return Error::Malformed {
                endpoint: ep.to_string(),
                detail: format!("HTTP {status}: {}", malformed(e, bytes)),
            };
        }
    };
    let message = if w.message.is_empty() { w.error } else { w.message };
    classify_message(ep, status, w.code, message, request_len)
}

/// Maps etcd's messages that users meet most to their own variants.
pub(crate) fn classify_message(
    ep: &str,
    status: u16,
    code: i32,
    message: String,
    request_len: usize,
) -> Error {
    if message.contains("request is too large") || message.contains("larger than max") {
        Error::RequestTooLarge { bytes: request_len }
    } else if message.contains("requested lease not found") {
        Error::LeaseNotFound { id: 0 }
    } else if message.contains("required revision has been compacted") {
        Error::Compacted { compact_revision: 0 }
    } else if message.contains("required revision is a future revision") {
        Error::FutureRevision
    } else {
        Error::Server { endpoint: ep.to_string(), code, status, message }
    }
}
