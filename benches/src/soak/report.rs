//! The soak's checks and output: check lines, latency lines, the sampled
//! series, and one machine-readable summary line.
//!
//! Go: none (benches/go/soak/report.go prints the same lines).
//!
//! Output, in order (the Go twin's is line for line the same):
//! - `check NAME ok|FAIL key=value...`, one per check;
//! - `latency NAME n=.. p50=.. p99=.. p99.9=.. max=..` in µs, for `timer`
//!   (reset then recv), `after` (select and recv_timeout timeouts),
//!   `sleep` and `ctx_wake` (root cancel to grandchild running);
//! - `series t_s|rss_kb|fds|threads|goroutines v1 v2 ...`, one value per
//!   sample;
//! - `stalls workers=N worst_ms=.. worst=WORKER`: how many workers went
//!   `stall_secs` without progress mid-run, and the longest such gap
//!   (information, see `monitor`);
//! - `SOAK impl=gort result=pass|fail|hang failed=NAMES key=value...`.
//!
//! The growth checks leave out the warm-up (samples before a fifth of the
//! run, at least 10 s) and compare the largest sample of the last third of
//! the rest with the largest of its first third: fds may grow by a quarter
//! plus 64, RSS by half plus 32 MiB; with fewer than 6 samples after the
//! warm-up they say `skipped`. Independently, fds never exceed the start's
//! plus three per client plus 64 (a client's socket, the server's end, one
//! more in the moment a client reconnects before the server saw the
//! close), and threads stay within the bound at every sample.

use super::monitor::{Proc, Sample, Stalls, Watch};
use super::progress::Part;
use super::{Joined, Shared, contexts, mutex, pingpong, selects, tcp, timers};

/// The checks so far.
#[derive(Default)]
pub(crate) struct Checks {
    list: Vec<(String, bool, String)>,
}

impl Checks {
    /// Adds check `name`, passed or not, with its figures.
    pub(crate) fn add(&mut self, name: &str, ok: bool, detail: String) {
        self.list.push((name.to_string(), ok, detail));
    }

    fn failed(&self) -> Vec<&str> {
        self.list.iter().filter(|c| !c.1).map(|c| c.0.as_str()).collect()
    }
}

/// What a run printed, and whether it passed.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Whether every check passed.
    pub passed: bool,
    /// `check ...` lines.
    pub checks: Vec<String>,
    /// `latency ...` lines.
    pub latency: Vec<String>,
    /// `series ...` lines, then the `stalls ...` line.
    pub series: Vec<String>,
    /// The `SOAK ...` line.
    pub summary: String,
}

impl Report {
    /// Prints every line, in the order of the module docs.
    pub fn print(&self) {
        for l in self.checks.iter().chain(&self.latency).chain(&self.series) {
            println!("{l}");
        }
        println!("{}", self.summary);
    }
}

/// Largest value of the first and of the last third of `v`, if it has at
/// least 6 values.
fn thirds(v: &[u64]) -> Option<(u64, u64)> {
    if v.len() < 6 {
        return None;
    }
    let k = v.len() / 3;
    Some((*v[..k].iter().max()?, *v[v.len() - k..].iter().max()?))
}

/// Adds the growth checks of the module docs.
fn growth(sh: &Shared, start: &Proc, samples: &[Sample], c: &mut Checks) {
    let warm = (sh.cfg.secs / 5).max(10);
    let steady: Vec<&Sample> = samples.iter().filter(|s| s.t >= warm).collect();
    let col = |f: fn(&Sample) -> u64| steady.iter().map(|s| f(s)).collect::<Vec<u64>>();
    for (name, v, frac, slack) in
        [("fds", col(|s| s.p.fds), 4, 64), ("rss", col(|s| s.p.rss_kb), 2, 32 * 1024)]
    {
        match thirds(&v) {
            None => {
                c.add(name, true, format!("skipped: {} samples after the {warm} s warm-up, need 6", v.len()))
            }
            Some((first, last)) => {
                let bound = first + first / frac + slack;
                c.add(
                    name,
                    last <= bound,
                    format!("first_third_max={first} last_third_max={last} bound={bound}"),
                );
            }
        }
    }
    let max_of = |f: fn(&Sample) -> u64| samples.iter().map(f).max().unwrap_or(0);
    let (fds, fd_bound) = (max_of(|s| s.p.fds), start.fds + 3 * sh.cfg.clients as u64 + 64);
    c.add(
        "fds_max",
        fds <= fd_bound,
        format!("max={fds} bound={fd_bound} (start {} + 3 per client + 64)", start.fds),
    );
    let (threads, bound) = (max_of(|s| s.p.threads), sh.cfg.thread_bound() as u64);
    c.add(
        "threads",
        threads <= bound,
        format!(
            "max={threads} bound={bound} (max_procs {} + 8 Ms in reserve + main, monitor, sysmon, sigquit)",
            sh.cfg.procs
        ),
    );
}

