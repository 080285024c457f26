//! Runtime counters and the scheduler trace.
//!
//! Go: runtime/proc.go (`schedtrace`), runtime/metrics.
//!
//! Hot counters (spawns, exits, parks, steals) live in the Ps and are
//! bumped by their owner without read-modify-write; this module sums them.

use std::sync::atomic::{AtomicI64, Ordering};

use crate::sched::Sched;

/// A snapshot of one runtime's counters (`gort::debug::metrics()`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Number of Ps (Go: `/sched/gomaxprocs:threads`).
    pub max_procs: usize,
    /// Goroutines alive (Go: `/sched/goroutines:goroutines`).
    pub goroutines: usize,
    /// Goroutines ever spawned (Go: `/sched/goroutines-created`).
    pub spawned: u64,
    /// Goroutines finished.
    pub completed: u64,
    /// Times a goroutine parked.
    pub parks: u64,
    /// Successful steals from another P's run queue.
    pub steals: u64,
    /// Ps taken from Ms that stayed away from the scheduler (sysmon
    /// retakes plus `gort::syscall` hand-offs).
    pub handoffs: u64,
    /// Preemption requests made by sysmon.
    pub preempt_requests: u64,
    /// Network polls (blocking and not).
    pub polls: u64,
    /// sysmon's rounds: 50,000 a second at most (20 µs apart), about 100
    /// once nothing has been retaken for a while (10 ms apart), none while
    /// every P is idle.
    pub sysmon_rounds: u64,
    /// M threads started.
    pub threads_started: u64,
    /// M threads that exited (idle beyond the keep-alive, or taken along
    /// by a locked goroutine that finished).
    pub threads_exited: u64,
    /// M threads alive.
    pub threads: usize,
    /// Times an idle M went to sleep.
    pub m_parks: u64,
    /// Times a sleeping M was woken to run a P.
    pub m_wakeups: u64,
    /// Ms spinning now.
    pub spinning: u32,
    /// Ps idle now.
    pub idle_procs: u32,
    /// Goroutines in the global run queue now.
    pub global_queue: usize,
    /// G structures allocated (live goroutines plus cached dead ones).
    pub gs_allocated: usize,
}

impl Sched {
    pub(crate) fn metrics(&self) -> Metrics {
        let mut m = Metrics {
            max_procs: self.nprocs() as usize,
            goroutines: self.num_goroutine(),
            spawned: self.counters.spawned_nop.load(Ordering::Relaxed),
            completed: self.counters.exited_nop.load(Ordering::Relaxed),
            handoffs: self.counters.handoffs.load(Ordering::Relaxed),
            preempt_requests: self.counters.preempt_requests.load(Ordering::Relaxed),
            polls: self.counters.polls.load(Ordering::Relaxed),
            sysmon_rounds: self.counters.sysmon_rounds.load(Ordering::Relaxed),
            threads_started: self.counters.threads_started.load(Ordering::Relaxed),
            threads_exited: self.counters.threads_exited.load(Ordering::Relaxed),
            threads: self.idle.lock().mcount as usize,
            m_parks: self.counters.m_parks.load(Ordering::Relaxed),
            m_wakeups: self.counters.m_wakeups.load(Ordering::Relaxed),
            spinning: self.nmspinning.load(Ordering::Relaxed),
            idle_procs: self.npidle.load(Ordering::Relaxed),
            global_queue: self.runq.len(),
            gs_allocated: self.allgs.lock().len(),
            ..Metrics::default()
        };
        for p in self.all_ps() {
            m.spawned += p.spawned.load(Ordering::Relaxed);
            m.completed += p.exited.load(Ordering::Relaxed);
            m.parks += p.parks.load(Ordering::Relaxed);
            m.steals += p.steals.load(Ordering::Relaxed);
        }
        m
    }
}

pub use crate::dump::{GoroutineInfo, dump, dump_string, goroutines};
pub use crate::dumpopts::{DumpOptions, dump_string_with, dump_with};
/// Why a goroutine waits, as [`GoroutineInfo::wait_reason`] reports it.
pub use crate::g::WaitReason;
pub use crate::traceback::{Frame, Traceback, TracebackMode};

/// Counters of the current runtime (the default one outside a runtime).
pub fn metrics() -> Metrics {
    crate::runtime::with_sched(|s| s.metrics())
}

/// `GORT_SCHEDTRACE` period in ns, 0 when off (read once).
fn schedtrace_period() -> i64 {
    static PERIOD: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *PERIOD.get_or_init(|| {
        std::env::var("GORT_SCHEDTRACE")
            .ok()
            .and_then(|v| v.trim().parse::<i64>().ok())
            .filter(|&ms| ms > 0)
            .map_or(0, |ms| ms * 1_000_000)
    })
}

/// Whether `GORT_SCHEDTRACE` is set (sysmon then never sleeps deeply).
pub(crate) fn schedtrace_on() -> bool {
    schedtrace_period() > 0
}

static LAST_TRACE: AtomicI64 = AtomicI64::new(0);

/// Prints Go's schedtrace line if the period has passed (called by sysmon).
pub(crate) fn maybe_schedtrace(sched: &Sched, now: i64) {
    let period = schedtrace_period();
    if period == 0 {
        return;
    }
    let last = LAST_TRACE.load(Ordering::Relaxed);
    if now - last < period {
        return;
    }
    LAST_TRACE.store(now, Ordering::Relaxed);
    eprintln!("{}", schedtrace_line(sched, now));
}

/// Go's format: `SCHED 11ms: gomaxprocs=4 idleprocs=0 threads=5
/// spinningthreads=0 needspinning=1 idlethreads=0 runqueue=0 [ 0 0 0 0 ]`.
pub(crate) fn schedtrace_line(sched: &Sched, now: i64) -> String {
    use std::fmt::Write;
    static START: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    let start = *START.get_or_init(|| now);
    let (threads, idlethreads) = {
        let idle = sched.idle.lock();
        (idle.mcount, idle.midle.len())
    };
    let mut s = format!(
        "SCHED {}ms: gomaxprocs={} idleprocs={} threads={} spinningthreads={} needspinning={} idlethreads={} runqueue={} [",
        (now - start) / 1_000_000,
        sched.nprocs(),
        sched.npidle.load(Ordering::Relaxed),
        threads,
        sched.nmspinning.load(Ordering::Relaxed),
        sched.needspinning.load(Ordering::Relaxed),
        idlethreads,
        sched.runq.len(),
    );
    for p in sched.live_ps() {
        let _ = write!(s, " {}", p.runq_len());
    }
    s.push_str(" ] schedticks=[");
    for p in sched.live_ps() {
        let _ = write!(s, " {}", p.schedtick.load(Ordering::Relaxed));
    }
    s.push_str(" ]");
    s
}
