//! Unit tests of the async side's "still registered" answer (module docs
//! of `poll`): which polls skip the syscall, and that nothing they skip
//! loses a wake-up, a close or a deadline.

use super::*;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::task::Wake;
use std::time::{Duration, Instant};

/// A task's waker that counts its wakes.
struct Task(AtomicUsize);

impl Wake for Task {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn task() -> (Arc<Task>, Waker) {
    let t = Arc::new(Task(AtomicUsize::new(0)));
    (t.clone(), Waker::from(t))
}

/// Waits up to 10 s (the expectation is well under 10 ms) for `t`'s
/// first wake.
fn woken(t: &Task) -> bool {
    woken_times(t, 1)
}

/// Waits up to 10 s (the expectations here are under 100 ms) until `t`
/// has been woken `n` times.
fn woken_times(t: &Task, n: usize) -> bool {
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        if t.0.load(Ordering::SeqCst) >= n {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

/// One async read poll of `fd` by `waker`'s task, counting the recv calls
/// it makes in `calls`.
fn poll_read(fd: &NetFd, waker: &Waker, calls: &AtomicUsize) -> Poll<io::Result<usize>> {
    let mut cx = Context::from_waker(waker);
    let mut buf = [0u8; 16];
    fd.poll_io(Mode::Read, &mut cx, |raw| {
        calls.fetch_add(1, Ordering::SeqCst);
        crate::sys::recv(raw, &mut buf, 0)
    })
}

fn pair() -> (NetFd, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    (NetFd::new(a.into()), b)
}

#[test]
fn a_registered_task_polls_again_without_the_syscall() {
    let (fd, mut peer) = pair();
    let calls = AtomicUsize::new(0);
    let (a, wa) = task();
    assert!(poll_read(&fd, &wa, &calls).is_pending());
    assert_eq!(calls.load(Ordering::SeqCst), 1, "the first poll tries the recv");
    for _ in 0..3 {
        assert!(poll_read(&fd, &wa, &calls).is_pending());
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1, "a registered task's poll tried the recv again");
    peer.write_all(b"x").unwrap();
    assert!(woken(&a), "the registered waker was not woken by the data");
    match poll_read(&fd, &wa, &calls) {
        Poll::Ready(Ok(1)) => {}
        r => panic!("the poll after the wake-up gave {r:?}, not the byte"),
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// Another task's poll is not answered from the first task's
/// registration: it tries the syscall and registers its own waker, which
/// the data then wakes (a lost wake-up otherwise).
#[test]
fn another_task_registers_its_own_waker() {
    let (fd, mut peer) = pair();
    let calls = AtomicUsize::new(0);
    let (_a, wa) = task();
    let (b, wb) = task();
    assert!(poll_read(&fd, &wa, &calls).is_pending());
    assert!(poll_read(&fd, &wb, &calls).is_pending());
    assert_eq!(calls.load(Ordering::SeqCst), 2, "the second task's poll tried the recv");
    peer.write_all(b"y").unwrap();
    assert!(woken(&b), "the second task's waker was not woken: a lost wake-up");
    assert!(matches!(poll_read(&fd, &wb, &calls), Poll::Ready(Ok(1))));
}

/// A wake-up consumed since the registration makes the next poll try the
/// syscall, even for the same task.
#[test]
fn after_a_wake_up_the_same_task_tries_again() {
    let (fd, mut peer) = pair();
    let calls = AtomicUsize::new(0);
    let (a, wa) = task();
    assert!(poll_read(&fd, &wa, &calls).is_pending());
    peer.write_all(b"ab").unwrap();
    assert!(woken(&a));
    let mut cx = Context::from_waker(&wa);
    let mut one = [0u8; 1];
    // Reads one of the two bytes: the readiness is consumed, data remains.
    assert!(matches!(
        fd.poll_io(Mode::Read, &mut cx, |raw| crate::sys::recv(raw, &mut one, 0)),
        Poll::Ready(Ok(1))
    ));
    assert!(matches!(poll_read(&fd, &wa, &calls), Poll::Ready(Ok(1))), "the byte left was not read");
}

/// Close and deadlines end a task whose polls skip the syscall.
#[test]
fn close_and_deadline_end_a_registered_task() {
    let (fd, _peer) = pair();
    let calls = AtomicUsize::new(0);
    let (a, wa) = task();
    assert!(poll_read(&fd, &wa, &calls).is_pending());
    assert!(poll_read(&fd, &wa, &calls).is_pending());
    // Setting a deadline wakes the waiter (Go's pollSetDeadline), whose
    // next poll registers again and arms the timer; the one after it
    // skips the syscall; the timer then wakes the task.
    fd.set_deadline(Mode::Read, Some(Instant::now() + Duration::from_millis(50))).unwrap();
    assert!(woken(&a), "setting the deadline did not wake the registered waker");
    assert!(poll_read(&fd, &wa, &calls).is_pending());
    assert!(poll_read(&fd, &wa, &calls).is_pending());
    assert!(woken_times(&a, 2), "the deadline did not wake the registered waker");
    match poll_read(&fd, &wa, &calls) {
        Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::TimedOut => {}
        r => panic!("a poll after the deadline gave {r:?}"),
    }
    fd.set_deadline(Mode::Read, None).unwrap();
    let (c, wc) = task();
    assert!(poll_read(&fd, &wc, &calls).is_pending());
    assert!(poll_read(&fd, &wc, &calls).is_pending());
    fd.close().unwrap();
    assert!(woken(&c), "close did not wake the registered waker");
    assert!(matches!(poll_read(&fd, &wc, &calls), Poll::Ready(Err(_))), "a poll after close did not fail");
}

/// A short async read of a TCP stream makes the next poll register before
/// any syscall; the data that comes then wakes it and is read, and data
/// that came between the short read and the next poll is not waited for.
#[cfg(any(feature = "tokio-io", feature = "futures-io", feature = "hyper"))]
#[test]
fn an_async_read_after_a_short_one_waits_before_its_syscall() {
    let ln = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut peer = std::net::TcpStream::connect(ln.local_addr().unwrap()).unwrap();
    let (s, _) = ln.accept().unwrap();
    s.set_nonblocking(true).unwrap();
    let fd = NetFd::new(s.into());
    let calls = AtomicUsize::new(0);
    let (a, wa) = task();
    let read = |fd: &NetFd, calls: &AtomicUsize| {
        let mut cx = Context::from_waker(&wa);
        let mut buf = [0u8; 16];
        fd.poll_read_stream(&mut cx, buf.len(), true, |raw| {
            calls.fetch_add(1, Ordering::SeqCst);
            crate::sys::recv(raw, &mut buf, 0)
        })
    };
    // Binds and registers: Pending after one recv.
    assert!(read(&fd, &calls).is_pending());
    peer.write_all(b"ab").unwrap();
    assert!(woken(&a));
    assert!(matches!(read(&fd, &calls), Poll::Ready(Ok(2))), "the short read");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    // Drained: the next poll registers without a recv.
    assert!(read(&fd, &calls).is_pending());
    assert_eq!(calls.load(Ordering::SeqCst), 2, "a poll after a short read tried the recv");
    peer.write_all(b"cd").unwrap();
    assert!(woken_times(&a, 2), "the data after a drained poll did not wake it");
    assert!(matches!(read(&fd, &calls), Poll::Ready(Ok(2))));
    // Data that arrives before the next poll: its readiness is consumed by
    // the registration, not waited for.
    peer.write_all(b"ef").unwrap();
    // Time for the poller to record the readiness (the check below needs
    // it recorded to catch a reset that drops it; it passes either way).
    std::thread::sleep(Duration::from_millis(50));
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        match read(&fd, &calls) {
            Poll::Ready(Ok(2)) => break,
            Poll::Pending if Instant::now() < end => {
                // Pending is right only until the edge has been seen:
                // then a wake must follow.
                assert!(woken_times(&a, 3), "data that came before the poll was never delivered");
            }
            r => panic!("the read of data sent before the poll gave {r:?}"),
        }
    }
}
