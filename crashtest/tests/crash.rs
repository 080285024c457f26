//! Runs the scenarios of `gort-crashtest` and checks how each process ends.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Whether `s` holds `before`, a goroutine id, then `after`. Ids other
/// than main's 1 depend on which P spawned the goroutine (each P takes ids
/// in batches, as Go's goidcache), so a test cannot name them.
fn has_goid(s: &str, before: &str, after: &str) -> bool {
    s.match_indices(before).any(|(i, _)| {
        let rest = &s[i + before.len()..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        digits > 0 && rest[digits..].starts_with(after)
    })
}

fn run(scenario: &str) -> (Option<i32>, String) {
    let (code, stderr, _) = run_timed(scenario);
    (code, stderr)
}

/// Runs a scenario, killing it if it has not ended after a minute (a
/// deadlock report that never comes must fail the test, not hang it).
/// Returns its exit code, its stderr and how long it ran.
fn run_timed(scenario: &str) -> (Option<i32>, String, Duration) {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gort-crashtest"))
        .arg(scenario)
        .env("GORT_MAXPROCS", "2")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run gort-crashtest");
    let mut stderr = child.stderr.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for gort-crashtest") {
            break st;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("scenario {scenario} still running after 60 s: {}", reader.join().unwrap());
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = start.elapsed();
    (status.code(), reader.join().unwrap(), took)
}

/// A deadlock scenario: exit status 2, Go's report, and promptly (it is
/// expected well within 1 s; 10 s leaves room for a loaded machine).
fn assert_deadlock(scenario: &str) -> String {
    let (code, stderr, took) = run_timed(scenario);
    assert_eq!(code, Some(2), "{scenario}: {stderr}");
    assert!(stderr.starts_with("fatal error: all goroutines are asleep - deadlock!\n\n"), "{stderr}");
    eprintln!("{scenario}: reported after {took:?}");
    assert!(took < Duration::from_secs(10), "{scenario}: reported only after {took:?}");
    stderr
}

#[test]
fn deadlock_is_reported() {
    let (code, stderr) = run("deadlock");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.starts_with("fatal error: all goroutines are asleep - deadlock!\n\n"), "{stderr}");
    assert!(stderr.contains("[chan receive]:\n\tname: stuck\ngort_crashtest::Slot::take(...)\n"), "{stderr}");
    assert!(stderr.contains("created by goroutine 1\n\tcrashtest/src/main.rs:"), "{stderr}");
    assert!(stderr.contains("[goroutine join]:"), "{stderr}");
    assert!(stderr.contains("(a plain thread parked in gort)"), "{stderr}");
}

#[test]
fn a_pending_timer_is_no_deadlock() {
    let (code, stderr) = run("timer-is-no-deadlock");
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn a_plain_thread_that_can_still_act_is_no_deadlock() {
    let (code, stderr) = run("plain-thread-is-no-deadlock");
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn a_plain_threads_timed_wait_is_no_deadlock() {
    let (code, stderr) = run("timed-wait-is-no-deadlock");
    assert_eq!(code, Some(0), "{stderr}");
}

/// A program started with SIGQUIT ignored (as a shell starts background
/// commands) still dumps on SIGQUIT, as Go does.
#[test]
fn sigquit_dumps_even_when_started_with_it_ignored() {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gort-crashtest"));
    cmd.arg("sigquit").env("GORT_MAXPROCS", "2").stdout(Stdio::null()).stderr(Stdio::piped());
    // SAFETY: pre_exec runs in the forked child before exec; signal(2) is
    // async-signal-safe and touches only the child.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGQUIT, libc::SIG_IGN);
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.starts_with("SIGQUIT: quit\n"), "{stderr}");
}

#[test]
fn sigquit_dumps_goroutines_and_exits_2() {
    let (code, stderr) = run("sigquit");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.starts_with("SIGQUIT: quit\n"), "{stderr}");
    assert!(stderr.contains("[chan receive]:"), "{stderr}");
    assert!(stderr.contains("[sleep]:"), "{stderr}");
}

