//! `gort_runtime::future::block_on`'s batching (module docs, "Batching"):
//! a future woken in turn by several goroutines queued on its P is polled
//! once for the lot, not once per wake, and no wake is lost.
//!
//! On one P the order is fixed: the goroutines a poll spawns run before
//! the future's goroutine can run again, so the count of polls is exact
//! whatever the machine's load; a lost wake-up would hang, which the
//! 120 s bound turns into a failure.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::task::{Context, Poll};
use std::time::Duration;

use gort_runtime::Runtime;
use gort_runtime::future::block_on;

/// Goroutines that wake the future, each once.
const WAKERS: usize = 16;

/// On its first poll spawns [`WAKERS`] goroutines that each count
/// themselves and wake it; ready once all have. Counts its polls.
struct WokenByMany {
    done: Arc<AtomicUsize>,
    polls: usize,
}

impl Future for WokenByMany {
    type Output = usize;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        self.polls += 1;
        if self.polls == 1 {
            for _ in 0..WAKERS {
                let (done, waker) = (self.done.clone(), cx.waker().clone());
                drop(gort_runtime::spawn(move || {
                    done.fetch_add(1, Ordering::SeqCst);
                    waker.wake();
                }));
            }
        }
        if self.done.load(Ordering::SeqCst) == WAKERS { Poll::Ready(self.polls) } else { Poll::Pending }
    }
}

#[test]
fn wakes_from_queued_goroutines_are_served_by_one_poll() {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = Runtime::builder().max_procs(1).build().expect("runtime");
        let polls = rt.block_on(|| block_on(WokenByMany { done: Arc::new(AtomicUsize::new(0)), polls: 0 }));
        let _ = tx.send(polls);
    });
    let polls = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("block_on did not finish within 120 s: a lost wake-up");
    // The first poll, then one for all the wakes (the first woken resumes
    // the future, which lets the other queued goroutines run before it
    // polls); without the batching, one poll per wake: WAKERS + 1.
    assert_eq!(
        polls, 2,
        "{WAKERS} wakes from goroutines queued on the future's P took {polls} polls, want 2"
    );
}
