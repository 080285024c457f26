//! Go: src/testing/synctest/example_test.go (the package documentation's
//! examples), ported. Not ported: TestHTTPTransport100Continue, which
//! needs Go's `net.Pipe` and `net/http` server side.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use gort::context::{self, DeadlineExceeded};
use gort::testing::synctest;
use gort::time::{now, since};

#[test]
fn test_time() {
    synctest::test(|| {
        let start = now(); // the real time the bubble started, frozen
        let h = gort::go!(move || {
            gort::sleep(Duration::from_nanos(1));
            since(start) // always 1 ns
        });
        gort::sleep(Duration::from_nanos(2)); // the goroutine above runs before this returns
        assert_eq!(since(start), Duration::from_nanos(2));
        assert_eq!(h.join().unwrap(), Duration::from_nanos(1));
    });
}

#[test]
fn test_wait() {
    synctest::test(|| {
        let done = Arc::new(AtomicBool::new(false));
        let d = done.clone();
        gort::go!(move || d.store(true, Ordering::Relaxed));
        // wait blocks until the goroutine above has finished.
        synctest::wait();
        assert!(done.load(Ordering::Relaxed));
    });
}

#[test]
fn test_context_after_func() {
    synctest::test(|| {
        // A context that can be cancelled.
        let (ctx, cancel) = context::with_cancel(&context::background());
        // after_func registers a function to run when the context is
        // cancelled.
        let called = Arc::new(AtomicBool::new(false));
        let c = called.clone();
        let _stop = context::after_func(&ctx, move || c.store(true, Ordering::SeqCst));

        // Not cancelled: the function has not run.
        synctest::wait();
        assert!(!called.load(Ordering::SeqCst), "before context is canceled: after_func called");

        // Cancel, and wait for the function to finish.
        cancel.cancel();
        synctest::wait();
        assert!(called.load(Ordering::SeqCst), "after context is canceled: after_func not called");
    });
}

#[test]
fn test_context_with_timeout() {
    synctest::test(|| {
        // A context cancelled after a timeout.
        const TIMEOUT: Duration = Duration::from_secs(5);
        let (ctx, _cancel) = context::with_timeout(&context::background(), TIMEOUT);

        // Wait just less than the timeout.
        gort::sleep(TIMEOUT - Duration::from_nanos(1));
        synctest::wait();
        assert_eq!(ctx.err(), None, "before timeout");

        // Wait the rest of the way.
        gort::sleep(Duration::from_nanos(1));
        synctest::wait();
        assert_eq!(ctx.err(), Some(DeadlineExceeded), "after timeout");
    });
}

/// The form of the example: `synctest::sleep` is sleep then wait.
#[test]
fn test_context_with_timeout_synctest_sleep() {
    synctest::test(|| {
        let start = now();
        let (ctx, _cancel) = context::with_timeout(&context::background(), Duration::from_secs(5));
        synctest::sleep(Duration::from_secs(5) - Duration::from_nanos(1));
        assert_eq!(ctx.err(), None);
        synctest::sleep(Duration::from_nanos(1));
        assert_eq!(ctx.err(), Some(DeadlineExceeded));
        assert_eq!(since(start), Duration::from_secs(5));
    });
}
