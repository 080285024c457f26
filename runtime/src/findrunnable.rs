//! Finding the next goroutine to run: Go's `findRunnable` and `stealWork`.
//!
//! Go: runtime/proc.go (`findRunnable`, `stealWork`, `checkRunqsNoP`,
//! `checkTimersNoP`).
//!
//! The order, as in Go: the P's timers; every 61st schedule the global
//! queue first (fairness); `runnext` and the local queue; the global queue;
//! a non-blocking network poll (the shared sockets, one P at a time, and
//! this P's own share, [`crate::engine::Poller::poll_own`]); stealing from
//! the other Ps in a random
//! order (their timers and `runnext` in the last round only); then the M
//! gives its P up, and (if it was spinning) re-checks everything once more
//! before blocking in the poller until the next timer, or parking. See
//! [`crate::sched`] for the spinning protocol this follows.
//!
//! One step Go does not have comes before the network poll: helping a
//! **stalled** P, one that has not resumed a goroutine for [`STALL_NS`]
//! ([`help_stalled`]): taking the goroutines queued on it, or, if none
//! are, polling its share of the sockets. Its M is off the CPU (the kernel
//! preempted it, typically on the way out of a `send` that woke the load
//! generator, and on a busy machine keeps it waiting for milliseconds) or
//! in one long goroutine. Go polls first and steals only when the poll
//! finds nothing, so under a steady stream of network events those
//! goroutines wait for the M to come back, or for sysmon's 10 ms time
//! slice, while the free P serves fresh events: hyper's HTTP/1.1 hello on
//! 2 Ps had a p99 of 4.9 ms against tokio's 2.5 ms from that alone
//! (BENCHMARKS.md, "The HTTP/1.1 tail"). The sockets in the stalled P's
//! own share (gort-netpoll: both ends of an in-process loopback
//! connection) would wait the same way. A P that resumes
//! goroutines is left alone, so the goroutines of a busy P keep their
//! locality (stealing from every P with a queue before each poll cost
//! echo 9 %).

use std::sync::atomic::{Ordering, fence};

use crate::g::GRef;
use crate::m::MLocal;
use crate::p::OwnedP;
use crate::sched::Sched;
use crate::sys;

/// Rounds of stealing before giving up (Go: `stealTries`).
const STEAL_TRIES: usize = 4;

/// How long a busy P must go without resuming a goroutine before other Ps
/// take its queue and poll its sockets (module docs): long against a
/// goroutine's run between two parks (microseconds), short against a
/// kernel time slice (milliseconds).
const STALL_NS: i64 = 100_000;

