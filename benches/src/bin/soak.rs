//! The long mixed soak of issue 12 (see `gort_benches::soak`): thousands of
//! goroutines on `max_procs` Ps for `--secs`, then a stop, the joins and
//! the checks. Exit status 0 only if every check passed; 1 on a failed
//! check or a hang (the hang report comes with a goroutine dump).
//!
//! ```text
//! cargo run --release -p gort-benches --bin soak -- --secs 120 [--procs 2] [--help]
//! GORT_SCHEDTRACE=1000 cargo run --release -p gort-benches --bin soak   # plus sysmon's trace
//! ```
//!
//! Its Go twin is benches/go/soak (`go run ./gosoak -secs 120`), with the
//! same flags and output; benches/soak.sh runs it several times under load.

use std::time::Duration;

use gort_benches::soak::{self, Config};

fn main() {
    let cfg = match Config::parse(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(msg) if msg.starts_with("usage:") => {
            println!("{msg}");
            return;
        }
        Err(msg) => {
            eprintln!("soak: {msg}");
            std::process::exit(2);
        }
    };
    let rt = gort::Runtime::builder().max_procs(cfg.procs).build().unwrap_or_else(|e| {
        eprintln!("soak: cannot build the runtime: {e}");
        std::process::exit(2);
    });
    let report = soak::run(&rt, &cfg);
    report.print();
    if !report.passed {
        // A goroutine may still be parked: dropping the runtime could wait
        // for it. The failure is reported; leave the runtime to the exit.
        std::mem::forget(rt);
        std::process::exit(1);
    }
    if !rt.shutdown_timeout(Duration::from_secs(10)) {
        println!("FAIL: the runtime's threads did not exit within 10 s of the drop");
        std::process::exit(1);
    }
    println!("after_drop {}", soak::proc_now());
}
