//! `TcpStream::poll_readable` (the probe a connection pool runs before it
//! reuses an idle connection) and `lookup_host`. Loopback only.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use gort_netpoll::{TcpListener, TcpStream, is_closed, lookup_host};

fn tcp_pair() -> (TcpStream, TcpStream) {
    let ln = TcpListener::bind("127.0.0.1:0").unwrap();
    let c = TcpStream::connect(ln.local_addr().unwrap()).unwrap();
    let (s, _) = ln.accept().unwrap();
    (c, s)
}

fn on_runtime<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let rt = gort_runtime::Runtime::builder().max_procs(2).build().unwrap();
    rt.block_on(f)
}

/// An idle pooled connection that the server closed is found dead by a
/// zero-timeout probe, which never blocks; a live idle one is not.
#[test]
fn a_dead_idle_connection_is_detected_by_a_zero_probe() {
    let (pooled, server) = tcp_pair();
    let (live, _live_server) = tcp_pair();
    assert!(!pooled.poll_readable(Some(Duration::ZERO)).unwrap(), "idle and open: nothing to read");
    drop(server); // the server closes the idle connection
    // Wait (bounded) until the FIN has arrived, then the zero probe sees it.
    assert!(pooled.poll_readable(Some(Duration::from_secs(20))).unwrap(), "the close never arrived");
    assert!(pooled.poll_readable(Some(Duration::ZERO)).unwrap(), "a closed idle connection looks alive");
    assert_eq!(pooled.peek(&mut [0u8; 1]).unwrap(), 0, "end of file");
    assert!(!live.poll_readable(Some(Duration::ZERO)).unwrap(), "a live idle connection looks dead");
}

/// The probe consumes nothing: data the server sent unasked is still
/// there to read.
#[test]
fn the_probe_consumes_nothing() {
    let (c, mut s) = tcp_pair();
    s.write_all(b"unasked").unwrap();
    assert!(c.poll_readable(Some(Duration::from_secs(20))).unwrap());
    assert!(c.poll_readable(Some(Duration::ZERO)).unwrap());
    let mut buf = [0u8; 7];
    (&c).read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"unasked");
}

/// In a goroutine, a probe with a timeout parks until data comes or the
/// timeout passes (then false, not an error); a closed stream fails.
#[test]
fn a_timed_probe_parks_the_goroutine() {
    on_runtime(|| {
        let (c, s) = tcp_pair();
        let t = Instant::now();
        assert!(!c.poll_readable(Some(Duration::from_millis(30))).unwrap());
        assert!(t.elapsed() >= Duration::from_millis(30));
        let w = gort_runtime::spawn(move || {
            gort_runtime::sleep(Duration::from_millis(10));
            (&s).write_all(b"x").unwrap();
            s
        });
        assert!(c.poll_readable(None).unwrap());
        drop(w.join().unwrap());
        c.close().unwrap();
        let e = c.poll_readable(Some(Duration::ZERO)).unwrap_err();
        assert!(is_closed(&e), "{e:?}");
    });
}

/// `lookup_host` resolves localhost with the port, from a goroutine (the
/// lookup runs with the P released) and from a plain thread.
#[test]
fn lookup_host_resolves_localhost() {
    let check = |addrs: Vec<std::net::SocketAddr>| {
        assert!(!addrs.is_empty(), "localhost resolved to nothing");
        for a in &addrs {
            assert!(a.ip().is_loopback() && a.port() == 80, "{a}");
        }
    };
    check(on_runtime(|| lookup_host("localhost:80").unwrap().collect()));
    check(lookup_host("localhost:80").unwrap().collect());
    check(lookup_host(("localhost", 80)).unwrap().collect());
    let e = lookup_host("localhost").unwrap_err(); // no port
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{e:?}");
}
