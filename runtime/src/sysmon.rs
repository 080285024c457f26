//! sysmon: the monitor thread that keeps a runtime responsive when
//! goroutine code does not come back to the scheduler.
//!
//! Go: runtime/proc.go (`sysmon`, `retake`, `preemptone`).
//!
//! Loop (Go's): sleep 20 µs; after 50 idle rounds double the sleep up to
//! 10 ms; when every P is idle, sleep deeply until the next timer (woken
//! when a P is taken off the idle list; back to 20 µs rounds only when a
//! goroutine entering a syscall woke it, as Go's `syscallWake`). Each round:
//! - poll the network if nobody has for 10 ms;
//! - **retake** Ps from Ms stuck in goroutine code, so their queued
//!   goroutines run on another M;
//! - request preemption of goroutines that ran 10 ms without a scheduling
//!   point (every runtime call checks the flag);
//! - once a second, release the memory of stacks idle in the pool, and
//!   join (and free) the threads of Ms that exited.
//!
//! ## When an M loses its P
//!
//! An M whose P is in goroutine code (state USER in sysmon's view) or in
//! SYSCALL has not come back to the scheduler since sysmon last saw its
//! `resumetick`. sysmon never retakes on the first round that sees it, so the M has been away at
//! least one round (20 µs or more). It then reads the M thread's CPU clock:
//! - the thread is **blocked** (it used less than half the wall time since,
//!   and the kernel does not list it runnable: a blocking syscall,
//!   `std::thread::sleep`, a contended std Mutex), or
//!   the goroutine is inside `gort::syscall`: retake as Go retakes a P in a
//!   syscall: at once if the P has queued goroutines or no other M could
//!   run timers (no idle P, no spinning M), else after 10 ms;
//! - the thread sleeps on a runtime lock: the P stays (Go never hands off
//!   for a lock wait; a new M would wait for the same lock);
//! - the thread is **starved** (it got less than a quarter of a CPU: a busy
//!   machine keeps it waiting for one): the P stays, since a new M would
//!   wait the same way, unless it stays so for ten time slices and an
//!   idle M can take the P or the runtime has few Ms (see `Away::Starved`);
//! - the thread is **computing** (a loop with no runtime call): retake
//!   after Go's 10 ms time slice if the P has queued goroutines or due
//!   timers. Go would preempt such a goroutine asynchronously at that
//!   point; gort cannot interrupt it, so it lets it keep its thread and
//!   moves the P. Retaking computing Ms sooner would turn every CPU-bound
//!   goroutine into a thread of its own.
//!
//! A retake is a CAS on the P's ownership word, with a process-wide
//! barrier for a P in goroutine code (see [`crate::pstatus`]); the old
//! M notices when its goroutine next enters the runtime: runtime calls then
//! take their P-less paths, and at the next safe point (`preempt_point`, a
//! park, a yield, the goroutine's end) the goroutine is requeued and the M
//! goes idle.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::p::{self, P};
use crate::sched::{Sched, SchedPtr};
use crate::sys;

/// Go's `forcePreemptNS`: the time slice.
pub(crate) const FORCE_PREEMPT_NS: i64 = 10_000_000;
/// Poll the network if nobody has for this long.
const NETPOLL_STALE_NS: i64 = 10_000_000;
/// Release idle pooled stacks, and trim the G and task caches, this often.
const STACK_TRIM_NS: i64 = 1_000_000_000;

/// sysmon's last observation of one P (Go: `sysmontick`).
#[derive(Clone, Copy, Default)]
struct Tick {
    schedtick: u32,
    schedwhen: i64,
    resumetick: u32,
    resumeword: u64,
    resumewhen: i64,
    cpu: i64,
}

pub(crate) fn start(sched: &std::sync::Arc<Sched>) {
    let ptr = SchedPtr(&**sched as *const Sched);
    let h = std::thread::Builder::new()
        .name(format!("{}-sysmon", sched.config.name))
        .spawn(move || {
            let ptr = ptr;
            // SAFETY: shutdown joins sysmon before the Sched can be freed.
            let sched = unsafe { &*ptr.0 };
            run(sched);
        })
        .unwrap_or_else(|e| crate::sys::fatal(&format!("gort: cannot start sysmon: {e}")));
    crate::checkdead::SYSTEM_THREADS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    *sched.sysmon_thread.lock() = Some(h);
}

