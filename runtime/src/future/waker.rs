//! The `Waker` of a [`block_on`](super::block_on): an `Arc` around the
//! wake-up word ([`WakeState`]) and the owner's G, and the count of
//! wakers held outside gort that decides, in a synctest bubble, whether a
//! parked owner is durably blocked.
//!
//! Go: none (Go has no futures); the wake maps onto `goready`
//! (`runtime/src/park.rs`).
//!
//! ## Lifetime
//!
//! The `Signal` is reference counted: the owner's `Waker` holds one count
//! for the duration of `block_on`, and each clone one more, so a waker kept
//! after `block_on` returned (in a timer, a channel, a socket's slot, a
//! future dropped half-way) stays valid. Waking it then only sets a bit:
//! the owner's G is touched only by the one waker that finds the word
//! `PARKED`, which happens only while the owner is parked in `block_on`,
//! so the G is alive.
//!
//! ## Durable blocking in synctest bubbles
//!
//! A goroutine of a bubble is durably blocked when only its own bubble can
//! wake it (`synctest` module). What can wake a future is whoever holds a
//! clone of its waker, which gort cannot see in general. So, in a bubble
//! only, the `Signal` counts the wakers alive with the counted vtable
//! (`COUNTED`: the owner's own and every `Waker::clone`); gort's own
//! bubble-aware futures ([`Sleep`](super::Sleep), a
//! [`JoinHandle`](super::JoinHandle)) that wait on something of the same
//! bubble keep an *internal* clone instead (`INTERNAL` vtable, not
//! counted; see [`register`]). After a `Pending` poll the owner parks as
//! durably blocked only if the count is 1 (its own waker): nothing outside
//! the bubble holds a way to wake it. A count above 1 parks it as not
//! durable, and the bubble's clock then stands still until the wake comes,
//! as for a goroutine blocked on I/O.
//!
//! Orderings of the count: clones made by the future's poll run on the
//! owner's thread before the owner reads the count (program order); a
//! clone made later by a holder needs a waker that is counted already, so
//! the count never drops to 1 while an outside holder remains; a counted
//! waker is uncounted (Release) only after its last wake, so an owner that
//! reads 1 (Acquire) also sees that wake's bit and does not park on it.
//! Outside bubbles the count is never touched: a clone is one `Arc`
//! increment.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{RawWaker, RawWakerVTable, Waker};

use super::state::WakeState;
use crate::g::GRef;

/// What a future's waker points at (module docs).
pub(crate) struct Signal {
    pub(crate) state: WakeState,
    /// The owner: the goroutine, or the thread's stand-in G, that runs
    /// `block_on`. Dereferenced only by the waker that claims a park.
    owner: GRef,
    /// The id of the owner's synctest bubble, 0 for none.
    pub(crate) bubble: u64,
    /// Counted wakers alive, kept only in a bubble (module docs).
    counted: AtomicUsize,
    /// Whether the last wake that readied the owner ran in a goroutine
    /// (which put the owner in its P's `runnext`), as opposed to the
    /// poller, a timer or a plain thread. Written before that `ready`,
    /// read by the owner after it resumes (`ready` publishes it); for
    /// `block_on`'s batching (parent module docs).
    pub(crate) goroutine_wake: AtomicBool,
}

impl Signal {
    /// A signal for the calling goroutine (or thread), in its bubble.
    pub(crate) fn for_current() -> Arc<Signal> {
        Arc::new(Signal {
            state: WakeState::new(),
            owner: crate::gopark::current_g(),
            bubble: current_bubble_id(),
            counted: AtomicUsize::new(0),
            goroutine_wake: AtomicBool::new(false),
        })
    }

    /// The owner's own waker: counted, holding one reference.
    pub(crate) fn owner_waker(self: &Arc<Signal>) -> Waker {
        self.count_in();
        let data = Arc::into_raw(self.clone()).cast::<()>();
        // SAFETY: `data` is an `Arc<Signal>` reference given to the waker,
        // which COUNTED's functions manage (each takes it back exactly once
        // on wake or drop).
        unsafe { Waker::from_raw(RawWaker::new(data, &COUNTED)) }
    }

    /// Whether, after a `Pending` poll, nothing but the owner's own waker
    /// and gort's internal holders of the same bubble can wake the owner:
    /// it may then park as durably blocked in its bubble. Always false
    /// outside bubbles (where it does not matter).
    pub(crate) fn only_internal_holders(&self) -> bool {
        // Acquire: pairs with the Release uncount after a holder's last
        // wake (module docs).
        self.bubble != 0 && self.counted.load(Ordering::Acquire) == 1
    }

    /// Records a wake; readies the owner if it was parked.
    #[inline]
    pub(crate) fn wake(&self) {
        if self.state.wake() {
            self.goroutine_wake.store(crate::gopark::in_goroutine(), Ordering::Relaxed);
            // SAFETY: the word was exactly PARKED and our fetch_or turned it
            // to readied: the owner is parked in `block_on` (its park
            // callback committed the park), and no one else will ready it.
            unsafe { crate::gopark::ready(self.owner) };
        }
    }

