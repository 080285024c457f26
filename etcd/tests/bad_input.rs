//! Bad input and bad servers give clear errors, never panics: unreachable
//! endpoints, malformed answers, oversized requests, expired leases,
//! compacted revisions, invalid arguments.

mod common;

use common::run;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use gort_etcd::server::Server;
use gort_etcd::{Client, Config, Error, Options};
use gort_netpoll::TcpListener;

#[test]
fn an_unreachable_endpoint_is_named() {
    run(|| {
        let ln = TcpListener::bind("127.0.0.1:0").unwrap();
        let ep = format!("http://{}", ln.local_addr().unwrap());
        drop(ln);
        let c = Client::connect([&ep]).unwrap();
        let e = c.get("k").unwrap_err();
        assert!(matches!(&e, Error::Unavailable { endpoint, .. } if *endpoint == ep), "{e:?}");
        let msg = e.to_string();
        assert!(msg.contains(&ep) && msg.contains("refused"), "{msg}");
    });
}

#[test]
fn a_silent_endpoint_fails_within_the_connect_timeout() {
    // A listener with backlog 0 that never accepts: once its queue is full
    // further connects hang, as toward a dead host.
    // SAFETY: socket has no memory preconditions.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
    // SAFETY: sockaddr_in is plain data; all-zero is valid.
    let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sa.sin_family = libc::AF_INET as libc::sa_family_t;
    sa.sin_addr = libc::in_addr { s_addr: u32::from_ne_bytes([127, 0, 0, 1]) };
    let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: sa is a valid sockaddr_in of length len.
    assert_eq!(unsafe { libc::bind(fd, (&raw const sa).cast(), len) }, 0);
    // SAFETY: listen on our own socket.
    assert_eq!(unsafe { libc::listen(fd, 0) }, 0);
    // SAFETY: getsockname into sa, whose size is len.
    assert_eq!(unsafe { libc::getsockname(fd, (&raw mut sa).cast(), &mut len) }, 0);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], u16::from_be(sa.sin_port)));
    let (e, took) = run(move || {
        let mut held = Vec::new();
        while let Ok(s) = gort_netpoll::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            held.push(s);
            assert!(held.len() < 16);
        }
        let mut cfg = Config::new([format!("http://{addr}")]);
        cfg.dial_timeout = Duration::from_millis(300);
        let c = Client::new(cfg).unwrap();
        let t = Instant::now();
        (c.get("k").unwrap_err(), t.elapsed())
    });
    // SAFETY: closing our own fd.
    unsafe { libc::close(fd) };
    assert!(
        matches!(&e, Error::Unavailable { endpoint, reason } if endpoint.contains(&addr.to_string()) && reason.contains("timed out")),
        "{e:?}"
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
}

/// A server answering every request with `status` and `body`.
fn fake_server(status: &'static str, body: &'static str) -> String {
    let ln = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = ln.local_addr().unwrap();
    gort_runtime::spawn(move || {
        for _ in 0..4 {
            let Ok((mut c, _)) = ln.accept() else { return };
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            let resp = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = c.write_all(resp.as_bytes());
        }
    });
    format!("http://{addr}")
}

#[test]
fn malformed_answers_are_reported() {
    run(|| {
        let ep = fake_server("200 OK", "<html>hello</html>");
        let e = Client::connect([&ep]).unwrap().get("k").unwrap_err();
        assert!(matches!(&e, Error::Malformed { endpoint, .. } if *endpoint == ep), "{e:?}");
        assert!(e.to_string().contains("<html>"), "{e}");
        let ep = fake_server("404 Not Found", "404 page not found");
        let e = Client::connect([&ep]).unwrap().put("k", "v").unwrap_err();
        assert!(matches!(&e, Error::Malformed { detail, .. } if detail.contains("404")), "{e:?}");
        // Well-formed JSON of the wrong shape.
        let ep = fake_server("200 OK", r#"{"kvs": "nope"}"#);
        let e = Client::connect([&ep]).unwrap().get("k").unwrap_err();
        assert!(matches!(e, Error::Malformed { .. }), "{e:?}");
    });
}

#[test]
fn invalid_arguments_fail_before_sending() {
    assert!(matches!(Client::connect(Vec::<String>::new()), Err(Error::InvalidArgument(_))));
    let e = Client::connect(["ftp://127.0.0.1:2379"]).unwrap_err();
    assert!(e.to_string().contains("http://host:port"), "{e}");
    run(|| {
        let c = Client::connect(["127.0.0.1:1"]).unwrap();
        assert_eq!(c.endpoints(), ["http://127.0.0.1:1"]);
        assert!(matches!(c.grant(0), Err(Error::InvalidArgument(_))));
    });
}

#[test]
fn an_oversized_request_and_an_expired_lease() {
    run(|| {
        let c = Client::connect(Server::shared().endpoints()).unwrap();
        let big = vec![b'x'; 2 << 20];
        let e = c.put("big", &big).unwrap_err();
        assert!(matches!(e, Error::RequestTooLarge { .. }), "{e:?}");
        assert!(e.to_string().contains("--max-request-bytes"), "{e}");
        let l = c.grant(60).unwrap();
        c.revoke(l.id).unwrap();
        let e = c.put_with("leased", "v", Options::new().with_lease(l.id)).unwrap_err();
        assert_eq!(e, Error::LeaseNotFound { id: l.id });
        assert!(e.to_string().contains("grant a new one"), "{e}");
        assert!(matches!(c.revoke(l.id), Err(Error::LeaseNotFound { .. })));
        // A future revision.
        let now = c.get("nothing").unwrap().header.revision;
        assert_eq!(c.get_with("k", Options::new().with_rev(now + 1000)).unwrap_err(), Error::FutureRevision);
    });
}

#[test]
fn compacted_revisions_in_reads_and_watches() {
    // Its own server: compaction would disturb the shared one's tests.
    let server = Server::start().unwrap_or_else(|e| panic!("{e}"));
    let eps = server.endpoints();
    run(move || {
        let c = Client::connect(eps).unwrap();
        let first = c.put("c/k", "1").unwrap().header.revision;
        c.put("c/k", "2").unwrap();
        let last = c.put("c/k", "3").unwrap().header.revision;
        c.compact(last).unwrap();
        let e = c.get_with("c/k", Options::new().with_rev(first)).unwrap_err();
        assert!(matches!(e, Error::Compacted { .. }), "{e:?}");
        assert!(e.to_string().contains("compacted"), "{e}");
        // A watch from before the compaction is cancelled with its revision.
        let w = c.watch("c/k", Options::new().with_rev(first));
        let r = w.chan().recv_timeout(Duration::from_secs(30)).expect("the cancellation");
        assert!(r.canceled);
        assert_eq!(r.err(), Some(Error::Compacted { compact_revision: last }));
        assert!(w.chan().recv_timeout(Duration::from_secs(30)).is_err(), "the channel closes after it");
        // From the compaction point on, history is there.
        let w = c.watch("c/k", Options::new().with_rev(last));
        let r = w.chan().recv_timeout(Duration::from_secs(30)).expect("history");
        assert_eq!(r.events[0].kv.value, b"3");
    });
    drop(server);
}
