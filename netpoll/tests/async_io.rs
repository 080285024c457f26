//! Futures on gort's sockets: wakers registered in the poll descriptor
//! (`poll_read_ready`, `poll_accept`) and the async I/O adapters (tokio,
//! futures-io, hyper), driven by two small executors written here: one on
//! a plain thread (it sleeps on a condition variable until its waker
//! fires), one in a goroutine (it parks on a gort channel). Both fail if a
//! waker does not fire within `LIMIT`, so a lost wake-up is a failure, not
//! a slow pass. Loopback only; every loop is bounded.
//!
//! After the `future` branch lands, the goroutine executor here
//! (`go_block_on`) should give way to `gort::future::block_on`.

use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::io;
use std::net::Shutdown;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use gort_netpoll::{TcpListener, TcpStream, UnixStream, is_closed, is_timeout};

/// How long an executor waits for a waker before calling the wake-up
/// lost: far beyond any wait here (the longest expected is 50 ms).
const LIMIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------
// Executors.

/// A waker that records its wakes and signals a condition variable.
#[derive(Default)]
struct Flag {
    woken: Mutex<bool>,
    cv: Condvar,
    wakes: AtomicUsize,
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
    fn wait(&self, what: &str) {
        let g = self.woken.lock().unwrap();
        let (mut g, _) = self.cv.wait_timeout_while(g, LIMIT, |w| !*w).unwrap();
        assert!(*g, "{what}: the waker never fired (lost wake-up)");
        *g = false;
    }
}

