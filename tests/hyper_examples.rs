//! Drives the hyper examples (examples/hyper_server.rs and
//! hyper_client.rs): curl over HTTP/1.1 and h2c, keep-alive, pipelining,
//! a blocking handler that holds up nobody else, and the client example
//! fetching from the server example. Loopback only; every wait is bounded
//! (curl's `--max-time`, socket read timeouts) and the checks are on
//! order, not on time.

mod common;
#[allow(dead_code)]
#[path = "../examples/hyper_server.rs"]
mod hyper_server;

#[allow(dead_code)]
#[path = "../examples/hyper_client.rs"]
mod hyper_client;

use std::io::{Read, Write};
use std::time::Duration;

use common::{curl, start};
use gort::debug::WaitReason;
use gort::future::{self, hyper_rt::GortExecutor};
use gort::net::TcpStream;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::client::conn::http2;
use hyper::{Request, Version};

/// How long `/sleep` blocks in the concurrency tests: 20 times the
/// example's 100 ms, so that a request the server answers at once cannot
/// lose the race against it on a loaded machine.
const LONG_SLEEP_MS: u64 = 2_000;

/// Fails unless this curl speaks HTTP/2 (`curl -V` lists the feature).
fn require_curl_http2() {
    let v = curl(&["-V"]);
    let features = v.lines().find(|l| l.starts_with("Features:")).unwrap_or("");
    assert!(
        features.split_whitespace().any(|f| f == "HTTP2"),
        "this curl has no HTTP/2 (curl -V: {features:?}); install one built with nghttp2: apt-get install -y curl"
    );
}

#[test]
fn curl_gets_hello_over_http1_and_h2c() {
    require_curl_http2();
    let (addr, ln) = start(hyper_server::serve);
    let url = format!("http://{addr}/");

    let resp = curl(&["-i", &url]);
    assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
    assert!(resp.contains("content-length: 14\r\n"), "{resp}");
    assert!(resp.ends_with("\r\n\r\nHello, World!\n"), "{resp}");

    let resp = curl(&["--http2-prior-knowledge", "-i", &url]);
    assert!(resp.starts_with("HTTP/2 200"), "h2c with prior knowledge: {resp}");
    assert!(resp.ends_with("\r\n\r\nHello, World!\n"), "{resp}");

    // The blocking handler answers too, on both protocols, and bad input
    // gets a message naming the fix.
    for proto in ["--http1.1", "--http2-prior-knowledge"] {
        let out = curl(&[proto, "-w", " %{http_version}", &format!("{url}sleep?ms=1")]);
        let want = if proto == "--http1.1" { "Slept 1 ms\n 1.1" } else { "Slept 1 ms\n 2" };
        assert_eq!(out, want, "{proto}");
        let out = curl(&[proto, "-w", "%{http_code}", &format!("{url}sleep?ms=x")]);
        assert!(out.contains("want a whole number of milliseconds") && out.ends_with("400"), "{out}");
    }
    ln.close().unwrap();
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let (addr, ln) = start(hyper_server::serve);
    let url = format!("http://{addr}/");
    // HTTP/1.1: three URLs, one curl; it connects once and reuses the
    // connection.
    let out = curl(&[
        "--http1.1",
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
        "-w",
        "%{num_connects}%{http_code} ",
        &url,
        &format!("{url}sleep?ms=1"),
        &url,
    ]);
    assert_eq!(out.trim(), "1200 0200 0200", "keep-alive reuses the connection");

    // h2c: several requests, one after the other, on one connection, with
    // hyper's client. (curl 7.88, Debian 12's, cannot reuse an h2c
    // connection with prior knowledge, with any server: curl issue 10634,
    // fixed in 7.89.)
    let rt = gort::Runtime::builder().max_procs(2).build().unwrap();
    rt.block_on(move || {
        let stream = TcpStream::connect(addr).unwrap();
        let (sender, conn) = future::block_on(http2::handshake(GortExecutor, stream)).unwrap();
        let driver = future::spawn(conn);
        for path in ["/", "/sleep?ms=1", "/"] {
            let want = if path == "/" { "Hello, World!\n" } else { "Slept 1 ms\n" };
            assert_eq!(h2_get(sender.clone(), format!("http://{addr}{path}")), want);
        }
        drop(sender); // the last sender: the connection ends
        driver.join().unwrap().unwrap();
    });
    ln.close().unwrap();
}

/// Reads until the server closes, for at most 30 s.
fn read_all(c: &mut TcpStream) -> String {
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut resp = String::new();
    c.read_to_string(&mut resp).unwrap();
    resp
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let (addr, ln) = start(hyper_server::serve);
    let rt = gort::Runtime::builder().max_procs(2).build().unwrap();
    rt.block_on(move || {
        let mut c = TcpStream::connect(addr).unwrap();
        // Two requests in one write: the first blocks in its handler, the
        // second must still be answered after it, on the same connection.
        let reqs = "GET /sleep?ms=20 HTTP/1.1\r\nHost: t\r\n\r\n\
                    GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
        c.write_all(reqs.as_bytes()).unwrap();
        let resp = read_all(&mut c); // the server closes after the second
        assert_eq!(resp.matches("HTTP/1.1 200 OK\r\n").count(), 2, "{resp}");
        let slept = resp.find("\r\n\r\nSlept 20 ms\n").expect(&resp);
        let hello = resp.find("\r\n\r\nHello, World!\n").expect(&resp);
        assert!(slept < hello, "responses out of order: {resp}");
        assert!(resp.ends_with("Hello, World!\n"), "{resp}");
    });
    ln.close().unwrap();
}

