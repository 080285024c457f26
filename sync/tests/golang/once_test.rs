#![allow(non_snake_case)]
//! Once and friends: ports of Go's sync/once_test.go and oncefunc_test.go
//! (pinned to go1.27.3), and OnceRetry.
//!
//! Not ported: the allocation counts (Go-specific), TestOnceFuncPanicNil
//! (Go's PanicNilError), TestOnceFuncGoexit (no Goexit in Rust) and
//! TestOnceFuncPanicTraceback (Go's traceback format). TestOnceXGC becomes
//! a drop probe: the function is released after its first call.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use crate::common::{Chan, panic_message, run};
use gort_runtime::spawn;
use gort_sync::{Once, OnceFunc, OnceRetry, OnceValue};

/// Go: TestOnce: 10 concurrent Do calls; f runs once and every caller sees
/// its effect when Do returns.
#[test]
fn TestOnce() {
    run("TestOnce", 2, || {
        let o = Arc::new(AtomicUsize::new(0));
        let once = Arc::new(Once::new());
        let c = Arc::new(Chan::new());
        const N: usize = 10;
        for _ in 0..N {
            let (o, once, c) = (o.clone(), once.clone(), c.clone());
            spawn(move || {
                once.call_once(|| {
                    // Slow enough for the others to arrive meanwhile.
                    gort_runtime::sleep(Duration::from_millis(2));
                    o.fetch_add(1, Ordering::Relaxed);
                });
                let v = o.load(Ordering::Relaxed);
                assert_eq!(v, 1, "once failed inside run: {v} is not 1");
                c.send(true);
            });
        }
        for _ in 0..N {
            c.recv();
        }
        assert_eq!(o.load(Ordering::Relaxed), 1, "once failed outside run");
    });
}

/// Go: TestOncePanic: a panic in f propagates, and a later Do does not
/// call f (the Once counts as done).
#[test]
fn TestOncePanic() {
    let once = Once::new();
    let r = catch_unwind(AssertUnwindSafe(|| once.call_once(|| panic!("failed"))));
    assert!(r.is_err(), "Once.Do did not panic");
    assert!(once.is_done());
    once.call_once(|| panic!("Once.Do called twice"));
}

/// Go: TestOnceFunc: called once however often the wrapper is called.
#[test]
fn TestOnceFunc() {
    let calls = AtomicUsize::new(0);
    let f = OnceFunc::new(|| {
        calls.fetch_add(1, Ordering::Relaxed);
    });
    for _ in 0..10 {
        f.call();
    }
    assert_eq!(calls.load(Ordering::Relaxed), 1);
}

/// Go: TestOnceValue: the value is computed once and cached.
#[test]
fn TestOnceValue() {
    let calls = AtomicUsize::new(0);
    let f = OnceValue::new(|| calls.fetch_add(1, Ordering::Relaxed) + 1);
    for _ in 0..10 {
        f.get();
    }
    assert_eq!(*f.get(), 1);
    assert_eq!(calls.load(Ordering::Relaxed), 1);
}

/// Go: TestOnceValues: OnceValues is OnceValue of a tuple.
#[test]
fn TestOnceValues() {
    let calls = AtomicUsize::new(0);
    let f = OnceValue::new(|| {
        let c = calls.fetch_add(1, Ordering::Relaxed) + 1;
        (c, c + 1)
    });
    for _ in 0..10 {
        f.get();
    }
    assert_eq!(*f.get(), (1, 2));
    assert_eq!(calls.load(Ordering::Relaxed), 1);
}

/// Go: testOncePanicWith: every call panics with the same value, and the
/// function ran once.
fn test_once_panic_x(calls: &AtomicUsize, f: impl Fn()) {
    for label in ["first time", "second time"] {
        let p = catch_unwind(AssertUnwindSafe(&f)).expect_err(&format!("{label}: f did not panic"));
        assert_eq!(panic_message(&*p), "x", "{label}: want panic x");
    }
    assert_eq!(calls.load(Ordering::Relaxed), 1);
}

/// Go: TestOnceFuncPanic.
#[test]
fn TestOnceFuncPanic() {
    let calls = AtomicUsize::new(0);
    let f = OnceFunc::new(|| {
        calls.fetch_add(1, Ordering::Relaxed);
        panic!("x");
    });
    test_once_panic_x(&calls, || f.call());
}

/// Go: TestOnceValuePanic.
#[test]
fn TestOnceValuePanic() {
    let calls = AtomicUsize::new(0);
    let f = OnceValue::new(|| -> i32 {
        calls.fetch_add(1, Ordering::Relaxed);
        panic!("x");
    });
    test_once_panic_x(&calls, || {
        f.get();
    });
}

