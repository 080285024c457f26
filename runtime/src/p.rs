//! The P: the right to run goroutines, with its run queue, `runnext` slot
//! and caches.
//!
//! Go: runtime/runtime2.go (`type p`), runtime/proc.go (`runqput`,
//! `runqget`, `runqsteal`, `runqempty`).
//!
//! ## Ownership word
//!
//! `status` is the P's [`PStatus`](crate::pstatus): which M may use it,
//! and whether sysmon may retake it. See that module for the protocol.
//! Owning the P in the types is [`OwnedP`]: the owner-only parts below
//! (the run queue's owner end, [`PLocal`]) are reachable only through one.
//!
//! ## Run queue
//!
//! A crossbeam-deque FIFO `Worker` owned by the P's M plus its `Stealer`
//! for other Ms, and the `runnext` slot: a goroutine readied by the running
//! one goes there and runs next, inheriting the time slice (Go's ping-pong
//! locality). Only the owner stores a non-null `runnext`; thieves may CAS it
//! to null, in their last steal round only.

use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};

use crossbeam_deque::{Steal, Stealer, Worker};

use crate::g::{G, GRef};
use crate::m::M;
use crate::stack::StackCache;
use crate::timer::Timers;

pub(crate) use crate::pstatus::{IDLE, RETAKING, RUNNING, STATE_MASK, SYSCALL, USER, word};

/// The local run queue's capacity in Go (`len(p.runq)`): beyond it, half
/// moves to the global queue.
const LOCAL_RUNQ: usize = 256;

/// How many dead Gs a P keeps for reuse (Go: 64 before spilling).
const GFREE_MAX: usize = 64;

/// How many dead Gs the global cache keeps when sysmon trims it (once a
/// second), so a burst of a million goroutines does not pin a million Gs.
pub(crate) const GFREE_GLOBAL_KEEP: usize = 4096;

/// Goroutine ids are taken from the global counter in batches (Go:
/// `_GoidCacheBatch`).
pub(crate) const GOID_BATCH: u64 = 16;

