use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use gort_runtime::{Runtime, spawn, yield_now};

#[test]
fn spawn_and_join_many() {
    let rt = Runtime::builder().max_procs(2).build().unwrap();
    let n = rt.block_on(|| {
        let count = Arc::new(AtomicUsize::new(0));
        let hs: Vec<_> = (0..1000)
            .map(|i| {
                let c = count.clone();
                spawn(move || {
                    for _ in 0..3 {
                        yield_now();
                    }
                    c.fetch_add(1, Ordering::Relaxed);
                    i
                })
            })
            .collect();
        let sum: usize = hs.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(sum, 999 * 1000 / 2);
        count.load(Ordering::Relaxed)
    });
    assert_eq!(n, 1000);
}

#[test]
fn sleep_wakes() {
    let rt = Runtime::builder().max_procs(2).build().unwrap();
    let t = std::time::Instant::now();
    rt.block_on(|| {
        let hs: Vec<_> =
            (0..100).map(|_| spawn(|| gort_runtime::sleep(std::time::Duration::from_millis(10)))).collect();
        for h in hs {
            h.join().unwrap();
        }
    });
    let e = t.elapsed();
    assert!(e >= std::time::Duration::from_millis(10));
    assert!(e < std::time::Duration::from_millis(1000), "{e:?}");
}

#[test]
fn panic_is_joined() {
    let rt = Runtime::builder().max_procs(2).build().unwrap();
    let r = rt.block_on(|| spawn(|| -> u32 { panic!("boom") }).join());
    let p = r.unwrap_err();
    assert_eq!(p.message(), Some("boom"));
}
