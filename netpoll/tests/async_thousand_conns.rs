//! No lost readiness under 1,000 connections: an echo over loopback with
//! both ends driven through the async adapters (tokio's
//! `AsyncRead`/`AsyncWrite` and futures-io's) by gort's own executor,
//! `gort_runtime::future::spawn` and `block_on` (the facade's
//! `gort::future`), on a runtime of two Ps. Every connection's every byte
//! is checked, the rounds are bounded, and a watchdog turns a lost wake-up
//! (a future parked for ever in `block_on`) into a failure that says how
//! far the echo got. A test binary of its own: it needs about 2,000
//! descriptors, and raises `RLIMIT_NOFILE`'s soft limit for them.

mod support;

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use gort_netpoll::{TcpListener, TcpStream};
use gort_runtime::future;
use support::{fio_read, fio_write_all, tokio_read, tokio_read_exact, tokio_write_all};

/// Connections open at once.
const CONNS: usize = 1_000;
/// Messages each connection sends and checks.
const ROUNDS: usize = 8;
/// The largest message: small enough that a message and its echo fit in
/// loopback's socket buffers (the client writes all of it before reading).
const MAX_MSG: usize = 16 << 10;
/// The watchdog's bound: the echo takes seconds even on two loaded cores.
const BOUND: Duration = Duration::from_secs(180);

/// Raises the soft `RLIMIT_NOFILE` to at least `need` descriptors, or
/// fails saying how to get them.
fn raise_nofile(need: u64) {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `lim` is a valid, writable rlimit for getrlimit to fill.
    let r = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    assert_eq!(r, 0, "getrlimit(RLIMIT_NOFILE): {}", io::Error::last_os_error());
    if lim.rlim_cur >= need {
        return;
    }
    assert!(
        lim.rlim_max >= need,
        "this test opens {CONNS} connections (2 descriptors each, both ends are in this process) and \
         needs {need} descriptors, but RLIMIT_NOFILE's hard limit is {}: raise it (`ulimit -Hn {need}` \
         as root, or `nofile` in /etc/security/limits.conf)",
        lim.rlim_max
    );
    lim.rlim_cur = need;
    // SAFETY: `lim` is an initialised rlimit whose soft limit does not
    // exceed its hard limit, which an unprivileged process may set.
    let r = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    assert_eq!(r, 0, "setrlimit(RLIMIT_NOFILE, soft {need}): {}", io::Error::last_os_error());
}

/// The `m`th message of connection `i`: its length and bytes differ by
/// connection, so an echo on the wrong connection fails the check.
fn message(i: usize, m: usize) -> Vec<u8> {
    let len = 1 + (i * 7_919 + m * 104_729) % MAX_MSG;
    (0..len).map(|k| (k.wrapping_mul(31) ^ i ^ (m << 4)) as u8).collect()
}

/// Progress, for the watchdog's message.
#[derive(Default)]
struct Progress {
    accepted: AtomicUsize,
    echoes: AtomicUsize,
    clients_done: AtomicUsize,
    bytes_echoed: AtomicUsize,
}

/// The server half of connection `i`: echoes until end of file, through
/// the tokio adapter for even `i` and the futures-io adapter for odd.
async fn serve(i: usize, mut s: TcpStream, p: Arc<Progress>) -> io::Result<()> {
    let mut buf = vec![0u8; 8192];
    loop {
        let n =
            if i % 2 == 0 { tokio_read(&mut s, &mut buf).await? } else { fio_read(&mut s, &mut buf).await? };
        if n == 0 {
            return Ok(());
        }
        if i % 2 == 0 {
            tokio_write_all(&mut s, &buf[..n]).await?;
        } else {
            fio_write_all(&mut s, &buf[..n]).await?;
        }
        p.bytes_echoed.fetch_add(n, Ordering::Relaxed);
    }
}

/// Reads exactly `buf.len()` bytes through the futures-io adapter.
async fn fio_read_exact(r: &mut TcpStream, buf: &mut [u8]) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        match fio_read(r, &mut buf[done..]).await? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => done += n,
        }
    }
    Ok(())
}

