//! The M: an OS thread that holds a P and runs goroutines on it.
//!
//! Go: runtime/runtime2.go (`type m`), runtime/proc.go (`newm`, `mstart`).
//!
//! An M is split in two:
//! - [`M`], shared through an `Arc`: what other threads touch (the park
//!   note, the P handed over by `startm`, the spinning flag, the flag
//!   sysmon reads to tell goroutine code from runtime code). All atomic.
//! - [`MLocal`], on the M's own thread stack and reachable only from that
//!   thread through a thread-local pointer: the P it holds, the current G,
//!   the runtime-call nesting depth, its random state. Cells, no atomics.
//!
//! Safety model (crate docs): a goroutine may resume on a different M after
//! any park, so nothing derived from the thread-local pointer may be kept
//! across a park. The `MLocal` is reached only through [`with_m`], whose
//! closure gets a reference that cannot outlive it, and which must not
//! suspend the goroutine. The thread-local read underneath is
//! `#[inline(never)]` so that LLVM cannot reuse a thread-local address
//! computed before a switch.

use std::cell::Cell;
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};

use crate::g::{G, GRef};
use crate::lock::Note;
use crate::p::{OwnedP, P};
use crate::sched::Sched;

/// The shared half of an M (Go: `m`): what other threads touch. Every
/// field is atomic or immutable; none is under a lock.
pub(crate) struct M {
    /// Its number, from `Idle::mnext` under the scheduler lock; immutable.
    pub(crate) id: u32,
    // -- the hand-over from `startm` to the M it wakes --
    /// An idle M sleeps here (Go: `m.park`): the M itself sleeps (after
    /// putting itself on `Idle::midle` under the scheduler lock), the
    /// `startm` that took it off that list wakes it.
    pub(crate) park: Note,
    /// The P handed over by `startm`/`startlockedm`: P index + 1, 0 for
    /// none. Stored (Release) by the waker before the wake-up, taken
    /// (Acquire swap) by the M, which then owns the P.
    pub(crate) nextp: AtomicUsize,
    /// Set by `startm` before the wake-up: the M starts out spinning
    /// (Relaxed; the `Note` wake-up orders it).
    pub(crate) spinning: AtomicBool,
    // -- locked goroutines --
    /// The goroutine locked to this M, if any (Go: `lockedg`). Written
    /// (Release) by that goroutine running on this M (`lock_os_thread`,
    /// `unlock_os_thread`) and by the M's scheduler when the goroutine
    /// exits; read (Acquire) by the M's scheduler to tell whether a G it
    /// holds is its own locked one. Other Ms find the locked M through the
    /// G's `locked_m`.
    pub(crate) locked_g: AtomicPtr<G>,
    // -- sysmon's view --
    /// Set while this M runs goroutine code on its P; written only by
    /// this M, read by sysmon (see [`crate::pstatus`]).
    pub(crate) user: crate::pstatus::UserFlag,
}

impl M {
    pub(crate) fn new(id: u32) -> M {
        M {
            id,
            park: Note::new(),
            nextp: AtomicUsize::new(0),
            spinning: AtomicBool::new(false),
            locked_g: AtomicPtr::new(ptr::null_mut()),
            user: crate::pstatus::UserFlag::new(false),
        }
    }

    /// Hands `p` to this M for when it wakes.
    pub(crate) fn set_nextp(&self, p: &P) {
        self.nextp.store(p.id + 1, Ordering::Release);
    }

    /// Takes the P handed over, if any.
    pub(crate) fn take_nextp(&self) -> Option<usize> {
        match self.nextp.swap(0, Ordering::Acquire) {
            0 => None,
            n => Some(n - 1),
        }
    }
}

