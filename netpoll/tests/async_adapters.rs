//! The async I/O adapters (tokio, futures-io, hyper) on TCP and Unix
//! streams: byte round trips, shared references, and 240 connections
//! echoing at once. Driven by `support`'s plain-thread executors and, in
//! goroutines, by `gort_runtime::future::block_on` (the facade's
//! `gort::future::block_on`). Loopback only; every loop is bounded.

mod support;

use std::future::poll_fn;
use std::io;
use std::net::Shutdown;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gort_netpoll::{TcpListener, TcpStream, UnixStream};
use gort_runtime::future;
use support::*;

/// 4 MiB of a pattern: more than the socket buffers hold, so writes go
/// partial and wait for the reader, and reads wait for the writer.
fn payload() -> Vec<u8> {
    (0..4u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect()
}

/// Sends `payload()` from `a` (then shuts its write half down, through
/// the adapter) and reads it at `b` until end of file, each side on its
/// own plain thread's executor; returns what `b` read.
fn round_trip<S: Send + 'static>(
    a: S,
    b: S,
    write: impl FnOnce(S, Vec<u8>) -> io::Result<()> + Send + 'static,
    read_to_end: impl FnOnce(S) -> io::Result<Vec<u8>> + Send + 'static,
) {
    let data = payload();
    let sent = data.clone();
    let w = std::thread::spawn(move || write(a, sent));
    let got = read_to_end(b).unwrap();
    w.join().unwrap().unwrap();
    assert!(got == data, "received {} bytes, not the {} sent", got.len(), data.len());
}

fn tokio_round_trip<S>(a: S, b: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    round_trip(
        a,
        b,
        |mut a, data| {
            block_on(async {
                tokio_write_all(&mut a, &data).await?;
                poll_fn(|cx| Pin::new(&mut a).poll_shutdown(cx)).await
            })
        },
        |mut b| {
            block_on(async {
                let (mut out, mut buf) = (Vec::new(), vec![0u8; 65536]);
                loop {
                    match tokio_read(&mut b, &mut buf).await? {
                        0 => return Ok(out),
                        n => out.extend_from_slice(&buf[..n]),
                    }
                }
            })
        },
    );
}

fn fio_round_trip<S>(a: S, b: S)
where
    S: futures_io::AsyncRead + futures_io::AsyncWrite + Unpin + Send + 'static,
{
    round_trip(
        a,
        b,
        |mut a, data| {
            block_on(async {
                fio_write_all(&mut a, &data).await?;
                poll_fn(|cx| Pin::new(&mut a).poll_close(cx)).await
            })
        },
        |mut b| {
            block_on(async {
                let (mut out, mut buf) = (Vec::new(), vec![0u8; 65536]);
                loop {
                    match fio_read(&mut b, &mut buf).await? {
                        0 => return Ok(out),
                        n => out.extend_from_slice(&buf[..n]),
                    }
                }
            })
        },
    );
}

fn hyper_round_trip<S>(a: S, b: S)
where
    S: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    round_trip(
        a,
        b,
        |mut a, data| {
            block_on(async {
                hyper_write_all(&mut a, &data).await?;
                poll_fn(|cx| Pin::new(&mut a).poll_shutdown(cx)).await
            })
        },
        |mut b| {
            block_on(async {
                let (mut out, mut buf) = (Vec::new(), vec![0u8; 65536]);
                loop {
                    match hyper_read(&mut b, &mut buf).await? {
                        0 => return Ok(out),
                        n => out.extend_from_slice(&buf[..n]),
                    }
                }
            })
        },
    );
}

#[test]
fn tokio_adapter_round_trips_tcp() {
    let (a, b) = tcp_pair();
    tokio_round_trip(a, b);
}

#[test]
fn tokio_adapter_round_trips_unix() {
    let (a, b) = UnixStream::pair().unwrap();
    tokio_round_trip(a, b);
}

#[test]
fn futures_io_adapter_round_trips_tcp() {
    let (a, b) = tcp_pair();
    fio_round_trip(a, b);
}

#[test]
fn futures_io_adapter_round_trips_unix() {
    let (a, b) = UnixStream::pair().unwrap();
    fio_round_trip(a, b);
}

