//! [`ChanRef`]: the counted reference to a channel that every handle
//! holds. It is `Arc<HChan<T>>` with one difference: the last release
//! stops a timer channel's timer before the channel is dropped.
//!
//! Go: none (Go's channels are garbage collected); Go's timer channels
//! have the same need, met by the collector: a timer in a heap keeps its
//! channel alive.
//!
//! ## Why not `Arc`
//!
//! A timer channel's callback (`time::send_time`) runs on a scheduler
//! thread and uses the channel through a shared reference, until the
//! timer is stopped. `Arc`'s last release creates `&mut HChan` (to drop
//! it in place) before any code of ours runs, so stopping the timer in
//! `HChan::drop` would let that unique reference coexist with the
//! callback's shared one, which Rust's aliasing model (Stacked and Tree
//! Borrows) forbids even though the callback is waited out. Here the last
//! release stops the timer through a shared reference first, waiting out
//! a running callback; only then, with no other reference left anywhere,
//! is the channel dropped.
//!
//! ## Invariants and orderings (as `Arc`'s)
//!
//! - `Header::refs` counts the live `ChanRef`s of the channel; the channel
//!   is freed when it drops to zero, by the release that did so.
//! - A clone increments with `Relaxed`: it is made from a live reference,
//!   so the count cannot be zero, and nothing is published.
//! - A release decrements with `Release`; the one that reaches zero issues
//!   an `Acquire` fence, which pairs with every earlier release: every use
//!   of the channel through any reference happens before it is dropped.
//! - The timer's callback is not a reference: it is waited out by
//!   `TimerNode::stop`, whose `Acquire` wait pairs with the runtime's
//!   `Release` at the callback's end.

use std::marker::PhantomData;
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::atomic::{Ordering, fence};

use crate::hchan::HChan;

/// A counted reference to a channel (module docs).
pub(crate) struct ChanRef<T> {
    ptr: NonNull<HChan<T>>,
    /// Owns an `HChan<T>` (for the drop checker and auto traits).
    _owns: PhantomData<HChan<T>>,
}

// SAFETY: as for `Arc<HChan<T>>`: the channel is shared, and `HChan<T>` is
// Send and Sync exactly when T is Send.
unsafe impl<T: Send> Send for ChanRef<T> {}
// SAFETY: `&ChanRef<T>` gives only `&HChan<T>`, which is Sync when T is Send
// (hchan.rs), as sharing an `Arc<HChan<T>>` would.
unsafe impl<T: Send> Sync for ChanRef<T> {}

impl<T> ChanRef<T> {
    /// Moves `c` to the heap and returns its first reference.
    pub(crate) fn new(mut c: HChan<T>) -> ChanRef<T> {
        *c.hdr.refs.get_mut() = 1;
        ChanRef { ptr: NonNull::from(Box::leak(Box::new(c))), _owns: PhantomData }
    }

    /// The channel's address, stable for its life.
    pub(crate) fn as_ptr(&self) -> *const HChan<T> {
        self.ptr.as_ptr()
    }

    /// Whether both refer to the same channel.
    pub(crate) fn ptr_eq(a: &ChanRef<T>, b: &ChanRef<T>) -> bool {
        a.ptr == b.ptr
    }
}

impl<T> Deref for ChanRef<T> {
    type Target = HChan<T>;

    #[inline]
    fn deref(&self) -> &HChan<T> {
        // SAFETY: a live reference keeps the channel allocated, and the
        // channel is only ever used through shared references until the
        // last one is released.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T> Clone for ChanRef<T> {
    #[inline]
    fn clone(&self) -> ChanRef<T> {
        let old = self.hdr.refs.fetch_add(1, Ordering::Relaxed);
        // As Arc: a count this large can only come from leaked clones;
        // wrapping it would free a live channel.
        if old > isize::MAX as usize {
            std::process::abort();
        }
        ChanRef { ptr: self.ptr, _owns: PhantomData }
    }
}

impl<T> Drop for ChanRef<T> {
    #[inline]
    fn drop(&mut self) {
        if self.hdr.refs.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        fence(Ordering::Acquire);
        self.drop_slow();
    }
}

impl<T> ChanRef<T> {
    #[cold]
    #[inline(never)]
    fn drop_slow(&mut self) {
        // The last reference: first stop the timer through a shared
        // borrow, which coexists with the callback's; when `stop` returns
        // the callback is not running and will not run.
        if let Some(t) = &self.timer {
            t.node.stop();
        }
        // SAFETY: the allocation came from Box::leak in `new`; no reference
        // is left (the count is zero, the fence above orders every use
        // before this) and no timer callback runs, so we own it alone.
        drop(unsafe { Box::from_raw(self.ptr.as_ptr()) });
    }
}
