//! A worker pool: a fixed number of goroutines take jobs from one buffered
//! channel and send results to another; closing the jobs channel stops
//! them, and the results channel is closed once every worker is done.
//!
//! Run: `cargo run --example worker_pool`
use std::time::Duration;

struct Job {
    id: usize,
    n: u64,
}

struct Done {
    id: usize,
    worker: usize,
    fib: u64,
}

fn fib(n: u64) -> u64 {
    let (mut a, mut b) = (0u64, 1u64);
    for _ in 0..n {
        (a, b) = (b, a.wrapping_add(b));
    }
    a
}

#[gort::main]
fn main() {
    const WORKERS: usize = 4;
    let jobs = gort::chan::<Job>(16);
    let results = gort::chan::<Done>(16);

    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let (jobs, results) = (jobs.receiver(), results.sender());
            gort::go!(move || {
                for job in &jobs {
                    gort::sleep(Duration::from_millis(1)); // some I/O
                    results.send(Done { id: job.id, worker: w, fib: fib(job.n) }).unwrap();
                }
            })
        })
        .collect();

    // Close `results` once every worker has returned.
    let closer = results.sender();
    gort::go!(move || {
        for w in workers {
            w.join().unwrap();
        }
        closer.close();
    });

    // Feed the jobs from another goroutine, so that results are consumed
    // while jobs are still being queued.
    let feeder = jobs.sender();
    gort::go!(move || {
        for id in 0..40 {
            feeder.send(Job { id, n: 50 + id as u64 }).unwrap();
        }
        feeder.close();
    });

    let mut per_worker = [0usize; WORKERS];
    let mut n = 0;
    for r in &results {
        assert_eq!(r.fib, fib(50 + r.id as u64));
        per_worker[r.worker] += 1;
        n += 1;
    }
    println!("{n} jobs done; per worker: {per_worker:?}");
    assert_eq!(n, 40);
}
