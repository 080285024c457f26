//! `select`: wait on several channel operations at once and complete
//! exactly one of them. The engine under both [`select!`](crate::select!)
//! and the dynamic [`Select`](crate::Select).
//!
//! Go: runtime/select.go (`selectgo`, `sellock`, `selunlock`,
//! `selparkcommit`).
//!
//! ## Algorithm (Go's)
//!
//! 1. **Poll order**: a uniformly random permutation of the cases whose
//!    channel is not nil (a `None` case never fires). Building it, a
//!    timer channel's due timer is fired (Go: `maybeRunChan`), so that
//!    pass 1 finds an expired timer's value.
//! 2. **Lock order**: the same cases sorted by channel address. Every
//!    select locks its channels in this one global order, each distinct
//!    channel once, so concurrent selects cannot deadlock.
//! 3. **Pass 1**, all channels locked: the first case in poll order that
//!    can proceed (a counterpart waiting, buffered data or room, or closed)
//!    completes; that is the uniformly random choice among ready cases.
//! 4. With a `default` (or no time left), unlock and report none.
//! 5. **Pass 2**: queue one waiter per case (they live in the case array
//!    on this stack), then park; the park callback unlocks the channels
//!    once the goroutine is off its stack.
//! 6. A counterpart that dequeues one of our waiters completes it only if
//!    it wins the select's race (a CAS from 0 to 1 of a word in this
//!    frame that every waiter of the select points at, Go's
//!    `g.selectDone`): exactly one case completes, and only its winner
//!    readies us. A timeout is a receive case on a timer channel, as in Go.
//! 7. **Pass 3**: relock all channels, find the completed waiter (state
//!    set), unlink every other one still queued, unlock. The race word
//!    dies with the frame: the next select starts with a fresh one, so
//!    nothing needs re-arming (Go resets `selectDone` here).
//!
//! The park callback unlocks channel after channel. As soon as the first
//! is unlocked a counterpart may complete a case and ready us, and we may
//! resume on another thread while the callback still unlocks the rest;
//! pass 3 then waits on the channel locks the callback still holds, so the
//! case array the callback reads stays intact until it is done (as in Go).
//!
//! If the runtime is dropped while a select is parked, its unwind guard
//! does pass 3 on the unwinding thread (`Unselect`), so no waiter of the
//! dead goroutine stays queued on any of the channels.
//!
//! Element types are erased: a case is a channel header, a pointer to the
//! value (send) or the slot (receive) on the caller's stack, and the
//! monomorphised locked attempt for its element type.

use std::marker::PhantomData;
use std::mem::{ManuallyDrop, MaybeUninit};

use std::sync::atomic::AtomicU32;

use gort_runtime::engine::{GRef, WaitReason, cheaprandn, current_g, park_unwind_safe, ready};
use gort_runtime::preempt_point;

use crate::channel::{Chan, Receiver, Sender};
use crate::error::SendError;
use crate::hchan::{Attempt, HChan, Header};
use crate::ops::Wait;
use crate::waitq::{CLOSED, DONE, Waiter};

/// Go's limit on the number of cases a [`Select`](crate::Select) may
/// have (Go: `reflect.Select`'s, from its `uint16` poll and lock orders).
/// gort's orders are `u32`, so the engine itself takes more: room for the
/// timer case `select_timeout` adds to a full `Select`.
pub(crate) const MAX_CASES: usize = 1 << 16;

/// The locked attempt of one case, monomorphised for its element type.
type AttemptFn = unsafe fn(*const Header, *mut u8) -> Attempt;

/// Records in a typed case object that `selectgo` chose it (`ok`: a value
/// moved), monomorphised for the case type.
type CommitFn = unsafe fn(*mut (), bool);