/// Runs `fut` to completion on the calling plain thread, sleeping between
/// polls until its waker fires.
fn block_on<F: Future>(fut: F) -> F::Output {
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

/// Runs `fut` to completion in the calling goroutine, parking it on a gort
/// channel between polls (a stand-in for `gort::future::block_on`).
fn go_block_on<F: Future>(fut: F) -> F::Output {
    struct ChanWaker(gort_channels::Chan<()>);
    impl Wake for ChanWaker {
        fn wake(self: Arc<Self>) {
            let _ = self.0.try_send(());
        }
    }
    let ch = gort_channels::chan::<()>(1);
    let waker = Waker::from(Arc::new(ChanWaker(ch.clone())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        ch.recv_timeout(LIMIT).expect("go_block_on: the waker never fired (lost wake-up)");
    }
}

/// Runs every future to completion on the calling plain thread, polling
/// only those whose waker fired (a run queue of indices).
fn block_on_all<F: Future<Output = ()>>(futs: Vec<F>) {
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

/// Runs `f` in a goroutine of a fresh runtime of two Ps.
fn on_runtime<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let rt = gort_runtime::Runtime::builder().max_procs(2).build().unwrap();
    rt.block_on(f)
}

/// A connected loopback TCP pair (client, server).
fn tcp_pair() -> (TcpStream, TcpStream) {
    let ln = TcpListener::bind("127.0.0.1:0").unwrap();
    let c = TcpStream::connect(ln.local_addr().unwrap()).unwrap();
    let (s, _) = ln.accept().unwrap();
    (c, s)
}

/// Polls `f` once with `flag`'s waker.
fn poll_once<T>(flag: &Arc<Flag>, f: impl FnOnce(&mut Context<'_>) -> Poll<T>) -> Poll<T> {
    let waker = Waker::from(flag.clone());
    f(&mut Context::from_waker(&waker))
}

// ---------------------------------------------------------------------
// The waker slot.

/// A waker registered by `poll_read_ready` on a plain thread fires when
/// data arrives; the poll after it is ready. Nothing else polls for the
/// thread: the default runtime's poller wakes the waker.
#[test]
fn read_ready_waker_fires_when_data_arrives() {
    let (c, mut s) = tcp_pair();
    let flag = Arc::new(Flag::default());
    assert!(poll_once(&flag, |cx| c.poll_read_ready(cx)).is_pending(), "nothing sent yet");
    let writer = std::thread::spawn(move || {
        io::Write::write_all(&mut s, b"ping").unwrap();
        s
    });
    flag.wait("data arrived");
    assert!(matches!(poll_once(&flag, |cx| c.poll_read_ready(cx)), Poll::Ready(Ok(()))));
    let mut buf = [0u8; 4];
    io::Read::read_exact(&mut &c, &mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    drop(writer.join().unwrap());
}

/// The same in a goroutine, whose executor parks it: the poller that
/// wakes the waker is the one its own M blocks in.
#[test]
fn read_ready_waker_fires_in_a_goroutine() {
    on_runtime(|| {
        let (c, s) = tcp_pair();
        let writer = gort_runtime::spawn(move || {
            gort_runtime::sleep(Duration::from_millis(20));
            io::Write::write_all(&mut &s, b"pong").unwrap();
            s
        });
        go_block_on(poll_fn(|cx| c.poll_read_ready(cx))).unwrap();
        let mut buf = [0u8; 4];
        io::Read::read_exact(&mut &c, &mut buf).unwrap();
        assert_eq!(&buf, b"pong");
        drop(writer.join().unwrap());
    });
}

/// `poll_accept` registers the task and is woken by a connection.
#[test]
fn poll_accept_is_woken_by_a_connection() {
    let ln = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = ln.local_addr().unwrap();
    let flag = Arc::new(Flag::default());
    assert!(poll_once(&flag, |cx| ln.poll_accept(cx)).is_pending());
    let dialer = std::thread::spawn(move || TcpStream::connect(addr).unwrap());
    flag.wait("a connection arrived");
    let (s, peer) = block_on(poll_fn(|cx| ln.poll_accept(cx))).unwrap();
    let c = dialer.join().unwrap();
    assert_eq!(peer, c.local_addr().unwrap());
    assert_eq!(s.peer_addr().unwrap(), c.local_addr().unwrap());
}

/// Closing a socket whose read has a waker registered wakes it, and the
/// next poll fails with the error a blocked read gets: `ErrClosed`, kind
/// `NotConnected`.
#[test]
fn close_wakes_a_registered_waker_with_an_error() {
    let (c, _s) = tcp_pair();
    let c = Arc::new(c);
    let flag = Arc::new(Flag::default());
    assert!(poll_once(&flag, |cx| c.poll_read_ready(cx)).is_pending());
    let closer = {
        let c = c.clone();
        std::thread::spawn(move || c.close().unwrap())
    };
    flag.wait("close");
    closer.join().unwrap();
    let Poll::Ready(Err(e)) = poll_once(&flag, |cx| c.poll_read_ready(cx)) else {
        panic!("closed: must fail")
    };
    assert!(is_closed(&e) && e.kind() == io::ErrorKind::NotConnected, "{e:?}");
    // A blocking read on the closed socket fails with the same error.
    let e2 = io::Read::read(&mut &*c, &mut [0u8; 1]).unwrap_err();
    assert_eq!((is_closed(&e2), e2.kind()), (true, e.kind()));
}

/// The same through the tokio adapter, with the close from a goroutine
/// while the read waits in another goroutine's executor.
#[test]
fn close_ends_a_pending_tokio_read() {
    on_runtime(|| {
        let (c, _s) = tcp_pair();
        let c = Arc::new(c);
        let reader = {
            let c = c.clone();
            gort_runtime::spawn(move || go_block_on(tokio_read(&mut &*c, &mut [0u8; 8])))
        };
        gort_runtime::sleep(Duration::from_millis(20)); // let it register (not required)
        c.close().unwrap();
        let e = reader.join().unwrap().unwrap_err();
        assert!(is_closed(&e), "{e:?}");
    });
}

/// A read deadline ends an async wait: the deadline timer wakes the
/// waker and the poll fails with `TimedOut`.
#[test]
fn read_deadline_fires_an_async_wait() {
    let (c, _s) = tcp_pair();
    c.set_read_deadline(Some(Instant::now() + Duration::from_millis(30))).unwrap();
    let flag = Arc::new(Flag::default());
    assert!(poll_once(&flag, |cx| c.poll_read_ready(cx)).is_pending());
    flag.wait("the deadline timer");
    let Poll::Ready(Err(e)) = poll_once(&flag, |cx| c.poll_read_ready(cx)) else { panic!("must time out") };
    assert!(is_timeout(&e), "{e:?}");
}

/// The per-operation read timeout bounds an async read of one task: the
/// wait that started at the first pending poll fails with `TimedOut`,
/// through the tokio adapter; the task's next read starts afresh and gets
/// its data.
#[test]
fn read_timeout_ends_an_async_read() {
    let (c, s) = tcp_pair();
    c.set_read_timeout(Some(Duration::from_millis(30))).unwrap();
    let t = Instant::now();
    let e = block_on(tokio_read(&mut &c, &mut [0u8; 8])).unwrap_err();
    assert!(is_timeout(&e), "{e:?}");
    assert!(t.elapsed() >= Duration::from_millis(30));
    io::Write::write_all(&mut &s, b"late").unwrap();
    let mut buf = [0u8; 4];
    block_on(tokio_read_exact(&mut &c, &mut buf)).unwrap();
    assert_eq!(&buf, b"late");
}

/// Setting a deadline in the past wakes a waiting task at once (the
/// deadline change wakes it, as it wakes a parked goroutine).
#[test]
fn deadline_change_wakes_a_waiting_task() {
    let (c, _s) = tcp_pair();
    let c = Arc::new(c);
    let flag = Arc::new(Flag::default());
    assert!(poll_once(&flag, |cx| c.poll_write_ready(cx)).is_ready(), "an idle stream is writable");
    assert!(poll_once(&flag, |cx| c.poll_read_ready(cx)).is_pending());
    let setter = {
        let c = c.clone();
        std::thread::spawn(move || c.set_read_deadline(Some(Instant::now())).unwrap())
    };
    flag.wait("the deadline change");
    setter.join().unwrap();
    let Poll::Ready(Err(e)) = poll_once(&flag, |cx| c.poll_read_ready(cx)) else { panic!("must time out") };
    assert!(is_timeout(&e), "{e:?}");
}

/// Events for a closed socket's descriptor, in flight while a new socket
/// takes the descriptor over, never make the new socket look ready: its
/// waker may fire spuriously, but each poll before its peer writes stays
/// pending, and its data arrives once written. 100 rounds of close with
/// a registered waker while the peer writes, then reuse.
#[test]
fn stale_events_after_close_do_not_make_a_new_socket_ready() {
    for round in 0..100 {
        let (old_c, old_s) = tcp_pair();
        let flag = Arc::new(Flag::default());
        assert!(poll_once(&flag, |cx| old_c.poll_read_ready(cx)).is_pending());
        // The peer writes while the socket closes: its event may be in
        // flight for the freed descriptor.
        let w = std::thread::spawn(move || {
            let _ = io::Write::write_all(&mut &old_s, b"stale");
            old_s
        });
        old_c.close().unwrap();
        flag.wait("close");
        let old_s = w.join().unwrap();
        drop(old_s);

        let (c, s) = tcp_pair();
        let flag = Arc::new(Flag::default());
        for _ in 0..3 {
            assert!(
                poll_once(&flag, |cx| c.poll_read_ready(cx)).is_pending(),
                "round {round}: a new socket looked ready before its peer wrote"
            );
            // Spurious wakes are harmless: consume one if it came.
            let g = flag.woken.lock().unwrap();
            let (mut g, _) = flag.cv.wait_timeout_while(g, Duration::from_millis(1), |w| !*w).unwrap();
            *g = false;
        }
        io::Write::write_all(&mut &s, b"fresh").unwrap();
        let mut buf = [0u8; 5];
        block_on(tokio_read_exact(&mut &c, &mut buf)).unwrap();
        assert_eq!(&buf, b"fresh");
    }
}

/// Registering again from the same task keeps one waker; a poll from
/// another task replaces it, and only the latest task is woken.
#[test]
fn a_new_registration_replaces_the_old_waker() {
    let (c, s) = tcp_pair();
    let (old, new) = (Arc::new(Flag::default()), Arc::new(Flag::default()));
    assert!(poll_once(&old, |cx| c.poll_read_ready(cx)).is_pending());
    assert!(poll_once(&old, |cx| c.poll_read_ready(cx)).is_pending());
    assert!(poll_once(&new, |cx| c.poll_read_ready(cx)).is_pending());
    io::Write::write_all(&mut &s, b"x").unwrap();
    new.wait("the latest task");
    assert_eq!(old.wakes.load(Ordering::SeqCst), 0, "a replaced waker was woken");
}

/// A waker registered from a goroutine is woken when that goroutine's
/// runtime is dropped (nobody polls its poller again); polled again from a
/// plain thread, the socket moves to the default runtime and works.
#[test]
fn a_waker_outlives_its_runtime() {
    let (c, s) = tcp_pair();
    let c = Arc::new(c);
    let flag = Arc::new(Flag::default());
    {
        let (c, flag) = (c.clone(), flag.clone());
        on_runtime(move || assert!(poll_once(&flag, |cx| c.poll_read_ready(cx)).is_pending()));
    } // the runtime is dropped here
    flag.wait("the runtime's drop");
    assert!(poll_once(&flag, |cx| c.poll_read_ready(cx)).is_pending());
    io::Write::write_all(&mut &s, b"x").unwrap();
    flag.wait("data, on the default runtime's poller");
    block_on(poll_fn(|cx| c.poll_read_ready(cx))).unwrap();
}

// ---------------------------------------------------------------------
// The adapters: byte round trips over loopback TCP and Unix streams.

async fn tokio_read<R: tokio::io::AsyncRead + Unpin>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut rb = tokio::io::ReadBuf::new(buf);
    poll_fn(|cx| Pin::new(&mut *r).poll_read(cx, &mut rb)).await?;
    Ok(rb.filled().len())
}

async fn tokio_read_exact<R: tokio::io::AsyncRead + Unpin>(r: &mut R, buf: &mut [u8]) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        match tokio_read(r, &mut buf[done..]).await? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => done += n,
        }
    }
    Ok(())
}

