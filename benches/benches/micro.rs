//! Criterion micro-benchmarks of gort's building blocks, each measured
//! inside a goroutine of a 2-P runtime:
//!
//! ```text
//! cargo bench -p gort-benches --bench micro
//! ```
//!
//! The workload-level comparison with Go is the `gort-benches` program;
//! these isolate single operations for regressions.
// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use gort::runtime::{GRef, Runtime, WaitReason, park, ready};

fn runtime() -> Runtime {
    Runtime::builder().max_procs(2).build().expect("runtime")
}

/// Measures `iters` runs of `f` inside a goroutine.
fn in_goroutine(rt: &Runtime, iters: u64, f: fn(u64)) -> Duration {
    rt.block_on(move || {
        let t = Instant::now();
        f(iters);
        t.elapsed()
    })
}

/// A goroutine waiting for its turn (for the raw park/ready round trip).
struct Baton(AtomicPtr<()>);

impl Baton {
    /// Parks this side; once parked, wakes the other side if it waits.
    fn pass(&self, other: &Baton) {
        park(WaitReason::Other, |g| {
            self.0.store(g.as_ptr().cast_mut(), Ordering::Release);
            let w = other.0.swap(std::ptr::null_mut(), Ordering::AcqRel);
            if !w.is_null() {
                // SAFETY: the other side parked and published itself (a
                // GRef's address); we took it out, so we alone ready it.
                unsafe { ready(GRef::from_ptr(w)) };
            }
            true
        });
    }

    fn wake(&self) {
        let w = self.0.swap(std::ptr::null_mut(), Ordering::AcqRel);
        if !w.is_null() {
            // SAFETY: the parked side published its GRef's address and we
            // took it out of the slot, so we alone ready it.
            unsafe { ready(GRef::from_ptr(w)) };
        }
    }
}

fn park_ready_round_trip(iters: u64) {
    let (a, b) = (Arc::new(Baton(AtomicPtr::default())), Arc::new(Baton(AtomicPtr::default())));
    let (a2, b2) = (a.clone(), b.clone());
    let h = gort::go!(move || {
        for _ in 0..iters {
            b2.pass(&a2);
        }
    });
    for _ in 0..iters {
        a.pass(&b);
    }
    b.wake();
    h.join().unwrap();
}

fn spawn_join(iters: u64) {
    for i in 0..iters {
        assert_eq!(gort::go!(move || i).join().unwrap(), i);
    }
}

fn yield_now(iters: u64) {
    for _ in 0..iters {
        gort::yield_now();
    }
}

fn unbuffered_ping_pong(iters: u64) {
    let (a, b) = (gort::chan::<u64>(0), gort::chan::<u64>(0));
    let (a2, b2) = (a.clone(), b.clone());
    let h = gort::go!(move || {
        for v in &a2 {
            b2.send(v).unwrap();
        }
    });
    for i in 0..iters {
        a.send(i).unwrap();
        b.recv();
    }
    a.close();
    h.join().unwrap();
}

fn buffered_send_recv(iters: u64) {
    let c = gort::chan::<u64>(1);
    for i in 0..iters {
        c.send(i).unwrap();
        c.recv();
    }
}

fn select_two_ready(iters: u64) {
    let (a, b) = (gort::chan::<u64>(1), gort::chan::<u64>(1));
    for i in 0..iters {
        a.send(i).unwrap();
        b.send(i).unwrap();
        gort::select! {
            recv(a) -> _ => { b.recv(); }
            recv(b) -> _ => { a.recv(); }
        }
    }
}

fn mutex_uncontended(iters: u64) {
    let m = gort::sync::Mutex::new(0u64);
    for _ in 0..iters {
        *m.lock() += 1;
    }
}

fn timer_arm_stop(iters: u64) {
    for _ in 0..iters {
        let t = gort::Timer::new(Duration::from_secs(60));
        t.stop();
    }
}

fn micro(c: &mut Criterion) {
    let rt = runtime();
    type Bench = (&'static str, fn(u64));
    let benches: [Bench; 9] = [
        ("runtime/park_ready_round_trip", park_ready_round_trip),
        ("runtime/spawn_join", spawn_join),
        ("runtime/yield_now", yield_now),
        ("chan/unbuffered_ping_pong", unbuffered_ping_pong),
        ("chan/buffered_send_recv", buffered_send_recv),
        ("chan/select_two_ready", select_two_ready),
        ("sync/mutex_uncontended", mutex_uncontended),
        ("time/timer_arm_stop", timer_arm_stop),
        ("runtime/sleep_zero", |iters| {
            for _ in 0..iters {
                gort::sleep(Duration::ZERO);
            }
        }),
    ];
    for (name, f) in benches {
        c.bench_function(name, |b| b.iter_custom(|iters| in_goroutine(&rt, iters, f)));
    }
}

criterion_group!(benches, micro);
criterion_main!(benches);
