//! The scheduler loop each M runs: find a runnable goroutine, run it until
//! it suspends, do what it asked (park, yield, exit), repeat.
//!
//! Go: runtime/proc.go (`mstart`, `schedule`, `findRunnable`, `stealWork`,
//! `execute`, `park_m`, `goexit0`, `stoplockedm`, `startlockedm`,
//! `exitsyscall`).
//!
//! The loop runs on the M thread's own stack (Go's g0). A goroutine runs in
//! a corosensei coroutine resumed from here and suspends back here with a
//! [`Suspend`] request. Invariants at the boundary:
//! - before resuming a goroutine the scheduler sets the M's runtime depth
//!   to 0 and sets the M's `user` flag (sysmon may retake the P; see
//!   [`crate::pstatus`]);
//! - a goroutine always re-enters the runtime ([`enter_to_suspend`]) before it
//!   suspends or returns, so when `resume` returns the depth is 1 and the M
//!   holds a P in state RUNNING with its flag clear (possibly a different P
//!   than before, or none for [`Suspend::NoP`]);
//! - the park callback runs here, after the goroutine is off its stack and
//!   marked waiting: a waker can never ready a goroutine that still runs.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use corosensei::CoroutineResult;

use crate::g::{Coro, G, GRef, GYielder, Suspend, status};
use crate::m::{self, M, MLocal};
use crate::p::{self, OwnedP, P};
use crate::sched::Sched;
use crate::sys;

/// What the scheduler does after running a goroutine.
enum Next {
    /// Find the next goroutine.
    Schedule,
    /// Run this one now, inheriting the time slice or not.
    Run(GRef, bool),
    /// The M exits (shutdown, or its locked goroutine finished).
    Exit,
}

/// Entry point of a new M thread (Go: `mstart`).
pub(crate) fn mstart(sched: &Sched, m: Arc<M>) {
    let altstack = crate::stackguard::ensure_altstack();
    let ml = MLocal::new(m, sched);
    // The scheduler must not panic; if it does (a broken invariant, caught
    // by a debug assertion), the M and the P it holds would vanish quietly
    // and goroutines with them: stop the process loudly instead.
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        m::with_current(&ml, || {
            if let Some(id) = ml.m.take_nextp() {
                sched.acquirep(&ml, sched.p(id));
                if ml.m.spinning.swap(false, Ordering::Relaxed) {
                    ml.spinning.set(true);
                }
                schedule(sched, &ml);
            }
        })
    }));
    if let Err(e) = run {
        let msg = e
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| e.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        crate::sys::fatal(&format!("gort: the scheduler panicked on M{}: {msg}", ml.m.id));
    }
    sched.idle.lock().mcount -= 1;
    sched.counters.threads_exited.fetch_add(1, Ordering::Relaxed);
    crate::stackguard::drop_altstack(altstack);
}

/// The scheduler loop (Go: `schedule`).
fn schedule(sched: &Sched, ml: &MLocal) {
    let mut next = Next::Schedule;
    loop {
        next = match next {
            Next::Exit => return,
            Next::Run(g, inherit) => execute(sched, ml, g, inherit),
            Next::Schedule => {
                let locked = ml.m.locked_g.load(Ordering::Acquire);
                if locked.is_null() && ml.p().is_none() {
                    // Our P was retaken while a goroutine ran. Look for work
                    // like any M: with an idle P if there is one (it may be
                    // this M's turn to poll the network, or to block in the
                    // poller for the I/O its goroutine just parked on), else
                    // go idle: the Ms holding the Ps poll for them.
                    let p = sched.pidleget(&mut sched.idle.lock());
                    match p {
                        Some(p) => {
                            sched.acquirep(ml, p);
                        }
                        None => {
                            if !sched.stopm(ml) {
                                return;
                            }
                        }
                    }
                    continue;
                }
                if let Some(g) = std::ptr::NonNull::new(locked) {
                    // This M runs only its locked goroutine: wait for it.
                    if !stoplockedm(sched, ml) {
                        return;
                    }
                    Next::Run(GRef(g), false)
                } else {
                    let Some((g, inherit)) = crate::findrunnable::find_runnable(sched, ml) else {
                        return;
                    };
                    if ml.spinning.get() {
                        sched.reset_spinning(ml);
                    }
                    // SAFETY: we just took g off a run queue: we own it.
                    let lm = unsafe { g.get().inner() }.locked_m.clone();
                    match lm {
                        Some(lm) if !Arc::ptr_eq(&lm, &ml.m) => {
                            if !startlockedm(sched, ml, &lm) {
                                return;
                            }
                            Next::Schedule
                        }
                        _ => Next::Run(g, inherit),
                    }
                }
            }
        };
    }
}

