//! Quick scheduler measurements while developing (not the comparison
//! program; see benches/).
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use gort_runtime::{GRef, Lock, Runtime, WaitReason, park, ready, spawn};

struct Wg {
    n: AtomicUsize,
    w: Lock<Option<GRef>>,
}
impl Wg {
    fn done(&self) {
        if self.n.fetch_sub(1, Ordering::AcqRel) == 1 {
            let w = self.w.lock().take();
            if let Some(w) = w {
                unsafe { ready(w) };
            }
        }
    }
    fn wait(&self) {
        let mut g = self.w.lock();
        if self.n.load(Ordering::Acquire) == 0 {
            return;
        }
        *g = Some(gort_runtime::current_g());
        let raw = g.leak();
        park(WaitReason::Other, |_| {
            unsafe { raw.unlock() };
            true
        });
    }
}

fn main() {
    let procs = std::env::var("GOMAXPROCS").ok().and_then(|v| v.parse().ok()).unwrap_or(2);
    let rt = Runtime::builder().max_procs(procs).build().unwrap();
    let mode = std::env::args().nth(1).unwrap_or_default();
    for _ in 0..3 {
        if mode != "yield" {
            rt.block_on(|| {
                let n = 1_000_000;
                let wg = Arc::new(Wg { n: AtomicUsize::new(n), w: Lock::new(None) });
                let t = Instant::now();
                for _ in 0..n {
                    let wg = wg.clone();
                    drop(spawn(move || wg.done()));
                }
                wg.wait();
                let d = t.elapsed();
                println!(
                    "spawn {} ns/op {:?}",
                    d.as_nanos() as f64 / n as f64,
                    gort_runtime::debug::metrics()
                );
            });
        }
        if mode != "spawn" {
            rt.block_on(|| {
                let (g, y) = (1000, 1000);
                let wg = Arc::new(Wg { n: AtomicUsize::new(g), w: Lock::new(None) });
                let t = Instant::now();
                for _ in 0..g {
                    let wg = wg.clone();
                    drop(spawn(move || {
                        for _ in 0..y {
                            gort_runtime::yield_now();
                        }
                        wg.done()
                    }));
                }
                wg.wait();
                let d = t.elapsed();
                println!("yield {} ns/op", d.as_nanos() as f64 / (g * y) as f64);
            });
        }
    }
    println!("{:?}", gort_runtime::debug::metrics());
}
