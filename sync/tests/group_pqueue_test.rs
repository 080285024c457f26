//! PriorityQueue: etcd's recipe order (lowest number first, FIFO within a
//! priority), blocking dequeue, MPMC with nothing lost or duplicated (the
//! course's queue scenario, in process), and cancellation.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use common::run;
use gort_sync::context;
use gort_sync::group::PriorityQueue;

#[test]
fn lowest_number_first_fifo_within_a_priority() {
    let q = PriorityQueue::new();
    for (v, pr) in [("c1", 3), ("a1", 1), ("c2", 3), ("b1", 2), ("a2", 1), ("c3", 3)] {
        q.enqueue(v, pr);
    }
    assert_eq!(q.len(), 6);
    let got: Vec<_> = (0..6).map(|_| q.dequeue()).collect();
    assert_eq!(got, ["a1", "a2", "b1", "c1", "c2", "c3"]);
    assert!(q.is_empty());
    assert_eq!(q.try_dequeue(), None);
}

/// Dequeue parks until an item comes; waiting consumers are served in the
/// order they came.
#[test]
fn dequeue_waits_for_an_item_in_fifo_order() {
    run("dequeue_waits_for_an_item_in_fifo_order", 2, || {
        let q = PriorityQueue::<u32>::new();
        let mut consumers = Vec::new();
        for _ in 0..3 {
            let q2 = q.clone();
            consumers.push(gort_runtime::spawn(move || q2.dequeue()));
            // Wait until it is queued (causal: its dequeue found nothing).
            while q.waiting() < consumers.len() {
                gort_runtime::yield_now();
            }
        }
        for i in 0..3 {
            q.enqueue(i, 0);
        }
        let got: Vec<u32> = consumers.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(got, [0, 1, 2], "the longest-waiting consumer gets the first item");
    });
}

/// Many producers and consumers: every item comes out exactly once.
#[test]
fn mpmc_nothing_lost_or_duplicated() {
    run("mpmc_nothing_lost_or_duplicated", 2, || {
        const PRODUCERS: u32 = 4;
        const PER: u32 = 2_500;
        let q = PriorityQueue::<u32>::new();
        let consumers: Vec<_> = (0..4)
            .map(|_| {
                let q = q.clone();
                gort_runtime::spawn(move || (0..PER).map(|_| q.dequeue()).collect::<Vec<_>>())
            })
            .collect();
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let q = q.clone();
                gort_runtime::spawn(move || {
                    for i in 0..PER {
                        q.enqueue(p * PER + i, (i % 7) as u16);
                    }
                })
            })
            .collect();
        for h in producers {
            h.join().unwrap();
        }
        let mut seen = HashSet::new();
        for h in consumers {
            for v in h.join().unwrap() {
                assert!(seen.insert(v), "{v} delivered twice");
            }
        }
        assert_eq!(seen.len(), (PRODUCERS * PER) as usize, "items lost");
        assert!(q.is_empty());
    });
}

/// A consumer whose context ends gives up without taking anything; items
/// enqueued while consumers come and go are neither lost nor duplicated.
#[test]
fn cancelled_dequeue_takes_nothing() {
    run("cancelled_dequeue_takes_nothing", 2, || {
        let q = PriorityQueue::<u32>::new();
        let (ctx, cancel) = context::with_cancel(&context::background());
        cancel.cancel();
        assert_eq!(q.dequeue_ctx(&ctx), Err(context::Canceled));
        let (ctx, _c) = context::with_timeout(&context::background(), Duration::from_millis(5));
        assert_eq!(q.dequeue_ctx(&ctx), Err(context::DeadlineExceeded));

        // Consumers with very short deadlines race a producer.
        let producer = {
            let q = q.clone();
            gort_runtime::spawn(move || {
                for i in 0..5_000 {
                    q.enqueue(i, 0);
                    if i % 16 == 0 {
                        gort_runtime::yield_now();
                    }
                }
            })
        };
        let got = Arc::new(std::sync::Mutex::new(Vec::new()));
        let consumers: Vec<_> = (0..4)
            .map(|_| {
                let (q, got) = (q.clone(), got.clone());
                gort_runtime::spawn(move || {
                    for _ in 0..1_000 {
                        let (ctx, _c) =
                            context::with_timeout(&context::background(), Duration::from_micros(50));
                        if let Ok(v) = q.dequeue_ctx(&ctx) {
                            got.lock().unwrap().push(v);
                        }
                    }
                })
            })
            .collect();
        producer.join().unwrap();
        for h in consumers {
            h.join().unwrap();
        }
        let mut all = got.lock().unwrap().clone();
        while let Some(v) = q.try_dequeue() {
            all.push(v);
        }
        all.sort();
        assert_eq!(all, (0..5_000).collect::<Vec<_>>(), "lost or duplicated items");
    });
}