async fn tokio_write_all<W: tokio::io::AsyncWrite + Unpin>(w: &mut W, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        let n = poll_fn(|cx| Pin::new(&mut *w).poll_write(cx, buf)).await?;
        buf = &buf[n..];
    }
    Ok(())
}

async fn fio_read<R: futures_io::AsyncRead + Unpin>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    poll_fn(|cx| Pin::new(&mut *r).poll_read(cx, buf)).await
}

async fn fio_write_all<W: futures_io::AsyncWrite + Unpin>(w: &mut W, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        let n = poll_fn(|cx| Pin::new(&mut *w).poll_write(cx, buf)).await?;
        buf = &buf[n..];
    }
    Ok(())
}

async fn hyper_read<R: hyper::rt::Read + Unpin>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut rb = hyper::rt::ReadBuf::new(buf);
    poll_fn(|cx| Pin::new(&mut *r).poll_read(cx, rb.unfilled())).await?;
    Ok(rb.filled().len())
}

async fn hyper_write_all<W: hyper::rt::Write + Unpin>(w: &mut W, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        let n = poll_fn(|cx| Pin::new(&mut *w).poll_write(cx, buf)).await?;
        buf = &buf[n..];
    }
    Ok(())
}

/// 4 MiB of a pattern: more than the socket buffers hold, so writes go
/// partial and wait for the reader, and reads wait for the writer.
fn payload() -> Vec<u8> {
    (0..4u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect()
}

/// Sends `payload()` from `a` (then shuts its write half down, through
/// the adapter) and reads it at `b` until end of file, each side on its
/// own plain thread's executor; returns what `b` read.
fn round_trip<S: Send + 'static>(
    a: S,
    b: S,
    write: impl FnOnce(S, Vec<u8>) -> io::Result<()> + Send + 'static,
    read_to_end: impl FnOnce(S) -> io::Result<Vec<u8>> + Send + 'static,
) {
    let data = payload();
    let sent = data.clone();
    let w = std::thread::spawn(move || write(a, sent));
    let got = read_to_end(b).unwrap();
    w.join().unwrap().unwrap();
    assert!(got == data, "received {} bytes, not the {} sent", got.len(), data.len());
}