/// The thread-local half of an M: it lives in `mstart`'s frame on the M's
/// own thread and only that thread reads or writes it (through
/// [`with_current`]'s pointer), so nothing here is atomic or locked. The
/// SIGSEGV handler reads `guard` on the same thread.
pub(crate) struct MLocal {
    // -- set when the M starts, immutable --
    /// The shared half.
    pub(crate) m: Arc<M>,
    /// The runtime; freed only after every M thread is joined.
    pub(crate) sched: *const Sched,
    // -- scheduling state, written by this thread only --
    /// The P this M holds, or null (`set_p`). Whether the P is really
    /// still this M's is its own ownership word's business
    /// ([`crate::pstatus`]): sysmon may have retaken it meanwhile.
    p: Cell<*const P>,
    /// The goroutine running (or just suspended) on this M.
    pub(crate) curg: Cell<Option<GRef>>,
    /// Nesting depth of runtime code holding the P: 0 while goroutine code
    /// runs; the scheduler runs at 1.
    pub(crate) depth: Cell<u32>,
    /// Whether this M is spinning (Go: `m.spinning`).
    pub(crate) spinning: Cell<bool>,
    /// Inside a `gort::syscall` closure, which must not block on gort.
    pub(crate) in_syscall: Cell<bool>,
    /// The running goroutine's guard page (its lowest address, 0 for
    /// none), for the SIGSEGV handler.
    pub(crate) guard: Cell<usize>,
    /// This thread's CPU clock and kernel thread id (for sysmon's
    /// blocked-or-computing test, which reads the copies in the P);
    /// immutable.
    pub(crate) clock: libc::clockid_t,
    pub(crate) tid: i32,
    /// `cheaprand`'s state (wyrand).
    rand: Cell<u64>,
}

impl MLocal {
    pub(crate) fn new(m: Arc<M>, sched: *const Sched) -> MLocal {
        let seed = (m.id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ crate::sys::nanotime() as u64;
        MLocal {
            m,
            sched,
            p: Cell::new(ptr::null()),
            curg: Cell::new(None),
            depth: Cell::new(1),
            spinning: Cell::new(false),
            in_syscall: Cell::new(false),
            guard: Cell::new(0),
            clock: crate::sysmon::thread_cpu_clock(),
            // SAFETY: gettid has no preconditions.
            tid: unsafe { libc::syscall(libc::SYS_gettid) } as i32,
            rand: Cell::new(seed | 1),
        }
    }

    /// The runtime this M belongs to.
    #[inline]
    pub(crate) fn sched(&self) -> &Sched {
        // SAFETY: a Sched is freed only after every M thread has been
        // joined (Runtime::shutdown), so the pointer is valid whenever this
        // MLocal exists.
        unsafe { &*self.sched }
    }

    /// The P held, if any.
    #[inline]
    pub(crate) fn p(&self) -> Option<&P> {
        let p = self.p.get();
        // SAFETY: Ps live in the Sched's `procs` slice, which outlives the M.
        (!p.is_null()).then(|| unsafe { &*p })
    }

    /// The P held, for runtime code that uses it (its run queue, caches,
    /// timers); panics if none (a scheduler invariant violation). Debug
    /// builds also check that the P is really this M's: its word names
    /// this M (`RUNNING`, or `RETAKING` while sysmon decides and will back
    /// off) and this M's `user` flag is clear, so sysmon cannot take it
    /// (see [`crate::pstatus`]).
    #[inline]
    #[track_caller]
    pub(crate) fn p_unchecked(&self) -> &P {
        let p = self.p().expect("gort: M has no P");
        #[cfg(debug_assertions)]
        p.assert_owner(&self.m);
        p
    }

    /// A token for the P this M holds, for the scheduler's own paths
    /// (`find_runnable`, `execute`, handing the P to a locked M) and the
    /// stopper of the world giving up a dying P. Panics if the M has no P;
    /// debug builds check the word as `p_unchecked` does.
    ///
    /// # Safety
    /// The M runs runtime code (`depth` >= 1: the scheduler, or a
    /// goroutine inside a `PHold`), and [`OwnedP::new`]'s (2) and (3) hold
    /// for `'_`: in particular the token is gone before `execute` resumes
    /// a goroutine.
    #[inline]
    #[track_caller]
    pub(crate) unsafe fn owned_p(&self) -> OwnedP<'_> {
        debug_assert!(self.depth.get() >= 1, "owned_p in goroutine code");
        let p = self.p_unchecked();
        // SAFETY: at depth >= 1 a P in `p` is this M's in runtime code
        // (pstatus.rs): `p` is set only by `acquirep`, which clears the
        // `user` flag and then swaps in the word RUNNING with this M's id,
        // and is kept on the way back from goroutine code (depth 0 -> 1)
        // only when `try_enter` cleared the flag and found the word still
        // naming this M (RUNNING, or RETAKING, which sysmon then undoes);
        // every release and every loss of the P clears `p` (`releasep`,
        // `set_p(None)`). So (1) holds; the caller vouches for (2), (3).
        unsafe { OwnedP::new(p) }
    }

