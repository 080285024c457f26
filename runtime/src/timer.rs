//! Timers: per-P 4-ary min-heaps of [`TimerNode`]s, run by the scheduler
//! between goroutines and used as the poller's wait timeout.
//!
//! Go: runtime/time.go (`timer`, `timers`, `siftUp`, `siftDown`, `check`,
//! `run`, `wakeTime`).
//!
//! Go deletes lazily (stopped timers stay in the heap as zombies until the
//! owner P cleans up). gort deletes eagerly: every node records its heap and
//! index, so `stop` removes it in O(log n) under that heap's lock; no heap
//! ever holds a dead entry, and 100,000 sleepers cost exactly 100,000
//! entries.
//!
//! ## Protocol
//!
//! - A node's heap membership (`heap`, `when`, `period`, `idx`) is guarded
//!   by the lock of the heap that holds it; `heap` is also readable without
//!   the lock (Acquire), to find which lock to take, and re-checked under it,
//!   and so is `when` (Acquire), for `run_if_due`'s first look; a firing
//!   that moves a periodic node stores its new `when` with Release after
//!   counting itself in `running`.
//! - `reset`/`stop` on one node are serialised by the node's own lock
//!   (Go: `t.mu`). Lock order: node lock, then heap lock. The firing path
//!   takes only the heap lock.
//! - Firing (by the scheduler's `check`, or by a timer channel's receiver
//!   through `run_if_due`, Go's `maybeRunChan`, with the same steps):
//!   under the heap lock `running` is incremented, then the expired
//!   node is popped (its `heap` set to null with Release) or moved to its
//!   next period; the callback runs after the heap lock is dropped; `running`
//!   is decremented (Release) as the very last touch of the node. Because
//!   the increment precedes the Release of `heap`, `stop`'s lock-free fast
//!   path (Acquire load of `heap`, then of `running`) can never see a
//!   disarmed node that is about to fire.
//! - `stop` and `reset` remove the node, then wait (Acquire) until
//!   `running == 0`. So when they return, no callback of the old arming is
//!   in flight and none will start: the no-stale-value guarantee of Go 1.23
//!   timers, and what lets a node live on a parked goroutine's stack.
//! - Expired timers run one at a time, each alone counted as running, so a
//!   callback may stop or reset any *other* timer. A callback must not
//!   block, panic (a fatal error), or stop or reset its own node (that
//!   would wait for itself), and must not need a lock that a stopper may
//!   hold while stopping.
//! - Nodes are `!Unpin` and armed through `Pin<&Self>`; `Drop` stops them,
//!   so a heap never points at freed memory.
//!
//! ## synctest bubbles
//!
//! A synctest bubble has a heap of its own, fired only by its root on the
//! bubble's clock: the `bubble` submodule.

use std::cell::Cell;
use std::marker::PhantomPinned;
use std::pin::Pin;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicPtr, AtomicU32, AtomicUsize, Ordering};

use crate::lock::{Lock, RawLock};

mod bubble;
use crate::sched::Sched;
use crate::sys;

/// A timer callback: `f(arg, delay_ns)`, `delay_ns` being how late it runs.
pub type TimerFn = fn(usize, i64);

/// One timer. See the module docs for the protocol.
pub struct TimerNode {
    f: TimerFn,
    arg: AtomicUsize,
    lock: RawLock,
    heap: AtomicPtr<Timers>,
    /// The deadline; written under the heap lock, read there or (Acquire)
    /// by `run_if_due`'s lock-free first look.
    when: AtomicI64,
    period: Cell<i64>,
    idx: Cell<usize>,
    running: AtomicU32,
    /// Armed in a synctest bubble's heap (runs on the bubble's clock);
    /// written with `heap`, before its Release, read after its Acquire.
    fake: AtomicBool,
    _pin: PhantomPinned,
}

// SAFETY: the Cells are only accessed under the lock of the heap that holds
// the node (module docs); everything else is atomic or immutable.
unsafe impl Sync for TimerNode {}
// SAFETY: a node holds no thread-bound state: a function pointer, atomics,
// and Cells used under the lock of the holding heap by whichever thread takes
// it.
unsafe impl Send for TimerNode {}

