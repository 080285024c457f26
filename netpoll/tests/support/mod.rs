//! What the async tests share: a foreign executor on a plain thread (it
//! sleeps on a condition variable until its waker fires) and a
//! many-future one, a bounded runtime for the goroutine side (futures
//! there run under `gort_runtime::future::block_on`, the facade's
//! `gort::future::block_on`, which parks the goroutine), and read/write
//! helpers over each adapter's traits. The plain-thread executors fail if
//! a waker does not fire within `LIMIT`, and `on_runtime` fails if its
//! body has not finished within `RUNTIME_LIMIT`, so a lost wake-up is a
//! failure, not a hang.

#![allow(dead_code)] // each test binary uses a part

use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::io;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use gort_netpoll::{TcpListener, TcpStream};

/// How long an executor waits for a waker before calling the wake-up
/// lost: far beyond any wait here (the longest expected is 50 ms).
pub const LIMIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------
// Executors.

/// A waker that records its wakes and signals a condition variable.
#[derive(Default)]
pub struct Flag {
    pub woken: Mutex<bool>,
    pub cv: Condvar,
    pub wakes: AtomicUsize,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        *self.woken.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.cv.notify_all();
    }
}

impl Flag {
    /// Waits until woken (consuming the wake); panics after `LIMIT`.
    pub fn wait(&self, what: &str) {
        let g = self.woken.lock().unwrap();
        let (mut g, _) = self.cv.wait_timeout_while(g, LIMIT, |w| !*w).unwrap();
        assert!(*g, "{what}: the waker never fired (lost wake-up)");
        *g = false;
    }
}

/// Runs `fut` to completion on the calling plain thread, sleeping between
/// polls until its waker fires.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let flag = Arc::new(Flag::default());
    let waker = Waker::from(flag.clone());
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        flag.wait("block_on");
    }
}

/// Runs every future to completion on the calling plain thread, polling
/// only those whose waker fired (a run queue of indices).
pub fn block_on_all<F: Future<Output = ()>>(futs: Vec<F>) {
    #[derive(Default)]
    struct Queue {
        ready: Mutex<VecDeque<usize>>,
        cv: Condvar,
    }
    struct TaskWaker(usize, Arc<Queue>);
    impl Wake for TaskWaker {
        fn wake(self: Arc<Self>) {
            self.1.ready.lock().unwrap().push_back(self.0);
            self.1.cv.notify_one();
        }
    }
    let q = Arc::new(Queue::default());
    let mut futs: Vec<Option<Pin<Box<F>>>> = futs.into_iter().map(|f| Some(Box::pin(f))).collect();
    let wakers: Vec<Waker> =
        (0..futs.len()).map(|i| Waker::from(Arc::new(TaskWaker(i, q.clone())))).collect();
    q.ready.lock().unwrap().extend(0..futs.len());
    let mut left = futs.len();
    while left > 0 {
        let i = {
            let g = q.ready.lock().unwrap();
            let (mut g, _) = q.cv.wait_timeout_while(g, LIMIT, |r| r.is_empty()).unwrap();
            g.pop_front().unwrap_or_else(|| panic!("block_on_all: {left} futures wait, no waker fired"))
        };
        let Some(f) = futs[i].as_mut() else { continue }; // a late wake of a finished one
        if f.as_mut().poll(&mut Context::from_waker(&wakers[i])).is_ready() {
            futs[i] = None;
            left -= 1;
        }
    }
}

/// How long `on_runtime`'s body may take: far beyond any body here (the
/// longest, the 240-connection stress test's server, takes a second or two).
pub const RUNTIME_LIMIT: Duration = Duration::from_secs(120);

/// Runs `f` in a goroutine of a fresh runtime of two Ps, on a thread of
/// its own; the runtime is dropped before this returns. Fails if `f` has
/// not finished within [`RUNTIME_LIMIT`]: a future whose wake-up was lost
/// parks its goroutine in `block_on` for ever.
pub fn on_runtime<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let rt = gort_runtime::Runtime::builder().max_procs(2).build().unwrap();
            rt.block_on(f)
        }));
        let _ = tx.send(r);
    });
    match rx.recv_timeout(RUNTIME_LIMIT) {
        Ok(Ok(v)) => v,
        Ok(Err(p)) => std::panic::resume_unwind(p),
        Err(_) => panic!("on_runtime: not finished within {RUNTIME_LIMIT:?} (a lost wake-up?)"),
    }
}

/// A connected loopback TCP pair (client, server).
pub fn tcp_pair() -> (TcpStream, TcpStream) {
    let ln = TcpListener::bind("127.0.0.1:0").unwrap();
    let c = TcpStream::connect(ln.local_addr().unwrap()).unwrap();
    let (s, _) = ln.accept().unwrap();
    (c, s)
}

/// Polls `f` once with `flag`'s waker.
pub fn poll_once<T>(flag: &Arc<Flag>, f: impl FnOnce(&mut Context<'_>) -> Poll<T>) -> Poll<T> {
    let waker = Waker::from(flag.clone());
    f(&mut Context::from_waker(&waker))
}

// ---------------------------------------------------------------------
// Reads and writes through each adapter's traits.

pub async fn tokio_read<R: tokio::io::AsyncRead + Unpin>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut rb = tokio::io::ReadBuf::new(buf);
    poll_fn(|cx| Pin::new(&mut *r).poll_read(cx, &mut rb)).await?;
    Ok(rb.filled().len())
}

pub async fn tokio_read_exact<R: tokio::io::AsyncRead + Unpin>(r: &mut R, buf: &mut [u8]) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        match tokio_read(r, &mut buf[done..]).await? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => done += n,
        }
    }
    Ok(())
}

pub async fn tokio_write_all<W: tokio::io::AsyncWrite + Unpin>(w: &mut W, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        let n = poll_fn(|cx| Pin::new(&mut *w).poll_write(cx, buf)).await?;
        buf = &buf[n..];
    }
    Ok(())
}

pub async fn fio_read<R: futures_io::AsyncRead + Unpin>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    poll_fn(|cx| Pin::new(&mut *r).poll_read(cx, buf)).await
}

pub async fn fio_write_all<W: futures_io::AsyncWrite + Unpin>(w: &mut W, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        let n = poll_fn(|cx| Pin::new(&mut *w).poll_write(cx, buf)).await?;
        buf = &buf[n..];
    }
    Ok(())
}

pub async fn hyper_read<R: hyper::rt::Read + Unpin>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut rb = hyper::rt::ReadBuf::new(buf);
    poll_fn(|cx| Pin::new(&mut *r).poll_read(cx, rb.unfilled())).await?;
    Ok(rb.filled().len())
}

pub async fn hyper_write_all<W: hyper::rt::Write + Unpin>(w: &mut W, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        let n = poll_fn(|cx| Pin::new(&mut *w).poll_write(cx, buf)).await?;
        buf = &buf[n..];
    }
    Ok(())
}
