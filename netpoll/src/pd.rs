//! The poll descriptor: per socket and direction, who waits for readiness
//! and whether a readiness notification is pending.
//!
//! Go: runtime/netpoll.go (`pollDesc`, `pollCache`, `netpollblock`,
//! `netpollblockcommit`, `netpollunblock`), plus one state for Rust's
//! futures: a registered [`Waker`].
//!
//! ## The state machine (one per direction)
//!
//! `state` is Go's `rg`/`wg`, a binary semaphore, with one state more:
//! - `NIL`: nothing;
//! - `READY`: readiness arrived and nobody consumed it yet;
//! - `WAIT`: a waiter is about to park or register (Go: `pdWait`);
//! - `PARKED`: a goroutine is parked; its [`GRef`] is in the slot (Go
//!   keeps the G pointer in the word itself; gort keeps it beside the word,
//!   since a `GRef` cannot be rebuilt from an integer);
//! - `WAKER`: an async poll registered a [`Waker`], which is in the slot;
//!   the poll has returned `Pending` (gort's addition).
//!
//! The transitions are the pure functions [`begin`] (a waiter's first
//! step) and [`unblock_to`] (an unblocker's step), plus the two commits
//! `WAIT -> PARKED` and `WAIT -> WAKER`:
//!
//! | from     | waiter (parker or registrant)         | unblocker: readiness / close, deadline |
//! |----------|---------------------------------------|----------------------------------------|
//! | `NIL`    | `-> WAIT` (publish)                   | `-> READY` / stays                     |
//! | `READY`  | `-> NIL` (consume, do not wait)       | stays / stays                          |
//! | `WAIT`   | double wait: a bug                    | `-> READY` / `-> NIL` (commit fails)   |
//! | `PARKED` | double wait: a bug                    | `-> READY` / `-> NIL`, takes the G     |
//! | `WAKER`  | `-> WAIT`, takes the old waker        | `-> READY` / `-> NIL`, takes the waker |
//!
//! The waiter moves the word into `WAIT`, re-checks close and deadlines,
//! fills the slot, and commits `WAIT -> PARKED` (a parker, in the park
//! callback, after it is off its stack) or `WAIT -> WAKER` (a registrant,
//! before its poll returns `Pending`). Whoever moves the word *out of*
//! `PARKED` or `WAKER` owns the slot's content: the poller on readiness, a
//! closer, a deadline setter, a deadline timer, or a later waiter
//! replacing a waker. Exactly one party does. If the word left `WAIT`
//! before the commit (readiness: `READY`; close or deadline: `NIL`), the
//! commit fails, the waiter takes its waker back out of the slot (a G
//! needs nothing) and does not wait: it re-checks and retries its syscall.
//!
//! Waiters in one direction are serialised by the socket's fdMutex, so
//! `WAIT` and `PARKED` are only ever seen by unblockers; but a `WAKER`
//! outlives the poll that registered it (the poll returned, releasing the
//! lock), so the next waiter finds it:
//! - a new registration replaces it: if both wakers wake the same task
//!   ([`Waker::will_wake`]) the old one is kept, else the old one is
//!   dropped, not woken (tokio's rule: only the latest poll's task is
//!   woken; waking the old one would let two tasks that wait on one
//!   direction wake each other forever). If the new registration is cut
//!   short by close or an expired deadline, the old waker is woken instead,
//!   so that its task sees the error too;
//! - a parking goroutine (a blocking call) takes it out and wakes it: the
//!   task polls again, and its poll waits for the goroutine's operation to
//!   release the direction's lock, as two blocking calls do.
//!
//! Orderings: the commit CASes are AcqRel after filling the slot (Release
//! publishes it), and every other party's CAS that takes the word out of
//! `PARKED` or `WAKER` is SeqCst (Acquire included), so its new owner
//! reads the slot that was filled. `NIL -> WAIT` and `WAKER -> WAIT` are SeqCst, then the
//! waiter loads the socket's closing flag and deadlines (SeqCst) and takes
//! its deadline from them; a closer or deadline setter stores the flag or
//! deadline (SeqCst), then unblocks, whose first load of the word is SeqCst
//! too. Dekker: either the waiter sees the new value, or the unblocker sees
//! `WAIT` (or `PARKED`, `WAKER`) and turns it into `NIL`, failing the
//! commit (or waking the waiter), which then re-checks.
//!
//! A registration also pairs with the poller's drop (its runtime is
//! gone): the drop marks the poller dead (SeqCst), then takes every
//! registered waker out and wakes it; a registrant loads the mark (SeqCst)
//! after its commit and, seeing it, takes its waker back and retries, so no
//! waker stays where nobody polls. Which poller a registration uses, and
//! how an idle runtime is made to poll for it, is fd/poll.rs's part.
//!
//! A parked wait is unwind-safe: if the runtime is dropped meanwhile, the
//! guard `Unpark` takes the word out of `PARKED` (or waits out the
//! unblocker that did), so no stale G stays in the slot or in the count.
//!
//! ## Waking wakers
//!
//! Wakers are woken with no lock of the poll descriptor's held (it has
//! none; the poller wakes the wakers of a batch of events after handling
//! all of them). The waiter count of the poller (`waiters`, Go's
//! `netpollWaiters`) counts registered wakers like parked goroutines, so
//! the scheduler keeps polling while any is registered.
//!
//! A deadline of an async wait is a timer of the descriptor's own
//! (`deadlines`, one per direction, allocated on the first such wait: the
//! wait's stack is gone once the poll returns), armed by the registration
//! before its commit, as a parked wait arms its stack timer. A
//! registration that waits again for the same deadline leaves the armed
//! timer as it is. Its callback, like every timer callback, must
//! not run arbitrary code: a waker's `wake` may drop the last reference to
//! a task, whose future may own this very socket, whose destruction stops
//! this timer, which would wait for its own callback. So the callback only
//! takes the waker out of the slot and hands it to the poller
//! ([`PollerInner::defer_wake`]), which wakes it at its next poll; the
//! waiter count keeps covering the waker until then, so that poll comes.
//!
//! ## Memory and stale events
//!
//! Descriptors come from their poller's cache in chunks and are never
//! freed while the poller lives: epoll may report an event for a socket
//! that was closed a moment ago. Each descriptor carries a sequence number,
//! bumped when it is freed; the epoll token holds the address and the
//! sequence (Go: `fdseq`, a tagged pointer), and the poller drops events
//! whose sequence is stale. A descriptor is only ever used with the poller
//! that owns its cache, so even a late event can only wake a waiter of
//! that poller, spuriously, which every wait tolerates (it retries the
//! syscall). Freeing a descriptor stops its deadline timers first, so no
//! callback of the old socket's waits runs once it is reused.

