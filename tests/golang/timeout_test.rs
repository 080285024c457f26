//! Deadlines, ported from Go's net/timeout_test.go (test names in the
//! Rust names). Timing is only asserted from below (a deadline never fires
//! early); "must not return" checks give the call 100 ms.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gort::net::{TcpListener, TcpStream, is_timeout};

fn rt(procs: usize) -> gort::Runtime {
    gort::Runtime::builder().max_procs(procs).build().unwrap()
}

fn pair(ln: &TcpListener) -> (TcpStream, TcpStream) {
    let c = TcpStream::connect(ln.local_addr().unwrap()).unwrap();
    let (s, _) = ln.accept().unwrap();
    (c, s)
}

#[test]
fn test_accept_timeout() {
    rt(2).block_on(|| {
        // A past deadline fails accept even with a connection waiting.
        let ln = TcpListener::bind("127.0.0.1:0").unwrap();
        let _c = TcpStream::connect(ln.local_addr().unwrap()).unwrap();
        ln.set_deadline(Some(Instant::now() - Duration::from_secs(5))).unwrap();
        assert!(is_timeout(&ln.accept().unwrap_err()));
        // A short deadline with nobody dialing.
        let ln = TcpListener::bind("127.0.0.1:0").unwrap();
        let t0 = Instant::now();
        ln.set_deadline(Some(t0 + Duration::from_millis(10))).unwrap();
        assert!(is_timeout(&ln.accept().unwrap_err()));
        assert!(t0.elapsed() >= Duration::from_millis(10), "fired early");
    });
}

#[test]
fn test_accept_timeout_must_return() {
    rt(2).block_on(|| {
        let ln = TcpListener::bind("127.0.0.1:0").unwrap();
        ln.set_deadline(None).unwrap();
        ln.set_deadline(Some(Instant::now() + Duration::from_millis(10))).unwrap();
        assert!(is_timeout(&ln.accept().unwrap_err()));
    });
}

#[test]
fn test_accept_timeout_must_not_return() {
    rt(2).block_on(|| {
        let ln = Arc::new(TcpListener::bind("127.0.0.1:0").unwrap());
        ln.set_deadline(Some(Instant::now() - Duration::from_secs(5))).unwrap();
        ln.set_deadline(None).unwrap();
        let ln2 = ln.clone();
        let returned = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let r2 = returned.clone();
        let h = gort::go!(move || {
            let e = ln2.accept().map(drop).unwrap_err();
            r2.store(true, std::sync::atomic::Ordering::SeqCst);
            e
        });
        gort::sleep(Duration::from_millis(100));
        assert!(!returned.load(std::sync::atomic::Ordering::SeqCst), "accept returned with no deadline");
        ln.close().unwrap();
        assert!(gort::net::is_closed(&h.join().unwrap()));
    });
}

#[test]
fn test_read_timeout() {
    rt(2).block_on(|| {
        let ln = TcpListener::bind("127.0.0.1:0").unwrap();
        let (c, s) = pair(&ln);
        (&s).write_all(b"READ TIMEOUT TEST").unwrap();
        gort::sleep(Duration::from_millis(10));
        // Deadlines apply even when data is ready.
        c.set_read_deadline(Some(Instant::now() - Duration::from_secs(5))).unwrap();
        for _ in 0..2 {
            assert!(is_timeout(&(&c).read(&mut [0u8; 32]).unwrap_err()));
        }
        // 50 ms: first the data, then the timeout.
        c.set_read_deadline(Some(Instant::now() + Duration::from_millis(50))).unwrap();
        assert_eq!((&c).read(&mut [0u8; 32]).unwrap(), 17);
        assert!(is_timeout(&(&c).read(&mut [0u8; 32]).unwrap_err()));
    });
}