/// Runs `g` on this M until it suspends, then handles the request.
/// Go: `execute` + the `mcall` targets (`park_m`, `gosched_m`, `goexit0`).
fn execute(sched: &Sched, ml: &MLocal, g: GRef, inherit: bool) -> Next {
    // SAFETY: the scheduler calls this holding its P (`find_runnable`
    // returned with one, or `no_p` just acquired one, or a park's callback
    // ran on it); the token is handed to `to_user` before the resume.
    let mut p = unsafe { ml.owned_p() };
    if !inherit {
        p.schedtick.store(p.schedtick.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
    }
    // SAFETY: the scheduler owns a G it is about to run.
    let gp = unsafe { g.get() };
    gp.status.store(status::RUNNING, Ordering::Relaxed);
    // SAFETY: the coroutine slot is only touched by the M running the G.
    let coro: &mut Option<Coro> = unsafe { &mut *gp.coro.get() };
    if coro.is_none() {
        *coro = Some(new_coroutine(sched, p.reborrow(), gp, g));
    }
    let coro = coro.as_mut().expect("just created");
    ml.curg.set(Some(g));
    if !inherit && p.preempt.load(Ordering::Relaxed) {
        // A fresh time slice: forget a request aimed at the previous one.
        p.preempt.store(false, Ordering::Relaxed);
    }
    p.resumetick.store(p.resumetick.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
    // SAFETY: the scheduler owns the G until it resumes it.
    ml.guard.set(unsafe { gp.inner() }.guard);
    ml.depth.set(0);
    p.into_user(&ml.m); // the token goes: the goroutine's code may lose the P

    #[cfg(gort_tsan)]
    crate::tsan::to_goroutine(gp.tsan_fiber.load(Ordering::Relaxed));
    let r = coro.resume(());
    #[cfg(gort_tsan)]
    crate::tsan::to_thread();

    debug_assert_eq!(ml.depth.get(), 1, "goroutine suspended outside the runtime");
    ml.guard.set(0);
    if ml.p().is_none() {
        return lost_p(sched, ml, g, r);
    }
    // SAFETY: the goroutine came back through `enter_to_suspend`, which
    // kept the P only when `try_enter` found it still this M's; the token
    // lives until this request is handled, in the scheduler.
    let mut p = unsafe { ml.owned_p() };
    match r {
        CoroutineResult::Yield(Suspend::Park(f)) => {
            gp.status.store(status::WAITING, Ordering::Release);
            p.parks.store(p.parks.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            // A goroutine of a synctest bubble takes the other branch (one
            // test of a null pointer here).
            let keep_parked = if gp.bubble.load(Ordering::Relaxed).is_null() {
                // SAFETY: `f` holds the unlock closure on the parked
                // goroutine's stack, intact until someone readies it, which
                // only the closure's release of the primitive's lock
                // allows; only this M runs it, once.
                crate::panic::contain("a park callback", || unsafe { f.run(g) })
            } else {
                park_in_bubble(gp, g, f)
            };
            ml.curg.set(None);
            if keep_parked {
                Next::Schedule
            } else {
                gp.status.store(status::RUNNABLE, Ordering::Relaxed);
                Next::Run(g, true)
            }
        }
        CoroutineResult::Yield(Suspend::Gosched) if !p.runq_empty() => {
            // Others wait on this P: they run first, without the round trip
            // through the global queue that every P contends for (with
            // 1,000 goroutines yielding on 2 Ps, that queue's cache lines
            // were most of a yield's cost). The global queue still gets its
            // turn every 61st schedule, and idle Ps steal.
            ml.curg.set(None);
            gp.status.store(status::RUNNABLE, Ordering::Relaxed);
            p.runqput(g, false, &sched.runq);
            Next::Schedule
        }
        CoroutineResult::Yield(Suspend::Gosched | Suspend::Preempt) => {
            ml.curg.set(None);
            gp.status.store(status::RUNNABLE, Ordering::Relaxed);
            sched.globrunqput(g);
            sched.wakep_after_push();
            Next::Schedule
        }
        // NoP with the P still ours cannot happen (a goroutine asks for it
        // only once its word names another owner, and only this M, in
        // runtime code, could make it name us again); were it to, the
        // goroutine just goes behind the queue.
        CoroutineResult::Yield(Suspend::Yield | Suspend::NoP) => {
            ml.curg.set(None);
            gp.status.store(status::RUNNABLE, Ordering::Relaxed);
            p.runqput(g, false, &sched.runq);
            Next::Schedule
        }
        CoroutineResult::Return(()) => gdestroy(sched, ml, p, g),
    }
}

/// The goroutine suspended (or returned) after sysmon retook this M's P:
/// finish its request without a P, then give the M up. The park callback
/// still runs here, first, since it releases the primitive's lock.
fn lost_p(sched: &Sched, ml: &MLocal, g: GRef, r: CoroutineResult<Suspend, ()>) -> Next {
    // SAFETY: the suspended goroutine is owned by this M.
    let gp = unsafe { g.get() };
    match r {
        CoroutineResult::Yield(Suspend::Park(f)) => {
            gp.status.store(status::WAITING, Ordering::Release);
            // Without a P, what the callback readies goes to the global
            // queue and what it arms goes to some P's timer heap.
            let keep_parked = if gp.bubble.load(Ordering::Relaxed).is_null() {
                // SAFETY: the callback lives on the parked goroutine's
                // stack, intact until its lock release lets someone ready
                // the goroutine; this M runs it once.
                crate::panic::contain("a park callback", || unsafe { f.run(g) })
            } else {
                park_in_bubble(gp, g, f)
            };
            if keep_parked {
                ml.curg.set(None);
                return Next::Schedule; // schedule() stops a P-less M
            }
            no_p(sched, ml, g)
        }
        CoroutineResult::Yield(Suspend::Gosched | Suspend::Preempt | Suspend::Yield | Suspend::NoP) => {
            no_p(sched, ml, g)
        }
        CoroutineResult::Return(()) => {
            ml.curg.set(None);
            if retire_g(sched, None, g) {
                ml.m.locked_g.store(std::ptr::null_mut(), Ordering::Release);
                return Next::Exit;
            }
            Next::Schedule
        }
    }
}

/// The park of a goroutine of a synctest bubble: its unlock callback runs
/// between the bubble's count updates (`synctest::park`). Out of line, so
/// the common path of `execute` stays as it was without bubbles.
#[cold]
#[inline(never)]
fn park_in_bubble(gp: &G, g: GRef, f: crate::g::ParkFn) -> bool {
    // SAFETY: the caller (execute or lost_p) hands over the callback of
    // the park `g` just made: it lives on g's stack, intact until someone
    // readies g, which only the callback's release of the primitive's lock
    // allows, and it runs once, here.
    crate::synctest::park(gp, || crate::panic::contain("a park callback", || unsafe { f.run(g) }))
}

/// Builds the coroutine of a goroutine that runs for the first time: takes
/// its stack (from `try_spawn`, the P's cache, or a dedicated mapping).
fn new_coroutine(sched: &Sched, mut p: OwnedP<'_>, gp: &G, g: GRef) -> Coro {
    // SAFETY: the scheduler owns the G (see execute).
    let inner = unsafe { gp.inner() };
    let stack = match inner.stack.take() {
        Some(s) => Ok(s),
        None if inner.stack_size == 0 => p.local().stacks.alloc(&sched.stacks),
        None => sched.stacks.alloc_dedicated(inner.stack_size),
    };
    let stack = stack.unwrap_or_else(|e| crate::sys::fatal(&e.to_string()));
    inner.guard = stack.guard_page();
    gp.meta.switch.set_stack_top(corosensei::stack::Stack::base(&stack).get());
    #[cfg(gort_tsan)]
    gp.tsan_fiber.store(crate::tsan::create(), Ordering::Relaxed);
    Coro::with_stack(stack, move |y: &GYielder, ()| goroutine_main(y, g))
}

/// The first frame of every goroutine (Go: `goexit` below `fn`).
fn goroutine_main(y: &GYielder, g: GRef) {
    // SAFETY: g is the goroutine running this code: it owns itself.
    let gp = unsafe { g.get() };
    let entry = {
        // SAFETY: g is the goroutine running this code and so owns its G;
        // this borrow of the inner fields ends with the block, before any
        // other access.
        let inner = unsafe { gp.inner() };
        inner.yielder = y as *const GYielder;
        inner.entry.expect("goroutine has an entry")
    };
    // SAFETY: the goroutine runs its task once. The closure's own panics
    // are caught inside; one escaping here (from dropping a result nobody
    // will read) must not unwind into the scheduler.
    let owned = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe { entry.run() })) {
        Ok(owned) => owned,
        Err(p) if crate::unwind::unwinding().is_some() => forced_unwind_exit(gp, p),
        Err(p) => {
            escaped_panic(gp, p);
            false // the block is leaked
        }
    };
    {
        // SAFETY: the task has returned and we still run as g, the owner of
        // its G; a short borrow of the inner fields that ends with this
        // block.
        let inner = unsafe { gp.inner() };
        inner.free_entry = owned;
        if !owned {
            // The handle took the block (or it leaked): a dropped runtime
            // must not finish this task again (`unwind`).
            inner.entry = None;
        }
    }
    // Goroutine-local destructors may panic too.
    if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| crate::local::drop_locals(gp))) {
        if crate::unwind::unwinding().is_some() {
            std::panic::resume_unwind(p); // a local's destructor parked
        }
        escaped_panic(gp, p);
    }
    // Come back to the scheduler (the depth stays 1).
    m::with_m(|ml| enter_to_suspend(ml.expect("goroutine runs on an M")));
}