/// Waits until at least `n` goroutines of the current runtime sleep in
/// `gort::sleep` (the example's `/sleep` handlers: the caller runs the
/// server on a runtime of its own), so their requests are in flight.
/// Gives up after 30 s.
fn await_sleepers(n: usize) {
    for _ in 0..30_000 {
        let sleeping =
            gort::debug::goroutines().iter().filter(|g| g.wait_reason == Some(WaitReason::Sleep)).count();
        if sleeping >= n {
            return;
        }
        // Not gort::sleep, which the count would include.
        future::block_on(future::sleep(Duration::from_millis(1)));
    }
    panic!("the /sleep handlers never started: {}", gort::debug::dump_string());
}

/// GETs `url` over an HTTP/2 connection and returns the body.
fn h2_get(mut sender: http2::SendRequest<Empty<Bytes>>, url: String) -> Bytes {
    let req = Request::get(url).body(Empty::new()).unwrap();
    future::block_on(async {
        let resp = sender.send_request(req).await.unwrap();
        assert_eq!(resp.version(), Version::HTTP_2);
        resp.into_body().collect().await.unwrap().to_bytes()
    })
}

/// What finished, in order of completion.
#[derive(Debug, PartialEq)]
enum Done {
    Hello,
    Slept,
}

#[test]
fn a_blocking_handler_does_not_delay_other_requests() {
    const N: usize = 4;
    let rt = gort::Runtime::builder().max_procs(2).build().unwrap();
    rt.block_on(move || {
        let (addr, ln) = start(hyper_server::serve); // on this runtime, for await_sleepers
        // HTTP/1.1: N connections blocked in /sleep; a request to / on a
        // new connection is answered before any of them.
        let done = gort::chan::<Done>(2 * N);
        let sleepers: Vec<_> = (0..N)
            .map(|_| {
                let done = done.clone();
                gort::go!(move || {
                    let mut c = TcpStream::connect(addr).unwrap();
                    let req = format!(
                        "GET /sleep?ms={LONG_SLEEP_MS} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
                    );
                    c.write_all(req.as_bytes()).unwrap();
                    let resp = read_all(&mut c);
                    assert!(resp.ends_with(&format!("Slept {LONG_SLEEP_MS} ms\n")), "{resp}");
                    done.send(Done::Slept).unwrap();
                })
            })
            .collect();
        await_sleepers(N);
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
        let resp = read_all(&mut c);
        assert!(resp.ends_with("Hello, World!\n"), "{resp}");
        done.send(Done::Hello).unwrap();
        for h in sleepers {
            h.join().unwrap();
        }
        let order: Vec<Done> = (0..=N).map(|_| done.recv().unwrap()).collect();
        assert_eq!(order[0], Done::Hello, "HTTP/1.1: / waited for a blocked handler: {order:?}");

        // HTTP/2: N streams blocked in /sleep on one connection; a request
        // to / on the same connection is answered before any of them (each
        // stream's handler runs on a goroutine of its own).
        let stream = TcpStream::connect(addr).unwrap();
        let (sender, conn) = future::block_on(http2::handshake(GortExecutor, stream)).unwrap();
        let driver = future::spawn(conn);
        let sleepers: Vec<_> = (0..N)
            .map(|_| {
                let done = done.clone();
                let sender = sender.clone();
                gort::go!(move || {
                    let body = h2_get(sender, format!("http://{addr}/sleep?ms={LONG_SLEEP_MS}"));
                    assert_eq!(body, format!("Slept {LONG_SLEEP_MS} ms\n"));
                    done.send(Done::Slept).unwrap();
                })
            })
            .collect();
        await_sleepers(N);
        assert_eq!(h2_get(sender.clone(), format!("http://{addr}/")), "Hello, World!\n");
        done.send(Done::Hello).unwrap();
        for h in sleepers {
            h.join().unwrap();
        }
        let order: Vec<Done> = (0..=N).map(|_| done.recv().unwrap()).collect();
        assert_eq!(order[0], Done::Hello, "HTTP/2: / waited for a blocked stream: {order:?}");
        drop(sender); // the last sender: the connection ends
        driver.join().unwrap().unwrap();
        ln.close().unwrap();
    });
}

#[test]
fn client_example_fetches_from_server_example() {
    let (addr, ln) = start(hyper_server::serve);
    let rt = gort::Runtime::builder().max_procs(2).build().unwrap();
    rt.block_on(move || {
        let mut out = Vec::new();
        hyper_client::run(&format!("http://{addr}/"), &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "HTTP/1.1 200 OK\n\nHello, World!\n");

        let resp = hyper_client::fetch(&format!("http://{addr}/nowhere")).unwrap();
        assert_eq!(resp.status(), 404);
        assert!(resp.body().starts_with(b"/nowhere: not found"), "{:?}", resp.body());

        let e = hyper_client::fetch("https://example.invalid/").unwrap_err();
        assert!(e.to_string().contains("only http:// URLs"), "{e}");
    });
    ln.close().unwrap();
}
