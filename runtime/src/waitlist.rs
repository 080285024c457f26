//! The intrusive wait list every blocking primitive queues its waiters on
//! ([`WaitList`]), and the list of waiters taken off it under the lock, to
//! be readied after the unlock ([`Detached`]).
//!
//! Go: the `sudog` lists of runtime/chan.go (`waitq`), runtime/sema.go
//! (`waitlink`/`waittail`, `notifyList`), and x/sync/semaphore's
//! `list.List` of waiters; Go writes each by hand, gort writes it once.
//!
//! ## The records
//!
//! A waiter record (a channel's `Waiter`, the semaphore table's `Sudog`,
//! a Cond waiter...) lives on the stack of the goroutine or thread it
//! stands for, which parks right after queueing it; goroutine stacks never
//! move. The record embeds [`Links`] and says where they are by
//! implementing the `unsafe` trait [`Linked`]. The list never allocates
//! and never owns a record.
//!
//! ## Invariants
//!
//! - Every operation but [`WaitList::is_empty`] runs under the lock of the
//!   primitive that owns the list (the list takes no lock of its own: its
//!   methods are `unsafe`, with "the lock is held" in their contract). A
//!   record's links are read and written only under that lock.
//! - A record is in at most one list at a time, does not move while
//!   linked, and stays alive until it is taken off (by `pop_front`,
//!   `remove`, `detach_all`) and, if it went into a [`Detached`], readied.
//! - A record is linked exactly when it is its list's head or its `prev`
//!   link is non-null: a record off every list has null links, which is
//!   what lets [`WaitList::remove`] answer "not linked" in O(1) (the unwind
//!   guards of park sites rely on it).
//! - A [`Detached`] chains its records through their `next` links with a
//!   null `prev`, so they count as off every list, as they are.
//!
//! ## Orderings
//!
//! `head` is atomic because a channel's lock-free fast paths ask whether a
//! queue is empty without the lock ([`WaitList::is_empty`], an Acquire
//! load); every store of `head` is a Release store made under the lock,
//! so the fast path that sees a waiter also sees what its owner wrote
//! before queueing it (`hchan.rs` argues why that suffices). Under the
//! lock `head` is read Relaxed: the lock orders it.
//!
//! ## Readying
//!
//! A waiter taken off a list must be readied after the lock it was queued
//! under is released (never ready under that lock). [`Detached`] carries
//! the waiters from the one to the other: built under the lock
//! ([`Detached::push`], [`WaitList::detach_all`]), consumed by
//! [`Detached::ready_all`] after the unlock, which reads each record's
//! goroutine before readying it, because a readied waiter may return and
//! free its record at once.

use std::cell::Cell;
use std::marker::PhantomData;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use crate::g::GRef;
use crate::gopark::ready;

/// The two links a waiter record embeds; null while the record is off
/// every list. Written only by the list operations, under the owning
/// primitive's lock.
pub struct Links<T> {
    prev: Cell<*const T>,
    next: Cell<*const T>,
}

impl<T> Links<T> {
    /// Links of a record that is on no list.
    pub const fn new() -> Links<T> {
        Links { prev: Cell::new(ptr::null()), next: Cell::new(ptr::null()) }
    }

    fn clear(&self) {
        self.prev.set(ptr::null());
        self.next.set(ptr::null());
    }
}

impl<T> Default for Links<T> {
    fn default() -> Links<T> {
        Links::new()
    }
}

/// A record that can be linked into a [`WaitList`].
///
/// # Safety
///
/// `links` returns the same [`Links`], embedded in the record, every time
/// it is called on a record. The lists rely on it to find a record's
/// neighbours; the rest of the contract (one list at a time, no move while
/// linked, alive until taken off) is on the list's `unsafe` methods.
pub unsafe trait Linked: Sized {
    /// The record's links.
    fn links(&self) -> &Links<Self>;
}

/// A waiter record that names the goroutine (or thread) to ready, for
/// [`Detached::ready_all`].
pub trait Parked: Linked {
    /// The goroutine the record stands for.
    fn gref(&self) -> GRef;
}

/// Implements [`Linked`] for a record type whose links are the field
/// `$links`, and, given the name of a `GRef` field `$g`, [`Parked`] too:
/// `gort_runtime::engine::linked!(Waiter, links, g)`. The generated
/// `links` returns that embedded field, which is all `Linked` requires.
#[macro_export]
macro_rules! linked {
    ($ty:ty, $links:ident) => {
        // SAFETY: `links` returns the record's own embedded field, the
        // same one on every call, as the trait requires.
        unsafe impl $crate::engine::Linked for $ty {
            #[inline]
            fn links(&self) -> &$crate::engine::Links<$ty> {
                &self.$links
            }
        }
    };
    ($ty:ty, $links:ident, $g:ident) => {
        $crate::linked!($ty, $links);
        impl $crate::engine::Parked for $ty {
            #[inline]
            fn gref(&self) -> $crate::engine::GRef {
                self.$g
            }
        }
    };
}

