//! The whole send and receive operations: fast paths, the locked attempt,
//! and parking (with or without a deadline) when they must wait.
//!
//! Go: runtime/chan.go (`chansend`, `chanrecv`).
//!
//! Parking follows the runtime's contract (`gort_runtime::engine::park`): the
//! waiter goes on the channel's queue under the lock, the goroutine parks,
//! and the park callback releases the lock once the goroutine is off its
//! stack. The party that dequeues the waiter (a counterpart, `close`, or the
//! deadline's callback) sets its state and readies it, after unlocking.
//!
//! ## Deadlines
//!
//! A deadline is a runtime timer whose callback takes the channel lock and,
//! only if the waiter is still queued, unlinks it, marks it timed out and
//! readies it. Whoever unlinks the waiter under the lock readies it, so
//! exactly one party does.
//!
//! The first attempt runs without a timer. If it would block, a goroutine
//! releases the lock, arms the timer (a `TimerNode` on its own frame), and
//! repeats the attempt under the lock before queueing. The timer is never
//! armed while holding the lock (arming may enter the scheduler), nor
//! after parking (once the lock is released a counterpart may ready the
//! goroutine and its frame may be gone). A timer
//! that fires before the waiter is queued records that in `fired` under
//! the lock, and the operation then times out without parking. The node is
//! dropped (stopped, waiting out a running callback) only after the lock
//! is released, since the callback takes it. A plain thread uses the
//! runtime's `park_timeout`, which runs the callback on the thread itself.
//!
//! ## A dropped runtime
//!
//! Every park is unwind-safe (`park_unwind_safe`): if the runtime is
//! dropped while a goroutine waits, the guard [`Unqueue`] unlinks its
//! waiter (or waits out the waker that took it) and drops the value the
//! operation still owns, so the channel stays usable by everyone else.

use std::cell::Cell;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::pin::pin;
use std::sync::atomic::Ordering;

use gort_runtime::engine::{
    TimerNode, WaitReason, in_goroutine, park_timeout_unwind_safe, park_unwind_safe, ready,
};
use gort_runtime::preempt_point;

use crate::hchan::{Attempt, HChan, Header};
use crate::waitq::{CLOSED, DONE, TIMED_OUT, WAITING, Waiter};

/// Not completed because it would have to wait and may not.
const WOULD_BLOCK: u8 = 4;

/// How long an operation may wait.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Not at all (`try_*`, a select with `default`).
    No,
    /// Until it can proceed.
    Forever,
    /// Until this instant of the caller's clock
    /// ([`gort_runtime::engine::now_nanos`]).
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
        let reason = self.hdr.check_bubble(
            "send",
            [WaitReason::ChanSend, WaitReason::ChanSendDurable, WaitReason::ChanSendNilChan],
        );
        // Lock-free fail of a non-blocking send (module docs of hchan).
        if wait == Wait::No && !self.hdr.closed.load(Ordering::Acquire) && self.full() {
            return Err((v, SendFail::Full));
        }
        let mut v = ManuallyDrop::new(v);
        let src: *mut T = &mut *v;
        let w = Waiter::new(None, src.cast());
        // SAFETY: `block` calls the attempt with the lock held; src is our
        // value, which the attempt moves out only when it reports Done.
        let state =
            block(&self.hdr, &w, false, reason, wait, drop_elem::<T>, || unsafe { self.send_locked(src) });
        let fail = match state {
            // The receiver (or the buffer) has the value now.
            DONE => return Ok(()),
            CLOSED => SendFail::Closed,
            WOULD_BLOCK => SendFail::Full,
            _ => SendFail::Timeout,
        };
        Err((ManuallyDrop::into_inner(v), fail))
    }

    /// Go: `chanrecv`.
    #[inline]
    pub(crate) fn recv(&self, wait: Wait) -> Result<T, RecvFail> {
        let reason = self.hdr.check_bubble(
            "receive",
            [WaitReason::ChanReceive, WaitReason::ChanReceiveDurable, WaitReason::ChanReceiveNilChan],
        );
        // An expired timer's value must be there to take (Go 1.23).
        self.hdr.run_timer_if_due();
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
        let mut slot = MaybeUninit::<T>::uninit();
        let dst = slot.as_mut_ptr();
        let w = Waiter::new(None, dst.cast());
        // SAFETY: `block` calls the attempt with the lock held; dst is
        // writable.
        let state =
            block(&self.hdr, &w, true, reason, wait, drop_elem::<T>, || unsafe { self.recv_locked(dst) });
        match state {
            // SAFETY: DONE means a value was written into slot.
            DONE => Ok(unsafe { slot.assume_init() }),
            CLOSED => Err(RecvFail::Closed),
            WOULD_BLOCK => Err(RecvFail::Empty),
            _ => Err(RecvFail::Timeout),
        }
    }
}

