//! TCP echo on loopback: a server and clients that connect, echo 1–20
//! messages of 1–2,000 bytes, disconnect, and start over (issue 12 §1).
//!
//! Go: benches/go/soak/tcp.go.
//!
//! Clients dial `localhost:PORT`, so every connect resolves the name
//! through `gort::syscall` (getaddrinfo runs with the P released). Each
//! message's bytes are a function of (client, connection, message, offset)
//! and the client compares every echoed byte. The server counts the bytes
//! it read and wrote; the check wants client-sent = client-echoed =
//! server-read = server-written, every accept matched by a client connect,
//! no mismatched byte and no error (none should happen on loopback).
//! On the stop, clients finish their connection and end; once they are
//! joined the listener is closed, and the accept loop waits for its
//! connection goroutines before it ends.

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use gort::JoinHandle;
use gort::net::{TcpListener, TcpStream};
use gort::sync::WaitGroup;

use super::progress::Part;
use super::report::Checks;
use super::{Rng, Shared, go_named};

/// Totals of both sides.
#[derive(Default)]
pub(crate) struct Stats {
    conns: AtomicU64,
    conn_err: AtomicU64,
    msgs: AtomicU64,
    sent: AtomicU64,
    echoed: AtomicU64,
    bad_bytes: AtomicU64,
    io_err: AtomicU64,
    accepts: AtomicU64,
    accept_err: AtomicU64,
    srv_read: AtomicU64,
    srv_written: AtomicU64,
    srv_err: AtomicU64,
    /// The first error seen, for the report.
    first_err: Mutex<Option<String>>,
    closing: AtomicBool,
}

impl Stats {
    fn error(&self, what: &str, e: std::io::Error) {
        let mut f = self.first_err.lock().unwrap_or_else(|p| p.into_inner());
        f.get_or_insert_with(|| format!("{what}: {e}"));
    }
}

/// The listening server: its listener and accept-loop goroutine.
pub(crate) struct Server {
    ln: Arc<TcpListener>,
    accept: JoinHandle<()>,
    pub(crate) port: u16,
}

/// Binds 127.0.0.1:0 and starts the accept loop.
pub(crate) fn serve(sh: &Arc<Shared>) -> Server {
    let ln = Arc::new(TcpListener::bind("127.0.0.1:0").expect("soak: cannot listen on 127.0.0.1"));
    let port = ln.local_addr().expect("listener address").port();
    let (l, s) = (ln.clone(), sh.clone());
    let accept = go_named("tcp.accept".into(), move || accept_loop(&s, &l));
    Server { ln, accept, port }
}

fn accept_loop(sh: &Arc<Shared>, ln: &TcpListener) {
    let conns = Arc::new(WaitGroup::new());
    loop {
        match ln.accept() {
            Ok((c, _)) => {
                sh.tcp.accepts.fetch_add(1, Ordering::Relaxed);
                conns.add(1);
                let (s, wg) = (sh.clone(), conns.clone());
                gort::go!(move || {
                    echo_conn(&s, c);
                    wg.done();
                });
            }
            Err(_) if sh.tcp.closing.load(Ordering::Relaxed) => break,
            Err(e) => {
                sh.tcp.accept_err.fetch_add(1, Ordering::Relaxed);
                sh.tcp.error("accept", e);
                gort::sleep(Duration::from_millis(5));
            }
        }
    }
    conns.wait();
}

fn echo_conn(sh: &Shared, mut c: TcpStream) {
    let mut buf = [0u8; 4096];
    let (mut read, mut written) = (0u64, 0u64);
    loop {
        match c.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                read += n as u64;
                if let Err(e) = c.write_all(&buf[..n]) {
                    sh.tcp.srv_err.fetch_add(1, Ordering::Relaxed);
                    sh.tcp.error("server write", e);
                    break;
                }
                written += n as u64;
            }
            Err(e) => {
                sh.tcp.srv_err.fetch_add(1, Ordering::Relaxed);
                sh.tcp.error("server read", e);
                break;
            }
        }
    }
    sh.tcp.srv_read.fetch_add(read, Ordering::Relaxed);
    sh.tcp.srv_written.fetch_add(written, Ordering::Relaxed);
}

