//! hyper 1 on tokio's multi-thread runtime: the peer of gort's
//! `examples/hyper_server.rs` in `benches/http_bench.sh`. The same
//! builder (hyper-util's auto builder: HTTP/1.1, or h2c with prior
//! knowledge, on one port), the same `/` handler and response
//! (`Hello, World!\n`, `text/plain; charset=utf-8`); the executor and
//! timer are hyper-util's tokio ones, and each connection is a tokio task.
//!
//! ```text
//! hyper_tokio [ADDR] [WORKERS]     # defaults 127.0.0.1:8082, 2 workers
//! ```

use std::convert::Infallible;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;

/// `examples/hyper_server.rs`'s handler, its `/` route and 404.
fn handle(req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let (status, body) = match req.uri().path() {
        "/" => (StatusCode::OK, "Hello, World!\n".to_string()),
        path => (StatusCode::NOT_FOUND, format!("{path}: not found\n")),
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(hyper::header::CONTENT_TYPE, "text/plain; charset=utf-8".parse().unwrap());
    resp
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8082".into());
    let workers: usize = match std::env::args().nth(2) {
        Some(w) => w.parse().map_err(|_| std::io::Error::other(format!("WORKERS {w:?}: want a number")))?,
        None => 2,
    };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build()?;
    rt.block_on(async move {
        let ln = tokio::net::TcpListener::bind(&addr).await?;
        println!(
            "hyper on tokio ({workers} workers) listening on http://{} (HTTP/1.1 and h2c)",
            ln.local_addr()?
        );
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder.http1().timer(TokioTimer::new());
        builder.http2().timer(TokioTimer::new());
        loop {
            let (conn, peer) = ln.accept().await?;
            let builder = builder.clone();
            tokio::spawn(async move {
                let service =
                    service_fn(|req: Request<Incoming>| async move { Ok::<_, Infallible>(handle(&req)) });
                if let Err(e) = builder.serve_connection(TokioIo::new(conn), service).await {
                    eprintln!("hyper_tokio: connection from {peer}: {e}");
                }
            });
        }
    })
}
