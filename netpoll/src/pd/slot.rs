//! A direction's wait slot and its accessors: the parked G or the
//! registered waker, whichever the state word says (parent module docs).

use std::cell::UnsafeCell;
use std::mem::ManuallyDrop;
use std::sync::atomic::AtomicU32;
use std::task::Waker;

use gort_runtime::engine::GRef;

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
    /// Puts a parker's G in the slot.
    ///
    /// # Safety
    /// The caller owns the slot: it moved the word into `WAIT` and has not
    /// committed.
    pub(super) unsafe fn put_g(&self, g: GRef) {
        // SAFETY: the caller owns the slot; a union write drops nothing.
        unsafe { (*self.slot.get()).g = g };
    }

    /// Puts a registrant's waker in the slot (same contract as `put_g`).
    pub(super) unsafe fn put_waker(&self, k: Waker) {
        // SAFETY: the caller owns the slot; a union write drops nothing.
        unsafe { (*self.slot.get()).k = ManuallyDrop::new(k) };
    }

    /// The G of a slot tagged `PARKED`.
    ///
    /// # Safety
    /// The caller owns the slot (it moved the word out of `PARKED`), or it
    /// put the G there itself.
    pub(super) unsafe fn g(&self) -> GRef {
        // SAFETY: the caller owns the slot, which holds a G.
        unsafe { (*self.slot.get()).g }
    }

    /// Moves the waker out of a slot tagged `WAKER`.
    ///
    /// # Safety
    /// The caller owns the slot (it moved the word out of `WAKER`), or it
    /// put the waker there itself; the waker is taken once.
    pub(super) unsafe fn take_waker(&self) -> Waker {
        // SAFETY: the caller owns the slot, which holds a waker not taken
        // yet.
        unsafe { ManuallyDrop::take(&mut (*self.slot.get()).k) }
    }
}
