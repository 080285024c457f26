//! An asymmetric pair of memory barriers: a *light* one, nearly free, for
//! the hot side of a Dekker-style handshake, and a *heavy* one for its
//! rare side. Go has no counterpart (its runtime pays full fences).
//!
//! Dekker's pattern: side A stores `x` then loads `y`; side B stores `y`
//! then loads `x`; at least one of them must see the other's store. That
//! needs a StoreLoad fence on each side (on x86 a locked instruction,
//! ~20 cycles plus draining the store buffer). When one side runs millions
//! of times a second and the other rarely, the cost can all go to the rare
//! side: `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)` makes every running
//! thread of the process execute a full fence before it returns (threads
//! not running pass one when they are switched in), so the hot side needs
//! only a compiler fence to keep its store before its load in program
//! order. This is userspace RCU's and Folly's `asymmetricHeavyBarrier`.
//!
//! Users: the P ownership word (`pstatus`: goroutine code entering the
//! runtime vs sysmon's retake) and [`crate::engine::RawLock`] (unlock vs a thread
//! going to sleep on the lock).
//!
//! ## Choosing the pair
//!
//! Without membarrier (an old kernel, a seccomp filter) both sides are
//! `fence(SeqCst)`. The choice flips from fences to membarrier at most
//! once, when the process registers; a light side that still saw the old
//! choice used a full fence, which pairs with either heavy side. The heavy
//! side registers (once, or waits for the registration under way) before
//! it reads the choice, so it never uses a fence while some light side
//! relies on membarrier. Registering takes the kernel milliseconds (it
//! waits for an RCU grace period), so a runtime's sysmon thread does it
//! when it starts, off every goroutine's path. `GORT_NO_MEMBARRIER=1`
//! keeps the fences, to test that path.
//!
//! Under `--cfg loom` both sides are `fence(SeqCst)`, which is what the
//! pair emulates; loom then checks the protocols built on it.

#[cfg(not(loom))]
use std::sync::atomic::{AtomicBool, Ordering, compiler_fence, fence};

#[cfg(not(loom))]
static MEMBARRIER: AtomicBool = AtomicBool::new(false);

/// Registers for membarrier if the kernel allows it (once per process).
#[cfg(not(loom))]
pub(crate) fn init() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| MEMBARRIER.store(crate::sys::membarrier_register(), Ordering::SeqCst));
}

/// The hot side: keeps the caller's earlier stores before its later loads.
#[cfg(not(loom))]
#[inline(always)]
pub(crate) fn light() {
    if MEMBARRIER.load(Ordering::Relaxed) {
        compiler_fence(Ordering::SeqCst);
    } else {
        fence(Ordering::SeqCst);
    }
}

/// The rare side: a full fence here and in every other running thread.
#[cfg(not(loom))]
pub(crate) fn heavy() {
    init();
    if MEMBARRIER.load(Ordering::SeqCst) {
        crate::sys::membarrier();
    } else {
        fence(Ordering::SeqCst);
    }
}

#[cfg(loom)]
pub(crate) fn init() {}

#[cfg(loom)]
pub(crate) fn light() {
    loom::sync::atomic::fence(loom::sync::atomic::Ordering::SeqCst);
}

#[cfg(loom)]
pub(crate) fn heavy() {
    loom::sync::atomic::fence(loom::sync::atomic::Ordering::SeqCst);
}
