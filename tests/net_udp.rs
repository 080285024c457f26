//! UDP over loopback: round trips between goroutines, deadlines, close.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gort::net::UdpSocket;

#[test]
fn udp_round_trips_between_goroutines() {
    let rt = gort::Runtime::builder().max_procs(2).build().unwrap();
    rt.block_on(|| {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        let echo = gort::go!(move || {
            let mut buf = [0u8; 1500];
            let mut served = 0;
            loop {
                let (n, from) = server.recv_from(&mut buf).unwrap();
                if &buf[..n] == b"stop" {
                    return served;
                }
                server.send_to(&buf[..n], from).unwrap();
                served += 1;
            }
        });
        let clients: Vec<_> = (0..20u32)
            .map(|i| {
                gort::go!(move || {
                    let c = UdpSocket::bind("127.0.0.1:0").unwrap();
                    c.connect(addr).unwrap();
                    assert_eq!(c.peer_addr().unwrap(), addr);
                    // Loopback UDP does not drop under this load, but do not
                    // hang forever if it ever does.
                    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                    for j in 0..50u32 {
                        let msg = format!("{i}/{j}");
                        assert_eq!(c.send(msg.as_bytes()).unwrap(), msg.len());
                        let mut buf = [0u8; 64];
                        let n = c.recv(&mut buf).unwrap();
                        assert_eq!(&buf[..n], msg.as_bytes());
                    }
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
        let stopper = UdpSocket::bind("127.0.0.1:0").unwrap();
        stopper.send_to(b"stop", addr).unwrap();
        assert_eq!(echo.join().unwrap(), 20 * 50);
    });
}

#[test]
fn udp_recv_deadline_and_close() {
    let rt = gort::Runtime::builder().max_procs(2).build().unwrap();
    rt.block_on(|| {
        let s = Arc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
        s.set_read_deadline(Some(Instant::now() + Duration::from_millis(30))).unwrap();
        let e = s.recv_from(&mut [0u8; 8]).unwrap_err();
        assert!(gort::net::is_timeout(&e), "{e:?}");
        s.set_read_deadline(None).unwrap();
        let s2 = s.clone();
        let r = gort::go!(move || s2.recv_from(&mut [0u8; 8]).map(|_| ()));
        gort::sleep(Duration::from_millis(20));
        s.close().unwrap();
        assert!(gort::net::is_closed(&r.join().unwrap().unwrap_err()));
    });
}

#[test]
fn udp_from_plain_threads_with_peek_and_options() {
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind(("localhost", 0)).unwrap();
    let ba = b.local_addr().unwrap();
    let t = std::thread::spawn(move || {
        let mut buf = [0u8; 16];
        let (n, from) = b.peek_from(&mut buf).unwrap();
        let (m, from2) = b.recv_from(&mut buf).unwrap();
        assert_eq!((n, from), (m, from2));
        b.send_to(&buf[..m], from).unwrap();
    });
    gort::sleep(Duration::from_millis(10)); // the thread blocks first
    a.send_to(b"datagram", ba).unwrap();
    let mut buf = [0u8; 16];
    let (n, from) = a.recv_from(&mut buf).unwrap();
    assert_eq!((&buf[..n], from), (&b"datagram"[..], ba));
    t.join().unwrap();
    a.set_broadcast(true).unwrap();
    assert!(a.broadcast().unwrap());
    a.set_ttl(7).unwrap();
    assert_eq!(a.ttl().unwrap(), 7);
    let a2 = a.try_clone().unwrap();
    assert_eq!(a2.local_addr().unwrap(), a.local_addr().unwrap());
}
