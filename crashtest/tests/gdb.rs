//! gdb's view of goroutines (runtime/gort-gdb.py): `info goroutines` and
//! `goroutine N bt` against a process whose goroutines are parked in five
//! primitives (the `gdb-server` scenario stops itself with SIGTRAP).

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs gdb in batch mode on the scenario with `args` before the program,
/// killing it after a minute. Returns gdb's stdout and stderr.
fn gdb(args: &[&str]) -> String {
    let exe = env!("CARGO_BIN_EXE_gort-crashtest");
    let mut cmd = Command::new("gdb");
    cmd.args(["-nx", "-batch"]).args(args).args(["-ex", "kill", "--args", exe, "gdb-server"]);
    let mut child = match cmd.env("GORT_MAXPROCS", "2").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()
    {
        Ok(c) => c,
        Err(e) => panic!(
            "cannot run gdb ({e}): install it with `sudo apt-get install -y gdb` (Debian's gdb, with Python)"
        ),
    };
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        let _ = err.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("gdb still running after 60 s: {}", reader.join().unwrap());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    reader.join().unwrap()
}

fn blocking_line(name: &str) -> usize {
    let src = include_str!("../src/main.rs");
    let marker = format!("// blocks: {name}");
    src.lines().position(|l| l.trim_end().ends_with(&marker)).unwrap_or_else(|| panic!("no {marker}")) + 1
}

#[test]
fn gdb_lists_goroutines_and_unwinds_a_parked_one() {
    // The script as gdb auto-loads it from the binary (.debug_gdb_scripts),
    // once the binary's directory is trusted.
    let dir = std::path::Path::new(env!("CARGO_BIN_EXE_gort-crashtest")).parent().unwrap().to_str().unwrap();
    let safe = format!("add-auto-load-safe-path {dir}");
    let out = gdb(&[
        "-iex",
        &safe,
        "-ex",
        "run",
        "-ex",
        "info goroutines",
        "-ex",
        "goroutine all bt 20",
        "-ex",
        "goroutine 1 bt",
    ]);
    for (state, name) in [
        ("IO wait", "accept_loop"),
        ("chan receive", "request_worker"),
        ("chan send", "result_sender"),
        ("sync.Mutex.Lock", "cache_updater"),
        ("sync.WaitGroup.Wait", "shutdown_waiter"),
        ("sleep", "janitor"),
    ] {
        let listed = out
            .lines()
            .find(|l| l.contains(&format!("[{state}]")) && l.contains("created at crashtest/src/main.rs:"))
            .unwrap_or_else(|| panic!("info goroutines lacks [{state}]: {out}"));
        let id: u64 = listed.split_whitespace().next().unwrap().parse().unwrap();
        assert!(listed.ends_with("by goroutine 1"), "{listed}");
        // Its backtrace: from its header to the next goroutine's.
        let header = format!("goroutine {id} [{state}]:\n");
        let bt = &out[out.find(&header).unwrap_or_else(|| panic!("no bt of {id}: {out}"))..];
        let bt = &bt[header.len()..];
        let bt = &bt[..bt.find("\ngoroutine ").unwrap_or(bt.len())];
        let frame = bt
            .lines()
            .find(|l| l.contains(&format!(" gort_crashtest::server::{name} ")))
            .unwrap_or_else(|| panic!("{name} not in goroutine {id}'s backtrace: {bt}"));
        assert!(frame.ends_with(&format!("at crashtest/src/main.rs:{}", blocking_line(name))), "{frame}");
    }
    // The goroutine that raised the trap runs: its registers are its thread's.
    assert!(out.contains("gort: goroutine 1 is running"), "{out}");
}

#[test]
fn the_script_loads_by_hand_too() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../runtime/gort-gdb.py");
    let out = gdb(&[
        "-iex",
        "set auto-load python-scripts off",
        "-x",
        script,
        "-ex",
        "run",
        "-ex",
        "info goroutines",
    ]);
    assert!(out.contains("[chan receive]") && out.contains("[sync.WaitGroup.Wait]"), "{out}");
}
