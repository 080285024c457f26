//! The channel itself: Go's `hchan`, a lock, a ring buffer and two wait
//! queues, with direct hand-off between a sender and a parked receiver.
//!
//! Go: runtime/chan.go (`hchan`, `makechan`, `chansend`, `chanrecv`,
//! `send`, `recv`, `closechan`, `full`, `empty`).
//!
//! ## Invariants (under `lock`)
//!
//! - `qcount` values sit in `buf[recvx..]` (wrapping), `sendx` is the next
//!   free slot; a slot outside that range is uninitialised.
//! - A queued waiter is *completable* if it is a plain send or receive, or
//!   a select case whose goroutine's select race nobody has won yet. A
//!   losing select case (another case of its select completed) may linger
//!   in a queue until its goroutine relocks the channel and unlinks it;
//!   `dequeue` skips and unlinks such waiters. The invariants speak of
//!   completable waiters only:
//!   - at most one of `sendq`/`recvq` holds completable waiters, unless
//!     they are all cases of one select on both directions of the channel;
//!   - for a buffered channel, `qcount > 0` implies no completable
//!     receiver, and a completable sender implies `qcount == cap` (an
//!     operation queues only when it cannot proceed, and every transfer
//!     serves a completable counterpart before the buffer).
//! - Once `closed` is set it stays set, and both queues are empty: close
//!   unlinks every waiter and wakes the completable ones, and nothing
//!   queues on a closed channel. Buffered values survive close and are
//!   received first.
//! - Values move, never clone: a transfer is a bitwise move from the
//!   sender's slot (on its stack, or in the buffer) to the receiver's slot,
//!   after which the source is treated as moved-from. Each value is
//!   dropped exactly once: by whoever received it, by the sender that got
//!   it back (closed, timed out, or a non-blocking send that failed), or by
//!   the channel's `Drop` if it is still buffered.
//! - `bubble` is set when the channel is made and never changes: a channel
//!   made in a synctest bubble belongs to it (Go: `hchan.bubble`). Every
//!   send, receive, select and close checks it first (one branch for a
//!   channel of no bubble) and panics when the caller is not in that
//!   bubble; a wait on a bubble's channel parks with a durable reason.
//! - Never ready a goroutine while holding `lock` (its waker may need the
//!   lock, and the runtime forbids it): operations return the goroutine to
//!   ready and the caller readies it after unlocking.
//!
//! ## Lock-free fast paths and their orderings
//!
//! Like Go, a non-blocking operation that would fail does not take the
//! lock. `closed`, `qcount` and the queues' heads (the runtime's
//! `WaitList::is_empty`, `waitlist.rs`) are atomics,
//! written only under the lock with Release and read with Acquire:
//!
//! - non-blocking send: observe `!closed`, then `full()`. A channel cannot
//!   go from "ready to send" to "not ready" by being closed, so there was a
//!   moment between the two reads when it was open and full.
//! - non-blocking receive: observe `empty()`, then `!closed` (Acquire keeps
//!   the second read after the first). If it was closed, look at `empty()`
//!   again: a value sent before the close is visible, because `closed` was
//!   stored (Release) after that send's critical section, and our Acquire
//!   load of it orders the second `empty()` after.
//!
//! `channels/tests/loom_hchan.rs` model-checks the receive's fast path
//! against a racing close with this file compiled on loom's atomics (the
//! `loom_shim` below): reading `closed` first, or with Relaxed, fails it.
//! It keeps a copy of the fast path of `ops.rs`, and a test there fails
//! when `ops.rs` no longer reads what the copy reads: change them together.

use std::cell::{Cell, UnsafeCell};
use std::mem::MaybeUninit;
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
#[cfg(not(all(loom, test)))]
use std::sync::atomic::{AtomicBool, AtomicUsize};

#[cfg(not(all(loom, test)))]
use gort_runtime::engine::RawLock;
use gort_runtime::engine::{Bubble, Detached, GRef, TimerNode, ready};
#[cfg(all(loom, test))]
use loom_shim::{AtomicBool, AtomicUsize, RawLock};

