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
//!   a goroutine has to wait, with the poller of that goroutine's runtime.
//!   If that runtime goes away, the next runtime to wait rebinds the
//!   socket; the old binding is kept until the socket is destroyed
//!   ([`Binding`]);
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
//! operation's deadline is the earlier of the two. A parked wait reads it
//! after publishing itself in the descriptor and arms a runtime timer
//! ([`gort_runtime::engine::TimerNode`]) for it; changing a deadline wakes
//! the waiter, which re-checks and waits again with the new one. An
//! expired deadline fails operations with `TimedOut` before they try the
//! syscall, as in Go.
//!
//! ## Close
//!
//! [`NetFd::close`] (or drop) marks the socket closed, then wakes every
//! waiter: parked goroutines through their descriptor, threads through
//! their eventfd. They see the flag and fail with [`crate::ErrClosed`].
//! The fd number is closed when the last operation in flight returns.
//!
//! ## Drained streams
//!
//! A TCP read ([`NetFd::read_stream`]) that returns fewer bytes than
//! asked has emptied the socket's receive queue, so whatever arrives next
//! raises a new edge on the (edge-triggered) poller. The next stream read
//! of a goroutine then waits for readiness before its syscall, instead of
//! first failing a `recv` with `EAGAIN` (tokio's `PollEvented` does the
//! same): one syscall fewer per request/response round trip. It keeps the
//! readiness recorded since the short read (it skips `prepare`'s reset),
//! so an edge that came in between is not lost.
//!
//! The queue is not all there is to read: a FIN or an error that came
//! with or before the data makes the next read return 0 or fail, and a
//! read stops at TCP urgent data's mark with data behind it. The poller
//! reports those (`EPOLLRDHUP`, `EPOLLHUP`, `EPOLLERR`, `EPOLLPRI`): it
//! marks the descriptor (`PollDesc::no_drain`) before it readies the
//! waiters, and from then on the socket's reads always try their syscall
//! first. One that comes after the read checked the mark is an edge still
//! to come, which ends its wait.
//!
//! The async stream reads of the adapters share the hint
//! (`poll_read_stream` in the `poll` submodule): a short read sets it, and
//! the next poll registers its waker (or consumes readiness recorded
//! since) before any syscall. Every other read-side operation (accept,
//! peek, datagrams, other async polls, readiness probes) goes through
//! `prepare`, which forgets the hint, since it may clear or consume
//! readiness without emptying the queue. The hint
//! is read and written only under the read lock. A blocking read on a
//! plain thread (which waits in level-triggered poll(2)) or on a socket
//! never bound ignores it; an async poll, whose waits are always on the
//! edge-triggered poller, uses it from any thread. Unix streams do not
//! use the hint (unix.rs).
//!
//! ## Async polls
//!
//! The `poll` submodule has the same loop for futures: a poll tries the
//! syscall and, on `EAGAIN`, registers the task's waker in the poll
//! descriptor and returns `Pending`, instead of parking.

use std::cell::OnceCell;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicPtr, AtomicU16, Ordering};
use std::time::{Duration, Instant};

use gort_runtime::engine::Lock;

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
    /// The descriptor of the current binding (`bind.current`), null until
    /// a goroutine waits, read here without the lock. It is the whole
    /// binding record, published through one pointer: its owner poller
    /// knows the key of its runtime, and neither changes.
    pd: AtomicPtr<PollDesc>,
    bind: Lock<Binding>,
    /// The async state (see the `poll` submodule: per-operation timeouts
    /// and the registered waker's identity), null until an async poll of
    /// the socket first registers a waker; freed with the socket.
    async_op: AtomicPtr<poll::AsyncOp>,
    /// The last read-side operation was a stream read that returned short,
    /// and nothing has reset the read readiness since (module docs,
    /// "Drained streams"). Accessed under the read lock only.
    drained: AtomicBool,
    /// The socket's home ([`crate::home`]; `home::NONE`: registered in
    /// the poller's root), set before its first binding and kept. An
    /// atomic so that it fits beside `fd` (a larger `NetFd` pushed a
    /// goroutine's task into a larger allocation and cost an idle
    /// connection 240 bytes); written under the `bind` lock.
    home: AtomicU16,
    /// Runs once in the next wait, between its checks and its park, so
    /// tests can reproduce interleavings there.
    #[cfg(test)]
    test_hook: std::sync::Mutex<Option<TestHook>>,
}

