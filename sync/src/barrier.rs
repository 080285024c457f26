//! `Barrier`: a cyclic barrier, reusable round after round.
//!
//! Go: github.com/marusama/cyclicbarrier (the text's CyclicBarrier), after
//! Java's `CyclicBarrier`.
//!
//! A fixed number of parties call [`Barrier::wait`]; each blocks until all
//! have arrived, then all are released together and the barrier is ready
//! for the next round. An optional action runs once per round, on the last
//! party to arrive, before anyone of that round is released (the next
//! round is open meanwhile, so extra goroutines may already gather).
//!
//! **Breaking.** A round breaks when a waiter gives up
//! ([`Barrier::wait_timeout`], the timeout counterpart of the library's
//! context cancellation), when [`Barrier::reset`] is called while parties
//! wait, or when the action panics. Every party waiting in a broken round
//! returns [`BarrierError::Broken`] (the one that timed out returns
//! [`BarrierError::Timeout`]; if the action panicked, the last arrival
//! carries the panic, as in Java). A broken barrier stays broken, and new
//! waits fail at once with `Broken`, until `reset`.
//!
//! In a synctest bubble a wait is durable (like Go's `Cond::wait`) and
//! `wait_timeout`'s timeout runs on the bubble's clock; a party outside the
//! bubble that completes a round of bubbled waiters is a fatal error.
//!
//! Waiter records live on the waiters' stacks in a list (the runtime's
//! [`WaitList`]) guarded by the barrier's
//! runtime lock; each round's outcome is stored in the record
//! before its owner is readied. While a completed round's action runs, its
//! records stay listed (in `Round::tripping`, tagged with the round), so
//! that a party whose runtime is dropped meanwhile can leave: every wait is
//! unwind-safe (its guard `Leave` unlinks the record, see
//! `gort_runtime::engine::park`).

use std::cell::Cell;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::time::Duration;

use gort_runtime::engine::now_nanos as nanotime;
use gort_runtime::engine::{
    Detached, GRef, Links, Lock, WaitList, WaitReason, current_g, park_unwind_safe, ready,
};
use gort_runtime::preempt_point;

/// Why a [`Barrier::wait`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BarrierError {
    /// The round was broken (a party timed out, `reset` was called, or the
    /// action panicked), or the barrier was already broken.
    Broken,
    /// This party's own timeout passed; it broke the round for the others.
    Timeout,
}

impl fmt::Display for BarrierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BarrierError::Broken => f.write_str("broken barrier"),
            BarrierError::Timeout => f.write_str("barrier wait timed out"),
        }
    }
}

impl std::error::Error for BarrierError {}

const WAITING: u8 = 0;
const RELEASED: u8 = 1;
const BROKEN: u8 = 2;
const TIMED_OUT: u8 = 3;
/// The round is complete and its action runs; the last arrival releases it.
const TRIPPING: u8 = 4;

/// A party waiting in the current round, on its own stack. Every `Cell`
/// is read and written only under the barrier's `round` lock, or by the
/// owner after a waker readied it (which happens-after the waker's
/// unlock).
struct Waiter {
    // -- set by the owner before it is listed, then immutable --
    /// The waiting goroutine.
    g: GRef,
    /// The barrier, for the timeout callback.
    barrier: *const Barrier,
    // -- under `round` --
    /// `WAITING`, then the round's outcome, written by the party that
    /// completes, breaks or resets the round, or by the owner's timeout.
    outcome: Cell<u8>,
    /// While `TRIPPING`: the round it arrived in (`Round::trips`).
    trip: Cell<u64>,
    /// List links (`Round::waiting` or `Round::tripping`, or a releaser's
    /// `Detached` once taken off).
    links: Links<Waiter>,
}

gort_runtime::engine::linked!(Waiter, links, g);

/// The state of the current round; every field is under `Barrier::round`.
struct Round {
    /// Parties arrived in this round.
    count: usize,
    /// Set when a round breaks, cleared by `reset`.
    broken: bool,
    /// Waiting parties (O(1) removal on timeout).
    waiting: WaitList<Waiter>,
    /// Parties of completed rounds whose action still runs (`TRIPPING`),
    /// tagged with their round; listed here rather than on the tripper's
    /// stack so that a party unwound by a runtime drop can leave.
    tripping: WaitList<Waiter>,
    /// Rounds completed so far.
    trips: u64,
}

// SAFETY: the waiter records are touched only under the barrier's lock;
// their owners stay parked until taken off the list under it.
unsafe impl Send for Round {}

impl Round {
    /// # Safety
    /// Lock held; `w` alive and not listed, and stays put until the round
    /// ends for it.
    unsafe fn push(&mut self, w: &Waiter) {
        // SAFETY: guaranteed by the caller.
        unsafe { self.waiting.push_back(w) }
    }

    /// The round is complete: its parties move to the `tripping` list,
    /// tagged with the round's number, which is returned.
    fn start_trip(&mut self) -> u64 {
        let trip = self.trips;
        self.trips += 1;
        // SAFETY: listed records are alive; we hold the lock (`&mut self`
        // is the lock's guard).
        unsafe {
            for w in self.waiting.iter() {
                w.outcome.set(TRIPPING);
                w.trip.set(trip);
            }
            self.tripping.append(&self.waiting);
        }
        trip
    }

