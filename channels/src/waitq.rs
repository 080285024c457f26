//! Wait queues of parked channel operations: the [`Waiter`] (Go's `sudog`)
//! and the intrusive FIFO [`WaitQ`] of a channel's senders or receivers.
//!
//! Go: runtime/chan.go (`waitq`, `enqueue`, `dequeue`, `dequeueSudoG`),
//! runtime/runtime2.go (`sudog`).
//!
//! ## Invariants
//!
//! - A `Waiter` lives on the stack of the goroutine (or thread) it stands
//!   for, which parks right after queueing it. Goroutine stacks never move
//!   and a parked goroutine's frame stays intact until it is readied, so a
//!   queued waiter's address stays valid while it is queued and until the
//!   party that dequeued it calls `ready`.
//! - Every field of a queued waiter, and every link of a queue, is read and
//!   written only under the lock of the channel that owns the queue. The
//!   owner writes its waiter before queueing it (under that lock) and reads
//!   it again only after being readied (which happens-after the waker's
//!   unlock) or under the lock.
//! - `state` leaves [`WAITING`] at most once, set by the one party that
//!   dequeued the waiter and is entitled to ready its goroutine: the
//!   counterpart of a transfer, a closer, or a timeout.
//! - A select parks one goroutine on several queues. Only the party that
//!   wins the select's race (a CAS of the word [`Waiter::select_done`]
//!   points at, in the selecting frame; Go's `g.selectDone`) may complete
//!   one of its waiters; `dequeue` drops losing select waiters from the
//!   queue and moves on (Go does the same), and the selecting goroutine
//!   unlinks the rest itself after waking.
//!
//! The queue itself is the runtime's [`WaitList`] (`waitlist.rs`), whose
//! head the lock-free fast paths of non-blocking operations read without
//! the lock (`full`/`empty` on an unbuffered channel, [`WaitQ::is_empty`]):
//! it is stored with Release under the lock and loaded with Acquire; see
//! `hchan.rs` for why that suffices. "Queued" is the list's "linked".

use std::cell::Cell;
use std::ptr;
use std::sync::atomic::{AtomicU32, Ordering};

use gort_runtime::engine::{GRef, Links, Parked, WaitList};

/// Parked and not yet completed.
pub(crate) const WAITING: u8 = 0;
/// Completed by a counterpart: the value was moved.
pub(crate) const DONE: u8 = 1;
/// Woken by `close`: no value moved.
pub(crate) const CLOSED: u8 = 2;
/// Woken by its deadline: no value moved.
pub(crate) const TIMED_OUT: u8 = 3;

/// One parked channel operation. Go: `sudog`.
pub(crate) struct Waiter {
    /// The parked goroutine or thread.
    pub(crate) g: Cell<Option<GRef>>,
    /// The value to send (a `T` the sender still owns) or the slot to
    /// receive into (a `MaybeUninit<T>`), on the waiter's stack.
    pub(crate) elem: Cell<*mut u8>,
    /// Queue links (and, once a closer took the waiter off, the closer's
    /// list of waiters to ready).
    links: Links<Waiter>,
    /// For a case of a select, the select's race word (0 until a waker
    /// claims the select, Go's `g.selectDone`), in `selectgo`'s frame,
    /// which outlives the select's waiters; null for a plain operation.
    pub(crate) select_done: Cell<*const AtomicU32>,
    /// [`WAITING`], [`DONE`], [`CLOSED`] or [`TIMED_OUT`].
    pub(crate) state: Cell<u8>,
}

gort_runtime::engine::linked!(Waiter, links);

impl Parked for Waiter {
    #[inline]
    fn gref(&self) -> GRef {
        Waiter::gref(self)
    }
}

impl Waiter {
    /// An unqueued waiter for `g`, not part of a select until `select_done`
    /// is set.
    pub(crate) const fn new(g: Option<GRef>, elem: *mut u8) -> Waiter {
        Waiter {
            g: Cell::new(g),
            elem: Cell::new(elem),
            links: Links::new(),
            select_done: Cell::new(ptr::null()),
            state: Cell::new(WAITING),
        }
    }

    /// The goroutine to ready.
    pub(crate) fn gref(&self) -> GRef {
        self.g.get().expect("a queued waiter has a goroutine")
    }
}

/// A FIFO of waiters, intrusive and doubly linked (O(1) removal of a losing
/// select case). Go: `waitq`.
pub(crate) struct WaitQ {
    list: WaitList<Waiter>,
}

impl WaitQ {
    pub(crate) const fn new() -> WaitQ {
        WaitQ { list: WaitList::new() }
    }

    /// Whether the queue is empty; may be called without the lock (the
    /// fast paths), see the module docs.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Appends `w`.
    ///
    /// # Safety
    /// The channel lock is held, and `w` is not queued and stays valid
    /// until it is dequeued or removed (module docs).
    #[inline]
    pub(crate) unsafe fn enqueue(&self, w: &Waiter) {
        // SAFETY: the caller's contract is the list's: lock held, `w` on
        // no list and valid while queued.
        unsafe { self.list.push_back(w) }
    }

    /// Unlinks and returns the first waiter that may be completed: a plain
    /// waiter, or a select waiter whose goroutine's select race this call
    /// wins. Go: `waitq.dequeue`.
    ///
    /// # Safety
    /// The channel lock is held.
    #[inline]
    pub(crate) unsafe fn dequeue(&self) -> Option<&Waiter> {
        loop {
            // SAFETY: we hold the lock (caller). The reference is handed
            // out only until the caller readies the waiter's goroutine
            // (module docs), which keeps the record alive until then.
            let w = unsafe { self.list.pop_front() }?;
            // A select waiter may already have lost: another case woke its
            // goroutine, which has not yet come back to unlink this one.
            // The goroutine is parked or about to relock in pass 3 (its
            // waiter was queued until now, and it unlinks every waiter
            // under this lock before leaving `selectgo`), so the frame
            // holding the select's race word is alive.
            // SAFETY: null for a plain waiter; else that word, alive as
            // argued just above.
            if let Some(done) = unsafe { w.select_done.get().as_ref() }
                && done.compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire).is_err()
            {
                continue;
            }
            return Some(w);
        }
    }

    /// Unlinks `w` if it is still queued; returns whether it was. Go:
    /// `dequeueSudoG`.
    ///
    /// # Safety
    /// The channel lock is held, and `w` was queued on this queue if it is
    /// queued at all.
    #[inline]
    pub(crate) unsafe fn remove(&self, w: &Waiter) -> bool {
        // SAFETY: lock held; `w` is on this list or on none (caller).
        unsafe { self.list.remove(w) }
    }
}
