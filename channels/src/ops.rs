//! The whole send and receive operations: fast paths, the locked attempt,
//! and parking (with or without a deadline) when they must wait.
//!
//! Go: runtime/chan.go (`chansend`, `chanrecv`).
//!
//! Parking follows the runtime's contract (`gort_runtime::park`): the
//! waiter goes on the channel's queue under the lock, the goroutine parks,
//! and the park callback releases the lock once the goroutine is off its
//! stack. The party that dequeues the waiter (a counterpart, `close`, or the
//! deadline's callback) sets its state and readies it, after unlocking.
//!
//! Deadlines use the runtime's one timer machinery (`park_timeout`): the
//! callback takes the channel lock and, only if the waiter is still queued,
//! unlinks it, marks it timed out and readies it. Whoever unlinks the
//! waiter under the lock readies it, so exactly one party does.

use std::mem::{ManuallyDrop, MaybeUninit};

use gort_runtime::{WaitReason, current_g, nanotime, park, park_timeout, preempt_point, ready};

use crate::hchan::{Attempt, HChan, Header};
use crate::waitq::{CLOSED, DONE, TIMED_OUT, WAITING, Waiter};

/// How long an operation may wait.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Not at all (`try_*`, a select with `default`).
    No,
    /// Until it can proceed.
    Forever,
    /// Until this [`nanotime`] instant.
    Until(i64),
}

/// Why a send did not happen; the value comes back.
pub(crate) enum SendFail {
    Full,
    Closed,
    Timeout,
}

/// Why a receive got no value.
pub(crate) enum RecvFail {
    Empty,
    Closed,
    Timeout,
}

impl<T> HChan<T> {
    /// Go: `chansend`.
    #[inline]
    pub(crate) fn send(&self, v: T, wait: Wait) -> Result<(), (T, SendFail)> {
        // Lock-free fail of a non-blocking send (module docs of hchan).
        if wait == Wait::No && !self.hdr.closed.load(Ordering::Acquire) && self.full() {
            return Err((v, SendFail::Full));
        }
        if wait != Wait::No {
            preempt_point();
        }
        let mut v = ManuallyDrop::new(v);
        let src: *mut T = &mut *v;
        let h = &self.hdr;
        h.lock.lock();
        // SAFETY: we hold the lock; src is our value.
        match unsafe { self.send_locked(src) } {
            Attempt::Done(g) => {
                // SAFETY: we hold the lock.
                unsafe { h.lock.unlock() };
                if let Some(g) = g {
                    // SAFETY: send_locked dequeued g's waiter under the lock.
                    unsafe { ready(g) };
                }
                return Ok(());
            }
            Attempt::Closed => {
                // SAFETY: we hold the lock.
                unsafe { h.lock.unlock() };
                return Err((ManuallyDrop::into_inner(v), SendFail::Closed));
            }
            Attempt::Block => {}
        }
        if let Some(fail) = give_up(wait, SendFail::Full, SendFail::Timeout) {
            // SAFETY: we hold the lock.
            unsafe { h.lock.unlock() };
            return Err((ManuallyDrop::into_inner(v), fail));
        }
        let w = Waiter::new(Some(current_g()), src.cast(), false);
        // SAFETY: we hold the lock; w stays on this frame until we are
        // readied (by whoever unlinks it).
        unsafe { h.sendq.enqueue(&w) };
        park_on(h, &w, WaitReason::ChanSend, wait, false);
        match w.state.get() {
            // The receiver moved the value out of `v`.
            DONE => Ok(()),
            CLOSED => Err((ManuallyDrop::into_inner(v), SendFail::Closed)),
            _ => Err((ManuallyDrop::into_inner(v), SendFail::Timeout)),
        }
    }