#[test]
fn channel_deadlock_is_reported_with_wait_reasons() {
    let (code, stderr) = run("chan-deadlock");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.starts_with("fatal error: all goroutines are asleep - deadlock!"), "{stderr}");
    assert!(stderr.contains("[chan receive]:\n\tname: ponger"), "{stderr}");
    assert!(stderr.contains("[select]:"), "{stderr}");
    assert!(stderr.contains("[chan receive]:\ngort_crashtest::main::{{closure}}(...)\n"), "{stderr}");
}

#[test]
fn waiting_on_a_socket_is_no_deadlock() {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_gort-crashtest"))
        .arg("socket-is-no-deadlock")
        .env("GORT_MAXPROCS", "2")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut port = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut port).unwrap();
    // Every goroutine is parked and no timer is armed for this long; only
    // the network can still wake the accept.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let _conn = std::net::TcpStream::connect(("127.0.0.1", port.trim().parse::<u16>().unwrap())).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn deadlock_after_a_sleep_is_reported() {
    let stderr = assert_deadlock("deadlock-after-sleep");
    assert!(stderr.contains("[chan receive]:"), "{stderr}");
}

#[test]
fn channel_deadlock_after_a_sleep_is_reported() {
    let stderr = assert_deadlock("chan-deadlock-after-sleep");
    assert_eq!(stderr.matches("[chan receive]:\n\tname: receiver").count(), 2, "{stderr}");
}

#[test]
fn mutex_deadlock_after_a_sleep_is_reported() {
    let stderr = assert_deadlock("mutex-deadlock-after-sleep");
    assert!(stderr.contains("[sync.Mutex.Lock]:\n\tname: waiter"), "{stderr}");
    assert!(stderr.contains("[chan receive]:\n\tname: holder"), "{stderr}");
}

#[test]
fn rwlock_deadlock_after_a_sleep_is_reported() {
    let stderr = assert_deadlock("rwlock-deadlock-after-sleep");
    assert!(stderr.contains("[sync.RWMutex.RLock]:\n\tname: reader"), "{stderr}");
}

#[test]
fn a_plain_main_thread_blocked_forever_is_reported() {
    let stderr = assert_deadlock("plain-main-deadlock");
    assert!(stderr.contains("(a plain thread parked in gort)"), "{stderr}");
}

#[test]
fn mains_panic_is_reported_when_unwinding_drops_a_panicked_goroutines_handle() {
    let (code, stderr) = run("main-panics-dropping-handles");
    // Main's panic ends the process (Rust's status for a panicking main),
    // not a fatal error about the worker's dropped handle.
    assert_eq!(code, Some(101), "{stderr}");
    assert!(!stderr.contains("fatal error"), "{stderr}");
    assert!(stderr.contains("goroutine 1 panicked at crashtest/src/main.rs"), "{stderr}");
    assert!(stderr.contains("main failed"), "{stderr}");
    // The worker's panic is not lost: the hook printed it, and a note says
    // why nobody joined it.
    assert!(has_goid(&stderr, "goroutine ", " [worker] panicked at crashtest/src/main.rs"), "{stderr}");
    assert!(
        has_goid(
            &stderr,
            "note: goroutine ",
            " [worker] had panicked (worker failed) and its JoinHandle was dropped, unjoined, while \
             goroutine 1 was panicking\n"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("dropped without join"), "{stderr}");
}

#[test]
fn a_goroutine_whose_handle_was_dropped_while_unwinding_dies_saying_so() {
    let (code, stderr) = run("handle-dropped-unwinding-then-panics");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("holder failed"), "{stderr}");
    assert!(
        has_goid(
            &stderr,
            "fatal error: unrecovered panic in goroutine ",
            " [late]: late failure\n(the goroutine's JoinHandle was dropped by a goroutine or thread \
             unwinding an earlier panic, reported above)"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("dropped without join"), "{stderr}");
}

/// Waking a goroutine durably blocked in a synctest bubble from outside
/// the bubble is a fatal error naming the goroutine, as Go's is.
#[test]
fn a_durable_wait_ended_from_outside_its_bubble_is_fatal() {
    let (code, stderr) = run("synctest-wake-from-outside");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.starts_with("fatal error: synctest: goroutine "), "{stderr}");
    assert!(stderr.contains(" [sync.Cond.Wait] woken from outside the bubble\n"), "{stderr}");
}

