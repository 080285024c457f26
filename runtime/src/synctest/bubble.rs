//! A synctest bubble's bookkeeping: which goroutines belong to it, how many
//! are durably blocked, its fake clock and its timer heap, and the hooks
//! the scheduler calls where a bubbled goroutine starts, parks, is readied
//! and exits.
//!
//! Go: runtime/synctest.go (`synctestBubble`, `changegstatus`,
//! `incActive`, `decActive`, `maybeWakeLocked`).
//!
//! ## Counts (under `state`'s lock)
//!
//! - `total`: goroutines of the bubble that have not exited.
//! - `running`: those not durably blocked: running, runnable, or parked on
//!   something outside the bubble can end (I/O, a mutex, a channel made
//!   outside). A goroutine parked for a durable wait reason
//!   ([`crate::engine::WaitReason::is_durable`]) is not counted, and its G's `durable`
//!   flag says so; whoever readies it clears the flag and counts it again.
//! - `active`: anything else that keeps the bubble from being idle: the
//!   root (the caller of `test`) while it is awake, a park whose unlock
//!   callback has not returned yet (it may decide not to park).
//!
//! The bubble is *idle* when `running == 0 && active == 0`. The decrement
//! that makes it idle picks one goroutine to wake ([`Bubble::maybe_wake`]):
//! the root when a timer is due (it fires timers) or nobody waits in
//! `wait`, else the waiter. The root, once woken, holds one `active` until
//! it parks again, so the bubble cannot look idle twice for one wake-up.
//!
//! ## The cost outside bubbles
//!
//! A goroutine outside every bubble has a null `bubble` pointer, and each
//! hook is one test of it on a G the caller already touches (spawn, park,
//! ready, exit). Code that has no G at hand (making a channel, arming a
//! timer, reading the clock) first reads [`LIVE`], the number of bubbles
//! alive, a global that changes only when a bubble starts or ends: with no
//! bubble it never touches a thread-local.
//!
//! ## Lifetime
//!
//! A bubble is an `Arc`. Each member goroutine owns one strong count (taken
//! at spawn, given back after its exit hook), channels and timers made in
//! the bubble hold one to compare bubbles, and `test` holds one. The timer
//! heap lives in the bubble: `test` disarms what is left in it before it
//! returns, and a bubble that ends in a deadlock is never freed (its
//! blocked goroutines still point at it).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use crate::g::{G, GRef};
use crate::lock::{Lock, LockGuard};
use crate::sched::Sched;
use crate::timer::Timers;

/// Bubbles alive. Raised before a bubble's first goroutine starts (so its
/// goroutines, which happen-after, see it non-zero), lowered when `test`
/// returns after every member exited.
pub(crate) static LIVE: AtomicUsize = AtomicUsize::new(0);

/// Bubble ids; never reused, so a stale id never names a new bubble.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Go's bubbles start at midnight UTC, 2000-01-01 (946,684,800 s after the
/// Unix epoch); [`crate::time::system_now`] starts there too.
const WALL_START_SECS: u64 = 946_684_800;

/// A synctest bubble: a set of goroutines with its own fake clock. Made by
/// [`test`](crate::synctest::test); primitives keep an `Arc` of the bubble
/// they were made in to check who uses them ([`Bubble::is_current`]).
pub struct Bubble {
    id: u64,
    state: Lock<State>,
    /// The bubble's timers: fired only by the root, at the fake `now`.
    pub(crate) timers: Timers,
    /// The fake clock, in the same units as [`crate::engine::nanotime`]; starts at
    /// the real clock's reading and moves only when the root advances it,
    /// while the bubble is idle.
    now: AtomicI64,
    start_nanos: i64,
    start_instant: Instant,
    /// The runtime the bubble's goroutines run on (for the deadlock dump).
    pub(crate) sched: Arc<Sched>,
}

/// See the module docs.
pub(crate) struct State {
    pub(crate) total: u32,
    pub(crate) running: u32,
    pub(crate) active: u32,
    /// The first goroutine spawned in the bubble: `test`'s closure.
    pub(crate) main: u64,
    pub(crate) main_done: bool,
    /// The root, while parked waiting for the bubble to go idle.
    pub(crate) root: Option<GRef>,
    /// The goroutine parked in `wait`, once its park is committed.
    pub(crate) waiter: Option<GRef>,
    /// A `wait` is in progress (set before it parks).
    pub(crate) waiting: bool,
}

// SAFETY: the GRefs in `State` are only used under its lock, by the
// park/ready protocol; everything else is atomic, immutable or `Sync`.
unsafe impl Sync for Bubble {}
// SAFETY: a bubble holds no thread-bound state: its GRefs are addresses used
// under its lock by the park/ready protocol, the rest is atomic, immutable,
// or Send (`Arc<Sched>`).
unsafe impl Send for Bubble {}