/// The goroutine's runtime was dropped and its stack is being unwound
/// (`unwind`): the payload is corosensei's, not the goroutine's panic.
/// Goroutine-local values drop, then the payload goes on to the coroutine's
/// root, where `force_unwind` expects it.
#[cold]
fn forced_unwind_exit(gp: &G, payload: Box<dyn std::any::Any + Send>) -> ! {
    // A local's destructor that panics here is nobody's to report: the
    // goroutine is gone, and the policy must not end the process.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| crate::local::drop_locals(gp)));
    std::panic::resume_unwind(payload)
}

/// A panic raised while a goroutine finished (dropping its unread result or
/// its goroutine-local values): nobody can observe it, so it follows the
/// runtime's panic policy, like an unjoined goroutine's panic.
#[cold]
fn escaped_panic(gp: &G, payload: Box<dyn std::any::Any + Send>) {
    // SAFETY: called by the goroutine itself; a short borrow.
    let name = unsafe { gp.inner() }.name.clone();
    let policy = gp.sched().config.panic_policy;
    crate::panic::unobserved(crate::panic::Panic::new(payload, gp.id(), name), policy);
}

/// A goroutine finished: recycle its stack and G (Go: `goexit0`).
fn gdestroy(sched: &Sched, ml: &MLocal, mut p: OwnedP<'_>, g: GRef) -> Next {
    ml.curg.set(None);
    if retire_g(sched, Some(p.reborrow()), g) {
        // Go: a goroutine that exits while locked takes its thread with it,
        // so no goroutine inherits thread state it changed.
        ml.m.locked_g.store(std::ptr::null_mut(), Ordering::Release);
        let p = sched.releasep(ml, p);
        sched.handoffp(p);
        return Next::Exit;
    }
    Next::Schedule
}