fn various_deadlines(procs: usize) {
    rt(procs).block_on(|| {
        let ln = Arc::new(TcpListener::bind("127.0.0.1:0").unwrap());
        let addr = ln.local_addr().unwrap();
        let ln2 = ln.clone();
        let server = gort::go!(move || {
            while let Ok((c, _)) = ln2.accept() {
                let _ = (&c).read(&mut [0u8; 1]); // until the client closes
            }
        });
        let ns = Duration::from_nanos;
        let timeouts = [
            ns(1),
            ns(2),
            ns(5),
            ns(50),
            ns(100),
            ns(200),
            ns(500),
            ns(750),
            ns(1_000),
            ns(5_000),
            ns(25_000),
            ns(250_000),
            ns(500_000),
            ns(1_000_000),
            ns(5_000_000),
            ns(100_000_000),
        ];
        for timeout in timeouts {
            for run in 0..3 {
                let mut c = TcpStream::connect(addr).unwrap();
                let t0 = Instant::now();
                c.set_deadline(Some(t0 + timeout)).unwrap();
                let mut sink = Vec::new();
                let e = c.read_to_end(&mut sink).unwrap_err();
                assert!(is_timeout(&e), "{timeout:?} run {run}: {e:?}");
                assert!(t0.elapsed() >= timeout, "{timeout:?} fired early");
            }
        }
        ln.close().unwrap();
        server.join().unwrap();
    });
}

#[test]
fn test_various_deadlines_1_proc() {
    various_deadlines(1);
}

#[test]
fn test_various_deadlines_2_procs() {
    various_deadlines(2);
}

#[test]
fn test_read_write_prolonged_timeout() {
    rt(2).block_on(|| {
        let ln = TcpListener::bind("127.0.0.1:0").unwrap();
        let (c, s) = pair(&ln);
        let s = Arc::new(s);
        let (s1, s2) = (s.clone(), s.clone());
        let reader = gort::go!(move || {
            let mut b = [0u8; 1];
            loop {
                s1.set_read_deadline(Some(Instant::now() + Duration::from_secs(3600))).unwrap();
                if (&*s1).read(&mut b).map_or(true, |n| n == 0) {
                    return;
                }
            }
        });
        let writer = gort::go!(move || {
            loop {
                if s2.set_write_deadline(Some(Instant::now() + Duration::from_secs(3600))).is_err() {
                    return;
                }
                if (&*s2).write(&[0u8]).is_err() {
                    return;
                }
            }
        });
        let mut b = [0u8; 1];
        for _ in 0..1000 {
            (&c).write_all(&b).unwrap();
            (&c).read_exact(&mut b).unwrap();
        }
        drop(c);
        reader.join().unwrap();
        s.close().unwrap();
        writer.join().unwrap();
    });
}

#[test]
fn test_read_write_deadline_race() {
    rt(2).block_on(|| {
        let ln = TcpListener::bind("127.0.0.1:0").unwrap();
        let (c, _s) = pair(&ln);
        let c = Arc::new(c);
        let n = 1000;
        let c1 = c.clone();
        let setter = gort::go!(move || {
            for _ in 0..n {
                c1.set_read_deadline(Some(Instant::now() + Duration::from_micros(2))).unwrap();
                c1.set_write_deadline(Some(Instant::now() + Duration::from_micros(2))).unwrap();
                gort::sleep(Duration::from_micros(2));
            }
        });
        let c2 = c.clone();
        let reader = gort::go!(move || {
            for _ in 0..n {
                let _ = (&*c2).read(&mut [0u8; 1]);
            }
        });
        let c3 = c.clone();
        let writer = gort::go!(move || {
            for _ in 0..n {
                let _ = (&*c3).write(&[0u8; 1]);
            }
        });
        setter.join().unwrap();
        // The last deadlines have passed: both loops finish.
        reader.join().unwrap();
        writer.join().unwrap();
    });
}

#[test]
fn test_concurrent_set_deadline() {
    rt(2).block_on(|| {
        let ln = TcpListener::bind("127.0.0.1:0").unwrap();
        let conns: Arc<Vec<TcpStream>> = Arc::new((0..10).map(|_| pair(&ln).0).collect());
        let now = Instant::now();
        let hs: Vec<_> = (0..8u64)
            .map(|i| {
                let conns = conns.clone();
                gort::go!(move || {
                    for j in (1..=100u64).rev() {
                        for (k, c) in conns.iter().enumerate() {
                            let k = k as u64;
                            c.set_read_deadline(Some(now + Duration::from_secs(7200 + i * j * k))).unwrap();
                            c.set_write_deadline(Some(now + Duration::from_secs(3600 + i * j * k))).unwrap();
                        }
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
}