    /// Points this M at `p`, or at no P. An M without a P runs no
    /// goroutine code on one, so dropping the P also clears the M's `user`
    /// flag: left set, it would still read "goroutine code" once the M
    /// acquires a P again, and sysmon would retake that P from under the
    /// scheduler (see [`crate::pstatus`]).
    pub(crate) fn set_p(&self, p: Option<&P>) {
        if p.is_none() {
            crate::pstatus::PStatus::leave(&self.m.user);
        }
        self.p.set(p.map_or(ptr::null(), |p| p as *const P));
    }

    /// A fast random number (Go: `cheaprand`, wyrand).
    #[inline]
    pub(crate) fn cheaprand(&self) -> u32 {
        crate::sys::wyrand(&self.rand)
    }
}

thread_local! {
    static CURRENT: Cell<*const MLocal> = const { Cell::new(ptr::null()) };
}

/// The calling thread's `MLocal`, null on a plain thread.
///
/// Never inlined: after a goroutine switch the caller may be on another
/// thread, and an inlined thread-local address could be stale.
#[inline(never)]
fn current_ptr() -> *const MLocal {
    CURRENT.with(|c| c.get())
}

/// Calls `f` with the calling thread's M, or None on a plain thread.
///
/// The reference is good for the call of `f` only, and `f` must not
/// suspend the goroutine (park, yield, [`crate::preempt_point`],
/// `suspend`): the goroutine could resume on another M, and this M's
/// thread could exit and free its `MLocal` while `f` still held it.
/// Compute what to do inside `f`, and suspend after it returns. `f` may
/// block the thread (a futex wait): the M stays the same.
#[inline(always)]
pub(crate) fn with_m<R>(f: impl FnOnce(Option<&MLocal>) -> R) -> R {
    let p = current_ptr();
    // SAFETY: a non-null pointer was set by `mstart` (`with_current`) to an
    // MLocal in its own frame on this thread, and is cleared before that
    // frame returns; `f` neither keeps the reference (R cannot borrow from
    // it) nor leaves this thread while it runs (it does not suspend).
    let r = f(unsafe { p.as_ref() });
    debug_assert!(std::ptr::eq(current_ptr(), p), "gort: with_m's closure switched threads");
    r
}

/// Installs `ml` as this thread's M for the duration of `f`.
pub(crate) fn with_current<R>(ml: &MLocal, f: impl FnOnce() -> R) -> R {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            CURRENT.with(|c| c.set(ptr::null()));
        }
    }
    CURRENT.with(|c| c.set(ml as *const MLocal));
    let _reset = Reset;
    f()
}

/// The goroutine running on this thread, if the thread is an M running
/// one. Never inlined, for the same reason as [`current_ptr`].
#[inline(never)]
pub(crate) fn current_goroutine() -> Option<GRef> {
    with_m(|ml| ml.and_then(|ml| ml.curg.get()))
}