pub(crate) fn join(sched: &Sched) {
    let h = sched.sysmon_thread.lock().take();
    if let Some(h) = h {
        let _ = h.join();
        crate::checkdead::SYSTEM_THREADS.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

fn run(sched: &Sched) {
    // The process registers for membarrier here, off every goroutine's
    // path: the kernel takes milliseconds to register, and until it is done
    // both sides of the barrier pair are fences (see crate::membarrier).
    crate::membarrier::init();
    let mut ticks = Vec::new();
    let mut idle = 0u32;
    let mut delay_us = 0u64;
    let mut last_trim = sys::nanotime();
    let mut was_idle = false;
    loop {
        if idle == 0 {
            delay_us = 20;
        } else if idle > 50 {
            delay_us *= 2;
        }
        delay_us = delay_us.min(10_000);
        if sched.sysmon_note.sleep_timeout(Duration::from_micros(delay_us)) {
            sched.sysmon_note.clear();
        }
        if sched.is_shutdown() {
            return;
        }
        sched.counters.sysmon_rounds.fetch_add(1, Ordering::Relaxed);
        let mut now = sys::nanotime();
        sys::set_coarse_now(now);
        let all_idle = sched.npidle.load(Ordering::SeqCst) == sched.nprocs();
        // Go checks for deadlock as an M goes idle; gort's sysmon does it
        // when its runtime is fully idle or when asked (checkdead docs).
        if crate::checkdead::take_request() || (all_idle && !was_idle) {
            crate::checkdead::check();
        }
        was_idle = all_idle;
        // Every P idle yet goroutines wait for I/O with nobody blocked in
        // the poller (an M lost its P just before its goroutine parked):
        // keep polling every 10 ms below rather than sleeping deeply.
        let io_unpolled = sched.poller().has_waiters() && sched.lastpoll.load(Ordering::SeqCst) != 0;
        if all_idle && !io_unpolled && !crate::debug::schedtrace_on() {
            let guard = sched.idle.lock();
            if sched.npidle.load(Ordering::SeqCst) == sched.nprocs() {
                let next = sched.timers_wake_time();
                let sleep = if next == 0 { 60_000_000_000 } else { (next - now).clamp(0, 60_000_000_000) };
                // Memory a burst left cached comes back within rounds even
                // when idle (Go's scavenger); see scavenge.rs.
                let sleep = if crate::scavenge::pending(sched) { sleep.min(STACK_TRIM_NS) } else { sleep };
                // A deadlock check asked for since the look above must not
                // wait out this sleep: `sysmon_wait` first, then the flag
                // (the Dekker pair of checkdead::request).
                if sleep > 0 {
                    sched.sysmon_wait.store(true, Ordering::SeqCst);
                    if crate::checkdead::requested() {
                        // Taken at the top of the next round instead.
                        sched.sysmon_wait.store(false, Ordering::SeqCst);
                    } else {
                        drop(guard);
                        let woken = sched.sysmon_note.sleep_timeout(Duration::from_nanos(sleep as u64));
                        let _guard = sched.idle.lock();
                        sched.sysmon_wait.store(false, Ordering::SeqCst);
                        sched.sysmon_note.clear();
                        // Only a syscall's wake (or a stopping world's)
                        // shortens the rounds; a P going busy or a deadlock
                        // check does not (see `Sched::pidleget`).
                        let short = sched.sysmon_syscall_wake.swap(false, Ordering::Relaxed);
                        if woken && short {
                            idle = 0;
                            delay_us = 20;
                        }
                    }
                }
            }
        }
        if sched.is_shutdown() {
            return;
        }
        now = sys::nanotime();
        sys::set_coarse_now(now);

        // Poll the network if nobody has for a while.
        let lastpoll = sched.lastpoll.load(Ordering::SeqCst);
        if sched.net_poller.get().is_some()
            && lastpoll != 0
            && lastpoll + NETPOLL_STALE_NS < now
            && sched.lastpoll.compare_exchange(lastpoll, now, Ordering::SeqCst, Ordering::Relaxed).is_ok()
        {
            let mut list = Vec::new();
            sched.poller().poll(Some(0), &mut list);
            sched.counters.polls.fetch_add(1, Ordering::Relaxed);
            sched.inject_list(None, &mut list);
        }

        if retake(sched, &mut ticks, now) > 0 {
            idle = 0;
        } else {
            idle += 1;
        }

        if now - last_trim >= STACK_TRIM_NS {
            // Give back what a burst left cached: idle stacks' pages, dead
            // Gs and task blocks beyond the caches' steady-state sizes.
            last_trim = now;
            crate::scavenge::run(sched);
            sched.reap_exited_ms();
        }
        crate::debug::maybe_schedtrace(sched, now);
    }
}

/// Retakes Ps from stuck Ms and requests preemption; returns how many Ps
/// were retaken. Go: `retake`.
fn retake(sched: &Sched, ticks: &mut Vec<Tick>, now: i64) -> u32 {
    let mut n = 0;
    // The live Ps may have changed (procresize): a P revived from the dead
    // starts with a fresh observation.
    ticks.resize(sched.nprocs() as usize, Tick::default());
    for (p, t) in sched.live_ps().zip(ticks.iter_mut()) {
        let w = p.status_view();
        let state = w & p::STATE_MASK;
        if state == p::IDLE {
            continue;
        }

        // Time slice: a P whose schedtick stood still for 10 ms.
        let st = p.schedtick.load(Ordering::Relaxed);
        if st != t.schedtick {
            t.schedtick = st;
            t.schedwhen = now;
        } else if t.schedwhen + FORCE_PREEMPT_NS <= now && state == p::USER {
            preemptone(sched, p);
            // One request per slice.
            t.schedwhen = now;
        }

        if state != p::USER && state != p::SYSCALL {
            continue;
        }
        // Never retake on the first round that sees the M away.
        let rt = p.resumetick.load(Ordering::Relaxed);
        if rt != t.resumetick || w != t.resumeword {
            t.resumetick = rt;
            t.resumeword = w;
            t.resumewhen = now;
            t.cpu = cpu_time(p.clock.load(Ordering::Relaxed)).unwrap_or(0);
            continue;
        }
        let away = now - t.resumewhen;
        let kind = if state == p::SYSCALL {
            Away::Blocked
        } else {
            match cpu_time(p.clock.load(Ordering::Relaxed)) {
                Some(cpu) => away_kind(cpu - t.cpu, away, p.lock_sleeps.load(Ordering::Relaxed) != 0, || {
                    thread_runnable(p.tid.load(Ordering::Relaxed))
                }),
                None => Away::Blocked,
            }
        };
        // A stopping world waits for this P as if work were queued on it.
        let has_work = !p.runq_empty() || sched.gcwaiting();
        let work_waits = || {
            let timers_due = {
                let wt = p.timers.wake_time();
                wt != 0 && wt <= now
            };
            has_work || timers_due || (!sched.runq.is_empty() && sched.npidle.load(Ordering::SeqCst) == 0)
        };
        let retake = match kind {
            // Go hands such a P off at once when work waits or nobody
            // spins, starting a thread if none is idle. When many Ms are in
            // short blocking calls together (500 goroutines resolving a
            // name at once, next to a build) that grew the soak to 23
            // threads. So the quick hand-off starts a thread only while the
            // runtime has few; past that the P waits for an idle M, for its
            // own M's return, or for a time slice, after which it is handed
            // off anyway (a blocking call that waits for another goroutine
            // must not hold every P).
            Away::Blocked => {
                away >= FORCE_PREEMPT_NS
                    || ((has_work
                        || sched.nmspinning.load(Ordering::SeqCst) + sched.npidle.load(Ordering::SeqCst)
                            == 0)
                        && handoff_ok(sched))
            }
            Away::LockWait => false,
            // A new thread would wait for a CPU like this one: on a machine
            // loaded 10x over, a hand-off per starved M grew the soak to
            // 15-23 threads. So only to an M already idle, or by starting
            // one while the runtime has few (a loop on the only M of a
            // small runtime must still lose its P).
            Away::Starved => away >= STARVED_SLICE_NS && work_waits() && handoff_ok(sched),
            Away::Computing => away >= FORCE_PREEMPT_NS && work_waits(),
        };
        if retake && p.try_retake(w) {
            sched.counters.handoffs.fetch_add(1, Ordering::Relaxed);
            t.resumeword = 0;
            sched.handoffp(p);
            n += 1;
        }
    }
    n
}

/// Why an M in goroutine code has stayed away from the scheduler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Away {
    /// Asleep in the kernel (little CPU, and not runnable), in a call gort
    /// does not know blocks (a std mutex, a sleep, a read of a pipe), or in
    /// a declared `syscall`: its P goes to another M if goroutines wait for
    /// it, at once while an M is idle or the runtime has few, else after a
    /// time slice.
    Blocked,
    /// Asleep on a runtime lock, whose holder runs or waits for a CPU: the
    /// P stays, as Go never hands off a P for a lock wait; a new M would
    /// wait for the same lock.
    LockWait,
    /// Got less than a quarter of a CPU while away: a busy machine keeps it
    /// waiting for one. A new M would wait for a CPU just the same, and
    /// handing Ps off on every such wait multiplied threads next to a CPU
    /// hog (issue 12: 15 to 70), so the P stays for ten time slices
    /// ([`STARVED_SLICE_NS`]); a loop that gets so little CPU for that long
    /// is still handed off, so its queue does not starve with it, but a
    /// thread is started for it only while the runtime has few.
    Starved,
    /// A loop without a runtime call: after its time slice its P goes to
    /// another M if work waits.
    Computing,
}

/// How long a starved M keeps its P before a loop on it is handed off
/// anyway: ten of Go's time slices. A thread descheduled by a busy machine
/// waits a few ms (the kernel's scheduling period), far less than this.
const STARVED_SLICE_NS: i64 = 10 * FORCE_PREEMPT_NS;

/// Whether a P may be handed off before its time is up (a starved M's,
/// or a blocked one's): an idle M can take it, or the runtime has fewer
/// than `2 * max_procs + IDLE_M_RESERVE` Ms, so a new one may be started.
fn handoff_ok(sched: &Sched) -> bool {
    let idle = sched.idle.lock();
    !idle.midle.is_empty()
        || (idle.mcount as usize) < 2 * sched.nprocs() as usize + crate::runtime::IDLE_M_RESERVE
}

/// Classifies an M that has been away `away` ns, having used `cpu` ns of
/// CPU meanwhile; `lock_wait` if it sleeps on a runtime lock; `runnable`
/// asks the kernel whether the thread is running or ready to.
fn away_kind(cpu: i64, away: i64, lock_wait: bool, runnable: impl FnOnce() -> bool) -> Away {
    if lock_wait {
        Away::LockWait
    } else if cpu * 2 < away && !runnable() {
        Away::Blocked
    } else if cpu * 4 < away {
        Away::Starved
    } else {
        Away::Computing
    }
}

/// Asks the goroutine running on `p` to yield at its next runtime call
/// (Go: `preemptone`, without the signal).
fn preemptone(sched: &Sched, p: &P) {
    p.preempt.store(true, Ordering::Relaxed);
    sched.counters.preempt_requests.fetch_add(1, Ordering::Relaxed);
}

/// CPU time used so far by the thread whose CPU clock is `clock`, in ns.
fn cpu_time(clock: libc::clockid_t) -> Option<i64> {
    if clock == -1 {
        return None;
    }
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into a valid local; the clock id of an
    // exited thread makes it fail, which we report as None.
    let r = unsafe { libc::clock_gettime(clock, &mut ts) };
    (r == 0).then(|| ts.tv_sec * 1_000_000_000 + ts.tv_nsec)
}

/// Whether the kernel has thread `tid` of this process running or ready to
/// run (state `R` in /proc). Read only for an M sysmon suspects is stuck.
fn thread_runnable(tid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")) else {
        return false;
    };
    // The state follows the parenthesised command name, which may contain
    // spaces: take the field after the last ')'.
    stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()) == Some("R")
}

