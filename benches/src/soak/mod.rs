//! The long mixed soak of issue 12: thousands of goroutines on a few Ps
//! doing ping-pong, select with timeouts, mutex contention, timer
//! stop/reset, context cancellation trees and TCP echo on loopback, for a
//! fixed time; then a stop, the joins, and checks that every message
//! arrived once, nothing hung and nothing leaked.
//!
//! Go: none (its twin is benches/go/soak, started from
//! ../shared/anchors/soak/main.go; both print the same lines).
//!
//! One file per part of the mix (`pingpong`, `selects`, `mutex`, `timers`,
//! `contexts`, `tcp`), each with its counters and its check; `progress`
//! holds the per-worker counters that show no goroutine is stuck;
//! `monitor` is a plain OS thread (so it still runs if the scheduler
//! loses goroutines) that samples RSS, fds and threads, ends the run,
//! watches the joins and reports a hang with a goroutine dump; `report`
//! turns the counters into checks and prints them; `hist` is the latency
//! histogram.
//!
//! Orderings: the stop flag is a relaxed flag (workers only need to see it
//! eventually); counters are relaxed atomics read after the joins, which
//! order them; the context stamp is explained in `contexts`.

mod config;
mod contexts;
mod hist;
mod monitor;
mod mutex;
mod pingpong;
mod progress;
mod report;
mod selects;
mod tcp;
mod timers;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gort::{JoinHandle, Runtime};

pub use config::Config;
pub use hist::Hist;
pub use report::Report;

use progress::{Part, Progress};

/// The run's phases, in `Shared::phase`.
const RUNNING: u8 = 0;
const STOPPING: u8 = 1;
const JOINED: u8 = 2;

/// The latency histograms (µs).
pub(crate) struct Latencies {
    /// `Timer::reset(d)` then `recv`: time past `d`.
    pub(crate) timer: Hist,
    /// Timeouts of `after` in selects and of `recv_timeout`: time past the
    /// timeout.
    pub(crate) after: Hist,
    /// `gort::sleep(d)`: time past `d`.
    pub(crate) sleep: Hist,
    /// Root cancel to grandchild goroutine running.
    pub(crate) ctx_wake: Hist,
}

/// Everything the goroutines and the monitor share.
pub(crate) struct Shared {
    pub(crate) cfg: Config,
    stop: AtomicBool,
    /// When the monitor set `stop` (ns since `epoch`).
    stop_ns: AtomicU64,
    phase: AtomicU8,
    epoch: Instant,
    pub(crate) progress: Progress,
    pub(crate) lat: Latencies,
    pub(crate) pp: pingpong::Stats,
    pub(crate) sel: selects::Stats,
    pub(crate) mu: mutex::Stats,
    pub(crate) tm: timers::Stats,
    pub(crate) ctx: contexts::Stats,
    pub(crate) tcp: tcp::Stats,
}

impl Shared {
    fn new(cfg: &Config) -> Shared {
        let c = cfg.clone();
        let count = move |p: Part| match p {
            Part::PpSend | Part::PpRecv => c.pairs,
            Part::Producer => c.producers,
            Part::Consumer => c.consumers,
            Part::Mutex => c.mutex,
            Part::Timer => c.timers,
            Part::Ctx => c.ctx,
            Part::Client => c.clients,
        };
        Shared {
            cfg: cfg.clone(),
            stop: AtomicBool::new(false),
            stop_ns: AtomicU64::new(0),
            phase: AtomicU8::new(RUNNING),
            epoch: Instant::now(),
            progress: Progress::new(count),
            lat: Latencies {
                timer: Hist::new(),
                after: Hist::new(),
                sleep: Hist::new(),
                ctx_wake: Hist::new(),
            },
            pp: pingpong::Stats::new(cfg.pairs),
            sel: selects::Stats::new(cfg.producers),
            mu: mutex::Stats::new(),
            tm: timers::Stats::default(),
            ctx: contexts::Stats::default(),
            tcp: tcp::Stats::default(),
        }
    }

