//! Reclaiming the goroutines of a dropped runtime: their stacks are
//! force-unwound so that their destructors run, their tasks finish with an
//! error a joiner can see, and their stacks and Gs are freed.
//!
//! Go never frees a runtime, so it has no counterpart; tokio drops the
//! futures of the tasks of a dropped runtime, which is what this does with
//! goroutine stacks, through corosensei's `Coroutine::force_unwind`.
//!
//! ## What happens (`reclaim`, from `Runtime`'s shutdown)
//!
//! Once every M has exited, on a fresh plain thread (so that code run by
//! the unwinding sees no M and no goroutine of any runtime: a destructor
//! that blocks on a gort primitive blocks that thread), for every G of the
//! runtime that never finished:
//! - one that never ran has its closure dropped;
//! - one suspended at a yield or preemption point, or at a park site that
//!   cleans up after itself (`park_unwind_safe`, see [`crate::gopark`]'s
//!   docs), is resumed with corosensei's forced-unwind payload, which
//!   unwinds its stack to the goroutine's root: destructors run, park
//!   sites' guards unlink their waiters, goroutine-local values drop. The
//!   payload is not the goroutine's panic: the root frames
//!   (`Task::run`, `goroutine_main`) pass it on untouched, and no panic
//!   policy applies;
//! - its task finishes with an error ([`crate::Panic::is_runtime_dropped`])
//!   that a joiner (a plain thread, or a goroutine of another runtime)
//!   gets from `JoinHandle::join`;
//! - its stack goes back to the pool and its G to the free list.
//!
//! A goroutine parked through the plain public [`crate::engine::park()`] (third
//! party code) is left parked: its runtime's memory is then leaked, as
//! before, instead of being freed.
//!
//! ## Orderings
//!
//! A waker outside the runtime (a plain thread, another runtime) may have
//! dequeued a goroutine's waiter and be on its way to `ready` when the
//! unwinding reaches the park site. `ready` from outside counts itself in
//! `Sched::readying` before it reads the shutdown flag and stores the G's
//! status (RUNNABLE, Release) after that; the guard that finds its waiter
//! taken waits for that status ([`wait_for_waker`]) before its frame goes,
//! and `reclaim` waits for `readying` to drop to zero before anything is
//! freed. Wakers inside the runtime are done: they ran on the Ms, which
//! have exited, or inside goroutines, whose `ready` calls never suspend
//! halfway.

use std::cell::Cell;
use std::sync::atomic::Ordering;

use crate::g::{GRef, status};
use crate::sched::Sched;

thread_local! {
    /// The goroutine whose stack this thread is unwinding.
    static UNWINDING: Cell<Option<GRef>> = const { Cell::new(None) };
}

/// The goroutine whose stack the calling thread is force-unwinding
/// because its runtime was dropped, or None (the usual case: goroutine
/// code running normally, or a plain thread).
#[inline]
pub(crate) fn unwinding() -> Option<GRef> {
    UNWINDING.with(Cell::get)
}

