//! hyper 1 serving HTTP/1.1 and HTTP/2 on goroutines, with no tokio
//! runtime: one goroutine per accepted connection runs the connection's
//! future with `gort::future::block_on`, and handlers are written in
//! blocking style.
//!
//! ```text
//! cargo run --release --features hyper --example hyper_server [ADDR]   # default 127.0.0.1:8080
//! curl http://127.0.0.1:8080/                                # HTTP/1.1
//! curl --http2-prior-knowledge http://127.0.0.1:8080/sleep   # HTTP/2 cleartext (h2c)
//! ```
//!
//! Both protocols share one port: hyper-util's auto builder reads the
//! first bytes of each connection and serves HTTP/2 when they are the
//! HTTP/2 preface (h2c with prior knowledge), HTTP/1.1 otherwise. It needs
//! only hyper's `Executor` and `Timer`, which `gort::future::hyper_rt`
//! provides, so no tokio runtime is built (hyper-util's `tokio` feature is
//! off; the `tokio` crate comes in only for h2's I/O traits).
//!
//! Routes:
//! - `/` answers `Hello, World!`;
//! - `/sleep` blocks in the handler for 100 ms (`gort::sleep`, which parks
//!   the goroutine) and then answers; `/sleep?ms=N` blocks N ms instead
//!   (N at most 10,000).
//!
//! Where a handler runs: on HTTP/1.1, hyper polls it on the connection's
//! goroutine, so a blocking handler holds only its own connection (as a
//! handler does in Go's net/http); on HTTP/2, hyper hands each stream to
//! the executor, `GortExecutor`, which gives it a goroutine of its own, so
//! a blocking handler holds only its own stream. Either way other
//! connections keep being served: a blocked handler parks its goroutine
//! and the P runs the others. A handler may likewise receive from a gort
//! channel, lock a `gort::sync::Mutex`, or do blocking socket I/O.
//!
//! TLS is not shown: hyper would run the same over a rustls stream.

use std::convert::Infallible;
use std::io;
use std::time::Duration;

use gort::future::hyper_rt::{GortExecutor, GortTimer};
use gort::net::TcpListener;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::server::conn::auto;

/// What `/sleep` blocks for when the request names no duration.
pub const DEFAULT_SLEEP: Duration = Duration::from_millis(100);
/// The longest `/sleep?ms=N` accepted.
pub const MAX_SLEEP_MS: u64 = 10_000;

/// The service: a blocking function from a request to a response. It runs
/// on a goroutine, so blocking calls (here `gort::sleep`) park only that
/// goroutine.
pub fn handle(req: &Request<Incoming>) -> Response<Full<Bytes>> {
    match req.uri().path() {
        "/" => text(StatusCode::OK, "Hello, World!\n".into()),
        "/sleep" => match sleep_duration(req.uri().query()) {
            Ok(d) => {
                gort::sleep(d);
                text(StatusCode::OK, format!("Slept {} ms\n", d.as_millis()))
            }
            Err(msg) => text(StatusCode::BAD_REQUEST, msg),
        },
        path => text(StatusCode::NOT_FOUND, format!("{path}: not found (routes: /, /sleep, /sleep?ms=N)\n")),
    }
}

/// The `ms=N` of `/sleep`'s query, or [`DEFAULT_SLEEP`].
fn sleep_duration(query: Option<&str>) -> Result<Duration, String> {
    let Some(ms) = query.into_iter().flat_map(|q| q.split('&')).find_map(|kv| kv.strip_prefix("ms=")) else {
        return Ok(DEFAULT_SLEEP);
    };
    match ms.parse::<u64>() {
        Ok(n) if n <= MAX_SLEEP_MS => Ok(Duration::from_millis(n)),
        _ => Err(format!("/sleep?ms={ms}: want a whole number of milliseconds from 0 to {MAX_SLEEP_MS}\n")),
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(hyper::header::CONTENT_TYPE, "text/plain; charset=utf-8".parse().unwrap());
    resp
}

/// Accepts connections until the listener is closed, each served by
/// hyper on a goroutine of its own (HTTP/1.1 or h2c, told apart by the
/// connection's first bytes).
pub fn serve(ln: &TcpListener) -> io::Result<()> {
    let mut builder = auto::Builder::new(GortExecutor);
    // The timer runs hyper's timeouts (HTTP/1.1's header read timeout,
    // 30 s by default, Go's ReadHeaderTimeout) on gort's timers.
    builder.http1().timer(GortTimer);
    builder.http2().timer(GortTimer);
    loop {
        let (conn, peer) = ln.accept()?;
        let builder = builder.clone();
        gort::go!(move || {
            let service =
                service_fn(|req: Request<Incoming>| async move { Ok::<_, Infallible>(handle(&req)) });
            if let Err(e) = gort::future::block_on(builder.serve_connection(conn, service)) {
                eprintln!("hyper_server: connection from {peer}: {e}");
            }
        });
    }
}

#[gort::main]
fn main() -> io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8080".into());
    let ln = TcpListener::bind(&addr)?;
    println!("hyper server listening on http://{} (HTTP/1.1 and h2c)", ln.local_addr()?);
    serve(&ln)
}

#[test]
fn sleep_duration_parses_ms() {
    assert_eq!(sleep_duration(None), Ok(DEFAULT_SLEEP));
    assert_eq!(sleep_duration(Some("x=1&ms=250")), Ok(Duration::from_millis(250)));
    assert!(sleep_duration(Some("ms=10001")).unwrap_err().contains("from 0 to 10000"));
    assert!(sleep_duration(Some("ms=-1")).is_err());
}