/// Recycles a finished goroutine's stack, task block and G, into `p`'s
/// caches when the M holds a P, else into the runtime's central ones.
/// Returns whether the goroutine was locked to its thread.
fn retire_g(sched: &Sched, mut p: Option<OwnedP<'_>>, g: GRef) -> bool {
    // SAFETY: the goroutine has returned; the M owns its G.
    let gp = unsafe { g.get() };
    // SAFETY: only the M running the G touches the coroutine slot.
    let coro = unsafe { &mut *gp.coro.get() }.take().expect("finished goroutine has a coroutine");
    let stack = coro.into_stack();
    #[cfg(gort_tsan)]
    crate::tsan::destroy(gp.tsan_fiber.swap(std::ptr::null_mut(), Ordering::Relaxed));
    match p.as_mut() {
        Some(p) => p.local().stacks.free(&sched.stacks, stack),
        None => sched.stacks.free(stack),
    }
    if !gp.bubble.load(Ordering::Relaxed).is_null() {
        crate::synctest::on_exit(gp);
    }
    gp.status.store(status::DEAD, Ordering::Release);
    match p.as_deref() {
        Some(p) => p.exited.store(p.exited.load(Ordering::Relaxed) + 1, Ordering::Relaxed),
        None => {
            sched.counters.exited_nop.fetch_add(1, Ordering::Relaxed);
        }
    }
    // SAFETY: the goroutine has returned and the M retiring it is the only
    // user of its G (it is neither queued nor parked); no other borrow of the
    // inner fields is live.
    let inner = unsafe { gp.inner() };
    let locked = inner.locked_m.take().is_some();
    inner.lock_count = 0;
    inner.name = None;
    if let Some(task) = inner.entry.take()
        && std::mem::take(&mut inner.free_entry)
    {
        let cache = p.as_mut().map(|p| &mut p.local().mcache);
        // SAFETY: the run reported owning the task block and `entry` was just
        // taken out, so the block is freed once, by its owner.
        unsafe { task.dealloc(cache) };
    }
    inner.yielder = std::ptr::null();
    // SAFETY: every goroutine G is a leaked Box (spawn), and nothing refers
    // to it any more but the registry (`allgs`), which reads only its
    // atomic fields: it is not queued and not parked.
    let gbox = unsafe { Box::from_raw(g.0.as_ptr()) };
    match p {
        Some(mut p) => p.gfput(gbox, sched),
        None => sched.gfree.lock().push(gbox),
    }
    locked
}

