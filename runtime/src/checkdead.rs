//! Deadlock detection, and the registries of live runtimes and parked
//! plain threads that it and every whole-process dump walk.
//!
//! Go: runtime/proc.go (`checkdead`).
//!
//! Go declares a deadlock when no M runs, no goroutine is runnable and no
//! timer is armed: in a Go program every thread is the runtime's. A gort
//! program may have other threads, any of which could still wake a parked
//! goroutine through a channel, so gort adds one condition: every thread of
//! the process is accounted for as an idle M, a runtime's own thread
//! (sysmon, the SIGQUIT watcher) or a plain thread parked in a gort
//! primitive. Then nothing can ever run again, and the process prints
//! `fatal error: all goroutines are asleep - deadlock!` with the goroutine
//! dump and exits with status 2, as Go does. With an unknown thread alive
//! (a test harness, a thread blocked in a plain `read`), gort reports
//! nothing: no false positives.
//!
//! The check runs on a sysmon thread, off every hot path. It is asked for
//! ([`request`]) where Go calls `checkdead`: when the last running M stops
//! (`stopm`; an M blocked in the poller for a timer or I/O still counts as
//! running, so this happens only when nothing is pending), when a locked M
//! goes idle, and when a plain thread is about to park without a timeout.
//! sysmon also checks when it sees its runtime go fully idle. (Relying on
//! that alone missed deadlocks that followed a sleep: sysmon slept through
//! the busy moment and never saw the transition.) It starts with cheap
//! per-runtime preconditions (all Ps idle, no timer, no I/O waiter, empty
//! queues). A positive first look is confirmed a few milliseconds later by
//! a second look whose progress counters (schedule and park counts of
//! every P, thread wake-ups) must be unchanged: a real deadlock is stable,
//! a transient idle moment is not. A plain thread in a timed wait can still
//! act (its deadline wakes it), so it never counts as parked. Runtimes
//! built without sysmon take no part.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use crate::g::{G, GRef, status};
use crate::lock::Lock;
use crate::sched::Sched;

/// Every live runtime.
static RUNTIMES: Lock<Vec<SchedRef>> = Lock::new(Vec::new());
/// Every plain thread that has a stand-in G, with its kernel thread id.
static THREADS: Lock<Vec<(GRef, i64)>> = Lock::new(Vec::new());
/// Threads the runtimes own besides their Ms (sysmon, the SIGQUIT watcher).
pub(crate) static SYSTEM_THREADS: AtomicUsize = AtomicUsize::new(0);
/// Wake-ups of plain threads (progress the Ps' counters do not show).
pub(crate) static THREAD_READIES: AtomicU64 = AtomicU64::new(0);

static CHECKING: AtomicBool = AtomicBool::new(false);
static RECHECK: AtomicBool = AtomicBool::new(false);
/// A check was asked for since sysmon last looked.
static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Asks the sysmon threads to run the check soon (cheap: a flag, and a
/// wake-up of a sysmon sleeping deeply).
///
/// The flag and sysmon's `sysmon_wait` form a Dekker pair, both SeqCst:
/// this sets the flag, then `wake_sysmon` reads `sysmon_wait`; a sysmon
/// about to sleep deeply sets `sysmon_wait`, then reads the flag
/// ([`requested`]). Either the waker sees sysmon asleep and wakes it, or
/// sysmon sees the request and does not sleep. (Without sysmon's look, a
/// request posted between its last check and its deep sleep was lost and
/// the deadlock report came only when that sleep timed out, 60 s later.)
pub(crate) fn request() {
    if REQUESTED.swap(true, Ordering::SeqCst) {
        return;
    }
    let runtimes = RUNTIMES.lock();
    for r in runtimes.iter() {
        // SAFETY: registered runtimes are alive while the lock is held.
        unsafe { &*r.0 }.wake_sysmon(false);
    }
}

/// Takes a pending request (sysmon).
pub(crate) fn take_request() -> bool {
    REQUESTED.swap(false, Ordering::SeqCst)
}

/// Whether a check was asked for and not taken yet (sysmon, after it set
/// `sysmon_wait` and before it sleeps: see [`request`]).
pub(crate) fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct SchedRef(*const Sched);
// SAFETY: Sched is Sync; a registered pointer is valid until unregistered
// (Runtime shutdown unregisters before the Sched can be freed).
unsafe impl Send for SchedRef {}

pub(crate) fn register_runtime(s: &Sched) {
    RUNTIMES.lock().push(SchedRef(s));
}

pub(crate) fn unregister_runtime(s: &Sched) {
    RUNTIMES.lock().retain(|r| !std::ptr::eq(r.0, s));
}

pub(crate) fn register_thread(g: &G) {
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) };
    THREADS.lock().push((GRef::from_ref(g), tid));
}