/// One case, type-erased. Go: `scase` plus its `sudog`.
///
/// A `Scase<'a>` is made only by [`RecvCase::scase`] or
/// [`SendCase::scase`] and mutably borrows its case object for `'a`, so
/// every pointer in it stays valid and unaliased while it exists. That is
/// what makes [`selectgo`] safe to call: it commits the chosen case itself
/// (the value's ownership is settled in the case object before `selectgo`
/// returns), so no caller-supplied flag can claim a value that was not
/// written or drop one that was moved.
pub struct Scase<'a> {
    /// The channel, or null for a nil channel (never ready).
    c: *const Header,
    /// The value to send, or the slot to receive into.
    elem: *mut u8,
    is_send: bool,
    attempt: AttemptFn,
    /// The typed case object and how to commit it.
    case: *mut (),
    commit: CommitFn,
    /// This case's waiter while the select is parked.
    w: Waiter,
    _case: PhantomData<&'a mut ()>,
}

/// # Safety
/// `h` is the header of an `HChan<T>`, locked; `elem` a valid `T` the
/// caller owns.
unsafe fn send_attempt<T>(h: *const Header, elem: *mut u8) -> Attempt {
    // SAFETY: HChan is repr(C) with the header first; guaranteed above.
    unsafe { (*h.cast::<HChan<T>>()).send_locked(elem.cast()) }
}

/// # Safety
/// `h` is the header of an `HChan<T>`, locked; `elem` writable as a `T`.
unsafe fn recv_attempt<T>(h: *const Header, elem: *mut u8) -> Attempt {
    // SAFETY: as in send_attempt.
    unsafe { (*h.cast::<HChan<T>>()).recv_locked(elem.cast()) }
}

