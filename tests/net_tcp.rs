//! TCP over loopback: many connections, deadlines, close while parked,
//! half-close, plain threads.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gort::net::{TcpListener, TcpStream};

fn runtime(procs: usize) -> gort::Runtime {
    gort::Runtime::builder().max_procs(procs).build().unwrap()
}

/// Echoes every connection until the peer closes.
fn echo_server(ln: &TcpListener) {
    loop {
        let Ok((c, _)) = ln.accept() else { return };
        gort::go!(move || {
            let mut buf = [0u8; 4096];
            loop {
                match (&c).read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if (&c).write_all(&buf[..n]).is_err() {
                            return;
                        }
                    }
                }
            }
        });
    }
}

#[test]
fn echo_1000_concurrent_connections_on_2_procs() {
    let rt = runtime(2);
    let total = rt.block_on(|| {
        let ln = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = ln.local_addr().unwrap();
        let ln = Arc::new(ln);
        let server = {
            let ln = ln.clone();
            gort::go!(move || echo_server(&ln))
        };
        let clients: Vec<_> = (0..1000u32)
            .map(|i| {
                gort::go!(move || {
                    let mut c = TcpStream::connect(addr).unwrap();
                    let mut sum = 0u64;
                    for j in 0..10u32 {
                        let msg = format!("{i}:{j}:{}", "x".repeat((i as usize * 7 + j as usize) % 300));
                        c.write_all(msg.as_bytes()).unwrap();
                        let mut got = vec![0u8; msg.len()];
                        c.read_exact(&mut got).unwrap();
                        assert_eq!(got, msg.as_bytes(), "connection {i} round trip {j}");
                        sum += got.len() as u64;
                    }
                    sum
                })
            })
            .collect();
        let total: u64 = clients.into_iter().map(|h| h.join().unwrap()).sum();
        ln.close().unwrap();
        server.join().unwrap();
        total
    });
    assert!(total > 10_000, "every connection echoed its bytes");
}

#[test]
fn read_deadline_fires_with_timed_out() {
    let rt = runtime(2);
    rt.block_on(|| {
        let ln = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(ln.local_addr().unwrap()).unwrap();
        let (_s, _) = ln.accept().unwrap();
        let start = Instant::now();
        c.set_read_deadline(Some(Instant::now() + Duration::from_millis(50))).unwrap();
        let e = (&c).read(&mut [0u8; 8]).unwrap_err();
        assert!(gort::net::is_timeout(&e), "{e:?}");
        assert_eq!(e.to_string(), "i/o timeout");
        assert!(start.elapsed() >= Duration::from_millis(50));
        // Expired: later reads fail at once, until the deadline is cleared.
        assert!(gort::net::is_timeout(&(&c).read(&mut [0u8; 8]).unwrap_err()));
        c.set_read_deadline(None).unwrap();
        c.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        let e = (&c).read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        assert_eq!(c.read_timeout().unwrap(), Some(Duration::from_millis(20)));
        assert!(c.set_read_timeout(Some(Duration::ZERO)).is_err(), "zero timeout is invalid, as in std");
    });
}

#[test]
fn deadline_moved_into_the_past_wakes_a_parked_reader() {
    let rt = runtime(2);
    rt.block_on(|| {
        let ln = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = Arc::new(TcpStream::connect(ln.local_addr().unwrap()).unwrap());
        let (_s, _) = ln.accept().unwrap();
        let c2 = c.clone();
        let reader = gort::go!(move || (&*c2).read(&mut [0u8; 8]));
        gort::sleep(Duration::from_millis(20));
        c.set_read_deadline(Some(Instant::now() - Duration::from_secs(1))).unwrap();
        let e = reader.join().unwrap().unwrap_err();
        assert!(gort::net::is_timeout(&e), "{e:?}");
    });
}

#[test]
fn write_deadline_fires_when_the_peer_does_not_read() {
    let rt = runtime(2);
    rt.block_on(|| {
        let ln = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(ln.local_addr().unwrap()).unwrap();
        let (_s, _) = ln.accept().unwrap();
        c.set_write_deadline(Some(Instant::now() + Duration::from_millis(100))).unwrap();
        let chunk = vec![7u8; 1 << 16];
        let mut sent = 0usize;
        let err = loop {
            match (&c).write(&chunk) {
                Ok(n) => sent += n,
                Err(e) => break e,
            }
            assert!(sent < 1 << 30, "socket buffers never filled");
        };
        assert!(gort::net::is_timeout(&err), "{err:?}");
        assert!(sent > 0);
    });
}

