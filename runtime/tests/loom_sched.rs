//! Model checks (loom) of P ownership across the scheduler's paths, not
//! only the ownership word on its own (`loom.rs` checks that): a
//! goroutine's `gort::syscall`, sysmon retaking the P and handing it off,
//! the slow exit that takes a P back from the idle list, the scheduler
//! using the P's run queue and `runnext`, and sysmon's retake of a P whose
//! owner it believes to be in goroutine code.
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test --release -p gort-runtime --test loom_sched
//! ```
//!
//! The ownership word and the M's `user` flag are the real code
//! (`pstatus.rs`, with the asymmetric barrier pair as SeqCst fences); the
//! scheduler around them is mirrored step by step from `proc.rs`
//! (`syscall`, `no_p`), `sched.rs` (`acquirep`, `releasep`, `handoffp`,
//! `pidleget`, `pidleput`) and `sysmon.rs` (`retake`). The P's run queue,
//! which only its owner may use, is a loom cell: two Ms using it at once is
//! a reported race, and so is a sysmon hand-off of a P that its owner still
//! uses. Every goroutine readied must run exactly once, and a P goes on the
//! idle list only unowned, empty, and once.
//!
//! `a_stale_user_flag_is_caught` keeps the model honest: with the flag the
//! M's last goroutine left (what `acquire` and `leave` used to keep), loom
//! finds two Ms on one run queue.
#![cfg(loom)]

#[allow(dead_code)]
#[path = "../src/membarrier.rs"]
mod membarrier;
#[allow(dead_code)]
#[path = "../src/pstatus.rs"]
mod pstatus;

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;

use pstatus::{IDLE, PStatus, STATE_MASK, SYSCALL, USER};

/// The goroutine readied onto the P (a G id; 0 is "none").
const G: usize = 7;

/// One M's shared half: its `user` flag.
struct M {
    user: AtomicBool,
}

/// The P and the scheduler state the model needs.
struct World {
    st: PStatus,
    /// The M that owns the P or owned it last (real: `P::owner`, read by
    /// sysmon to find the flag to read).
    owner: AtomicU32,
    /// Owner stores, anyone reads (real: `P::runnext`).
    runnext: AtomicUsize,
    /// Owner-only (real: the crossbeam `Worker`): how many times each
    /// scheduler pass used it.
    runq: UnsafeCell<u32>,
    /// The idle list (real: `Idle::pidle` under the scheduler lock).
    on_idle_list: Mutex<bool>,
    /// How many times `G` ran.
    ran: AtomicUsize,
    ms: [M; 2],
    /// The mutation under test: re-set the flag after an acquire (a flag
    /// left over from the M's last goroutine).
    stale_flag: bool,
}

impl World {
    fn new(stale_flag: bool) -> Arc<World> {
        Arc::new(World {
            st: PStatus::new(),
            owner: AtomicU32::new(0),
            runnext: AtomicUsize::new(0),
            runq: UnsafeCell::new(0),
            on_idle_list: Mutex::new(false),
            ran: AtomicUsize::new(0),
            ms: [M { user: AtomicBool::new(false) }, M { user: AtomicBool::new(false) }],
            stale_flag,
        })
    }

    fn m(&self, id: u32) -> &M {
        &self.ms[id as usize - 1]
    }

    /// `Sched::acquirep` for M `id`, which left goroutine code with its
    /// flag set when `had_user`.
    fn acquirep(&self, id: u32, had_user: bool) {
        let m = self.m(id);
        self.owner.store(id, Ordering::Relaxed);
        self.st.acquire(id, &m.user);
        if self.stale_flag && had_user {
            m.user.store(true, Ordering::Relaxed);
        }
    }

    /// The scheduler of the owner M: `findRunnable` takes from the run
    /// queue and `runnext`, `execute` runs what it found.
    fn schedule(&self) {
        // SAFETY: only the P's owner runs this; loom reports any overlap
        // with another M's or sysmon's use, which is what is checked.
        self.runq.with_mut(|q| unsafe { *q += 1 });
        if self.runnext.swap(0, Ordering::AcqRel) == G {
            assert_eq!(self.ran.fetch_add(1, Ordering::Relaxed), 0, "a goroutine ran twice");
        }
    }