#[test]
fn hyper_adapter_round_trips_tcp() {
    let (a, b) = tcp_pair();
    hyper_round_trip(a, b);
}

#[test]
fn hyper_adapter_round_trips_unix() {
    let (a, b) = UnixStream::pair().unwrap();
    hyper_round_trip(a, b);
}

/// The adapters on shared references: one task reads through `&stream`
/// while another writes through `&stream`, in two goroutines.
#[test]
fn shared_reference_adapters_read_and_write_at_once() {
    on_runtime(|| {
        let (a, b) = UnixStream::pair().unwrap();
        let (a, b) = (Arc::new(a), Arc::new(b));
        let echo = {
            let b = b.clone();
            gort_runtime::spawn(move || {
                future::block_on(async {
                    let mut buf = [0u8; 4096];
                    loop {
                        match fio_read(&mut &*b, &mut buf).await? {
                            0 => return io::Result::Ok(()),
                            n => hyper_write_all(&mut &*b, &buf[..n]).await?,
                        }
                    }
                })
            })
        };
        let data = payload();
        let sender = {
            let (a, data) = (a.clone(), data.clone());
            gort_runtime::spawn(move || {
                future::block_on(tokio_write_all(&mut &*a, &data)).unwrap();
                a.shutdown(Shutdown::Write).unwrap();
            })
        };
        let mut got = vec![0u8; data.len()];
        future::block_on(tokio_read_exact(&mut &*a, &mut got)).unwrap();
        sender.join().unwrap();
        echo.join().unwrap().unwrap();
        assert!(got == data);
    });
}

// ---------------------------------------------------------------------
// Stress.

/// 240 connections echo through the tokio adapter at once: each server
/// connection in its own goroutine's `future::block_on`, the clients
/// split over two plain threads, each running 120 connection futures on
/// one executor.
/// Every client sends 20 messages of 1 B to 8 KiB and checks each echo.
#[test]
fn stress_240_connections_echo_through_the_tokio_adapter() {
    const CONNS: usize = 240;
    const MSGS: usize = 20;
    let ln = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = ln.local_addr().unwrap();
    let started = Instant::now();
    let server = std::thread::spawn(move || {
        on_runtime(move || {
            let conns: Vec<_> = (0..CONNS)
                .map(|_| {
                    let (s, _) = ln.accept().unwrap();
                    gort_runtime::spawn(move || {
                        let mut s = s;
                        future::block_on(async {
                            let mut buf = vec![0u8; 16384];
                            loop {
                                match tokio_read(&mut s, &mut buf).await? {
                                    0 => return io::Result::Ok(()),
                                    n => tokio_write_all(&mut s, &buf[..n]).await?,
                                }
                            }
                        })
                    })
                })
                .collect();
            for c in conns {
                c.join().unwrap().unwrap();
            }
        })
    });
    let echoed = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..2)
        .map(|t| {
            let echoed = echoed.clone();
            std::thread::spawn(move || {
                let futs: Vec<_> = (0..CONNS / 2)
                    .map(|i| {
                        let echoed = echoed.clone();
                        let mut c = TcpStream::connect(addr).unwrap();
                        async move {
                            for m in 0..MSGS {
                                let len = 1 + (t * 7919 + i * 104_729 + m * 31) % 8192;
                                let msg: Vec<u8> = (0..len).map(|k| (k ^ i ^ m) as u8).collect();
                                tokio_write_all(&mut c, &msg).await.unwrap();
                                let mut back = vec![0u8; len];
                                tokio_read_exact(&mut c, &mut back).await.unwrap();
                                assert!(back == msg, "connection {t}/{i} message {m}: wrong echo");
                                echoed.fetch_add(1, Ordering::Relaxed);
                            }
                            poll_fn(|cx| tokio::io::AsyncWrite::poll_shutdown(Pin::new(&mut c), cx))
                                .await
                                .unwrap();
                        }
                    })
                    .collect();
                block_on_all(futs);
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    server.join().unwrap();
    assert_eq!(echoed.load(Ordering::Relaxed), CONNS * MSGS);
    assert!(started.elapsed() < Duration::from_secs(120), "took {:?}", started.elapsed());
}