use crate::waitq::{CLOSED, DONE, WaitQ};

/// The outcome of one attempt made under the channel lock.
pub(crate) enum Attempt {
    /// The operation happened; ready this goroutine (a parked counterpart)
    /// once the lock is released.
    Done(Option<GRef>),
    /// The channel is closed (and, for a receive, drained).
    Closed,
    /// It would block.
    Block,
}

/// The type-independent part of a channel: everything select needs to
/// lock, queue and order channels without knowing the element type.
///
/// Fields by what protects them (module docs: "Invariants" and "Lock-free
/// fast paths").
pub struct Header {
    /// The channel's lock (Go: `hchan.lock`): guards every field below
    /// marked "under `lock`". A park callback releases it (the waiter is
    /// queued under it), and no goroutine is readied while it is held.
    pub(crate) lock: RawLock,
    // -- not under `lock` --
    /// Live [`ChanRef`](crate::chanref::ChanRef)s of the channel (see
    /// `chanref.rs`): every handle clone and drop, with its own orderings.
    pub(crate) refs: AtomicUsize,
    // -- under `lock`, with lock-free readers --
    /// Set once, by `close` under `lock` (Release); read with Acquire by
    /// the lock-free fast paths (Go: `closed`).
    pub(crate) closed: AtomicBool,
    // -- set before the channel is shared, then immutable --
    /// The timer of a timer channel (after/tick/Timer/Ticker), null for
    /// any other channel. Set before the channel is shared and never
    /// changed; it points into `HChan::timer`, which lives as long as the
    /// channel. A timer channel's `len` and `cap` report 0, and receives
    /// and selects run its due timer first (`run_timer_if_due`).
    timer: *const TimerNode,
    /// The capacity. Go: `dataqsiz`.
    pub(crate) dataqsiz: usize,
    // -- the buffer's indices, under `lock` --
    /// Values in the buffer (Go: `qcount`): written under `lock`
    /// (Release), read by the fast paths and `len` without it (Acquire).
    pub(crate) qcount: AtomicUsize,
    /// The next free slot and the next value to receive (Go: `sendx`,
    /// `recvx`); only under `lock`.
    sendx: Cell<usize>,
    recvx: Cell<usize>,
    // -- the wait queues, under `lock` (their heads have lock-free readers) --
    /// Parked receivers (Go: `recvq`).
    pub(crate) recvq: WaitQ,
    /// Parked senders (Go: `sendq`).
    pub(crate) sendq: WaitQ,
    /// The synctest bubble the channel was made in, if any (Go:
    /// `hchan.bubble`): only that bubble's goroutines may use it, and
    /// their waits on it are durable. Set before the channel is shared.
    pub(crate) bubble: Membership,
}

/// Which synctest bubble a channel belongs to.
pub(crate) enum Membership {
    /// None: anyone may use it; waiting on it is not durable.
    Outside,
    /// The bubble it was made in.
    Bubble(Arc<Bubble>),
    /// None, and nothing can ever make it ready (the done channel of a
    /// context that is never cancelled, Go's nil channel there): waiting
    /// on it is durable in any bubble, as on a nil channel.
    Never,
}

/// A channel of `T`. `#[repr(C)]` keeps `hdr` at offset 0, so a `&Header`
/// of an `HChan<T>` can be cast back by code that knows `T`.
#[repr(C)]
pub struct HChan<T> {
    pub(crate) hdr: Header,
    buf: Box<[UnsafeCell<MaybeUninit<T>>]>,
    /// The timer of a timer channel (see `time.rs`); the last `ChanRef`
    /// stops it before the channel is dropped (see `chanref.rs`).
    pub(crate) timer: Option<std::pin::Pin<Box<crate::time::ChanTimer>>>,
}

// SAFETY: every Cell and the buffer are touched only under `hdr.lock`
// (module docs); values of T move between threads, hence T: Send.
unsafe impl<T: Send> Send for HChan<T> {}
// SAFETY: through `&HChan<T>` the Cells and the buffer are reached only under
// `hdr.lock`, and values of T are only moved in and out, never shared, so T:
// Send suffices.
unsafe impl<T: Send> Sync for HChan<T> {}