#[cfg(test)]
type TestHook = Box<dyn FnOnce(&NetFd) + Send>;

/// The socket's bindings to pollers.
///
/// A descriptor loaded from `NetFd::pd` may be in use by an operation on
/// any thread (a `prepare`, a wait, a deadline change or close waking it)
/// for as long as the socket lives, so neither the descriptor nor its
/// poller is released before [`NetFd::destroy`]: a socket that moves to a
/// new runtime keeps its old binding in `retired`. One entry per runtime
/// the socket outlived.
struct Binding {
    /// The poller and descriptor `NetFd::pd` points to.
    current: Option<(Arc<PollerInner>, &'static PollDesc)>,
    /// Bindings to pollers whose runtime is gone (deregistered already).
    retired: Vec<(Arc<PollerInner>, &'static PollDesc)>,
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
            bind: Lock::new(Binding { current: None, retired: Vec::new(), threads: [-1, -1] }),
            async_op: AtomicPtr::new(ptr::null_mut()),
            drained: AtomicBool::new(false),
            home: AtomicU16::new(crate::home::NONE),
            #[cfg(test)]
            test_hook: std::sync::Mutex::new(None),
        }
    }

    /// Asks for the socket to be registered in the poller shard of `home`
    /// ([`crate::home`]) when it is first waited on. No effect once bound.
    pub(crate) fn set_home(&self, home: u16) {
        let b = self.bind.lock();
        if b.current.is_none() {
            self.home.store(home, Ordering::Relaxed);
        }
    }

    /// Where the socket is registered: `Some(None)` in its poller's root,
    /// `Some(Some(k))` in shard `k`, None before its first wait (for tests
    /// of [`crate::home`]).
    #[cfg(test)]
    pub(crate) fn shard(&self) -> Option<Option<usize>> {
        let b = self.bind.lock();
        b.current.as_ref().map(|(p, _)| p.shard_of(self.home.load(Ordering::Relaxed)))
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
    pub(crate) fn io<R>(&self, mode: Mode, op: impl FnMut(RawFd) -> io::Result<R>) -> io::Result<R> {
        gort_runtime::preempt_point();
        let _h = self.lock(mode)?;
        self.io_locked(mode, self.op_deadline(mode), op)
    }

    /// [`NetFd::io`] with `deadline` (nanotime, 0 for none) instead of the
    /// per-operation timeout; the absolute deadline of `mode` applies too.
    pub(crate) fn io_until<R>(
        &self,
        mode: Mode,
        deadline: i64,
        op: impl FnMut(RawFd) -> io::Result<R>,
    ) -> io::Result<R> {
        gort_runtime::preempt_point();
        let _h = self.lock(mode)?;
        self.io_locked(mode, deadline, op)
    }

    #[inline(always)]
    fn io_locked<R>(
        &self,
        mode: Mode,
        op_deadline: i64,
        op: impl FnMut(RawFd) -> io::Result<R>,
    ) -> io::Result<R> {
        self.prepare(mode, op_deadline)?;
        self.io_retry(mode, op_deadline, op)
    }

    /// The syscall loop of an operation: `op` until it stops failing with
    /// `EAGAIN`, waiting for readiness between tries.
    #[inline(always)]
    fn io_retry<R>(
        &self,
        mode: Mode,
        op_deadline: i64,
        mut op: impl FnMut(RawFd) -> io::Result<R>,
    ) -> io::Result<R> {
        loop {
            match op(self.fd) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.wait(mode, op_deadline)?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => return r,
            }
        }
    }

