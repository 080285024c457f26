//! A non-blocking socket descriptor and the wait under every blocking call.
//!
//! Go: internal/poll/fd_unix.go (`FD`, `Read`, `Write`, `Accept`, `Close`),
//! internal/poll/fd_poll_runtime.go (`pollDesc.prepare`, `wait`,
//! `setDeadline`), runtime/netpoll.go (`netpollcheckerr`,
//! `poll_runtime_pollSetDeadline`, `poll_runtime_pollUnblock`).
//!
//! Every operation runs the same loop: take the direction's lock
//! ([`FdMutex`]), check for close and expired deadlines, try the syscall, and
//! only on `EAGAIN` wait for readiness, then retry. How it waits depends on
//! the caller:
//! - a goroutine parks on the socket's [`PollDesc`], woken by its runtime's
//!   poller. The descriptor is bound (registered with epoll) the first time
//!   a goroutine has to wait, with the poller of that goroutine's runtime;
//! - a plain thread has no M that would poll for it: it blocks in `poll(2)`
//!   on the socket and on a per-thread eventfd that close and deadline
//!   changes write to. So does a goroutine of *another* runtime than the
//!   one the socket is bound to, inside [`gort_runtime::syscall`] so that
//!   its P keeps running other goroutines.
//!
//! ## Deadlines
//!
//! Each direction has an absolute deadline (nanotime, 0 for none; Go's
//! `rd`/`wd`) and a per-operation timeout (std's `set_read_timeout`); an
//! operation's deadline is the earlier of the two. A parked wait arms a
//! runtime timer ([`gort_runtime::timer::TimerNode`]) for it; changing a
//! deadline wakes the waiter, which re-checks and waits again with the
//! new one. An expired deadline fails operations with `TimedOut` before they
//! try the syscall, as in Go.
//!
//! ## Close
//!
//! [`NetFd::close`] (or drop) marks the socket closed, then wakes every
//! waiter: parked goroutines through their descriptor, threads through
//! their eventfd. They see the flag and fail with [`crate::ErrClosed`].
//! The fd number is closed when the last operation in flight returns.

use std::cell::OnceCell;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicPtr, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gort_runtime::Lock;

use crate::fd_mutex::FdMutex;
use crate::pd::{Mode, PollDesc};
use crate::poller::{self, PollerInner};

/// A socket: the fd, its lifetime lock, its deadlines, and its binding to a
/// runtime's poller.
pub(crate) struct NetFd {
    fd: RawFd,
    mu: FdMutex,
    closing: AtomicBool,
    /// Absolute deadlines per direction (nanotime; 0 none).
    deadline: [AtomicI64; 2],
    /// Per-operation timeouts per direction (ns; 0 none).
    timeout: [AtomicI64; 2],
    /// The bound descriptor (null until a goroutine waits), and the key of
    /// its poller; both also in `bind`, read here without the lock.
    pd: AtomicPtr<PollDesc>,
    key: AtomicUsize,
    bind: Lock<Binding>,
}

struct Binding {
    poller: Option<Arc<PollerInner>>,
    pd: Option<&'static PollDesc>,
    /// The eventfd of the thread blocked in poll(2) per direction, or -1.
    threads: [RawFd; 2],
}

/// What an operation holds while it runs; releasing the last reference
/// after a close destroys the descriptor.
pub(crate) struct Hold<'a> {
    fd: &'a NetFd,
    lock: Option<bool>,
}

impl Drop for Hold<'_> {
    fn drop(&mut self) {
        let last = match self.lock {
            Some(read) => self.fd.mu.rwunlock(read),
            None => self.fd.mu.decref(),
        };
        if last {
            self.fd.destroy();
        }
    }
}

impl NetFd {
    /// Takes ownership of `fd`, which must be a non-blocking socket.
    pub(crate) fn new(fd: OwnedFd) -> NetFd {
        use std::os::fd::IntoRawFd;
        NetFd {
            fd: fd.into_raw_fd(),
            mu: FdMutex::new(),
            closing: AtomicBool::new(false),
            deadline: [AtomicI64::new(0), AtomicI64::new(0)],
            timeout: [AtomicI64::new(0), AtomicI64::new(0)],
            pd: AtomicPtr::new(ptr::null_mut()),
            key: AtomicUsize::new(0),
            bind: Lock::new(Binding { poller: None, pd: None, threads: [-1, -1] }),
        }
    }

    /// The raw fd, for `AsRawFd`. May be closed already if `close` ran.
    pub(crate) fn raw(&self) -> RawFd {
        self.fd
    }