impl Bubble {
    /// A new bubble on `sched`, its clock at the real clock's reading.
    /// `this` is the address the bubble will have (its timers point back).
    pub(crate) fn new(this: *const Bubble, sched: Arc<Sched>) -> Bubble {
        let now = crate::sys::nanotime();
        Bubble {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            state: Lock::new(State {
                total: 0,
                running: 0,
                // The root is awake.
                active: 1,
                main: 0,
                main_done: false,
                root: None,
                waiter: None,
                waiting: false,
            }),
            timers: Timers::for_bubble(this),
            now: AtomicI64::new(now),
            start_nanos: now,
            start_instant: Instant::now(),
            sched,
        }
    }

    /// The bubble's id, as dumps show it (`synctest bubble 3`).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The fake clock, in [`crate::engine::nanotime`] units.
    #[inline]
    pub fn now_nanos(&self) -> i64 {
        self.now.load(Ordering::Acquire)
    }

    pub(crate) fn set_now(&self, now: i64) {
        self.now.store(now, Ordering::Release);
    }

    /// How far the fake clock has moved since the bubble started.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos((self.now_nanos() - self.start_nanos).max(0) as u64)
    }

    /// The fake clock as an `Instant`: the real `Instant` at which the
    /// bubble started, plus the fake time elapsed since.
    pub fn now_instant(&self) -> Instant {
        let e = self.elapsed();
        self.start_instant.checked_add(e).unwrap_or_else(|| far_instant(self.start_instant))
    }

    /// The fake wall clock: midnight UTC, 2000-01-01, plus the elapsed
    /// fake time (Go's bubbles start there).
    pub fn now_system(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(WALL_START_SECS) + self.elapsed()
    }

    /// Converts an `Instant` to the bubble's [`crate::engine::nanotime`] units.
    pub(crate) fn nanos_at(&self, t: Instant) -> i64 {
        let base = self.start_instant;
        match t.checked_duration_since(base) {
            Some(d) => self.start_nanos.saturating_add(d.as_nanos().min(i64::MAX as u128) as i64),
            None => self.start_nanos.saturating_sub((base - t).as_nanos().min(i64::MAX as u128) as i64),
        }
    }

    /// Whether the calling goroutine belongs to this bubble.
    #[inline]
    pub fn is_current(&self) -> bool {
        std::ptr::eq(current_ptr(), self)
    }

    pub(crate) fn lock(&self) -> LockGuard<'_, State> {
        self.state.lock()
    }

    /// The bubble just may have gone idle: if so, picks the goroutine to
    /// wake, which the caller readies after unlocking (Go:
    /// `maybeWakeLocked`). A picked waiter is counted running here, so
    /// nobody else counts it in again; a picked root holds one `active`.
    pub(crate) fn maybe_wake(&self, st: &mut State) -> Option<GRef> {
        if st.running > 0 || st.active > 0 {
            return None;
        }
        let next = self.timers.wake_time();
        let due = next != 0 && next <= self.now_nanos();
        if !due && let Some(w) = st.waiter.take() {
            // SAFETY: the waiter is parked (its park committed under this
            // lock) and only we take it out of `waiter`.
            unsafe { w.get() }.durable.store(false, Ordering::Relaxed);
            st.running += 1;
            return Some(w);
        }
        let root = st.root.take();
        debug_assert!(root.is_some(), "synctest: an idle bubble whose root is awake");
        st.active += 1;
        root
    }
}

/// An `Instant` a century after `base`, where the fake clock saturates.
fn far_instant(base: Instant) -> Instant {
    base + Duration::from_secs(100 * 365 * 86_400)
}

/// The bubble of the calling goroutine (or of the plain thread running a
/// bubble's timers), null outside bubbles. With no bubble alive it reads
/// only [`LIVE`].
#[inline]
pub(crate) fn current_ptr() -> *const Bubble {
    if LIVE.load(Ordering::Relaxed) == 0 {
        return std::ptr::null();
    }
    current_ptr_slow()
}

#[inline(never)]
fn current_ptr_slow() -> *const Bubble {
    let g = match crate::m::with_m(|ml| ml.map(|ml| ml.curg.get())) {
        // On an M: its goroutine's, or none in scheduler code (which runs
        // the Ps' timers, never a bubble's).
        Some(Some(g)) => g,
        Some(None) => return std::ptr::null(),
        None => crate::gopark::current_g(),
    };
    // SAFETY: g is the running goroutine or this thread's stand-in.
    unsafe { g.get() }.bubble.load(Ordering::Relaxed)
}

/// The calling goroutine's bubble, if it has one. With no bubble alive,
/// one load of a global (inlined into the caller).
#[inline]
pub fn current() -> Option<Arc<Bubble>> {
    if LIVE.load(Ordering::Relaxed) == 0 {
        return None;
    }
    current_slow()
}

#[inline(never)]
fn current_slow() -> Option<Arc<Bubble>> {
    let b = current_ptr_slow();
    if b.is_null() {
        return None;
    }
    // SAFETY: the caller's own G holds a strong count of its bubble while
    // it runs (or the root's `test` frame does while it tags itself).
    unsafe {
        Arc::increment_strong_count(b);
        Some(Arc::from_raw(b))
    }
}

