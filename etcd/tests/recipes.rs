//! The recipes and STM against a real etcd, many goroutines at once.

mod common;

use common::{client, run, wait_keys};

use std::collections::BTreeSet;
use std::time::Duration;

use gort_channels::chan;
use gort_etcd::Error;
use gort_etcd::concurrency::{Isolation, Session, new_stm, new_stm_with};
use gort_etcd::recipes::{Barrier, DoubleBarrier, PriorityQueue, Queue, RwMutex};
use gort_sync::context;

#[test]
fn queue_mpmc_loses_and_duplicates_nothing() {
    run(|| {
        let c = client();
        const PER: usize = 25;
        let got = chan::<String>(4 * PER);
        let consumers: Vec<_> = (0..4)
            .map(|_| {
                let (q, tx) = (Queue::new(&c, "mpmc"), got.clone());
                gort_runtime::spawn(move || {
                    for _ in 0..PER {
                        tx.send(q.dequeue().unwrap()).unwrap();
                    }
                })
            })
            .collect();
        let producers: Vec<_> = (0..4)
            .map(|p| {
                let q = Queue::new(&c, "mpmc");
                gort_runtime::spawn(move || {
                    for i in 0..PER {
                        q.enqueue(&format!("{p}-{i}")).unwrap();
                    }
                })
            })
            .collect();
        for h in producers.into_iter().chain(consumers) {
            h.join().unwrap();
        }
        let all: Vec<String> = (0..4 * PER).map(|_| got.recv().unwrap()).collect();
        let set: BTreeSet<&String> = all.iter().collect();
        assert_eq!(set.len(), 4 * PER, "a value was delivered twice");
        for p in 0..4 {
            for i in 0..PER {
                assert!(set.contains(&format!("{p}-{i}")), "{p}-{i} was lost");
            }
        }
        assert_eq!(c.get_prefix("mpmc/").unwrap().count, 0);
        // An empty queue blocks dequeue until its context ends.
        let q = Queue::new(&c, "mpmc");
        let (ctx, _c) = context::with_timeout(&context::background(), Duration::from_millis(200));
        let r = q.dequeue_ctx(&ctx);
        assert!(matches!(r, Err(Error::Context(_))), "{r:?}");
    });
}

#[test]
fn priority_queue_lower_numbers_first_fifo_within() {
    run(|| {
        let c = client();
        let q = PriorityQueue::new(&c, "pq");
        for (v, p) in [("low-1", 5), ("high-1", 1), ("low-2", 5), ("mid", 3), ("high-2", 1)] {
            q.enqueue(v, p).unwrap();
        }
        let out: Vec<String> = (0..5).map(|_| q.dequeue().unwrap()).collect();
        assert_eq!(out, ["high-1", "high-2", "mid", "low-1", "low-2"]);
        // A blocked dequeue takes the next element put.
        let q2 = q.clone();
        let h = gort_runtime::spawn(move || q2.dequeue().unwrap());
        gort_runtime::sleep(Duration::from_millis(100));
        q.enqueue("late", 9).unwrap();
        assert_eq!(h.join().unwrap(), "late");
    });
}

#[test]
fn nobody_passes_a_barrier_before_release() {
    run(|| {
        let c = client();
        let b = Barrier::new(&c, "barrier/gate");
        // Not held: wait returns at once.
        b.wait().unwrap();
        b.hold().unwrap();
        assert_eq!(b.hold().unwrap_err(), Error::KeyExists);
        let passed = chan::<usize>(4);
        let hs: Vec<_> = (0..4)
            .map(|i| {
                let (b, tx) = (b.clone(), passed.clone());
                gort_runtime::spawn(move || {
                    b.wait().unwrap();
                    tx.send(i).unwrap();
                })
            })
            .collect();
        // Nobody passes while it is held (causal: checked before release).
        assert!(passed.recv_timeout(Duration::from_millis(500)).is_err());
        b.release().unwrap();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(passed.len(), 4);
    });
}