    /// Go: `chanrecv`.
    #[inline]
    pub(crate) fn recv(&self, wait: Wait) -> Result<T, RecvFail> {
        if wait == Wait::No && self.empty() {
            // Lock-free fail of a non-blocking receive (module docs of
            // hchan): empty, then open, means it was open and empty.
            if !self.hdr.closed.load(Ordering::Acquire) {
                return Err(RecvFail::Empty);
            }
            if self.empty() {
                return Err(RecvFail::Closed);
            }
        }
        if wait != Wait::No {
            preempt_point();
        }
        let mut slot = MaybeUninit::<T>::uninit();
        let h = &self.hdr;
        h.lock.lock();
        // SAFETY: we hold the lock; slot is writable.
        match unsafe { self.recv_locked(slot.as_mut_ptr()) } {
            Attempt::Done(g) => {
                // SAFETY: we hold the lock.
                unsafe { h.lock.unlock() };
                if let Some(g) = g {
                    // SAFETY: recv_locked dequeued g's waiter under the lock.
                    unsafe { ready(g) };
                }
                // SAFETY: Done wrote a value into slot.
                return Ok(unsafe { slot.assume_init() });
            }
            Attempt::Closed => {
                // SAFETY: we hold the lock.
                unsafe { h.lock.unlock() };
                return Err(RecvFail::Closed);
            }
            Attempt::Block => {}
        }
        if let Some(fail) = give_up(wait, RecvFail::Empty, RecvFail::Timeout) {
            // SAFETY: we hold the lock.
            unsafe { h.lock.unlock() };
            return Err(fail);
        }
        let w = Waiter::new(Some(current_g()), slot.as_mut_ptr().cast(), false);
        // SAFETY: we hold the lock; w stays on this frame until readied.
        unsafe { h.recvq.enqueue(&w) };
        park_on(h, &w, WaitReason::ChanReceive, wait, true);
        match w.state.get() {
            // SAFETY: DONE means a sender wrote a value into slot.
            DONE => Ok(unsafe { slot.assume_init() }),
            CLOSED => Err(RecvFail::Closed),
            _ => Err(RecvFail::Timeout),
        }
    }
}

use std::sync::atomic::Ordering;

/// After a failed locked attempt: the error to return at once, if the
/// operation may not wait (or its deadline has passed).
#[inline]
fn give_up<E>(wait: Wait, would_block: E, timeout: E) -> Option<E> {
    match wait {
        Wait::No => Some(would_block),
        Wait::Forever => None,
        Wait::Until(d) if d <= nanotime() => Some(timeout),
        Wait::Until(_) => None,
    }
}

/// What the deadline callback needs: the waiter and its queue.
struct TimeoutArg<'a> {
    hdr: &'a Header,
    w: &'a Waiter,
    is_recv: bool,
}

/// Parks on `h` with the lock held and `w` queued; returns once readied.
#[inline]
fn park_on(h: &Header, w: &Waiter, reason: WaitReason, wait: Wait, is_recv: bool) {
    let lock = &h.lock;
    match wait {
        Wait::Until(deadline) => {
            let arg = TimeoutArg { hdr: h, w, is_recv };
            park_timeout(reason, deadline, on_timeout, &arg as *const TimeoutArg as usize, |_| {
                // SAFETY: we hold the lock (taken before queueing w).
                unsafe { lock.unlock() };
                true
            });
        }
        _ => park(reason, |_| {
            // SAFETY: as above.
            unsafe { lock.unlock() };
            true
        }),
    }
    debug_assert_ne!(w.state.get(), WAITING, "woken without a state");
}

/// The deadline of a parked send or receive passed.
fn on_timeout(arg: usize, _delay: i64) {
    // SAFETY: arg is the TimeoutArg on the parked operation's frame;
    // park_timeout does not return (so the frame lives) while this runs.
    let a = unsafe { &*(arg as *const TimeoutArg) };
    a.hdr.lock.lock();
    if !a.w.is_queued() {
        // A counterpart or close got there first and readies it.
        // SAFETY: we hold the lock.
        unsafe { a.hdr.lock.unlock() };
        return;
    }
    let q = if a.is_recv { &a.hdr.recvq } else { &a.hdr.sendq };
    // SAFETY: we hold the lock; w is queued on q.
    unsafe { q.remove(a.w) };
    a.w.state.set(TIMED_OUT);
    let g = a.w.gref();
    // SAFETY: we hold the lock.
    unsafe { a.hdr.lock.unlock() };
    // SAFETY: we unlinked the waiter under the lock: only we ready it.
    unsafe { ready(g) };
}