/// For a park site's unwind guard that found its waiter already dequeued
/// by a waker: waits until that waker has readied the goroutine being
/// unwound, so that it no longer touches the goroutine's G or stack.
/// Returns at once outside a forced unwind. The waker is never a suspended
/// goroutine (`ready` follows the dequeue without a suspension point), so
/// the wait is short.
pub fn wait_for_waker() {
    let Some(g) = unwinding() else { return };
    // SAFETY: the G being unwound is alive until `reclaim` frees it, after
    // this unwinding.
    let gp = unsafe { g.get() };
    let mut spins = 0u32;
    while gp.status.load(Ordering::Acquire) == status::WAITING {
        spins += 1;
        if spins < 100 {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

/// Unwinds and frees every goroutine of `sched` that never finished (module
/// docs). Called once every M has exited, on a thread of its own. Returns
/// false if some goroutine was left parked (its stack, its G and the
/// runtime must then be leaked).
pub(crate) fn reclaim(sched: &Sched) -> bool {
    let gs: Vec<GRef> = sched.allgs.lock().clone();
    let mut all = true;
    for g in gs {
        // SAFETY: every M has exited, so this thread owns every G of the
        // runtime (the joins ordered their last accesses before ours).
        let gp = unsafe { g.get() };
        match gp.status.load(Ordering::Acquire) {
            status::IDLE | status::DEAD => {}
            status::RUNNABLE | status::WAITING => all &= reclaim_one(sched, g),
            // Running goroutine code, which cannot be once the Ms exited.
            _ => all = false,
        }
    }
    // Wakers from outside that are still inside `ready` touch our G and
    // Sched until they decrement this.
    let mut spins = 0u32;
    while sched.readying.load(Ordering::SeqCst) != 0 {
        spins += 1;
        if spins < 100 {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
    all
}

/// Unwinds one goroutine (or drops its closure if it never ran), finishes
/// its task, and frees its stack and G. False if it must stay parked.
fn reclaim_one(sched: &Sched, g: GRef) -> bool {
    // SAFETY: we own the G (see `reclaim`); short borrows throughout.
    let gp = unsafe { g.get() };
    // SAFETY: every M has exited, so this thread owns the G (see `reclaim`);
    // the borrow ends with the condition.
    if unsafe { gp.inner() }.park_unguarded {
        return false;
    }
    // SAFETY: only the thread owning the G touches its coroutine slot.
    let coro = unsafe { &mut *gp.coro.get() }.take();
    let stack = match coro {
        Some(mut coro) => {
            UNWINDING.with(|u| u.set(Some(g)));
            #[cfg(gort_tsan)]
            crate::tsan::to_goroutine(gp.tsan_fiber.load(Ordering::Relaxed));
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| coro.force_unwind()));
            #[cfg(gort_tsan)]
            crate::tsan::to_thread();
            UNWINDING.with(|u| u.set(None));
            #[cfg(gort_tsan)]
            crate::tsan::destroy(gp.tsan_fiber.swap(std::ptr::null_mut(), Ordering::Relaxed));
            if r.is_err() {
                // Only a payload other than the forced unwind's comes out,
                // and the root frames pass on only that one.
                crate::sys::write_stderr(
                    format!("gort: goroutine {} ended its forced unwind with a panic\n", gp.id()).as_bytes(),
                );
            }
            Some(coro.into_stack())
        }
        // SAFETY: the G never ran (it has no coroutine) and this thread owns
        // it; a short borrow to take its stack.
        None => unsafe { gp.inner() }.stack.take(),
    };
    if let Some(stack) = stack {
        sched.stacks.free(stack);
    }
    // SAFETY: this thread still owns the G, the forced unwind (if any) is
    // over, and no other borrow of its inner fields is live.
    let inner = unsafe { gp.inner() };
    if let Some(task) = inner.entry.take() {
        if std::mem::take(&mut inner.free_entry) {
            // It finished and owns its task block (its handle was gone).
            // SAFETY: the goroutine's run reported owning the block.
            unsafe { task.dealloc(None) };
        } else {
            // SAFETY: the goroutine's run never returned: the task is
            // unfinished, or finished and owned by the goroutine (the only
            // way to be suspended after finishing); `abandon` tells which.
            unsafe { task.abandon() };
        }
    }
    inner.locked_m = None;
    inner.lock_count = 0;
    inner.name = None;
    inner.yielder = std::ptr::null();
    inner.panic_trace = None;
    gp.clear_wait_reason();
    gp.status.store(status::DEAD, Ordering::Release);
    sched.counters.exited_nop.fetch_add(1, Ordering::Relaxed);
    // SAFETY: every goroutine G is a leaked Box (spawn); after its
    // unwinding nothing refers to it but the registry (`allgs`), and
    // wakers from outside are counted in `readying`, which `reclaim` waits
    // out before the free list is freed with the Sched.
    let gbox = unsafe { Box::from_raw(g.0.as_ptr()) };
    sched.gfree.lock().push(gbox);
    true
}