impl<T> HChan<T> {
    /// Go: `makechan`. A capacity whose buffer would not fit in memory
    /// panics with Go's message. An element of 64 KiB or more is rejected
    /// at compile time, as Go rejects it at run time: operations keep a
    /// value slot on the goroutine's stack, so such an element would
    /// overflow it (box it instead).
    #[track_caller]
    pub(crate) fn new(cap: usize) -> HChan<T> {
        let bubble = match gort_runtime::engine::current_bubble() {
            Some(b) => Membership::Bubble(b),
            None => Membership::Outside,
        };
        HChan::new_in(cap, bubble)
    }

    /// [`HChan::new`] with the given bubble membership, whoever makes it.
    #[track_caller]
    pub(crate) fn new_in(cap: usize, bubble: Membership) -> HChan<T> {
        const {
            assert!(
                std::mem::size_of::<T>() < 1 << 16,
                "makechan: invalid channel element type: values of 64 KiB or more do not fit on a goroutine's stack; send a Box instead"
            )
        };
        let bytes = std::mem::size_of::<T>().checked_mul(cap);
        if bytes.is_none_or(|b| b > isize::MAX as usize) {
            panic!("makechan: size out of range");
        }
        HChan {
            hdr: Header {
                lock: RawLock::new(),
                refs: AtomicUsize::new(0),
                closed: AtomicBool::new(false),
                timer: ptr::null(),
                dataqsiz: cap,
                qcount: AtomicUsize::new(0),
                sendx: Cell::new(0),
                recvx: Cell::new(0),
                recvq: WaitQ::new(),
                sendq: WaitQ::new(),
                bubble,
            },
            // Allocated, not written: O(1) whatever the capacity.
            // SAFETY: `UnsafeCell<MaybeUninit<T>>` has no validity
            // invariant, so uninitialised memory is a valid value of it.
            buf: unsafe { Box::new_uninit_slice(cap).assume_init() },
            timer: None,
        }
    }

    /// Go: `full`. Readable without the lock (module docs).
    #[inline]
    pub(crate) fn full(&self) -> bool {
        if self.hdr.dataqsiz == 0 {
            self.hdr.recvq.is_empty()
        } else {
            self.hdr.qcount.load(Ordering::Acquire) == self.hdr.dataqsiz
        }
    }

    /// Go: `empty`. Readable without the lock (module docs).
    #[inline]
    pub(crate) fn empty(&self) -> bool {
        if self.hdr.dataqsiz == 0 {
            self.hdr.sendq.is_empty()
        } else {
            self.hdr.qcount.load(Ordering::Acquire) == 0
        }
    }

    #[inline]
    fn slot(&self, i: usize) -> *mut T {
        self.buf[i].get().cast()
    }

    /// Tries to send the value at `src` (Go: the locked middle of
    /// `chansend`, plus `send`). On `Done` the value has been moved out of
    /// `src`; otherwise `src` still owns it.
    ///
    /// # Safety
    /// The lock is held and `src` points at a valid `T` the caller owns.
    #[inline]
    pub(crate) unsafe fn send_locked(&self, src: *mut T) -> Attempt {
        let h = &self.hdr;
        if h.closed.load(Ordering::Relaxed) {
            return Attempt::Closed;
        }
        // SAFETY: we hold the lock.
        if let Some(w) = unsafe { h.recvq.dequeue() } {
            // Direct hand-off into the parked receiver's slot (Go:
            // sendDirect); with a buffered channel the buffer is empty here.
            // SAFETY: a receiver's elem is a `MaybeUninit<T>` on its stack,
            // valid until we ready it; src is a valid T we move out of.
            unsafe { ptr::copy_nonoverlapping(src, w.elem.get().cast::<T>(), 1) };
            w.state.set(DONE);
            return Attempt::Done(Some(w.gref()));
        }
        let q = h.qcount.load(Ordering::Relaxed);
        if q < h.dataqsiz {
            let i = h.sendx.get();
            // SAFETY: slot i is free (outside the filled range); src is a
            // valid T we move out of.
            unsafe { ptr::copy_nonoverlapping(src, self.slot(i), 1) };
            h.sendx.set(if i + 1 == h.dataqsiz { 0 } else { i + 1 });
            h.qcount.store(q + 1, Ordering::Release);
            return Attempt::Done(None);
        }
        Attempt::Block
    }