    /// Whether the run is over: workers finish their iteration and end.
    pub(crate) fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Nanoseconds since the soak started.
    pub(crate) fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// `gort::sleep(d)`, recording how late it returned.
    pub(crate) fn nap(&self, d: Duration) {
        let t = Instant::now();
        gort::sleep(d);
        self.lat.sleep.record_late(t.elapsed(), d);
    }
}

/// A small xorshift generator: each worker has its own, seeded as in the
/// Go twin.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    /// A number in `0..n`.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Spawns a named goroutine (names show in the hang report's dump; the
/// spawn site is the caller's).
#[track_caller]
pub(crate) fn go_named(name: String, f: impl FnOnce() + Send + 'static) -> JoinHandle<()> {
    gort::Builder::new().name(name).spawn(f)
}

/// What the goroutine side reports after the joins.
pub(crate) struct Joined {
    /// From the stop to the last join.
    pub(crate) joined_in: Duration,
    /// Goroutines joined (the workers and the accept loop).
    pub(crate) goroutines: usize,
    /// Panics the joins returned.
    pub(crate) panics: Vec<String>,
    /// The leak check's verdict.
    pub(crate) leaks: Result<(), String>,
}

/// Runs the soak on `rt` (whose max_procs should be `cfg.procs`) from a
/// plain thread, printing as it goes if `cfg.verbose`; exits the process
/// with status 1 on a hang (see `monitor`). The report says whether every
/// check passed.
pub fn run(rt: &Runtime, cfg: &Config) -> Report {
    let sh = Arc::new(Shared::new(cfg));
    let start = monitor::Proc::now();
    if cfg.verbose {
        println!("soak impl=gort {}", cfg.describe());
        println!("start {}", start.describe());
    }
    std::thread::scope(|s| {
        let mon = {
            let sh = sh.clone();
            std::thread::Builder::new()
                .name("soak-monitor".into())
                .spawn_scoped(s, move || monitor::watch(rt, &sh))
                .expect("soak: cannot start the monitor thread")
        };
        let body = sh.clone();
        let joined =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt.block_on(move || mix(&body))));
        let joined = match joined {
            Ok(j) => j,
            Err(p) => {
                // The goroutine side panicked (e.g. it could not listen):
                // let the monitor go rather than report a hang, then pass
                // the panic on.
                sh.phase.store(JOINED, Ordering::Release);
                let _ = mon.join();
                std::panic::resume_unwind(p)
            }
        };
        let w = mon.join().expect("the monitor thread does not panic");
        report::build(&sh, &start, &w, &joined)
    })
}

/// The goroutine side: starts the mix, joins it once the monitor sets the
/// stop, and checks for leaks.
fn mix(sh: &Arc<Shared>) -> Joined {
    let leak_check = gort::testing::LeakCheck::new().timeout(Duration::from_secs(5));
    let mut hs = Vec::new();
    let server = tcp::serve(sh);
    pingpong::spawn(sh, &mut hs);
    selects::spawn(sh, &mut hs);
    mutex::spawn(sh, &mut hs);
    timers::spawn(sh, &mut hs);
    contexts::spawn(sh, &mut hs);
    tcp::spawn_clients(sh, server.port, &mut hs);
    let goroutines = hs.len() + 1;
    let mut panics = Vec::new();
    for h in hs {
        if let Err(p) = h.join() {
            panics.push(p.to_string());
        }
    }
    if let Err(p) = tcp::stop(sh, server) {
        panics.push(p.to_string());
    }
    let joined_in = Duration::from_nanos(sh.now_ns().saturating_sub(sh.stop_ns.load(Ordering::Acquire)));
    sh.phase.store(JOINED, Ordering::Release);
    selects::drain(sh);
    mutex::settle(sh);
    let leaks = leak_check.check().map_err(|l| l.to_string());
    Joined { joined_in, goroutines, panics, leaks }
}

/// `rss_kb=.. fds=.. threads=..` of this process now.
pub fn proc_now() -> String {
    monitor::Proc::now().describe()
}
