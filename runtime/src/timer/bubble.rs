//! Timers of synctest bubbles: a bubble's own heap, arming into it, and
//! its root's firing in random order among equal deadlines.
//!
//! Go: runtime/time.go (`timer.isFake`, `maybeAdd`'s bubble heap,
//! `timers.check` with a bubble, the randomised order of fake timers).
//!
//! A synctest bubble owns a heap of its own (`Timers::for_bubble`), never
//! one of a P's: `reset` arms a node there when its caller is in a bubble
//! (`reset_in` names the bubble explicitly), and the node is then `fake`:
//! its deadline is on the bubble's clock, also for `run_if_due`. Only the
//! bubble's root fires that heap (`check_bubble`, in a random order among
//! equal deadlines, as Go does), while the bubble is idle; arming there
//! never wakes the poller. The module protocol (`timer`) is unchanged: the node lock,
//! the heap lock, `running`. A bubble detaches what is left in its heap
//! when it ends, as a runtime does at shutdown.

use std::pin::Pin;
use std::ptr;
use std::sync::atomic::Ordering;

use super::{HEAP_N, TimerNode, Timers, next_period, run_callback};

impl TimerNode {
    /// [`TimerNode::reset`] into the heap of the synctest bubble at
    /// `bubble`, which the caller keeps alive (a member's G, or a
    /// primitive's Arc). Out of line: the common path stays as it was.
    #[cold]
    #[inline(never)]
    pub(super) fn reset_fake(
        self: Pin<&Self>,
        bubble: *const crate::synctest::Bubble,
        when: i64,
        period: i64,
    ) -> bool {
        // SAFETY: the caller keeps the bubble alive (above).
        let heap = unsafe { &(*bubble).timers };
        self.lock.lock();
        let was = self.remove();
        self.wait_idle();
        heap.add(&self, when, period, true);
        // SAFETY: we hold the node lock (taken above).
        unsafe { self.lock.unlock() };
        // No P's timer or poller wait changed: the bubble's root fires its
        // timers.
        was
    }
}

impl Timers {
    /// The heap of the bubble at `b` (which contains it).
    pub(crate) fn for_bubble(b: *const crate::synctest::Bubble) -> Timers {
        let t = Timers::new();
        t.bubble.store(b as *mut _, Ordering::Relaxed);
        t
    }

    /// The clock of a bubble's heap.
    pub(super) fn bubble_now(&self) -> i64 {
        // SAFETY: a bubble's heap lives inside the bubble.
        unsafe { &*self.bubble.load(Ordering::Relaxed) }.now_nanos()
    }

    /// Runs a synctest bubble's timers due at `now` (its root calls this,
    /// tagged as in the bubble). Timers due at the same instant run in a
    /// random order, as Go randomises equal deadlines in bubbles: each
    /// round picks one at random among the entries sharing the earliest
    /// deadline (in a heap they form a subtree under the top). Otherwise
    /// each firing follows [`Timers::check`]'s protocol.
    pub(crate) fn check_bubble(&self, now: i64) {
        let mut ties = Vec::new();
        loop {
            let mut h = self.inner.lock();
            let Some(top) = h.entries.first().copied().filter(|e| e.when <= now) else {
                self.publish(&h);
                return;
            };
            ties.clear();
            ties.push(0usize);
            let mut k = 0;
            while k < ties.len() {
                let first = ties[k] * HEAP_N + 1;
                for c in first..(first + HEAP_N).min(h.entries.len()) {
                    if h.entries[c].when == top.when {
                        ties.push(c);
                    }
                }
                k += 1;
            }
            let i = ties[crate::proc::cheaprandn(ties.len() as u32) as usize];
            let e = h.entries[i];
            // SAFETY: nodes in the heap are alive; we hold the lock.
            let node = unsafe { &*e.node };
            // Counted in before the node can look disarmed (as in check).
            node.running.fetch_add(1, Ordering::Relaxed);
            let period = node.period.get();
            if period > 0 {
                let next = next_period(e.when, period, now);
                node.when.store(next, Ordering::Release);
                h.entries[i].when = next;
                h.sift_down(i);
            } else {
                h.remove_at(i);
                node.heap.store(ptr::null_mut(), Ordering::Release);
            }
            self.publish(&h);
            drop(h);
            let (f, arg) = (node.f, node.arg.load(Ordering::Relaxed));
            run_callback(f, arg, now - e.when);
            // Last touch of the node (module docs).
            node.running.fetch_sub(1, Ordering::Release);
        }
    }
}