    /// Tries to receive into `dst` (Go: the locked middle of `chanrecv`,
    /// plus `recv`). On `Done` a value has been written to `dst`.
    ///
    /// # Safety
    /// The lock is held and `dst` is valid for writing a `T`.
    #[inline]
    pub(crate) unsafe fn recv_locked(&self, dst: *mut T) -> Attempt {
        let h = &self.hdr;
        let q = h.qcount.load(Ordering::Relaxed);
        // A closed channel has no parked senders (close woke them all); its
        // buffered values are still received.
        let closed = h.closed.load(Ordering::Relaxed);
        if closed && q == 0 {
            return Attempt::Closed;
        }
        // SAFETY: we hold the lock.
        let sender = if closed { None } else { unsafe { h.sendq.dequeue() } };
        if let Some(w) = sender {
            let src = w.elem.get().cast::<T>();
            if h.dataqsiz == 0 {
                // SAFETY: a sender's elem is its value, valid until we ready
                // it; it treats the value as moved once state is DONE.
                unsafe { ptr::copy_nonoverlapping(src, dst, 1) };
            } else {
                // The buffer is full (a completable sender implies it, see
                // the module docs): take its head, and put the sender's
                // value in the same slot, which becomes the tail (FIFO).
                debug_assert_eq!(q, h.dataqsiz, "a parked sender on a buffer with room");
                let i = h.recvx.get();
                // SAFETY: slot i holds the oldest value (the buffer is
                // full); src is the parked sender's value, as above.
                unsafe {
                    ptr::copy_nonoverlapping(self.slot(i), dst, 1);
                    ptr::copy_nonoverlapping(src, self.slot(i), 1);
                }
                let next = if i + 1 == h.dataqsiz { 0 } else { i + 1 };
                h.recvx.set(next);
                h.sendx.set(next);
            }
            w.state.set(DONE);
            return Attempt::Done(Some(w.gref()));
        }
        if q > 0 {
            let i = h.recvx.get();
            // SAFETY: slot i holds the oldest value (q > 0); we move it out.
            unsafe { ptr::copy_nonoverlapping(self.slot(i), dst, 1) };
            h.recvx.set(if i + 1 == h.dataqsiz { 0 } else { i + 1 });
            h.qcount.store(q - 1, Ordering::Release);
            return Attempt::Done(None);
        }
        Attempt::Block
    }

    /// Removes and drops the oldest buffered value, if any (Go:
    /// `timerchandrain`). Returns whether there was one. A sender parked on
    /// the full buffer moves its value in, as for any receive, and is
    /// readied.
    pub(crate) fn drain_one(&self) -> bool {
        self.hdr.lock.lock();
        if self.hdr.qcount.load(Ordering::Relaxed) == 0 {
            // SAFETY: we hold the lock.
            unsafe { self.hdr.lock.unlock() };
            return false;
        }
        let mut v = MaybeUninit::<T>::uninit();
        // SAFETY: we hold the lock; v is writable.
        let r = unsafe { self.recv_locked(v.as_mut_ptr()) };
        // SAFETY: we hold the lock.
        unsafe { self.hdr.lock.unlock() };
        let Attempt::Done(g) = r else {
            unreachable!("a buffered value is always receivable");
        };
        if let Some(g) = g {
            // SAFETY: recv_locked dequeued g's waiter under the lock.
            unsafe { ready(g) };
        }
        // SAFETY: Done wrote a value into v. It is dropped after the
        // unlock: a destructor is user code.
        unsafe { v.assume_init_drop() };
        true
    }
}