use std::cell::UnsafeCell;
use std::pin::{Pin, pin};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicPtr, AtomicU32, Ordering};
use std::task::Waker;

use gort_runtime::engine::TimerNode;
use gort_runtime::engine::{GRef, WaitReason};

use crate::poller::PollerInner;

mod state;
pub(crate) use state::{Begin, NIL, PARKED, READY, WAIT, WAKER, begin, holds_waiter, unblock_to};

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

mod slot;
pub(crate) use slot::Woken;
use slot::{Slot, Waiter};

/// Go: `pollDesc`, the part the poller touches: one cache line (the
/// `repr(C)` layout and size are asserted below), as before the waker
/// state. Go keeps the deadline timers inline (`rt`, `wt`); here they are
/// allocated on the first async wait with a deadline (`deadlines`), since
/// a parked goroutine's timer lives on its stack and most descriptors never
/// need them.
#[repr(C, align(64))]
pub(crate) struct PollDesc {
    /// Per direction, the state word (Go: `rg`, `wg`).
    state: [AtomicU32; 2],
    /// The sequence tag; bumped on free (Go: `fdseq`).
    seq: AtomicU32,
    /// The poller reported hang-up, an error or urgent data for the
    /// socket: a short read no longer proves its receive queue empty
    /// (fd.rs, "Drained streams"). Sticky until the descriptor is reused.
    /// (In the padding after `seq`.)
    no_drain: AtomicBool,
    /// Per direction, the wait slot the state word tags.
    slot: [UnsafeCell<Slot>; 2],
    /// The poller owning this descriptor's cache.
    owner: *const PollerInner,
    /// The deadline timers of registered wakers, or null until the first
    /// async wait with a deadline; freed with the descriptor.
    deadlines: AtomicPtr<Deadlines>,
}

