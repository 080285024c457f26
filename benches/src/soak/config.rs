//! The soak's settings and their command line.
//!
//! Go: none (benches/go/soak/config.go takes the same flags).

use std::time::Duration;

/// What to run and for how long; every count of issue 12's mix can be
/// changed (`--help` lists the flags).
#[derive(Clone, Debug)]
pub struct Config {
    /// Ps of the runtime (GOMAXPROCS of the Go twin).
    pub procs: usize,
    /// Length of the run before the stop.
    pub secs: u64,
    /// Ping-pong pairs.
    pub pairs: usize,
    /// Select producers.
    pub producers: usize,
    /// Select consumers.
    pub consumers: usize,
    /// Goroutines contending the one mutex.
    pub mutex: usize,
    /// Timer loopers.
    pub timers: usize,
    /// Context-tree builders.
    pub ctx: usize,
    /// TCP echo clients.
    pub clients: usize,
    /// Seconds between samples of RSS, fds and threads (0: secs/30, 1 to 5).
    pub sample_secs: u64,
    /// A worker that makes no progress this long mid-run is a hang.
    pub stall_secs: u64,
    /// Every goroutine must be joined this long after the stop.
    pub join_secs: u64,
    /// Most OS threads allowed (0: procs + 12, see [`Config::thread_bound`]).
    pub max_threads: usize,
    /// Print each sample as it is taken, and every check.
    pub verbose: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            procs: 2,
            secs: 120,
            pairs: 1000,
            producers: 20,
            consumers: 500,
            mutex: 200,
            timers: 200,
            ctx: 50,
            clients: 500,
            sample_secs: 0,
            stall_secs: 30,
            join_secs: 60,
            max_threads: 0,
            verbose: true,
        }
    }
}

const USAGE: &str = "usage: soak [--secs N] [--procs N] [--pairs N] [--producers N] [--consumers N] \
[--mutex N] [--timers N] [--ctx N] [--clients N] [--sample-secs N] [--stall-secs N] [--join-secs N] \
[--max-threads N] [--quiet]";

impl Config {
    /// Parses the soak's flags; `Err` carries the message to print (the
    /// usage for `--help`).
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Config, String> {
        let mut c = Config::default();
        let mut it = args.into_iter();
        while let Some(a) = it.next() {
            if a == "-h" || a == "--help" {
                return Err(USAGE.to_string());
            }
            if a == "--quiet" {
                c.verbose = false;
                continue;
            }
            const FLAGS: [&str; 13] = [
                "--secs",
                "--procs",
                "--pairs",
                "--producers",
                "--consumers",
                "--mutex",
                "--timers",
                "--ctx",
                "--clients",
                "--sample-secs",
                "--stall-secs",
                "--join-secs",
                "--max-threads",
            ];
            if !FLAGS.contains(&a.as_str()) {
                return Err(format!("unknown argument {a:?}\n{USAGE}"));
            }
            let v = it.next().ok_or_else(|| format!("{a} needs a number, e.g. {a} 10"))?;
            let v: u64 =
                v.parse().map_err(|_| format!("{a} {v:?}: not a non-negative integer, e.g. {a} 10"))?;
            let n = v as usize;
            match a.as_str() {
                "--secs" => c.secs = v,
                "--procs" => c.procs = n,
                "--pairs" => c.pairs = n,
                "--producers" => c.producers = n,
                "--consumers" => c.consumers = n,
                "--mutex" => c.mutex = n,
                "--timers" => c.timers = n,
                "--ctx" => c.ctx = n,
                "--clients" => c.clients = n,
                "--sample-secs" => c.sample_secs = v,
                "--stall-secs" => c.stall_secs = v,
                "--join-secs" => c.join_secs = v,
                _ => c.max_threads = n,
            }
        }
        if c.procs == 0 {
            return Err("--procs 0: the runtime needs at least one P, e.g. --procs 2".into());
        }
        if c.secs == 0 {
            return Err("--secs 0: give the run a length, e.g. --secs 20".into());
        }
        if c.producers == 0 && c.consumers > 0 {
            return Err("--producers 0 with consumers: nothing would close the work channel; \
                        give at least one producer or --consumers 0"
                .into());
        }
        Ok(c)
    }

    /// Time between samples (see `sample_secs`).
    pub fn sample_every(&self) -> Duration {
        let s = if self.sample_secs > 0 { self.sample_secs } else { (self.secs / 30).clamp(1, 5) };
        Duration::from_secs(s)
    }

    /// The most OS threads the run may use: max_procs Ms and 8 more in
    /// reserve for goroutines in syscalls and idle Ms (issue 12's bound:
    /// max_procs + 8 Ms), plus four that are not Ms: the main thread, the
    /// soak's monitor, gort's sysmon and its SIGQUIT-dump thread.
    pub fn thread_bound(&self) -> usize {
        if self.max_threads > 0 { self.max_threads } else { self.procs + 8 + 4 }
    }

    /// The settings as `key=value` words, for the first line of output.
    pub fn describe(&self) -> String {
        format!(
            "procs={} secs={} pairs={} producers={} consumers={} mutex={} timers={} ctx={} clients={} \
             sample_secs={} stall_secs={} join_secs={} max_threads={}",
            self.procs,
            self.secs,
            self.pairs,
            self.producers,
            self.consumers,
            self.mutex,
            self.timers,
            self.ctx,
            self.clients,
            self.sample_every().as_secs(),
            self.stall_secs,
            self.join_secs,
            self.thread_bound()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, String> {
        Config::parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn flags_set_fields_and_bad_input_names_the_fix() {
        let c = parse(&["--secs", "25", "--procs", "4", "--clients", "0", "--quiet"]).unwrap();
        assert_eq!((c.secs, c.procs, c.clients, c.verbose), (25, 4, 0, false));
        assert_eq!(c.thread_bound(), 4 + 12);
        assert!(parse(&["--secs"]).unwrap_err().contains("--secs needs a number"));
        assert!(parse(&["--secs", "x"]).unwrap_err().contains("not a non-negative integer"));
        assert!(parse(&["--bogus"]).unwrap_err().contains("unknown argument \"--bogus\""));
        assert!(parse(&["--procs", "0"]).unwrap_err().contains("at least one P"));
        assert!(parse(&["--help"]).unwrap_err().starts_with("usage:"));
    }

    #[test]
    fn sampling_period_follows_the_run_length() {
        let every = |secs| Config { secs, ..Config::default() }.sample_every().as_secs();
        assert_eq!((every(10), every(120), every(600)), (1, 4, 5));
    }
}