/// Links of `p`, a linked record.
///
/// # Safety
/// `p` is non-null and points to a live record (list invariant).
unsafe fn links_of<'a, T: Linked>(p: *const T) -> &'a Links<T> {
    // SAFETY: the caller passes a live, non-null record; the reference
    // does not outlive the list operation that asked for it.
    unsafe { (*p).links() }
}

/// A FIFO of waiter records, intrusive and doubly linked (O(1) removal of
/// any record: a timed-out wait, a losing select case, an unwound park).
/// See the module docs for the locking contract.
pub struct WaitList<T: Linked> {
    /// The first record, null when empty; stored Release under the lock,
    /// loaded Acquire by [`WaitList::is_empty`] (module docs).
    head: AtomicPtr<T>,
    /// The last record, null when empty; under the lock.
    tail: Cell<*const T>,
}

impl<T: Linked> Default for WaitList<T> {
    fn default() -> WaitList<T> {
        WaitList::new()
    }
}

impl<T: Linked> WaitList<T> {
    /// An empty list.
    pub const fn new() -> WaitList<T> {
        WaitList { head: AtomicPtr::new(ptr::null_mut()), tail: Cell::new(ptr::null()) }
    }

    /// Whether the list is empty. May be called without the lock (a
    /// channel's fast paths): an Acquire load of `head`, see the module
    /// docs.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.head.load(Ordering::Acquire).is_null()
    }

    #[inline]
    fn head(&self) -> *const T {
        self.head.load(Ordering::Relaxed)
    }

    #[inline]
    fn set_head(&self, p: *const T) {
        self.head.store(p.cast_mut(), Ordering::Release);
    }

    /// The first record, left linked.
    ///
    /// # Safety
    /// The lock is held; the reference is used only while the record is
    /// known alive (it is linked, or its owner waits for the caller's
    /// ready).
    #[inline]
    pub unsafe fn front(&self) -> Option<&T> {
        // SAFETY: a linked record is alive (module invariants) and the
        // caller holds the lock.
        unsafe { self.head().as_ref() }
    }

    /// Appends `w`.
    ///
    /// # Safety
    /// The lock is held; `w` is on no list and stays alive and in place
    /// until it is taken off.
    #[inline]
    pub unsafe fn push_back(&self, w: &T) {
        let l = w.links();
        let tail = self.tail.get();
        l.prev.set(tail);
        l.next.set(ptr::null());
        if tail.is_null() {
            self.set_head(w);
        } else {
            // SAFETY: the tail is a linked record, alive; we hold the lock.
            unsafe { links_of(tail) }.next.set(w);
        }
        self.tail.set(w);
    }

    /// Puts `w` first (a woken waiter that lost a race going back to the
    /// front).
    ///
    /// # Safety
    /// As for [`WaitList::push_back`].
    #[inline]
    pub unsafe fn push_front(&self, w: &T) {
        let l = w.links();
        let head = self.head();
        l.prev.set(ptr::null());
        l.next.set(head);
        if head.is_null() {
            self.tail.set(w);
        } else {
            // SAFETY: the head is a linked record, alive; we hold the lock.
            unsafe { links_of(head) }.prev.set(w);
        }
        self.set_head(w);
    }

    /// Unlinks and returns the first record.
    ///
    /// # Safety
    /// The lock is held; the reference is used only while the record is
    /// known alive (its owner waits for the caller to ready it).
    #[inline]
    pub unsafe fn pop_front(&self) -> Option<&T> {
        let w = self.head();
        if w.is_null() {
            return None;
        }
        // SAFETY: a linked record is alive; we hold the lock.
        let w = unsafe { &*w };
        let next = w.links().next.get();
        if next.is_null() {
            self.tail.set(ptr::null());
        } else {
            // SAFETY: `next` is linked, hence alive; we hold the lock.
            unsafe { links_of(next) }.prev.set(ptr::null());
        }
        self.set_head(next);
        w.links().clear();
        Some(w)
    }

    /// Whether `w` is linked (in this list, by the contract).
    ///
    /// # Safety
    /// The lock is held; `w` is in this list or in none.
    #[inline]
    pub unsafe fn contains(&self, w: &T) -> bool {
        !w.links().prev.get().is_null() || ptr::eq(self.head(), w)
    }

    /// Unlinks `w` if it is linked; returns whether it was. Go:
    /// `dequeueSudoG`.
    ///
    /// # Safety
    /// The lock is held; `w` is in this list or in none (a [`Detached`]
    /// counts as none).
    #[inline]
    pub unsafe fn remove(&self, w: &T) -> bool {
        let l = w.links();
        let (prev, next) = (l.prev.get(), l.next.get());
        if prev.is_null() {
            if !ptr::eq(self.head(), w) {
                return false;
            }
            self.set_head(next);
        } else {
            // SAFETY: w's neighbour is linked, hence alive; lock held.
            unsafe { links_of(prev) }.next.set(next);
        }
        if next.is_null() {
            self.tail.set(prev);
        } else {
            // SAFETY: w's neighbour is linked, hence alive; lock held.
            unsafe { links_of(next) }.prev.set(prev);
        }
        l.clear();
        true
    }

    /// Moves every record of `other` to the end of this list, in order,
    /// leaving `other` empty; O(1).
    ///
    /// # Safety
    /// The lock guarding both lists is held (the semaphore table keeps
    /// several lists under one root lock).
    pub unsafe fn append(&self, other: &WaitList<T>) {
        let first = other.head();
        if first.is_null() {
            return;
        }
        let last = other.tail.get();
        other.set_head(ptr::null());
        other.tail.set(ptr::null());
        let tail = self.tail.get();
        // SAFETY: `first` was linked in `other`, hence alive; lock held.
        unsafe { links_of(first) }.prev.set(tail);
        if tail.is_null() {
            self.set_head(first);
        } else {
            // SAFETY: our tail is linked, hence alive; lock held.
            unsafe { links_of(tail) }.next.set(first);
        }
        self.tail.set(last);
    }

    /// Takes every record off the list, in order, into `out`.
    ///
    /// # Safety
    /// The lock is held, and the caller is the one party entitled to ready
    /// each record's owner (nobody else will take it off a list).
    pub unsafe fn detach_all(&self, out: &mut Detached<T>) {
        // SAFETY: the lock is held (caller); each popped record's owner
        // waits for the ready `out` will give it, so it stays alive.
        while let Some(w) = unsafe { self.pop_front() } {
            // SAFETY: just taken off this list; the caller is entitled to
            // ready it.
            unsafe { out.push(w) };
        }
    }

    /// The records, first to last. The iterator reads a record's `next`
    /// link before yielding it, so the caller may remove the record it was
    /// given (and no other) before asking for the next one.
    ///
    /// # Safety
    /// The lock is held for as long as the iterator is used.
    pub unsafe fn iter(&self) -> Iter<'_, T> {
        Iter { next: self.head(), _list: PhantomData }
    }
}