impl TimerNode {
    /// A disarmed timer that will call `f(arg, delay)` when it fires.
    pub const fn new(f: TimerFn, arg: usize) -> TimerNode {
        TimerNode {
            f,
            arg: AtomicUsize::new(arg),
            lock: RawLock::new(),
            heap: AtomicPtr::new(ptr::null_mut()),
            when: AtomicI64::new(0),
            period: Cell::new(0),
            idx: Cell::new(0),
            running: AtomicU32::new(0),
            fake: AtomicBool::new(false),
            _pin: PhantomPinned,
        }
    }

    /// Changes the callback argument. Only meaningful while disarmed.
    pub fn set_arg(&self, arg: usize) {
        self.arg.store(arg, Ordering::Relaxed);
    }

    /// Arms the timer to fire at `when` (a [`nanotime`](crate::engine::nanotime)
    /// instant, or inside a synctest bubble an instant of the bubble's
    /// clock, [`crate::engine::now_nanos`]), then every `period` ns if
    /// `period > 0`. An armed timer is re-armed. Returns whether it was
    /// armed before (Go: `Reset`'s result). The timer joins the heap of the
    /// calling M's P, or of a P of the current (else the default) runtime;
    /// called in a synctest bubble, the bubble's heap.
    pub fn reset(self: Pin<&Self>, when: i64, period: i64) -> bool {
        self.reset_on(crate::synctest::current_ptr(), when, period)
    }

    /// [`TimerNode::reset`] on the clock and heap of `bubble` (the real
    /// ones for `None`), whoever calls: for timers whose bubble is fixed
    /// when they are made (Go: a timer is fake if made in a bubble).
    pub fn reset_in(
        self: Pin<&Self>,
        bubble: Option<&crate::synctest::Bubble>,
        when: i64,
        period: i64,
    ) -> bool {
        self.reset_on(bubble.map_or(ptr::null(), |b| b as *const _), when, period)
    }

    /// [`TimerNode::reset_in`] with the bubble as a pointer (null: none).
    #[inline]
    pub(crate) fn reset_on(
        self: Pin<&Self>,
        bubble: *const crate::synctest::Bubble,
        when: i64,
        period: i64,
    ) -> bool {
        if !bubble.is_null() {
            return self.reset_fake(bubble, when, period);
        }
        // Take the P first: entering the runtime may suspend this goroutine
        // (its P was retaken), which must not happen under the node lock.
        let hold = crate::proc::hold_p();
        crate::runtime::with_sched(|sched| {
            let heap: &Timers = match &hold {
                Some(h) if std::ptr::eq(h.sched(), sched) => {
                    let t: *const Timers = &h.p().timers;
                    // SAFETY: a P's Timers live as long as its Sched, which
                    // outlives this call.
                    unsafe { &*t }
                }
                _ => {
                    let i = (sys::nanotime() as usize) % sched.nprocs() as usize;
                    &sched.p(i).timers
                }
            };
            self.lock.lock();
            let was = self.remove();
            self.wait_idle();
            let earlier = heap.add(&self, when, period, false);
            // SAFETY: we hold the node lock (taken above).
            unsafe { self.lock.unlock() };
            drop(hold);
            if earlier {
                sched.wake_net_poller(when);
            }
            was
        })
    }

    /// Disarms the timer. Returns whether it was armed. When this returns,
    /// no callback of this timer is running or will run until it is armed
    /// again.
    pub fn stop(&self) -> bool {
        // Not armed and not firing: done, unless an arming call (`reset`,
        // e.g. sleep's park callback) still holds the node lock. The timer
        // can fire and its goroutine resume before that call's unlock; a
        // node dropped then, its memory reused, would take the late unlock
        // store (found by ThreadSanitizer). The slow path waits for it.
        if self.heap.load(Ordering::Acquire).is_null()
            && self.running.load(Ordering::Acquire) == 0
            && !self.lock.is_held_acquire()
        {
            return false;
        }
        self.lock.lock();
        let was = self.remove();
        self.wait_idle();
        // SAFETY: we hold the node lock.
        unsafe { self.lock.unlock() };
        was
    }

