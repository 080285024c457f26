//! Scheduler behaviour: migration and the safety model, fairness, locked
//! threads, runtime lifecycle. (The ports of Go's runtime/proc_test.go are
//! in `golang/proc_test.rs`.)

mod common;

use std::cell::Cell;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{Slot, Wg, gettid, thread_count};
use gort_runtime::engine::WaitReason;
use gort_runtime::{Builder, Runtime, spawn, yield_now};

thread_local! {
    static TID: Cell<i64> = Cell::new(gettid());
}

/// Reads the thread-local through a call LLVM may inline.
#[inline(always)]
fn tls_tid() -> i64 {
    TID.with(|t| t.get())
}

/// The safety model's test: goroutines park and resume on other threads;
/// after every park, what they read through a thread-local must be the
/// thread they now run on. Meaningful in release mode, where LLVM would
/// reuse a thread-local address across the park if the runtime let it.
#[test]
fn migration_keeps_thread_identity() {
    let rt = Runtime::builder().max_procs(2).build().unwrap();
    let seen = rt.block_on(|| {
        let tids = Arc::new(gort_runtime::engine::Lock::new(HashSet::new()));
        let wg = Arc::new(Wg::new(8));
        for _ in 0..8 {
            let (tids, wg) = (tids.clone(), wg.clone());
            spawn(move || {
                let mut mine = HashSet::new();
                for i in 0..2_000 {
                    let before = tls_tid();
                    assert_eq!(before, gettid(), "stale thread-local before park {i}");
                    if i % 2 == 0 {
                        yield_now();
                    } else {
                        gort_runtime::sleep(Duration::from_micros(1));
                    }
                    let after = tls_tid();
                    assert_eq!(after, gettid(), "stale thread-local after park {i}");
                    mine.insert(after);
                }
                tids.lock().extend(mine);
                wg.done();
            });
        }
        wg.wait();
        tids.lock().len()
    });
    assert!(seen >= 2, "goroutines never migrated between threads");
}

#[test]
fn goroutine_and_thread_ping_pong() {
    let rt = Runtime::builder().max_procs(2).build().unwrap();
    let ping = Arc::new(Slot::new());
    let pong = Arc::new(Slot::new());
    let (ping2, pong2) = (ping.clone(), pong.clone());
    let h = rt.spawn(move || {
        for _ in 0..10_000 {
            let v = ping2.take();
            pong2.put(v + 1);
        }
    });
    // This plain thread talks to the goroutine through park/ready.
    for i in 0..10_000 {
        ping.put(i);
        assert_eq!(pong.take(), i + 1);
    }
    h.join().unwrap();
}

#[test]
fn goroutines_ping_pong_across_procs() {
    let rt = Runtime::builder().max_procs(2).build().unwrap();
    rt.block_on(|| {
        let a = Arc::new(Slot::new());
        let b = Arc::new(Slot::new());
        let (a2, b2) = (a.clone(), b.clone());
        let h = spawn(move || {
            for _ in 0..100_000 {
                let v = a2.take();
                b2.put(v);
            }
        });
        for i in 0..100_000 {
            a.put(i);
            assert_eq!(b.take(), i);
        }
        h.join().unwrap();
    });
}