const _: () = assert!(std::mem::size_of::<PollDesc>() == 64);

/// A descriptor's deadline timers for registered wakers, per direction;
/// `armed` is the deadline each was last armed for, written by
/// registrations (under the direction's fdMutex).
struct Deadlines {
    timers: [TimerNode; 2],
    armed: [AtomicI64; 2],
}

// SAFETY: a slot is written only by its waiter before its Release commit
// and read (a waker moved out) only by the one party whose CAS took the
// word out of PARKED or WAKER, or by the waiter after a failed commit
// (module docs); `GRef` and `Waker` are Send and Sync; everything else is
// atomic or immutable.
unsafe impl Sync for PollDesc {}
// SAFETY: nothing in a descriptor is tied to a thread: atomics, GRefs
// (addresses used under the park/ready contract), Wakers (Send and
// Sync) and the address of the owning poller, read from any thread alike.
unsafe impl Send for PollDesc {}

impl PollDesc {
    fn new(owner: *const PollerInner) -> PollDesc {
        let slot = || UnsafeCell::new(Slot { none: () });
        PollDesc {
            state: [AtomicU32::new(NIL), AtomicU32::new(NIL)],
            seq: AtomicU32::new(0),
            no_drain: AtomicBool::new(false),
            slot: [slot(), slot()],
            owner,
            deadlines: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Records that the socket reported hang-up, an error or urgent data
    /// (the poller, before it readies the waiters).
    #[inline]
    pub(crate) fn set_no_drain(&self) {
        self.no_drain.store(true, Ordering::Release);
    }

    /// Whether a short read may still leave something to read (see
    /// `no_drain`).
    #[inline]
    pub(crate) fn no_drain(&self) -> bool {
        self.no_drain.load(Ordering::Acquire)
    }

    /// The waiter word and slot of `mode`.
    #[inline(always)]
    fn waiter(&self, mode: Mode) -> Waiter<'_> {
        Waiter { state: &self.state[mode as usize], slot: &self.slot[mode as usize] }
    }

    /// The epoll token: address and sequence tag.
    pub(crate) fn token(&self) -> usize {
        let addr = self as *const PollDesc as usize;
        addr | ((self.seq.load(Ordering::Relaxed) as usize & SEQ_MASK) << ADDR_BITS)
    }

    /// The descriptor behind a token, if its tag is current.
    pub(crate) fn from_token(token: usize) -> Option<&'static PollDesc> {
        let addr = token & ADDR_MASK;
        // SAFETY: tokens are only made by `token()` from descriptors in a
        // live poller's cache, and only that poller reports them; its cache
        // memory lives as long as it does (module docs).
        let pd = unsafe { &*(addr as *const PollDesc) };
        (pd.seq.load(Ordering::Acquire) as usize & SEQ_MASK == token >> ADDR_BITS).then_some(pd)
    }

    /// The poller this descriptor belongs to.
    pub(crate) fn owner(&self) -> &PollerInner {
        // SAFETY: a descriptor in use belongs to a socket, which keeps an
        // Arc of its owner alive until it is destroyed, also after moving
        // to another runtime (fd.rs, `Binding`).
        unsafe { &*self.owner }
    }

    /// The timer argument naming this descriptor and `mode`: the address
    /// with the mode in bit 0 (descriptors are 64-byte aligned).
    fn timer_arg(&self, mode: Mode) -> usize {
        self as *const PollDesc as usize | mode as usize
    }

