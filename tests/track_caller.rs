//! Misuse panics name the caller's line, not a line inside gort: every
//! API that panics on misuse is `#[track_caller]`. Each case panics on
//! purpose and checks the message (Go's words) and that the location the
//! panic reports is this file.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Once};
use std::time::Duration;

use gort::sync::{Barrier, ErrGroup, Semaphore, WaitGroup};

thread_local! {
    /// Set while a panic is expected on this thread: where it happened.
    static LAST: RefCell<Option<Option<(String, u32)>>> = const { RefCell::new(None) };
}

/// Runs `f`, which must panic; returns its message and the file and line
/// the panic reported.
fn panic_site(f: impl FnOnce()) -> (String, String, u32) {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        // gort installs its hook when the first runtime starts; ours goes
        // on top: it records where an expected panic happened (silently)
        // and passes every other panic (a failed assertion) on.
        gort::run(|| ());
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let expected = LAST.with(|l| {
                let mut l = l.borrow_mut();
                let e = l.is_some();
                if e {
                    *l = Some(info.location().map(|l| (l.file().to_string(), l.line())));
                }
                e
            });
            if !expected {
                prev(info);
            }
        }));
    });
    LAST.with(|l| *l.borrow_mut() = Some(None));
    let r = catch_unwind(AssertUnwindSafe(f));
    let site = LAST.with(|l| l.borrow_mut().take()).flatten();
    let p = r.expect_err("the call must panic");
    let msg = p
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    let (file, line) = site.expect("the hook saw the panic");
    (msg, file, line)
}

/// Asserts that `f` panics with a message starting with `msg`, at line
/// `line` of this file (`line!()` when the call is on the same line).
#[track_caller]
fn assert_site(msg: &str, line: u32, f: impl FnOnce()) {
    let (got, file, at) = panic_site(f);
    assert!(got.starts_with(msg), "message {got:?}, want {msg:?}");
    assert_eq!((file.as_str(), at), (file!(), line), "panic location for {msg:?}");
}

#[test]
fn waitgroup_misuse_points_at_the_caller() {
    let wg = WaitGroup::new();
    assert_site("sync: negative WaitGroup counter", line!() + 1, || {
        wg.done();
    });
    let wg = WaitGroup::new();
    assert_site("sync: negative WaitGroup counter", line!(), || wg.add(-2));
}

#[test]
fn semaphore_misuse_points_at_the_caller() {
    let s = Semaphore::new(2);
    assert_site("semaphore: released more than held", line!(), || s.release(1));
    s.acquire(1);
    assert_site("semaphore: released more than held", line!(), || s.release(2));
    // The slow path: the acquire has to queue.
    assert_site("semaphore: acquire of 3 exceeds", line!(), || s.acquire(3));
    s.release(1);
}

#[test]
fn errgroup_misuse_points_at_the_caller() {
    let g: ErrGroup<()> = ErrGroup::new();
    g.set_limit(Some(0));
    assert_site("errgroup: go with a limit of 0", line!(), || g.go(|| Ok(())));
    g.set_limit(None);
    let hold = gort::chan::<()>(0);
    let h = hold.clone();
    g.go(move || {
        h.recv();
        Ok(())
    });
    assert_site("errgroup: modify limit while 1 goroutines", line!(), || g.set_limit(Some(1)));
    hold.close();
    g.wait().unwrap();
}

#[test]
fn barrier_misuse_points_at_the_caller() {
    assert_site("parties must be positive number", line!(), || drop(Barrier::new(0)));
    assert_site("parties must be positive number", line!(), || drop(Barrier::with_action(0, || {})));
}

#[test]
fn channel_misuse_points_at_the_caller() {
    let c = gort::chan::<i32>(1);
    c.close();
    assert_site("close of closed channel", line!(), || c.close());
    let tx = gort::chan::<i32>(0).sender();
    tx.close();
    assert_site("close of closed channel", line!(), || tx.close());
    assert_site("makechan: size out of range", line!(), || drop(gort::chan::<u64>(usize::MAX)));
}

#[test]
fn ticker_misuse_points_at_the_caller() {
    assert_site("non-positive interval for NewTicker", line!(), || drop(gort::Ticker::new(Duration::ZERO)));
    let t = gort::Ticker::new(Duration::from_secs(60));
    assert_site("non-positive interval for Ticker.Reset", line!(), || t.reset(Duration::ZERO));
}

#[test]
fn the_spawn_site_of_a_group_task_is_the_caller() {
    // #[track_caller] on ErrGroup::go and WaitGroup::go also makes the
    // goroutine dump name the user's line as the spawn site.
    let wg = Arc::new(WaitGroup::new());
    let hold = gort::chan::<()>(0);
    let h = hold.clone();
    let line = line!() + 1;
    wg.go(move || {
        h.recv();
    });
    let all = gort::debug::goroutines();
    assert!(
        all.iter().any(|g| g.spawn_site.is_some_and(|s| s.file() == file!() && s.line() == line)),
        "no goroutine created at {}:{line}: {all:#?}",
        file!()
    );
    hold.close();
    wg.wait();
}

#[test]
fn group_misuse_points_at_the_caller() {
    use gort::sync::group::{SchedGroup, SizedGroup};
    let sg = SchedGroup::new(&gort::context::background());
    sg.wait().unwrap();
    let msg = "schedgroup: attempted to schedule task after Group.Wait was called";
    assert_site(msg, line!(), || sg.delay(Duration::ZERO, || {}));
    assert_site(msg, line!(), || sg.schedule(std::time::Instant::now(), || {}));
    assert_site("schedgroup: multiple calls to Group.Wait", line!() + 1, || {
        let _ = sg.wait();
    });
    let g = SizedGroup::new(2);
    let _shared = g.clone();
    assert_site("syncs: set a group's options before cloning it", line!(), || drop(g.preemptive()));
}
