//! Go: src/testing/synctest/synctest_test.go, ported where it tests
//! bubbles rather than Go's `*testing.T` (TestFatal, TestError, TestSkip,
//! TestCleanup, TestContext, TestDeadline, TestParallel, TestRun and
//! TestHelper are about `testing.T` inside a bubble, which gort's `test`
//! does not take: a Rust test's assertions are panics, which `test`
//! passes on).

use std::time::{Duration, SystemTime};

use gort::testing::synctest;

#[test]
fn test_success() {
    synctest::test(|| {});
}

/// A failing assertion in the bubble fails the caller with its message.
#[test]
fn test_fatal() {
    let msg = crate::want_panic("fatal", || synctest::test(|| panic!("fatal")));
    assert_eq!(msg, "fatal");
}

#[test]
fn test_now() {
    synctest::test(|| {
        let want = SystemTime::UNIX_EPOCH + Duration::from_secs(946_684_800);
        assert_eq!(gort::time::system_now(), want, "the bubble starts at 2000-01-01 00:00 UTC");
    });
}

/// Timers started by timer callbacks, many at one instant.
#[test]
fn test_synctest_timer_race_ctx_crash() {
    for _ in 0..20 {
        synctest::test(|| {
            for _ in 0..100 {
                let _ = gort::after_func(Duration::from_secs(1), || {
                    let _ = gort::after_func(Duration::ZERO, || {});
                });
            }
            gort::sleep(Duration::from_secs(2));
        });
    }
}
