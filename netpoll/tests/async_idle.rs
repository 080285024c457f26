//! A waker registered from a plain thread while the default runtime is
//! idle (every M asleep, none in the poller, sysmon in its deep sleep) is
//! still woken by readiness: the registration makes the runtime poll
//! (`PollerInner::kick`). A test binary of its own, so that no other test
//! keeps the default runtime busy. Loopback only, bounded.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Wake, Waker};
use std::time::{Duration, Instant};

use gort_netpoll::{TcpListener, TcpStream};

#[derive(Default)]
struct Flag(Mutex<bool>, Condvar);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.1.notify_all();
    }
}

/// Registers a read waker on `c`, writes to `s`, and returns how long the
/// waker took to fire (panics after 20 s: sysmon's deep sleep lasts up to
/// 60 s, so a registration that does not wake the runtime fails here).
fn wake_latency(c: &TcpStream, s: &TcpStream) -> Duration {
    let flag = Arc::new(Flag::default());
    let waker = Waker::from(flag.clone());
    assert!(c.poll_read_ready(&mut Context::from_waker(&waker)).is_pending());
    let t = Instant::now();
    (&*s).write_all(b"x").unwrap();
    let g = flag.0.lock().unwrap();
    let (g, _) = flag.1.wait_timeout_while(g, Duration::from_secs(20), |w| !*w).unwrap();
    let woken = *g;
    drop(g);
    assert!(woken, "the waker never fired: nothing polled the idle runtime");
    let d = t.elapsed();
    let mut buf = [0u8; 1];
    std::io::Read::read_exact(&mut &*c, &mut buf).unwrap();
    d
}

#[test]
fn a_plain_thread_waker_wakes_an_idle_runtime() {
    let ln = TcpListener::bind("127.0.0.1:0").unwrap();
    let c = TcpStream::connect(ln.local_addr().unwrap()).unwrap();
    let (s, _) = ln.accept().unwrap();
    // The first registration installs the default runtime's poller.
    wake_latency(&c, &s);
    // Let the runtime go idle: its Ms stop and sysmon sleeps deeply (if
    // the machine is too loaded for that, the check below still holds).
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(300));
        wake_latency(&c, &s);
    }
}
