#![allow(non_snake_case)]
//! ErrGroup: ports of golang.org/x/sync/errgroup's errgroup_test.go, and
//! the text's scenarios. Not here yet: TestWithContext and
//! TestCancelCause (they need gort's context).

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::time::Duration;

use crate::common::{Chan, run};
use gort_runtime::spawn;
use gort_sync::ErrGroup;

/// Go: TestZeroGroup: a group without context or limit returns the first
/// error, after any number of tasks.
#[test]
fn TestZeroGroup() {
    run("TestZeroGroup", 2, || {
        let err1 = Some("errgroup_test: 1");
        let err2 = Some("errgroup_test: 2");
        let cases: [&[Option<&'static str>]; 5] = [&[], &[None], &[err1], &[err1, None], &[err1, None, err2]];
        for errs in cases {
            let g: ErrGroup<&'static str> = ErrGroup::new();
            let mut first = None;
            for &err in errs {
                g.go(move || err.map_or(Ok(()), Err));
                if first.is_none() {
                    first = err;
                }
                assert_eq!(g.wait(), first.map_or(Ok(()), Err), "after {errs:?}");
            }
        }
    });
}

/// Go: TestGoLimit: with a limit of 10, never more than 10 tasks run.
#[test]
fn TestGoLimit() {
    run("TestGoLimit", 2, || {
        const LIMIT: i32 = 10;
        let g: ErrGroup<String> = ErrGroup::new();
        g.set_limit(Some(LIMIT as usize));
        let active = Arc::new(AtomicI32::new(0));
        for _ in 0..=(1 << 10) {
            let active = active.clone();
            g.go(move || {
                let n = active.fetch_add(1, Ordering::SeqCst) + 1;
                if n > LIMIT {
                    return Err(format!("saw {n} active goroutines; want ≤ {LIMIT}"));
                }
                gort_runtime::sleep(Duration::from_micros(1)); // let others increment
                active.fetch_sub(1, Ordering::SeqCst);
                Ok(())
            });
        }
        g.wait().unwrap();
    });
}

/// Go: TestTryGo: try_go fails exactly when the limit is reached, and the
/// limit can change between rounds; a limit of 0 admits nothing.
#[test]
fn TestTryGo() {
    run("TestTryGo", 2, || {
        let g: ErrGroup<()> = ErrGroup::new();
        let n = 42;
        g.set_limit(Some(n));
        let ch: Arc<Chan<()>> = Arc::new(Chan::new());
        let release = Arc::new(Chan::new());
        let fn_ = || {
            let (ch, release) = (ch.clone(), release.clone());
            move || {
                ch.send(());
                release.recv();
                Ok(())
            }
        };
        for i in 0..n {
            assert!(g.try_go(fn_()), "try_go should succeed but failed at call {i}");
        }
        assert!(!g.try_go(fn_()), "try_go should fail at the limit");
        for _ in 0..n {
            ch.recv();
            release.send(());
        }
        g.wait().unwrap();
        assert!(g.try_go(fn_()), "try_go should succeed after all goroutines finished");
        ch.recv();
        release.send(());
        g.wait().unwrap();
        // Switch the limit.
        g.set_limit(Some(1));
        assert!(g.try_go(fn_()), "try_go should succeed under the new limit");
        assert!(!g.try_go(fn_()), "try_go should fail above the new limit");
        ch.recv();
        release.send(());
        g.wait().unwrap();
        // Block all calls.
        g.set_limit(Some(0));
        for _ in 0..(1 << 10) {
            assert!(!g.try_go(fn_()), "try_go should fail with a limit of 0");
        }
        g.wait().unwrap();
    });
}

/// Go: SetLimit panics while goroutines of the group are active.
#[test]
fn set_limit_while_active_panics() {
    run("set_limit_while_active_panics", 2, || {
        let g: ErrGroup<()> = ErrGroup::new();
        let release = Arc::new(Chan::new());
        let r = release.clone();
        g.go(move || {
            r.recv();
            Ok(())
        });
        let g2 = g.clone();
        let err = spawn(move || g2.set_limit(Some(2))).join().expect_err("set_limit did not panic");
        assert_eq!(
            err.message(),
            Some("errgroup: modify limit while 1 goroutines in the group are still active")
        );
        release.send(());
        g.wait().unwrap();
        g.set_limit(Some(2));
    });
}

/// The text's example (scaled from seconds to milliseconds): tasks of 5,
/// 10 and 15 ms, the second fails; Wait returns its error only after the
/// slowest task, and a second Wait returns the same error. In a synctest
/// bubble, so "after the slowest task" is exactly 15 ms.
#[test]
fn wait_waits_for_all_then_first_error() {
    run("wait_waits_for_all_then_first_error", 2, || gort_runtime::testing::synctest::test(wait_for_all));
    fn wait_for_all() {
        let g: ErrGroup<String> = ErrGroup::new();
        let finished = Arc::new(AtomicUsize::new(0));
        let t = gort_runtime::time::now();
        for i in 1..=3u64 {
            let finished = finished.clone();
            g.go(move || {
                gort_runtime::sleep(Duration::from_millis(5 * i));
                finished.fetch_add(1, Ordering::SeqCst);
                if i == 2 { Err(format!("failed to exec #{i}")) } else { Ok(()) }
            });
        }
        assert_eq!(g.wait(), Err("failed to exec #2".to_string()));
        assert_eq!(finished.load(Ordering::SeqCst), 3, "Wait returned before every task finished");
        assert_eq!(gort_runtime::time::since(t), Duration::from_millis(15));
        assert_eq!(
            g.wait(),
            Err("failed to exec #2".to_string()),
            "a second Wait must return the same error"
        );
    }
}

/// Tasks may add tasks to their own group (a pipeline's stages), and the
/// group may be driven from a plain thread.
#[test]
fn errgroup_nested_and_from_thread() {
    let g: ErrGroup<String> = ErrGroup::new();
    let sum = Arc::new(AtomicUsize::new(0));
    for i in 0..4 {
        let (g2, sum) = (g.clone(), sum.clone());
        g.go(move || {
            for j in 0..4 {
                let sum = sum.clone();
                g2.go(move || {
                    sum.fetch_add(i * 4 + j, Ordering::SeqCst);
                    Ok(())
                });
            }
            Ok(())
        });
    }
    g.wait().unwrap();
    assert_eq!(sum.load(Ordering::SeqCst), (0..16).sum());
}

/// `go` under a limit of 0 could never start anything: a clear panic
/// instead of Go's silent block.
#[test]
fn go_with_limit_zero_panics() {
    let g: ErrGroup<()> = ErrGroup::new();
    g.set_limit(Some(0));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| g.go(|| Ok(()))));
    let msg = common::panic_message(&*r.expect_err("go with limit 0"));
    assert!(msg.contains("limit of 0"), "{msg}");
}