    /// The action of round `trip` is over: ends it for its parties still
    /// listed, with `outcome`, adding them to `out` to ready once the lock
    /// is released.
    fn end_trip(&mut self, trip: u64, outcome: u8, out: &mut Detached<Waiter>) {
        // SAFETY: listed records are alive; we hold the lock. The iterator
        // allows removing the record it just yielded; a party taken off
        // here waits for the ready `out` will give it.
        unsafe {
            for w in self.tripping.iter() {
                if w.trip.get() == trip {
                    self.tripping.remove(w);
                    w.outcome.set(outcome);
                    out.push(w);
                }
            }
        }
    }

    /// Ends the round for every listed waiter with `outcome`, adding them
    /// to `out` to ready once the lock is released.
    fn finish(&mut self, outcome: u8, out: &mut Detached<Waiter>) {
        // SAFETY: listed records are alive; we hold the lock; taking them
        // off under it makes us the party that readies them.
        unsafe {
            for w in self.waiting.iter() {
                w.outcome.set(outcome);
            }
            self.waiting.detach_all(out);
        }
    }
}

/// The unwind guard of a waiting party (see `gort_runtime::engine::park`'s docs):
/// if its runtime is dropped while it waits, it leaves the round it is
/// listed in (the current one, which it no longer counts in, or a tripping
/// one); if the round already ended for it, it waits out the `ready` of
/// whoever ended it.
struct Leave<'a> {
    b: &'a Barrier,
    w: &'a Waiter,
}

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        let mut round = self.b.round.lock();
        match self.w.outcome.get() {
            WAITING => {
                // SAFETY: lock held; still waiting means listed there.
                let removed = unsafe { round.waiting.remove(self.w) };
                debug_assert!(removed, "barrier: a waiting party was not listed");
                round.count -= 1;
            }
            TRIPPING => {
                // SAFETY: lock held; tripping means listed in `tripping`.
                let removed = unsafe { round.tripping.remove(self.w) };
                debug_assert!(removed, "barrier: a tripping party was not listed");
            }
            _ => {
                drop(round);
                gort_runtime::engine::wait_for_waker();
            }
        }
    }
}

type Action = Box<dyn FnMut() + Send>;

/// A reusable barrier for a fixed number of parties, the text's
/// CyclicBarrier. See the module docs.
///
/// ```
/// use std::sync::Arc;
/// use gort_sync::Barrier;
///
/// let b = Arc::new(Barrier::new(3));
/// let hs: Vec<_> = (0..3)
///     .map(|_| {
///         let b = b.clone();
///         gort_runtime::spawn(move || {
///             for _round in 0..5 {
///                 b.wait().unwrap(); // everyone passes together, 5 times
///             }
///         })
///     })
///     .collect();
/// for h in hs {
///     h.join().unwrap();
/// }
/// ```
pub struct Barrier {
    /// Parties per round; immutable.
    parties: usize,
    /// The round (and its waiter lists): a runtime lock, never held across
    /// a park except by the park callback that releases it.
    round: Lock<Round>,
    /// The action, run by the last party of each round while it holds
    /// this lock. A gort mutex, not a runtime lock: the action may block.
    action: crate::Mutex<Option<Action>>,
}

impl Barrier {
    /// A barrier for `parties` parties.
    ///
    /// # Panics
    /// If `parties` is 0 (the library's "parties must be positive number").
    #[track_caller]
    pub fn new(parties: usize) -> Barrier {
        assert!(parties > 0, "parties must be positive number");
        Barrier {
            parties,
            round: Lock::new(Round {
                count: 0,
                broken: false,
                waiting: WaitList::new(),
                tripping: WaitList::new(),
                trips: 0,
            }),
            action: crate::Mutex::new(None),
        }
    }

    /// A barrier whose `action` runs once per round, on the last party to
    /// arrive, before the others are released.
    #[track_caller]
    pub fn with_action(parties: usize, action: impl FnMut() + Send + 'static) -> Barrier {
        let b = Barrier::new(parties);
        *b.action.lock() = Some(Box::new(action));
        b
    }

    /// Waits until all parties have called `wait` in this round.
    pub fn wait(&self) -> Result<(), BarrierError> {
        self.wait_until(None)
    }

