//! Two HTTP servers shut down together, gracefully: the seeds' "app and
//! debug server" program (S06), written with gort's context, ErrGroup,
//! net and signal.
//!
//! ```text
//! cargo run --release --example graceful_shutdown [APP_ADDR] [DEBUG_ADDR]
//!     # defaults 127.0.0.1:8080 and 127.0.0.1:8081
//! curl http://127.0.0.1:8080/slow?ms=3000 &   # a slow request
//! kill -TERM <pid>                            # or Ctrl-C
//! ```
//!
//! The servers run in an [`ErrGroup`] whose context is shared:
//! - SIGINT or SIGTERM cancels the root context (a second signal ends the
//!   process the default way, since the watcher stops relaying them);
//! - a server that fails (its port is taken, say) fails the group, which
//!   cancels the context too: the other server never runs alone unnoticed
//!   (the seeds' anti-pattern of a debug server dying silently);
//! - when the context is done, each server closes its listener (no new
//!   connections: they are refused), lets the requests in flight finish,
//!   and returns; `main` returns once both have, with the first error.
//!
//! Each connection carries one request (`Connection: close`), so a server
//! has nothing idle to close; `/slow?ms=N` answers after `N` ms (default
//! 1000), `/` at once.

use std::io::{Read, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gort::context::{self, Context};
use gort::net::{TcpListener, TcpStream};
use gort::signal::{self, Signal};
use gort::sync::{ErrGroup, WaitGroup};

/// Largest request head read.
const MAX_HEAD: usize = 8 << 10;
/// How long a client may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves HTTP on `addr` until `ctx` is done, then stops accepting, waits
/// for the requests in flight, and returns. Go: `serve(addr, handler,
/// stop)` with `http.Server.Shutdown`.
pub fn serve(ctx: &Context, name: &'static str, addr: &str) -> Result<(), String> {
    let ln = Arc::new(TcpListener::bind(addr).map_err(|e| format!("{name}: listen {addr}: {e}"))?);
    let local = ln.local_addr().map_err(|e| format!("{name}: {e}"))?;
    println!("{name} listening on {local}");
    // Shutdown, step 1: when the context is done, stop accepting. Closing
    // the listener wakes the accept below with ErrClosed.
    let closer = {
        let (ctx, ln) = (ctx.clone(), ln.clone());
        gort::go!(move || {
            ctx.done().recv();
            let _ = ln.close();
        })
    };
    let in_flight = Arc::new(WaitGroup::new());
    let result = loop {
        match ln.accept() {
            Ok((conn, _)) => {
                in_flight.go(move || handle(name, conn));
            }
            Err(e) if gort::net::is_closed(&e) => break Ok(()),
            Err(e) => break Err(format!("{name}: accept: {e}")),
        }
    };
    // Step 2: let the requests in flight finish.
    in_flight.wait();
    // The closer returns once the context is done; after an accept error
    // the group cancels it as soon as we return.
    if result.is_ok() {
        closer.join().map_err(|_| format!("{name}: closer panicked"))?;
    }
    println!("{name} stopped");
    result
}

/// Answers one request on `conn`.
fn handle(name: &str, mut conn: TcpStream) {
    let _ = conn.set_read_deadline(Some(Instant::now() + READ_TIMEOUT));
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if buf.len() > MAX_HEAD {
            return;
        }
    }
    let head = String::from_utf8_lossy(&buf);
    let mut parts = head.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    println!("{name}: {method} {target}");
    let (status, body) = route(name, target);
    let resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = conn.write_all(resp.as_bytes());
}

/// The handlers: `/` says hello, `/slow?ms=N` works for N ms first.
fn route(name: &str, target: &str) -> (&'static str, String) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    match path {
        "/" => ("200 OK", format!("hello from {name}\n")),
        "/slow" => {
            let ms = query.strip_prefix("ms=").and_then(|v| v.parse().ok()).unwrap_or(1000);
            // An in-flight request is finished, not cut short, by shutdown.
            gort::sleep(Duration::from_millis(ms));
            ("200 OK", format!("{name} finished slow work after {ms} ms\n"))
        }
        _ => ("404 Not Found", "not found\n".to_string()),
    }
}

/// Runs both servers until a signal or a failure, then shuts them down.
/// Returns the first server error.
pub fn run(app_addr: &str, debug_addr: &str) -> Result<(), String> {
    let sigs = signal::notify(&[Signal::Interrupt, Signal::Terminate]);
    let (root, cancel) = context::with_cancel(&context::background());
    let (group, ctx) = ErrGroup::<String>::with_context(&root);
    // The signal watcher: a signal cancels everything; it also returns
    // once the group's context is done for another reason.
    let watcher = {
        let (ctx, sigs) = (ctx.clone(), sigs.clone());
        gort::go!(move || {
            gort::select! {
                recv(sigs) -> sig => {
                    if let Some(sig) = sig {
                        println!("received {sig}, shutting down");
                    }
                    // A second signal gets its default effect: it ends
                    // the process if shutting down takes too long.
                    signal::stop(&sigs);
                    cancel.cancel();
                }
                recv(ctx.done()) => {}
            }
        })
    };
    let (app_addr, debug_addr) = (app_addr.to_string(), debug_addr.to_string());
    let c = ctx.clone();
    group.go(move || serve(&c, "app", &app_addr));
    let c = ctx.clone();
    group.go(move || serve(&c, "debug", &debug_addr));
    let result = group.wait();
    signal::stop(&sigs);
    let _ = watcher.join();
    result
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let app = args.next().unwrap_or_else(|| "127.0.0.1:8080".into());
    let debug = args.next().unwrap_or_else(|| "127.0.0.1:8081".into());
    match gort::run(move || run(&app, &debug)) {
        Ok(()) => {
            println!("graceful exit");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
