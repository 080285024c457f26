//! Runs the scenarios of `gort-crashtest` and checks how each process ends.

use std::process::Command;

fn run(scenario: &str) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gort-crashtest"))
        .arg(scenario)
        .env("GORT_MAXPROCS", "2")
        .output()
        .expect("run gort-crashtest");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn deadlock_is_reported() {
    let (code, stderr) = run("deadlock");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.starts_with("fatal error: all goroutines are asleep - deadlock!\n\n"), "{stderr}");
    assert!(stderr.contains("[chan receive]:\n\tname: stuck\ncreated at crashtest/src/main.rs"), "{stderr}");
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
fn sigquit_dumps_goroutines_and_exits_2() {
    let (code, stderr) = run("sigquit");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.starts_with("SIGQUIT: quit\n"), "{stderr}");
    assert!(stderr.contains("[chan receive]:"), "{stderr}");
    assert!(stderr.contains("[sleep]:"), "{stderr}");
}
