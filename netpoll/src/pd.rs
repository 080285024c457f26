//! The poll descriptor: per socket and direction, who waits for readiness
//! and whether a readiness notification is pending.
//!
//! Go: runtime/netpoll.go (`pollDesc`, `pollCache`, `netpollblock`,
//! `netpollblockcommit`, `netpollunblock`).
//!
//! ## The state machine (one per direction)
//!
//! `state` is Go's `rg`/`wg`, a binary semaphore:
//! - `NIL`: nothing;
//! - `READY`: readiness arrived and nobody consumed it yet;
//! - `WAIT`: a goroutine is about to park (Go: `pdWait`);
//! - `PARKED`: a goroutine is parked; its [`GRef`] is in `g` (Go keeps
//!   the G pointer in the word itself; gort keeps it beside the word, since
//!   a `GRef` cannot be rebuilt from an integer).
//!
//! The parker moves `NIL -> WAIT`, re-checks close and deadlines, and in
//! the park callback (after it is off its stack) writes `g` and commits
//! `WAIT -> PARKED`. Whoever moves the word *out of* `PARKED` (the poller on
//! readiness, a closer, a deadline change, the deadline timer) owns the G
//! and readies it: exactly one party does. If the word left `WAIT` before
//! the commit (readiness: `READY`; close or deadline: `NIL`), the commit
//! fails and the goroutine does not park at all.
//!
//! Orderings: the commit CAS is Release after writing `g` and the
//! unblocker's CAS is AcqRel, so the unblocker reads the `g` that was
//! written. `NIL -> WAIT` is SeqCst, then the parker loads the socket's
//! closing flag and deadlines (SeqCst) and takes its deadline from them;
//! a closer or deadline setter stores the flag or deadline (SeqCst), then
//! unblocks, whose first load of the word is SeqCst too. Dekker: either
//! the parker sees the new value, or the unblocker sees `WAIT` (or
//! `PARKED`) and turns it into `NIL`, failing the commit (or waking the
//! goroutine), which then re-checks.
//!
//! A parked wait is unwind-safe: if the runtime is dropped meanwhile, the
//! guard `Unpark` takes the word out of `PARKED` (or waits out the
//! unblocker that did), so no stale G stays in the slot or in the count.
//!
//! ## Memory and stale events
//!
//! Descriptors come from their poller's cache in chunks and are never
//! freed while the poller lives: epoll may report an event for a socket
//! that was closed a moment ago. Each descriptor carries a sequence number,
//! bumped when it is freed; the epoll token holds the address and the
//! sequence (Go: `fdseq`, a tagged pointer), and the poller drops events
//! whose sequence is stale. A descriptor is only ever used with the poller
//! that owns its cache, so even a late event can only wake a goroutine of
//! that poller's runtime, spuriously, which every wait tolerates (it
//! retries the syscall).

use std::cell::UnsafeCell;
use std::pin::pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use gort_runtime::engine::TimerNode;
use gort_runtime::engine::{GRef, WaitReason};

use crate::poller::PollerInner;

pub(crate) const NIL: usize = 0;
pub(crate) const READY: usize = 1;
pub(crate) const WAIT: usize = 2;
pub(crate) const PARKED: usize = 3;

/// Bits of a token that hold the address (user-space addresses on x86-64
/// and AArch64 Linux fit in 47-48 bits); the sequence tag goes above.
const ADDR_BITS: u32 = 48;
const ADDR_MASK: usize = (1 << ADDR_BITS) - 1;
const SEQ_MASK: usize = (1 << (usize::BITS - ADDR_BITS)) - 1;

/// Descriptors per cache chunk (Go allocates 4 KiB blocks).
const CHUNK: usize = 64;

/// A direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Read = 0,
    Write = 1,
}

/// One direction's waiter word and parked goroutine.
struct Waiter {
    state: AtomicUsize,
    g: UnsafeCell<Option<GRef>>,
}

/// Go: `pollDesc`, the part the poller touches.
#[repr(align(64))]
pub(crate) struct PollDesc {
    w: [Waiter; 2],
    /// The sequence tag; bumped on free (Go: `fdseq`).
    seq: AtomicUsize,
    /// The poller owning this descriptor's cache.
    owner: *const PollerInner,
}

// SAFETY: `g` is written only by the parker before its Release commit and
// read only by the one party whose AcqRel CAS took the word out of PARKED
// (module docs); everything else is atomic or immutable.
unsafe impl Sync for PollDesc {}
// SAFETY: nothing in a descriptor is tied to a thread: atomics, GRefs
// (addresses used under the park/ready contract) and the address of the
// owning poller, which is read from any thread alike.
unsafe impl Send for PollDesc {}