/// The goroutine found its P retaken: queue it and stop this M, unless an
/// idle P can be had at once. Go: `exitsyscallNoP`.
fn no_p(sched: &Sched, ml: &MLocal, g: GRef) -> Next {
    debug_assert!(ml.p().is_none(), "no_p: M{} holds a P", ml.m.id);
    ml.curg.set(None);
    // SAFETY: the suspended goroutine is owned by this M.
    let gp = unsafe { g.get() };
    gp.status.store(status::RUNNABLE, Ordering::Relaxed);
    let mut idle = sched.idle.lock();
    if let Some(p) = sched.pidleget(&mut idle) {
        drop(idle);
        sched.acquirep(ml, p);
        return Next::Run(g, false);
    }
    // Under the lock, so an M releasing its P sees the G (findRunnable
    // checks the global queue under the same lock).
    sched.globrunqput(g);
    drop(idle);
    if ml.m.locked_g.load(Ordering::Acquire) == g.0.as_ptr() {
        return if stoplockedm(sched, ml) { Next::Run(g, false) } else { Next::Exit };
    }
    if sched.stopm(ml) { Next::Schedule } else { Next::Exit }
}

/// A locked M whose goroutine cannot run: give the P away and sleep until
/// someone hands a P back along with the goroutine (Go: `stoplockedm`).
fn stoplockedm(sched: &Sched, ml: &MLocal) -> bool {
    if ml.p().is_some() {
        // SAFETY: the scheduler (schedule's locked-goroutine path, or
        // no_p) runs this holding its P, and releases it at once.
        let p = sched.releasep(ml, unsafe { ml.owned_p() });
        sched.handoffp(p);
    } else {
        // P-less (sysmon retook it) after parking its goroutine, perhaps on
        // I/O: this M cannot poll for anyone, so make sure some M will.
        sched.ensure_poller();
    }
    sched.idle.lock().nmidlelocked += 1;
    crate::checkdead::request();
    let ok = sched.park_m(ml);
    sched.idle.lock().nmidlelocked -= 1;
    ok && !sched.is_shutdown()
}

/// The goroutine just taken is locked to another M: hand that M our P and
/// stop (Go: `startlockedm`). The goroutine itself is not requeued: its M
/// runs it when it wakes.
fn startlockedm(sched: &Sched, ml: &MLocal, lm: &M) -> bool {
    // SAFETY: schedule calls this holding the P find_runnable returned
    // with, and releases it at once.
    let p = sched.releasep(ml, unsafe { ml.owned_p() });
    lm.set_nextp(p);
    lm.park.wakeup();
    sched.stopm(ml)
}

// ---- the goroutine side: entering the runtime ----

/// Proof that the current M holds its P for runtime work; dropping it hands
/// the P back to goroutine code. Must not be kept across a park.
pub(crate) struct PHold {
    ml: *const MLocal,
}

impl PHold {
    #[inline]
    pub(crate) fn ml(&self) -> &MLocal {
        // SAFETY: a PHold lives on one thread, inside one runtime call,
        // never across a park, so its M is still the current one.
        unsafe { &*self.ml }
    }

    /// The P held, for what any thread may do with it (its timers, id,
    /// counters); the owner-only parts go through [`PHold::owned`].
    #[inline]
    pub(crate) fn p(&self) -> &P {
        self.ml().p_unchecked()
    }

    /// The token for the P held, for as long as the hold is borrowed.
    #[inline]
    #[track_caller]
    pub(crate) fn owned(&mut self) -> OwnedP<'_> {
        let p = self.ml().p_unchecked();
        // SAFETY: `hold_p` made this hold at depth >= 1 only after
        // `try_enter` cleared the M's `user` flag and found the word still
        // naming this M (pstatus.rs), or nested in a section that did, and
        // the depth stays >= 1 until the hold drops: sysmon cannot take the
        // P meanwhile, (1). A suspend at depth >= 1 is a fatal error
        // (`blockable`), so the token, which borrows the hold, spans no
        // goroutine switch, (2). Another token for the P exists only in an
        // enclosing section (the scheduler's, or an outer hold), idle while
        // this nested call runs, and owner-only borrows are leaf
        // operations that end before any call that could nest, (3).
        unsafe { OwnedP::new(p) }
    }

    #[inline]
    pub(crate) fn sched(&self) -> &Sched {
        self.ml().sched()
    }
}

