//! Diagnostics: goroutine dump, leak check, schedtrace, metrics. (The
//! deadlock report and SIGQUIT need a process of their own: crashtest/.)

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Slot, Wg, is_child};
use gort_runtime::debug::WaitReason;
use gort_runtime::debug::{dump_string, goroutines};
use gort_runtime::testing::LeakCheck;
use gort_runtime::{Builder, Runtime, spawn};

fn wait_until(mut f: impl FnMut() -> bool) {
    let t = std::time::Instant::now();
    while !f() {
        assert!(t.elapsed() < Duration::from_secs(10), "condition never held");
        gort_runtime::sleep(Duration::from_millis(1));
    }
}

#[test]
fn dump_shows_state_name_and_spawn_site() {
    let rt = Runtime::builder().max_procs(2).build().unwrap();
    rt.block_on(|| {
        let (slot, slot2) = (Arc::new(Slot::new()), Arc::new(Slot::new()));
        let (s1, s2) = (slot.clone(), slot2.clone());
        let recv_line = line!() + 1;
        let r = Builder::new().name("receiver").spawn(move || s1.take());
        let sl = spawn(|| gort_runtime::sleep(Duration::from_secs(5)));
        let j = spawn(move || {
            let inner = spawn(move || s2.take());
            inner.join().unwrap()
        });
        wait_until(|| {
            let gs = goroutines();
            gs.iter().filter(|g| g.wait_reason.is_some()).count() >= 4
        });
        let gs = goroutines();
        let recv = gs.iter().find(|g| g.id == r.id()).unwrap();
        assert_eq!(recv.wait_reason, Some(WaitReason::ChanReceive));
        assert_eq!(recv.name, "receiver");
        assert_eq!(recv.header(), format!("goroutine {} [chan receive]:", r.id()));
        let site = recv.spawn_site.unwrap();
        assert!(site.file().ends_with("diagnostics.rs") && site.line() == recv_line, "{site}");
        let me = gort_runtime::current().unwrap().id();
        assert_eq!(recv.parent_id, me);
        assert_eq!(gs.iter().find(|g| g.id == sl.id()).unwrap().state, "sleep");
        assert_eq!(gs.iter().find(|g| g.id == j.id()).unwrap().state, "goroutine join");
        assert_eq!(gs.iter().find(|g| g.id == me).unwrap().state, "running");
        let text = dump_string();
        assert!(
            text.contains(&format!("goroutine {} [chan receive]:\n\tname: receiver\n", r.id())),
            "{text}"
        );
        assert!(
            text.contains(&format!("created by goroutine {me}\n\truntime/tests/diagnostics.rs:{recv_line}:")),
            "{text}"
        );
        slot.put(1);
        r.join().unwrap();
        slot2.put(2);
        j.join().unwrap();
    });
}

#[test]
fn dump_marks_locked_goroutines_and_long_waits_in_minutes() {
    let rt = Runtime::builder().max_procs(2).build().unwrap();
    rt.block_on(|| {
        let slot = Arc::new(Slot::new());
        let s = slot.clone();
        let h = spawn(move || {
            gort_runtime::lock_os_thread();
            s.take();
            gort_runtime::unlock_os_thread();
        });
        wait_until(|| goroutines().iter().any(|g| g.id == h.id() && g.wait_reason.is_some()));
        let mut g = goroutines().into_iter().find(|g| g.id == h.id()).unwrap();
        assert!(g.locked_to_thread);
        assert!(g.header().ends_with("[chan receive, locked to thread]:"), "{}", g.header());
        g.waiting = Duration::from_secs(5 * 60 + 3);
        assert!(g.header().contains("[chan receive, 5 minutes, locked to thread]"), "{}", g.header());
        slot.put(0);
        h.join().unwrap();
    });
}

#[test]
fn metrics_count_spawns_parks_and_completions() {
    let rt = Runtime::builder().max_procs(2).build().unwrap();
    let before = rt.metrics();
    rt.block_on(|| {
        let wg = Arc::new(Wg::new(100));
        for _ in 0..100 {
            let wg = wg.clone();
            spawn(move || {
                gort_runtime::sleep(Duration::from_millis(1));
                wg.done();
            });
        }
        wg.wait();
    });
    // wg.done() comes before each goroutine's exit: wait for the exits
    // themselves (bounded) rather than assume they happened.
    let t = std::time::Instant::now();
    let mut m = rt.metrics();
    while m.completed - before.completed < 100 && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(1));
        m = rt.metrics();
    }
    assert_eq!(m.spawned - before.spawned, 101); // the 100 plus block_on's
    assert!(m.completed - before.completed >= 100, "{m:?}");
    assert!(m.parks - before.parks >= 100, "{m:?}");
    assert_eq!(m.max_procs, 2);
    assert!(m.threads_started >= 1);
}

#[test]
fn leak_check_names_the_leaked_goroutine() {
    let rt = Runtime::builder().max_procs(2).build().unwrap();
    rt.block_on(|| {
        let check = LeakCheck::new().timeout(Duration::from_millis(50));
        let slot = Arc::new(Slot::new());
        let s = slot.clone();
        let line = line!() + 1;
        let leaked = Builder::new().name("forgotten").spawn(move || s.take());
        let err = check.check().unwrap_err();
        assert_eq!(err.0.len(), 1);
        assert_eq!(err.0[0].id, leaked.id());
        let text = err.to_string();
        assert!(text.contains("found 1 unexpected goroutine(s)"), "{text}");
        assert!(text.contains(&format!("diagnostics.rs:{line}")), "{text}");
        assert!(text.contains("[chan receive]"), "{text}");
        // Fixed: the goroutine gets its value and finishes.
        slot.put(1);
        check.assert();
        leaked.join().unwrap();
    });
}

#[test]
fn leak_check_waits_for_finishing_goroutines() {
    let rt = Runtime::builder().max_procs(2).build().unwrap();
    rt.block_on(|| {
        let check = LeakCheck::new();
        for _ in 0..10 {
            spawn(|| gort_runtime::sleep(Duration::from_millis(20)));
        }
        check.assert();
        gort_runtime::testing::assert_no_leaks();
    });
}

#[test]
fn schedtrace_prints_go_lines() {
    const NAME: &str = "schedtrace_prints_go_lines";
    if is_child(NAME) {
        let rt = Runtime::builder().max_procs(2).build().unwrap();
        rt.block_on(|| {
            for _ in 0..20 {
                gort_runtime::sleep(Duration::from_millis(5));
            }
        });
        return;
    }
    let (status, stderr) = common::run_child_env(NAME, &[("GORT_SCHEDTRACE", "10")]);
    assert!(status.success(), "{stderr}");
    let line = stderr.lines().find(|l| l.starts_with("SCHED ")).unwrap_or_else(|| panic!("{stderr}"));
    for field in
        ["gomaxprocs=2", "idleprocs=", "threads=", "spinningthreads=", "runqueue=", "[", "schedticks=["]
    {
        assert!(line.contains(field), "{line}");
    }
}