    /// `Sched::pidleget`.
    fn pidleget(&self) -> bool {
        std::mem::replace(&mut *self.on_idle_list.lock().unwrap(), false)
    }

    /// `Sched::pidleput`: the P must be unowned, empty, and not listed.
    fn pidleput(&self) {
        let mut listed = self.on_idle_list.lock().unwrap();
        assert_eq!(self.st.get(), IDLE, "an owned P put on the idle list");
        assert_eq!(self.runnext.load(Ordering::Relaxed), 0, "a P with work put on the idle list");
        assert!(!*listed, "a P put on the idle list twice");
        *listed = true;
    }

    /// `Sched::handoffp` by sysmon after a retake: a P with work goes to
    /// an M (sysmon's thread plays M2 here), an empty one to the idle list.
    fn handoffp(&self) {
        if self.runnext.load(Ordering::Acquire) != 0 {
            self.acquirep(2, false);
            self.schedule();
            self.st.release();
        }
        self.pidleput();
    }
}

/// The owner M1: its goroutine (which readied `G`) enters `gort::syscall`;
/// sysmon may retake the P meanwhile. Mirrors `proc::syscall`, then
/// `no_p` on the slow exit.
fn m1(w: &World) {
    let m = w.m(1);
    // gort::syscall: entersyscall.
    if !w.st.to_syscall(1) {
        // sysmon retook the P from goroutine code: set_p(None).
        PStatus::leave(&m.user);
        return;
    }
    // ... the blocking call ...
    if w.st.exit_syscall(1) {
        // The fast path: back to goroutine code on the same P, which then
        // enters the runtime (a park) and schedules.
        if w.st.try_enter(1, &m.user) {
            w.schedule();
            w.st.release();
            w.pidleput();
        } else {
            PStatus::leave(&m.user);
        }
        return;
    }
    // The slow path: the P was retaken. set_p(None), then no_p: take an
    // idle P if there is one and run the scheduler on it.
    PStatus::leave(&m.user);
    if w.pidleget() {
        w.acquirep(1, true);
        w.schedule();
        // Nothing more to run: findRunnable gives the P up.
        w.st.release();
        w.pidleput();
    }
}

/// sysmon: two rounds of `retake` (a P in a syscall is retaken at once in
/// this model; one in goroutine code after its time slice).
fn sysmon(w: &World) {
    for _ in 0..2 {
        let owner = w.m(w.owner.load(Ordering::Acquire).max(1));
        let seen = w.st.view(Some(&owner.user));
        let state = seen & STATE_MASK;
        if (state == SYSCALL || state == USER) && w.st.try_retake(seen, &owner.user) {
            w.handoffp();
        }
    }
}

fn run(stale_flag: bool) {
    loom::model(move || {
        let w = World::new(stale_flag);
        // M1 runs a goroutine that has just readied G (runtime code: G
        // goes to runnext) and is back in goroutine code.
        w.acquirep(1, false);
        w.runnext.store(G, Ordering::Release);
        PStatus::to_user(&w.m(1).user);
        let w2 = w.clone();
        let sysmon = thread::spawn(move || sysmon(&w2));
        m1(&w);
        sysmon.join().unwrap();
        // Whoever held the P last gave it up: it is idle and listed, and
        // the goroutine readied onto it ran exactly once.
        assert_eq!(w.st.get(), IDLE);
        assert!(*w.on_idle_list.lock().unwrap(), "the P was never given back");
        assert_eq!(w.ran.load(Ordering::Relaxed), 1, "the readied goroutine was lost");
    });
}

#[test]
fn syscall_handoff_reacquire_and_retake_share_no_p() {
    run(false);
}

#[test]
#[should_panic(expected = "a P put on the idle list twice")]
fn a_stale_user_flag_is_caught() {
    run(true);
}