/// Drops the `T` at `p` (a parked operation's value or slot, see
/// [`Unqueue`]).
///
/// # Safety
/// `p` holds a valid `T` that nobody else owns.
unsafe fn drop_elem<T>(p: *mut u8) {
    // SAFETY: guaranteed by the caller.
    unsafe { std::ptr::drop_in_place(p.cast::<T>()) }
}

/// The unwind guard of a parked send or receive (see
/// `gort_runtime::engine::park`'s docs): armed across the park, it runs only if
/// the goroutine's runtime is dropped meanwhile and its stack unwound.
/// Unlinks the waiter if it is still queued; otherwise a counterpart,
/// `close` or the deadline took it, and may still be on its way to
/// `ready`, which is waited out. Then the value is settled: a send's value
/// that did not move, or a value received into the slot, is dropped.
struct Unqueue<'a> {
    h: &'a Header,
    w: &'a Waiter,
    is_recv: bool,
    drop_elem: unsafe fn(*mut u8),
}

impl Drop for Unqueue<'_> {
    fn drop(&mut self) {
        let (h, w) = (self.h, self.w);
        h.lock.lock();
        let q = if self.is_recv { &h.recvq } else { &h.sendq };
        // SAFETY: we hold the lock; w is queued on q if anywhere.
        let queued = unsafe { q.remove(w) };
        // SAFETY: we hold the lock.
        unsafe { h.lock.unlock() };
        if !queued {
            gort_runtime::engine::wait_for_waker();
        }
        let moved = w.state.get() == DONE;
        if moved == self.is_recv {
            // SAFETY: a receive's slot holds the value a counterpart moved
            // in (DONE); a send's value is still ours unless it moved.
            unsafe { (self.drop_elem)(w.elem.get()) };
        }
    }
}

/// Finishes an attempt made under the lock: unlocks, readies the
/// counterpart, and says how it ended, or returns None to go on waiting
/// (still locked).
#[inline(always)]
fn settle(h: &Header, a: Attempt) -> Option<u8> {
    match a {
        Attempt::Done(g) => {
            // SAFETY: the caller holds the lock.
            unsafe { h.lock.unlock() };
            if let Some(g) = g {
                // SAFETY: the attempt dequeued g's waiter under the lock.
                unsafe { ready(g) };
            }
            Some(DONE)
        }
        Attempt::Closed => {
            // SAFETY: the caller holds the lock.
            unsafe { h.lock.unlock() };
            Some(CLOSED)
        }
        Attempt::Block => None,
    }
}