impl Drop for PHold {
    #[inline]
    fn drop(&mut self) {
        let ml = self.ml();
        let d = ml.depth.get() - 1;
        ml.depth.set(d);
        if d == 0 {
            ml.p_unchecked().to_user(&ml.m);
        }
    }
}

/// Enters the runtime from goroutine code (or nests inside runtime code),
/// returning a hold on the M's P; None on a plain thread, or when the M has
/// no P (sysmon retook it while goroutine code ran: Go's "in a syscall"
/// situation). Never suspends the caller, so it may be called with a
/// primitive's lock held; callers take their P-less path on None (the
/// global run queue, any P's timer heap, the central caches). The goroutine
/// gives its M up at its next safe point ([`preempt_point`] or a suspend).
/// Go: the `exitsyscall` fast path; see [`crate::p`] for the protocol.
#[inline]
pub(crate) fn hold_p() -> Option<PHold> {
    m::with_m(|ml| {
        let ml = ml?;
        let p = ml.p()?;
        let d = ml.depth.get();
        if d > 0 {
            ml.depth.set(d + 1);
        } else if p.try_enter(&ml.m) {
            ml.depth.set(1);
        } else {
            ml.set_p(None); // the stale P is someone else's now
            return None;
        }
        Some(PHold { ml: ml as *const MLocal })
    })
}

/// Enters the runtime on the way back to the scheduler (a suspend, or the
/// goroutine's return) and leaves the depth raised. When the P was retaken
/// the M is marked P-less and the scheduler finishes the request without a
/// P (`lost_p`): a park's callback still runs first, since it releases the
/// primitive's lock.
#[inline]
fn enter_to_suspend(ml: &MLocal) {
    debug_assert_eq!(ml.depth.get(), 0, "suspend while holding the P");
    ml.depth.set(1);
    if let Some(p) = ml.p()
        && p.try_enter(&ml.m)
    {
        return;
    }
    ml.set_p(None);
}

/// Suspends the running goroutine with `req` (after entering the runtime).
/// Returns when the goroutine is resumed, possibly on another M.
#[inline(always)]
pub(crate) fn suspend(req: Suspend) {
    let g = m::with_m(|ml| {
        let ml = ml.expect("suspend outside an M");
        let g = blockable(ml);
        enter_to_suspend(ml);
        g
    });
    // SAFETY: g is the running goroutine; its yielder lives at the bottom
    // of its stack for its whole life.
    let gp = unsafe { g.get() };
    // Where a traceback of the switched-out goroutine starts: this frame
    // stays as it is until the goroutine resumes (traceback::record docs).
    crate::traceback::record_switch!(gp.meta.switch);
    // SAFETY: `yielder` was set by goroutine_main to a value in its own frame
    // at the bottom of this goroutine's stack, which lives as long as the
    // goroutine; we are that goroutine, the owner of the G, and read the
    // field in a short borrow.
    let y = unsafe { &*gp.inner().yielder };
    y.suspend(req);
}

/// The goroutine about to block on this M, or a fatal error if code on
/// this M must not block here: a park or timer callback, `with_proc`'s
/// closure (the scheduler or a P hold is on the stack), or a
/// `gort::syscall` closure (its P is in hand-off). Blocking there would
/// switch stacks under the scheduler's feet; Go throws in the same cases.
#[inline]
pub(crate) fn blockable(ml: &MLocal) -> GRef {
    match ml.curg.get() {
        Some(g) if ml.depth.get() == 0 && !ml.in_syscall.get() => g,
        _ => cannot_block(ml),
    }
}

#[cold]
#[inline(never)]
fn cannot_block(ml: &MLocal) -> ! {
    let place = if ml.in_syscall.get() {
        "inside a gort::syscall closure (it must be a plain blocking call)"
    } else if ml.curg.get().is_none() {
        "inside a timer callback (timer callbacks must not block)"
    } else {
        "inside a park callback or with_proc's closure (they must not block)"
    };
    crate::sys::fatal(&format!("gort: a blocking call {place}"))
}

/// A fast random number for the calling M (Go: `cheaprand`), for select's
/// poll order and similar; on a plain thread, from a thread-local state.
#[inline]
pub fn cheaprand() -> u32 {
    m::with_m(|ml| match ml {
        Some(ml) => ml.cheaprand(),
        None => {
            thread_local!(static STATE: std::cell::Cell<u64> = std::cell::Cell::new(sys::nanotime() as u64 | 1));
            STATE.with(sys::wyrand)
        }
    })
}

/// A random number in `0..n` (Go: `cheaprandn`).
#[inline]
pub fn cheaprandn(n: u32) -> u32 {
    ((cheaprand() as u64 * n as u64) >> 32) as u32
}