pub(crate) fn unregister_thread(g: &G) {
    let me = GRef::from_ref(g);
    THREADS.lock().retain(|(t, _)| *t != me);
}

/// Runs the deadlock check unless one is already running (that one is
/// then asked to look again). Called by sysmon.
pub(crate) fn check() {
    if RUNTIMES.lock().is_empty() {
        return;
    }
    RECHECK.store(true, Ordering::SeqCst);
    while RECHECK.load(Ordering::SeqCst) {
        if CHECKING.swap(true, Ordering::AcqRel) {
            return; // the running checker sees RECHECK
        }
        RECHECK.store(false, Ordering::SeqCst);
        let dead = looks_dead().is_some_and(|first| {
            std::thread::sleep(Duration::from_millis(5));
            looks_dead() == Some(first)
        });
        CHECKING.store(false, Ordering::Release);
        if dead {
            report_deadlock();
        }
    }
}

/// If nothing can run, a progress fingerprint to compare a second look
/// with; None as soon as anything could still run.
fn looks_dead() -> Option<u64> {
    // Lock order: RUNTIMES, then a runtime's idle lock, then its allgs.
    let runtimes = RUNTIMES.lock();
    let mut progress = THREAD_READIES.load(Ordering::SeqCst);
    let mut ms = 0usize;
    let mut blocked = 0usize;
    for r in runtimes.iter() {
        // SAFETY: registered runtimes are alive (SchedRef docs).
        let s = unsafe { &*r.0 };
        if s.npidle.load(Ordering::SeqCst) != s.nprocs()
            || !s.runq.is_empty()
            || s.timers_wake_time() != 0
            || s.poller().has_waiters()
            || s.is_shutdown()
        {
            return None;
        }
        {
            let idle = s.idle.lock();
            if idle.midle.len() + idle.nmidlelocked as usize != idle.mcount as usize {
                return None; // an M runs or blocks in the poller
            }
            ms += idle.mcount as usize;
        }
        for p in s.all_ps() {
            progress = progress
                .wrapping_mul(31)
                .wrapping_add(p.resumetick.load(Ordering::SeqCst) as u64)
                .wrapping_add(p.parks.load(Ordering::SeqCst))
                .wrapping_add(p.spawned.load(Ordering::SeqCst));
        }
        for g in s.allgs.lock().iter() {
            // SAFETY: registered Gs are alive while the registry lock is held.
            match unsafe { g.get() }.status.load(Ordering::SeqCst) {
                status::IDLE | status::DEAD => {}
                status::WAITING => blocked += 1,
                _ => return None,
            }
        }
    }
    let mut parked_threads = 0;
    for (g, _) in THREADS.lock().iter() {
        // SAFETY: a registered thread G lives until its thread unregisters it.
        let gp = unsafe { g.get() };
        // A timed wait ends by itself: that thread can still act.
        if gp.status.load(Ordering::SeqCst) == status::WAITING && !gp.timed_wait.load(Ordering::SeqCst) {
            parked_threads += 1;
        }
    }
    if blocked + parked_threads == 0 {
        return None;
    }
    let tasks = std::fs::read_dir("/proc/self/task").map(|d| d.count()).ok()?;
    let known = ms + SYSTEM_THREADS.load(Ordering::SeqCst) + parked_threads;
    if tasks > known {
        return None; // some thread we know nothing about may still act
    }
    Some(progress)
}

fn report_deadlock() -> ! {
    let mut out = String::from("fatal error: all goroutines are asleep - deadlock!\n\n");
    out.push_str(&dump_all());
    crate::sys::write_stderr(out.as_bytes());
    std::process::exit(2)
}

/// Every runtime's goroutines, then the plain threads parked in gort: the
/// deadlock report's dump, and the SIGQUIT dump's (`dump.rs`).
pub(crate) fn dump_all() -> String {
    // Held throughout: a runtime unregisters (under this lock) before it
    // can be freed.
    let runtimes = RUNTIMES.lock();
    let mut out = String::new();
    for r in runtimes.iter() {
        // SAFETY: registered runtimes are alive.
        for g in unsafe { &*r.0 }.goroutines() {
            out.push_str(&g.to_string());
            out.push('\n');
        }
    }
    for (g, tid) in THREADS.lock().iter() {
        // SAFETY: a registered thread G lives until its thread unregisters
        // it, which takes THREADS, held here; only its atomic status and wait
        // reason are read.
        let gp = unsafe { g.get() };
        if gp.status.load(Ordering::SeqCst) == status::WAITING {
            out.push_str(&format!(
                "thread {tid} [{}]:\n\t(a plain thread parked in gort)\n\n",
                gp.wait_reason()
            ));
        }
    }
    out
}