/// Whether any synctest bubble is alive in the process: the one-load gate
/// in front of the bubble checks of code that has no G at hand.
#[inline]
pub fn any_alive() -> bool {
    LIVE.load(Ordering::Relaxed) != 0
}

/// Whether the calling goroutine is in a synctest bubble (Go:
/// `synctest.IsInBubble`). With no bubble alive, one load of a global.
#[inline]
pub fn is_in_bubble() -> bool {
    LIVE.load(Ordering::Relaxed) != 0 && !current_ptr_slow().is_null()
}

/// Sets `g`'s bubble (the root tags itself while it spawns the main
/// goroutine and while it fires timers). The caller keeps `b` alive.
pub(crate) fn tag(g: &G, b: *const Bubble) {
    g.bubble.store(b as *mut Bubble, Ordering::Relaxed);
}

// ---- The scheduler's hooks. Each is called only for a G whose `bubble`
// ---- is not null; the callers test that.

/// A goroutine is being spawned into bubble `b` (before it is published).
pub(crate) fn on_spawn(b: *const Bubble, g: &G) {
    // SAFETY: the spawner's G (or the root) keeps `b` alive; the new
    // goroutine takes its own count.
    let bubble = unsafe {
        Arc::increment_strong_count(b);
        &*b
    };
    g.bubble.store(b as *mut Bubble, Ordering::Relaxed);
    g.bubble_id.store(bubble.id, Ordering::Relaxed);
    g.durable.store(false, Ordering::Relaxed);
    let mut st = bubble.lock();
    st.total += 1;
    st.running += 1;
    if st.main == 0 {
        st.main = g.id();
    }
}

/// A bubbled goroutine parks: `run` runs its unlock callback. Counts it
/// out of `running` if its wait is durable, holding the bubble active
/// while the callback decides (Go: `park_m`'s `incActive`/`decActive`).
#[inline(never)]
pub(crate) fn park(gp: &G, run: impl FnOnce() -> bool) -> bool {
    // SAFETY: a member goroutine's count keeps its bubble alive.
    let b = unsafe { &*gp.bubble.load(Ordering::Relaxed) };
    let durable = gp.wait_reason().is_durable();
    {
        let mut st = b.lock();
        st.active += 1;
        if durable {
            st.running -= 1;
            gp.durable.store(true, Ordering::Relaxed);
        }
    }
    let keep = run();
    let wake = {
        let mut st = b.lock();
        // Not parked after all: nobody else readies it, so it is counted
        // back here. If it did park, a waker may already have counted it.
        if !keep && gp.durable.swap(false, Ordering::Relaxed) {
            st.running += 1;
        }
        st.active -= 1;
        b.maybe_wake(&mut st)
    };
    if let Some(w) = wake {
        // SAFETY: maybe_wake took w out of the bubble's state, under its
        // lock: we are its one waker.
        unsafe { crate::gopark::ready(w) };
    }
    keep
}

/// A bubbled goroutine is readied: counts it running again if it was
/// durably blocked. Only the bubble may end a durable wait; a wake-up from
/// outside is a fatal error, as Go's (the bubble's clock may already have
/// jumped on the promise that nothing outside could wake it).
#[inline(never)]
pub(crate) fn on_ready(gp: &G) {
    let bp = gp.bubble.load(Ordering::Relaxed);
    // SAFETY: a member goroutine's count keeps its bubble alive; it is
    // parked, so its exit hook has not run.
    let b = unsafe { &*bp };
    let was = {
        let mut st = b.lock();
        let was = gp.durable.swap(false, Ordering::Relaxed);
        if was {
            st.running += 1;
        }
        was
    };
    if was && !std::ptr::eq(current_ptr(), bp) && !gp.sched().is_shutdown() {
        crate::sys::fatal(&format!(
            "synctest: goroutine {} durably blocked in synctest bubble {} [{}] woken from outside the bubble",
            gp.id(),
            b.id,
            gp.wait_reason()
        ));
    }
}

/// A bubbled goroutine has finished (its G is being retired).
pub(crate) fn on_exit(gp: &G) {
    let bp = gp.bubble.swap(std::ptr::null_mut(), Ordering::Relaxed);
    gp.bubble_id.store(0, Ordering::Relaxed);
    // SAFETY: the goroutine's own count, given back below.
    let b = unsafe { &*bp };
    let wake = {
        let mut st = b.lock();
        st.total -= 1;
        st.running -= 1;
        if gp.id() == st.main {
            st.main_done = true;
        }
        b.maybe_wake(&mut st)
    };
    if let Some(w) = wake {
        // SAFETY: as in `park`.
        unsafe { crate::gopark::ready(w) };
    }
    // SAFETY: the count this goroutine took at spawn; the last use of `b`.
    unsafe { Arc::decrement_strong_count(bp) };
}