/// Starts the clients.
pub(crate) fn spawn_clients(sh: &Arc<Shared>, port: u16, hs: &mut Vec<JoinHandle<()>>) {
    for k in 0..sh.cfg.clients {
        let s = sh.clone();
        hs.push(go_named(format!("tcp.client/{k}"), move || client(&s, k, port)));
    }
}

/// The byte at `off` of message `m` of connection `conn` of client `k`.
fn pattern(k: usize, conn: u64, m: u64, off: usize) -> u8 {
    (off as u64 ^ (k as u64).wrapping_mul(31) ^ conn.wrapping_mul(7) ^ m.wrapping_mul(13)) as u8
}

fn client(sh: &Shared, k: usize, port: u16) {
    let beat = sh.progress.beat(Part::Client, k);
    let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15 ^ (k as u64 + 1));
    let addr = format!("localhost:{port}");
    let (mut msg, mut back) = (Vec::with_capacity(2000), vec![0u8; 2000]);
    let st = &sh.tcp;
    let mut conn = 0u64;
    while !sh.stopped() {
        let mut s = match TcpStream::connect(&addr) {
            Ok(s) => s,
            Err(e) => {
                st.conn_err.fetch_add(1, Ordering::Relaxed);
                st.error("connect", e);
                sh.nap(Duration::from_millis(10));
                continue;
            }
        };
        st.conns.fetch_add(1, Ordering::Relaxed);
        conn += 1;
        for m in 0..1 + rng.below(20) {
            let n = 1 + rng.below(2000) as usize;
            msg.clear();
            msg.extend((0..n).map(|off| pattern(k, conn, m, off)));
            if let Err(e) = s.write_all(&msg) {
                st.io_err.fetch_add(1, Ordering::Relaxed);
                st.error("client write", e);
                break;
            }
            st.sent.fetch_add(n as u64, Ordering::Relaxed);
            if let Err(e) = s.read_exact(&mut back[..n]) {
                st.io_err.fetch_add(1, Ordering::Relaxed);
                st.error("client read", e);
                break;
            }
            st.echoed.fetch_add(n as u64, Ordering::Relaxed);
            st.msgs.fetch_add(1, Ordering::Relaxed);
            let bad = msg.iter().zip(&back[..n]).filter(|(a, b)| a != b).count();
            st.bad_bytes.fetch_add(bad as u64, Ordering::Relaxed);
        }
        drop(s);
        sh.nap(Duration::from_millis(rng.below(20)));
        beat.tick();
    }
}

/// After the clients are joined: closes the listener and joins the accept
/// loop (which waits for its connection goroutines).
pub(crate) fn stop(sh: &Shared, server: Server) -> Result<(), gort::Panic> {
    sh.tcp.closing.store(true, Ordering::Relaxed);
    let _ = server.ln.close();
    server.accept.join()
}

/// Messages echoed so far (for the samples).
pub(crate) fn messages(sh: &Shared) -> u64 {
    sh.tcp.msgs.load(Ordering::Relaxed)
}

/// Every byte echoed intact, both sides agree, no error.
pub(crate) fn check(sh: &Shared, c: &mut Checks) {
    let t = &sh.tcp;
    let v = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let (sent, echoed, read, written) = (v(&t.sent), v(&t.echoed), v(&t.srv_read), v(&t.srv_written));
    let errs = v(&t.conn_err) + v(&t.io_err) + v(&t.accept_err) + v(&t.srv_err);
    let ok = sent == echoed
        && echoed == read
        && read == written
        && v(&t.bad_bytes) == 0
        && errs == 0
        && v(&t.accepts) == v(&t.conns)
        && (sh.cfg.clients == 0 || v(&t.msgs) > 0);
    let first = t.first_err.lock().unwrap_or_else(|p| p.into_inner()).clone();
    c.add(
        "tcp",
        ok,
        format!(
            "conns={} accepts={} msgs={} bytes_sent={sent} bytes_echoed={echoed} server_read={read} \
             server_written={written} bad_bytes={} conn_err={} io_err={} accept_err={} server_err={}{}",
            v(&t.conns),
            v(&t.accepts),
            v(&t.msgs),
            v(&t.bad_bytes),
            v(&t.conn_err),
            v(&t.io_err),
            v(&t.accept_err),
            v(&t.srv_err),
            first.map(|e| format!(" first_error=\"{e}\"")).unwrap_or_default()
        ),
    );
}