/// A processor (Go: `p`). See the module docs. "The owner" is the M
/// whose id the ownership word holds; the fields it alone writes need no
/// lock, because ownership passes through `status` (AcqRel) or the
/// scheduler lock.
pub(crate) struct P {
    /// Its index in `Sched::allp`; immutable.
    pub(crate) id: usize,
    // -- ownership (pstatus.rs) --
    /// The ownership word: which M owns the P and whether sysmon may
    /// retake it. Changed only by the protocol's CAS and swaps.
    status: crate::pstatus::PStatus,
    /// The M that owns the P, or owned it last: sysmon reads its `user`
    /// flag. Written by the acquiring M before its Release of `status`
    /// (`acquire`), cleared by sysmon (`forget_owner`). Ms are freed only
    /// by sysmon itself (`reap_exited_ms`, which first clears this pointer
    /// if it names the M) or once every thread is joined, so sysmon may
    /// follow this pointer.
    owner: AtomicPtr<M>,
    // -- run queue (module docs) --
    /// The goroutine to run next: only the owner stores a non-null G
    /// (SeqCst swap in `runqput`); a thief may swap it to null in its last
    /// steal round.
    runnext: AtomicPtr<G>,
    /// The owner's end of the local queue; only the owner touches it.
    runq: UnsafeCell<Worker<GRef>>,
    /// The thieves' end (crossbeam-deque synchronises it).
    stealer: Stealer<GRef>,
    /// Is the P on the idle list (Go: `idlepMask`)? Idle Ps have empty
    /// queues, so thieves skip them. Written under the scheduler lock
    /// (`pidleput`, `pidleget`) or with the world stopped (`procresize`);
    /// read without a lock as a hint.
    pub(crate) idle: AtomicBool,
    // -- sysmon's view, written by the owner, read by sysmon --
    /// +1 per scheduling decision that does not inherit a time slice
    /// (owner writes, sysmon reads).
    pub(crate) schedtick: AtomicU32,
    /// +1 each time the owner resumes a goroutine: sysmon's sign that the
    /// M came back to the scheduler, and other Ps' sign that this one is
    /// not stalled (`findrunnable::help_stalled`).
    pub(crate) resumetick: AtomicU32,
    /// The owner M thread's CPU clock, set when an M acquires the P.
    pub(crate) clock: std::sync::atomic::AtomicI32,
    /// The owner M thread's kernel thread id, set with `clock`.
    pub(crate) tid: std::sync::atomic::AtomicI32,
    /// Threads holding this P asleep on a runtime lock ([`crate::lock`]'s
    /// futex wait; read-modify-write because an M that lost the P while
    /// asleep undoes its count after the next owner may have made its
    /// own). sysmon never hands off such a P, as Go never does: the
    /// lock's holder is running or waiting for a CPU, and a new M would
    /// wait for the same lock.
    pub(crate) lock_sleeps: AtomicU32,
    /// sysmon asks the running goroutine to yield at its next runtime call
    /// (Go: `pp.preempt` / `gp.preempt`): set by sysmon, cleared by the
    /// owner when it honours it (Relaxed both ways: a late look only
    /// delays the yield).
    pub(crate) preempt: AtomicBool,
    // -- counters --
    /// Counters the owner bumps without read-modify-write; summed by
    /// `num_goroutine` and the metrics.
    pub(crate) spawned: AtomicU64,
    pub(crate) exited: AtomicU64,
    pub(crate) parks: AtomicU64,
    pub(crate) steals: AtomicU64,
    // -- timers and caches --
    /// The P's timer heap, under its own lock (`timer.rs`); any thread may
    /// arm a timer here, the owner and thieves run the due ones.
    pub(crate) timers: Timers,
    /// Owner-only caches ([`PLocal`]), through [`OwnedP::local`].
    local: UnsafeCell<PLocal>,
}

/// Owner-only caches: read and written only by the P's owner (or the
/// stopper, with the world stopped), without a lock.
#[derive(Default)]
pub(crate) struct PLocal {
    /// Stacks kept for this P's next goroutines (Go: `stackcache`).
    pub(crate) stacks: StackCache,
    /// Task blocks kept for this P's next spawns (Go: `mcache`).
    pub(crate) mcache: crate::mcache::MCache,
    /// Dead Gs kept for this P's next spawns (Go: `gFree`).
    // Boxed on purpose: a G's address is its identity (GRef), so it must
    // not move when the vector grows.
    #[allow(clippy::vec_box)]
    pub(crate) gfree: Vec<Box<G>>,
    /// The batch of goroutine ids taken from `Sched::goidgen`: the next
    /// one, and the end of the batch (Go: `goidcache`, `goidcacheend`).
    pub(crate) goid_next: u64,
    pub(crate) goid_end: u64,
    /// What this P's owner last saw of every other P before a network
    /// poll, indexed by P id (`findrunnable::help_stalled`).
    pub(crate) seen_resumes: Vec<crate::findrunnable::Seen>,
}

// SAFETY: the UnsafeCell fields (`runq`, `local`) are used only by the M
// that owns the P (status RUNNING with its id, or a hand-off in
// progress under the scheduler lock); ownership moves with AcqRel
// operations on `status` or on the scheduler lock. Everything else is
// atomic or Sync.
unsafe impl Sync for P {}
// SAFETY: a P holds no thread-bound state: its UnsafeCell fields change hands
// between Ms through `status` or the scheduler lock, whichever thread the P
// was made on; Worker<GRef> is Send.
unsafe impl Send for P {}

