//! park / ready: the one way every gort primitive blocks a goroutine and
//! another wakes it. Channels, sync and netpoll build only on this.
//!
//! Go: runtime/proc.go (`gopark`, `goparkunlock`, `goready`, `Gosched`,
//! `goyield`).
//!
//! ## The contract
//!
//! A primitive that must block:
//! 1. takes its own lock (a [`crate::engine::RawLock`] or [`crate::engine::Lock`]);
//! 2. finds it must wait, records [`current_g`] in its wait queue (Go: a
//!    `sudog`), and calls [`park`] with an unlock callback, still holding
//!    the lock;
//! 3. `park` switches to the scheduler, marks the goroutine waiting, and
//!    only then calls the callback, which releases the lock and returns
//!    true (stay parked) or false (resume at once: the condition changed).
//!
//! A waker takes the same lock, removes the waiter from the queue, releases
//! the lock and then calls [`ready`]. Because the callback runs after the
//! goroutine is off its stack, and wakers only find the goroutine through
//! the lock, a goroutine is never readied while it still runs: no lost
//! wake-up, and no lock per goroutine.
//!
//! Rules:
//! - every `park` is matched by exactly one `ready` (or by the callback
//!   returning false); readying twice, or readying a goroutine that is not
//!   parked, corrupts the scheduler, which is why [`ready`] is `unsafe`;
//! - never call `ready` while holding the lock the waiter is queued under
//!   (Go: "never ready a G while holding c.lock"): release it first;
//! - the unlock callback runs on the scheduler's stack: it must not block,
//!   park, or panic;
//! - a readied goroutine goes to the waker's P's `runnext` and runs next,
//!   inheriting the time slice; from a plain thread it goes to the global
//!   queue.
//!
//! ## synctest bubbles
//!
//! For a goroutine of a synctest bubble, the scheduler runs the unlock
//! callback between two updates of the bubble's counts (`synctest`
//! module): if the wait reason is durable ([`WaitReason::is_durable`]) the
//! goroutine stops counting as running, and the bubble is held active
//! until the callback has decided; [`ready`] counts it running again.
//! Outside bubbles each of these is one test of the G's null bubble
//! pointer.
//!
//! ## Outside goroutines
//!
//! Called from a plain OS thread (main before a runtime runs, a foreign
//! thread), [`current_g`] returns a stand-in G for the thread and [`park`]
//! blocks the thread on a futex after running the callback; [`ready`] on
//! such a G wakes the thread. Primitives need no special case: a channel
//! can connect a goroutine and a plain thread.
//!
//! ## Timeouts
//!
//! [`park_timeout`] parks with a deadline: at the deadline `on_timeout(arg)`
//! runs (on a timer for a goroutine, on the thread itself for a thread). It
//! must take the primitive's lock, and ready the waiter only if the waiter
//! is still queued, so that exactly one of the waker and the timeout
//! readies it. When `park_timeout` returns, `on_timeout` is not running and
//! will not run.
//!
//! A park callback may be running on one M while the goroutine it parked
//! has already been readied and resumed on another: once the callback has
//! released the primitive's lock, it must not touch anything on the parked
//! goroutine's stack.
//!
//! ## When the runtime is dropped: unwind guards
//!
//! Dropping a [`crate::Runtime`] force-unwinds the stacks of its goroutines
//! that never finished, so that their destructors run (sockets close,
//! channel ends drop; see [`crate::unwind`]). A goroutine parked at a
//! primitive is unwound from inside `park`, on a plain thread, while its
//! waiter record (on the stack being unwound) may still be queued in the
//! primitive; once the stack is reused, a queued record is a dangling
//! pointer. So a primitive may let its waiters be unwound only if it
//! cleans up after itself, and says so by parking with
//! [`park_unwind_safe`] (or [`park_timeout_unwind_safe`]):
//! - the park site arms a drop guard across the park and disarms it
//!   (`mem::forget`) when `park` returns: no cost on the normal path;
//! - on a forced unwind the guard takes the primitive's lock and unlinks
//!   the waiter if it is still queued (then nobody will ready it); if a
//!   waker already dequeued it, the guard settles what the waker handed
//!   over (drops a received value, gives back a granted unit) and calls
//!   [`crate::unwind::wait_for_waker`] before the record's frame goes, since
//!   the waker may still be on its way to `ready`;
//! - the guard must not block on anything but the primitive's own lock.
//!
//! A goroutine parked through the plain [`park`] is never unwound: its
//! runtime then keeps its stacks and Gs mapped forever (leaks them) rather
//! than pull memory from under a waiter record a plain thread may still
//! reach. Yield and preemption points are always unwind-safe.