/// The CPU clock of the calling thread (for sysmon), -1 if unavailable.
pub(crate) fn thread_cpu_clock() -> libc::clockid_t {
    let mut clock: libc::clockid_t = -1;
    // SAFETY: pthread_self is always valid; the out-pointer is a local.
    let r = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) };
    if r == 0 { clock } else { -1 }
}

#[cfg(test)]
mod tests {
    use super::{Away, away_kind};

    const MS: i64 = 1_000_000;

    #[test]
    fn away_kind_tells_blocked_starved_and_computing_apart() {
        // Asleep in the kernel: blocked (its P may go to another M).
        assert_eq!(away_kind(MS / 10, 20 * MS, false, || false), Away::Blocked);
        // Runnable with little CPU: waiting for one, starved.
        assert_eq!(away_kind(0, 20 * MS, false, || true), Away::Starved);
        assert_eq!(away_kind(4 * MS, 20 * MS, false, || true), Away::Starved);
        // Asleep on a runtime lock, whatever the kernel says.
        assert_eq!(away_kind(0, 20 * MS, true, || false), Away::LockWait);
        // A loop that gets its share of a busy machine: computing.
        assert_eq!(away_kind(8 * MS, 20 * MS, false, || true), Away::Computing);
        assert_eq!(away_kind(20 * MS, 20 * MS, false, || true), Away::Computing);
    }
}
