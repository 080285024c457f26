#![allow(non_snake_case)]
//! Map: ports of Go's sync/map_test.go (pinned to go1.27.3).
//!
//! TestMapMatchesRWMutex / TestMapMatchesDeepCopy use testing/quick to
//! compare random operation sequences with reference maps; here one seeded
//! generator drives the same operations against a std HashMap. Not ported:
//! TestIssue40999 and the allocation tests (Go's GC).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::common::run;
use gort_runtime::spawn;
use gort_sync::{Map, WaitGroup};

/// A small deterministic generator (xorshift64*).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Go: TestMapMatchesRWMutex (and DeepCopy, HashTrieMap): random sequences
/// of Load, Store, LoadOrStore, LoadAndDelete, Delete, Swap,
/// CompareAndSwap, CompareAndDelete and Clear give the same results and
/// the same final contents as a plain map.
#[test]
fn TestMapMatchesRWMutex() {
    for seed in 1..=50u64 {
        let mut r = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let m: Map<u8, u8> = Map::new();
        let mut want: HashMap<u8, u8> = HashMap::new();
        for step in 0..2000 {
            let (k, v, v2) = (r.below(16) as u8, r.below(4) as u8, r.below(4) as u8);
            let op = r.below(9);
            let ctx = format!("seed {seed} step {step} op {op} k {k}");
            match op {
                0 => assert_eq!(m.load(&k), want.get(&k).copied(), "{ctx}: load"),
                1 => {
                    m.store(k, v);
                    want.insert(k, v);
                }
                2 => {
                    let got = m.load_or_store(k, v);
                    let exp = match want.get(&k) {
                        Some(&old) => (old, true),
                        None => {
                            want.insert(k, v);
                            (v, false)
                        }
                    };
                    assert_eq!(got, exp, "{ctx}: load_or_store");
                }
                3 => assert_eq!(m.load_and_delete(&k), want.remove(&k), "{ctx}: load_and_delete"),
                4 => {
                    m.delete(&k);
                    want.remove(&k);
                }
                5 => assert_eq!(m.swap(k, v), want.insert(k, v), "{ctx}: swap"),
                6 => {
                    let exp = want.get(&k) == Some(&v);
                    if exp {
                        want.insert(k, v2);
                    }
                    assert_eq!(m.compare_and_swap(&k, &v, v2), exp, "{ctx}: compare_and_swap");
                }
                7 => {
                    let exp = want.get(&k) == Some(&v);
                    if exp {
                        want.remove(&k);
                    }
                    assert_eq!(m.compare_and_delete(&k, &v), exp, "{ctx}: compare_and_delete");
                }
                _ => {
                    if r.below(20) == 0 {
                        m.clear();
                        want.clear();
                    }
                }
            }
        }
        let mut got = HashMap::new();
        m.range(|k, v| {
            assert!(got.insert(*k, *v).is_none(), "range visited {k} twice");
            true
        });
        assert_eq!(got, want, "seed {seed}: final contents");
    }
}

/// Go: TestConcurrentRange: while goroutines store multiples of each key,
/// Range visits every key exactly once and sees only valid values.
#[test]
fn TestConcurrentRange() {
    run("TestConcurrentRange", 2, || {
        const MAP_SIZE: i64 = 1 << 10;
        let m: Arc<Map<i64, i64>> = Arc::new(Map::new());
        for n in 1..=MAP_SIZE {
            m.store(n, n);
        }
        let done = Arc::new(AtomicBool::new(false));
        let wg = Arc::new(WaitGroup::new());
        for g in 1..=gort_runtime::max_procs() as i64 {
            let (m, done) = (m.clone(), done.clone());
            wg.go(move || {
                let mut r = Rng(g as u64 * 7919);
                let mut i = 0i64;
                while !done.load(Ordering::Relaxed) {
                    for n in 1..MAP_SIZE {
                        if r.below(MAP_SIZE as u64) == 0 {
                            m.store(n, n * i * g);
                        } else {
                            m.load(&n);
                        }
                    }
                    i += 1;
                    gort_runtime::yield_now();
                }
            });
        }
        for _ in 0..64 {
            let mut seen = HashSet::new();
            m.range(|&k, &v| {
                assert_eq!(v % k, 0, "while storing multiples of {k}, Range saw value {v}");
                assert!(seen.insert(k), "Range visited key {k} twice");
                true
            });
            assert_eq!(seen.len() as i64, MAP_SIZE, "Range visited {} of {MAP_SIZE} elements", seen.len());
        }
        done.store(true, Ordering::Relaxed);
        wg.wait();
    });
}