impl P {
    pub(crate) fn new(id: usize) -> P {
        let w = Worker::new_fifo();
        let stealer = w.stealer();
        P {
            id,
            status: crate::pstatus::PStatus::new(),
            owner: AtomicPtr::new(ptr::null_mut()),
            runnext: AtomicPtr::new(ptr::null_mut()),
            runq: UnsafeCell::new(w),
            stealer,
            idle: AtomicBool::new(false),
            schedtick: AtomicU32::new(0),
            resumetick: AtomicU32::new(0),
            clock: std::sync::atomic::AtomicI32::new(-1),
            lock_sleeps: AtomicU32::new(0),
            tid: std::sync::atomic::AtomicI32::new(0),
            preempt: AtomicBool::new(false),
            spawned: AtomicU64::new(0),
            exited: AtomicU64::new(0),
            parks: AtomicU64::new(0),
            steals: AtomicU64::new(0),
            timers: Timers::new(),
            local: UnsafeCell::new(PLocal::default()),
        }
    }

    // ---- ownership word (see crate::pstatus) ----

    /// The raw ownership word.
    #[inline]
    pub(crate) fn status(&self) -> u64 {
        self.status.get()
    }

    /// The word with `USER` for an owner in goroutine code (sysmon's view,
    /// a snapshot; see [`crate::pstatus`]).
    pub(crate) fn status_view(&self) -> u64 {
        self.status.view(self.owner_flag(self.status()))
    }

    /// The `user` flag of the M that owns the P per word `w`, if the owner
    /// pointer agrees (it is stored before the word, so it lags only while
    /// an M is acquiring the P). Only a `RUNNING` word has a flag to read.
    fn owner_flag(&self, w: u64) -> Option<&crate::pstatus::UserFlag> {
        if w & STATE_MASK != RUNNING {
            return None;
        }
        let m = self.owner.load(Ordering::Acquire);
        // SAFETY: sysmon alone calls this, and sysmon alone frees exited
        // Ms, after `forget_owner` took them out of every P (field docs);
        // the runtime's teardown frees the rest after sysmon has exited.
        let m = unsafe { m.as_ref() }?;
        (m.id as u64 == w >> 32).then_some(&m.user)
    }

    /// Drops the P's pointer to `m`, an exited M about to be freed, if the
    /// P still names it as its last owner (sysmon's reaping).
    pub(crate) fn forget_owner(&self, m: &M) {
        let m = m as *const M as *mut M;
        let _ = self.owner.compare_exchange(m, ptr::null_mut(), Ordering::AcqRel, Ordering::Relaxed);
    }

    /// `m` takes the P (from the idle list or a hand-off), in runtime code.
    #[inline]
    pub(crate) fn acquire(&self, m: &M) {
        self.owner.store(m as *const M as *mut M, Ordering::Relaxed);
        // Release: publishes `owner` (and the cleared `user` flag) with the
        // word.
        self.status.acquire(m.id, &m.user)
    }
    #[inline]
    pub(crate) fn release(&self) {
        self.status.release()
    }
    /// The owner `m` goes (back) to goroutine code.
    #[inline]
    pub(crate) fn to_user(&self, m: &M) {
        crate::pstatus::PStatus::to_user(&m.user)
    }
    #[inline]
    pub(crate) fn to_syscall(&self, mid: u32) -> bool {
        self.status.to_syscall(mid)
    }
    /// The owner `m` enters the runtime from goroutine code; false if the
    /// P was retaken.
    #[inline]
    pub(crate) fn try_enter(&self, m: &M) -> bool {
        self.status.try_enter(m.id, &m.user)
    }
    #[inline]
    pub(crate) fn exit_syscall(&self, mid: u32) -> bool {
        self.status.exit_syscall(mid)
    }
    /// Takes the P from its owner `mid` while that M is in a syscall
    /// (sysmon's retake, a stopping world); false if the owner came back
    /// first.
    pub(crate) fn try_retake_syscall(&self, mid: u32) -> bool {
        self.status.try_retake_syscall(mid)
    }
    /// sysmon's retake of a P it saw as `seen` (a [`P::status_view`]).
    pub(crate) fn try_retake(&self, seen: u64) -> bool {
        match seen & STATE_MASK {
            SYSCALL => self.status.try_retake_syscall((seen >> 32) as u32),
            USER => match self.owner_flag(seen - USER + RUNNING) {
                Some(user) => self.status.try_retake(seen, user),
                None => false,
            },
            _ => false,
        }
    }

