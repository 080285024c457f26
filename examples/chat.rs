//! A line-based TCP chat server: every line a client sends goes to all the
//! other clients, prefixed with the sender's name.
//!
//! ```text
//! cargo run --release --example chat [ADDR]     # default 127.0.0.1:7001
//! nc 127.0.0.1 7001      # in two or more terminals
//! ```
//!
//! Each client has a goroutine that reads its lines. Broadcasting writes
//! to every other client with a one-second write deadline, so a client that
//! stops reading is dropped instead of stalling the room (Go's chat
//! servers do the same with `SetWriteDeadline`).

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gort::net::{TcpListener, TcpStream};

/// The clients connected now. The std Mutex is only held to copy or edit
/// the map, never across a socket call (which may park the goroutine).
#[derive(Default)]
struct Room {
    clients: Mutex<HashMap<SocketAddr, Arc<TcpStream>>>,
}

impl Room {
    fn join(&self, who: SocketAddr, conn: Arc<TcpStream>) {
        self.clients.lock().unwrap().insert(who, conn);
        self.broadcast(who, &format!("* {who} joined\n"));
    }

    fn leave(&self, who: SocketAddr) {
        let gone = self.clients.lock().unwrap().remove(&who);
        if let Some(c) = gone {
            let _ = c.close(); // also ends its reader goroutine
            self.broadcast(who, &format!("* {who} left\n"));
        }
    }

    /// Sends `msg` to everyone but `from`; drops clients that cannot keep up.
    fn broadcast(&self, from: SocketAddr, msg: &str) {
        let others: Vec<(SocketAddr, Arc<TcpStream>)> = {
            let clients = self.clients.lock().unwrap();
            clients.iter().filter(|(a, _)| **a != from).map(|(a, c)| (*a, c.clone())).collect()
        };
        for (addr, c) in others {
            let sent = c
                .set_write_deadline(Some(Instant::now() + Duration::from_secs(1)))
                .and_then(|()| (&*c).write_all(msg.as_bytes()));
            if sent.is_err() {
                self.leave(addr);
            }
        }
    }
}

/// Serves one client until it disconnects.
fn client(room: Arc<Room>, conn: TcpStream, who: SocketAddr) {
    let conn = Arc::new(conn);
    let _ = (&*conn).write_all(format!("welcome, you are {who}\n").as_bytes());
    room.join(who, conn.clone());
    let mut lines = BufReader::new(&*conn);
    let mut line = String::new();
    loop {
        line.clear();
        match lines.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => room.broadcast(who, &format!("{who}: {}\n", line.trim_end())),
        }
    }
    room.leave(who);
}

/// Accepts clients until the listener is closed.
pub fn serve(ln: &TcpListener) -> io::Result<()> {
    let room = Arc::new(Room::default());
    loop {
        let (conn, who) = ln.accept()?;
        let room = room.clone();
        gort::go!(move || client(room, conn, who));
    }
}

#[gort::main]
fn main() -> io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:7001".into());
    let ln = TcpListener::bind(&addr)?;
    println!("chat server listening on {}", ln.local_addr()?);
    serve(&ln)
}