impl Header {
    /// Before an operation on the channel: panics with Go's message
    /// (`send on synctest channel from outside bubble`; `what` is `send`,
    /// `receive`, `select` or `close of`) if the channel belongs to a
    /// synctest bubble the caller is not in. Returns which of `reasons`
    /// (plain, durable, never) a wait on it parks with: durable for a
    /// channel of the caller's bubble. A channel of no bubble pays one
    /// well-predicted branch.
    #[inline(always)]
    pub(crate) fn check_bubble<R: Copy>(&self, what: &'static str, reasons: [R; 3]) -> R {
        match &self.bubble {
            Membership::Outside => reasons[0],
            _ => self.check_bubble_slow(what, reasons),
        }
    }

    #[cold]
    #[inline(never)]
    fn check_bubble_slow<R: Copy>(&self, what: &'static str, reasons: [R; 3]) -> R {
        match &self.bubble {
            Membership::Outside => reasons[0],
            Membership::Bubble(b) => {
                if !b.is_current() {
                    outside_bubble(what);
                }
                reasons[1]
            }
            Membership::Never => reasons[2],
        }
    }

    /// The bubble the channel belongs to, whose clock its timer uses.
    pub(crate) fn bubble(&self) -> Option<&Bubble> {
        match &self.bubble {
            Membership::Bubble(b) => Some(b),
            _ => None,
        }
    }

    /// Whether this is a timer channel.
    #[inline]
    pub(crate) fn is_timer(&self) -> bool {
        !self.timer.is_null()
    }

    /// Makes this a timer channel whose timer is `node`.
    ///
    /// # Safety
    /// The channel is not shared yet, and `node` lives, unmoved, as long as
    /// the channel (it is the node in the channel's own `timer`).
    pub(crate) unsafe fn set_timer(&mut self, node: *const TimerNode) {
        self.timer = node;
    }

    /// Before a receive or a select looks at a timer channel: if its timer
    /// is due, fire it now so its value is in the buffer (Go:
    /// `maybeRunChan`, called from `chanrecv` and `selectgo`). An ordinary
    /// channel pays one well-predicted branch. The caller must not hold
    /// this channel's lock (the timer's callback takes it).
    #[inline(always)]
    pub(crate) fn run_timer_if_due(&self) {
        if !self.timer.is_null() {
            self.run_timer_if_due_slow();
        }
    }

    #[cold]
    #[inline(never)]
    fn run_timer_if_due_slow(&self) {
        // SAFETY: a non-null `timer` is the channel's own node, alive as
        // long as the channel (see the field), which the caller's handle
        // keeps alive.
        unsafe { &*self.timer }.run_if_due();
    }

    /// Go: `closechan` (after the nil check). Returns false if the channel
    /// was already closed. Wakes every parked receiver (with no value) and
    /// sender (keeping its value), readying them after unlocking.
    pub(crate) fn close(&self) -> bool {
        self.check_bubble("close of", [(); 3]);
        self.lock.lock();
        if self.closed.load(Ordering::Relaxed) {
            // SAFETY: we hold the lock.
            unsafe { self.lock.unlock() };
            return false;
        }
        self.closed.store(true, Ordering::Release);
        // The waiters to ready once unlocked: off every queue, and valid
        // until we ready them.
        let mut woken = Detached::new();
        for q in [&self.recvq, &self.sendq] {
            // SAFETY: we hold the lock.
            while let Some(w) = unsafe { q.dequeue() } {
                w.state.set(CLOSED);
                // SAFETY: we hold the lock and dequeued `w` under it
                // (winning its select race if it was a select case): we
                // are the one party that readies it.
                unsafe { woken.push(w) };
            }
        }
        // SAFETY: we hold the lock.
        unsafe { self.lock.unlock() };
        woken.ready_all();
        true
    }
}

