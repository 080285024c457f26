//! tokio's echo and idleconn (see mod.rs): the multi-thread runtime with
//! `procs` workers; the driver runs as a spawned task, as Go's main is a
//! goroutine (`anchors/peers/src/bin/tokio_anchor.rs`).

use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::workloads::support::{report, rss_kb};

pub(super) fn run(workload: &str, procs: usize) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(procs)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let w = workload.to_string();
    let driver = rt.spawn(async move {
        match w.as_str() {
            "echo" => echo(100, 2000).await,
            "idleconn" => idleconn(10_000).await,
            _ => {
                eprintln!("no tokio version of {w:?}");
                std::process::exit(2);
            }
        }
    });
    rt.block_on(driver).expect("driver task");
}

/// echo: as workloads/net.rs `echo`, a 4 KiB read buffer per server task.
async fn echo(conns: usize, msgs: usize) {
    let ln = TcpListener::bind("127.0.0.1:0").await.expect("listen");
    super::raise_backlog(std::os::fd::AsRawFd::as_raw_fd(&ln));
    let addr = ln.local_addr().expect("addr");
    let acceptor = tokio::spawn(async move {
        while let Ok((mut s, _)) = ln.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if s.write_all(&buf[..n]).await.is_err() {
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
            tokio::spawn(async move {
                let mut c = TcpStream::connect(addr).await.expect("dial");
                c.set_nodelay(true).expect("nodelay");
                let msg = [0u8; 64];
                let mut buf = [0u8; 64];
                for _ in 0..msgs {
                    c.write_all(&msg).await.expect("write");
                    c.read_exact(&mut buf).await.expect("read");
                }
            })
        })
        .collect();
    for h in hs {
        h.await.expect("client task");
    }
    report("echo", (conns * msgs) as u64, t.elapsed());
    acceptor.abort();
}

/// idleconn: as workloads/net.rs `idleconn`, one task per accepted
/// connection parked in a read after one round trip.
async fn idleconn(n: usize) {
    crate::workloads::raise_fd_limit(n as u64 + 1000);
    let ln = TcpListener::bind("127.0.0.1:0").await.expect("listen");
    super::raise_backlog(std::os::fd::AsRawFd::as_raw_fd(&ln));
    let addr = ln.local_addr().expect("addr");
    let before = rss_kb();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let t = Instant::now();
    let mut child = super::idleconn_client(addr);
    let mut hs = Vec::with_capacity(n);
    for _ in 0..n {
        let (mut c, _) = ln.accept().await.expect("accept");
        let ready = ready_tx.clone();
        hs.push(tokio::spawn(async move {
            let mut buf = [0u8; 5];
            c.read_exact(&mut buf).await.expect("read");
            c.write_all(&buf).await.expect("write");
            ready.send(()).expect("ready");
            // Idle: parked in a read until the client goes away.
            let _ = c.read(&mut buf).await;
        }));
    }
    for _ in 0..n {
        ready_rx.recv().await.expect("ready");
    }
    let d = t.elapsed();
    super::report_idleconn(n, d, before);
    drop(child.stdin.take()); // the client exits, closing its ends
    for h in hs {
        h.await.expect("server task");
    }
    let _ = tokio::task::spawn_blocking(move || child.wait()).await;
}