    /// Aborts unless `m` owns the P in runtime code (see
    /// [`crate::m::MLocal::p_unchecked`]): two Ms using one P corrupt its
    /// single-owner run queue, so this must fail loudly, at once.
    #[cfg(debug_assertions)]
    #[track_caller]
    pub(crate) fn assert_owner(&self, m: &M) {
        let w = self.status();
        let user = m.user.load(Ordering::Relaxed);
        if (w == word(m.id, RUNNING) || w == word(m.id, RETAKING)) && !user {
            return;
        }
        crate::sys::fatal(&format!(
            "gort: P{} used by M{} in runtime code, but its word is {:#x} (owner M{}, state {}) \
             and the M's user flag is {user}, at {}",
            self.id,
            m.id,
            w,
            w >> 32,
            w & STATE_MASK,
            std::panic::Location::caller()
        ))
    }

    /// Whether the P has nothing queued. Never spuriously true while the
    /// owner moves a G from `runnext` to the queue: `runqput` swaps the new
    /// G into `runnext` before pushing the old one, so `runnext` stays
    /// non-null throughout.
    pub(crate) fn runq_empty(&self) -> bool {
        self.runnext.load(Ordering::Acquire).is_null() && self.stealer.is_empty()
    }

    /// Queue length including `runnext`, for schedtrace.
    pub(crate) fn runq_len(&self) -> usize {
        self.stealer.len() + (!self.runnext.load(Ordering::Relaxed).is_null()) as usize
    }
}

/// Proof that the calling thread owns a P (Go's `pp` held by the M): the
/// owner-only parts of the P (the run queue's owner end, [`PLocal`]) are
/// safe methods of the token, and `&P` keeps what any thread may do (the
/// thieves' end, `runnext`'s reads, timers, counters, the word).
///
/// Where tokens come from (each constructor argues its case once against
/// [`crate::pstatus`]): [`crate::sched::Sched::acquirep`] (an idle P just
/// taken), `MLocal::owned_p` (the scheduler, in runtime code, holding its
/// P), `proc::PHold::owned` (a goroutine entered the runtime), and
/// [`OwnedP::new`] itself for the stopper of the world and the runtime's
/// teardown.
///
/// Where they go: [`crate::sched::Sched::releasep`] consumes the token and
/// returns the unowned `&P`, so a released P cannot be used through it
/// again; the scheduler's paths borrow it (`&mut`) and the owner-only
/// methods take `&mut self`, so a borrow of [`PLocal`] cannot overlap
/// another use of the same token. It is not `Send`: ownership is the M
/// thread's. It never lives across a goroutine switch: on the goroutine
/// side a token borrows a `PHold`, and a suspend at depth >= 1 is a fatal
/// error (`proc::blockable`); on the scheduler side `execute` gives its
/// token up by value (`to_user`) before it resumes a goroutine.
pub(crate) struct OwnedP<'a> {
    p: &'a P,
    _not_send: PhantomData<*mut ()>,
}

impl<'a> OwnedP<'a> {
    /// Wraps `p` as owned by the calling thread.
    ///
    /// # Safety
    /// For all of `'a`:
    /// 1. the calling thread owns `p` in runtime code (see
    ///    [`crate::pstatus`]): the word names this thread's M, `RUNNING`
    ///    (or `RETAKING`, which sysmon will undo), and the M's `user` flag
    ///    is clear, so neither sysmon nor another M can take `p`; or the
    ///    calling thread stopped the world (or every M has exited, or `p`
    ///    belongs to no runtime) and no M owns `p`;
    /// 2. `'a` spans no goroutine switch, after which (1) may not hold;
    /// 3. another token for `p` exists only in an enclosing runtime call
    ///    on this thread (a hold nested in the scheduler's, or in another
    ///    hold) and is not used until this one is gone. The owner-only
    ///    methods are leaves: none calls back into the scheduler, so one
    ///    token's borrows end before another token can be made.
    #[inline]
    pub(crate) unsafe fn new(p: &'a P) -> OwnedP<'a> {
        OwnedP { p, _not_send: PhantomData }
    }

    /// The P, for what any thread may do with it.
    #[inline]
    pub(crate) fn p(&self) -> &'a P {
        self.p
    }