/// Client `i`: connects, sends [`ROUNDS`] messages and checks each echo
/// byte for byte (futures-io for even `i`, tokio for odd: the opposite of
/// the server half it likely meets), then shuts its write half down and
/// expects end of file.
async fn client(i: usize, addr: SocketAddr, p: Arc<Progress>) -> io::Result<()> {
    // A blocking connect inside a future parks this goroutine only.
    let mut c = TcpStream::connect(addr)?;
    for m in 0..ROUNDS {
        let msg = message(i, m);
        let mut back = vec![0u8; msg.len()];
        if i % 2 == 0 {
            fio_write_all(&mut c, &msg).await?;
            fio_read_exact(&mut c, &mut back).await?;
        } else {
            tokio_write_all(&mut c, &msg).await?;
            tokio_read_exact(&mut c, &mut back).await?;
        }
        if let Some(k) = (0..msg.len()).find(|&k| back[k] != msg[k]) {
            panic!("connection {i} message {m}: echoed byte {k} is {:#x}, sent {:#x}", back[k], msg[k]);
        }
        p.echoes.fetch_add(1, Ordering::Relaxed);
    }
    std::future::poll_fn(|cx| tokio::io::AsyncWrite::poll_shutdown(Pin::new(&mut c), cx)).await?;
    let n = tokio_read(&mut c, &mut [0u8; 16]).await?;
    assert_eq!(n, 0, "connection {i}: the server sent more than the echoes");
    p.clients_done.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

#[test]
fn no_lost_readiness_under_a_thousand_connections() {
    raise_nofile(2 * CONNS as u64 + 256);
    let p = Arc::new(Progress::default());
    let (tx, rx) = std::sync::mpsc::channel();
    {
        let p = p.clone();
        std::thread::spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                let rt = gort_runtime::Runtime::builder().max_procs(2).build().unwrap();
                rt.block_on(move || {
                    let ln = TcpListener::bind("127.0.0.1:0").unwrap();
                    let addr = ln.local_addr().unwrap();
                    let server = {
                        let p = p.clone();
                        gort_runtime::spawn(move || {
                            let conns: Vec<_> = (0..CONNS)
                                .map(|i| {
                                    let (s, _) = ln.accept().expect("accept");
                                    p.accepted.fetch_add(1, Ordering::Relaxed);
                                    future::spawn(serve(i, s, p.clone()))
                                })
                                .collect();
                            // Awaiting the handles: a future of futures,
                            // on this goroutine's block_on.
                            future::block_on(async {
                                for (i, h) in conns.into_iter().enumerate() {
                                    let r = h.await.unwrap_or_else(|e| panic!("server {i} panicked: {e}"));
                                    r.unwrap_or_else(|e| panic!("server {i}: {e}"));
                                }
                            });
                        })
                    };
                    let clients: Vec<_> =
                        (0..CONNS).map(|i| future::spawn(client(i, addr, p.clone()))).collect();
                    future::block_on(async {
                        for (i, h) in clients.into_iter().enumerate() {
                            let r = h.await.unwrap_or_else(|e| panic!("client {i} panicked: {e}"));
                            r.unwrap_or_else(|e| panic!("client {i}: {e}"));
                        }
                    });
                    server.join().unwrap();
                })
            }));
            let _ = tx.send(r);
        });
    }
    match rx.recv_timeout(BOUND) {
        Ok(Ok(())) => {}
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!(
            "not finished within {BOUND:?}, a lost wake-up: {} of {CONNS} connections accepted, {} of {} \
             echoes checked, {} of {CONNS} clients done",
            p.accepted.load(Ordering::Relaxed),
            p.echoes.load(Ordering::Relaxed),
            CONNS * ROUNDS,
            p.clients_done.load(Ordering::Relaxed),
        ),
    }
    let want: usize = (0..CONNS).flat_map(|i| (0..ROUNDS).map(move |m| message(i, m).len())).sum();
    assert_eq!(p.echoes.load(Ordering::Relaxed), CONNS * ROUNDS);
    assert_eq!(p.clients_done.load(Ordering::Relaxed), CONNS);
    assert_eq!(p.bytes_echoed.load(Ordering::Relaxed), want, "the servers echoed every byte sent, once");
}
