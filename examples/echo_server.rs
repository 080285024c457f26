//! A TCP echo server: one goroutine per connection, each a plain blocking
//! loop; the goroutine parks while its socket has nothing to read.
//!
//! ```text
//! cargo run --release --example echo_server [ADDR]    # default 127.0.0.1:7000
//! nc 127.0.0.1 7000
//! ```

use std::io::{self, Read, Write};

use gort::net::{TcpListener, TcpStream};

/// Echoes everything `conn` sends until it closes its side.
fn echo(mut conn: TcpStream) -> io::Result<u64> {
    let mut buf = [0u8; 4096];
    let mut total = 0;
    loop {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            return Ok(total);
        }
        conn.write_all(&buf[..n])?;
        total += n as u64;
    }
}

#[gort::main]
fn main() -> io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:7000".into());
    let ln = TcpListener::bind(&addr)?;
    println!("echo server listening on {}", ln.local_addr()?);
    loop {
        let (conn, peer) = ln.accept()?;
        gort::go!(move || match echo(conn) {
            Ok(n) => println!("{peer}: echoed {n} bytes"),
            Err(e) => println!("{peer}: {e}"),
        });
    }
}
