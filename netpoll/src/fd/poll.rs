//! The async side of [`NetFd`]: operations for futures, which register the
//! task's [`Waker`] where a goroutine would park.
//!
//! Go has no counterpart (its goroutines block); this follows tokio's
//! `PollEvented` contract on Go's machinery: a poll takes the direction's
//! lock, checks close and deadlines (Go: `netpollcheckerr`), clears stale
//! readiness (`pollReset`), tries the syscall, and on `EAGAIN` registers
//! the waker in the poll descriptor (pd.rs, state `WAKER`) and returns
//! `Pending`. The lock is held for that one poll only, so the registered
//! waker outlives it; readiness, close, a deadline change or the deadline
//! wake it, and the next poll tries again. No goroutine or thread waits on
//! the task's behalf, and the fd is not duplicated.
//!
//! ## A poll that is still registered
//!
//! Async callers poll more often than readiness changes: hyper polls a
//! connection's read side after each response it writes and, over HTTP/2,
//! each time a stream's task wakes the connection. A poll of the task
//! whose waker is registered in `mode`, while the word is still `WAKER`
//! (no readiness, close or deadline has come since the registration, or
//! it would have moved the word and woken that waker), answers `Pending`
//! without the syscall that would fail with `EAGAIN`, as tokio's cleared
//! readiness does. The task is recognised by its waker's identity
//! (`Waker::data` and `vtable`, what `will_wake` compares), recorded in
//! [`AsyncOp`] by the registration, under the direction's lock like every
//! read of it. The identity cannot be stale while the word is `WAKER`:
//! only a registration puts the word there, and every registration
//! records its waker; and the registered clone keeps that waker's data
//! alive, so no other waker can have the same address meanwhile. The
//! close and deadline checks still run first, so a closed socket or a
//! passed deadline fails at once.
//!
//! ## Which poller
//!
//! A waker can be woken by any runtime's poller, so a poll uses the
//! socket's current binding if its runtime is alive; otherwise it binds
//! the socket to the caller's runtime (the default runtime on a plain
//! thread), as a blocking call does. A registration from outside the
//! goroutines of the binding's runtime (a plain thread, or a goroutine of
//! another runtime) kicks the binding's runtime (`PollerInner::kick`,
//! through the runtime's `NetPollWaker`), since nothing else may make it
//! poll: every M of an idle runtime may be asleep, and its sysmon in its
//! deep sleep.
//!
//! ## Deadlines and timeouts
//!
//! Go's absolute deadlines (`set_deadline` and friends) apply as to a
//! blocking call: a poll after the deadline fails with `TimedOut`, and the
//! deadline timer wakes a registered waker, whose next poll fails. The
//! per-operation timeouts (`set_read_timeout`, `set_write_timeout`) bound
//! how long one task waits in one direction: the deadline is taken when a
//! poll of that task first has to wait (kept in [`AsyncOp`] with the
//! task's waker) and holds until a poll of the same task
//! ([`Waker::will_wake`]) completes, whatever the future; a poll of
//! another task starts afresh. So a read future dropped while it waits
//! leaves its deadline to the next read of the same task.
//!
//! ## Readiness
//!
//! [`NetFd::poll_ready`] is the readiness half alone (tokio's
//! `poll_read_ready`): its "syscall" is a zero-timeout poll(2) on the fd,
//! so readiness that arrived before the socket was bound, or that an
//! earlier edge reported and nobody consumed, is not missed.

use std::io;
use std::os::fd::RawFd;
use std::ptr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker, ready};

use super::NetFd;
use crate::pd::{Mode, PollDesc};
use crate::poller;

/// The async state per direction, allocated when a socket's async poll
/// first registers a waker: the operation in progress for its
/// per-operation timeout (its deadline, 0 for none, and its task's waker),
/// and the identity of the waker registered last (module docs, "A poll
/// that is still registered"). Written and read under the direction's lock
/// (the atomics only make the type `Sync`; Relaxed is enough).
pub(super) struct AsyncOp {
    deadline: [AtomicI64; 2],
    task: [Mutex<Option<Waker>>; 2],
    /// `Waker::data` and `Waker::vtable` of the registered waker as
    /// addresses, (0, 0) for none.
    registered: [[AtomicUsize; 2]; 2],
}

impl AsyncOp {
    /// Whether `waker` is the one registered last in `mode` (`will_wake`'s
    /// comparison).
    fn is_registered(&self, mode: Mode, waker: &Waker) -> bool {
        let [data, vtable] = &self.registered[mode as usize];
        data.load(Ordering::Relaxed) == waker.data() as usize
            && vtable.load(Ordering::Relaxed) == waker.vtable() as *const _ as usize
    }

    /// Records `waker` (or none) as the one registered in `mode`.
    fn set_registered(&self, mode: Mode, waker: Option<&Waker>) {
        let [data, vtable] = &self.registered[mode as usize];
        let (d, v) = waker.map_or((0, 0), |k| (k.data() as usize, k.vtable() as *const _ as usize));
        data.store(d, Ordering::Relaxed);
        vtable.store(v, Ordering::Relaxed);
    }
}