/// A bubble's channel used from outside it (Go: a fatal error; here a
/// panic in the caller).
#[cold]
#[inline(never)]
fn outside_bubble(what: &'static str) -> ! {
    let sep = if what.ends_with(" of") { "" } else { " on" };
    panic!("{what}{sep} synctest channel from outside bubble")
}

impl<T> Drop for HChan<T> {
    fn drop(&mut self) {
        // The last ChanRef stopped the timer before creating `&mut self`.
        debug_assert!(
            self.timer.as_ref().is_none_or(|t| !t.node.is_armed()),
            "a timer channel dropped armed"
        );
        let h = &self.hdr;
        let (mut i, q) = (h.recvx.get(), h.qcount.load(Ordering::Relaxed));
        for _ in 0..q {
            // SAFETY: `&mut self`: no one else can touch the buffer; slot i
            // is in the filled range.
            unsafe { ptr::drop_in_place(self.slot(i)) };
            i = if i + 1 == h.dataqsiz { 0 } else { i + 1 };
        }
    }
}

/// What the loom model (`channels/tests/loom_hchan.rs`, which compiles
/// this file into its test crate with `--cfg loom`) swaps in: loom's
/// atomics, and for the runtime's lock (whose futex would block loom's
/// scheduler) one made of loom's mutex and condition variable. The
/// library, even built with `--cfg loom`, keeps std's atomics and `RawLock`
/// (its own unit tests are not meant to be built with `--cfg loom`).
#[cfg(all(loom, test))]
mod loom_shim {
    pub(crate) use loom::sync::atomic::{AtomicBool, AtomicUsize};
    use loom::sync::{Condvar, Mutex};

    pub(crate) struct RawLock {
        held: Mutex<bool>,
        cv: Condvar,
    }

    impl RawLock {
        pub(crate) fn new() -> RawLock {
            RawLock { held: Mutex::new(false), cv: Condvar::new() }
        }
        pub(crate) fn lock(&self) {
            let mut held = self.held.lock().unwrap();
            while *held {
                held = self.cv.wait(held).unwrap();
            }
            *held = true;
        }
        /// # Safety
        /// The caller holds the lock.
        pub(crate) unsafe fn unlock(&self) {
            *self.held.lock().unwrap() = false;
            self.cv.notify_one();
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use crate::channel::chan;

    /// A value that counts its drops, tagged to tell values apart.
    struct D(u32, Arc<AtomicUsize>);

    impl Drop for D {
        fn drop(&mut self) {
            self.1.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Waits until `f` holds; panics after 10 s.
    fn wait_for(what: &str, f: impl Fn() -> bool) {
        let start = Instant::now();
        while !f() {
            assert!(start.elapsed() < Duration::from_secs(10), "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn drain_one_moves_a_parked_senders_value_in_and_readies_it() {
        let n = Arc::new(AtomicUsize::new(0));
        let c = chan::<D>(1);
        c.send(D(1, n.clone())).unwrap();
        let (tx, n2) = (c.clone(), n.clone());
        let sender = std::thread::spawn(move || tx.send(D(2, n2)).is_ok());
        wait_for("the sender to park", || !c.c.hdr.sendq.is_empty());
        assert!(c.c.drain_one(), "a value was buffered");
        assert_eq!(n.load(Ordering::SeqCst), 1, "the drained value is dropped once");
        assert!(sender.join().unwrap(), "the parked sender completes");
        let v = c.try_recv().expect("the sender's value is buffered");
        assert_eq!(v.0, 2);
        drop(v);
        assert!(!c.c.drain_one(), "nothing left to drain");
        assert_eq!(n.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn drain_one_drops_a_buffered_value() {
        let n = Arc::new(AtomicUsize::new(0));
        let c = chan::<D>(2);
        c.send(D(1, n.clone())).unwrap();
        c.send(D(2, n.clone())).unwrap();
        assert!(c.c.drain_one());
        assert_eq!(n.load(Ordering::SeqCst), 1);
        assert_eq!(c.try_recv().map(|v| v.0).ok(), Some(2), "FIFO: the oldest was drained");
        assert!(!c.c.drain_one());
    }
}