fn series(samples: &[Sample]) -> Vec<String> {
    let line = |name: &str, f: fn(&Sample) -> u64| {
        let v: Vec<String> = samples.iter().map(|s| f(s).to_string()).collect();
        format!("series {name} {}", v.join(" "))
    };
    vec![
        line("t_s", |s| s.t),
        line("rss_kb", |s| s.p.rss_kb),
        line("fds", |s| s.p.fds),
        line("threads", |s| s.p.threads),
        line("goroutines", |s| s.goroutines as u64),
    ]
}

fn latency(sh: &Shared) -> Vec<String> {
    let l = &sh.lat;
    vec![
        l.timer.line("timer_late_us"),
        l.after.line("after_late_us"),
        l.sleep.line("sleep_late_us"),
        l.ctx_wake.line("ctx_wake_us"),
    ]
}

/// The `stalls` line.
fn stalls_line(st: &Stalls) -> String {
    format!(
        "stalls workers={} worst_ms={} worst={}",
        st.workers,
        st.worst.as_millis(),
        if st.worst_label.is_empty() { "-" } else { &st.worst_label }
    )
}

/// The summary line.
fn summary(sh: &Shared, result: &str, failed: &[&str], w: (&[Sample], &Stalls), extra: &str) -> String {
    let (samples, st) = w;
    let l = &sh.lat;
    let q = |h: &super::Hist, name: &str| {
        format!(
            "{name}_p50={} {name}_p99={} {name}_p999={} {name}_max={}",
            h.quantile(0.5),
            h.quantile(0.99),
            h.quantile(0.999),
            h.max()
        )
    };
    let max = |f: fn(&Sample) -> u64| samples.iter().map(f).max().unwrap_or(0);
    format!(
        "SOAK impl=gort result={result} failed={} procs={} secs={} pp={} prod={} cons={} mu={} tm={} ctx={} \
         tcp={}{extra} rss_kb_max={} fds_max={} threads_max={} thread_bound={} stalled_workers={} \
         worst_stall_ms={} {} {} {} {}",
        if failed.is_empty() { "-".to_string() } else { failed.join(",") },
        sh.cfg.procs,
        sh.cfg.secs,
        sh.progress.sum(Part::PpSend),
        sh.progress.sum(Part::Producer),
        sh.progress.sum(Part::Consumer),
        sh.progress.sum(Part::Mutex),
        sh.progress.sum(Part::Timer),
        sh.progress.sum(Part::Ctx),
        tcp::messages(sh),
        max(|s| s.p.rss_kb),
        max(|s| s.p.fds),
        max(|s| s.p.threads),
        sh.cfg.thread_bound(),
        st.workers,
        st.worst.as_millis(),
        q(&l.timer, "timer"),
        q(&l.after, "after"),
        q(&l.sleep, "sleep"),
        q(&l.ctx_wake, "ctx"),
    )
}

/// The report after the joins.
pub(crate) fn build(sh: &Shared, start: &Proc, w: &Watch, j: &Joined) -> Report {
    let (samples, stalls, panics) = (&w.samples[..], &w.stalls, &j.panics);
    let mut c = Checks::default();
    c.add(
        "joins",
        panics.is_empty(),
        format!(
            "goroutines={} joined_in_ms={} panics={}{}",
            j.goroutines,
            j.joined_in.as_millis(),
            panics.len(),
            panics.first().map(|p| format!(" first: {p}")).unwrap_or_default()
        ),
    );
    pingpong::check(sh, &mut c);
    selects::check(sh, &mut c);
    mutex::check(sh, &mut c);
    timers::check(sh, &mut c);
    contexts::check(sh, &mut c);
    tcp::check(sh, &mut c);
    match &j.leaks {
        Ok(()) => c.add("leaks", true, "no goroutine left after the joins".into()),
        Err(l) => c.add("leaks", false, l.replace('\n', " | ")),
    }
    growth(sh, start, samples, &mut c);
    let end = Proc::now();
    let fd_bound = start.fds + 8;
    c.add(
        "fds_end",
        end.fds <= fd_bound,
        format!("start={} end={} bound={fd_bound} (start + the runtime's poller fds)", start.fds, end.fds),
    );
    let failed = c.failed();
    let result = if failed.is_empty() { "pass" } else { "fail" };
    let extra = format!(" joined_ms={}", j.joined_in.as_millis());
    let summary = summary(sh, result, &failed, (samples, stalls), &extra);
    let mut series = series(samples);
    series.push(stalls_line(stalls));
    Report {
        passed: failed.is_empty(),
        checks: c
            .list
            .iter()
            .map(|(n, ok, d)| format!("check {n} {} {d}", if *ok { "ok" } else { "FAIL" }))
            .collect(),
        latency: latency(sh),
        series,
        summary,
    }
}

/// The report of a hung run: latencies and series so far, result `hang`.
pub(crate) fn partial(sh: &Shared, samples: &[Sample], stalls: &Stalls, why: &str) -> Report {
    let extra = format!(" hang=\"{why}\"");
    let summary = summary(sh, "hang", &["hang"], (samples, stalls), &extra);
    let mut series = series(samples);
    series.push(stalls_line(stalls));
    let r = Report { passed: false, checks: Vec::new(), latency: latency(sh), series, summary };
    for l in r.latency.iter().chain(&r.series) {
        println!("{l}");
    }
    r
}
