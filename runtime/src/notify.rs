//! The ticket-ordered notify list under gort-sync's `Cond`.
//!
//! Go: runtime/sema.go (`notifyList`, `notifyListAdd`, `notifyListWait`,
//! `notifyListNotifyOne`, `notifyListNotifyAll`).
//!
//! [`NotifyList`] is Go's `notifyList`, the engine of `sync.Cond`: a waiter
//! takes a ticket ([`NotifyList::add`]) while it still holds the condition's
//! lock, releases that lock, then waits for its ticket. Notifications are
//! handed out in ticket order, so wake-ups are FIFO and a signal sent
//! between the unlock and the park is not lost.
//!
//! The waiters wait on a [`WaitList`] (`waitlist.rs`) in ticket order of
//! arrival.
//!
//! A parked wait is unwind-safe (`park_unwind_safe`): if its runtime is
//! dropped, the guard `Unlist` unlinks the record (its ticket stays
//! notified-or-pending like any other), or waits out the notifier that took
//! it.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::g::{GRef, WaitReason};
use crate::gopark::{current_g, park_unwind_safe, ready};
use crate::lock::RawLock;
use crate::waitlist::{Detached, Links, WaitList};

/// One Cond waiter, on the waiter's stack.
struct NotifyWaiter {
    /// The waiting goroutine; immutable.
    g: GRef,
    /// Its ticket, from `NotifyList::add`; immutable.
    ticket: u32,
    /// List links; under the list's lock.
    links: Links<NotifyWaiter>,
}

crate::linked!(NotifyWaiter, links, g);

/// A ticket-based wait list, Go's `notifyList` (the runtime half of
/// `sync.Cond`). See the module docs.
///
/// `wait` is the next ticket to hand out, `notify` the next ticket to wake;
/// tickets wrap around and compare as `int32(a - b) < 0`. The list holds the
/// waiters that have not been notified yet, in ticket order (tickets are
/// taken in order, but a waiter may reach the list after a later one, so
/// `notify_one` searches it).
pub struct NotifyList {
    /// The next ticket to hand out (Go: `wait`): taken by `add` with a
    /// SeqCst increment, under no lock.
    wait: AtomicU32,
    /// The next ticket to wake (Go: `notify`). Written only under `lock`
    /// (SeqCst); read without it by the fast paths.
    notify: AtomicU32,
    /// Guards `waiters` and the listed records (Go: `lock`); a waiter's
    /// park callback releases it.
    lock: RawLock,
    /// The waiters not notified yet, oldest first; under `lock`.
    waiters: WaitList<NotifyWaiter>,
}

// SAFETY: `waiters` and the records it links are touched only under
// `lock`; a record stays alive while listed because its owner is parked
// until a notifier unlinks it (under the lock) and readies it.
unsafe impl Sync for NotifyList {}
// SAFETY: the raw pointers are only meaningful while waiters exist, and a
// NotifyList with waiters is borrowed by them, so it cannot be moved.
unsafe impl Send for NotifyList {}

