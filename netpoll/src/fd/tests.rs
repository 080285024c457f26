//! Unit tests of the operation loop, waits, deadlines and bindings.

use super::*;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::mpsc;
use std::time::Instant;

/// A goroutine whose P sysmon retook while its thread was blocked, and
/// that then parks on a socket before reaching a safe point (the window
/// between an operation's `preempt_point` and its park), is still woken
/// when the socket becomes readable: some M must poll for it although
/// it parked without a P (the idleconn hang).
#[test]
fn wait_after_losing_the_p_is_woken() {
    wait_after_losing_the_p(false);
}

/// The same for a goroutine locked to its thread, whose M cannot poll
/// for it (it runs only that goroutine).
#[test]
fn locked_wait_after_losing_the_p_is_woken() {
    wait_after_losing_the_p(true);
}

fn wait_after_losing_the_p(locked: bool) {
    let (a, mut b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    let fd = NetFd::new(a.into());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = gort_runtime::Runtime::builder().max_procs(2).build().unwrap();
        rt.block_on(move || {
            if locked {
                gort_runtime::lock_os_thread();
            }
            // A blocked thread loses its P after 10 ms (the other P is
            // idle); nothing runs a safe point before the wait below.
            std::thread::sleep(Duration::from_millis(100));
            let r = fd.wait(Mode::Read, 0);
            tx.send(r.is_ok()).unwrap();
        });
    });
    std::thread::sleep(Duration::from_millis(400));
    b.write_all(b"x").unwrap();
    let woken = rx.recv_timeout(Duration::from_secs(10));
    assert_eq!(woken, Ok(true), "a goroutine parked without its P was never woken");
}

/// Runs `f` on a fresh runtime of two Ps, failing if it takes 10 s.
fn on_runtime<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = gort_runtime::Runtime::builder().max_procs(2).build().unwrap();
        let r = rt.block_on(f);
        drop(rt);
        tx.send(r).unwrap();
    });
    rx.recv_timeout(Duration::from_secs(10)).expect("the goroutine hung")
}

/// Review item 2: a deadline set after a read checked the deadlines but
/// before it parked (the setter finds nobody to wake) still ends the
/// read: the wait takes its deadline after it published itself.
#[test]
fn deadline_set_just_before_the_park_is_kept() {
    let (a, _b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    let fd = NetFd::new(a.into());
    *fd.test_hook.lock().unwrap() = Some(Box::new(|fd: &NetFd| {
        fd.set_deadline(Mode::Read, Some(Instant::now() + Duration::from_millis(20))).unwrap();
    }));
    let r = on_runtime(move || {
        fd.io(Mode::Read, |fd| crate::sys::recv(fd, &mut [0u8; 8], 0)).map_err(|e| e.kind())
    });
    assert_eq!(r, Err(io::ErrorKind::TimedOut));
}

/// Review item 3: a socket bound to a runtime that is gone rebinds to
/// the next runtime that waits on it, but keeps the old poller (and its
/// descriptor) alive until the socket is destroyed: an operation on
/// another thread may have loaded the old descriptor and still use it.
#[test]
fn rebinding_keeps_the_old_poller_alive() {
    let (a, _b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    let fd = Arc::new(NetFd::new(a.into()));
    let bind_here = |fd: Arc<NetFd>| {
        on_runtime(move || {
            let pd = fd.bound().unwrap().expect("bound to this runtime's poller");
            let key = poller::current_key();
            let p = poller::lookup(key).unwrap();
            assert!(std::ptr::eq(pd.owner(), &*p));
            Arc::downgrade(&p)
        })
    };
    let first = bind_here(fd.clone());
    assert!(first.upgrade().is_some_and(|p| p.is_dead()), "the first runtime is gone");
    let second = bind_here(fd.clone());
    assert!(!std::ptr::eq(first.as_ptr(), second.as_ptr()), "rebound to the second runtime's poller");
    assert!(first.upgrade().is_some(), "rebinding freed the old poller while the socket lives");
    drop(fd);
    assert!(first.upgrade().is_none() && second.upgrade().is_none(), "destroy released the pollers");
}

/// Review item 3, the race itself: while runtime after runtime binds
/// the socket and goes away, other threads keep using whatever binding
/// they load (deadline changes wake the descriptor, operations reset
/// it). Bounded: 20 runtimes. Under AddressSanitizer the old code
/// reported a use after free here.
#[test]
fn rebinding_while_other_threads_use_the_socket() {
    use std::sync::atomic::AtomicBool;
    let (a, _b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    let fd = Arc::new(NetFd::new(a.into()));
    let stop = Arc::new(AtomicBool::new(false));
    let users: Vec<_> = (0..2)
        .map(|i| {
            let (fd, stop) = (fd.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if i == 0 {
                        fd.set_deadline(Mode::Read, None).unwrap();
                    } else {
                        fd.io(Mode::Write, |_| Ok(())).unwrap();
                    }
                }
            })
        })
        .collect();
    for _ in 0..20 {
        let fd = fd.clone();
        on_runtime(move || assert!(fd.bound().unwrap().is_some()));
    }
    stop.store(true, Ordering::Relaxed);
    for u in users {
        u.join().unwrap();
    }
}

/// One stream read of up to 8 bytes, with the drained hint (fd.rs,
/// "Drained streams").
fn read8(fd: &NetFd) -> io::Result<Vec<u8>> {
    let mut buf = [0u8; 8];
    let n = fd.read_stream(8, true, |f| crate::sys::recv(f, &mut buf, 0))?;
    Ok(buf[..n].to_vec())
}

/// After a short read, the next read waits for readiness before its
/// syscall: bytes that came before that read, while it waited, or after
/// a peek (which resets the readiness without reading) are all read, and
/// nothing waits forever.
#[test]
fn reads_after_a_short_read_miss_nothing() {
    let (a, mut b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    let fd = NetFd::new(a.into());
    on_runtime(move || {
        b.write_all(&[1]).unwrap();
        assert_eq!(read8(&fd).unwrap(), [1]);
        assert!(fd.drained.load(Ordering::Relaxed), "a short read sets the hint");
        // Data before the next read (the socket is bound by this wait).
        b.write_all(&[2]).unwrap();
        assert_eq!(read8(&fd).unwrap(), [2]);
        // Data while the read waits.
        let mut b2 = b.try_clone().unwrap();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            b2.write_all(&[3]).unwrap();
        });
        assert_eq!(read8(&fd).unwrap(), [3]);
        writer.join().unwrap();
        // A peek after the short read resets the readiness: the next read
        // must try its syscall first.
        b.write_all(&[4, 5]).unwrap();
        let mut peek = [0u8; 8];
        let n = fd.io(Mode::Read, |f| crate::sys::recv(f, &mut peek, libc::MSG_PEEK)).unwrap();
        assert_eq!(&peek[..n], [4, 5]);
        assert!(!fd.drained.load(Ordering::Relaxed), "other reads clear the hint");
        assert_eq!(read8(&fd).unwrap(), [4, 5]);
        // A full read leaves no hint.
        b.write_all(&[6; 8]).unwrap();
        assert_eq!(read8(&fd).unwrap(), [6; 8]);
        assert!(!fd.drained.load(Ordering::Relaxed), "a full read sets no hint");
    });
}

