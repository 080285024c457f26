#![allow(non_snake_case)]
//! atomic::Value: ports of Go's sync/atomic/value_test.go (pinned to
//! go1.27.3) and the text's copy-on-write config scenario. Not ported:
//! TestValuePanic (nil and inconsistently typed stores cannot be written
//! with a typed Value).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::common::run;
use gort_runtime::spawn;
use gort_sync::WaitGroup;
use gort_sync::atomic::Value;

/// Go: TestValue: empty until the first store, then the stored values.
#[test]
fn TestValue() {
    let v: Value<i32> = Value::new();
    assert!(v.load().is_none(), "initial Value is not empty");
    v.store(42);
    assert_eq!(*v.load().unwrap(), 42);
    v.store(84);
    assert_eq!(*v.load().unwrap(), 84);
}

/// Go: TestValueLarge: a value larger than a word.
#[test]
fn TestValueLarge() {
    let v: Value<String> = Value::new();
    v.store("foo".to_string());
    assert_eq!(*v.load().unwrap(), "foo");
    v.store("barbaz".to_string());
    assert_eq!(*v.load().unwrap(), "barbaz");
}

/// Go: TestValueConcurrent: concurrent stores and loads of multi-word
/// values never tear.
#[test]
fn TestValueConcurrent() {
    run("TestValueConcurrent", 2, || {
        let tests: [u128; 4] = [0, u128::MAX, 1 + (2 << 64), 3 + (4 << 64)];
        let p = 4 * gort_runtime::max_procs();
        let v: Arc<Value<u128>> = Arc::new(Value::new());
        let wg = Arc::new(WaitGroup::new());
        for g in 0..p {
            let v = v.clone();
            wg.go(move || {
                let mut r = g as u64 * 0x9e37_79b9 + 1;
                for _ in 0..20_000 {
                    r ^= r << 13;
                    r ^= r >> 7;
                    r ^= r << 17;
                    v.store(tests[(r % 4) as usize]);
                    let x = *v.load().unwrap();
                    assert!(tests.contains(&x), "loaded unexpected value {x:#x}");
                }
            });
        }
        wg.wait();
    });
}

/// Go: TestValue_Swap.
#[test]
fn TestValue_Swap() {
    let v: Value<&str> = Value::new();
    assert!(v.swap("a").is_none());
    assert_eq!(v.swap("b").as_deref(), Some(&"a"));
    assert_eq!(*v.load().unwrap(), "b");
}

/// Go: TestValue_CompareAndSwap: compares values with ==; never matches
/// before the first store.
#[test]
fn TestValue_CompareAndSwap() {
    let v: Value<i32> = Value::new();
    assert!(!v.compare_and_swap(&0, 1), "CAS matched an empty Value");
    v.store(1);
    assert!(!v.compare_and_swap(&2, 3));
    assert!(v.compare_and_swap(&1, 2));
    assert_eq!(*v.load().unwrap(), 2);
}

/// Go: TestValueCompareAndSwapConcurrent: m goroutines advance a shared
/// counter by CAS, each only from values ≡ its index (mod m); it reaches
/// m·n exactly.
#[test]
fn TestValueCompareAndSwapConcurrent() {
    run("TestValueCompareAndSwapConcurrent", 2, || {
        let v: Arc<Value<usize>> = Arc::new(Value::from(0));
        let (m, n) = (100, 100);
        let wg = Arc::new(WaitGroup::new());
        for i in 0..m {
            let v = v.clone();
            wg.go(move || {
                let mut j = i;
                while j < m * n {
                    if v.compare_and_swap(&j, j + 1) {
                        j += m;
                    }
                    gort_runtime::yield_now();
                }
            });
        }
        wg.wait();
        assert_eq!(*v.load().unwrap(), m * n);
    });
}

/// The text's copy-on-write config (seeds S15): a writer keeps storing new
/// snapshots `[i..i+5]`; readers on goroutines and threads always see a
/// consistent snapshot, never going backwards.
#[test]
fn copy_on_write_config() {
    let cfg: Arc<Value<Vec<u64>>> = Arc::new(Value::from(vec![0, 1, 2, 3, 4, 5]));
    let stop = Arc::new(AtomicBool::new(false));
    let read = |cfg: &Value<Vec<u64>>| {
        let mut last = 0;
        for _ in 0..20_000 {
            let a = cfg.load().unwrap();
            assert_eq!(a.len(), 6);
            for (k, x) in a.iter().enumerate() {
                assert_eq!(*x, a[0] + k as u64, "torn snapshot {a:?}");
            }
            assert!(a[0] >= last, "went backwards");
            last = a[0];
        }
    };
    let writer = {
        let (cfg, stop) = (cfg.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                cfg.store((i..i + 6).collect::<Vec<u64>>());
            }
        })
    };
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let cfg = cfg.clone();
            std::thread::spawn(move || read(&cfg))
        })
        .collect();
    let c2 = cfg.clone();
    run("copy_on_write_config", 2, move || {
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let cfg = c2.clone();
                spawn(move || read(&cfg))
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
    for t in threads {
        t.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
}