/// The iterator of [`WaitList::iter`].
pub struct Iter<'a, T: Linked> {
    next: *const T,
    _list: PhantomData<&'a WaitList<T>>,
}

impl<'a, T: Linked> Iterator for Iter<'a, T> {
    type Item = &'a T;

    fn next(&mut self) -> Option<&'a T> {
        // SAFETY: `next` is null or a record linked when it was read, and
        // still linked (the caller removes only records already yielded)
        // under the lock held while iterating (`iter`'s contract).
        let w = unsafe { self.next.as_ref() }?;
        self.next = w.links().next.get();
        Some(w)
    }
}

/// Waiters taken off a list under its lock, to ready after the lock is
/// released; ready them in the order they were taken off.
///
/// Dropping a non-empty `Detached` loses wake-ups: a debug assertion.
#[must_use = "ready the detached waiters after unlocking"]
pub struct Detached<T: Linked> {
    head: *const T,
    tail: *const T,
}

impl<T: Linked> Default for Detached<T> {
    fn default() -> Detached<T> {
        Detached::new()
    }
}

impl<T: Linked> Detached<T> {
    /// No waiters.
    pub const fn new() -> Detached<T> {
        Detached { head: ptr::null(), tail: ptr::null() }
    }

    /// Whether there is no waiter to ready.
    pub fn is_empty(&self) -> bool {
        self.head.is_null()
    }

    /// Adds `w`, just taken off a list, to ready later.
    ///
    /// # Safety
    /// The lock `w` was queued under is held and `w` is on no list; the
    /// caller is the one party entitled to ready `w`'s owner, which keeps
    /// `w` alive until then.
    pub unsafe fn push(&mut self, w: &T) {
        let l = w.links();
        l.prev.set(ptr::null());
        l.next.set(ptr::null());
        if self.tail.is_null() {
            self.head = w;
        } else {
            // SAFETY: a detached record stays alive until readied (push's
            // contract), and we run under its lock.
            unsafe { links_of(self.tail) }.next.set(w);
        }
        self.tail = w;
    }

    /// Calls `f` on each waiter, in order, reading a record's link before
    /// `f` sees it: `f` may let the record go (ready its owner).
    pub fn release(mut self, mut f: impl FnMut(&T)) {
        let mut w = std::mem::replace(&mut self.head, ptr::null());
        self.tail = ptr::null();
        // SAFETY: each record stays alive until its owner is readied
        // (push's contract); we read its link first and hand it to `f`.
        while let Some(r) = unsafe { w.as_ref() } {
            w = r.links().next.get();
            r.links().next.set(ptr::null());
            f(r);
        }
    }
}

impl<T: Parked> Detached<T> {
    /// Readies every waiter, in order. Call it after releasing the lock
    /// the waiters were queued under.
    pub fn ready_all(self) {
        self.release(|w| {
            let g = w.gref();
            // SAFETY: the pusher was the one party entitled to ready this
            // owner (push's contract), and passed that right to us; `g` was
            // read before the record may go away.
            unsafe { ready(g) };
        });
    }
}

impl<T: Linked> Drop for Detached<T> {
    fn drop(&mut self) {
        debug_assert!(
            self.head.is_null() || std::thread::panicking(),
            "a Detached dropped with waiters in it: they are never readied"
        );
    }
}

#[cfg(test)]
mod tests;
