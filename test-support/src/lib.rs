//! What gort's integration tests share across crates (a dev-dependency,
//! never published): re-running the current test binary as a child
//! process for a test whose subject ends the process, a watchdog that
//! turns a hang into a failure, the message of a caught panic (and a
//! check of it), and the source-mirror check of the loom models that copy
//! code they cannot compile ([`check_mirror`]).
//!
//! Crate-specific helpers (the runtime's `Wg` and `Slot`, gort-sync's
//! park/ready channel, the etcd client helpers, the channels' drop
//! counter) stay in each crate's `tests/common/mod.rs`.

use std::any::Any;
use std::process::{Command, ExitStatus};
use std::sync::mpsc;
use std::time::Duration;

/// The environment variable that marks a child: its value is the name of
/// the test the child runs.
pub const CHILD_ENV: &str = "GORT_CHILD";

/// Runs the current test binary again with only test `name`, marking the
/// child with `GORT_CHILD=name` (and `RUST_BACKTRACE=0`); returns its exit
/// status and stderr. For tests whose subject ends the process.
///
/// `name` is the test function's name; a test in a module of a test
/// binary (`tests/golang/main.rs`'s modules) is found by its full libtest
/// path, so callers need not spell the module.
pub fn run_child(name: &str) -> (ExitStatus, String) {
    run_child_env(name, &[])
}