    /// Clears a pending readiness before the first syscall of an operation
    /// (Go: `pollReset`). Operations on one direction are serialised by the
    /// socket's fdMutex, so nobody waits here but perhaps a registered
    /// waker, which leaves the word in `WAKER`; only the lock holder moves
    /// the word out of `READY`.
    #[inline]
    pub(crate) fn reset(&self, mode: Mode) {
        let w = self.waiter(mode);
        // Acquire: a readiness consumed here carries the poller's
        // `no_drain` mark of the same event to the next read.
        if w.state.load(Ordering::Acquire) == READY {
            w.state.store(NIL, Ordering::Relaxed);
        }
    }

    /// Whether a registered waker waits in `mode` (the word is `WAKER`):
    /// nothing has woken it since it registered.
    #[inline]
    pub(crate) fn has_waker(&self, mode: Mode) -> bool {
        self.waiter(mode).state.load(Ordering::Acquire) == WAKER
    }

    /// A waiter's first step: publishes `WAIT` and returns the waker it
    /// replaced, if any; None if it consumed a pending notification
    /// instead.
    #[inline]
    fn start(&self, w: Waiter<'_>) -> Option<Option<Waker>> {
        let mut old = NIL;
        loop {
            let step = begin(old);
            let Some(new) = step.to() else { panic!("runtime: double wait") };
            // SeqCst: the first half of the Dekker pair with closers and
            // deadline setters (module docs); Acquire for `Replace`, which
            // reads the slot the registrant published.
            match w.state.compare_exchange(old, new, Ordering::SeqCst, Ordering::Acquire) {
                Ok(_) => {
                    return match step {
                        Begin::Consume => None,
                        Begin::Replace => {
                            // SAFETY: our CAS took the word out of WAKER, which
                            // the registrant set (Release) after filling it.
                            let k = unsafe { w.take_waker() };
                            self.owner().waiters.dec(self);
                            Some(Some(k))
                        }
                        _ => Some(None),
                    };
                }
                Err(cur) => old = cur,
            }
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
        let w = self.waiter(mode);
        let replaced = match self.start(w) {
            None => return true,
            Some(r) => r,
        };
        if let Some(k) = replaced {
            // A waker of an async poll that has returned: its task polls
            // again, and waits for our lock (module docs).
            k.wake();
        }
        if let Some(deadline) = check() {
            let owner = self.owner();
            let commit = |g: GRef| {
                // SAFETY: we moved the word into WAIT and have not
                // committed: the slot is ours.
                unsafe { w.put_g(g) };
                owner.waiters.inc(self);
                if w.state.compare_exchange(WAIT, PARKED, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                    true
                } else {
                    // The commit failed: the G stays ours (nothing to take
                    // back out of the slot).
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
                let node = pin!(TimerNode::new(on_deadline, self.timer_arg(mode)));
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

    /// Registers `waker` to be woken when `mode` may be ready (the async
    /// wait: the caller's poll then returns `Pending`). `check` is as for
    /// [`PollDesc::block`]; a deadline it returns arms this descriptor's
    /// timer for `mode`. Returns whether the waker is registered; false
    /// means a notification was pending or the wait was cut short (close,
    /// a deadline, readiness during the registration): the caller re-checks
    /// and retries its syscall.
    ///
    /// A waker already registered is replaced (module docs). If the
    /// poller's runtime died meanwhile, the registration is taken back
    /// (false), so the caller rebinds the socket: a dead poller is never
    /// polled.
    pub(crate) fn register(
        &'static self,
        mode: Mode,
        waker: &Waker,
        check: impl FnOnce() -> Option<i64>,
    ) -> bool {
        let w = self.waiter(mode);
        let replaced = match self.start(w) {
            None => return false,
            Some(r) => r,
        };
        let Some(deadline) = check() else {
            w.state.swap(NIL, Ordering::AcqRel);
            // The old waker's task must see the close or the deadline too,
            // unless it is the caller's, which gets the error now.
            if let Some(k) = replaced.filter(|k| !k.will_wake(waker)) {
                k.wake();
            }
            return false;
        };
        if deadline != 0 {
            self.arm(mode, deadline);
        }
        let k = match replaced {
            Some(old) if old.will_wake(waker) => old,
            _ => waker.clone(), // an old waker of another task is dropped
        };
        let owner = self.owner();
        // SAFETY: we moved the word into WAIT and have not committed.
        unsafe { w.put_waker(k) };
        owner.waiters.inc(self);
        if w.state.compare_exchange(WAIT, WAKER, Ordering::AcqRel, Ordering::Acquire).is_err() {
            // SAFETY: the commit failed, so nobody took the waker we put.
            drop(unsafe { w.take_waker() });
            owner.waiters.dec(self);
            w.state.swap(NIL, Ordering::AcqRel);
            return false;
        }
        // Dekker with the poller's drop, which marks it dead (SeqCst) and
        // then takes every registered waker out: either it saw ours, or
        // we see it dead and take ours back.
        if owner.is_dead_seqcst()
            && let Some(k) = self.take_waker(mode)
        {
            drop(k);
            return false;
        }
        true
    }

    /// Arms the deadline timer of `mode` for a registration, unless it is
    /// armed for that deadline already (a poll that registers again while
    /// still waiting). If the timer fires meanwhile, it finds the word in
    /// `WAIT` (the commit fails) or the new waker (woken): either way the
    /// waiter re-checks and sees the deadline.
    fn arm(&'static self, mode: Mode, deadline: i64) {
        let i = mode as usize;
        let d = self.deadlines();
        let node = Pin::static_ref(&d.timers[i]);
        if d.armed[i].load(Ordering::Relaxed) == deadline && node.is_armed() {
            return;
        }
        d.armed[i].store(deadline, Ordering::Relaxed);
        // The real clock, as for a parked wait.
        node.reset_in(None, deadline, 0);
    }

    /// The deadline timers, allocated on first use.
    fn deadlines(&'static self) -> &'static Deadlines {
        let p = self.deadlines.load(Ordering::Acquire);
        if !p.is_null() {
            // SAFETY: a published box lives until the descriptor's drop,
            // i.e. the poller's cache's (the 'static of `self`).
            return unsafe { &*p };
        }
        let timer = |mode| TimerNode::new(on_deadline, self.timer_arg(mode));
        let new = Box::into_raw(Box::new(Deadlines {
            timers: [timer(Mode::Read), timer(Mode::Write)],
            armed: [AtomicI64::new(0), AtomicI64::new(0)],
        }));
        match self.deadlines.compare_exchange(ptr::null_mut(), new, Ordering::AcqRel, Ordering::Acquire) {
            // SAFETY: we published it; it lives as said above.
            Ok(_) => unsafe { &*new },
            Err(cur) => {
                // SAFETY: ours lost the race and was never shared.
                drop(unsafe { Box::from_raw(new) });
                // SAFETY: the winner published its box, which lives until
                // the descriptor's drop, as ours would have.
                unsafe { &*cur }
            }
        }
    }

    /// Stops the deadline timers (waiting out a callback in flight), for
    /// a descriptor being freed.
    pub(crate) fn stop_timers(&self) {
        let p = self.deadlines.load(Ordering::Acquire);
        if !p.is_null() {
            // SAFETY: a published box lives until the descriptor's drop.
            for t in &unsafe { &*p }.timers {
                t.stop();
            }
        }
    }

    /// Takes a registered waker out (`WAKER -> NIL`), leaving a parked
    /// goroutine alone: for a poller going away.
    pub(crate) fn take_waker(&self, mode: Mode) -> Option<Waker> {
        let w = self.waiter(mode);
        if w.state.compare_exchange(WAKER, NIL, Ordering::SeqCst, Ordering::Acquire).is_err() {
            return None;
        }
        self.owner().waiters.dec(self);
        // SAFETY: our CAS took the word out of WAKER.
        Some(unsafe { w.take_waker() })
    }

    /// Marks `mode` ready (`ioready`, from the poller) or just wakes its
    /// waiter (close, deadline). Returns what was in the slot, which the
    /// caller now owns: it must ready the G (or hand it to the scheduler)
    /// or wake the waker, and decrement the owner's waiter count. Go:
    /// `netpollunblock`.
    #[inline]
    pub(crate) fn unblock(&self, mode: Mode, ioready: bool) -> Woken {
        let w = self.waiter(mode);
        // SeqCst, not Acquire: for close and deadlines this load is the
        // second half of the Dekker pair with the waiter's `-> WAIT` then
        // check (module docs); an Acquire load could miss the WAIT.
        let mut old = w.state.load(Ordering::SeqCst);
        loop {
            let Some(new) = unblock_to(old, ioready) else { return Woken::Nobody };
            match w.state.compare_exchange(old, new, Ordering::SeqCst, Ordering::Acquire) {
                Ok(_) if holds_waiter(old) => {
                    if old == PARKED {
                        // SAFETY: our CAS took the word out of PARKED, which
                        // the parker set (Release) after filling the slot.
                        let g = unsafe { w.g() };
                        return Woken::G(g);
                    }
                    // SAFETY: our CAS took the word out of WAKER, which the
                    // registrant set (Release) after filling the slot.
                    let k = unsafe { w.take_waker() };
                    return Woken::Waker(k);
                }
                Ok(_) => return Woken::Nobody,
                Err(cur) => old = cur,
            }
        }
    }

    /// [`PollDesc::unblock`] for close and deadline changes: readies the
    /// parked goroutine or wakes the registered waker. Not for timer
    /// callbacks (see `on_deadline`).
    pub(crate) fn wake(&self, mode: Mode) {
        match self.unblock(mode, false) {
            Woken::Nobody => {}
            Woken::G(g) => {
                self.owner().waiters.dec(self);
                // SAFETY: unblock handed us the parked G; we are its one waker.
                unsafe { gort_runtime::engine::ready(g) };
            }
            Woken::Waker(k) => {
                self.owner().waiters.dec(self);
                k.wake();
            }
        }
    }
}

/// The unwind guard of a parked wait (see `gort_runtime::engine::park`'s docs): if
/// the goroutine's runtime is dropped while it waits, takes the word out
/// of `PARKED` itself, clearing the G slot and the poller's waiter count;
/// if an unblocker (readiness, close, a deadline) did that first, waits
/// out its `ready`. The socket's own drop, further up the unwinding, then
/// closes it.
struct Unpark<'a> {
    pd: &'a PollDesc,
    w: Waiter<'a>,
}

impl Drop for Unpark<'_> {
    fn drop(&mut self) {
        if self.w.state.swap(NIL, Ordering::AcqRel) == PARKED {
            // Our swap took the word out of PARKED: the slot (our own G)
            // is ours again; nothing to free.
            self.pd.owner().waiters.dec(self.pd);
        } else {
            gort_runtime::engine::wait_for_waker();
        }
    }
}

impl Drop for PollDesc {
    fn drop(&mut self) {
        let p = *self.deadlines.get_mut();
        if !p.is_null() {
            // SAFETY: the box was made by `deadlines` and is ours alone
            // now; dropping its timers stops them.
            drop(unsafe { Box::from_raw(p) });
        }
    }
}

/// The deadline timer of a wait, parked (on the goroutine's stack) or
/// registered (the descriptor's own): `arg` is the descriptor's address
/// with the mode in bit 0. A parked G is readied here; a waker goes to
/// the poller, which wakes it (module docs: no user code in a timer
/// callback).
fn on_deadline(arg: usize, _delay: i64) {
    // SAFETY: a stack timer runs only between its arming in `block` and
    // the drop of its node at the end of that wait; a descriptor's own
    // timer is stopped before the descriptor is freed (PdCache::free). The
    // socket keeps the descriptor bound until then.
    let pd = unsafe { &*((arg & !1) as *const PollDesc) };
    let mode = if arg & 1 == 0 { Mode::Read } else { Mode::Write };
    match pd.unblock(mode, false) {
        Woken::Nobody => {}
        Woken::G(g) => {
            pd.owner().waiters.dec(pd);
            // SAFETY: unblock handed us the parked G; we are its one waker.
            unsafe { gort_runtime::engine::ready(g) };
        }
        // Still counted in the waiters until the poller wakes it.
        Woken::Waker(k) => pd.owner().defer_wake(pd, k),
    }
}

mod cache;
pub(crate) use cache::PdCache;