    /// A plain reference, for operations that need the fd to stay open
    /// (Go: `incref`).
    pub(crate) fn hold(&self) -> io::Result<Hold<'_>> {
        if !self.mu.incref() {
            return Err(crate::closed());
        }
        Ok(Hold { fd: self, lock: None })
    }

    /// Runs `f` on the fd, holding a reference.
    pub(crate) fn with<R>(&self, f: impl FnOnce(RawFd) -> io::Result<R>) -> io::Result<R> {
        let _h = self.hold()?;
        f(self.fd)
    }

    /// Runs `op` until it stops failing with `EAGAIN`, waiting for
    /// readiness in `mode` between tries (Go: `FD.Read` and friends).
    #[inline]
    pub(crate) fn io<R>(&self, mode: Mode, mut op: impl FnMut(RawFd) -> io::Result<R>) -> io::Result<R> {
        gort_runtime::preempt_point();
        let _h = self.lock(mode)?;
        let op_deadline = self.op_deadline(mode);
        self.prepare(mode, op_deadline)?;
        loop {
            match op(self.fd) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.wait(mode, op_deadline)?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => return r,
            }
        }
    }

    /// Writes all of `buf` with `op`, waiting as needed, under one hold of
    /// the write lock so that concurrent writes do not interleave (Go:
    /// `FD.Write`). Returns the bytes written if an error stops it midway.
    pub(crate) fn write_all(
        &self,
        buf: &[u8],
        mut op: impl FnMut(RawFd, &[u8]) -> io::Result<usize>,
    ) -> io::Result<usize> {
        gort_runtime::preempt_point();
        let _h = self.lock(Mode::Write)?;
        let op_deadline = self.op_deadline(Mode::Write);
        self.prepare(Mode::Write, op_deadline)?;
        let mut done = 0;
        loop {
            let r = match op(self.fd, &buf[done..]) {
                Ok(0) if done < buf.len() => Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    done += n;
                    if done >= buf.len() {
                        return Ok(done);
                    }
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.wait(Mode::Write, op_deadline),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Err(e),
            };
            if let Err(e) = r {
                return if done > 0 { Ok(done) } else { Err(e) };
            }
        }
    }

    /// Takes the direction's lock for one operation.
    pub(crate) fn lock(&self, mode: Mode) -> io::Result<Hold<'_>> {
        let read = mode == Mode::Read;
        if !self.mu.rwlock(read) {
            return Err(crate::closed());
        }
        Ok(Hold { fd: self, lock: Some(read) })
    }

    /// Checks for errors and clears stale readiness (Go: `pd.prepare`).
    #[inline]
    pub(crate) fn prepare(&self, mode: Mode, op_deadline: i64) -> io::Result<()> {
        self.check(mode, op_deadline)?;
        let pd = self.pd.load(Ordering::Acquire);
        if !pd.is_null() {
            // SAFETY: a bound descriptor stays valid until destroy, which
            // cannot run while we hold the direction's lock.
            unsafe { &*pd }.reset(mode);
        }
        Ok(())
    }

    /// The deadline of an operation starting now from the per-operation
    /// timeout, 0 for none.
    #[inline]
    pub(crate) fn op_deadline(&self, mode: Mode) -> i64 {
        match self.timeout[mode as usize].load(Ordering::Relaxed) {
            0 => 0,
            t => gort_runtime::nanotime().saturating_add(t),
        }
    }

    /// Fails if the socket is closing or the deadline passed; else returns
    /// the effective deadline (Go: `netpollcheckerr`).
    #[inline]
    fn check(&self, mode: Mode, op_deadline: i64) -> io::Result<i64> {
        if self.closing.load(Ordering::SeqCst) {
            return Err(crate::closed());
        }
        let d = self.deadline[mode as usize].load(Ordering::SeqCst);
        let d = match (d, op_deadline) {
            (0, o) => o,
            (d, 0) => d,
            (d, o) => d.min(o),
        };
        if d != 0 && d <= gort_runtime::nanotime() {
            return Err(crate::timed_out());
        }
        Ok(d)
    }

    /// Waits until `mode` may be ready, or fails with the close or deadline
    /// error. Go: `pd.wait` / `runtime_pollWait`.
    pub(crate) fn wait(&self, mode: Mode, op_deadline: i64) -> io::Result<()> {
        if gort_runtime::in_goroutine() {
            if let Some(pd) = self.bound()? {
                loop {
                    let d = self.check(mode, op_deadline)?;
                    if pd.block(mode, d, || self.check(mode, op_deadline).is_ok()) {
                        return Ok(());
                    }
                }
            }
            return gort_runtime::syscall(|| self.wait_thread(mode, op_deadline));
        }
        self.wait_thread(mode, op_deadline)
    }

    /// The descriptor bound to the current runtime's poller, binding it on
    /// first use; None if it is bound to another live runtime.
    #[inline]
    fn bound(&self) -> io::Result<Option<&'static PollDesc>> {
        let key = poller::current_key();
        if self.key.load(Ordering::Acquire) == key {
            // SAFETY: `pd` is stored before `key` (Release) and stays valid
            // while we hold a lock of the fd (destroy needs no holders).
            let pd = unsafe { &*self.pd.load(Ordering::Acquire) };
            if !pd.owner().is_dead() {
                return Ok(Some(pd));
            }
        }
        self.bind_slow(key)
    }

    #[cold]
    fn bind_slow(&self, key: usize) -> io::Result<Option<&'static PollDesc>> {
        let mut b = self.bind.lock();
        if let (Some(pd), Some(p)) = (b.pd, b.poller.as_ref()) {
            if !p.is_dead() {
                return Ok((self.key.load(Ordering::Relaxed) == key).then_some(pd));
            }
            // Its runtime is gone: move to the current one.
            p.deregister(self.fd);
            p.cache.free(pd);
            b.pd = None;
            b.poller = None;
            self.key.store(0, Ordering::Release);
            self.pd.store(ptr::null_mut(), Ordering::Release);
        }
        let Some(p) = poller::lookup(key) else {
            return Ok(None); // the runtime runs a poller that is not ours
        };
        let pd = p.cache.alloc(Arc::as_ptr(&p));
        if let Err(e) = p.register(self.fd, pd.token()) {
            p.cache.free(pd);
            return Err(e);
        }
        b.pd = Some(pd);
        b.poller = Some(p);
        self.pd.store(pd as *const PollDesc as *mut PollDesc, Ordering::Release);
        self.key.store(key, Ordering::Release);
        Ok(Some(pd))
    }

    /// Blocks the calling thread in poll(2) until `mode` may be ready, the
    /// deadline passes, or close or a deadline change writes the thread's
    /// eventfd.
    fn wait_thread(&self, mode: Mode, op_deadline: i64) -> io::Result<()> {
        let evfd = thread_eventfd()?;
        let d = {
            let mut b = self.bind.lock();
            let d = self.check(mode, op_deadline)?;
            b.threads[mode as usize] = evfd;
            d
        };
        let timeout = match d {
            0 => -1,
            d => {
                ((d - gort_runtime::nanotime()).max(0) as u64).div_ceil(1_000_000).min(i32::MAX as u64) as i32
            }
        };
        let events = if mode == Mode::Read { libc::POLLIN } else { libc::POLLOUT };
        let mut fds = [
            libc::pollfd { fd: self.fd, events, revents: 0 },
            libc::pollfd { fd: evfd, events: libc::POLLIN, revents: 0 },
        ];
        // SAFETY: fds is a valid array of two pollfds; both fds are open
        // (ours is held; the eventfd lives as long as the thread).
        let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout) };
        let err = io::Error::last_os_error();
        self.bind.lock().threads[mode as usize] = -1;
        if fds[1].revents != 0 {
            drain(evfd);
        }
        if r < 0 && err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
        Ok(())
    }

    /// Wakes whoever waits in `mode` so that it re-checks close and
    /// deadlines.
    fn wake_waiters(&self, mode: Mode) {
        let pd = self.pd.load(Ordering::Acquire);
        if !pd.is_null() {
            // SAFETY: the caller holds a reference: destroy cannot run.
            unsafe { &*pd }.wake(mode);
        }
        let b = self.bind.lock();
        let evfd = b.threads[mode as usize];
        if evfd >= 0 {
            // Under the lock: the thread unregisters under it before it
            // returns, so its eventfd is still open.
            let one = 1u64;
            // SAFETY: writes 8 bytes from a local to an open eventfd.
            unsafe { libc::write(evfd, (&raw const one).cast(), 8) };
        }
    }

    /// Sets the absolute deadline of `mode` (None clears it) and wakes its
    /// waiter. Go: `poll_runtime_pollSetDeadline`.
    pub(crate) fn set_deadline(&self, mode: Mode, when: Option<Instant>) -> io::Result<()> {
        let _h = self.hold()?;
        let d = when.map_or(0, instant_to_nanotime);
        self.deadline[mode as usize].store(d, Ordering::SeqCst);
        self.wake_waiters(mode);
        Ok(())
    }

    /// Sets the per-operation timeout of `mode`, std style: None clears it,
    /// a zero duration is an error.
    pub(crate) fn set_timeout(&self, mode: Mode, t: Option<Duration>) -> io::Result<()> {
        let ns = match t {
            None => 0,
            Some(d) if d.is_zero() => {
                return Err(io::Error::new(io::ErrorKind::InvalidInput, "cannot set a 0 duration timeout"));
            }
            Some(d) => d.as_nanos().clamp(1, i64::MAX as u128) as i64,
        };
        let _h = self.hold()?;
        self.timeout[mode as usize].store(ns, Ordering::Relaxed);
        Ok(())
    }

    /// The per-operation timeout of `mode`.
    pub(crate) fn timeout(&self, mode: Mode) -> io::Result<Option<Duration>> {
        let _h = self.hold()?;
        Ok(match self.timeout[mode as usize].load(Ordering::Relaxed) {
            0 => None,
            ns => Some(Duration::from_nanos(ns as u64)),
        })
    }

    /// Closes the socket: operations in flight fail with [`crate::ErrClosed`]
    /// and the fd is closed when the last one returns. Go: `FD.Close`.
    pub(crate) fn close(&self) -> io::Result<()> {
        if !self.mu.incref_and_close() {
            return Err(crate::closed());
        }
        self.evict();
        if self.mu.decref() {
            self.destroy();
        }
        Ok(())
    }

    /// Wakes every waiter to see the close (Go: `pollUnblock`).
    fn evict(&self) {
        self.closing.store(true, Ordering::SeqCst);
        self.wake_waiters(Mode::Read);
        self.wake_waiters(Mode::Write);
    }

    /// The last reference is gone after a close: unregister, free the
    /// descriptor and close the fd (Go: `FD.destroy`).
    fn destroy(&self) {
        let (pd, p) = {
            let mut b = self.bind.lock();
            (b.pd.take(), b.poller.take())
        };
        self.pd.store(ptr::null_mut(), Ordering::Release);
        self.key.store(0, Ordering::Release);
        if let (Some(pd), Some(p)) = (pd, p) {
            p.deregister(self.fd);
            p.cache.free(pd);
        }
        // SAFETY: the fd is ours and nothing uses it any more.
        unsafe { libc::close(self.fd) };
    }
}