impl NetFd {
    /// Runs `op` once, or again after each readiness that a registration
    /// consumed, until it stops failing with `EAGAIN`; on `EAGAIN` with no
    /// readiness pending, registers the task and returns `Pending` (module
    /// docs).
    pub(crate) fn poll_io<R>(
        &self,
        mode: Mode,
        cx: &mut Context<'_>,
        mut op: impl FnMut(RawFd) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        let _h = match self.lock(mode) {
            Ok(h) => h,
            Err(e) => return Poll::Ready(Err(e)),
        };
        let r = self.poll_io_locked(mode, cx, &mut op);
        if r.is_ready() {
            self.end_async_op(mode);
        }
        r
    }

    /// An async stream read of up to `len` bytes with `op` (a `recv`): as
    /// [`NetFd::poll_io`] in the read direction, except that, if `drains`,
    /// after a short read the next poll waits for readiness before its
    /// syscall, keeping the readiness recorded since (fd.rs, "Drained
    /// streams", whose hint this shares with the blocking reads).
    #[cfg(any(feature = "tokio-io", feature = "futures-io", feature = "hyper"))]
    pub(crate) fn poll_read_stream(
        &self,
        cx: &mut Context<'_>,
        len: usize,
        drains: bool,
        mut op: impl FnMut(RawFd) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        let mode = Mode::Read;
        let _h = match self.lock(mode) {
            Ok(h) => h,
            Err(e) => return Poll::Ready(Err(e)),
        };
        let r = if self.drained.swap(false, Ordering::Relaxed) && self.async_drain_trusted() {
            self.poll_drained(cx, &mut op)
        } else {
            self.poll_io_locked(mode, cx, &mut op)
        };
        if let Poll::Ready(r) = &r {
            self.end_async_op(mode);
            if let Ok(n) = r {
                self.drained.store(drains && *n > 0 && *n < len, Ordering::Relaxed);
            }
        }
        r
    }