fn tokio_round_trip<S>(a: S, b: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    round_trip(
        a,
        b,
        |mut a, data| {
            block_on(async {
                tokio_write_all(&mut a, &data).await?;
                poll_fn(|cx| Pin::new(&mut a).poll_shutdown(cx)).await
            })
        },
        |mut b| {
            block_on(async {
                let (mut out, mut buf) = (Vec::new(), vec![0u8; 65536]);
                loop {
                    match tokio_read(&mut b, &mut buf).await? {
                        0 => return Ok(out),
                        n => out.extend_from_slice(&buf[..n]),
                    }
                }
            })
        },
    );
}

fn fio_round_trip<S>(a: S, b: S)
where
    S: futures_io::AsyncRead + futures_io::AsyncWrite + Unpin + Send + 'static,
{
    round_trip(
        a,
        b,
        |mut a, data| {
            block_on(async {
                fio_write_all(&mut a, &data).await?;
                poll_fn(|cx| Pin::new(&mut a).poll_close(cx)).await
            })
        },
        |mut b| {
            block_on(async {
                let (mut out, mut buf) = (Vec::new(), vec![0u8; 65536]);
                loop {
                    match fio_read(&mut b, &mut buf).await? {
                        0 => return Ok(out),
                        n => out.extend_from_slice(&buf[..n]),
                    }
                }
            })
        },
    );
}

fn hyper_round_trip<S>(a: S, b: S)
where
    S: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    round_trip(
        a,
        b,
        |mut a, data| {
            block_on(async {
                hyper_write_all(&mut a, &data).await?;
                poll_fn(|cx| Pin::new(&mut a).poll_shutdown(cx)).await
            })
        },
        |mut b| {
            block_on(async {
                let (mut out, mut buf) = (Vec::new(), vec![0u8; 65536]);
                loop {
                    match hyper_read(&mut b, &mut buf).await? {
                        0 => return Ok(out),
                        n => out.extend_from_slice(&buf[..n]),
                    }
                }
            })
        },
    );
}

#[test]
fn tokio_adapter_round_trips_tcp() {
    let (a, b) = tcp_pair();
    tokio_round_trip(a, b);
}