use std::pin::pin;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::g::{G, GRef, ParkFn, Suspend, WaitReason, status};
use crate::m;
use crate::proc;
use crate::timer::{TimerFn, TimerNode};

/// A plain thread's stand-in G, registered for the deadlock detector for
/// as long as the thread lives.
struct ThreadG(Box<G>);

impl ThreadG {
    fn new() -> ThreadG {
        let g = Box::new(G::new(true));
        crate::checkdead::register_thread(&g);
        ThreadG(g)
    }
}

impl Drop for ThreadG {
    fn drop(&mut self) {
        crate::checkdead::unregister_thread(&self.0);
    }
}

thread_local! {
    static THREAD_G: ThreadG = ThreadG::new();
}

/// The calling goroutine, or the calling thread's stand-in G.
#[inline]
pub fn current_g() -> GRef {
    match m::current_goroutine() {
        Some(g) => g,
        None => thread_g(),
    }
}

/// Whether the caller runs in a goroutine (rather than on a plain thread).
#[inline]
pub fn in_goroutine() -> bool {
    m::current_goroutine().is_some()
}

#[inline(never)]
fn thread_g() -> GRef {
    // The G lives as long as the thread; a GRef to it is only used while
    // the thread is parked or running, i.e. alive.
    THREAD_G.with(|g| GRef::from_ref(&g.0))
}

/// Blocks the caller until another party calls [`ready`] on it (see the
/// module docs). `unlock` runs once the caller is parked; it returns
/// whether to stay parked. Go: `gopark`.
///
/// A goroutine parked here is not unwound when its runtime is dropped
/// (module docs): primitives that clean up after a forced unwind use
/// [`park_unwind_safe`].
pub fn park<F: FnOnce(GRef) -> bool>(reason: WaitReason, unlock: F) {
    park_as::<F, false>(reason, unlock)
}

/// [`park`] for a park site guarded against forced unwinding (module
/// docs): if the runtime is dropped while the goroutine waits here, its
/// stack is unwound from inside this call, and the caller's drop guard
/// must unlink the waiter.
pub fn park_unwind_safe<F: FnOnce(GRef) -> bool>(reason: WaitReason, unlock: F) {
    park_as::<F, true>(reason, unlock)
}

#[inline(always)]
fn park_as<F: FnOnce(GRef) -> bool, const GUARDED: bool>(reason: WaitReason, unlock: F) {
    match m::with_m(|ml| ml.map(proc::blockable)) {
        Some(g) => park_goroutine::<F, GUARDED>(g, reason, unlock),
        None => park_thread(thread_g(), reason, unlock, None),
    }
}

#[inline(always)]
fn park_goroutine<F: FnOnce(GRef) -> bool, const GUARDED: bool>(g: GRef, reason: WaitReason, unlock: F) {
    // SAFETY: g is the running goroutine.
    let gp = unsafe { g.get() };
    gp.set_wait_reason(reason);
    if !GUARDED {
        // SAFETY: g is the running goroutine: it owns its G; a short borrow.
        unsafe { gp.inner() }.park_unguarded = true;
    }
    // The scheduler moves the closure out of this frame and runs it once,
    // before anyone can ready us (so this frame is intact until then); it
    // must not be dropped here afterwards.
    let mut f = std::mem::ManuallyDrop::new(unlock);
    proc::suspend(Suspend::Park(ParkFn::new(&mut f)));
    // SAFETY: we are g again (possibly on another thread).
    let gp = unsafe { g.get() };
    gp.clear_wait_reason();
    if !GUARDED {
        // SAFETY: we run as g again after the resume, so g owns its G; the
        // borrow of the inner fields ends with this statement.
        unsafe { gp.inner() }.park_unguarded = false;
    }
}