    /// Runs the timer here and now if it is armed and due: what its heap's
    /// owner would do at its next check (Go: `maybeRunChan`, which every
    /// receive and select on a timer channel calls, so that an expired
    /// timer's value is there for a non-blocking receive instead of
    /// waiting for the scheduler to get round to the heap). Returns
    /// whether the callback ran here.
    ///
    /// The firing follows the module protocol exactly as in
    /// `Timers::check`: under the heap lock, count the callback in, then
    /// pop the node (or move it to its next period); run the callback with
    /// no lock held; count it out last. So a due arming fires once, whoever
    /// gets to it first, and `stop`/`reset` wait it out as usual. If
    /// another thread is firing the timer, this waits for that callback to
    /// return, so that either way a due timer's callback has completed
    /// when this returns (a node popped by the scheduler but whose value is
    /// not sent yet must not look empty to a non-blocking receive). The
    /// caller must hold no lock the callback takes.
    ///
    /// Cheap when the node is not due, and cheapest when its deadline is
    /// far (an `after(1h)` in a select loop): a look at the coarse clock
    /// (`CLOCK_MONOTONIC_COARSE`, a few ns, never ahead of the precise one,
    /// behind it by up to a tick) settles it without reading the precise
    /// clock. A deadline within `RUN_IF_DUE_FAR_NS` (1 s) of the coarse clock
    /// is compared with the precise clock, so a due timer is never missed
    /// unless the coarse clock lags by more than that (the kernel updates
    /// it every tick); the scheduler then fires the timer as usual.
    pub fn run_if_due(&self) -> bool {
        let ran = self.fire_if_due();
        // Any firing that made the node look not due (popped it, or moved
        // it to its next period) counted itself in `running` before the
        // Release of `heap` or `when` that fire_if_due read with Acquire,
        // or under the heap lock fire_if_due then took: this sees it.
        self.wait_idle();
        ran
    }

    fn fire_if_due(&self) -> bool {
        loop {
            let h = self.heap.load(Ordering::Acquire);
            if h.is_null() {
                return false;
            }
            // The arming that `heap` published, or a later one.
            let when = self.when.load(Ordering::Acquire);
            // SAFETY: as in `remove`: a non-null `heap` points at a P's or
            // a bubble's Timers, which live until every node was detached.
            let heap = unsafe { &*h };
            let now = if self.fake.load(Ordering::Relaxed) {
                // A bubble's timer is due on the bubble's clock.
                heap.bubble_now()
            } else {
                if when > sys::coarse_clock().saturating_add(RUN_IF_DUE_FAR_NS) {
                    return false; // far from due: no precise clock needed
                }
                sys::nanotime()
            };
            if when > now {
                return false;
            }
            let mut inner = heap.inner.lock();
            if self.heap.load(Ordering::Relaxed) != h {
                drop(inner);
                continue; // fired, stopped or moved meanwhile: look again
            }
            let when = self.when.load(Ordering::Relaxed);
            if when > now {
                return false;
            }
            // Counted in before the node can look disarmed (as in check).
            self.running.fetch_add(1, Ordering::Relaxed);
            let period = self.period.get();
            let i = self.idx.get();
            if period > 0 {
                let next = next_period(when, period, now);
                // Release, as in check.
                self.when.store(next, Ordering::Release);
                inner.entries[i].when = next;
                inner.sift_down(i);
            } else {
                inner.remove_at(i);
                self.heap.store(ptr::null_mut(), Ordering::Release);
            }
            heap.publish(&inner);
            drop(inner);
            run_callback(self.f, self.arg.load(Ordering::Relaxed), now - when);
            // Last touch of the node (module docs).
            self.running.fetch_sub(1, Ordering::Release);
            return true;
        }
    }

