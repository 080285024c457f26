//! Drives the HTTP/1.1 hello example (examples/http_hello.rs) with curl
//! and with raw keep-alive and pipelined requests.

mod common;
#[allow(dead_code)]
#[path = "../examples/http_hello.rs"]
mod http_hello;

use std::io::{Read, Write};

use common::{curl, start};
use gort::net::TcpStream;

#[test]
fn curl_gets_hello_with_keep_alive() {
    let (addr, ln) = start(http_hello::serve);
    let url = format!("http://{addr}/");
    let resp = curl(&["-i", &url]);
    assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
    assert!(resp.contains("Content-Length: 14\r\n"), "{resp}");
    assert!(resp.contains("\r\nDate: "), "{resp}");
    assert!(resp.ends_with("\r\n\r\nHello, World!\n"), "{resp}");

    // Three requests on one connection: curl connects once.
    let connects = curl(&[
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
        "-w",
        "%{num_connects}%{http_code} ",
        &url,
        &format!("{url}a"),
        &format!("{url}b"),
    ]);
    assert_eq!(connects.trim(), "1200 0200 0200", "keep-alive reuses the connection");

    // HTTP/1.0 closes unless asked; HEAD has no body.
    let resp = curl(&["-0", "-i", &url]);
    assert!(resp.starts_with("HTTP/1.1 200 OK\r\n") && resp.contains("Connection: close\r\n"), "{resp}");
    let resp = curl(&["-I", &url]);
    assert!(resp.contains("Content-Length: 14\r\n") && !resp.contains("Hello"), "{resp}");
    let resp = curl(&["-i", "-X", "POST", "-d", "payload", &url]);
    assert!(resp.starts_with("HTTP/1.1 405"), "{resp}");
    ln.close().unwrap();
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let (addr, ln) = start(http_hello::serve);
    let rt = gort::Runtime::builder().max_procs(2).build().unwrap();
    rt.block_on(move || {
        let mut c = TcpStream::connect(addr).unwrap();
        let one = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
        let last = "GET /last HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
        // Split mid-request to exercise partial parses.
        let all = format!("{one}{one}{one}{last}");
        let (a, b) = all.split_at(40);
        c.write_all(a.as_bytes()).unwrap();
        gort::sleep(std::time::Duration::from_millis(5));
        c.write_all(b.as_bytes()).unwrap();
        let mut resp = String::new();
        c.read_to_string(&mut resp).unwrap(); // the server closes after `last`
        assert_eq!(resp.matches("HTTP/1.1 200 OK").count(), 4, "{resp}");
        assert_eq!(resp.matches("Hello, World!\n").count(), 4);
        assert!(resp.ends_with("Hello, World!\n"));
    });
    ln.close().unwrap();
}

#[test]
fn many_concurrent_keep_alive_clients() {
    let (addr, ln) = start(http_hello::serve);
    let rt = gort::Runtime::builder().max_procs(2).build().unwrap();
    rt.block_on(move || {
        let hs: Vec<_> = (0..200)
            .map(|_| {
                gort::go!(move || {
                    let mut c = TcpStream::connect(addr).unwrap();
                    let mut buf = vec![0u8; 4096];
                    for _ in 0..20 {
                        c.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
                        let mut got = 0;
                        while !buf[..got].ends_with(b"Hello, World!\n") {
                            let n = c.read(&mut buf[got..]).unwrap();
                            assert!(n > 0, "server closed a keep-alive connection");
                            got += n;
                        }
                        assert!(buf.starts_with(b"HTTP/1.1 200 OK\r\n"));
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
    ln.close().unwrap();
}

#[test]
fn debug_goroutines_shows_every_goroutine_with_its_stack() {
    let (addr, ln) = start(http_hello::serve);
    // A goroutine parked in a channel receive, for the dump to show.
    let ch = gort::chan::<()>(0);
    let rx = ch.clone();
    let parked = gort::go!(move || {
        let _ = rx.recv();
    });
    while !gort::debug::dump_string().contains("[chan receive") {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let dump = curl(&[&format!("http://{addr}/debug/goroutines")]);
    assert!(dump.contains("[chan receive"), "{dump}");
    assert!(dump.contains("net_http.rs:"), "the parked goroutine's frames name this file: {dump}");
    assert!(dump.contains("created by "), "{dump}");
    let grouped = curl(&[&format!("http://{addr}/debug/goroutines?group=1")]);
    assert!(grouped.contains("with this stack"), "{grouped}");
    ch.close();
    parked.join().unwrap();
    ln.close().unwrap();
}