#[test]
fn many_runtimes_start_and_stop() {
    let before = thread_count();
    for i in 0..20 {
        let rt = Runtime::builder().max_procs(1 + i % 3).build().unwrap();
        let n = rt.block_on(move || {
            let hs: Vec<_> = (0..100).map(|k| spawn(move || k)).collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum::<usize>()
        });
        assert_eq!(n, 4950);
        drop(rt);
    }
    // Every M and sysmon thread of the dropped runtimes has exited (other
    // tests may run threads concurrently, hence the slack).
    let t = Instant::now();
    while thread_count() > before + 16 {
        assert!(t.elapsed() < Duration::from_secs(10), "threads leaked: {} > {before}", thread_count());
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Dropping a runtime while its Ms are still starting: an M whose thread
/// went to sleep before it was listed for shutdown's wake-up used to keep
/// the drop waiting forever. Several threads build, use and drop runtimes
/// whose timers start Ms right as the drop begins.
#[test]
fn shutdown_races_with_ms_starting() {
    let workers: Vec<_> = (0..8)
        .map(|w| {
            std::thread::spawn(move || {
                for i in 0..250 {
                    let rt = Runtime::builder().max_procs(2).build().unwrap();
                    rt.block_on(|| {
                        for _ in 0..3 {
                            spawn(|| gort_runtime::sleep(Duration::from_micros(200)));
                        }
                        gort_runtime::sleep(Duration::from_micros(100));
                    });
                    assert!(
                        rt.shutdown_timeout(Duration::from_secs(60)),
                        "worker {w}, runtime {i}: an M never exited"
                    );
                }
            })
        })
        .collect();
    for h in workers {
        h.join().unwrap();
    }
}

#[test]
fn dropping_with_parked_goroutines_abandons_them() {
    let rt = Runtime::builder().max_procs(2).build().unwrap();
    let slot = Arc::new(Slot::new());
    for _ in 0..10 {
        let s = slot.clone();
        rt.spawn(move || s.take()); // parks forever
    }
    std::thread::sleep(Duration::from_millis(10));
    assert_eq!(rt.num_goroutine(), 10);
    assert!(rt.shutdown_timeout(Duration::from_secs(10)));
}

#[test]
fn num_goroutine_and_current() {
    let rt = Runtime::builder().max_procs(2).build().unwrap();
    rt.block_on(|| {
        assert_eq!(gort_runtime::num_goroutine(), 1);
        let me = gort_runtime::current().unwrap();
        assert!(me.id() >= 1);
        let slot = Arc::new(Slot::new());
        let s2 = slot.clone();
        let h = Builder::new().name("worker").spawn(move || {
            let g = gort_runtime::current().unwrap();
            s2.take();
            (g.id(), g.name().map(str::to_owned))
        });
        assert_eq!(h.name(), Some("worker"));
        assert_eq!(gort_runtime::num_goroutine(), 2);
        slot.put(1);
        let (id, name) = h.join().unwrap();
        assert!(id > me.id());
        assert_eq!(name.as_deref(), Some("worker"));
    });
    assert!(gort_runtime::current().is_none(), "a plain thread is no goroutine");
}

#[test]
fn custom_stack_size_allows_deep_recursion() {
    fn depth(n: u32) -> u32 {
        let buf = [n as u8; 1024];
        std::hint::black_box(&buf);
        if n == 0 { 0 } else { depth(n - 1) + 1 }
    }
    let rt = Runtime::builder().max_procs(2).build().unwrap();
    let r = rt
        .block_on(|| Builder::new().stack_size(4 << 20).try_spawn(|| depth(2_000)).unwrap().join().unwrap());
    assert_eq!(r, 2_000);
}

#[test]
fn stack_overflow_reports_the_goroutine() {
    const NAME: &str = "stack_overflow_reports_the_goroutine";
    if common::is_child(NAME) {
        #[allow(unconditional_recursion)]
        fn recurse(n: u64) -> u64 {
            let buf = [n; 64];
            recurse(std::hint::black_box(&buf)[0] + 1) + 1
        }
        let rt = Runtime::builder().max_procs(1).build().unwrap();
        rt.block_on(|| Builder::new().name("deep").spawn(|| recurse(0)).join().ok());
        unreachable!("the overflow must kill the process");
    }
    let (status, stderr) = common::run_child(NAME);
    assert!(!status.success());
    assert!(stderr.contains("[deep]: stack overflow"), "stderr: {stderr}");
    assert!(stderr.contains("created at") && stderr.contains("scheduler.rs"), "stderr: {stderr}");
    assert!(stderr.contains("fatal error: stack overflow"), "stderr: {stderr}");
}

#[test]
fn unjoined_panic_exits_with_status_2() {
    const NAME: &str = "unjoined_panic_exits_with_status_2";
    if common::is_child(NAME) {
        let rt = Runtime::builder().max_procs(1).build().unwrap();
        rt.block_on(|| {
            drop(Builder::new().name("doomed").spawn(|| panic!("nobody joins me")));
            gort_runtime::sleep(Duration::from_secs(10));
        });
        unreachable!("the panic must end the process");
    }
    let (status, stderr) = common::run_child(NAME);
    assert_eq!(status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.contains("[doomed] panicked at"), "stderr: {stderr}");
    assert!(stderr.contains("unrecovered panic in goroutine"), "stderr: {stderr}");
    assert!(stderr.contains("nobody joins me"), "stderr: {stderr}");
}

#[test]
fn continue_policy_keeps_running() {
    let rt =
        Runtime::builder().max_procs(1).panic_policy(gort_runtime::PanicPolicy::Continue).build().unwrap();
    rt.block_on(|| {
        drop(spawn(|| panic!("ignored")));
        gort_runtime::sleep(Duration::from_millis(5));
        assert_eq!(spawn(|| 3).join().unwrap(), 3);
    });
}

#[test]
fn bad_gort_maxprocs_is_a_clear_error() {
    const NAME: &str = "bad_gort_maxprocs_is_a_clear_error";
    if common::is_child(NAME) {
        // SAFETY: the child is single-threaded at this point.
        unsafe { std::env::set_var("GORT_MAXPROCS", "lots") };
        let e = Runtime::builder().build().unwrap_err();
        assert!(e.to_string().contains("GORT_MAXPROCS=\"lots\" is not a positive integer"), "{e}");
        assert!(Runtime::builder().max_procs(0).build().is_err());
        return;
    }
    let (status, stderr) = common::run_child(NAME);
    assert!(status.success(), "{stderr}");
}

#[test]
fn goroutine_locals_follow_the_goroutine() {
    gort_runtime::local! {
        static COUNT: Cell<u32> = Cell::new(0);
        static NAME: std::cell::RefCell<String> = std::cell::RefCell::new(String::from("init"));
    }
    let rt = Runtime::builder().max_procs(2).build().unwrap();
    rt.block_on(|| {
        let hs: Vec<_> = (0..16)
            .map(|i| {
                spawn(move || {
                    for _ in 0..100 {
                        COUNT.with(|c| c.set(c.get() + 1));
                        yield_now();
                    }
                    NAME.with(|n| n.borrow_mut().push_str(&i.to_string()));
                    (COUNT.with(|c| c.get()), NAME.with(|n| n.borrow().clone()))
                })
            })
            .collect();
        for (i, h) in hs.into_iter().enumerate() {
            assert_eq!(h.join().unwrap(), (100, format!("init{i}")));
        }
    });
    // A plain thread has its own values too.
    COUNT.with(|c| c.set(5));
    assert_eq!(COUNT.with(|c| c.get()), 5);
}

#[test]
fn join_returns_the_panic() {
    let rt = Runtime::builder().max_procs(2).build().unwrap();
    let p = rt
        .block_on(|| Builder::new().name("boom").spawn(|| -> u32 { panic!("boom {}", 7) }).join())
        .unwrap_err();
    assert_eq!(p.message(), Some("boom 7"));
    assert_eq!(p.goroutine_name(), Some("boom"));
    assert!(p.to_string().contains("[boom] panicked: boom 7"), "{p}");
}

#[test]
fn spawn_join_many() {
    let rt = Runtime::builder().max_procs(2).build().unwrap();
    let sum = rt.block_on(|| {
        let hs: Vec<_> = (0..10_000u64)
            .map(|i| {
                spawn(move || {
                    yield_now();
                    i
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    });
    assert_eq!(sum, 9_999 * 10_000 / 2);
}

/// Runs `scenario` in a child process and returns (exit code, stderr).
fn child(name: &str, scenario: impl FnOnce()) -> Option<(Option<i32>, String)> {
    if common::is_child(name) {
        scenario();
        return None;
    }
    let (status, stderr) = common::run_child(name);
    Some((status.code(), stderr))
}

#[test]
fn blocking_in_a_park_callback_is_a_clear_fatal_error() {
    let r = child("blocking_in_a_park_callback_is_a_clear_fatal_error", || {
        let rt = Runtime::builder().max_procs(1).build().unwrap();
        rt.block_on(|| {
            gort_runtime::engine::park(WaitReason::Other, |_| {
                yield_now();
                false
            })
        });
    });
    if let Some((code, stderr)) = r {
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains("fatal error: gort: a blocking call inside a park callback"), "{stderr}");
    }
}

#[test]
fn blocking_in_with_proc_is_a_clear_fatal_error() {
    let r = child("blocking_in_with_proc_is_a_clear_fatal_error", || {
        let rt = Runtime::builder().max_procs(1).build().unwrap();
        rt.block_on(|| gort_runtime::engine::with_proc(|_| gort_runtime::sleep(Duration::from_millis(1))));
    });
    if let Some((code, stderr)) = r {
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains("with_proc"), "{stderr}");
    }
}

#[test]
fn a_panicking_park_callback_is_a_clear_fatal_error() {
    let r = child("a_panicking_park_callback_is_a_clear_fatal_error", || {
        let rt = Runtime::builder().max_procs(1).build().unwrap();
        rt.block_on(|| gort_runtime::engine::park(WaitReason::Other, |_| panic!("in the callback")));
    });
    if let Some((code, stderr)) = r {
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains("fatal error: gort: a park callback panicked: in the callback"), "{stderr}");
    }
}

#[test]
fn a_panicking_timer_callback_is_a_clear_fatal_error() {
    fn boom(_: usize, _: i64) {
        panic!("tick");
    }
    let r = child("a_panicking_timer_callback_is_a_clear_fatal_error", || {
        let rt = Runtime::builder().max_procs(1).build().unwrap();
        rt.block_on(|| {
            let node = std::pin::pin!(gort_runtime::engine::TimerNode::new(boom, 0));
            node.as_ref().reset(gort_runtime::engine::nanotime() + 1_000_000, 0);
            gort_runtime::sleep(Duration::from_secs(5));
        });
    });
    if let Some((code, stderr)) = r {
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains("fatal error: gort: a timer callback panicked: tick"), "{stderr}");
    }
}

#[test]
fn a_panicking_local_destructor_follows_the_panic_policy() {
    struct Boom;
    impl Drop for Boom {
        fn drop(&mut self) {
            panic!("local destructor");
        }
    }
    gort_runtime::local! {
        static B: std::cell::RefCell<Option<Boom>> = std::cell::RefCell::new(None);
    }
    let rt =
        Runtime::builder().max_procs(1).panic_policy(gort_runtime::PanicPolicy::Continue).build().unwrap();
    rt.block_on(|| {
        let h = spawn(|| B.with(|b| *b.borrow_mut() = Some(Boom)));
        h.join().unwrap();
        // The runtime survived: its M ran the destructor and goes on.
        assert_eq!(spawn(|| 5).join().unwrap(), 5);
        let t = Instant::now();
        while gort_runtime::num_goroutine() > 1 {
            assert!(t.elapsed() < Duration::from_secs(10));
            yield_now();
        }
    });
}

#[test]
fn locals_never_leak_into_the_next_goroutine() {
    // A destructor that keeps re-creating a local: after a few rounds the
    // value is leaked, never handed to the G's next goroutine.
    gort_runtime::local! {
        static K: Cell<u32> = Cell::new(100);
        static REVIVE: std::cell::RefCell<Option<Revive>> = std::cell::RefCell::new(None);
    }
    struct Revive;
    impl Drop for Revive {
        fn drop(&mut self) {
            K.with(|k| k.set(k.get() + 1));
            REVIVE.with(|r| *r.borrow_mut() = Some(Revive));
        }
    }
    let rt = Runtime::builder().max_procs(1).build().unwrap();
    rt.block_on(|| {
        for _ in 0..50 {
            spawn(|| REVIVE.with(|r| *r.borrow_mut() = Some(Revive))).join().unwrap();
            assert_eq!(spawn(|| K.with(|k| k.get())).join().unwrap(), 100, "a fresh goroutine's local");
        }
    });
}

/// 100,000 goroutines parked at once: their stacks come from a few large
/// regions whose guard pages (MADV_GUARD_INSTALL, Linux 6.13+) cost no
/// mapping, so the process holds far fewer than 1,000 mappings; all finish
/// once released.
#[test]
fn parked_goroutines_hold_few_mappings() {
    use std::sync::atomic::AtomicU32;
    // In a process of its own: the count is the whole process's mappings,
    // which the other tests' threads and stacks would add to.
    const NAME: &str = "parked_goroutines_hold_few_mappings";
    if !common::is_child(NAME) {
        let (status, stderr) = common::run_child(NAME);
        assert!(status.success(), "{stderr}");
        return;
    }
    fn maps() -> usize {
        std::fs::read_to_string("/proc/self/maps").map(|m| m.lines().count()).unwrap()
    }
    // Older kernels fall back to mprotect guards: a mapping or two per stack.
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut v = release.split(|c: char| !c.is_ascii_digit()).map(|x| x.parse::<u32>().unwrap_or(0));
    let guard_install = (v.next().unwrap_or(0), v.next().unwrap_or(0)) >= (6, 13);

    const N: u32 = 100_000;
    static GATE: AtomicU32 = AtomicU32::new(0);
    let rt = Runtime::builder().max_procs(2).build().unwrap();
    let (parked, finished) = rt.block_on(|| {
        let started = Arc::new(AtomicU32::new(0));
        let done = Arc::new(Wg::new(N as usize));
        for _ in 0..N {
            let (started, done) = (started.clone(), done.clone());
            spawn(move || {
                started.fetch_add(1, Ordering::SeqCst);
                gort_runtime::engine::semacquire(&GATE, false, WaitReason::Semacquire);
                done.done();
            });
        }
        // Every goroutine that started holds its stack until it finishes.
        while started.load(Ordering::SeqCst) < N {
            gort_runtime::sleep(Duration::from_millis(1));
        }
        let parked = maps();
        for _ in 0..N {
            gort_runtime::engine::semrelease(&GATE, false);
        }
        done.wait();
        // The last goroutine readied us from inside `done`: it may still be
        // on its way out on the other P.
        let t = Instant::now();
        while gort_runtime::num_goroutine() > 1 && t.elapsed() < Duration::from_secs(30) {
            gort_runtime::sleep(Duration::from_millis(1));
        }
        (parked, gort_runtime::num_goroutine())
    });
    if guard_install {
        assert!(parked < 1000, "{parked} mappings with {N} goroutines parked");
    } else {
        eprintln!("kernel {release:?} lacks MADV_GUARD_INSTALL: {parked} mappings (not checked)");
    }
    assert_eq!(finished, 1, "only the block_on goroutine is left");
}