#[test]
fn a_double_barrier_starts_and_finishes_together() {
    run(|| {
        let c = client();
        const N: usize = 3;
        let entered = chan::<usize>(N);
        let left = chan::<usize>(N);
        let go_leave = chan::<()>(0);
        let mut hs = Vec::new();
        for i in 0..N {
            let (c2, e, l, g) = (c.clone(), entered.clone(), left.clone(), go_leave.clone());
            hs.push(gort_runtime::spawn(move || {
                let s = Session::with_ttl(&c2, 10).unwrap();
                let mut b = DoubleBarrier::new(&s, "dbar", N);
                b.enter().unwrap();
                e.send(i).unwrap();
                g.recv();
                b.leave().unwrap();
                l.send(i).unwrap();
                s.close().unwrap();
            }));
            if i < N - 1 {
                wait_keys(&c, "dbar/waiters/", i as i64 + 1);
                // Fewer than N have entered: nobody is through.
                assert!(entered.is_empty());
            }
        }
        for _ in 0..N {
            entered.recv_timeout(Duration::from_secs(30)).expect("all enter once N arrived");
        }
        // Two start leaving; they wait for the third.
        go_leave.send(()).unwrap();
        go_leave.send(()).unwrap();
        assert!(left.recv_timeout(Duration::from_millis(500)).is_err(), "left before all did");
        go_leave.send(()).unwrap();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(left.len(), N);
        assert_eq!(c.get_prefix("dbar/").unwrap().count, 0);
    });
}

#[test]
fn rwmutex_readers_share_writers_exclude() {
    run(|| {
        let c = client();
        let s1 = Session::with_ttl(&c, 10).unwrap();
        let s2 = Session::with_ttl(&c, 10).unwrap();
        let s3 = Session::with_ttl(&c, 10).unwrap();
        let mut r1 = RwMutex::new(&s1, "rw");
        let mut r2 = RwMutex::new(&s2, "rw");
        r1.rlock().unwrap();
        r2.rlock().unwrap(); // readers share
        let got = chan::<&str>(2);
        let (tx, s3c) = (got.clone(), s3.clone());
        let writer = gort_runtime::spawn(move || {
            let mut w = RwMutex::new(&s3c, "rw");
            w.lock().unwrap();
            tx.send("writer").unwrap();
            w.unlock().unwrap();
        });
        wait_keys(&c, "rw/write", 1);
        assert!(got.recv_timeout(Duration::from_millis(300)).is_err(), "writer entered beside readers");
        r1.runlock().unwrap();
        r2.runlock().unwrap();
        assert_eq!(got.recv_timeout(Duration::from_secs(30)).unwrap(), "writer");
        writer.join().unwrap();
        for s in [s1, s2, s3] {
            s.close().unwrap();
        }
    });
}

#[test]
fn stm_transfers_keep_the_total() {
    run(|| {
        let c = client();
        for i in 0..5 {
            c.put(format!("accts/{i}"), "100").unwrap();
        }
        let hs: Vec<_> = (0..10u64)
            .map(|g| {
                let c = c.clone();
                gort_runtime::spawn(move || {
                    let mut seed = g * 7919 + 1;
                    for _ in 0..10 {
                        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                        let (from, to) = ((seed >> 33) % 5, (seed >> 40) % 5);
                        new_stm(&c, |stm| {
                            if from == to {
                                return Ok(());
                            }
                            let f: i64 = stm.get(format!("accts/{from}"))?.parse().unwrap();
                            let t: i64 = stm.get(format!("accts/{to}"))?.parse().unwrap();
                            let half = f / 2;
                            stm.put(format!("accts/{from}"), (f - half).to_string());
                            stm.put(format!("accts/{to}"), (t + half).to_string());
                            Ok(())
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        let total: i64 =
            c.get_prefix("accts/").unwrap().kvs.iter().map(|kv| kv.value_str().parse::<i64>().unwrap()).sum();
        assert_eq!(total, 500);
        // The other isolation levels commit too; an error aborts with no write.
        for iso in [Isolation::Serializable, Isolation::RepeatableReads, Isolation::ReadCommitted] {
            new_stm_with(&c, &context::background(), iso, |stm| {
                let v = stm.get("accts/0")?;
                stm.put("accts/0", v);
                Ok(())
            })
            .unwrap();
        }
        let r = new_stm(&c, |stm| {
            stm.put("accts/0", "-1");
            Err(Error::InvalidArgument("abort".into()))
        });
        assert!(r.is_err());
        assert_ne!(c.get("accts/0").unwrap().kvs[0].value, b"-1");
    });
}
