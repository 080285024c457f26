//! Unix domain sockets: stream echo between goroutines, datagrams, pairs,
//! close and deadlines.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gort::net::{UnixDatagram, UnixListener, UnixStream};

fn temp_path(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("gort-{}-{name}.sock", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

#[test]
fn unix_stream_echo_many_clients() {
    let rt = gort::Runtime::builder().max_procs(2).build().unwrap();
    let path = temp_path("echo");
    let p2 = path.clone();
    rt.block_on(move || {
        let ln = Arc::new(UnixListener::bind(&p2).unwrap());
        assert_eq!(ln.local_addr().unwrap().as_pathname(), Some(p2.as_path()));
        let ln2 = ln.clone();
        let server = gort::go!(move || {
            for c in ln2.incoming() {
                let Ok(mut c) = c else { return };
                gort::go!(move || {
                    let mut buf = [0u8; 1024];
                    while let Ok(n @ 1..) = c.read(&mut buf) {
                        c.write_all(&buf[..n]).unwrap();
                    }
                });
            }
        });
        let clients: Vec<_> = (0..100u32)
            .map(|i| {
                let p = p2.clone();
                gort::go!(move || {
                    let mut c = UnixStream::connect(&p).unwrap();
                    for j in 0..20u32 {
                        let msg = format!("client {i} message {j}");
                        c.write_all(msg.as_bytes()).unwrap();
                        let mut got = vec![0u8; msg.len()];
                        c.read_exact(&mut got).unwrap();
                        assert_eq!(got, msg.as_bytes());
                    }
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
        ln.close().unwrap();
        server.join().unwrap();
    });
    let _ = std::fs::remove_file(path);
}

#[test]
fn unix_pair_half_close_deadline_and_close() {
    let rt = gort::Runtime::builder().max_procs(2).build().unwrap();
    rt.block_on(|| {
        let (a, b) = UnixStream::pair().unwrap();
        let h = gort::go!(move || {
            let mut s = String::new();
            (&b).read_to_string(&mut s).unwrap();
            (&b).write_all(s.to_uppercase().as_bytes()).unwrap();
        });
        (&a).write_all(b"shout").unwrap();
        a.shutdown(std::net::Shutdown::Write).unwrap();
        let mut reply = String::new();
        (&a).read_to_string(&mut reply).unwrap();
        assert_eq!(reply, "SHOUT");
        h.join().unwrap();

        let (a, _b) = UnixStream::pair().unwrap();
        a.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        assert!(gort::net::is_timeout(&(&a).read(&mut [0u8; 4]).unwrap_err()));
        a.set_read_timeout(None).unwrap();
        let a = Arc::new(a);
        let a2 = a.clone();
        let r = gort::go!(move || (&*a2).read(&mut [0u8; 4]));
        gort::sleep(Duration::from_millis(20));
        a.close().unwrap();
        assert!(gort::net::is_closed(&r.join().unwrap().unwrap_err()));
    });
}

#[test]
fn unix_datagrams_by_path_and_pair() {
    let rt = gort::Runtime::builder().max_procs(2).build().unwrap();
    let (pa, pb) = (temp_path("dga"), temp_path("dgb"));
    let (pa2, pb2) = (pa.clone(), pb.clone());
    rt.block_on(move || {
        let a = UnixDatagram::bind(&pa2).unwrap();
        let b = UnixDatagram::bind(&pb2).unwrap();
        let h = gort::go!(move || {
            let mut buf = [0u8; 64];
            for _ in 0..10 {
                let (n, from) = b.recv_from(&mut buf).unwrap();
                b.send_to(&buf[..n], from.as_pathname().unwrap()).unwrap();
            }
        });
        for i in 0..10u8 {
            a.send_to(&[i; 3], &pb2).unwrap();
            let mut buf = [0u8; 8];
            let (n, from) = a.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], &[i; 3]);
            assert_eq!(from.as_pathname(), Some(pb2.as_path()));
        }
        h.join().unwrap();

        let (x, y) = UnixDatagram::pair().unwrap();
        x.send(b"one").unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(y.recv(&mut buf).unwrap(), 3);
        y.set_read_deadline(Some(Instant::now() + Duration::from_millis(20))).unwrap();
        assert!(gort::net::is_timeout(&y.recv(&mut buf).unwrap_err()));
        let u = UnixDatagram::unbound().unwrap();
        u.connect(&pa2).unwrap();
        u.send(b"hi").unwrap();
    });
    let _ = (std::fs::remove_file(pa), std::fs::remove_file(pb));
}