impl PollDesc {
    fn new(owner: *const PollerInner) -> PollDesc {
        let waiter = || Waiter { state: AtomicUsize::new(NIL), g: UnsafeCell::new(None) };
        PollDesc { w: [waiter(), waiter()], seq: AtomicUsize::new(0), owner }
    }

    /// The epoll token: address and sequence tag.
    pub(crate) fn token(&self) -> usize {
        let addr = self as *const PollDesc as usize;
        addr | ((self.seq.load(Ordering::Relaxed) & SEQ_MASK) << ADDR_BITS)
    }

    /// The descriptor behind a token, if its tag is current.
    pub(crate) fn from_token(token: usize) -> Option<&'static PollDesc> {
        let addr = token & ADDR_MASK;
        // SAFETY: tokens are only made by `token()` from descriptors in a
        // live poller's cache, and only that poller reports them; its cache
        // memory lives as long as it does (module docs).
        let pd = unsafe { &*(addr as *const PollDesc) };
        (pd.seq.load(Ordering::Acquire) & SEQ_MASK == token >> ADDR_BITS).then_some(pd)
    }

    /// The poller this descriptor belongs to.
    pub(crate) fn owner(&self) -> &PollerInner {
        // SAFETY: a descriptor in use belongs to a socket, which keeps an
        // Arc of its owner alive until it is destroyed, also after moving
        // to another runtime (fd.rs, `Binding`).
        unsafe { &*self.owner }
    }

    /// Clears a pending readiness before the first syscall of an operation
    /// (Go: `pollReset`). Operations on one direction are serialised by the
    /// socket's fdMutex, so nobody is parked here.
    #[inline]
    pub(crate) fn reset(&self, mode: Mode) {
        let w = &self.w[mode as usize];
        if w.state.load(Ordering::Relaxed) == READY {
            w.state.store(NIL, Ordering::Relaxed);
        }
    }

    /// Waits for readiness in `mode`, parking the calling goroutine unless
    /// a notification is pending. `check` runs after `WAIT` is published:
    /// it re-checks close and deadlines and returns the deadline to wait
    /// for (nanotime, 0 for none), for which a timer unblocks the wait, or
    /// None not to park (closed or expired). Returns whether readiness was
    /// consumed (Go: `netpollblock`); false means woken by close, a
    /// deadline, or spuriously.
    ///
    /// Reading the deadline only after `WAIT` is out matters: a deadline
    /// set before that point finds no waiter to wake, so this read is what
    /// sees it.
    pub(crate) fn block(&self, mode: Mode, check: impl FnOnce() -> Option<i64>) -> bool {
        let w = &self.w[mode as usize];
        loop {
            match w.state.compare_exchange(NIL, WAIT, Ordering::SeqCst, Ordering::Acquire) {
                Ok(_) => break,
                Err(READY) => {
                    if w.state.compare_exchange(READY, NIL, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
                        return true;
                    }
                }
                Err(_) => panic!("runtime: double wait"),
            }
        }
        if let Some(deadline) = check() {
            let owner = self.owner();
            let commit = |g: GRef| {
                // SAFETY: only the parker writes `g`, before the Release
                // commit below; no unblocker reads it until that commit.
                unsafe { *w.g.get() = Some(g) };
                owner.waiters.inc(self);
                if w.state.compare_exchange(WAIT, PARKED, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                    true
                } else {
                    owner.waiters.dec(self);
                    false
                }
            };
            // The deadline timer is armed before the commit, not from the
            // park callback: once the commit publishes the G, the G may run
            // again elsewhere and drop the node. A timer that fires before
            // the commit turns WAIT into NIL, so the commit fails and the
            // goroutine does not park; the node's drop waits out a callback
            // in flight.
            if deadline == 0 {
                let guard = Unpark { pd: self, w };
                gort_runtime::engine::park_unwind_safe(WaitReason::IoWait, commit);
                std::mem::forget(guard);
            } else {
                let node =
                    pin!(TimerNode::new(on_deadline, self as *const PollDesc as usize | mode as usize));
                // A real timer even in a synctest bubble: I/O deadlines are
                // on the real clock (fd.rs converts them).
                node.as_ref().reset_in(None, deadline, 0);
                let guard = Unpark { pd: self, w };
                gort_runtime::engine::park_unwind_safe(WaitReason::IoWait, commit);
                std::mem::forget(guard);
            }
        }
        w.state.swap(NIL, Ordering::AcqRel) == READY
    }

    /// Marks `mode` ready (`ioready`, from the poller) or just wakes its
    /// waiter (close, deadline). Returns the parked goroutine, which the
    /// caller now owns: it must ready it (or hand it to the scheduler) and
    /// decrement the owner's waiter count. Go: `netpollunblock`.
    pub(crate) fn unblock(&self, mode: Mode, ioready: bool) -> Option<GRef> {
        let w = &self.w[mode as usize];
        // SeqCst, not Acquire: for close and deadlines this load is the
        // second half of the Dekker pair with the parker's `NIL -> WAIT`
        // then check (module docs); an Acquire load could miss the WAIT.
        let mut old = w.state.load(Ordering::SeqCst);
        loop {
            if old == READY || (old == NIL && !ioready) {
                return None;
            }
            let new = if ioready { READY } else { NIL };
            match w.state.compare_exchange(old, new, Ordering::SeqCst, Ordering::Acquire) {
                Ok(_) if old == PARKED => {
                    // SAFETY: our CAS took the word out of PARKED, which the
                    // parker set (Release) after writing `g`.
                    return unsafe { (*w.g.get()).take() };
                }
                Ok(_) => return None,
                Err(cur) => old = cur,
            }
        }
    }

    /// [`PollDesc::unblock`] for close and deadlines: readies the waiter.
    pub(crate) fn wake(&self, mode: Mode) {
        if let Some(g) = self.unblock(mode, false) {
            self.owner().waiters.dec(self);
            // SAFETY: unblock handed us the parked G; we are its one waker.
            unsafe { gort_runtime::engine::ready(g) };
        }
    }
}