    /// A token for the same P that borrows this one (as `Pin::as_mut`):
    /// passed by value down a path, one pointer in a register, while this
    /// one cannot be used.
    #[inline]
    pub(crate) fn reborrow(&mut self) -> OwnedP<'_> {
        OwnedP { p: self.p, _not_send: PhantomData }
    }

    /// The owner `m` goes (back) to goroutine code, where sysmon may take
    /// the P: the token is given up with it.
    #[inline]
    pub(crate) fn into_user(self, m: &M) {
        self.p.to_user(m)
    }

    /// Owner-only caches, for as long as the token is borrowed.
    #[inline]
    pub(crate) fn local(&mut self) -> &mut PLocal {
        // SAFETY: the token proves this thread owns the P (`new`'s
        // contract), and the `&mut self` borrow keeps this reference from
        // overlapping another use of the token.
        unsafe { &mut *self.p.local.get() }
    }

    #[inline]
    fn worker(&self) -> &Worker<GRef> {
        // SAFETY: the token proves this thread owns the P: only the owner
        // uses the Worker, and crossbeam's Worker takes `&self`.
        unsafe { &*self.p.runq.get() }
    }

    // ---- run queue (Go: runqput / runqget / runqsteal) ----

    /// Queues `g`. With `next`, `g` takes the `runnext` slot and the
    /// previous occupant moves to the tail of the queue. A queue longer
    /// than Go's 256 slots moves its older half to `global` (Go:
    /// `runqputslow`): besides balancing load, this keeps the P working on
    /// what it queued last, near depth-first for spawn trees, instead of
    /// starting every old queued goroutine (and giving it a stack) first.
    #[inline]
    pub(crate) fn runqput(&mut self, g: GRef, next: bool, global: &crossbeam_deque::Injector<GRef>) {
        let mut g = g;
        if next {
            // SeqCst: this publication is the submitter's side of the
            // spinning protocol (sched module docs).
            let old = self.p.runnext.swap(g.0.as_ptr(), Ordering::SeqCst);
            match std::ptr::NonNull::new(old) {
                None => return,
                Some(old) => g = GRef(old),
            }
        }
        let w = self.worker();
        w.push(g);
        if w.len() > LOCAL_RUNQ {
            runqputslow(w, global);
        }
    }

    /// The next goroutine to run and whether it inherits the time slice
    /// (it does when it came from `runnext`).
    #[inline]
    pub(crate) fn runqget(&mut self) -> Option<(GRef, bool)> {
        let runnext = &self.p.runnext;
        if !runnext.load(Ordering::Relaxed).is_null() {
            let g = runnext.swap(ptr::null_mut(), Ordering::Acquire);
            if let Some(g) = std::ptr::NonNull::new(g) {
                return Some((GRef(g), true));
            }
        }
        self.worker().pop().map(|g| (g, false))
    }

    /// Steals about half of `victim`'s queue into this P's queue and
    /// returns one goroutine. With `steal_runnext`, takes the victim's
    /// `runnext` when its queue is empty. Go: `runqsteal`.
    pub(crate) fn runqsteal(&mut self, victim: &P, steal_runnext: bool) -> Option<GRef> {
        let dest = self.worker();
        loop {
            match victim.stealer.steal_batch_and_pop(dest) {
                Steal::Success(g) => return Some(g),
                Steal::Retry => continue,
                Steal::Empty => break,
            }
        }
        if !steal_runnext {
            return None;
        }
        let next = victim.runnext.load(Ordering::Acquire);
        if next.is_null() {
            return None;
        }
        // The victim probably just readied this G and is about to run it
        // (Go: usleep(3) before stealing runnext from a running P).
        if victim.status() & STATE_MASK == RUNNING {
            crate::sys::usleep(3);
        }
        victim
            .runnext
            .compare_exchange(next, ptr::null_mut(), Ordering::AcqRel, Ordering::Relaxed)
            .ok()
            .and_then(std::ptr::NonNull::new)
            .map(GRef)
    }

    /// Moves up to `n` goroutines from the global queue into this P's queue
    /// and returns one. Go: `globrunqgetbatch`.
    pub(crate) fn take_global(&mut self, global: &crossbeam_deque::Injector<GRef>, n: usize) -> Option<GRef> {
        let dest = self.worker();
        loop {
            match global.steal_batch_with_limit_and_pop(dest, n.max(1)) {
                Steal::Success(g) => return Some(g),
                Steal::Retry => continue,
                Steal::Empty => return None,
            }
        }
    }

    /// Drains the run queue (shutdown, a dying P).
    pub(crate) fn drain(&mut self) -> Vec<GRef> {
        let mut v = Vec::new();
        while let Some((g, _)) = self.runqget() {
            v.push(g);
        }
        v
    }

    // ---- dead Gs (Go: gfget / gfput) ----

    /// Takes a dead G for reuse: from the P's cache, refilled from the
    /// global cache when empty (Go: `gfget`).
    #[inline]
    #[allow(clippy::vec_box)]
    pub(crate) fn gfget(&mut self, global: &crate::lock::Lock<Vec<Box<G>>>) -> Option<Box<G>> {
        let l = self.local();
        if l.gfree.is_empty() {
            let mut gl = global.lock();
            let n = gl.len().min(GFREE_MAX / 2);
            let from = gl.len() - n;
            l.gfree.extend(gl.drain(from..));
        }
        l.gfree.pop()
    }

    /// Caches a dead G for reuse; when the P's cache is full, moves half of
    /// it to the global cache (Go: `gfput`), which frees beyond its own cap.
    #[inline]
    #[allow(clippy::vec_box)]
    pub(crate) fn gfput(&mut self, g: Box<G>, sched: &crate::sched::Sched) {
        let l = self.local();
        l.gfree.push(g);
        if l.gfree.len() >= GFREE_MAX {
            let spill = l.gfree.len() - GFREE_MAX / 2;
            sched.gfree.lock().extend(l.gfree.drain(..spill));
        }
    }
}