/// Go: TestOnceValuesPanic.
#[test]
fn TestOnceValuesPanic() {
    let calls = AtomicUsize::new(0);
    let f = OnceValue::new(|| -> (i32, i32) {
        calls.fetch_add(1, Ordering::Relaxed);
        panic!("x");
    });
    test_once_panic_x(&calls, || {
        f.get();
    });
}

/// Sets a flag when dropped.
struct DropProbe(Arc<AtomicBool>);
impl Drop for DropProbe {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Go: TestOnceXGC, as a drop probe: the wrapped function (and what it
/// captured) is released by the first call, panicking or not, though the
/// wrapper lives on.
#[test]
fn TestOnceXGC() {
    type Make = fn(DropProbe) -> Box<dyn Fn()>;
    let cases: [(&str, Make); 4] = [
        ("OnceFunc", |p| {
            let f = OnceFunc::new(move || {
                let _keep = &p;
            });
            Box::new(move || f.call())
        }),
        ("OnceValue", |p| {
            let f = OnceValue::new(move || {
                let _keep = &p;
                1
            });
            Box::new(move || {
                f.get();
            })
        }),
        ("OnceFunc panic", |p| {
            let f = OnceFunc::new(move || {
                let _keep = &p;
                panic!("test panic");
            });
            Box::new(move || f.call())
        }),
        ("OnceValue panic", |p| {
            let f = OnceValue::new(move || -> i32 {
                let _keep = &p;
                panic!("test panic");
            });
            Box::new(move || {
                f.get();
            })
        }),
    ];
    for (name, make) in cases {
        let dropped = Arc::new(AtomicBool::new(false));
        let f = make(DropProbe(dropped.clone()));
        assert!(!dropped.load(Ordering::SeqCst), "{name}: wrapped function dropped too early");
        let _ = catch_unwind(AssertUnwindSafe(&f));
        assert!(dropped.load(Ordering::SeqCst), "{name}: wrapped function still alive after the first call");
        let _ = catch_unwind(AssertUnwindSafe(&f));
    }
}

/// Concurrent first calls of a OnceValue from goroutines and threads all
/// get the one value.
#[test]
fn once_value_goroutines_and_threads() {
    static V: OnceValue<Vec<u32>> = OnceValue::new(|| {
        std::thread::sleep(Duration::from_millis(5));
        vec![1, 2, 3]
    });
    let threads: Vec<_> = (0..3).map(|_| std::thread::spawn(|| V.get().as_ptr() as usize)).collect();
    let ptrs = run("once_value_goroutines_and_threads", 2, || {
        let hs: Vec<_> = (0..5).map(|_| spawn(|| V.get().as_ptr() as usize)).collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect::<Vec<_>>()
    });
    let all: Vec<usize> = ptrs.into_iter().chain(threads.into_iter().map(|t| t.join().unwrap())).collect();
    assert!(all.iter().all(|&p| p == all[0]), "callers saw different values");
    assert_eq!(*V.get(), vec![1, 2, 3]);
}

/// The text's "Once with error": failures are retried, success is final,
/// and a panic counts as failure.
#[test]
fn once_retry_until_success() {
    let o = OnceRetry::new();
    let calls = AtomicUsize::new(0);
    let attempt = |ok: bool| {
        o.call(|| {
            calls.fetch_add(1, Ordering::Relaxed);
            if ok { Ok(()) } else { Err("not yet") }
        })
    };
    assert_eq!(attempt(false), Err("not yet"));
    assert!(!o.is_done());
    assert!(catch_unwind(AssertUnwindSafe(|| o.call(|| -> Result<(), ()> { panic!("boom") }))).is_err());
    assert!(!o.is_done());
    assert_eq!(attempt(true), Ok(()));
    assert!(o.is_done());
    assert_eq!(attempt(false), Ok(()));
    assert_eq!(calls.load(Ordering::Relaxed), 2);
}

/// The text's Done() extension: false before and while f runs, true after.
#[test]
fn once_is_done_after_f_returns() {
    run("once_is_done_after_f_returns", 2, || {
        let once = Arc::new(Once::new());
        assert!(!once.is_done());
        let inside = Arc::new(Chan::new());
        let release = Arc::new(Chan::new());
        let h = {
            let (once, inside, release) = (once.clone(), inside.clone(), release.clone());
            spawn(move || {
                once.call_once(|| {
                    inside.send(());
                    release.recv();
                })
            })
        };
        inside.recv();
        assert!(!once.is_done(), "done while f still runs");
        release.send(());
        h.join().unwrap();
        assert!(once.is_done());
    });
}