    #[inline]
    fn count_in(&self) {
        if self.bubble != 0 {
            self.counted.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[inline]
    fn count_out(&self) {
        if self.bubble != 0 {
            // Release: after this holder's wakes (module docs).
            self.counted.fetch_sub(1, Ordering::Release);
        }
    }
}

/// The id of the caller's synctest bubble, 0 outside bubbles (one load of
/// a global when no bubble is alive).
pub(crate) fn current_bubble_id() -> u64 {
    let b = crate::synctest::current_ptr();
    if b.is_null() {
        0
    } else {
        // SAFETY: a non-null bubble is the caller's, alive while it runs.
        unsafe { &*b }.id()
    }
}

/// A clone of `waker` for a gort future that waits on something of the
/// synctest bubble `source_bubble` (0: of none) and will wake it from
/// there: an internal clone, not counted, if `waker` is a `block_on` waker
/// of that same bubble; else a plain `Waker::clone`.
pub(crate) fn register(waker: &Waker, source_bubble: u64) -> Waker {
    if source_bubble != 0
        && let Some(sig) = signal_of(waker)
        && sig.bubble == source_bubble
    {
        let data = waker.data();
        // SAFETY: `data` is a live `Arc<Signal>` (signal_of checked the
        // vtable); we take one more reference for the new waker.
        unsafe { Arc::increment_strong_count(data.cast::<Signal>()) };
        // SAFETY: as in `owner_waker`; INTERNAL's functions give the
        // reference back exactly once.
        return unsafe { Waker::from_raw(RawWaker::new(data, &INTERNAL)) };
    }
    waker.clone()
}

/// Whether two wakers wake the same thing: `will_wake`, also across the
/// counted and internal forms of one `block_on` waker.
pub(crate) fn same(stored: &Waker, new: &Waker) -> bool {
    stored.will_wake(new)
        || (signal_of(stored).is_some() && signal_of(new).is_some() && stored.data() == new.data())
}

/// The `Signal` behind a `block_on` waker, None for any other waker.
fn signal_of(w: &Waker) -> Option<&Signal> {
    let vt = w.vtable();
    if std::ptr::eq(vt, &COUNTED) || std::ptr::eq(vt, &INTERNAL) {
        // SAFETY: wakers with these vtables point at a live Arc<Signal>,
        // kept alive by `w` for the borrow.
        Some(unsafe { &*w.data().cast::<Signal>() })
    } else {
        None
    }
}

static COUNTED: RawWakerVTable = RawWakerVTable::new(clone_counted, wake_counted, wake_by_ref, drop_counted);
static INTERNAL: RawWakerVTable =
    RawWakerVTable::new(clone_counted, wake_internal, wake_by_ref, drop_internal);

/// Borrows the signal of a waker's data pointer.
///
/// # Safety
/// `p` is the data of a live COUNTED or INTERNAL waker.
unsafe fn sig<'a>(p: *const ()) -> &'a Signal {
    // SAFETY: such a pointer came from Arc::into_raw of an Arc<Signal>
    // whose reference the waker still holds.
    unsafe { &*p.cast::<Signal>() }
}

unsafe fn clone_counted(p: *const ()) -> RawWaker {
    // SAFETY: the vtable's contract: `p` belongs to a live waker.
    let s = unsafe { sig(p) };
    s.count_in();
    // SAFETY: `p` came from Arc::into_raw of a Signal that the live waker
    // keeps alive; the clone takes one more strong reference of it.
    unsafe { Arc::increment_strong_count(p.cast::<Signal>()) };
    RawWaker::new(p, &COUNTED)
}

unsafe fn wake_by_ref(p: *const ()) {
    // SAFETY: the vtable's contract: `p` belongs to a live waker.
    unsafe { sig(p) }.wake();
}

unsafe fn wake_counted(p: *const ()) {
    // SAFETY: the vtable's contract: `p` is a live waker being consumed.
    unsafe { wake_by_ref(p) };
    // SAFETY: the waker is consumed by this call, so its one counted
    // reference is ours to give back, once.
    unsafe { drop_counted(p) };
}

unsafe fn drop_counted(p: *const ()) {
    // SAFETY: the vtable's contract: `p` is a live waker being dropped.
    unsafe { sig(p) }.count_out();
    // SAFETY: the waker's one reference, given back once.
    drop(unsafe { Arc::from_raw(p.cast::<Signal>()) });
}

unsafe fn wake_internal(p: *const ()) {
    // SAFETY: the vtable's contract: `p` is a live waker being consumed.
    unsafe { wake_by_ref(p) };
    // SAFETY: the internal waker is consumed by this call: its reference
    // is ours to give back, once.
    unsafe { drop_internal(p) };
}

unsafe fn drop_internal(p: *const ()) {
    // SAFETY: the waker's one reference (not counted), given back once.
    drop(unsafe { Arc::from_raw(p.cast::<Signal>()) });
}
