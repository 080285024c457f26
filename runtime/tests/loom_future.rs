//! Model checks (loom) of `block_on`'s wake-up word (`future/state.rs`),
//! compiled with loom's atomics:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test --release -p gort-runtime --test loom_future
//! ```
//!
//! - no lost wake: an owner that polls, parks and is readied always sees
//!   the waker's data and finishes (a lost wake-up would leave it parked,
//!   which loom reports as a deadlock);
//! - exactly one ready per committed park, with two wakers racing and
//!   duplicate wakes;
//! - a forced unwind's `abandon` and a waker never both claim a park.
#![cfg(loom)]

#[allow(dead_code)]
#[path = "../src/future/state.rs"]
mod state;

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

use state::WakeState;

/// The owner's `block_on` loop against `wakers` threads that each publish
/// a value and then wake `wakes` times, explored with at most
/// `preemptions` preemptions (loom's bound, which keeps the two-waker
/// model to seconds; unbounded it runs for many minutes).
fn owner_against(wakers: usize, wakes: usize, preemptions: usize) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(preemptions);
    b.check(move || {
        let st = Arc::new(WakeState::new());
        let data = Arc::new(AtomicUsize::new(0));
        let readies = Arc::new(AtomicUsize::new(0));
        let owner = thread::current();
        let hs: Vec<_> = (0..wakers)
            .map(|_| {
                let (st, data, readies, owner) = (st.clone(), data.clone(), readies.clone(), owner.clone());
                thread::spawn(move || {
                    // Relaxed: only the wake-up word may order it.
                    data.fetch_add(1, Ordering::Relaxed);
                    for _ in 0..wakes {
                        if st.wake() {
                            readies.fetch_add(1, Ordering::SeqCst);
                            owner.unpark();
                        }
                    }
                })
            })
            .collect();
        let mut parks = 0;
        loop {
            st.begin_poll();
            // The "future": ready once every waker's data is visible.
            if data.load(Ordering::Relaxed) == wakers {
                break;
            }
            if st.try_park() {
                parks += 1;
                // Parked until a waker readies us (`ready`).
                while readies.load(Ordering::SeqCst) < parks {
                    thread::park();
                }
            }
        }
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(readies.load(Ordering::SeqCst), parks, "one ready per committed park");
    });
}

#[test]
fn one_waker_no_lost_wake_one_ready_per_park() {
    // A wake and a duplicate.
    owner_against(1, 2, 5);
}

#[test]
fn two_wakers_race_and_only_one_readies() {
    owner_against(2, 1, 4);
}

#[test]
fn abandon_and_a_waker_never_both_claim_the_park() {
    loom::model(|| {
        let st = Arc::new(WakeState::new());
        st.begin_poll();
        assert!(st.try_park());
        let s2 = st.clone();
        let w = thread::spawn(move || s2.wake());
        let abandoned = st.abandon();
        let readied = w.join().unwrap();
        assert!(abandoned != readied, "exactly one of the unwind and the waker settles the park");
        // Whatever happened, later wakes ready nobody.
        assert!(!st.wake());
    });
}
