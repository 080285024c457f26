//! A direction's wait slot and its accessors: the parked G or the
//! registered waker, whichever the state word says (parent module docs).
//!
//! The loom model `netpoll/tests/loom_pd.rs` compiles this file with
//! `--cfg loom`, with loom's cell and atomic (`loom_shim` below), so that
//! every access to the slot is checked against the state word's orderings.

#[cfg(not(all(loom, test)))]
use std::cell::UnsafeCell;
use std::mem::ManuallyDrop;
#[cfg(not(all(loom, test)))]
use std::sync::atomic::AtomicU32;
use std::task::Waker;

#[cfg(not(all(loom, test)))]
use gort_runtime::engine::GRef;
#[cfg(all(loom, test))]
use loom_shim::{AtomicU32, GRef, UnsafeCell};

/// A direction's wait slot, tagged by the state word: the parked
/// goroutine in `PARKED`, the registered waker in `WAKER`, nothing in
/// `NIL` and `READY`; in `WAIT`, what its waiter put there before its
/// commit (only that waiter knows). A union rather than an enum, so that
/// a descriptor fits one cache line (see `PollDesc`).
pub(super) union Slot {
    pub(super) none: (),
    g: GRef,
    k: ManuallyDrop<Waker>,
}

/// What an unblocker took out of the slot.
pub(crate) enum Woken {
    Nobody,
    G(GRef),
    Waker(Waker),
}

/// One direction's waiter word and wait slot, as borrowed from its
/// descriptor.
#[derive(Clone, Copy)]
pub(super) struct Waiter<'a> {
    pub(super) state: &'a AtomicU32,
    pub(super) slot: &'a UnsafeCell<Slot>,
}

impl Waiter<'_> {
    /// Runs `f` on the slot's address: one access.
    #[cfg(not(all(loom, test)))]
    #[inline(always)]
    fn with_slot<R>(&self, f: impl FnOnce(*mut Slot) -> R) -> R {
        f(self.slot.get())
    }

    /// Under loom, an access loom's cell checks: it must happen after the
    /// previous one (it checks every access as a write).
    #[cfg(all(loom, test))]
    fn with_slot<R>(&self, f: impl FnOnce(*mut Slot) -> R) -> R {
        self.slot.with_mut(f)
    }

    /// Puts a parker's G in the slot.
    ///
    /// # Safety
    /// The caller owns the slot: it moved the word into `WAIT` and has not
    /// committed.
    pub(super) unsafe fn put_g(&self, g: GRef) {
        self.with_slot(|s| {
            // SAFETY: the caller owns the slot; a union write drops nothing.
            unsafe { (*s).g = g }
        });
    }

    /// Puts a registrant's waker in the slot (same contract as `put_g`).
    pub(super) unsafe fn put_waker(&self, k: Waker) {
        self.with_slot(|s| {
            // SAFETY: the caller owns the slot; a union write drops nothing.
            unsafe { (*s).k = ManuallyDrop::new(k) }
        });
    }

    /// The G of a slot tagged `PARKED`.
    ///
    /// # Safety
    /// The caller owns the slot (it moved the word out of `PARKED`), or it
    /// put the G there itself.
    pub(super) unsafe fn g(&self) -> GRef {
        self.with_slot(|s| {
            // SAFETY: the caller owns the slot, which holds a G.
            unsafe { (*s).g }
        })
    }

    /// Moves the waker out of a slot tagged `WAKER`.
    ///
    /// # Safety
    /// The caller owns the slot (it moved the word out of `WAKER`), or it
    /// put the waker there itself; the waker is taken once.
    pub(super) unsafe fn take_waker(&self) -> Waker {
        self.with_slot(|s| {
            // SAFETY: the caller owns the slot, which holds a waker not
            // taken yet.
            unsafe { ManuallyDrop::take(&mut (*s).k) }
        })
    }
}

/// What the loom model (`netpoll/tests/loom_pd.rs`, which compiles this
/// file into its test crate with `--cfg loom`) swaps in: loom's cell and
/// atomic, and for the runtime's G reference (which only the runtime can
/// make) a handle the model gives its goroutines. The library, even built
/// with `--cfg loom`, keeps std's types and the runtime's `GRef`.
#[cfg(all(loom, test))]
pub(crate) mod loom_shim {
    pub(crate) use loom::cell::UnsafeCell;
    pub(crate) use loom::sync::atomic::AtomicU32;

    /// A model goroutine's handle.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(crate) struct GRef(pub(crate) usize);
}