impl std::ops::Deref for OwnedP<'_> {
    type Target = P;
    #[inline]
    fn deref(&self) -> &P {
        self.p
    }
}

#[cold]
fn runqputslow(w: &Worker<GRef>, global: &crossbeam_deque::Injector<GRef>) {
    for _ in 0..LOCAL_RUNQ / 2 {
        match w.pop() {
            Some(g) => global.push(g),
            None => break,
        }
    }
}

/// Visits every P once in a random order: `pos, pos+inc, ...` modulo n,
/// with `inc` coprime to n. Go: `randomOrder` / `stealOrder`.
pub(crate) struct StealOrder {
    count: u32,
    coprimes: Vec<u32>,
}

impl StealOrder {
    pub(crate) fn new(count: u32) -> StealOrder {
        let coprimes = (1..=count).filter(|&i| gcd(i, count) == 1).collect();
        StealOrder { count, coprimes }
    }

    /// The enumeration for random value `r`.
    pub(crate) fn start(&self, r: u32) -> impl Iterator<Item = usize> + '_ {
        let n = self.count;
        let inc = self.coprimes[(r / n) as usize % self.coprimes.len()];
        let mut pos = r % n;
        (0..n).map(move |_| {
            let p = pos;
            pos = (pos + inc) % n;
            p as usize
        })
    }
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_deque::Injector;

    /// A token for a P that belongs to no runtime.
    fn own(p: &P) -> OwnedP<'_> {
        // SAFETY: `p` is in no Sched, so no M and no sysmon can use it: the
        // test thread is its only user, and each test makes one token per P.
        unsafe { OwnedP::new(p) }
    }

    fn leak_g() -> GRef {
        GRef::from_ref(Box::leak(Box::new(G::new(false))))
    }

    // Go: TestSchedLocalQueue
    #[test]
    fn local_queue_is_fifo() {
        let p = P::new(0);
        let mut o = own(&p);
        let gs: Vec<_> = (0..256).map(|_| leak_g()).collect();
        for i in 0..gs.len() {
            for g in &gs[..i] {
                o.runqput(*g, false, &Injector::new());
            }
            for g in &gs[..i] {
                let (got, inherit) = o.runqget().unwrap();
                assert_eq!(got, *g);
                assert!(!inherit);
            }
            assert!(o.runqget().is_none());
            assert!(p.runq_empty());
        }
    }

    #[test]
    fn runnext_runs_first_and_inherits() {
        let p = P::new(0);
        let mut o = own(&p);
        let (a, b, c) = (leak_g(), leak_g(), leak_g());
        let gq = Injector::new();
        o.runqput(a, false, &gq);
        o.runqput(b, true, &gq);
        o.runqput(c, true, &gq); // b is kicked to the tail
        assert_eq!(o.runqget(), Some((c, true)));
        assert_eq!(o.runqget(), Some((a, false)));
        assert_eq!(o.runqget(), Some((b, false)));
    }

    #[test]
    fn a_full_queue_moves_its_older_half_to_the_global_queue() {
        let p = P::new(0);
        let mut o = own(&p);
        let gq = Injector::new();
        let gs: Vec<_> = (0..LOCAL_RUNQ + 1).map(|_| leak_g()).collect();
        for g in &gs {
            o.runqput(*g, false, &gq);
        }
        assert_eq!(gq.len(), LOCAL_RUNQ / 2);
        // The oldest went global, in order; the newest stay local.
        assert_eq!(gq.steal().success(), Some(gs[0]));
        assert_eq!(o.runqget().map(|(g, _)| g), Some(gs[LOCAL_RUNQ / 2]));
    }

    // Go: TestSchedLocalQueueSteal
    #[test]
    fn steal_moves_every_g_exactly_once() {
        let (p1, p2) = (P::new(0), P::new(1));
        let (mut o1, mut o2) = (own(&p1), own(&p2));
        let gs: Vec<_> = (0..256).map(|_| leak_g()).collect();
        for i in 0..gs.len() {
            for g in &gs[..i] {
                o1.runqput(*g, false, &Injector::new());
            }
            let mut seen = std::collections::HashSet::new();
            let mut stolen = 0;
            if let Some(g) = o2.runqsteal(&p1, true) {
                seen.insert(g);
                stolen += 1;
            }
            while let Some((g, _)) = o2.runqget() {
                assert!(seen.insert(g));
                stolen += 1;
            }
            while let Some((g, _)) = o1.runqget() {
                assert!(seen.insert(g));
            }
            assert_eq!(seen.len(), i);
            // Half (rounded up), capped by crossbeam's batch limit of 32.
            if i > 0 {
                assert!(stolen >= 1 && stolen <= i.div_ceil(2).max(1), "stole {stolen} of {i}");
            }
        }
    }

    // Go: TestStealOrder
    #[test]
    fn steal_order_visits_each_p_once() {
        for procs in 1..=64u32 {
            let ord = StealOrder::new(procs);
            for r in 0..(procs * ord.coprimes.len() as u32) {
                let mut seen = vec![false; procs as usize];
                for p in ord.start(r) {
                    assert!(!seen[p], "procs {procs} r {r}: {p} twice");
                    seen[p] = true;
                }
                assert!(seen.iter().all(|&s| s));
            }
        }
    }
}