    /// A stream read of up to `len` bytes with `op` (a `recv`): as
    /// [`NetFd::io`] in the read direction, except that, if `drains`
    /// (a short read empties the receive queue), after a short read a
    /// goroutine's next read waits for readiness before its syscall
    /// (module docs, "Drained streams").
    #[inline]
    pub(crate) fn read_stream(
        &self,
        len: usize,
        drains: bool,
        op: impl FnMut(RawFd) -> io::Result<usize>,
    ) -> io::Result<usize> {
        gort_runtime::preempt_point();
        let _h = self.lock(Mode::Read)?;
        let op_deadline = self.op_deadline(Mode::Read);
        let r = if self.drained.swap(false, Ordering::Relaxed) && self.drain_trusted() {
            // No reset: readiness recorded since the short read stands.
            self.wait(Mode::Read, op_deadline)?;
            self.io_retry(Mode::Read, op_deadline, op)
        } else {
            self.io_locked(Mode::Read, op_deadline, op)
        };
        if let Ok(n) = r {
            self.drained.store(drains && n > 0 && n < len, Ordering::Relaxed);
        }
        r
    }

    /// Whether the drained hint may be trusted: the caller is a goroutine,
    /// and the socket is bound to a poller (a socket bound to another
    /// runtime waits in level-triggered poll(2)) and has reported no
    /// hang-up, error or urgent data (module docs).
    #[inline]
    fn drain_trusted(&self) -> bool {
        if !gort_runtime::engine::in_goroutine() {
            return false;
        }
        let pd = self.pd.load(Ordering::Acquire);
        // SAFETY: a published descriptor stays valid until destroy
        // (Binding), which cannot run while we hold the read lock.
        !pd.is_null() && !unsafe { &*pd }.no_drain()
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

    /// Checks for errors and clears stale readiness (Go: `pd.prepare`),
    /// and, in the read direction, the drained hint (module docs).
    #[inline]
    pub(crate) fn prepare(&self, mode: Mode, op_deadline: i64) -> io::Result<()> {
        if mode == Mode::Read {
            self.drained.store(false, Ordering::Relaxed);
        }
        self.check(mode, op_deadline)?;
        let pd = self.pd.load(Ordering::Acquire);
        if !pd.is_null() {
            // SAFETY: a published descriptor stays valid until destroy
            // (Binding), which cannot run while we hold the direction's lock.
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
            t => gort_runtime::engine::nanotime().saturating_add(t),
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
        if d != 0 && d <= gort_runtime::engine::nanotime() {
            return Err(crate::timed_out());
        }
        Ok(d)
    }

    /// Waits until `mode` may be ready, or fails with the close or deadline
    /// error. Go: `pd.wait` / `runtime_pollWait`.
    pub(crate) fn wait(&self, mode: Mode, op_deadline: i64) -> io::Result<()> {
        if gort_runtime::engine::in_goroutine() {
            if let Some(pd) = self.bound()? {
                self.check(mode, op_deadline)?;
                #[cfg(test)]
                self.run_test_hook();
                // The deadline is read again inside `block`, after it has
                // published the waiter: a deadline set before that is seen
                // there, one set after it wakes the waiter.
                while !pd.block(mode, || self.check(mode, op_deadline).ok()) {
                    self.check(mode, op_deadline)?;
                }
                return Ok(());
            }
            return gort_runtime::syscall(|| self.wait_thread(mode, op_deadline));
        }
        self.wait_thread(mode, op_deadline)
    }

    #[cfg(test)]
    fn run_test_hook(&self) {
        let hook = self.test_hook.lock().unwrap().take();
        if let Some(f) = hook {
            f(self);
        }
    }

    /// The descriptor bound to the current runtime's poller, binding it on
    /// first use; None if it is bound to another live runtime.
    #[inline]
    fn bound(&self) -> io::Result<Option<&'static PollDesc>> {
        let key = poller::current_key();
        let pd = self.pd.load(Ordering::Acquire);
        if !pd.is_null() {
            // SAFETY: a published descriptor and its poller stay valid
            // until destroy (Binding), which cannot run while we hold a
            // lock of the fd.
            let pd = unsafe { &*pd };
            if pd.owner().is_current(key) {
                return Ok(Some(pd));
            }
        }
        self.bind_slow(key)
    }

    #[cold]
    fn bind_slow(&self, key: usize) -> io::Result<Option<&'static PollDesc>> {
        let mut b = self.bind.lock();
        if let Some((p, pd)) = &b.current {
            if !p.is_dead() {
                // Bound to this runtime by a racing waiter, or to another
                // live runtime (then the caller waits in poll(2)).
                return Ok(p.is_current(key).then_some(*pd));
            }
            // Its runtime is gone: move to the current one, keeping the
            // old binding for whoever still uses its descriptor.
            p.deregister(self.fd, self.home.load(Ordering::Relaxed));
            let old = b.current.take().expect("matched above");
            b.retired.push(old);
            self.pd.store(ptr::null_mut(), Ordering::Release);
        }
        let Some(p) = poller::lookup(key) else {
            return Ok(None); // the runtime runs a poller that is not ours
        };
        let pd = p.cache.alloc(Arc::as_ptr(&p));
        if let Err(e) = p.register(self.fd, pd.token(), self.home.load(Ordering::Relaxed)) {
            p.cache.free(pd);
            return Err(e);
        }
        self.pd.store(pd as *const PollDesc as *mut PollDesc, Ordering::Release);
        b.current = Some((p, pd));
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
            d => ((d - gort_runtime::engine::nanotime()).max(0) as u64)
                .div_ceil(1_000_000)
                .min(i32::MAX as u64) as i32,
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
    /// deadlines. The caller has stored the new closing flag or deadline.
    ///
    /// The descriptor is read under the bind lock, not from `pd`: a waiter
    /// that binds publishes it under that lock, then checks the flag and
    /// deadlines. So either our lock comes first and the binder's check
    /// sees our store, or we see its descriptor; then the Dekker pair of
    /// [`PollDesc::block`] (its SeqCst `WAIT` and check against our SeqCst
    /// store and `unblock`) does the rest.
    fn wake_waiters(&self, mode: Mode) {
        let pd = {
            let b = self.bind.lock();
            let evfd = b.threads[mode as usize];
            if evfd >= 0 {
                // Under the lock: the thread unregisters under it before it
                // returns, so its eventfd is still open.
                let one = 1u64;
                // SAFETY: writes 8 bytes from a local to an open eventfd.
                unsafe { libc::write(evfd, (&raw const one).cast(), 8) };
            }
            b.current.as_ref().map(|&(_, pd)| pd)
        };
        if let Some(pd) = pd {
            // After the unlock: readying a goroutine needs no lock of ours.
            // The descriptor outlives the caller's reference (Binding).
            pd.wake(mode);
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
        let (current, retired, home) = {
            let mut b = self.bind.lock();
            (b.current.take(), std::mem::take(&mut b.retired), self.home.load(Ordering::Relaxed))
        };
        self.pd.store(ptr::null_mut(), Ordering::Release);
        if let Some((p, pd)) = current {
            p.deregister(self.fd, home);
            p.cache.free(pd);
        }
        for (p, pd) in retired {
            p.cache.free(pd); // deregistered when it was retired
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
        let op = *self.async_op.get_mut();
        if !op.is_null() {
            // SAFETY: the box was made by the `poll` submodule, and nothing
            // else refers to a socket being dropped.
            drop(unsafe { Box::from_raw(op) });
        }
    }
}

/// Converts an `Instant` to a nanotime deadline (both are CLOCK_MONOTONIC
/// based, but read them apart to stay independent of that). A past
/// instant becomes an already-expired deadline; never 0.
///
/// `t` is on the caller's clock ([`gort_runtime::time::now`]): inside a
/// synctest bubble the bubble's, whose instants run ahead of the real
/// ones. I/O waits are real (they are never durable, so a bubble's clock
/// stands still during them), so the deadline is as far from now in real
/// time as `t` is on the caller's clock, as Go's net deadlines in a bubble.
fn instant_to_nanotime(t: Instant) -> i64 {
    let now_i = gort_runtime::time::now();
    let now = gort_runtime::engine::nanotime();
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

mod poll;

#[cfg(test)]
mod tests;