impl Drop for NetFd {
    fn drop(&mut self) {
        if self.mu.incref_and_close() {
            self.evict();
            if self.mu.decref() {
                self.destroy();
            }
        }
    }
}

/// Converts an `Instant` to a nanotime deadline (both are CLOCK_MONOTONIC
/// based, but read them apart to stay independent of that). A past
/// instant becomes an already-expired deadline; never 0.
fn instant_to_nanotime(t: Instant) -> i64 {
    let now_i = Instant::now();
    let now = gort_runtime::nanotime();
    let d = if t >= now_i {
        now.saturating_add(t.duration_since(now_i).as_nanos().min(i64::MAX as u128) as i64)
    } else {
        now.saturating_sub(now_i.duration_since(t).as_nanos().min(i64::MAX as u128) as i64)
    };
    d.max(1)
}

thread_local! {
    static EVENTFD: OnceCell<OwnedFd> = const { OnceCell::new() };
}

/// This thread's eventfd for waking it from poll(2), created on first use
/// and closed when the thread exits (it cannot be in poll(2) then).
fn thread_eventfd() -> io::Result<RawFd> {
    EVENTFD.with(|c| {
        if let Some(fd) = c.get() {
            return Ok(fd.as_raw_fd());
        }
        // SAFETY: eventfd has no memory preconditions; the result is checked.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd was just created and is owned by nobody else.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(c.get_or_init(|| owned).as_raw_fd())
    })
}

fn drain(evfd: RawFd) {
    let mut buf = 0u64;
    // SAFETY: reads 8 bytes into a local from an open non-blocking eventfd.
    unsafe { libc::read(evfd, (&raw mut buf).cast(), 8) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    use std::sync::mpsc;

    /// A goroutine whose P sysmon retook while its thread was blocked, and
    /// that then parks on a socket before reaching a safe point (the window
    /// between an operation's `preempt_point` and its park), is still woken
    /// when the socket becomes readable: some M must poll for it although
    /// it parked without a P (the idleconn hang).
    #[test]
    fn wait_after_losing_the_p_is_woken() {
        let (a, mut b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let fd = NetFd::new(a.into());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let rt = gort_runtime::Runtime::builder().max_procs(2).build().unwrap();
            rt.block_on(move || {
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
}
