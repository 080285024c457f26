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
use std::sync::atomic::{AtomicI64, Ordering};
use std::task::{Context, Poll, Waker, ready};

use super::NetFd;
use crate::pd::{Mode, PollDesc};
use crate::poller;

/// The async operation in progress per direction, for its per-operation
/// timeout (module docs): its deadline (0: none) and its task's waker.
/// Written under the direction's lock.
pub(super) struct AsyncOp {
    deadline: [AtomicI64; 2],
    task: [Mutex<Option<Waker>>; 2],
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

    fn poll_io_locked<R>(
        &self,
        mode: Mode,
        cx: &mut Context<'_>,
        op: &mut impl FnMut(RawFd) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        let mut op_deadline = self.async_op_deadline(mode, cx.waker());
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
        if pd.register(mode, cx.waker(), || self.check(mode, op_deadline).ok()) {
            if !gort_runtime::engine::in_goroutine() || !pd.owner().is_current(poller::current_key()) {
                pd.owner().kick();
            }
            return Poll::Pending;
        }
        self.check(mode, op_deadline)?;
        Poll::Ready(Ok(()))
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
        let op = match self.async_op() {
            Some(op) => op,
            None => {
                let new = Box::into_raw(Box::new(AsyncOp {
                    deadline: [AtomicI64::new(0), AtomicI64::new(0)],
                    task: [Mutex::new(None), Mutex::new(None)],
                }));
                // The other direction's operation may install one first.
                match self.async_op.compare_exchange(
                    ptr::null_mut(),
                    new,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    // SAFETY: published now; it lives until the socket's drop.
                    Ok(_) => unsafe { &*new },
                    Err(cur) => {
                        // SAFETY: ours lost the race and was never shared.
                        drop(unsafe { Box::from_raw(new) });
                        // SAFETY: the winner's, published, lives as above.
                        unsafe { &*cur }
                    }
                }
            }
        };
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
