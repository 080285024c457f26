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
//! - `queued` is true exactly while the waiter is linked into a queue.
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
//! `WaitQ::first` is atomic because the lock-free fast paths of non-blocking
//! operations read it without the lock (`full`/`empty` on an unbuffered
//! channel). It is stored with Release under the lock and loaded with
//! Acquire; see `hchan.rs` for why that suffices.

use std::cell::Cell;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU32, Ordering};

use gort_runtime::engine::GRef;

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
    next: Cell<*const Waiter>,
    prev: Cell<*const Waiter>,
    /// For a case of a select, the select's race word (0 until a waker
    /// claims the select, Go's `g.selectDone`), in `selectgo`'s frame,
    /// which outlives the select's waiters; null for a plain operation.
    pub(crate) select_done: Cell<*const AtomicU32>,
    /// Linked into a queue right now.
    queued: Cell<bool>,
    /// [`WAITING`], [`DONE`], [`CLOSED`] or [`TIMED_OUT`].
    pub(crate) state: Cell<u8>,
}

impl Waiter {
    /// An unqueued waiter for `g`, not part of a select until `select_done`
    /// is set.
    pub(crate) const fn new(g: Option<GRef>, elem: *mut u8) -> Waiter {
        Waiter {
            g: Cell::new(g),
            elem: Cell::new(elem),
            next: Cell::new(ptr::null()),
            prev: Cell::new(ptr::null()),
            select_done: Cell::new(ptr::null()),
            queued: Cell::new(false),
            state: Cell::new(WAITING),
        }
    }

    /// Whether the waiter is linked into a queue (read under the lock).
    pub(crate) fn is_queued(&self) -> bool {
        self.queued.get()
    }

    /// The goroutine to ready.
    pub(crate) fn gref(&self) -> GRef {
        self.g.get().expect("a queued waiter has a goroutine")
    }

    /// Reuses `next` to chain waiters that a closer has dequeued and will
    /// ready after unlocking.
    pub(crate) fn set_next_ready(&self, w: *const Waiter) {
        self.next.set(w);
    }

    pub(crate) fn next_ready(&self) -> *const Waiter {
        self.next.get()
    }
}

/// A FIFO of waiters, intrusive and doubly linked (O(1) removal of a losing
/// select case). Go: `waitq`.
pub(crate) struct WaitQ {
    first: AtomicPtr<Waiter>,
    last: Cell<*const Waiter>,
}

impl WaitQ {
    pub(crate) const fn new() -> WaitQ {
        WaitQ { first: AtomicPtr::new(ptr::null_mut()), last: Cell::new(ptr::null()) }
    }

    /// Whether the queue is empty; may be called without the lock (the
    /// fast paths), see the module docs.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.first.load(Ordering::Acquire).is_null()
    }

    /// Appends `w`.
    ///
    /// # Safety
    /// The channel lock is held, and `w` is not queued and stays valid
    /// until it is dequeued or removed (module docs).
    #[inline]
    pub(crate) unsafe fn enqueue(&self, w: &Waiter) {
        w.next.set(ptr::null());
        w.queued.set(true);
        let last = self.last.get();
        w.prev.set(last);
        if last.is_null() {
            self.first.store(w as *const Waiter as *mut Waiter, Ordering::Release);
        } else {
            // SAFETY: queued waiters are valid while queued, and we hold the
            // lock that guards their links.
            unsafe { &*last }.next.set(w);
        }
        self.last.set(w);
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
            let w = self.first.load(Ordering::Relaxed);
            if w.is_null() {
                return None;
            }
            // SAFETY: queued waiters are valid while queued; we hold the
            // lock. The reference is handed out only until the caller
            // readies the waiter's goroutine (module docs).
            let w: &Waiter = unsafe { &*w };
            let next = w.next.get();
            if next.is_null() {
                self.last.set(ptr::null());
            } else {
                // SAFETY: `next` is a queued waiter, valid while queued, and
                // we hold the channel lock, under which its links are
                // written.
                unsafe { &*next }.prev.set(ptr::null());
            }
            self.first.store(next as *mut Waiter, Ordering::Release);
            w.next.set(ptr::null());
            w.queued.set(false);
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

    /// Unlinks `w` if it is still queued. Go: `dequeueSudoG`.
    ///
    /// # Safety
    /// The channel lock is held, and `w` was queued on this queue if it is
    /// queued at all.
    pub(crate) unsafe fn remove(&self, w: &Waiter) {
        if !w.queued.get() {
            return;
        }
        let (prev, next) = (w.prev.get(), w.next.get());
        if prev.is_null() {
            self.first.store(next as *mut Waiter, Ordering::Release);
        } else {
            // SAFETY: queued neighbours are valid; we hold the lock.
            unsafe { &*prev }.next.set(next);
        }
        if next.is_null() {
            self.last.set(prev);
        } else {
            // SAFETY: `next` is w's queued neighbour, valid while queued, and
            // we hold the channel lock that guards the links.
            unsafe { &*next }.prev.set(prev);
        }
        w.next.set(ptr::null());
        w.prev.set(ptr::null());
        w.queued.set(false);
    }
}
