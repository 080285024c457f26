//! Futures on gort's sockets: wakers registered in the poll descriptor
//! (`poll_read_ready`, `poll_write_ready`, `poll_accept`) woken by data,
//! connections, close, deadlines and a dropped runtime, never by stale
//! events. Driven by `support`'s plain-thread executors and, in
//! goroutines, by `gort_runtime::future::block_on` (the facade's
//! `gort::future::block_on`). Loopback only; every loop is bounded.

mod support;

use std::future::poll_fn;
use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::{Duration, Instant};

use gort_netpoll::{TcpListener, TcpStream, is_closed, is_timeout};
use gort_runtime::future;
use support::*;

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

/// The same in a goroutine, which `future::block_on` parks: the poller that
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
        future::block_on(poll_fn(|cx| c.poll_read_ready(cx))).unwrap();
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
/// while the read waits in another goroutine's `future::block_on`.
#[test]
fn close_ends_a_pending_tokio_read() {
    on_runtime(|| {
        let (c, _s) = tcp_pair();
        let c = Arc::new(c);
        let reader = {
            let c = c.clone();
            gort_runtime::spawn(move || future::block_on(tokio_read(&mut &*c, &mut [0u8; 8])))
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

/// Deadlines end async waits in a goroutine too, where
/// `future::block_on` parks it: a read waiting for data that never comes
/// (futures-io adapter), and a write waiting for room in buffers the peer
/// never drains (tokio adapter), both fail with `TimedOut`.
#[test]
fn deadlines_fire_async_waits_in_a_goroutine() {
    on_runtime(|| {
        let (c, _s) = tcp_pair();
        c.set_read_deadline(Some(Instant::now() + Duration::from_millis(30))).unwrap();
        let e = future::block_on(fio_read(&mut &c, &mut [0u8; 8])).unwrap_err();
        assert!(is_timeout(&e), "read: {e:?}");

        c.set_write_deadline(Some(Instant::now() + Duration::from_millis(30))).unwrap();
        let chunk = vec![7u8; 1 << 16];
        let r = future::block_on(async {
            // Bounded: loopback's buffers hold a few MiB, far below 1 GiB.
            let mut sent = 0usize;
            while sent < 1 << 30 {
                tokio_write_all(&mut &c, &chunk).await?;
                sent += chunk.len();
            }
            io::Result::Ok(sent)
        });
        let e = r.expect_err("the peer never reads: the writes must fill the buffers and time out");
        assert!(is_timeout(&e), "write: {e:?}");
    });
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