#[test]
fn tokio_adapter_round_trips_unix() {
    let (a, b) = UnixStream::pair().unwrap();
    tokio_round_trip(a, b);
}

#[test]
fn futures_io_adapter_round_trips_tcp() {
    let (a, b) = tcp_pair();
    fio_round_trip(a, b);
}

#[test]
fn futures_io_adapter_round_trips_unix() {
    let (a, b) = UnixStream::pair().unwrap();
    fio_round_trip(a, b);
}

#[test]
fn hyper_adapter_round_trips_tcp() {
    let (a, b) = tcp_pair();
    hyper_round_trip(a, b);
}

#[test]
fn hyper_adapter_round_trips_unix() {
    let (a, b) = UnixStream::pair().unwrap();
    hyper_round_trip(a, b);
}

/// The adapters on shared references: one task reads through `&stream`
/// while another writes through `&stream`, in two goroutines.
#[test]
fn shared_reference_adapters_read_and_write_at_once() {
    on_runtime(|| {
        let (a, b) = UnixStream::pair().unwrap();
        let (a, b) = (Arc::new(a), Arc::new(b));
        let echo = {
            let b = b.clone();
            gort_runtime::spawn(move || {
                go_block_on(async {
                    let mut buf = [0u8; 4096];
                    loop {
                        match fio_read(&mut &*b, &mut buf).await? {
                            0 => return io::Result::Ok(()),
                            n => hyper_write_all(&mut &*b, &buf[..n]).await?,
                        }
                    }
                })
            })
        };
        let data = payload();
        let sender = {
            let (a, data) = (a.clone(), data.clone());
            gort_runtime::spawn(move || {
                go_block_on(tokio_write_all(&mut &*a, &data)).unwrap();
                a.shutdown(Shutdown::Write).unwrap();
            })
        };
        let mut got = vec![0u8; data.len()];
        go_block_on(tokio_read_exact(&mut &*a, &mut got)).unwrap();
        sender.join().unwrap();
        echo.join().unwrap().unwrap();
        assert!(got == data);
    });
}

// ---------------------------------------------------------------------
// Stress.

/// 240 connections echo through the tokio adapter at once: each server
/// connection in its own goroutine's executor, the clients split over two
/// plain threads, each running 120 connection futures on one executor.
/// Every client sends 20 messages of 1 B to 8 KiB and checks each echo.
#[test]
fn stress_240_connections_echo_through_the_tokio_adapter() {
    const CONNS: usize = 240;
    const MSGS: usize = 20;
    let ln = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = ln.local_addr().unwrap();
    let started = Instant::now();
    let server = std::thread::spawn(move || {
        on_runtime(move || {
            let conns: Vec<_> = (0..CONNS)
                .map(|_| {
                    let (s, _) = ln.accept().unwrap();
                    gort_runtime::spawn(move || {
                        let mut s = s;
                        go_block_on(async {
                            let mut buf = vec![0u8; 16384];
                            loop {
                                match tokio_read(&mut s, &mut buf).await? {
                                    0 => return io::Result::Ok(()),
                                    n => tokio_write_all(&mut s, &buf[..n]).await?,
                                }
                            }
                        })
                    })
                })
                .collect();
            for c in conns {
                c.join().unwrap().unwrap();
            }
        })
    });
    let echoed = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..2)
        .map(|t| {
            let echoed = echoed.clone();
            std::thread::spawn(move || {
                let futs: Vec<_> = (0..CONNS / 2)
                    .map(|i| {
                        let echoed = echoed.clone();
                        let mut c = TcpStream::connect(addr).unwrap();
                        async move {
                            for m in 0..MSGS {
                                let len = 1 + (t * 7919 + i * 104_729 + m * 31) % 8192;
                                let msg: Vec<u8> = (0..len).map(|k| (k ^ i ^ m) as u8).collect();
                                tokio_write_all(&mut c, &msg).await.unwrap();
                                let mut back = vec![0u8; len];
                                tokio_read_exact(&mut c, &mut back).await.unwrap();
                                assert!(back == msg, "connection {t}/{i} message {m}: wrong echo");
                                echoed.fetch_add(1, Ordering::Relaxed);
                            }
                            poll_fn(|cx| tokio::io::AsyncWrite::poll_shutdown(Pin::new(&mut c), cx))
                                .await
                                .unwrap();
                        }
                    })
                    .collect();
                block_on_all(futs);
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    server.join().unwrap();
    assert_eq!(echoed.load(Ordering::Relaxed), CONNS * MSGS);
    assert!(started.elapsed() < Duration::from_secs(120), "took {:?}", started.elapsed());
}
