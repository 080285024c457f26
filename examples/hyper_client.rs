//! A hyper 1 HTTP/1.1 client on a gort socket, with no tokio runtime:
//! fetches a URL and prints the status line and the body.
//!
//! ```text
//! cargo run --release --features hyper --example hyper_server &
//! cargo run --release --features hyper --example hyper_client [URL]   # default http://127.0.0.1:8080/
//! ```
//!
//! It connects a `gort::net::TcpStream`, does hyper's HTTP/1.1 handshake
//! on it (`hyper::client::conn::http1`), drives the connection on a
//! goroutine of its own (`gort::future::spawn`, as one would hand it to
//! an executor), and sends one request with the `SendRequest` half. The
//! futures run under `gort::future::block_on`, which parks the goroutine
//! while they wait on the socket. Plain `http://` only: TLS is not shown.

use std::error::Error;
use std::io::{self, Write};

use gort::future;
use gort::net::TcpStream;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::client::conn::http1;
use hyper::{Request, Response, Uri, header};

/// The error type of this example: anything, with its message.
pub type BoxError = Box<dyn Error + Send + Sync>;

/// Fetches `url` with a GET over a new connection and returns the
/// response with its whole body.
pub fn fetch(url: &str) -> Result<Response<Bytes>, BoxError> {
    let uri: Uri = url.parse().map_err(|e| format!("{url}: not a URL: {e}"))?;
    if uri.scheme_str() != Some("http") {
        return Err(format!("{url}: only http:// URLs are supported (this example does not do TLS)").into());
    }
    let authority = uri.authority().ok_or_else(|| format!("{url}: no host in the URL"))?.clone();
    let host = authority.host().trim_start_matches('[').trim_end_matches(']');
    let stream = TcpStream::connect((host, authority.port_u16().unwrap_or(80)))
        .map_err(|e| format!("connecting to {authority}: {e}"))?;
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let req = Request::get(path)
        .header(header::HOST, authority.as_str())
        .header(header::USER_AGENT, "gort-hyper-client")
        .body(Empty::<Bytes>::new())?;

    future::block_on(async move {
        let (mut sender, conn) = http1::handshake(stream).await?;
        // The connection does the reading and writing; it finishes once
        // the sender is dropped and the last response is read.
        let driver = future::spawn(conn);
        let resp = sender.send_request(req).await?;
        let (head, body) = resp.into_parts();
        let body = body.collect().await?.to_bytes();
        drop(sender);
        driver.await.map_err(|p| format!("the connection's goroutine panicked: {p}"))??;
        Ok(Response::from_parts(head, body))
    })
}

/// Fetches `url` and writes the status line, a blank line and the body
/// to `out`.
pub fn run(url: &str, out: &mut dyn Write) -> Result<(), BoxError> {
    let resp = fetch(url)?;
    writeln!(out, "{:?} {}\n", resp.version(), resp.status())?;
    out.write_all(resp.body())?;
    Ok(())
}

#[gort::main]
fn main() -> Result<(), BoxError> {
    let url = std::env::args().nth(1).unwrap_or_else(|| "http://127.0.0.1:8080/".into());
    run(&url, &mut io::stdout().lock())
}