    /// The drained read: no `prepare` (its reset would drop readiness that
    /// came since the short read), the checks, then a registration, which
    /// consumes such readiness instead of waiting; then the usual loop.
    #[cfg(any(feature = "tokio-io", feature = "futures-io", feature = "hyper"))]
    fn poll_drained(
        &self,
        cx: &mut Context<'_>,
        op: &mut impl FnMut(RawFd) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        let mode = Mode::Read;
        let mut op_deadline = self.async_op_deadline(mode, cx.waker());
        self.check(mode, op_deadline)?;
        if op_deadline == 0 {
            op_deadline = self.start_async_op(mode, cx.waker());
        }
        ready!(self.poll_wait(mode, op_deadline, cx))?;
        loop {
            match op(self.fd) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    ready!(self.poll_wait(mode, op_deadline, cx))?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => return Poll::Ready(r),
            }
        }
    }

    /// Whether an async read may trust the drained hint: the socket is
    /// bound to a poller (edge-triggered, which every async wait uses,
    /// also from a plain thread) that has reported no hang-up, error or
    /// urgent data on it.
    #[cfg(any(feature = "tokio-io", feature = "futures-io", feature = "hyper"))]
    #[inline]
    fn async_drain_trusted(&self) -> bool {
        let pd = self.pd.load(Ordering::Acquire);
        if pd.is_null() {
            return false;
        }
        // SAFETY: a published descriptor stays valid until destroy
        // (Binding), which cannot run while we hold the read lock.
        let pd = unsafe { &*pd };
        !pd.no_drain() && !pd.owner().is_dead()
    }

    fn poll_io_locked<R>(
        &self,
        mode: Mode,
        cx: &mut Context<'_>,
        op: &mut impl FnMut(RawFd) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        let mut op_deadline = self.async_op_deadline(mode, cx.waker());
        if self.still_registered(mode, cx.waker()) {
            self.check(mode, op_deadline)?;
            return Poll::Pending;
        }
        self.prepare(mode, op_deadline)?;
        loop {
            match op(self.fd) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if op_deadline == 0 {
                        op_deadline = self.start_async_op(mode, cx.waker());
                    }
                    ready!(self.poll_wait(mode, op_deadline, cx))?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => return Poll::Ready(r),
            }
        }
    }

    /// Whether `mode` may be ready: `Ready(Ok(()))` once the fd is
    /// readable (data, end of file, an error, a connection to accept) or
    /// writable; `Pending` with the task registered otherwise. Close and
    /// deadlines end it with their errors.
    pub(crate) fn poll_ready(&self, mode: Mode, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_io(mode, cx, |fd| match crate::sys::poll_now(fd, mode)? {
            true => Ok(()),
            false => Err(io::ErrorKind::WouldBlock.into()),
        })
    }

    /// Registers the task for `mode`: `Pending` once registered,
    /// `Ready(Ok(()))` to try the syscall again (readiness was pending or
    /// came during the registration), or the close or deadline error.
    fn poll_wait(&self, mode: Mode, op_deadline: i64, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let pd = self.bound_async()?;
        let op = self.async_op_or_new();
        if pd.register(mode, cx.waker(), || self.check(mode, op_deadline).ok()) {
            op.set_registered(mode, Some(cx.waker()));
            if !gort_runtime::engine::in_goroutine() || !pd.owner().is_current(poller::current_key()) {
                pd.owner().kick();
            }
            return Poll::Pending;
        }
        op.set_registered(mode, None);
        self.check(mode, op_deadline)?;
        Poll::Ready(Ok(()))
    }

    /// Whether `waker` is registered in `mode` and nothing has woken it
    /// since (module docs, "A poll that is still registered").
    #[inline]
    fn still_registered(&self, mode: Mode, waker: &Waker) -> bool {
        let Some(op) = self.async_op() else { return false };
        if !op.is_registered(mode, waker) {
            return false;
        }
        let pd = self.pd.load(Ordering::Acquire);
        // SAFETY: a published descriptor stays valid until destroy
        // (Binding), which cannot run while we hold the direction's lock.
        !pd.is_null() && unsafe { &*pd }.has_waker(mode)
    }

    /// The descriptor to register with: the current binding if its
    /// runtime lives, else a new binding to the caller's runtime (module
    /// docs).
    fn bound_async(&self) -> io::Result<&'static PollDesc> {
        loop {
            let pd = self.pd.load(Ordering::Acquire);
            if !pd.is_null() {
                // SAFETY: a published descriptor and its poller stay valid
                // until destroy (Binding), which cannot run while we hold a
                // lock of the fd.
                let pd = unsafe { &*pd };
                if !pd.owner().is_dead() {
                    return Ok(pd);
                }
            }
            if let Some(pd) = self.bind_slow(poller::current_key())? {
                return Ok(pd);
            }
            // None: a racing waiter bound the socket to another live
            // runtime (take that binding), or this runtime has no gort
            // poller to bind to.
            if self.pd.load(Ordering::Acquire).is_null() {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "gort: this runtime's poller is not gort-netpoll's, so an async poll cannot wait on it; \
                     poll from a plain thread or a goroutine of a gort runtime",
                ));
            }
        }
    }

    /// The socket's async operation state, if it has one.
    fn async_op(&self) -> Option<&AsyncOp> {
        let p = self.async_op.load(Ordering::Acquire);
        // SAFETY: a published box lives until the socket's drop.
        (!p.is_null()).then(|| unsafe { &*p })
    }

    /// The socket's async operation state, made on first use.
    fn async_op_or_new(&self) -> &AsyncOp {
        if let Some(op) = self.async_op() {
            return op;
        }
        let new = Box::into_raw(Box::new(AsyncOp {
            deadline: [AtomicI64::new(0), AtomicI64::new(0)],
            task: [Mutex::new(None), Mutex::new(None)],
            registered: Default::default(),
        }));
        // The other direction's operation may install one first.
        match self.async_op.compare_exchange(ptr::null_mut(), new, Ordering::AcqRel, Ordering::Acquire) {
            // SAFETY: published now; the socket frees it in its drop, and
            // the borrow of `self` ends before that.
            Ok(_) => unsafe { &*new },
            Err(cur) => {
                // SAFETY: ours lost the race and was never shared.
                drop(unsafe { Box::from_raw(new) });
                // SAFETY: the winner published its box, which the socket
                // frees only in its drop, after this borrow of `self` ends.
                unsafe { &*cur }
            }
        }
    }

    /// The deadline of the async operation in progress in `mode` if it is
    /// the task of `waker`'s, else 0 (module docs).
    fn async_op_deadline(&self, mode: Mode, waker: &Waker) -> i64 {
        let i = mode as usize;
        let Some(op) = self.async_op() else { return 0 };
        let d = op.deadline[i].load(Ordering::Relaxed);
        if d == 0 {
            return 0;
        }
        let task = op.task[i].lock().unwrap_or_else(|e| e.into_inner());
        if task.as_ref().is_some_and(|k| k.will_wake(waker)) { d } else { 0 }
    }

    /// Starts the per-operation timeout of an async operation of `waker`'s
    /// task that has to wait; returns its deadline (0 with no timeout).
    fn start_async_op(&self, mode: Mode, waker: &Waker) -> i64 {
        let i = mode as usize;
        let t = self.timeout[i].load(Ordering::Relaxed);
        if t == 0 {
            return 0;
        }
        let op = self.async_op_or_new();
        let d = gort_runtime::engine::nanotime().saturating_add(t);
        let old = op.task[i].lock().unwrap_or_else(|e| e.into_inner()).replace(waker.clone());
        op.deadline[i].store(d, Ordering::Relaxed);
        drop(old); // after the unlock: a waker's drop may run anything
        d
    }

    /// The async operation in `mode` completed (or failed).
    fn end_async_op(&self, mode: Mode) {
        let i = mode as usize;
        if let Some(op) = self.async_op()
            && op.deadline[i].load(Ordering::Relaxed) != 0
        {
            op.deadline[i].store(0, Ordering::Relaxed);
            let old = op.task[i].lock().unwrap_or_else(|e| e.into_inner()).take();
            drop(old);
        }
    }
}

#[cfg(test)]
mod tests;