/// The unwind guard of a parked wait (see `gort_runtime::park`'s docs): if
/// the goroutine's runtime is dropped while it waits, takes the word out
/// of `PARKED` itself, clearing the G slot and the poller's waiter count;
/// if an unblocker (readiness, close, a deadline) did that first, waits
/// out its `ready`. The socket's own drop, further up the unwinding, then
/// closes it.
struct Unpark<'a> {
    pd: &'a PollDesc,
    w: &'a Waiter,
}

impl Drop for Unpark<'_> {
    fn drop(&mut self) {
        if self.w.state.swap(NIL, Ordering::AcqRel) == PARKED {
            // SAFETY: our swap took the word out of PARKED, which the parker
            // set (Release) after writing `g`: the slot is ours.
            unsafe { (*self.w.g.get()).take() };
            self.pd.owner().waiters.dec(self.pd);
        } else {
            gort_runtime::engine::wait_for_waker();
        }
    }
}

/// The deadline timer of a parked wait: `arg` is the descriptor's address
/// with the mode in bit 0 (descriptors are 64-byte aligned).
fn on_deadline(arg: usize, _delay: i64) {
    // SAFETY: the timer runs only between its arming in `block` and the
    // drop of its node at the end of that wait, and the socket keeps the
    // descriptor bound until every operation on it has returned.
    let pd = unsafe { &*((arg & !1) as *const PollDesc) };
    let mode = if arg & 1 == 0 { Mode::Read } else { Mode::Write };
    pd.wake(mode);
}

/// A poller's descriptors (Go: `pollcache`).
pub(crate) struct PdCache {
    inner: Mutex<CacheInner>,
}

struct CacheInner {
    free: Vec<&'static PollDesc>,
    /// Boxed so that descriptor addresses never move.
    chunks: Vec<Box<[PollDesc]>>,
}

impl PdCache {
    pub(crate) fn new() -> PdCache {
        PdCache { inner: Mutex::new(CacheInner { free: Vec::new(), chunks: Vec::new() }) }
    }

    /// A descriptor with both directions in NIL. `owner` is the poller this
    /// cache belongs to.
    pub(crate) fn alloc(&self, owner: *const PollerInner) -> &'static PollDesc {
        let mut c = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if c.free.is_empty() {
            // The chunk goes to its final place first, then the references
            // are taken: moving a Box would invalidate them.
            c.chunks.push((0..CHUNK).map(|_| PollDesc::new(owner)).collect());
            let chunk: *const [PollDesc] = &**c.chunks.last().expect("just pushed");
            // SAFETY: chunks are only dropped with the cache, i.e. with the
            // poller, after every socket bound to it is gone (each holds an
            // Arc of the poller until it is destroyed).
            let chunk: &'static [PollDesc] = unsafe { &*chunk };
            for pd in chunk {
                let addr = pd as *const PollDesc as usize;
                assert!(
                    addr & !ADDR_MASK == 0,
                    "gort: poll descriptor address {addr:#x} does not fit a token"
                );
                c.free.push(pd);
            }
        }
        let pd = c.free.pop().expect("refilled above");
        for w in &pd.w {
            w.state.store(NIL, Ordering::Relaxed);
        }
        pd
    }

    /// Returns a descriptor; events still in flight for it become stale.
    /// Nothing may be parked on it.
    pub(crate) fn free(&self, pd: &'static PollDesc) {
        pd.seq.fetch_add(1, Ordering::Release);
        let mut c = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        c.free.push(pd);
    }
}