#[test]
fn close_wakes_a_parked_accept_and_a_parked_read() {
    let rt = runtime(2);
    rt.block_on(|| {
        let ln = Arc::new(TcpListener::bind("127.0.0.1:0").unwrap());
        let addr = ln.local_addr().unwrap();
        let ln2 = ln.clone();
        let acceptor = gort::go!(move || ln2.accept().map(|_| ()));
        gort::sleep(Duration::from_millis(20));
        ln.close().unwrap();
        let e = acceptor.join().unwrap().unwrap_err();
        assert!(gort::net::is_closed(&e), "{e:?}");
        assert_eq!(e.to_string(), "use of closed network connection");
        assert!(gort::net::is_closed(&ln.accept().unwrap_err()), "accept after close");
        assert!(gort::net::is_closed(&ln.close().unwrap_err()), "double close");

        let ln = TcpListener::bind("127.0.0.1:0").unwrap();
        let _keep = ln.try_clone().unwrap();
        let _ = addr;
        let c = Arc::new(TcpStream::connect(ln.local_addr().unwrap()).unwrap());
        let (_s, _) = ln.accept().unwrap();
        let c2 = c.clone();
        let reader = gort::go!(move || (&*c2).read(&mut [0u8; 8]));
        let c3 = c.clone();
        let reader2 = gort::go!(move || (&*c3).read(&mut [0u8; 8]));
        gort::sleep(Duration::from_millis(20));
        c.close().unwrap();
        for r in [reader, reader2] {
            let e = r.join().unwrap().unwrap_err();
            assert!(gort::net::is_closed(&e), "{e:?}");
        }
    });
}

#[test]
fn half_close_delivers_eof_and_the_reply() {
    let rt = runtime(2);
    rt.block_on(|| {
        let ln = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = ln.local_addr().unwrap();
        let server = gort::go!(move || {
            let (mut s, _) = ln.accept().unwrap();
            let mut all = Vec::new();
            s.read_to_end(&mut all).unwrap(); // ends at the client's FIN
            s.write_all(format!("got {} bytes", all.len()).as_bytes()).unwrap();
        });
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(&[1u8; 100_000]).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut reply = String::new();
        c.read_to_string(&mut reply).unwrap();
        assert_eq!(reply, "got 100000 bytes");
        server.join().unwrap();
    });
}

#[test]
fn plain_threads_block_and_are_woken() {
    // No goroutine involved: accept, connect, read and write block threads.
    let ln = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = ln.local_addr().unwrap();
    let t = std::thread::spawn(move || {
        let (mut s, peer) = ln.accept().unwrap();
        assert!(peer.ip().is_loopback());
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).unwrap();
        s.write_all(&buf).unwrap();
    });
    let mut c = TcpStream::connect(addr).unwrap();
    c.write_all(b"hello").unwrap();
    let mut buf = [0u8; 5];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hello");
    t.join().unwrap();

    // A deadline and a close wake a blocked thread.
    let ln = Arc::new(TcpListener::bind("127.0.0.1:0").unwrap());
    ln.set_deadline(Some(Instant::now() + Duration::from_millis(30))).unwrap();
    assert!(gort::net::is_timeout(&ln.accept().unwrap_err()));
    ln.set_deadline(None).unwrap();
    let ln2 = ln.clone();
    let t = std::thread::spawn(move || ln2.accept().map(|_| ()));
    std::thread::sleep(Duration::from_millis(30));
    ln.close().unwrap();
    assert!(gort::net::is_closed(&t.join().unwrap().unwrap_err()));
}

#[test]
fn goroutine_and_thread_share_a_stream() {
    let rt = runtime(2);
    let ln = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = ln.local_addr().unwrap();
    // The server side lives on a plain thread; the client in goroutines.
    let t = std::thread::spawn(move || {
        let (s, _) = ln.accept().unwrap();
        let mut buf = [0u8; 1];
        for _ in 0..200 {
            (&s).read_exact(&mut buf).unwrap();
            (&s).write_all(&buf).unwrap();
        }
    });
    rt.block_on(move || {
        let c = TcpStream::connect(addr).unwrap();
        for i in 0..200u8 {
            (&c).write_all(&[i]).unwrap();
            let mut b = [0u8; 1];
            (&c).read_exact(&mut b).unwrap();
            assert_eq!(b[0], i);
        }
    });
    t.join().unwrap();
}

#[test]
fn stream_options_and_addresses() {
    let ln = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = ln.local_addr().unwrap();
    let c = TcpStream::connect(addr).unwrap();
    let (s, peer) = ln.accept().unwrap();
    assert_eq!(c.peer_addr().unwrap(), addr);
    assert_eq!(s.peer_addr().unwrap(), peer);
    assert_eq!(c.local_addr().unwrap(), peer);
    assert!(c.nodelay().unwrap(), "TCP_NODELAY is on by default, as in Go");
    c.set_nodelay(false).unwrap();
    assert!(!c.nodelay().unwrap());
    c.set_ttl(42).unwrap();
    assert_eq!(c.ttl().unwrap(), 42);
    assert!(c.take_error().unwrap().is_none());
    let c2 = c.try_clone().unwrap();
    (&c2).write_all(b"abc").unwrap();
    drop(c2); // the connection stays open
    let mut buf = [0u8; 3];
    assert_eq!(s.peek(&mut buf).unwrap(), 3);
    (&s).read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"abc");
    assert!(format!("{c:?}").contains("TcpStream"));
    let refused = TcpStream::connect(addr).map(drop);
    assert!(refused.is_ok(), "backlog accepts without accept()");
    drop(ln);
    assert!(TcpStream::connect(addr).is_err(), "closed listener refuses");
    assert!(TcpStream::connect("no-such-host.invalid:80").is_err());
}
