//! The monitor: a plain OS thread that samples the process, ends the run,
//! and turns a hang into a report and exit status 1.
//!
//! Go: none (the Go twin's monitor is a goroutine: Go's scheduler is the
//! reference, not the thing under test).
//!
//! It is not a goroutine on purpose: if the scheduler loses goroutines, a
//! goroutine watchdog could be lost with them. Every `sample_every` it
//! reads VmRSS, the open fds and the threads from /proc/self, and the
//! runtime's goroutine count. Every second it compares each worker's
//! progress counter with the last value: a worker whose counter has not
//! moved for `stall_secs` while the run is on is a hang. At `secs` it sets
//! the stop flag; from then the joins have `join_secs` to finish. A hang
//! prints what is stuck, a summary of the goroutine dump by state and
//! kind, the runtime's metrics and the dump itself (stderr), the partial
//! results, and exits with status 1. (`GORT_SCHEDTRACE=1000` adds sysmon's
//! scheduler trace on stderr.)

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use gort::Runtime;

use super::progress::Part;
use super::{JOINED, RUNNING, STOPPING, Shared, report, tcp};

/// A reading of /proc/self.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Proc {
    pub(crate) rss_kb: u64,
    pub(crate) fds: u64,
    pub(crate) threads: u64,
}

impl Proc {
    pub(crate) fn now() -> Proc {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let rss_kb = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        let count = |d: &str| std::fs::read_dir(d).map_or(0, |r| r.count() as u64);
        Proc { rss_kb, fds: count("/proc/self/fd"), threads: count("/proc/self/task") }
    }

    pub(crate) fn describe(&self) -> String {
        format!("rss_kb={} fds={} threads={}", self.rss_kb, self.fds, self.threads)
    }
}

/// One sample: seconds into the run, the process, the goroutines.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sample {
    pub(crate) t: u64,
    pub(crate) p: Proc,
    pub(crate) goroutines: usize,
}

/// The work done so far, as the sample lines print it.
fn work(sh: &Shared) -> String {
    let s = |p| sh.progress.sum(p);
    format!(
        "pp={} prod={} cons={} mu={} tm={} ctx={} tcp={}",
        s(Part::PpSend),
        s(Part::Producer),
        s(Part::Consumer),
        s(Part::Mutex),
        s(Part::Timer),
        s(Part::Ctx),
        tcp::messages(sh)
    )
}

/// Samples, stops the run, watches for hangs (module docs); returns the
/// samples once the goroutine side has joined everything.
pub(crate) fn watch(rt: &Runtime, sh: &Shared) -> Vec<Sample> {
    let cfg = &sh.cfg;
    let start = Instant::now();
    let mut samples = Vec::new();
    let mut next_sample = cfg.sample_every();
    let mut last = sh.progress.snapshot();
    let mut moved = vec![start; last.len()];
    let mut next_check = Duration::from_secs(1);
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let el = start.elapsed();
        match sh.phase.load(Ordering::Acquire) {
            JOINED => return samples,
            STOPPING => {
                let since = Duration::from_nanos(sh.now_ns() - sh.stop_ns.load(Ordering::Acquire));
                if since >= Duration::from_secs(cfg.join_secs) {
                    let why = format!("the joins did not finish within {} s of the stop", cfg.join_secs);
                    hang(rt, sh, &why, &[], &samples);
                }
                continue;
            }
            _ => {}
        }
        if el >= next_sample {
            let s = Sample { t: el.as_secs(), p: Proc::now(), goroutines: rt.num_goroutine() };
            if cfg.verbose {
                println!("sample t={}s {} goroutines={} {}", s.t, s.p.describe(), s.goroutines, work(sh));
            }
            samples.push(s);
            next_sample += cfg.sample_every();
        }
        if el >= next_check {
            next_check += Duration::from_secs(1);
            let now = Instant::now();
            for (i, v) in sh.progress.snapshot().into_iter().enumerate() {
                if v != last[i] {
                    (last[i], moved[i]) = (v, now);
                }
            }
            let stalled = stuck(sh, &last, &moved, Duration::from_secs(cfg.stall_secs));
            if !stalled.is_empty() {
                let why =
                    format!("{} worker(s) made no progress for {} s mid-run", stalled.len(), cfg.stall_secs);
                hang(rt, sh, &why, &stalled, &samples);
            }
        }
        if el >= Duration::from_secs(cfg.secs) && sh.phase.load(Ordering::Acquire) == RUNNING {
            sh.stop_ns.store(sh.now_ns(), Ordering::Release);
            sh.stop.store(true, Ordering::Relaxed);
            sh.phase.store(STOPPING, Ordering::Release);
            if cfg.verbose {
                println!("stopping t={}s goroutines={} {}", el.as_secs(), rt.num_goroutine(), work(sh));
            }
        }
    }
}

/// Workers whose counter has not moved for `min`, with their count and
/// the time since it last moved.
fn stuck(sh: &Shared, last: &[u64], moved: &[Instant], min: Duration) -> Vec<String> {
    let now = Instant::now();
    let mut out = Vec::new();
    for (i, m) in moved.iter().enumerate() {
        let idle = now - *m;
        if idle >= min {
            out.push(format!(
                "{} (count {}, idle {:.1} s)",
                sh.progress.label(i),
                last[i],
                idle.as_secs_f64()
            ));
        }
    }
    out
}

/// Prints the hang report and exits with status 1.
fn hang(rt: &Runtime, sh: &Shared, why: &str, stalled: &[String], samples: &[Sample]) -> ! {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "HANG: {why}");
    for s in stalled.iter().take(40) {
        let _ = writeln!(o, "  stalled: {s}");
    }
    if stalled.len() > 40 {
        let _ = writeln!(o, "  ... and {} more", stalled.len() - 40);
    }
    let gs = rt.goroutines();
    let mut by: BTreeMap<(String, String), (usize, Duration)> = BTreeMap::new();
    for g in &gs {
        let kind = match g.name.split('/').next() {
            Some(k) if !k.is_empty() => k.to_string(),
            _ => g.spawn_site.map_or("?".into(), |s| format!("{}:{}", s.file(), s.line())),
        };
        let e = by.entry((g.state.clone(), kind)).or_default();
        e.0 += 1;
        e.1 = e.1.max(g.waiting);
    }
    let _ = writeln!(o, "goroutines: {} (by state and kind, longest wait):", gs.len());
    for ((state, kind), (n, w)) in &by {
        let _ = writeln!(o, "  {n:6} [{state}] {kind} (waiting up to {:.1} s)", w.as_secs_f64());
    }
    let _ = writeln!(o, "not parked (runnable, running, syscall):");
    for g in gs.iter().filter(|g| g.wait_reason.is_none()).take(40) {
        let _ = write!(o, "{g}");
    }
    let _ = writeln!(o, "metrics: {:#?}", rt.metrics());
    let _ = writeln!(o, "proc now: {}", Proc::now().describe());
    let _ = writeln!(o, "work so far: {}", work(sh));
    drop(o);
    eprintln!("goroutine dump ({} goroutines):", gs.len());
    for g in &gs {
        eprint!("{g}");
    }
    let r = report::partial(sh, samples, why);
    println!("{}", r.summary);
    let _ = std::io::stdout().flush();
    std::process::exit(1);
}
