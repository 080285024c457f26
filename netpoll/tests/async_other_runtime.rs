//! A plain thread blocked (in an executor of its own) on a socket bound to
//! another live runtime, whose goroutines are all parked on channels, is
//! woken by the peer's write: its registration wakes *that* runtime's
//! poller (`gort_runtime::engine::NetPollWaker`), not the default
//! runtime's. Without that wake, the idle runtime's Ms sleep and its
//! sysmon sleeps deeply (up to 60 s, no timer being armed), so the
//! readiness would wait for up to a minute.
//!
//! The executor is a plain condition variable, not
//! `gort_runtime::future::block_on`: that one's park on a plain thread
//! asks every runtime's sysmon for a deadlock check, which wakes the idle
//! runtime and would hide the gap (sysmon then polls every 10 ms). A test
//! binary of its own, so that no other test keeps that runtime busy.
//! Loopback only, bounded.

use std::future::Future;
use std::io::{Read, Write};
use std::pin::Pin;
use std::pin::pin;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use gort_netpoll::{TcpListener, TcpStream};
use gort_runtime::Runtime;

/// How long the wake-up may take: 10x a generous expectation of 1 s on
/// two loaded cores (it takes well under a millisecond when idle), and far
/// below the deep sleep (up to 60 s) that an unwoken runtime would wait
/// out.
const BOUND: Duration = Duration::from_secs(10);

/// How long the runtime is left idle before each round.
const IDLE: Duration = Duration::from_millis(2500);

/// Waits for read readiness on `c`, telling `pending` each time it has
/// registered its waker and returned `Pending`.
struct ReadReady<'a> {
    c: &'a TcpStream,
    pending: mpsc::Sender<()>,
}

impl Future for ReadReady<'_> {
    type Output = std::io::Result<()>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let r = self.c.poll_read_ready(cx);
        if r.is_pending() {
            let _ = self.pending.send(());
        }
        r
    }
}

/// A waker that sets a flag under a mutex and signals a condition variable.
#[derive(Default)]
struct Flag(Mutex<bool>, Condvar);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.1.notify_all();
    }
}

/// Polls `fut` to completion on the calling thread, sleeping on a
/// condition variable between wakes: a plain thread's executor that knows
/// nothing of gort.
fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let flag = Arc::new(Flag::default());
    let waker = Waker::from(flag.clone());
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        let mut woken = flag.0.lock().unwrap();
        while !*woken {
            woken = flag.1.wait(woken).unwrap();
        }
        *woken = false;
    }
}

#[test]
fn a_plain_thread_waker_wakes_the_sockets_idle_runtime() {
    let rt = Runtime::builder().max_procs(2).build().unwrap();
    let ln = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = ln.local_addr().unwrap();
    let peer = std::net::TcpStream::connect(addr).unwrap();
    let (c, _) = ln.accept().unwrap();
    let c = Arc::new(c);

    // A goroutine of `rt` waits on the socket first (binding it to rt's
    // poller), reads one byte, then parks on a channel until the end.
    let release = gort_channels::chan::<()>(0);
    let (c2, rel) = (c.clone(), release.clone());
    let g = rt.spawn(move || {
        let mut b = [0u8; 1];
        (&*c2).read_exact(&mut b).unwrap();
        rel.recv();
        b[0]
    });
    std::thread::sleep(Duration::from_millis(50)); // the goroutine parks on the socket
    (&peer).write_all(b"a").unwrap();
    // Let rt go idle: its one goroutine parked on the channel, its Ms
    // asleep, its sysmon in its deep sleep (no timer is armed; sysmon
    // wakes once a second while it has stack memory to give back, which
    // the first seconds of idleness finish).
    std::thread::sleep(IDLE);

    for round in 0..3u8 {
        let (tx, rx) = mpsc::channel();
        let c3 = c.clone();
        let waiter = std::thread::spawn(move || {
            block_on(ReadReady { c: &c3, pending: tx }).unwrap();
            let mut b = [0u8; 1];
            (&*c3).read_exact(&mut b).unwrap();
            (Instant::now(), b[0])
        });
        // Causality: the waiter registered (Pending, nothing to read), and
        // only then does the peer write.
        rx.recv_timeout(BOUND).expect("the waiter never registered");
        std::thread::sleep(Duration::from_millis(100));
        assert!(!waiter.is_finished(), "round {round}: woken before the write");
        let wrote = Instant::now();
        (&peer).write_all(&[b'0' + round]).unwrap();
        let t = Instant::now();
        while !waiter.is_finished() && t.elapsed() < BOUND {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(
            waiter.is_finished(),
            "round {round}: the write did not wake the plain thread within {BOUND:?}: \
             nothing made the socket's idle runtime poll"
        );
        let (woke, byte) = waiter.join().unwrap();
        eprintln!("round {round}: woken {:?} after the write", woke.duration_since(wrote));
        assert_eq!(byte, b'0' + round, "the waiter read the byte written after its registration");
        assert!(woke >= wrote);
        // Idle again before the next round.
        std::thread::sleep(IDLE);
    }

    release.send(()).unwrap();
    assert_eq!(g.join().unwrap(), b'a');
}
