//! Workloads of the net area (see mod.rs for the convention). Each entry's
//! name must match a workload of the Go program in benches/go.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Instant;

use super::support::{report, rss_kb, wait_group};
use gort::net::{TcpListener, TcpStream};

pub(crate) const WORKLOADS: &[(&str, fn())] = &[("echo", echo), ("idleconn", idleconn)];

/// Echoes one connection until the peer closes it.
fn serve_echo(mut c: TcpStream) {
    let mut buf = [0u8; 4096];
    loop {
        match c.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if c.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

/// Accepts until the listener is closed, one goroutine per connection.
fn accept_loop(ln: Arc<TcpListener>, serve: fn(TcpStream)) {
    gort::go!(move || {
        while let Ok((c, _)) = ln.accept() {
            gort::go!(move || serve(c));
        }
    });
}

/// echo: 100 connections each send 2,000 64-byte messages and read them
/// back (benches/go/main.go `echo`).
fn echo() {
    let (conns, msgs) = (100, 2000);
    let ln = Arc::new(TcpListener::bind("127.0.0.1:0").expect("listen"));
    let addr = ln.local_addr().expect("addr");
    accept_loop(ln.clone(), serve_echo);
    let wg = wait_group(conns);
    let t = Instant::now();
    for _ in 0..conns {
        gort::go!(move || {
            let mut c = TcpStream::connect(addr).expect("dial");
            let msg = [0u8; 64];
            let mut buf = [0u8; 64];
            for _ in 0..msgs {
                c.write_all(&msg).expect("write");
                c.read_exact(&mut buf).expect("read");
            }
            drop(c);
            wg.done();
        });
    }
    wg.wait();
    report("echo", (conns * msgs) as u64, t.elapsed());
    let _ = ln.close();
}

/// idleconn: 10,000 keep-alive connections, each held by a server
/// goroutine parked in a read after one round trip; prints the RSS each
/// adds (benches/go/net_bench.go). The clients live in a child process
/// (this program again, with `IDLECONN_CLIENT` set): both ends of 10,000
/// connections would exceed a 20,000 open-file limit.
fn idleconn() {
    let n = 10_000;
    raise_fd_limit(n as u64 + 1000);
    if let Ok(addr) = std::env::var("IDLECONN_CLIENT") {
        return idleconn_client(&addr, n);
    }
    let ln = TcpListener::bind("127.0.0.1:0").expect("listen");
    let addr = ln.local_addr().expect("addr");
    let before = rss_kb();
    let ready = wait_group(n);
    let done = wait_group(n);
    let t = Instant::now();
    let mut child = std::process::Command::new(std::env::current_exe().expect("self"))
        .args(["--run", "idleconn"])
        .env("IDLECONN_CLIENT", addr.to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("client process");
    for _ in 0..n {
        let (mut c, _) = ln.accept().expect("accept");
        let (ready, done) = (ready, done);
        gort::go!(move || {
            let mut buf = [0u8; 5];
            c.read_exact(&mut buf).expect("read");
            c.write_all(&buf).expect("write");
            ready.done();
            // Idle: parked in a read until the client goes away.
            let _ = c.read(&mut buf);
            done.done();
        });
    }
    ready.wait();
    let d = t.elapsed();
    let per = (rss_kb() - before) as f64 * 1024.0 / n as f64;
    drop(child.stdin.take()); // the client exits, closing its ends
    done.wait();
    let _ = child.wait();
    report("idleconn", n as u64, d);
    println!("idleconn_bytes_per_conn {per:.0}");
}

/// The client side of idleconn: n connections, one round trip each, held
/// open until stdin closes.
fn idleconn_client(addr: &str, n: usize) {
    let ready = wait_group(n);
    let conns: Vec<_> = (0..n).map(|_| Arc::new(TcpStream::connect(addr).expect("dial"))).collect();
    for c in &conns {
        let (c, ready) = (c.clone(), ready);
        gort::go!(move || {
            let mut buf = [0u8; 5];
            (&*c).write_all(b"hello").expect("write");
            (&*c).read_exact(&mut buf).expect("read");
            ready.done();
        });
    }
    ready.wait();
    let mut sink = Vec::new();
    let _ = gort::syscall(|| std::io::stdin().read_to_end(&mut sink));
}

/// Lifts the open-file limit to at least `want` (both ends of every
/// connection live in this process), or to the hard limit if raising that
/// is refused; as benches/go/net_bench.go's raiseFDLimit.
pub(crate) fn raise_fd_limit(want: u64) {
    let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit read and write a valid local.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return;
        }
        r.rlim_max = r.rlim_max.max(want);
        r.rlim_cur = r.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &r) != 0 {
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}