    /// Like [`Barrier::wait`], but gives up after `timeout`, breaking the
    /// round for the other parties.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<(), BarrierError> {
        let deadline = nanotime().saturating_add(timeout.as_nanos().min(i64::MAX as u128) as i64);
        self.wait_until(Some(deadline))
    }

    fn wait_until(&self, deadline: Option<i64>) -> Result<(), BarrierError> {
        preempt_point();
        let mut round = self.round.lock();
        if round.broken {
            return Err(BarrierError::Broken);
        }
        // The round trips (and the next opens) at exactly `parties`, so
        // the library's "called more than count of parties" cannot occur.
        round.count += 1;
        if round.count == self.parties {
            // Set this round's waiters aside and open the next round at
            // once; they stay parked until the action has run.
            let trip = round.start_trip();
            round.count = 0;
            drop(round);
            return self.trip(trip);
        }
        if deadline.is_some_and(|d| nanotime() >= d) {
            // Out of time before waiting: this party never joins the round,
            // which stays intact (the library does the same for a context
            // that is already done).
            round.count -= 1;
            return Err(BarrierError::Timeout);
        }
        let w = Waiter {
            g: current_g(),
            barrier: self,
            outcome: Cell::new(WAITING),
            trip: Cell::new(0),
            links: Links::new(),
        };
        // SAFETY: lock held; `w` stays put until the round ends for it.
        unsafe { round.push(&w) };
        let raw = round.leak();
        let unlock = |_| {
            // SAFETY: we hold the lock (leaked guard); we are parked now.
            unsafe { raw.unlock() };
            true
        };
        let guard = Leave { b: self, w: &w };
        match deadline {
            None => park_unwind_safe(WaitReason::SyncBarrierWait, unlock),
            Some(d) => gort_runtime::engine::park_timeout_unwind_safe(
                WaitReason::SyncBarrierWait,
                d,
                Self::on_timeout,
                &w as *const Waiter as usize,
                unlock,
            ),
        }
        std::mem::forget(guard);
        match w.outcome.get() {
            RELEASED => Ok(()),
            TIMED_OUT => Err(BarrierError::Timeout),
            _ => Err(BarrierError::Broken),
        }
    }

    /// The last party arrived: run the action, then release the waiters of
    /// round `trip`, or break the barrier if the action panicked (or its
    /// goroutine was unwound by a runtime drop, which catch_unwind sees as
    /// a panic and passes on).
    fn trip(&self, trip: u64) -> Result<(), BarrierError> {
        let outcome = {
            let mut action = self.action.lock();
            match action.as_mut() {
                Some(a) => catch_unwind(AssertUnwindSafe(a)),
                None => Ok(()),
            }
        };
        let mut round = self.round.lock();
        // Outcomes are written under the lock: a waiter's timeout reads
        // them under it.
        let mut woken = Detached::new();
        let mark = if outcome.is_ok() { RELEASED } else { BROKEN };
        round.end_trip(trip, mark, &mut woken);
        if outcome.is_err() {
            // The barrier breaks: the next round's early arrivals too.
            self.break_round(&mut round, &mut woken);
        }
        drop(round);
        woken.ready_all();
        if let Err(p) = outcome {
            resume_unwind(p);
        }
        Ok(())
    }

    /// Marks the round broken and detaches its waiters into `out` (lock
    /// held).
    fn break_round(&self, round: &mut Round, out: &mut Detached<Waiter>) {
        round.broken = true;
        round.finish(BROKEN, out);
    }

    /// The deadline of a waiting party passed. It may fire before the
    /// party's park callback released the round lock (`park_timeout` arms
    /// the timer before the callback runs):
    /// taking that lock waits for it, and the party is listed by then.
    fn on_timeout(arg: usize, _delay: i64) {
        // SAFETY: `arg` is the waiter's record, alive until park_timeout
        // returns (which waits for this callback); the barrier is borrowed
        // by the waiter.
        let (w, b) = unsafe {
            let w = &*(arg as *const Waiter);
            (w, &*w.barrier)
        };
        let mut round = b.round.lock();
        if w.outcome.get() != WAITING {
            return; // released, tripping or broken first: whoever did readies it
        }
        // SAFETY: lock held; still waiting means still listed.
        let removed = unsafe { round.waiting.remove(w) };
        debug_assert!(removed, "barrier: a waiting party was not listed");
        round.count -= 1;
        w.outcome.set(TIMED_OUT);
        let mut others = Detached::new();
        b.break_round(&mut round, &mut others);
        let g = w.g;
        drop(round);
        // SAFETY: we took `w` off the list under the lock: ours to ready,
        // and `g` was read before the record may go away.
        unsafe { ready(g) };
        others.ready_all();
    }

    /// Breaks the current round if parties are waiting in it (they return
    /// `Broken`) and starts a fresh, unbroken round.
    pub fn reset(&self) {
        let mut round = self.round.lock();
        let mut woken = Detached::new();
        if round.count > 0 {
            round.finish(BROKEN, &mut woken);
        }
        round.count = 0;
        round.broken = false;
        drop(round);
        woken.ready_all();
    }

    /// The number of parties the barrier waits for.
    pub fn parties(&self) -> usize {
        self.parties
    }

    /// The number of parties waiting in the current round.
    pub fn number_waiting(&self) -> usize {
        self.round.lock().count
    }

    /// Whether the barrier is broken (until [`Barrier::reset`]).
    pub fn is_broken(&self) -> bool {
        self.round.lock().broken
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.round.lock();
        f.debug_struct("Barrier")
            .field("parties", &self.parties)
            .field("waiting", &r.count)
            .field("broken", &r.broken)
            .finish()
    }
}