/// Finds a goroutine to run, blocking the M until there is one. Returns
/// None when the runtime shuts down. Go: `findRunnable`.
pub(crate) fn find_runnable(sched: &Sched, ml: &MLocal) -> Option<(GRef, bool)> {
    'top: loop {
        // SAFETY: the scheduler (depth 1) holds its P at the top of every
        // round (it acquired one before looping back); the token is
        // released here or gone when this returns, before `execute`.
        let mut p = unsafe { ml.owned_p() };
        if sched.is_shutdown() {
            let stranded = p.drain();
            drop(stranded); // goroutines never run after shutdown
            let p = sched.releasep(ml, p);
            let mut idle = sched.idle.lock();
            sched.pidleput(&mut idle, p);
            return None;
        }
        if sched.gcwaiting() {
            // The world is stopping: stop our P, then wait to be handed one
            // (Go: `gcstopm`).
            if ml.spinning.get() {
                ml.spinning.set(false);
                sched.nmspinning.fetch_sub(1, Ordering::SeqCst);
            }
            let p = sched.releasep(ml, p);
            let mut idle = sched.idle.lock();
            // Cleared only once every live P stopped, this one included.
            debug_assert!(sched.gcwaiting());
            sched.stopp(&mut idle, p);
            drop(idle);
            if !sched.stopm(ml) {
                return None;
            }
            continue 'top;
        }
        let (now, mut poll_until) = p.timers.check(0);

        // Fairness: every 61st schedule, look at the global queue first.
        if p.schedtick.load(Ordering::Relaxed) % 61 == 0 && !sched.runq.is_empty() {
            if let Some(g) = p.take_global(&sched.runq, 1) {
                return Some((g, false));
            }
        }
        if let Some((g, inherit)) = p.runqget() {
            return Some((g, inherit));
        }
        if !sched.runq.is_empty() {
            if let Some(g) = p.take_global(&sched.runq, sched.global_batch(128)) {
                return Some((g, false));
            }
        }
        // The network: a stalled P's goroutines and sockets first (module
        // docs), then this P's own share of the sockets (`Poller` docs).
        // An M blocked in the poller (`lastpoll` 0) sees every share.
        if sched.poller().has_waiters() {
            let polling = sched.lastpoll.load(Ordering::SeqCst) != 0;
            let mut list = Vec::new();
            if let Some(g) = help_stalled(sched, p.reborrow(), polling, &mut list) {
                sched.inject_list(Some(p.reborrow()), &mut list);
                return Some((g, false));
            }
            if polling {
                sched.poller().poll_own(p.p().id, sched.nprocs() as usize, &mut list);
                sched.counters.polls.fetch_add(1, Ordering::Relaxed);
            }
            sched.inject_list(Some(p.reborrow()), &mut list);
            if let Some((g, inherit)) = p.runqget() {
                return Some((g, inherit));
            }
        }
        // Steal, if not too many Ms spin already.
        let busy = sched.nprocs().saturating_sub(sched.npidle.load(Ordering::SeqCst));
        if ml.spinning.get() || 2 * sched.nmspinning.load(Ordering::SeqCst) < busy {
            if !ml.spinning.get() {
                sched.become_spinning(ml);
            }
            match steal_work(sched, ml, p.reborrow(), now) {
                Stolen::G(g, inherit) => return Some((g, inherit)),
                Stolen::NewWork => continue 'top,
                Stolen::Nothing(w) => {
                    if w != 0 && (poll_until == 0 || w < poll_until) {
                        poll_until = w;
                    }
                }
            }
        }

        // Nothing to do: give up the P.
        let mut idle = sched.idle.lock();
        if !sched.runq.is_empty() {
            let g = p.take_global(&sched.runq, sched.global_batch(128));
            drop(idle);
            if let Some(g) = g {
                return Some((g, false));
            }
            continue 'top;
        }
        if !ml.spinning.get() && sched.needspinning.load(Ordering::SeqCst) == 1 {
            sched.become_spinning(ml);
            drop(idle);
            continue 'top;
        }
        let p = sched.releasep(ml, p);
        sched.pidleput(&mut idle, p);
        drop(idle);

        let was_spinning = ml.spinning.get();
        if was_spinning {
            // Stop spinning, then look everywhere once more: work submitted
            // before our decrement is visible now (module docs of sched).
            ml.spinning.set(false);
            let prev = sched.nmspinning.fetch_sub(1, Ordering::SeqCst);
            debug_assert!(prev > 0, "find_runnable: negative nmspinning");
            // The spinner's side of the Dekker pair with work submitters
            // (sched docs): the decrement before any re-check load.
            fence(Ordering::SeqCst);
            let work = !sched.runq.is_empty()
                || sched.live_ps().any(|p2| !p2.idle.load(Ordering::Acquire) && !p2.runq_empty());
            if work && respin(sched, ml) {
                continue 'top;
            }
            let w = sched.timers_wake_time();
            if w != 0 && (poll_until == 0 || w < poll_until) {
                poll_until = w;
            }
        }

        // Block in the poller until I/O, the next timer, or a wake-up.
        if (sched.poller().has_waiters() || poll_until != 0) && sched.lastpoll.swap(0, Ordering::SeqCst) != 0
        {
            // Shutdown sets its flag, then wakes the poller once; a blocking
            // poll that started before ours may have consumed that wake-up.
            // Its read of the wake-up precedes its release of `lastpoll`,
            // which our swap saw: so the flag is visible now, or the
            // wake-up is still pending for us.
            if sched.is_shutdown() {
                sched.lastpoll.store(sys::nanotime(), Ordering::SeqCst);
                return None;
            }
            sched.poll_until.store(poll_until, Ordering::SeqCst);
            let delay = (poll_until != 0).then(|| (poll_until - sys::nanotime()).max(0));
            let mut list = Vec::new();
            sched.poller().poll(delay, &mut list);
            sched.counters.polls.fetch_add(1, Ordering::Relaxed);
            sched.poll_until.store(0, Ordering::SeqCst);
            sched.lastpoll.store(sys::nanotime(), Ordering::SeqCst);
            let mut idle = sched.idle.lock();
            let p2 = sched.pidleget(&mut idle);
            drop(idle);
            match p2 {
                None => sched.inject_list(None, &mut list),
                Some(p2) => {
                    let mut p2 = sched.acquirep(ml, p2);
                    sched.inject_list(Some(p2.reborrow()), &mut list);
                    if let Some((g, inherit)) = p2.runqget() {
                        return Some((g, inherit));
                    }
                    if was_spinning {
                        sched.become_spinning(ml);
                    }
                    continue 'top;
                }
            }
        } else if poll_until != 0 {
            let until = sched.poll_until.load(Ordering::SeqCst);
            if until == 0 || until > poll_until {
                sched.poller().wake();
            }
        }
        if !sched.stopm(ml) {
            return None;
        }
    }
}

/// One P's `resumetick` as another P last read it, and since when (ns,
/// 0 until a second look found it unchanged with goroutines queued).
#[derive(Clone, Copy)]
pub(crate) struct Seen {
    tick: u32,
    since: i64,
}

enum Stolen {
    G(GRef, bool),
    NewWork,
    /// Nothing found; the earliest timer seen on other Ps (0 for none).
    Nothing(i64),
}