/// # Safety
/// `case` is a live, exclusively borrowed `RecvCase<T>`; with `ok`,
/// `selectgo` wrote a `T` into its slot.
unsafe fn recv_commit<T>(case: *mut (), ok: bool) {
    // SAFETY: guaranteed above.
    unsafe { (*case.cast::<RecvCase<'_, T>>()).full = ok };
}

/// # Safety
/// `case` is a live, exclusively borrowed `SendCase<T>`; with `ok`, its
/// value moved into the channel or a receiver.
unsafe fn send_commit<T>(case: *mut (), ok: bool) {
    if ok {
        // SAFETY: guaranteed above.
        unsafe { (*case.cast::<SendCase<'_, T>>()).moved = true };
    }
}

impl<'a> Scase<'a> {
    /// # Safety
    /// `case` is the `RecvCase<T>` (`is_send` false) or `SendCase<T>`
    /// (`is_send` true) that `elem` points into, exclusively borrowed
    /// for `'a`; `c` is its channel.
    unsafe fn new<T>(c: Option<&HChan<T>>, elem: *mut u8, is_send: bool, case: *mut ()) -> Scase<'a> {
        Scase {
            c: c.map_or(std::ptr::null(), |c| &c.hdr as *const Header),
            elem,
            is_send,
            attempt: if is_send { send_attempt::<T> } else { recv_attempt::<T> },
            case,
            commit: if is_send { send_commit::<T> } else { recv_commit::<T> },
            w: Waiter::new(None, elem),
            _case: PhantomData,
        }
    }

    /// Settles the outcome in the case object once this case was chosen.
    /// A sent value is gone, so the case turns nil: running `selectgo`
    /// again over the same cases never offers it twice.
    fn commit(&mut self, ok: bool) {
        // SAFETY: `case` is the case object this Scase borrows (see new),
        // and `ok` is what the locked attempt or the counterpart reported.
        unsafe { (self.commit)(self.case, ok) };
        if self.is_send && ok {
            self.c = std::ptr::null();
        }
    }

    fn hdr(&self) -> &Header {
        // SAFETY: only called for non-nil cases; the channel is kept alive
        // by the handle the case borrows for the whole select.
        unsafe { &*self.c }
    }
}

/// Locks each distinct channel once, in lock order. Go: `sellock`.
fn sellock(cases: &[Scase<'_>], lockorder: &[u32]) {
    let mut last: *const Header = std::ptr::null();
    for &i in lockorder {
        let c = cases[i as usize].c;
        if c != last {
            last = c;
            cases[i as usize].hdr().lock.lock();
        }
    }
}

/// Unlocks each distinct channel once, in reverse lock order. Go:
/// `selunlock`.
fn selunlock(cases: &[Scase<'_>], lockorder: &[u32]) {
    for (k, &i) in lockorder.iter().enumerate().rev() {
        let c = cases[i as usize].c;
        if k > 0 && cases[lockorder[k - 1] as usize].c == c {
            continue; // unlock at the first occurrence in lock order
        }
        // SAFETY: sellock locked this channel once; this is its one unlock.
        unsafe { cases[i as usize].hdr().lock.unlock() };
    }
}

/// Runs a select over `cases`. `order` is scratch space of `2 * cases.len()`
/// entries. Returns the completed case and whether it moved a value
/// (`false`: its channel was closed), or `None` if `wait` is [`Wait::No`]
/// and no case was ready (Go's `default`); the completed case's object
/// already owns its result (take it with `finish`). Deadlines are
/// timer-channel cases ([`crate::after`]), as in Go; `wait` is never
/// `Until`. Go: `selectgo`.
pub fn selectgo(cases: &mut [Scase<'_>], order: &mut [u32], wait: Wait) -> Option<(usize, bool)> {
    debug_assert!(!matches!(wait, Wait::Until(_)), "select deadlines are timer-channel cases");
    let n = cases.len();
    assert!(u32::try_from(n).is_ok(), "select: too many cases");
    assert!(order.len() >= 2 * n, "select: order scratch too small");
    if wait != Wait::No {
        preempt_point();
    }
    let (pollorder, lockorder) = order.split_at_mut(n);

    // Poll order: inside-out Fisher-Yates over the non-nil cases.
    let mut norder = 0usize;
    // Every channel belongs to the caller's synctest bubble (Go:
    // `allSynctest`): the wait is durable.
    let mut all_bubbled = true;
    for (i, cs) in cases.iter().enumerate() {
        if cs.c.is_null() {
            continue;
        }
        // A channel that can never be ready counts as a bubble's (Go: a
        // nil channel is left out of the check).
        all_bubbled &= cs.hdr().check_bubble("select", [false, true, true]);
        // Before any lock is taken: an expired timer's value must be there
        // for pass 1 to find (Go: `maybeRunChan` in `selectgo`).
        cs.hdr().run_timer_if_due();
        let j = cheaprandn(norder as u32 + 1) as usize;
        pollorder[norder] = pollorder[j];
        pollorder[j] = i as u32;
        norder += 1;
    }
    let pollorder = &pollorder[..norder];
    let lockorder = &mut lockorder[..norder];
    lockorder.copy_from_slice(pollorder);
    lockorder.sort_unstable_by_key(|&i| cases[i as usize].c as usize);
    let lockorder: &[u32] = lockorder;

    if norder == 0 {
        return match wait {
            Wait::No => None,
            _ => block_forever(),
        };
    }

    sellock(cases, lockorder);

    // Pass 1: the first ready case in poll order.
    for &i in pollorder {
        let cs = &cases[i as usize];
        // SAFETY: the channel is locked; elem fits the case's type (built
        // by Scase::new from the same T).
        match unsafe { (cs.attempt)(cs.c, cs.elem) } {
            Attempt::Done(g) => {
                selunlock(cases, lockorder);
                if let Some(g) = g {
                    // SAFETY: the attempt dequeued g's waiter under the lock.
                    unsafe { ready(g) };
                }
                cases[i as usize].commit(true);
                return Some((i as usize, true));
            }
            Attempt::Closed => {
                selunlock(cases, lockorder);
                cases[i as usize].commit(false);
                return Some((i as usize, false));
            }
            Attempt::Block => {}
        }
    }
    if wait == Wait::No {
        selunlock(cases, lockorder);
        return None;
    }

    // Pass 2: queue a waiter on every channel, in lock order, and park.
    let g = current_g();
    // The select's race word (module docs, step 6). It outlives every
    // waiter pointing at it: pass 3 (or `Unselect`) unlinks them all under
    // their channels' locks before this frame goes.
    let done = AtomicU32::new(0);
    for &i in lockorder {
        let cs = &cases[i as usize];
        cs.w.g.set(Some(g));
        cs.w.select_done.set(&done);
        cs.w.state.set(crate::waitq::WAITING);
        let h = cs.hdr();
        let q = if cs.is_send { &h.sendq } else { &h.recvq };
        // SAFETY: the channel is locked; the waiter lives in `cases`, on
        // this frame, until pass 3 unlinks it.
        unsafe { q.enqueue(&cs.w) };
    }
    let cases_ro: &[Scase<'_>] = cases;
    let guard = Unselect { cases: cases_ro, lockorder };
    let reason = if all_bubbled { WaitReason::SelectDurable } else { WaitReason::Select };
    park_unwind_safe(reason, |_: GRef| {
        selunlock(cases_ro, lockorder);
        true
    });
    std::mem::forget(guard);

    // Pass 3: find the winner, unlink the others.
    sellock(cases, lockorder);
    let mut chosen = None;
    for &i in lockorder {
        let cs = &cases[i as usize];
        match cs.w.state.get() {
            DONE => chosen = Some((i as usize, true)),
            CLOSED => chosen = Some((i as usize, false)),
            _ => {
                let h = cs.hdr();
                let q = if cs.is_send { &h.sendq } else { &h.recvq };
                // SAFETY: the channel is locked; the waiter was queued on q
                // if it is queued at all.
                unsafe { q.remove(&cs.w) };
            }
        }
    }
    selunlock(cases, lockorder);
    if let Some((i, ok)) = chosen {
        cases[i].commit(ok);
    }
    chosen
}

/// The unwind guard of a parked select (see `gort_runtime::engine::park`'s docs):
/// if the runtime is dropped while the goroutine waits, does pass 3 on the
/// unwinding thread: unlinks every waiter still queued and, if a
/// counterpart completed a case (and so may still be on its way to
/// `ready`, which is waited out), commits it in its case object, whose
/// drop then settles the value (a received one is dropped, a sent one is
/// not dropped twice).
struct Unselect<'s, 'a> {
    cases: &'s [Scase<'a>],
    lockorder: &'s [u32],
}

impl Drop for Unselect<'_, '_> {
    fn drop(&mut self) {
        let (cases, lockorder) = (self.cases, self.lockorder);
        sellock(cases, lockorder);
        let mut chosen = None;
        for &i in lockorder {
            let cs = &cases[i as usize];
            match cs.w.state.get() {
                DONE => chosen = Some((i as usize, true)),
                CLOSED => chosen = Some((i as usize, false)),
                _ => {
                    let h = cs.hdr();
                    let q = if cs.is_send { &h.sendq } else { &h.recvq };
                    // SAFETY: the channel is locked; the waiter was queued
                    // on q if it is queued at all.
                    unsafe { q.remove(&cs.w) };
                }
            }
        }
        selunlock(cases, lockorder);
        if let Some((i, ok)) = chosen {
            gort_runtime::engine::wait_for_waker();
            // SAFETY: as in `Scase::commit`; the case object outlives this
            // frame (it is dropped further up the unwinding).
            unsafe { (cases[i].commit)(cases[i].case, ok) };
        }
    }
}

/// A select with one receive case: a plain receive (blocking, or not with
/// a default). `None`: the default runs. Go: `chanrecv` / `selectnbrecv`.
#[doc(hidden)]
#[inline]
pub fn recv1<R: RecvSide + ?Sized>(r: &R, wait: Wait) -> Option<Option<R::Elem>> {
    let Some(c) = r.recv_hchan() else {
        return if wait == Wait::No { None } else { block_forever() };
    };
    match c.recv(wait) {
        Ok(v) => Some(Some(v)),
        Err(crate::ops::RecvFail::Closed) => Some(None),
        Err(_) => None,
    }
}

/// A select with one send case: a plain send (blocking, or not with a
/// default). `None`: the default runs (and the value is dropped). Go:
/// `chansend` / `selectnbsend`.
#[doc(hidden)]
#[inline]
pub fn send1<S: SendSide + ?Sized>(s: &S, v: S::Elem, wait: Wait) -> Option<Result<(), SendError<S::Elem>>> {
    let Some(c) = s.send_hchan() else {
        return if wait == Wait::No { None } else { block_forever() };
    };
    match c.send(v, wait) {
        Ok(()) => Some(Ok(())),
        Err((v, crate::ops::SendFail::Closed)) => Some(Err(SendError(v))),
        Err(_) => None,
    }
}

/// Ends the borrows of a select's cases before its body runs (dropping
/// unsent values).
#[doc(hidden)]
#[inline(always)]
pub fn end_cases<T>(cases: T) {
    drop(cases);
}

/// Parks forever: Go's `select {}` (and a select whose cases are all nil).
pub fn block_forever() -> ! {
    loop {
        // Queued nowhere: nothing to clean up if the runtime is dropped.
        park_unwind_safe(WaitReason::SelectNoCases, |_| true);
    }
}

/// Channel handles that can be the channel of a receive case: [`Chan`],
/// [`Receiver`], references to them, and `Option`s of them (`None` is Go's
/// nil channel: the case never fires).
pub trait RecvSide {
    /// The element type.
    type Elem;
    #[doc(hidden)]
    fn recv_hchan(&self) -> Option<&HChan<Self::Elem>>;
}

/// Channel handles that can be the channel of a send case: [`Chan`],
/// [`Sender`], references to them, and `Option`s of them.
pub trait SendSide {
    /// The element type.
    type Elem;
    #[doc(hidden)]
    fn send_hchan(&self) -> Option<&HChan<Self::Elem>>;
}

impl<T> RecvSide for Chan<T> {
    type Elem = T;
    fn recv_hchan(&self) -> Option<&HChan<T>> {
        Some(&self.c)
    }
}

impl<T> RecvSide for Receiver<T> {
    type Elem = T;
    fn recv_hchan(&self) -> Option<&HChan<T>> {
        Some(&self.c)
    }
}

impl<T> SendSide for Chan<T> {
    type Elem = T;
    fn send_hchan(&self) -> Option<&HChan<T>> {
        Some(&self.c)
    }
}

impl<T> SendSide for Sender<T> {
    type Elem = T;
    fn send_hchan(&self) -> Option<&HChan<T>> {
        Some(&self.c)
    }
}

impl<R: RecvSide + ?Sized> RecvSide for &R {
    type Elem = R::Elem;
    fn recv_hchan(&self) -> Option<&HChan<R::Elem>> {
        (**self).recv_hchan()
    }
}

impl<R: SendSide + ?Sized> SendSide for &R {
    type Elem = R::Elem;
    fn send_hchan(&self) -> Option<&HChan<R::Elem>> {
        (**self).send_hchan()
    }
}

impl<R: RecvSide> RecvSide for Option<R> {
    type Elem = R::Elem;
    fn recv_hchan(&self) -> Option<&HChan<R::Elem>> {
        self.as_ref().and_then(|r| r.recv_hchan())
    }
}

impl<R: SendSide> SendSide for Option<R> {
    type Elem = R::Elem;
    fn send_hchan(&self) -> Option<&HChan<R::Elem>> {
        self.as_ref().and_then(|r| r.send_hchan())
    }
}

/// A receive case of `select!`: its channel and the slot the value lands
/// in.
#[doc(hidden)]
pub struct RecvCase<'a, T> {
    c: Option<&'a HChan<T>>,
    slot: MaybeUninit<T>,
    /// `slot` holds a received value that nobody has taken yet.
    full: bool,
}

/// A send case of `select!`: its channel and the value, which the case
/// owns until a receiver takes it; an unsent value is dropped with the
/// case (or returned in the `SendError` if the channel was closed).
#[doc(hidden)]
pub struct SendCase<'a, T> {
    c: Option<&'a HChan<T>>,
    val: ManuallyDrop<T>,
    /// The case no longer owns `val`: it was sent, handed back, or
    /// dropped. A spent case never fires again.
    moved: bool,
}

#[doc(hidden)]
pub fn recv_case<R: RecvSide + ?Sized>(r: &R) -> RecvCase<'_, R::Elem> {
    RecvCase { c: r.recv_hchan(), slot: MaybeUninit::uninit(), full: false }
}

#[doc(hidden)]
pub fn send_case<S: SendSide + ?Sized>(s: &S, v: S::Elem) -> SendCase<'_, S::Elem> {
    SendCase { c: s.send_hchan(), val: ManuallyDrop::new(v), moved: false }
}

impl<T> RecvCase<'_, T> {
    pub(crate) fn header(&self) -> *const Header {
        self.c.map_or(std::ptr::null(), |c| &c.hdr as *const Header)
    }

    pub(crate) fn set_nil(&mut self) {
        self.c = None;
    }

    /// The type-erased view `selectgo` runs on, borrowing this case.
    #[doc(hidden)]
    pub fn scase(&mut self) -> Scase<'_> {
        // A value an earlier run received and nobody took (a dynamic
        // select's result was leaked) is dropped before the slot is reused.
        drop(self.take());
        let c = self.c;
        let case: *mut Self = self;
        // SAFETY: `case` comes from `&mut self`; no reference is made.
        // Both pointers derive from it, so writes through either (the
        // counterpart's into the slot, the commit's into `full`) keep the
        // other valid.
        let elem = unsafe { std::ptr::addr_of_mut!((*case).slot) }.cast();
        // SAFETY: `case` is this RecvCase<T>, borrowed for the Scase's
        // lifetime, and `elem` its slot.
        unsafe { Scase::new(c, elem, false, case.cast()) }
    }

    /// The value the case received, if it still holds one.
    pub(crate) fn take(&mut self) -> Option<T> {
        // SAFETY: `full` is set only when selectgo wrote a value into slot,
        // and cleared here as the value leaves.
        std::mem::take(&mut self.full).then(|| unsafe { self.slot.assume_init_read() })
    }

    /// The case's result once `selectgo` chose it: the value, or `None` if
    /// the channel was closed.
    #[doc(hidden)]
    pub fn finish(&mut self) -> Option<T> {
        self.take()
    }
}

