//! may's echo and idleconn (see mod.rs): `procs` workers, 16 KiB coroutine
//! stacks, the driver itself a coroutine, as Go's main is a goroutine
//! (`anchors/peers/src/bin/may_anchor.rs`).

use std::io::{Read, Write};
use std::time::Instant;

use may::go;
use may::net::{TcpListener, TcpStream};

use crate::workloads::support::{report, rss_kb};

pub(super) fn run(workload: &str, procs: usize) {
    may::config().set_workers(procs).set_stack_size(0x1000 * 4);
    let w = workload.to_string();
    // The driver gets a larger stack than the workers' 16 KiB: it spawns
    // the idleconn client process.
    let builder = may::coroutine::Builder::new().stack_size(0x40000);
    // SAFETY: may's spawn is unsafe because a coroutine must not hold
    // thread-local references across yields nor block its worker thread
    // for long; the driver only uses may's own sockets, channels and
    // joins, which yield to may's scheduler, and blocks only at the end
    // reaping the client process.
    let h = unsafe {
        builder.spawn(move || match w.as_str() {
            "echo" => echo(100, 2000),
            "idleconn" => idleconn(10_000),
            _ => {
                eprintln!("no may version of {w:?}");
                std::process::exit(2);
            }
        })
    }
    .expect("spawn the driver coroutine");
    h.join().expect("driver coroutine");
}

/// echo: as workloads/net.rs `echo`, a 4 KiB read buffer per server
/// coroutine.
fn echo(conns: usize, msgs: usize) {
    let ln = TcpListener::bind("127.0.0.1:0").expect("listen");
    super::raise_backlog(std::os::fd::AsRawFd::as_raw_fd(&ln));
    let addr = ln.local_addr().expect("addr");
    go!(move || {
        for s in ln.incoming() {
            let Ok(mut s) = s else { return };
            go!(move || {
                let mut buf = [0u8; 4096];
                loop {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if s.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    let t = Instant::now();
    let hs: Vec<_> = (0..conns)
        .map(|_| {
            go!(move || {
                let mut c = TcpStream::connect(addr).expect("dial");
                c.set_nodelay(true).expect("nodelay");
                let msg = [0u8; 64];
                let mut buf = [0u8; 64];
                for _ in 0..msgs {
                    c.write_all(&msg).expect("write");
                    c.read_exact(&mut buf).expect("read");
                }
            })
        })
        .collect();
    for h in hs {
        h.join().expect("client coroutine");
    }
    report("echo", (conns * msgs) as u64, t.elapsed());
}

/// idleconn: as workloads/net.rs `idleconn`, one coroutine per accepted
/// connection parked in a read after one round trip.
fn idleconn(n: usize) {
    crate::workloads::raise_fd_limit(n as u64 + 1000);
    let ln = TcpListener::bind("127.0.0.1:0").expect("listen");
    super::raise_backlog(std::os::fd::AsRawFd::as_raw_fd(&ln));
    let addr = ln.local_addr().expect("addr");
    let before = rss_kb();
    let (ready_tx, ready_rx) = may::sync::mpsc::channel::<()>();
    let t = Instant::now();
    let mut child = super::idleconn_client(addr);
    let mut hs = Vec::with_capacity(n);
    for _ in 0..n {
        let (mut c, _) = ln.accept().expect("accept");
        let ready = ready_tx.clone();
        hs.push(go!(move || {
            let mut buf = [0u8; 5];
            c.read_exact(&mut buf).expect("read");
            c.write_all(&buf).expect("write");
            ready.send(()).expect("ready");
            // Idle: parked in a read until the client goes away.
            let _ = c.read(&mut buf);
        }));
    }
    for _ in 0..n {
        ready_rx.recv().expect("ready");
    }
    let d = t.elapsed();
    super::report_idleconn(n, d, before);
    drop(child.stdin.take()); // the client exits, closing its ends
    for h in hs {
        h.join().expect("server coroutine");
    }
    let _ = child.wait();
}