/// Under valgrind's memcheck, goroutine stacks are registered stacks: no
/// "client switching stacks?" warning, no memcheck error. valgrind runs the
/// debug build of a short scenario (a few seconds).
#[test]
fn valgrind_follows_goroutine_stack_switches() {
    let found = Command::new("valgrind").arg("--version").output();
    assert!(
        found.as_ref().is_ok_and(|o| o.status.success()),
        "valgrind is needed for this test and was not found: install it with \
         `sudo apt-get install -y valgrind` (Debian/Ubuntu)"
    );
    let out = Command::new("valgrind")
        .args(["--error-exitcode=1", "--quiet"])
        .arg(env!("CARGO_BIN_EXE_gort-crashtest"))
        .arg("stack-switches")
        .env("GORT_MAXPROCS", "2")
        .output()
        .expect("run valgrind");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("switching stacks"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n", "{stderr}");
}

/// The line of `src/main.rs` marked `// blocks: {name}`.
fn blocking_line(name: &str) -> usize {
    let src = include_str!("../src/main.rs");
    let marker = format!("// blocks: {name}");
    src.lines().position(|l| l.trim_end().ends_with(&marker)).unwrap_or_else(|| panic!("no {marker}")) + 1
}

#[test]
fn sigquit_shows_where_each_server_goroutine_blocks() {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_gort-crashtest"))
        .arg("sigquit-server")
        .env("GORT_MAXPROCS", "2")
        .env_remove("GORT_TRACEBACK")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut ready).unwrap();
    assert_eq!(ready, "ready\n");
    // SAFETY: signalling our own child, which is alive (it just wrote).
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGQUIT) }, 0);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.starts_with("SIGQUIT: quit\n"), "{stderr}");
    for (name, reason) in [
        ("accept_loop", "IO wait"),
        ("request_worker", "chan receive"),
        ("result_sender", "chan send"),
        ("cache_updater", "sync.Mutex.Lock"),
        ("shutdown_waiter", "sync.WaitGroup.Wait"),
        ("janitor", "sleep"),
    ] {
        let frame = format!("gort_crashtest::server::{name}(...)\n\t");
        let g =
            stderr.split("\n\n").find(|g| g.contains(&frame)).unwrap_or_else(|| panic!("{name}: {stderr}"));
        assert!(g.starts_with("goroutine ") && g.contains(&format!(" [{reason}]:\n")), "{name}: {g}");
        let at = &g[g.find(&frame).unwrap() + frame.len()..];
        let line = at.lines().next().unwrap();
        assert!(line.ends_with(&format!("crashtest/src/main.rs:{}", blocking_line(name))), "{name}: {g}");
        // The runtime's frames are hidden; the spawn site closes the trace.
        assert!(!g.contains("gort_runtime::") && !g.contains("corosensei::"), "{g}");
        assert!(g.contains("\ncreated by goroutine 1\n\tcrashtest/src/main.rs:"), "{g}");
    }
}

#[test]
fn an_unrecovered_panic_reports_the_panicking_goroutines_stack() {
    let (code, stderr) = run("unjoined-panic");
    assert_eq!(code, Some(2), "{stderr}");
    let report = &stderr
        [stderr.find("fatal error: unrecovered panic in goroutine ").unwrap_or_else(|| panic!("{stderr}"))..];
    assert!(report.contains(": order quantity must be positive\n"), "{report}");
    let id = report["fatal error: unrecovered panic in goroutine ".len()..].split(':').next().unwrap();
    let frame = format!("\n\ngoroutine {id} [running]:\ngort_crashtest::validate_order(...)\n\t");
    let at = report.find(&frame).unwrap_or_else(|| panic!("{report}")) + frame.len();
    let line = report[at..].lines().next().unwrap();
    let marked =
        include_str!("../src/main.rs").lines().position(|l| l.ends_with("// panics: validate_order"));
    assert!(line.ends_with(&format!("crashtest/src/main.rs:{}", marked.unwrap() + 1)), "{report}");
    assert!(!report.contains("std::panicking") && !report.contains("gort_runtime::"), "{report}");
    assert!(report.contains("\ncreated by goroutine 1\n\tcrashtest/src/main.rs:"), "{report}");
}