/// Parks a thread's stand-in G. With a deadline, on timeout runs
/// `on_timeout` itself, then waits for whichever ready comes.
fn park_thread<F: FnOnce(GRef) -> bool>(
    g: GRef,
    reason: WaitReason,
    unlock: F,
    timeout: Option<(i64, TimerFn, usize)>,
) {
    // SAFETY: g is this thread's own stand-in, alive while the thread is.
    let gp = unsafe { g.get() };
    gp.set_wait_reason(reason);
    gp.timed_wait.store(timeout.is_some(), Ordering::SeqCst);
    gp.status.store(status::WAITING, Ordering::SeqCst);
    if unlock(g) {
        if timeout.is_none() {
            // This thread may be the last one that could make progress.
            crate::checkdead::request();
        }
        if let Some((deadline, on_timeout, arg)) = timeout {
            let left = deadline - crate::sys::nanotime();
            if left <= 0 || !gp.note.sleep_timeout(Duration::from_nanos(left as u64)) {
                // Exactly one of the waker and on_timeout readies us; wait
                // for it below either way.
                on_timeout(arg, 0);
            }
        }
        gp.note.sleep();
        gp.note.clear();
    }
    gp.status.store(status::RUNNING, Ordering::Relaxed);
    gp.clear_wait_reason();
}

/// [`park`] with a deadline (a [`crate::engine::nanotime`] instant): unless readied
/// first, `on_timeout(arg, delay)` runs at the deadline and must ready the
/// waiter if it is still queued (module docs). The timer is armed before
/// `unlock` runs, so `on_timeout` may start before `unlock` has released
/// the primitive's lock (it then blocks on that lock); if `unlock` returns
/// false, the waiter must not be left in the queue. Like [`park`], not
/// unwound when the runtime is dropped.
pub fn park_timeout<F: FnOnce(GRef) -> bool>(
    reason: WaitReason,
    deadline: i64,
    on_timeout: TimerFn,
    arg: usize,
    unlock: F,
) {
    park_timeout_as::<F, false>(reason, deadline, on_timeout, arg, unlock)
}

/// [`park_timeout`] for a park site guarded against forced unwinding, as
/// [`park_unwind_safe`]. The timer dies with the runtime (shutdown detaches
/// every timer first), so `on_timeout` does not run during the unwinding.
pub fn park_timeout_unwind_safe<F: FnOnce(GRef) -> bool>(
    reason: WaitReason,
    deadline: i64,
    on_timeout: TimerFn,
    arg: usize,
    unlock: F,
) {
    park_timeout_as::<F, true>(reason, deadline, on_timeout, arg, unlock)
}

#[inline(always)]
fn park_timeout_as<F: FnOnce(GRef) -> bool, const GUARDED: bool>(
    reason: WaitReason,
    deadline: i64,
    on_timeout: TimerFn,
    arg: usize,
    unlock: F,
) {
    match m::with_m(|ml| ml.map(proc::blockable)) {
        Some(g) => {
            // SAFETY: g is the running goroutine.
            let bubble = unsafe { g.get() }.bubble.load(Ordering::Relaxed);
            let node = pin!(TimerNode::new(on_timeout, arg));
            let node = node.as_ref();
            park_goroutine::<_, GUARDED>(g, reason, move |g| {
                // Arm before `unlock` releases the primitive's lock: once it
                // does, a waker may ready this goroutine, which may resume
                // elsewhere and drop `node` (it lives on its stack). Armed
                // first, the timer may fire before `unlock` returns;
                // `on_timeout` then waits on the primitive's lock.
                // On the goroutine's clock: a bubble's timer in a bubble.
                node.reset_on(bubble, deadline, 0);
                let keep = unlock(g);
                if !keep {
                    // Not parked: nobody else can ready us, so `node` is
                    // still ours to stop (this waits out a firing callback,
                    // which finds the waiter gone).
                    node.stop();
                }
                keep
            });
            // Dropping `node` stops the timer and waits out a callback in
            // flight: on_timeout is done when we return.
        }
        None => park_thread(thread_g(), reason, unlock, Some((deadline, on_timeout, arg))),
    }
}

