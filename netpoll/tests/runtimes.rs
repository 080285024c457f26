//! Sockets shared between runtimes, and sockets that outlive theirs.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use gort_netpoll::{TcpListener, TcpStream};
use gort_runtime::Runtime;

fn rt() -> Runtime {
    Runtime::builder().max_procs(2).build().unwrap()
}

/// The tests of this file run one at a time: one counts the process's file
/// descriptors.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Open file descriptors of this process.
fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// A socket bound to one runtime's poller, then used by a goroutine of
/// another runtime, waits with a blocking poll instead (without stalling
/// that runtime), and still works.
#[test]
fn socket_used_from_two_runtimes() {
    let _serial = serial();
    let (a, b) = (rt(), rt());
    let ln = Arc::new(TcpListener::bind("127.0.0.1:0").unwrap());
    let addr = ln.local_addr().unwrap();
    let ln2 = ln.clone();
    // Runtime a's goroutine waits on the listener first: it binds to a.
    let first = a.spawn(move || ln2.accept().map(|(s, _)| s));
    std::thread::sleep(Duration::from_millis(20));
    let c = TcpStream::connect(addr).unwrap();
    let mut s = first.join().unwrap().unwrap();
    // Runtime b's goroutines use the listener bound to a.
    let ln3 = ln.clone();
    let second = b.spawn(move || ln3.accept().map(|(s, _)| s));
    std::thread::sleep(Duration::from_millis(20));
    // Runtime b keeps running other goroutines while that one waits.
    let ticks = b.block_on(|| {
        let t = gort_runtime::spawn(|| {
            let mut n = 0;
            for _ in 0..10 {
                gort_runtime::sleep(Duration::from_millis(1));
                n += 1;
            }
            n
        });
        t.join().unwrap()
    });
    assert_eq!(ticks, 10);
    let c2 = TcpStream::connect(addr).unwrap();
    let s2 = second.join().unwrap().unwrap();
    // Echo across: a's stream read by b's goroutine.
    (&c).write_all(b"ping").unwrap();
    let got = b.block_on(move || {
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).unwrap();
        buf
    });
    assert_eq!(&got, b"ping");
    drop((c2, s2));
}

/// After the runtime a socket is bound to is dropped, a goroutine of a new
/// runtime rebinds it to its own poller.
#[test]
fn socket_outlives_its_runtime() {
    let _serial = serial();
    let ln = TcpListener::bind("127.0.0.1:0").unwrap();
    let c = Arc::new(TcpStream::connect(ln.local_addr().unwrap()).unwrap());
    let s = Arc::new(ln.accept().unwrap().0);
    for round in 0..3u8 {
        let r = rt();
        let s2 = s.clone();
        let h = r.spawn(move || {
            let mut b = [0u8; 1];
            (&*s2).read_exact(&mut b).map(|()| b[0])
        });
        std::thread::sleep(Duration::from_millis(20)); // the goroutine parks (binds) first
        (&*c).write_all(&[round]).unwrap();
        assert_eq!(h.join().unwrap().unwrap(), round);
        drop(r);
    }
}

/// Runtimes built and dropped while goroutines are parked reading
/// loopback sockets: the drop must not hang (shutdown's wake-up of an M
/// blocked in the poller used to be lost), 200 times in a row, and must
/// not leak (the parked readers are unwound, so their sockets close, and
/// the runtime and its poller are freed): the loop ends with the file
/// descriptors it started with. A watchdog fails the test instead of
/// letting it hang.
#[test]
fn dropping_runtimes_with_parked_socket_readers_never_hangs() {
    let _serial = serial();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let d2 = done.clone();
    std::thread::spawn(move || {
        let t = std::time::Instant::now();
        while !d2.load(std::sync::atomic::Ordering::Relaxed) {
            if t.elapsed() > Duration::from_secs(120) {
                eprintln!("dropping runtimes with parked socket readers hung for 120 s");
                std::process::abort();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let fds = fd_count();
    for _ in 0..200 {
        let rt = rt();
        rt.block_on(|| {
            let ln = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = ln.local_addr().unwrap();
            gort_runtime::spawn(move || {
                for _ in 0..10 {
                    let (mut s, _) = ln.accept().unwrap();
                    gort_runtime::spawn(move || {
                        let mut buf = [0u8; 1];
                        let _ = s.read(&mut buf);
                    });
                }
            });
            for _ in 0..10 {
                let mut c = TcpStream::connect(addr).unwrap();
                gort_runtime::spawn(move || {
                    let mut buf = [0u8; 1];
                    let _ = c.read(&mut buf);
                });
            }
            gort_runtime::sleep(Duration::from_millis(5));
        });
        drop(rt);
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let after = fd_count();
    eprintln!("file descriptors: {fds} before 200 runtimes, {after} after");
    // A descriptor an earlier test in this binary let go of asynchronously
    // (a dropped runtime's threads close their epoll and eventfd as they
    // exit) may disappear while this test runs, so the count can fall by
    // one or two; a leak per runtime would raise it by 200 or more.
    assert!(after <= fds, "file descriptors leaked by 200 dropped runtimes: {fds} before, {after} after");
}