/// A safe point: yields if sysmon asked the running goroutine to (it ran
/// 10 ms without a scheduling point), and gives the M up if sysmon retook
/// its P meanwhile (the goroutine is requeued and resumes on an M with a
/// P). Every blocking runtime call starts with it; call it in long loops
/// that make no runtime call. Costs a few loads when there is nothing to do.
#[inline]
pub fn preempt_point() {
    /// What the safe point found (decided on the M, acted on after
    /// `with_m`, whose closure must not suspend).
    enum Found {
        Nothing,
        /// sysmon asked for a yield (Go: `gopreempt_m`).
        Preempt,
        /// The P is gone: no P at all, or sysmon retook it (Go's
        /// exitsyscall slow path).
        NoP,
    }
    let found = m::with_m(|ml| {
        let Some(ml) = ml else { return Found::Nothing };
        if ml.depth.get() != 0 || ml.curg.get().is_none() {
            return Found::Nothing;
        }
        let Some(p) = ml.p() else { return Found::NoP };
        let w = p.status();
        if w == p::word(ml.m.id, p::RUNNING) {
            if p.preempt.load(Ordering::Relaxed) {
                p.preempt.store(false, Ordering::Relaxed);
                return Found::Preempt;
            }
            Found::Nothing
        } else if w != p::word(ml.m.id, p::RETAKING) {
            // Lost the P. (While sysmon decides, we just go on: the next
            // safe point sees the outcome.)
            Found::NoP
        } else {
            Found::Nothing
        }
    });
    match found {
        Found::Nothing => {}
        Found::Preempt => suspend(Suspend::Preempt),
        Found::NoP => suspend(Suspend::NoP),
    }
}