/// Tries to steal from every other P, in a random order, several rounds;
/// in the last round also runs their expired timers and may take their
/// `runnext`. Go: `stealWork`.
fn steal_work(sched: &Sched, ml: &MLocal, mut p: OwnedP<'_>, now: i64) -> Stolen {
    let mut poll_until = 0i64;
    for i in 0..STEAL_TRIES {
        let last = i == STEAL_TRIES - 1;
        if last && let Some(stolen) = dead_ps_timers(sched, p.reborrow(), now, &mut poll_until) {
            return stolen;
        }
        for idx in sched.steal_order().start(ml.cheaprand()) {
            let p2 = sched.p(idx);
            if std::ptr::eq(p.p(), p2) {
                continue;
            }
            if last {
                let (_, w, ran) = p2.timers.check_ran(now);
                if ran {
                    // Expired timers readied goroutines onto our P.
                    if let Some((g, inherit)) = p.runqget() {
                        return Stolen::G(g, inherit);
                    }
                    return Stolen::NewWork;
                }
                if w != 0 && (poll_until == 0 || w < poll_until) {
                    poll_until = w;
                }
            }
            if !p2.idle.load(Ordering::Acquire) {
                if let Some(g) = p.runqsteal(p2, last) {
                    p.steals.store(p.steals.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
                    return Stolen::G(g, false);
                }
            }
        }
    }
    Stolen::Nothing(poll_until)
}

/// Helps every live P that has not resumed a goroutine for [`STALL_NS`]
/// or more, as seen by this P's successive calls (module docs): takes
/// from its queue (not `runnext`) and returns the first goroutine taken;
/// a stalled P with nothing queued has its share of the sockets polled
/// into `list` instead (if `poll`: no M blocks in the poller, which would
/// see them). Reads and updates this P's `seen_resumes`; the clock is
/// read only for a busy P found with the same `resumetick`.
///
/// Any P's owner may steal from any P at any time (the queue is
/// crossbeam's lock-free deque), and poll any share of the sockets (the
/// poller keeps two polls of one share apart); a stalled P that resumes
/// meanwhile only finds less to do. No spinning accounting: this M takes
/// work and runs it, as after its own queue.
fn help_stalled(sched: &Sched, mut p: OwnedP<'_>, poll: bool, list: &mut Vec<GRef>) -> Option<GRef> {
    let me = p.p() as *const crate::p::P;
    let n = sched.nprocs() as usize;
    for idx in 0..n {
        let p2 = sched.p(idx);
        if std::ptr::eq(me, p2) {
            continue;
        }
        // Relaxed: a hint; a stale value at worst helps a P that is busy
        // after all, which stealing and polling allow anyway.
        let tick = p2.resumetick.load(Ordering::Relaxed);
        let seen = &mut p.local().seen_resumes;
        if seen.len() <= idx {
            seen.resize(idx + 1, Seen { tick: u32::MAX, since: 0 });
        }
        let s = &mut seen[idx];
        if s.tick != tick {
            *s = Seen { tick, since: 0 };
            continue;
        }
        if p2.idle.load(Ordering::Acquire) {
            continue;
        }
        let now = sys::nanotime();
        if s.since == 0 {
            s.since = now;
            continue;
        }
        if now - s.since < STALL_NS {
            continue;
        }
        if let Some(g) = p.runqsteal(p2, false) {
            p.steals.store(p.steals.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            return Some(g);
        }
        if poll {
            sched.poller().poll_own(idx, n, list);
        }
    }
    None
}

/// Runs the expired timers left on dead Ps (a plain thread may arm one on
/// a P as it dies; see [`crate::procresize`]). Nearly always a no-op: Ps
/// die only when the number of Ps shrinks.
fn dead_ps_timers(sched: &Sched, mut p: OwnedP<'_>, now: i64, poll_until: &mut i64) -> Option<Stolen> {
    let (live, all) = (sched.nprocs() as usize, sched.allp.allocated());
    for idx in live..all {
        let (_, w, ran) = sched.p(idx).timers.check_ran(now);
        if ran {
            if let Some((g, inherit)) = p.runqget() {
                return Some(Stolen::G(g, inherit));
            }
            return Some(Stolen::NewWork);
        }
        if w != 0 && (*poll_until == 0 || w < *poll_until) {
            *poll_until = w;
        }
    }
    None
}

/// Work appeared while this M stopped spinning: take an idle P (asking the
/// next M to release one to spin, if none is idle) and spin again.
fn respin(sched: &Sched, ml: &MLocal) -> bool {
    let mut idle = sched.idle.lock();
    match sched.pidleget_spinning(&mut idle) {
        Some(p2) => {
            drop(idle);
            sched.acquirep(ml, p2);
            sched.become_spinning(ml);
            true
        }
        None => false,
    }
}

impl Sched {
    /// The earliest timer over all Ps, 0 for none (Go: `timeSleepUntil`).
    pub(crate) fn timers_wake_time(&self) -> i64 {
        // Dead Ps too: a plain thread may arm a timer on a P as it dies.
        self.all_ps().map(|p| p.timers.wake_time()).filter(|&w| w != 0).min().unwrap_or(0)
    }
}