/// The body of a send or receive: try under the lock, then wait as `wait`
/// allows, queueing `w` on the receive or send queue. Returns DONE, CLOSED,
/// WOULD_BLOCK or TIMED_OUT.
#[inline(always)]
fn block(
    h: &Header,
    w: &Waiter,
    is_recv: bool,
    reason: WaitReason,
    wait: Wait,
    drop_elem: unsafe fn(*mut u8),
    mut attempt: impl FnMut() -> Attempt,
) -> u8 {
    h.lock.lock();
    if let Some(state) = settle(h, attempt()) {
        // A blocking operation is a preemption point (Go checks at every
        // function entry); one that parks goes through the scheduler
        // anyway, so only one that completed at once needs the check.
        if wait != Wait::No {
            preempt_point();
        }
        return state;
    }
    let deadline = match wait {
        Wait::No => {
            // SAFETY: we hold the lock.
            unsafe { h.lock.unlock() };
            return WOULD_BLOCK;
        }
        Wait::Forever => None,
        Wait::Until(d) => {
            // The deadline is on the caller's clock (its bubble's, in one).
            if d <= gort_runtime::engine::now_nanos() {
                // SAFETY: we hold the lock.
                unsafe { h.lock.unlock() };
                return TIMED_OUT;
            }
            if in_goroutine() {
                // SAFETY: we hold the lock.
                unsafe { h.lock.unlock() };
                return block_timed(h, w, is_recv, reason, d, drop_elem, attempt);
            }
            Some(d)
        }
    };
    let q = if is_recv { &h.recvq } else { &h.sendq };
    // SAFETY: we hold the lock; w stays on the caller's frame until we are
    // readied (by whoever unlinks it).
    unsafe { q.enqueue(w) };
    let lock = &h.lock;
    let unlock = |g| {
        // Only holders of the lock read `w.g`, so it can be filled in here
        // (we are off our stack, still holding the lock), which saves
        // looking the goroutine up.
        w.g.set(Some(g));
        // SAFETY: we hold the lock (taken before queueing w).
        unsafe { lock.unlock() };
        true
    };
    let guard = Unqueue { h, w, is_recv, drop_elem };
    match deadline {
        None => park_unwind_safe(reason, unlock),
        Some(d) => {
            // A plain thread: park_timeout runs on_timeout on this thread.
            let arg = TimeoutArg { hdr: h, w, is_recv, fired: Cell::new(false) };
            park_timeout_unwind_safe(reason, d, on_timeout, &arg as *const TimeoutArg as usize, unlock);
        }
    }
    std::mem::forget(guard);
    debug_assert_ne!(w.state.get(), WAITING, "woken without a state");
    w.state.get()
}

/// A goroutine's wait with a deadline (module docs).
#[cold]
#[inline(never)]
fn block_timed(
    h: &Header,
    w: &Waiter,
    is_recv: bool,
    reason: WaitReason,
    deadline: i64,
    drop_elem: unsafe fn(*mut u8),
    mut attempt: impl FnMut() -> Attempt,
) -> u8 {
    let arg = TimeoutArg { hdr: h, w, is_recv, fired: Cell::new(false) };
    // Declared after `arg`, so dropped (stopped) before it.
    let node = pin!(TimerNode::new(on_timeout, &arg as *const TimeoutArg as usize));
    node.as_ref().reset(deadline, 0);
    h.lock.lock();
    if let Some(state) = settle(h, attempt()) {
        return state;
    }
    if arg.fired.get() {
        // SAFETY: we hold the lock.
        unsafe { h.lock.unlock() };
        return TIMED_OUT;
    }
    let q = if is_recv { &h.recvq } else { &h.sendq };
    // SAFETY: we hold the lock; w lives on the caller's frame until readied.
    unsafe { q.enqueue(w) };
    let lock = &h.lock;
    // Dropped (on a forced unwind only) before `node`: the timer is
    // detached by then anyway.
    let guard = Unqueue { h, w, is_recv, drop_elem };
    park_unwind_safe(reason, |g| {
        w.g.set(Some(g)); // as in `block`
        // SAFETY: we hold the lock.
        unsafe { lock.unlock() };
        true
    });
    std::mem::forget(guard);
    w.state.get()
}

/// What the deadline callback needs: the waiter and its queue.
struct TimeoutArg<'a> {
    hdr: &'a Header,
    w: &'a Waiter,
    is_recv: bool,
    /// Set under the lock when the deadline passed.
    fired: Cell<bool>,
}

/// The deadline of a send or receive passed.
fn on_timeout(arg: usize, _delay: i64) {
    // SAFETY: arg is the TimeoutArg on the waiting operation's frame, which
    // outlives the timer (the timer is stopped, waiting for this callback,
    // before the frame goes).
    let a = unsafe { &*(arg as *const TimeoutArg) };
    a.hdr.lock.lock();
    a.fired.set(true);
    let q = if a.is_recv { &a.hdr.recvq } else { &a.hdr.sendq };
    // SAFETY: we hold the lock; w is queued on q if anywhere.
    if !unsafe { q.remove(a.w) } {
        // Not queued yet (the operation will see `fired`), or a
        // counterpart or close got there first and readies it.
        // SAFETY: we hold the lock.
        unsafe { a.hdr.lock.unlock() };
        return;
    }
    a.w.state.set(TIMED_OUT);
    let g = a.w.gref();
    // SAFETY: we hold the lock.
    unsafe { a.hdr.lock.unlock() };
    // SAFETY: we unlinked the waiter under the lock: only we ready it.
    unsafe { ready(g) };
}