/// Runs `f`, a call known to block the thread (a blocking syscall, a
/// foreign library call), letting the P go to another M meanwhile so other
/// goroutines keep running. Go: `entersyscall` / `exitsyscall`.
///
/// On entry the P becomes free to take: sysmon hands it to another M once
/// the call has lasted a sysmon round or two (20 µs to 20 ms, as Go's
/// `retake`) while goroutines wait for it. A short call (a read of a local
/// file, an `/etc/hosts` lookup) thus keeps its P and costs no thread
/// switch; handing off at once, on every call with work queued, made a
/// busy program cycle through a new M per call and pile up threads. On
/// exit the goroutine takes the same P back
/// if it is still free (the fast path), else any idle P, else it queues
/// itself and its M sleeps. `f` runs on the calling thread and must not use
/// gort's blocking primitives. Outside a goroutine, just calls `f`.
pub fn syscall<R>(f: impl FnOnce() -> R) -> R {
    // Enter the call: the M's id, the goroutine, and whether its P became
    // free to take; None outside goroutine code.
    let entry = m::with_m(|ml| {
        let ml = ml?;
        if ml.depth.get() != 0 || ml.curg.get().is_none() {
            return None;
        }
        let mid = ml.m.id;
        let sched = ml.sched();
        let g = ml.curg.get().expect("checked above");
        let entered = match ml.p() {
            Some(p) if p.to_syscall(mid) => {
                // SAFETY: g is the running goroutine.
                unsafe { g.get() }.status.store(status::SYSCALL, Ordering::Relaxed);
                // sysmon in its deep sleep (every P was idle) would not see
                // the call at all (Go: entersyscall_sysmon).
                sched.wake_sysmon(true);
                true
            }
            _ => false,
        };
        ml.in_syscall.set(true);
        Some((mid, g, entered))
    });
    let Some((mid, g, entered)) = entry else { return f() };
    // A panic in `f` leaves the call too: undo the entry (and take a P
    // back) before it goes on unwinding into goroutine code, which may
    // catch it and block. Free when nothing panics.
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    // f cannot park, so we are still on the same thread and M.
    let lost_p = m::with_m(|ml| {
        let ml = ml.expect("still an M");
        ml.in_syscall.set(false);
        if !entered {
            return false;
        }
        // SAFETY: g is the running goroutine.
        unsafe { g.get() }.status.store(status::RUNNING, Ordering::Relaxed);
        let fast = ml.p().is_some_and(|p| p.exit_syscall(mid));
        if !fast {
            // The P was taken: get one back the slow way (an idle P, else
            // wait in the global queue), then return to goroutine code.
            ml.set_p(None);
        }
        !fast
    });
    if lost_p {
        suspend(Suspend::NoP);
    }
    match r {
        Ok(r) => r,
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

/// Runs `f` with the id of the P the calling goroutine holds, keeping the
/// P (no other goroutine runs on it, sysmon cannot take it) until `f`
/// returns; `f` must not block. On a plain thread `f` gets None. Go:
/// `procPin` / `procUnpin`, as sync.Pool uses them.
///
/// A goroutine whose P sysmon retook (it looped, or its thread starved)
/// first gets a P back at a safe point, so it is never told None: Go's
/// `procPin` cannot fail either, and sync.Pool's per-P order depends on
/// it.
pub fn with_proc<R>(f: impl FnOnce(Option<usize>) -> R) -> R {
    loop {
        if let Some(h) = hold_p() {
            let id = h.p().id;
            let r = f(Some(id));
            drop(h);
            return r;
        }
        // In goroutine code and P-less: requeue and resume with a P.
        if m::with_m(|ml| ml.is_some_and(|ml| ml.depth.get() == 0 && ml.curg.get().is_some())) {
            suspend(Suspend::NoP);
        } else {
            return f(None);
        }
    }
}

/// Number of Ps of the current runtime (the default one on a plain thread).
/// Go: `runtime.GOMAXPROCS(0)`.
pub fn max_procs() -> usize {
    crate::runtime::with_sched(|s| s.nprocs() as usize)
}

/// Sets the number of Ps of the current runtime (the default one on a plain
/// thread) and returns the previous number; 0 changes nothing. Go:
/// `runtime.GOMAXPROCS(n)`. Values above [`crate::MAX_PROCS`] are capped.
///
/// It stops the world: every goroutine of the runtime is paused at its
/// next safe point (a channel operation, a park, [`preempt_point`]; a loop
/// without any loses its P after a 10 ms time slice), the Ps are resized,
/// and the goroutines resume, those that were queued on removed Ps now on
/// the others. The call blocks its thread meanwhile (as a
/// [`syscall`]), so it must not be made from a park or timer callback.
#[track_caller]
pub fn set_max_procs(n: usize) -> usize {
    // Refused here, not in the closure below, so that the panic names the
    // caller's line.
    if n != 0 && cannot_stop_the_world() {
        refuse_set_max_procs();
    }
    crate::runtime::with_sched(|s| set_max_procs_of(s, n))
}

/// Whether the caller is runtime code on an M that must not block (a park
/// or timer callback, `with_proc`'s closure).
fn cannot_stop_the_world() -> bool {
    m::with_m(|ml| ml.is_some_and(|ml| ml.depth.get() != 0 || ml.curg.get().is_none()))
}

#[track_caller]
fn refuse_set_max_procs() -> ! {
    panic!(
        "gort: set_max_procs called where the runtime cannot block (a park or timer \
         callback, or with_proc's closure)"
    );
}

/// [`set_max_procs`] for the runtime `sched`.
#[track_caller]
pub(crate) fn set_max_procs_of(sched: &Sched, n: usize) -> usize {
    if n == 0 {
        return sched.nprocs() as usize;
    }
    let n = n.min(crate::runtime::MAX_PROCS);
    // None on a plain thread, else whether the caller is a goroutine of
    // `sched` (after the refusal check).
    let own = m::with_m(|ml| ml.map(|ml| std::ptr::eq(ml.sched(), sched)));
    let Some(own) = own else { return sched.set_max_procs(n, None) };
    if cannot_stop_the_world() {
        refuse_set_max_procs();
    }
    if own && let Some(h) = hold_p() {
        // A goroutine of this runtime keeps its P while the world stops
        // around it (Go's stopTheWorld), so it need not queue for a P
        // afterwards.
        let old = sched.set_max_procs(n, Some(h.ml()));
        drop(h);
        return old;
    }
    // A goroutine of another runtime, or one that just lost its P: block
    // like a system call, freeing whatever P the M holds.
    syscall(|| sched.set_max_procs(n, None))
}

/// Whether a mutex may spin for iteration `iter` (Go: `sync_runtime_canSpin`):
/// few iterations, several CPUs, another P running, and nothing queued on
/// ours (spinning would delay it).
pub fn can_spin(iter: u32) -> bool {
    const ACTIVE_SPIN: u32 = 4;
    if iter >= ACTIVE_SPIN || sys::cpu_count() <= 1 {
        return false;
    }
    m::with_m(|ml| {
        let Some(ml) = ml else { return true };
        let sched = ml.sched();
        if sched.nprocs()
            <= sched.npidle.load(Ordering::Relaxed) + sched.nmspinning.load(Ordering::Relaxed) + 1
        {
            return false;
        }
        ml.p().is_none_or(|p| p.runq_empty())
    })
}

/// Spins briefly (Go: `sync_runtime_doSpin`: 30 PAUSE instructions).
#[inline]
pub fn do_spin() {
    sys::procyield(30);
}