    /// Whether the timer is armed (racy: for diagnostics and tests).
    pub fn is_armed(&self) -> bool {
        !self.heap.load(Ordering::Acquire).is_null()
    }

    /// Removes the node from its heap, if it is in one.
    fn remove(&self) -> bool {
        loop {
            let h = self.heap.load(Ordering::Acquire);
            if h.is_null() {
                return false;
            }
            // SAFETY: a non-null `heap` points at a P's Timers; Ps live as
            // long as their Sched, and a Sched is freed only after shutdown
            // detached every node (Timers::detach_all).
            let heap = unsafe { &*h };
            let mut inner = heap.inner.lock();
            if self.heap.load(Ordering::Relaxed) != h {
                continue; // fired or moved meanwhile
            }
            inner.remove_at(self.idx.get());
            self.heap.store(ptr::null_mut(), Ordering::Release);
            heap.publish(&inner);
            return true;
        }
    }

    /// Waits until no callback of this node runs.
    fn wait_idle(&self) {
        let mut spins = 0u32;
        while self.running.load(Ordering::Acquire) != 0 {
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else {
                sys::osyield();
            }
        }
    }
}

impl Drop for TimerNode {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A heap entry: the deadline is copied next to the node pointer so sifting
/// touches only the heap array.
#[derive(Clone, Copy)]
struct Entry {
    when: i64,
    node: *const TimerNode,
}

/// The heap proper (Go: `timers.heap`), 4-ary.
pub(crate) struct Heap {
    entries: Vec<Entry>,
}

// SAFETY: the raw node pointers are only dereferenced under the heap lock,
// per the module protocol.
unsafe impl Send for Heap {}

const HEAP_N: usize = 4;

impl Heap {
    fn set(&mut self, i: usize, e: Entry) {
        self.entries[i] = e;
        // SAFETY: nodes in the heap are alive (pinned until stopped) and
        // their `idx` is guarded by this heap's lock, which we hold.
        unsafe { &*e.node }.idx.set(i);
    }

    fn sift_up(&mut self, mut i: usize) {
        let e = self.entries[i];
        while i > 0 {
            let parent = (i - 1) / HEAP_N;
            if self.entries[parent].when <= e.when {
                break;
            }
            let pe = self.entries[parent];
            self.set(i, pe);
            i = parent;
        }
        self.set(i, e);
    }

    fn sift_down(&mut self, mut i: usize) {
        let n = self.entries.len();
        let e = self.entries[i];
        loop {
            let first = i * HEAP_N + 1;
            if first >= n {
                break;
            }
            let mut min = first;
            for c in first + 1..(first + HEAP_N).min(n) {
                if self.entries[c].when < self.entries[min].when {
                    min = c;
                }
            }
            if self.entries[min].when >= e.when {
                break;
            }
            let ce = self.entries[min];
            self.set(i, ce);
            i = min;
        }
        self.set(i, e);
    }

    fn push(&mut self, e: Entry) {
        self.entries.push(e);
        let i = self.entries.len() - 1;
        self.sift_up(i);
    }

