//! Workloads of the sync area (see mod.rs for the convention). Each entry's
//! name matches a workload of the Go program in benches/go (main.go's
//! `mutex`, sync_bench.go's others), and each line it prints matches the
//! Go line of the same name.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use super::support::report;
use gort::context::{self, CancelFunc, Context};
use gort::sync::{Mutex, Once, RwLock, Semaphore, WaitGroup};

pub(crate) const WORKLOADS: &[(&str, fn())] = &[
    ("mutex", mutex),
    ("waitgroup", waitgroup),
    ("rwmutex", rwmutex),
    ("once", once),
    ("semaphore", semaphore),
    ("ctx_cancel_tree", ctx_cancel_tree),
];

/// Runs `body(iterations)` on one goroutine per P, `n` operations in all
/// (Go's RunParallel shape), and reports the total time as `name`.
fn parallel(name: &str, n: usize, body: impl Fn(usize) + Send + Sync + 'static) {
    let p = gort::runtime::max_procs();
    let per = n / p;
    let body = Arc::new(body);
    let wg = Arc::new(WaitGroup::new());
    let t = Instant::now();
    for _ in 0..p {
        let body = body.clone();
        wg.go(move || body(per));
    }
    wg.wait();
    report(name, (per * p) as u64, t.elapsed());
}

/// 8 goroutines increment a shared counter under a Mutex, 4,000,000 times
/// in all (main.go's `mutex`).
fn mutex() {
    let (n, g) = (4_000_000, 8);
    let per = n / g;
    let counter = Arc::new(Mutex::new(0usize));
    let wg = Arc::new(WaitGroup::new());
    let t = Instant::now();
    for _ in 0..g {
        let counter = counter.clone();
        wg.go(move || {
            for _ in 0..per {
                *counter.lock() += 1;
            }
        });
    }
    wg.wait();
    let d = t.elapsed();
    assert_eq!(*counter.lock(), per * g, "lost update");
    report("mutex", (per * g) as u64, d);
}

/// BenchmarkWaitGroupUncontended and BenchmarkWaitGroupAddDone.
fn waitgroup() {
    parallel("waitgroup_uncontended", 40_000_000, |iters| {
        #[repr(align(128))]
        struct Padded(WaitGroup);
        let wg = Padded(WaitGroup::new());
        for _ in 0..iters {
            wg.0.add(1);
            wg.0.done();
            wg.0.wait();
        }
    });
    let shared = Arc::new(WaitGroup::new());
    parallel("waitgroup_add_done", 40_000_000, move |iters| {
        for _ in 0..iters {
            shared.add(1);
            shared.done();
        }
    });
}

/// BenchmarkRWMutexWrite100: a write lock every 100 operations.
fn rwmutex() {
    let rwm = Arc::new(RwLock::new(()));
    parallel("rwmutex_write100", 20_000_000, move |iters| {
        let mut op = 0usize;
        for _ in 0..iters {
            op += 1;
            if op % 100 == 0 {
                drop(rwm.write());
            } else {
                drop(rwm.read());
            }
        }
        black_box(op);
    });
}

/// BenchmarkOnce: the fast path of a done Once.
fn once() {
    let once = Arc::new(Once::new());
    parallel("once", 400_000_000, move |iters| {
        for _ in 0..iters {
            once.call_once(|| {
                black_box(());
            });
        }
    });
}

/// acquire(1)/release(1) pairs, uncontended and with 8 goroutines on a
/// semaphore of size 2.
fn semaphore() {
    let s = Semaphore::new(1);
    let n = 10_000_000;
    let t = Instant::now();
    for _ in 0..n {
        s.acquire(1);
        s.release(1);
    }
    report("semaphore_uncontended", n as u64, t.elapsed());

    let g = 8;
    let c = Arc::new(Semaphore::new(2));
    let per = 2_000_000 / g;
    let wg = Arc::new(WaitGroup::new());
    let t = Instant::now();
    for _ in 0..g {
        let c = c.clone();
        wg.go(move || {
            for _ in 0..per {
                c.acquire(1);
                c.release(1);
            }
        });
    }
    wg.wait();
    report("semaphore_contended", (per * g) as u64, t.elapsed());
}

/// A tree of 10,000 contexts (each parent gets 4 children, breadth first)
/// under one root; 4 goroutines wait on the leaves' done channels; the
/// root is cancelled and every waiter returns once all its leaves are
/// done. Reports the time per context, building, cancelling and waiting
/// included (sync_bench.go's `ctx_cancel_tree`).
fn ctx_cancel_tree() {
    const N: usize = 10_000;
    const FANOUT: usize = 4;
    const WAITERS: usize = 4;
    const ROUNDS: usize = 50;
    let t = Instant::now();
    for _ in 0..ROUNDS {
        let (root, cancel) = context::with_cancel(&context::background());
        let mut nodes: Vec<Context> = Vec::with_capacity(N);
        // The children's cancel functions: dropping one cancels its
        // context, so they live until the tree is done.
        let mut keep: Vec<CancelFunc> = Vec::with_capacity(N);
        nodes.push(root);
        let mut parents = 0;
        while nodes.len() < N {
            let parent = nodes[parents].clone();
            for _ in 0..FANOUT {
                if nodes.len() == N {
                    break;
                }
                let (c, k) = context::with_cancel(&parent);
                nodes.push(c);
                keep.push(k);
            }
            parents += 1;
        }
        let leaves: Arc<Vec<Context>> = Arc::new(nodes.split_off(parents));
        let wg = Arc::new(WaitGroup::new());
        let per = leaves.len().div_ceil(WAITERS);
        for w in 0..WAITERS {
            let leaves = leaves.clone();
            wg.go(move || {
                for l in leaves.iter().skip(w * per).take(per) {
                    l.done().recv();
                }
            });
        }
        cancel.cancel();
        wg.wait();
        assert!(leaves.iter().all(|l| l.err() == Some(context::Canceled)));
        drop(keep);
    }
    report("ctx_cancel_tree", (N * ROUNDS) as u64, t.elapsed());
}
