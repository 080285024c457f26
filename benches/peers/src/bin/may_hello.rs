//! may_minihttp's hello server (may's stackful coroutines; HTTP/1.1
//! only): the stackful peer in `benches/http_bench.sh`. Answers every
//! request with `Hello, World!\n` as `text/plain; charset=utf-8`, like the
//! other servers.
//!
//! ```text
//! may_hello [ADDR] [WORKERS]       # defaults 127.0.0.1:8083, 2 workers
//! ```

use std::io;

use may_minihttp::{HttpServer, HttpService, Request, Response};

#[derive(Clone)]
struct Hello;

impl HttpService for Hello {
    fn call(&mut self, _req: Request, res: &mut Response) -> io::Result<()> {
        res.header("Content-Type: text/plain; charset=utf-8");
        res.body("Hello, World!\n");
        Ok(())
    }
}

fn main() -> io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8083".into());
    let workers: usize = match std::env::args().nth(2) {
        Some(w) => w.parse().map_err(|_| io::Error::other(format!("WORKERS {w:?}: want a number")))?,
        None => 2,
    };
    may::config().set_workers(workers);
    let server = HttpServer(Hello).start(&addr)?;
    println!("may_minihttp ({workers} workers) listening on http://{addr} (HTTP/1.1)");
    server.join().map_err(|_| io::Error::other("may_minihttp server panicked"))
}