/// Wrap-around comparison of tickets: whether `a` comes before `b`.
#[inline]
fn less(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

impl NotifyList {
    /// An empty list.
    pub const fn new() -> NotifyList {
        NotifyList {
            wait: AtomicU32::new(0),
            notify: AtomicU32::new(0),
            lock: RawLock::new(),
            waiters: WaitList::new(),
        }
    }

    /// Takes the next ticket. Call it while still holding the condition's
    /// lock, then unlock, then [`NotifyList::wait`]. Go: `notifyListAdd`.
    #[inline]
    pub fn add(&self) -> u32 {
        self.wait.fetch_add(1, Ordering::SeqCst)
    }

    /// Waits until ticket `t` is notified; returns at once if it already
    /// was. Go: `notifyListWait`.
    pub fn wait(&self, t: u32) {
        self.lock.lock();
        if less(t, self.notify.load(Ordering::Relaxed)) {
            // SAFETY: we took the lock above.
            unsafe { self.lock.unlock() };
            return;
        }
        let w = NotifyWaiter { g: current_g(), ticket: t, links: Links::new() };
        // SAFETY: we hold the lock; `w` is on no list, and stays in place
        // until a notifier unlinks it (we get past `park` only after that)
        // or the guard below does.
        unsafe { self.waiters.push_back(&w) };
        let guard = Unlist { l: self, w: &w };
        park_unwind_safe(WaitReason::SyncCondWait, |_| {
            // SAFETY: we hold the lock; we are off our stack now.
            unsafe { self.lock.unlock() };
            true
        });
        std::mem::forget(guard);
    }

    /// Wakes the waiter with the oldest unnotified ticket, if any. Go:
    /// `notifyListNotifyOne`.
    pub fn notify_one(&self) {
        // Fast path: no new waiters since the last notification.
        if self.wait.load(Ordering::SeqCst) == self.notify.load(Ordering::SeqCst) {
            return;
        }
        self.lock.lock();
        let t = self.notify.load(Ordering::Relaxed);
        if t == self.wait.load(Ordering::SeqCst) {
            // SAFETY: we took the lock above.
            unsafe { self.lock.unlock() };
            return;
        }
        // Ticket t is notified from now on, whether or not its owner has
        // reached the list: if it has not, it will see notify > t and not
        // park.
        self.notify.store(t.wrapping_add(1), Ordering::SeqCst);
        // SAFETY: we hold the lock for the whole search.
        let found = unsafe { self.waiters.iter() }.find(|w| w.ticket == t);
        let g = found.map(|w| {
            // SAFETY: we hold the lock, and `w` was just found on this list.
            let removed = unsafe { self.waiters.remove(w) };
            debug_assert!(removed, "notify_one: a listed waiter was not linked");
            w.g
        });
        // SAFETY: we took the lock above.
        unsafe { self.lock.unlock() };
        if let Some(g) = g {
            // SAFETY: we unlinked the waiter under the lock, which makes us
            // the one party entitled to ready it; `g` was copied out of the
            // record before it can go away.
            unsafe { ready(g) };
        }
    }

    /// Wakes every waiter that has taken a ticket so far. Go:
    /// `notifyListNotifyAll`.
    pub fn notify_all(&self) {
        if self.wait.load(Ordering::SeqCst) == self.notify.load(Ordering::SeqCst) {
            return;
        }
        self.lock.lock();
        let mut woken = Detached::new();
        // SAFETY: we hold the lock; taking the waiters off under it makes us
        // the one party entitled to ready them.
        unsafe { self.waiters.detach_all(&mut woken) };
        self.notify.store(self.wait.load(Ordering::SeqCst), Ordering::SeqCst);
        // SAFETY: we took the lock above.
        unsafe { self.lock.unlock() };
        woken.ready_all();
    }
}

/// The unwind guard of a parked [`NotifyList::wait`] (see [`crate::gopark`]):
/// unlinks the record if no notifier took it, else waits for the
/// notifier's `ready`. The ticket counts as notified either way.
struct Unlist<'a> {
    l: &'a NotifyList,
    w: &'a NotifyWaiter,
}

impl Drop for Unlist<'_> {
    fn drop(&mut self) {
        let l = self.l;
        l.lock.lock();
        // SAFETY: we hold the lock; the record is on this list or on none.
        let found = unsafe { l.waiters.remove(self.w) };
        // SAFETY: taken above.
        unsafe { l.lock.unlock() };
        if !found {
            crate::unwind::wait_for_waker();
        }
    }
}

impl Default for NotifyList {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_compare_across_wrap_around() {
        assert!(less(1, 2));
        assert!(!less(2, 1));
        assert!(less(u32::MAX, 0));
        assert!(!less(5, 5));
    }

    #[test]
    fn notify_list_wakes_in_ticket_order_on_threads() {
        use std::sync::Arc;
        // The runtime's own lock rather than std's: ThreadSanitizer cannot
        // see std's (uninstrumented) mutex synchronise, and reported the
        // pushes and reads below as a race in one CI run.
        let l = Arc::new(NotifyList::new());
        let order = Arc::new(crate::lock::Lock::new(Vec::new()));
        let mut hs = Vec::new();
        for i in 0..4u32 {
            let t = l.add();
            assert_eq!(t, i);
            let (l, order) = (l.clone(), order.clone());
            hs.push(std::thread::spawn(move || {
                l.wait(t);
                order.lock().push(t);
            }));
        }
        for i in 0..4 {
            l.notify_one();
            while order.lock().len() <= i {
                std::thread::yield_now();
            }
        }
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(*order.lock(), vec![0, 1, 2, 3]);
        // Notified before waiting: returns at once.
        let t = l.add();
        l.notify_all();
        l.wait(t);
    }
}