/// A read that waits on the drained hint still ends with the deadline's
/// error, and with the close error when the socket is closed meanwhile.
#[test]
fn a_drained_wait_ends_on_deadline_and_close() {
    let (a, mut b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    let fd = Arc::new(NetFd::new(a.into()));
    let r = on_runtime(move || {
        b.write_all(&[1]).unwrap();
        assert_eq!(read8(&fd).unwrap(), [1]);
        fd.set_deadline(Mode::Read, Some(Instant::now() + Duration::from_millis(20))).unwrap();
        let timed_out = read8(&fd).map_err(|e| e.kind());
        fd.set_deadline(Mode::Read, None).unwrap();
        // Make the hint hold again, then close while the read waits.
        b.write_all(&[2]).unwrap();
        assert_eq!(read8(&fd).unwrap(), [2]);
        let closer = fd.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            closer.close().unwrap();
        });
        let closed = read8(&fd).map_err(|e| e.to_string());
        t.join().unwrap();
        drop(b);
        (timed_out, closed)
    });
    assert_eq!(r.0, Err(io::ErrorKind::TimedOut));
    assert_eq!(r.1, Err(crate::closed().to_string()));
}

/// The end of the stream that came with the last data is read as such:
/// after a short read that a hang-up event woke, the next read tries its
/// syscall (the poller marked the descriptor) and returns 0 at once
/// instead of waiting for an edge that will not come.
#[test]
fn eof_with_the_last_data_ends_the_next_read() {
    let (a, mut b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    let fd = NetFd::new(a.into());
    let r = on_runtime(move || {
        // Bind the socket: a read that waits, then short reads.
        let mut b2 = b.try_clone().unwrap();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            b2.write_all(&[1]).unwrap();
        });
        assert_eq!(read8(&fd).unwrap(), [1]);
        writer.join().unwrap();
        // The last data and the hang-up together, while the read waits.
        let closer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            b.write_all(&[2]).unwrap();
            drop(b);
        });
        let last = read8(&fd).unwrap();
        closer.join().unwrap();
        (last, read8(&fd).unwrap())
    });
    assert_eq!(r, (vec![2], vec![]));
}