/// Go: TestMapRangeNestedCall (issue 46399): Range inside Range, and Load,
/// LoadOrStore, Store, LoadAndDelete, Delete from the callback, without
/// deadlock; the map is empty after deleting every key during Range.
#[test]
fn TestMapRangeNestedCall() {
    let m: Map<i32, String> = Map::new();
    for (i, v) in ["hello", "world", "Go"].into_iter().enumerate() {
        m.store(i as i32, v.to_string());
    }
    m.range(|key, _| {
        m.range(|k, v| {
            assert_eq!(m.load(k).as_ref(), Some(v), "nested Range loads an unexpected value");
            let (_, loaded) = m.load_or_store(42, "dummy".into());
            assert!(!loaded, "nested Range loads an unexpected value, want to store a new one");
            m.store(42, "sync.Map".into());
            assert_eq!(m.load_and_delete(&42).as_deref(), Some("sync.Map"));
            true
        });
        m.delete(key);
        true
    });
    let mut length = 0;
    m.range(|_, _| {
        length += 1;
        true
    });
    assert_eq!(length, 0, "unexpected Map size");
}

/// Go: TestCompareAndSwap_NonExistingKey: CAS on a missing key fails.
#[test]
fn TestCompareAndSwap_NonExistingKey() {
    let m: Map<u32, Option<u32>> = Map::new();
    assert!(!m.compare_and_swap(&7, &None, Some(42)), "CompareAndSwap on a non-existing key succeeded");
    assert!(m.load(&7).is_none());
}

/// Go: TestConcurrentClear: concurrent Store, Load and Clear; empty after
/// the final Clear.
#[test]
fn TestConcurrentClear() {
    run("TestConcurrentClear", 2, || {
        let m: Arc<Map<i32, i32>> = Arc::new(Map::new());
        let wg = Arc::new(WaitGroup::new());
        for i in 0..10 {
            let m1 = m.clone();
            wg.go(move || m1.store(i, i * 10));
            let m2 = m.clone();
            wg.go(move || {
                if let Some(v) = m2.load(&i) {
                    assert_eq!(v, i * 10);
                }
            });
            let m3 = m.clone();
            wg.go(move || m3.clear());
        }
        wg.wait();
        m.clear();
        m.range(|k, v| panic!("after Clear, Map contains ({k}, {v})"));
    });
}

/// Range stops when the callback returns false, and may run from plain
/// threads while goroutines write.
#[test]
fn map_range_stops_and_threads() {
    let m: Arc<Map<u32, u32>> = Arc::new(Map::new());
    for i in 0..100 {
        m.store(i, i);
    }
    let mut n = 0;
    m.range(|_, _| {
        n += 1;
        n < 10
    });
    assert_eq!(n, 10);
    let t = {
        let m = m.clone();
        std::thread::spawn(move || {
            for i in 100..200 {
                m.store(i, i);
            }
        })
    };
    let m2 = m.clone();
    run("map_range_stops_and_threads", 2, move || {
        let hs: Vec<_> = (0..4)
            .map(|g| {
                let m = m2.clone();
                spawn(move || {
                    for i in 0..100 {
                        m.compare_and_swap(&i, &i, i + g * 1000);
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
    t.join().unwrap();
    let mut count = 0;
    m.range(|k, v| {
        count += 1;
        assert!(*k >= 100 || v % 1000 == *k, "CAS from one of the goroutines only");
        true
    });
    assert_eq!(count, 200);
}