/// [`run_child`] with extra environment variables for the child.
pub fn run_child_env(name: &str, env: &[(&str, &str)]) -> (ExitStatus, String) {
    let exe = std::env::current_exe().expect("the current test binary");
    let full = test_path(&exe, name);
    let out = Command::new(exe)
        .args(["--exact", &full, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, name)
        .env("RUST_BACKTRACE", "0")
        .envs(env.iter().copied())
        .output()
        .expect("running the test binary as a child");
    (out.status, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Whether this process is the child for test `name`.
pub fn is_child(name: &str) -> bool {
    std::env::var(CHILD_ENV).as_deref() == Ok(name)
}

/// The libtest path of test `name` in binary `exe`: `name` itself, or the
/// one `module::name` the binary lists. Panics, naming the test, if there
/// is none or more than one, so that a child never runs no test (and
/// passes) or the wrong one.
fn test_path(exe: &std::path::Path, name: &str) -> String {
    let out = Command::new(exe)
        .args([name, "--list"])
        .env_remove(CHILD_ENV)
        .output()
        .expect("listing the test binary's tests");
    let listing = String::from_utf8_lossy(&out.stdout);
    let suffix = format!("::{name}");
    let found: Vec<&str> = listing
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .filter(|t| *t == name || t.ends_with(&suffix))
        .collect();
    match found.as_slice() {
        [one] => one.to_string(),
        [] => panic!("run_child: no test named {name:?} in {}", exe.display()),
        many => panic!("run_child: {name:?} names several tests ({many:?}); pass the full path"),
    }
}

/// Aborts the process if it is still alive `secs` seconds after
/// [`watchdog`] was called, unless the guard was dropped first.
pub struct Watchdog {
    _done: mpsc::Sender<()>,
}

/// Starts a watchdog for test `name`: if the returned guard is still alive
/// after `secs` seconds, it prints that the test is still running and
/// aborts the process, so that a deadlock fails the suite instead of
/// hanging it. Dropping the guard stops the watchdog.
pub fn watchdog(name: &str, secs: u64) -> Watchdog {
    let (tx, rx) = mpsc::channel::<()>();
    let name = name.to_string();
    std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(Duration::from_secs(secs)) {
            eprintln!("test {name}: still running after {secs} s (deadlock?)");
            std::process::abort();
        }
    });
    Watchdog { _done: tx }
}

/// The message of a caught panic (`&str` or `String` payloads; empty for
/// any other payload).
pub fn panic_message(p: &(dyn Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// Runs `f`, which must panic with a message starting with `want`;
/// returns the whole message.
#[track_caller]
pub fn want_panic(want: &str, f: impl FnOnce()) -> String {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    let Err(p) = r else { panic!("got no panic, want one starting with {want:?}") };
    let msg = panic_message(&*p);
    assert!(msg.starts_with(want), "got panic message {msg:?}, want one starting with {want:?}");
    msg
}

/// One function a loom model copies: the file (under the crate's `src/`),
/// the text that starts the function (`"fn start("`), and the statements
/// the model copies, in the order they must appear (whitespace is not
/// significant).
pub type Mirrored<'a> = (&'a str, &'a str, &'a [&'a str]);

/// Checks that the source a loom model copies still reads what the copy
/// reads: for each [`Mirrored`] entry, the function is still in the file
/// and still contains the statements, in that order, before the next `fn`.
/// `crate_dir` is the crate's `CARGO_MANIFEST_DIR`; `model` names the
/// model's file for the message. Panics naming the file, the function,
/// the statement and the model to update.
#[track_caller]
pub fn check_mirror(crate_dir: &str, model: &str, mirrored: &[Mirrored<'_>]) {
    if let Err(e) = find_mirror(crate_dir, model, mirrored) {
        panic!("{e}");
    }
}

/// [`check_mirror`]'s search; the error is its panic message.
fn find_mirror(crate_dir: &str, model: &str, mirrored: &[Mirrored<'_>]) -> Result<(), String> {
    for (file, func, stmts) in mirrored {
        let path = format!("{crate_dir}/src/{file}");
        let src = squash(&std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?);
        let func = squash(func);
        let start = src.find(&func).ok_or_else(|| format!("{file}: `{func}` is gone; revisit {model}"))?;
        // The function ends where the next one starts.
        let body = &src[start + func.len()..];
        let mut body = &body[..body.find(" fn ").unwrap_or(body.len())];
        for stmt in *stmts {
            let stmt = squash(stmt);
            let at = body.find(&stmt).ok_or_else(|| {
                format!(
                    "{file}: `{func}` no longer has `{stmt}` where {model} expects it; update the model with the code"
                )
            })?;
            body = &body[at + stmt.len()..];
        }
    }
    Ok(())
}

/// `s` with every run of white space folded into one space.
fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_message_reads_both_payloads() {
        let p = std::panic::catch_unwind(|| panic!("static")).unwrap_err();
        assert_eq!(panic_message(&*p), "static");
        let n = 7;
        let p = std::panic::catch_unwind(move || panic!("formatted {n}")).unwrap_err();
        assert_eq!(panic_message(&*p), "formatted 7");
    }

    #[test]
    fn want_panic_checks_the_message() {
        assert_eq!(want_panic("bad", || panic!("bad input: {}", 3)), "bad input: 3");
        let wrong = std::panic::catch_unwind(|| want_panic("bad", || panic!("other")));
        assert!(wrong.is_err(), "a panic with another message must fail the check");
        let none = std::panic::catch_unwind(|| want_panic("bad", || {}));
        assert!(none.is_err(), "no panic must fail the check");
    }

    #[test]
    fn a_child_runs_only_its_test_and_reports_its_end() {
        const NAME: &str = "a_child_runs_only_its_test_and_reports_its_end";
        if is_child(NAME) {
            eprintln!("child says hello");
            std::process::exit(3);
        }
        let (status, stderr) = run_child(NAME);
        assert_eq!(status.code(), Some(3), "{stderr}");
        assert!(stderr.contains("child says hello"), "{stderr}");
    }

    #[test]
    fn a_watchdog_aborts_a_hung_test_naming_it() {
        const NAME: &str = "a_watchdog_aborts_a_hung_test_naming_it";
        if is_child(NAME) {
            let _w = watchdog("the hung one", 1);
            std::thread::sleep(Duration::from_secs(60));
            eprintln!("the watchdog never fired");
            return;
        }
        /// SIGABRT's number on Linux (test-support takes no libc dependency).
        const SIGABRT: i32 = 6;
        let (status, stderr) = run_child(NAME);
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(SIGABRT), "{status:?}: {stderr}");
        assert!(stderr.contains("test the hung one: still running after 1 s"), "{stderr}");
        assert!(!stderr.contains("never fired"), "{stderr}");
    }

    #[test]
    fn a_dropped_watchdog_does_not_fire() {
        drop(watchdog("a_dropped_watchdog_does_not_fire", 1));
        std::thread::sleep(Duration::from_millis(1500));
    }

    /// A crate directory holding `src/a.rs` with `text`, for the mirror
    /// check's tests; removed when the returned guard drops.
    struct TempCrate(std::path::PathBuf);

    impl TempCrate {
        fn new(tag: &str, text: &str) -> TempCrate {
            let dir = std::env::temp_dir().join(format!("gort-mirror-{tag}-{}", std::process::id()));
            std::fs::create_dir_all(dir.join("src")).unwrap();
            std::fs::write(dir.join("src/a.rs"), text).unwrap();
            TempCrate(dir)
        }
        fn dir(&self) -> &str {
            self.0.to_str().unwrap()
        }
    }

    impl Drop for TempCrate {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const SRC: &str =
        "fn one() {\n    let x = 1;\n    if x  ==  1 {\n        go();\n    }\n}\nfn two() { stop(); }\n";

    #[test]
    fn the_mirror_check_passes_on_the_copied_statements_in_order() {
        let c = TempCrate::new("pass", SRC);
        check_mirror(c.dir(), "m.rs", &[("a.rs", "fn one(", &["let x = 1;", "if x == 1 { go();"])]);
        check_mirror(c.dir(), "m.rs", &[("a.rs", "fn two(", &["stop();"])]);
    }

    #[test]
    fn the_mirror_check_fails_on_a_change() {
        let c = TempCrate::new("fail", SRC);
        let err = |m: &[Mirrored<'_>]| find_mirror(c.dir(), "m.rs", m).unwrap_err();
        // A statement the function no longer has.
        let e = err(&[("a.rs", "fn one(", &["let x = 2;"])]);
        assert_eq!(
            e,
            "a.rs: `fn one(` no longer has `let x = 2;` where m.rs expects it; update the model with the code"
        );
        // Statements out of order.
        assert!(err(&[("a.rs", "fn one(", &["go();", "let x = 1;"])]).contains("no longer has `let x = 1;`"));
        // A statement of the next function does not count.
        assert!(err(&[("a.rs", "fn one(", &["stop();"])]).contains("no longer has `stop();`"));
        // A function that is gone, and a file that is gone.
        assert_eq!(err(&[("a.rs", "fn three(", &[])]), "a.rs: `fn three(` is gone; revisit m.rs");
        assert!(err(&[("b.rs", "fn one(", &[])]).contains("/src/b.rs: "));
        want_panic("a.rs: `fn three(` is gone", || {
            check_mirror(c.dir(), "m.rs", &[("a.rs", "fn three(", &[])])
        });
    }
}