/// Makes a parked goroutine runnable, or wakes a parked thread. Go:
/// `goready`.
///
/// # Safety
/// `g` must be parked by [`park`]/[`park_timeout`] and not readied since,
/// and the caller must be the one party entitled to ready it (it took `g`
/// out of a wait queue under the queue's lock, or won the race on it).
pub unsafe fn ready(g: GRef) {
    // SAFETY: the caller guarantees g is parked and ours to wake.
    let gp = unsafe { g.get() };
    if gp.is_thread {
        gp.status.store(status::RUNNABLE, Ordering::SeqCst);
        crate::checkdead::THREAD_READIES.fetch_add(1, Ordering::Relaxed);
        gp.note.wakeup();
        return;
    }
    if !gp.bubble.load(Ordering::Relaxed).is_null() {
        crate::synctest::on_ready(gp);
    }
    let sched = gp.sched();
    match proc::hold_p() {
        Some(mut h) if std::ptr::eq(h.sched(), sched) => {
            if sched.is_shutdown() {
                drop(h);
                // The runtime is going away: the goroutine never runs
                // again; its unwinding sees it readied (`unwind`).
                gp.status.store(status::RUNNABLE, Ordering::Release);
                return;
            }
            gp.status.store(status::RUNNABLE, Ordering::Relaxed);
            h.owned().runqput(g, true, &sched.runq);
            drop(h);
            // runqput's swap is SeqCst: the submitter's side of the
            // spinning protocol.
            sched.wakep();
        }
        h => {
            drop(h);
            ready_from_outside(sched, gp, g);
        }
    }
}

/// `ready` from a plain thread, another runtime, or an M without a P:
/// through the global queue. Counted in `sched.readying` so that a
/// shutdown does not free the G or the Sched under it: the count goes up
/// (SeqCst) before the shutdown flag is read (SeqCst), and the G's status
/// becomes RUNNABLE (Release) only after that, so an unwinding that sees
/// the status also sees the count (`unwind::wait_for_waker`), and
/// shutdown frees nothing until the count is back to zero.
#[inline(never)]
fn ready_from_outside(sched: &crate::sched::Sched, gp: &G, g: GRef) {
    sched.readying.fetch_add(1, Ordering::SeqCst);
    if sched.shutdown.load(Ordering::SeqCst) {
        // The runtime is going away: the goroutine never runs again.
        gp.status.store(status::RUNNABLE, Ordering::Release);
    } else {
        gp.status.store(status::RUNNABLE, Ordering::Release);
        sched.globrunqput(g);
        sched.wakep_after_push();
    }
    // The last touch of the Sched.
    sched.readying.fetch_sub(1, Ordering::Release);
}

/// Yields the processor so other goroutines run (Go: `runtime.Gosched`):
/// the goroutine goes behind the goroutines queued on its P, or, when
/// there are none, to the back of the global run queue, where every P can
/// find it. On a plain thread, yields the thread.
pub fn yield_now() {
    if m::with_m(|ml| ml.is_some()) {
        proc::suspend(Suspend::Gosched);
    } else {
        std::thread::yield_now();
    }
}

/// Like [`yield_now`] but the goroutine goes to the back of its P's local
/// queue (Go: `goyield`), as a semaphore hand-off does.
pub fn yield_local() {
    if m::with_m(|ml| ml.is_some()) {
        proc::suspend(Suspend::Yield);
    } else {
        std::thread::yield_now();
    }
}