impl<T> Drop for RecvCase<'_, T> {
    fn drop(&mut self) {
        drop(self.take());
    }
}

impl<T> SendCase<'_, T> {
    pub(crate) fn header(&self) -> *const Header {
        self.c.map_or(std::ptr::null(), |c| &c.hdr as *const Header)
    }

    /// Disables the case (its value is spent or dropped).
    pub(crate) fn set_nil(&mut self) {
        debug_assert!(self.moved);
        self.c = None;
    }

    /// Drops the value if the case still owns it, and disables the case.
    pub(crate) fn discard(&mut self) {
        if !self.moved {
            self.moved = true;
            // SAFETY: the case owned the value; `moved` now keeps anyone
            // from using or dropping it again.
            unsafe { ManuallyDrop::drop(&mut self.val) };
        }
        self.c = None;
    }

    /// The type-erased view `selectgo` runs on, borrowing this case.
    #[doc(hidden)]
    pub fn scase(&mut self) -> Scase<'_> {
        // A spent case is a nil case: its value is gone.
        let c = if self.moved { None } else { self.c };
        let case: *mut Self = self;
        // SAFETY: `case` comes from `&mut self`; no reference is made.
        let elem = unsafe { std::ptr::addr_of_mut!((*case).val) }.cast();
        // SAFETY: `case` is this SendCase<T>, borrowed for the Scase's
        // lifetime, and `elem` its value (ManuallyDrop<T> is transparent).
        unsafe { Scase::new(c, elem, true, case.cast()) }
    }

    /// The case's result once `selectgo` chose it: `Ok` if the value was
    /// sent, else the value back (its channel was closed).
    #[doc(hidden)]
    pub fn finish(&mut self) -> Result<(), SendError<T>> {
        if self.moved {
            return Ok(()); // the receiver or the buffer has the value now
        }
        self.moved = true;
        // SAFETY: the value was not moved (closed channel), and `moved`
        // keeps anyone from using or dropping it again.
        Err(SendError(unsafe { ManuallyDrop::take(&mut self.val) }))
    }
}

impl<T> Drop for SendCase<'_, T> {
    fn drop(&mut self) {
        if !self.moved {
            // SAFETY: a case not chosen still owns its value.
            unsafe { ManuallyDrop::drop(&mut self.val) };
        }
    }
}
