//! Stack sizes where Go users look for them: `#[gort::main(stack_size =
//! "8M")]` for main's goroutine, `GORT_STACK_SIZE` for every goroutine, and
//! the stack-overflow message naming both. Cases that must die run in a
//! child process (this test binary, re-run with `GORT_CHILD` set).

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// Recurses `n` levels with 1 KiB frames: about `n` KiB of stack.
fn depth(n: u32) -> u32 {
    let buf = [n as u8; 1024];
    std::hint::black_box(&buf);
    if n == 0 { 0 } else { depth(n - 1) + 1 }
}

static REACHED: AtomicU32 = AtomicU32::new(0);

mod big_main {
    /// 3,000 KiB frames: far beyond the default 256 KiB goroutine stack.
    #[gort::main(stack_size = "8M")]
    pub fn main() {
        super::REACHED.store(super::depth(3_000), std::sync::atomic::Ordering::SeqCst);
    }
}

mod bytes_main {
    #[gort::main(stack_size = 4_194_304)]
    pub fn main() -> Result<(), String> {
        super::REACHED.store(super::depth(2_000), std::sync::atomic::Ordering::SeqCst);
        Err("reported by main".into())
    }
}

mod small_main {
    #[gort::main]
    pub fn main() {
        super::depth(3_000);
    }
}

/// Runs this binary again with only test `name` and the given environment.
fn child(name: &str, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env("GORT_CHILD", name)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn is_child(name: &str) -> bool {
    std::env::var("GORT_CHILD").as_deref() == Ok(name)
}

#[test]
fn main_stack_size_option_allows_deep_recursion() {
    // Each main runs in its own process: the default runtime is per process.
    const NAME: &str = "main_stack_size_option_allows_deep_recursion";
    if is_child(NAME) {
        let code = if std::env::var("WHICH").as_deref() == Ok("bytes") {
            bytes_main::main()
        } else {
            big_main::main()
        };
        let ok = code == std::process::ExitCode::SUCCESS;
        println!("reached {} success {ok}", REACHED.load(Ordering::SeqCst));
        return;
    }
    for (which, want) in [("big", 3_000), ("bytes", 2_000)] {
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", NAME, "--nocapture", "--test-threads=1"])
            .env("GORT_CHILD", NAME)
            .env("WHICH", which)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{which}: {stdout}\n{stderr}");
        assert!(stdout.contains(&format!("reached {want} success")), "{which}: {stdout}");
        if which == "bytes" {
            // main's Err is reported from the goroutine, and turns into a
            // failure exit code.
            assert!(stderr.contains("reported by main"), "{stderr}");
            assert!(stdout.contains("success false"), "{stdout}");
        } else {
            assert!(stdout.contains("success true"), "{stdout}");
        }
    }
}

#[test]
fn default_main_stack_overflows_and_the_message_names_the_fixes() {
    const NAME: &str = "default_main_stack_overflows_and_the_message_names_the_fixes";
    if is_child(NAME) {
        small_main::main();
        unreachable!("3,000 KiB of frames cannot fit in 256 KiB");
    }
    let (code, stderr) = child(NAME, &[]);
    assert_ne!(code, Some(0), "{stderr}");
    assert!(stderr.contains("stack overflow"), "{stderr}");
    assert!(stderr.contains("GORT_STACK_SIZE=8M"), "{stderr}");
    assert!(stderr.contains("#[gort::main(stack_size = \"8M\")]"), "{stderr}");
    assert!(stderr.contains("Builder::stack_size"), "{stderr}");
}

#[test]
fn gort_stack_size_sets_every_goroutines_stack() {
    const NAME: &str = "gort_stack_size_sets_every_goroutines_stack";
    if is_child(NAME) {
        // The default runtime starts here, reading GORT_STACK_SIZE=4M.
        let r = gort::go!(|| depth(2_000)).join().unwrap();
        println!("depth {r}");
        small_main::main(); // main's goroutine too
        println!("main survived");
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", NAME, "--nocapture", "--test-threads=1"])
        .env("GORT_CHILD", NAME)
        .env("GORT_STACK_SIZE", "4M")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("depth 2000") && stdout.contains("main survived"), "{stdout}");
}

#[test]
fn a_bad_gort_stack_size_is_a_clear_error() {
    const NAME: &str = "a_bad_gort_stack_size_is_a_clear_error";
    if is_child(NAME) {
        gort::go!(|| ()).join().unwrap();
        unreachable!("the default runtime must refuse to start");
    }
    let (code, stderr) = child(NAME, &[("GORT_STACK_SIZE", "8 megs")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains(r#"GORT_STACK_SIZE="8 megs" is not a stack size"#), "{stderr}");
    assert!(stderr.contains("e.g. GORT_STACK_SIZE=8M"), "{stderr}");
}