    fn remove_at(&mut self, i: usize) {
        let last = self.entries.pop().expect("remove from empty heap");
        if i < self.entries.len() {
            self.set(i, last);
            if i > 0 && self.entries[(i - 1) / HEAP_N].when > last.when {
                self.sift_up(i);
            } else {
                self.sift_down(i);
            }
        }
    }
}

/// One P's timers (Go: `timers`).
pub(crate) struct Timers {
    inner: Lock<Heap>,
    /// The earliest deadline in the heap, 0 if empty; read without the lock
    /// by the scheduler and sysmon (Go: `wakeTime`).
    wake: AtomicI64,
    len: AtomicU32,
    /// The synctest bubble whose heap this is (null for a P's): its
    /// timers are due on the bubble's clock and fired by its root.
    bubble: AtomicPtr<crate::synctest::Bubble>,
}

impl Timers {
    pub(crate) fn new() -> Timers {
        Timers {
            inner: Lock::new(Heap { entries: Vec::new() }),
            wake: AtomicI64::new(0),
            len: AtomicU32::new(0),
            bubble: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// The earliest deadline, 0 for none.
    #[inline]
    pub(crate) fn wake_time(&self) -> i64 {
        self.wake.load(Ordering::Acquire)
    }

    /// Number of armed timers.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed) as usize
    }

    fn publish(&self, h: &Heap) {
        self.wake.store(h.entries.first().map_or(0, |e| e.when), Ordering::Release);
        self.len.store(h.entries.len() as u32, Ordering::Relaxed);
    }

    /// Inserts `node`; returns whether it became the earliest deadline.
    /// `fake`: this is a synctest bubble's heap. (Inlined into `reset`, as
    /// when it had one caller: the timer path's cost must not move.)
    #[inline(always)]
    fn add(&self, node: &TimerNode, when: i64, period: i64, fake: bool) -> bool {
        let mut h = self.inner.lock();
        node.when.store(when, Ordering::Relaxed);
        node.period.set(period);
        node.fake.store(fake, Ordering::Relaxed);
        node.heap.store(self as *const Timers as *mut Timers, Ordering::Release);
        h.push(Entry { when, node });
        let earliest = std::ptr::eq(h.entries[0].node, node);
        self.publish(&h);
        earliest
    }

    /// Runs the expired timers. Returns `(now, next deadline or 0)`.
    /// `now == 0` means read the clock if needed; the `now` returned is 0
    /// when it was not (no timer, or none within a second of the coarse
    /// clock). Go: `timers.check`.
    #[inline]
    pub(crate) fn check(&self, now: i64) -> (i64, i64) {
        // The common case, no timer on this P, without a call.
        if self.wake_time() == 0 {
            return (now, 0);
        }
        let (now, next, _) = self.check_ran(now);
        (now, next)
    }

    /// [`Timers::check`], also saying whether any timer ran.
    pub(crate) fn check_ran(&self, now: i64) -> (i64, i64, bool) {
        let w = self.wake_time();
        if w == 0 {
            return (now, 0, false);
        }
        let now = if now != 0 {
            now
        } else if w > sys::coarse_clock().saturating_add(RUN_IF_DUE_FAR_NS) {
            // Far from due (the header timeout of every connection of a
            // server): no precise clock on this schedule; a caller that
            // needs the time reads it.
            return (0, w, false);
        } else {
            sys::nanotime()
        };
        if w > now {
            return (now, w, false);
        }
        let mut ran = false;
        // One timer at a time: pop it under the lock, run it without. Only
        // the timer being run counts as running, so its callback may stop
        // any other timer, even one due at the same instant (a parent
        // context's deadline stopping its children's).
        loop {
            let mut h = self.inner.lock();
            let Some(top) = h.entries.first().copied().filter(|e| e.when <= now) else {
                self.publish(&h);
                break;
            };
            // SAFETY: nodes in the heap are alive; we hold the lock.
            let node = unsafe { &*top.node };
            // Count the callback in before the node can look disarmed:
            // stop()'s lock-free fast path reads `heap` (Acquire) then
            // `running`; seeing the null below implies seeing this.
            node.running.fetch_add(1, Ordering::Relaxed);
            let period = node.period.get();
            if period > 0 {
                let next = next_period(top.when, period, now);
                // Release: run_if_due seeing `next` sees `running` above.
                node.when.store(next, Ordering::Release);
                h.entries[0].when = next;
                h.sift_down(0);
            } else {
                h.remove_at(0);
                node.heap.store(ptr::null_mut(), Ordering::Release);
            }
            self.publish(&h);
            drop(h);
            ran = true;
            let (f, arg) = (node.f, node.arg.load(Ordering::Relaxed));
            run_callback(f, arg, now - top.when);
            // Last touch of the node (module docs).
            node.running.fetch_sub(1, Ordering::Release);
        }
        let w = self.wake_time();
        (now, w, ran)
    }

    /// Moves every timer of this heap into `to` (a P dying in
    /// `procresize`). Under both heap locks, this one first (no other code
    /// holds two); a node's `heap` changes with its entry, so `stop` and
    /// `reset`, which re-check `heap` under the lock they took, follow it.
    pub(crate) fn move_all(&self, to: &Timers) {
        if std::ptr::eq(self, to) {
            return;
        }
        let mut from = self.inner.lock();
        let mut dest = to.inner.lock();
        for e in from.entries.drain(..) {
            // SAFETY: nodes in a heap are alive; we hold both locks.
            let node = unsafe { &*e.node };
            node.heap.store(to as *const Timers as *mut Timers, Ordering::Release);
            dest.push(e);
        }
        self.publish(&from);
        to.publish(&dest);
    }

    /// Disarms every timer (runtime shutdown), so no node keeps a pointer
    /// to this heap.
    pub(crate) fn detach_all(&self) {
        let mut h = self.inner.lock();
        for e in h.entries.drain(..) {
            // SAFETY: nodes in the heap are alive; we hold the lock.
            unsafe { &*e.node }.heap.store(ptr::null_mut(), Ordering::Release);
        }
        self.publish(&h);
    }
}

/// How far past the coarse clock a deadline must lie for
/// [`TimerNode::run_if_due`] and [`Timers::check`] to call it not due
/// without reading the precise clock (see [`sys::COARSE_FAR_NS`]).
pub(crate) const RUN_IF_DUE_FAR_NS: i64 = sys::COARSE_FAR_NS;

/// The next deadline of a periodic timer due at `when` and run at `now`:
/// missed ticks are skipped; huge periods saturate rather than wrap.
fn next_period(when: i64, period: i64, now: i64) -> i64 {
    let late = now - when;
    when.saturating_add(period.saturating_mul(1 + late / period))
}

/// Runs a timer callback. A panic there would unwind through the
/// scheduler and lose the M and its P (Go throws in the same place), so it
/// is a fatal error naming the culprit.
#[inline]
fn run_callback(f: TimerFn, arg: usize, delay: i64) {
    crate::panic::contain("a timer callback", move || f(arg, delay));
}

/// Sleeps for at least `d` (Go: `time.Sleep`). A goroutine parks; a plain
/// thread sleeps. A zero duration returns at once.
pub fn sleep(d: std::time::Duration) {
    if d.is_zero() {
        return;
    }
    let Some(g) = crate::m::current_goroutine() else {
        std::thread::sleep(d);
        return;
    };
    // SAFETY: g is the running goroutine.
    let bubble = unsafe { g.get() }.bubble.load(Ordering::Relaxed);
    let now = if bubble.is_null() {
        sys::nanotime()
    } else {
        // SAFETY: a member goroutine keeps its bubble alive.
        unsafe { &*bubble }.now_nanos()
    };
    let when = now.saturating_add(d.as_nanos().min(i64::MAX as u128) as i64);
    let node = std::pin::pin!(TimerNode::new(ready_sleeper, g.as_ptr() as usize));
    let node = node.as_ref();
    // Arm the timer only once parked (Go: resetForSleep), so it cannot fire
    // for a goroutine still running. Unwind-safe: a dropped runtime has
    // detached its timers, and `node`'s drop is all the cleanup there is.
    crate::gopark::park_unwind_safe(crate::g::WaitReason::Sleep, move |_| {
        node.reset_on(bubble, when, 0);
        true
    });
    // `node` drops here: stop() waits for the firing callback to finish.
}

fn ready_sleeper(arg: usize, _delay: i64) {
    // SAFETY: `arg` is the sleeping goroutine, parked by `sleep` until this
    // callback, the only one to ready it, runs.
    unsafe {
        crate::gopark::ready(crate::g::GRef(std::ptr::NonNull::new_unchecked(arg as *mut crate::g::G)))
    };
}

impl Sched {
    /// Disarms every timer of every P (shutdown).
    pub(crate) fn detach_timers(&self) {
        for p in self.all_ps() {
            p.timers.detach_all();
        }
    }
}

#[cfg(test)]
mod tests;
