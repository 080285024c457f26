//! The monitor: a plain OS thread that samples the process, ends the run,
//! and turns a hang into a report and exit status 1.
//!
//! Go: none (the Go twin's monitor is a goroutine: Go's scheduler is the
//! reference, not the thing under test).
//!
//! It is not a goroutine on purpose: if the scheduler loses goroutines, a
//! goroutine watchdog could be lost with them. Every `sample_every` it
//! reads VmRSS, the open fds and the threads from /proc/self, and the
//! runtime's goroutine count. Every second it reads each worker's progress
//! counter (`progress`):
//! - no counter moved at all for `stall_secs` while the run is on: a hang;
//! - one worker's counter did not move for `stall_secs`: a stall, printed
//!   (`STALL ...` with a summary of the goroutine dump, at most 3 times)
//!   but not a failure by itself: under an overloaded machine a worker can
//!   starve that long, in gort and in Go alike, while a goroutine lost by
//!   the scheduler never comes back and hangs the joins. The longest stall
//!   goes to the `stalls` line and the summary.
//!
//! At `secs` it sets the stop flag; from then the joins have `join_secs`
//! to finish, else a hang. A hang prints what is stuck (the workers that
//! never ended, or those without progress), a summary of the goroutine
//! dump by state and kind, the runtime's metrics and the dump itself
//! (stderr), the partial results, and exits with status 1.
//! (`GORT_SCHEDTRACE=1000` adds sysmon's scheduler trace on stderr.)

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

/// The longest any worker went without progress.
#[derive(Clone, Debug, Default)]
pub(crate) struct Stalls {
    /// Workers that went `stall_secs` or more without progress.
    pub(crate) workers: usize,
    /// The longest time without progress, and whose.
    pub(crate) worst: Duration,
    pub(crate) worst_label: String,
}

/// What the monitor hands back: the samples and the stalls.
pub(crate) struct Watch {
    pub(crate) samples: Vec<Sample>,
    pub(crate) stalls: Stalls,
}

/// Samples, stops the run, watches for hangs (module docs); returns once
/// the goroutine side has joined everything.
pub(crate) fn watch(rt: &Runtime, sh: &Shared) -> Watch {
    let cfg = &sh.cfg;
    let stall = Duration::from_secs(cfg.stall_secs);
    let start = Instant::now();
    let mut samples = Vec::new();
    let mut next_sample = cfg.sample_every();
    let mut last = sh.progress.snapshot();
    let mut moved = vec![start; last.len()];
    let mut stalled = vec![false; last.len()];
    let (mut stalls, mut any_moved, mut printed) = (Stalls::default(), start, 0);
    let mut next_check = Duration::from_secs(1);
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let el = start.elapsed();
        match sh.phase.load(Ordering::Acquire) {
            JOINED => return Watch { samples, stalls },
            STOPPING => {
                let since = Duration::from_nanos(sh.now_ns() - sh.stop_ns.load(Ordering::Acquire));
                if since >= Duration::from_secs(cfg.join_secs) {
                    let open: Vec<String> = sh
                        .progress
                        .snapshot()
                        .iter()
                        .enumerate()
                        .filter(|(_, (_, done))| !done)
                        .map(|(i, (n, _))| format!("{} (count {n}) never ended", sh.progress.label(i)))
                        .collect();
                    let why = format!("the joins did not finish within {} s of the stop", cfg.join_secs);
                    hang(rt, sh, &why, &open, &samples, &stalls);
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
            let mut new_stalls = Vec::new();
            for (i, v) in sh.progress.snapshot().into_iter().enumerate() {
                if v != last[i] {
                    (last[i], moved[i], stalled[i]) = (v, now, false);
                    any_moved = now;
                    continue;
                }
                let idle = now - moved[i];
                if idle > stalls.worst {
                    (stalls.worst, stalls.worst_label) = (idle, sh.progress.label(i));
                }
                if idle >= stall && !stalled[i] {
                    stalled[i] = true;
                    stalls.workers += 1;
                    new_stalls.push(format!(
                        "{} (count {}, idle {:.1} s)",
                        sh.progress.label(i),
                        v.0,
                        idle.as_secs_f64()
                    ));
                }
            }
            if now - any_moved >= stall {
                let why = format!("no worker made progress for {} s mid-run", cfg.stall_secs);
                hang(rt, sh, &why, &[], &samples, &stalls);
            }
            if !new_stalls.is_empty() && printed < 3 {
                printed += 1;
                report_stall(rt, &el, &new_stalls);
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

/// Prints a stall warning with the goroutine summary (module docs).
fn report_stall(rt: &Runtime, at: &Duration, workers: &[String]) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(
        o,
        "STALL t={}s: {} worker(s) without progress (not a failure by itself):",
        at.as_secs(),
        workers.len()
    );
    for w in workers.iter().take(10) {
        let _ = writeln!(o, "  stalled: {w}");
    }
    dump_summary(&mut o, &rt.goroutines());
}

/// The goroutines grouped by state and kind (name before the `/`, else
/// the spawn site), with the longest wait of each group.
fn dump_summary(o: &mut impl Write, gs: &[gort::debug::GoroutineInfo]) {
    let mut by: BTreeMap<(String, String), (usize, Duration)> = BTreeMap::new();
    for g in gs {
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
}

/// Prints the hang report and exits with status 1.
fn hang(rt: &Runtime, sh: &Shared, why: &str, stuck: &[String], samples: &[Sample], stalls: &Stalls) -> ! {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "HANG: {why}");
    for s in stuck.iter().take(40) {
        let _ = writeln!(o, "  {s}");
    }
    if stuck.len() > 40 {
        let _ = writeln!(o, "  ... and {} more", stuck.len() - 40);
    }
    let gs = rt.goroutines();
    dump_summary(&mut o, &gs);
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
    let r = report::partial(sh, samples, stalls, why);
    println!("{}", r.summary);
    let _ = std::io::stdout().flush();
    std::process::exit(1);
}
