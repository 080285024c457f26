//! gort-http against servers on loopback run by the test itself: plain
//! HTTP from many goroutines, HTTPS through rustls, name resolution,
//! timeouts, connect timeouts, refused connections and context
//! cancellation.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gort_http::ureq;
use gort_netpoll::{TcpListener, TcpStream};
use gort_runtime::{Runtime, spawn};
use gort_sync::context;

fn rt() -> Runtime {
    Runtime::builder().max_procs(2).build().expect("runtime")
}

/// Reads one request head (up to the blank line) and returns its first
/// line, or None at end of stream.
fn read_head(c: &mut impl Read) -> Option<String> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match c.read(&mut b) {
            Ok(1) => head.push(b[0]),
            _ => return None,
        }
    }
    let s = String::from_utf8_lossy(&head).into_owned();
    s.lines().next().map(str::to_string)
}

/// A keep-alive server answering `GET /x` with body `x`, for `conns`
/// connections, in goroutines.
fn echo_path_server(conns: usize) -> SocketAddr {
    let ln = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = ln.local_addr().unwrap();
    spawn(move || {
        for _ in 0..conns {
            let Ok((mut c, _)) = ln.accept() else { return };
            spawn(move || {
                while let Some(line) = read_head(&mut c) {
                    let path = line.split(' ').nth(1).unwrap_or("/").trim_start_matches('/').to_string();
                    let resp = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{}", path.len(), path);
                    if c.write_all(resp.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn many_goroutines_share_one_agent() {
    rt().block_on(|| {
        let addr = echo_path_server(1000);
        let agent = gort_http::agent();
        let hs: Vec<_> = (0..40)
            .map(|i| {
                let agent = agent.clone();
                spawn(move || {
                    for j in 0..10 {
                        let want = format!("{i}-{j}");
                        let got = agent
                            .get(format!("http://{addr}/{want}"))
                            .call()
                            .unwrap()
                            .body_mut()
                            .read_to_string();
                        assert_eq!(got.unwrap(), want);
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
}

#[test]
fn host_names_resolve() {
    rt().block_on(|| {
        let addr = echo_path_server(1);
        let url = format!("http://localhost:{}/named", addr.port());
        let got = gort_http::agent().get(url).call().unwrap().body_mut().read_to_string().unwrap();
        assert_eq!(got, "named");
    });
}

#[test]
fn https_through_rustls() {
    let cert_pem = include_bytes!("data/cert.pem");
    let key_pem = include_bytes!("data/key.pem");
    rt().block_on(move || {
        let cert = rustls_pki_types::CertificateDer::from(
            ureq::tls::Certificate::from_pem(cert_pem).unwrap().der().to_vec(),
        );
        let key = rustls_pki_types::PrivateKeyDer::try_from(
            ureq::tls::PrivateKey::from_pem(key_pem).unwrap().der().to_vec(),
        )
        .unwrap();
        // The provider ureq's rustls connector uses (ring).
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap();
        let cfg = Arc::new(cfg);
        let ln = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = ln.local_addr().unwrap().port();
        let server = spawn(move || {
            let (c, _) = ln.accept().unwrap();
            let conn = rustls::ServerConnection::new(cfg).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, c);
            let line = read_head(&mut tls).expect("request");
            assert!(line.starts_with("GET /secure "), "{line}");
            tls.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nsecret")
                .unwrap();
            tls.conn.send_close_notify();
            let _ = tls.flush();
        });
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::new_with_certs(&[
                ureq::tls::Certificate::from_pem(cert_pem).unwrap()
            ]))
            .build();
        let agent = gort_http::AgentBuilder::new().tls_config(tls).build();
        let got =
            agent.get(format!("https://localhost:{port}/secure")).call().unwrap().body_mut().read_to_string();
        assert_eq!(got.unwrap(), "secret");
        server.join().unwrap();
        // Without the certificate among the roots the handshake fails.
        let err = gort_http::agent().get(format!("https://127.0.0.1:{port}/")).call();
        assert!(err.is_err());
    });
}

/// A server that accepts and then says nothing until the client leaves;
/// reports (on the returned channel) when it saw the client close.
fn silent_server() -> (SocketAddr, gort_channels::Chan<()>) {
    let ln = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = ln.local_addr().unwrap();
    let closed = gort_channels::chan::<()>(1);
    let tx = closed.clone();
    spawn(move || {
        let (mut c, _) = ln.accept().unwrap();
        let mut b = [0u8; 1024];
        // Read the request and wait for end of stream, bounded by 60 s.
        c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        while let Ok(1..) = c.read(&mut b) {}
        let _ = tx.send(());
    });
    (addr, closed)
}

#[test]
fn a_read_timeout_stops_a_silent_server() {
    rt().block_on(|| {
        let (addr, closed) = silent_server();
        let agent = gort_http::agent();
        let t = Instant::now();
        let r = agent
            .get(format!("http://{addr}/"))
            .config()
            .timeout_recv_response(Some(Duration::from_millis(100)))
            .build()
            .call();
        assert!(matches!(r, Err(ureq::Error::Timeout(_))), "{r:?}");
        assert!(t.elapsed() < Duration::from_secs(10));
        drop(agent);
        closed.recv_timeout(Duration::from_secs(30)).expect("the timed-out connection is closed");
    });
}

#[test]
fn cancelling_the_context_closes_the_call() {
    rt().block_on(|| {
        let (addr, closed) = silent_server();
        let agent = gort_http::agent();
        let (ctx, cancel) = context::with_cancel(&context::background());
        let canceller = spawn(move || {
            gort_runtime::sleep(Duration::from_millis(50));
            cancel.cancel();
        });
        let r = gort_http::with_context(&ctx, || agent.get(format!("http://{addr}/")).call());
        assert_eq!(r.err(), Some(context::Error::Canceled));
        // The server saw the socket close: the call did not linger.
        closed.recv_timeout(Duration::from_secs(30)).expect("cancel closes the socket");
        canceller.join().unwrap();
    });
}

#[test]
fn a_context_deadline_bounds_the_call() {
    rt().block_on(|| {
        let (addr, _closed) = silent_server();
        let agent = gort_http::agent();
        let (ctx, _c) = context::with_timeout(&context::background(), Duration::from_millis(100));
        let t = Instant::now();
        let r = gort_http::with_context(&ctx, || agent.get(format!("http://{addr}/")).call());
        assert_eq!(r.err(), Some(context::Error::DeadlineExceeded));
        assert!(t.elapsed() < Duration::from_secs(10));
        // A context already done makes no call at all.
        let r = gort_http::with_context(&ctx, || -> u32 { panic!("must not run") });
        assert_eq!(r, Err(context::Error::DeadlineExceeded));
    });
}

#[test]
fn an_interrupter_aborts_a_streaming_read() {
    rt().block_on(|| {
        let (addr, closed) = silent_server();
        let agent = gort_http::agent();
        let stop = gort_http::Interrupter::new();
        let s = stop.clone();
        let call = spawn(move || s.run(|| agent.get(format!("http://{addr}/")).call().map(|_| ())));
        gort_runtime::sleep(Duration::from_millis(50));
        stop.interrupt();
        assert!(call.join().unwrap().is_err());
        assert!(stop.is_interrupted());
        closed.recv_timeout(Duration::from_secs(30)).expect("interrupt closes the socket");
    });
}

#[test]
fn a_refused_connection_names_the_address() {
    rt().block_on(|| {
        let ln = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = ln.local_addr().unwrap();
        drop(ln);
        let r = gort_http::agent().get(format!("http://{addr}/")).call();
        let msg = format!("{}", r.unwrap_err());
        assert!(msg.contains(&addr.to_string()), "{msg}");
    });
}

#[test]
fn the_connect_timeout_fires_against_a_full_backlog() {
    // A listener with backlog 0 that never accepts: the kernel queues one
    // connection and drops later SYNs, so a further connect hangs.
    // SAFETY: socket has no memory preconditions.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
    assert!(fd >= 0);
    // SAFETY: sockaddr_in is plain data; all-zero is valid.
    let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sa.sin_family = libc::AF_INET as libc::sa_family_t;
    sa.sin_addr = libc::in_addr { s_addr: u32::from_ne_bytes([127, 0, 0, 1]) };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: sa is a valid sockaddr_in of length len.
    assert_eq!(unsafe { libc::bind(fd, (&raw const sa).cast(), len) }, 0);
    // SAFETY: listen on our socket.
    assert_eq!(unsafe { libc::listen(fd, 0) }, 0);
    let mut len2 = len;
    // SAFETY: getsockname into sa, whose size is len2.
    assert_eq!(unsafe { libc::getsockname(fd, (&raw mut sa).cast(), &mut len2) }, 0);
    let addr = SocketAddr::from(([127, 0, 0, 1], u16::from_be(sa.sin_port)));
    let outcome = rt().block_on(move || {
        let mut held = Vec::new();
        for _ in 0..8 {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                Ok(c) => held.push(c),
                Err(_) => break,
            }
        }
        let agent = gort_http::AgentBuilder::new().connect_timeout(Duration::from_millis(200)).build();
        let t = Instant::now();
        let r = agent.get(format!("http://{addr}/")).call();
        (r.map(|_| ()), t.elapsed())
    });
    // SAFETY: closing our own fd.
    unsafe { libc::close(fd) };
    assert!(matches!(outcome.0, Err(ureq::Error::Timeout(ureq::Timeout::Connect))), "{:?}", outcome.0);
    assert!(outcome.1 < Duration::from_secs(10));
}
