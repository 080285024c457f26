//! Model checks (loom) of a poll descriptor's state machine (the `pd.rs`
//! module docs; Go's `netpollblock`, `netpollblockcommit` and
//! `netpollunblock` in runtime/netpoll.go): a goroutine parking for
//! readiness and an async task registering a waker, against the poller's
//! readiness and a close, on one direction of one descriptor.
//!
//! ```text
//! RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
//!     cargo test --release -p gort-netpoll --test loom_pd
//! ```
//!
//! The transitions are the real `pd/state.rs` (`begin`, `unblock_to`,
//! `holds_waiter`), and the wait slot with its accessors is the real
//! `pd/slot.rs`, compiled with loom's cell and atomic (its `loom_shim`):
//! loom checks every access to the G or the waker in the slot against the
//! state word's orderings. The steps around them need the scheduler
//! (park/ready), timers and the poller, so the model has a copy of
//! `PollDesc::start`, `block`, `register`, `unblock` and `wake` (`pd.rs`),
//! of the poller's `dispatch` (`poller.rs`), and of what the socket does
//! around them: `FD::check`, `wait` and `evict` (`fd.rs`) and `poll_wait`
//! (`fd/poll.rs`). `the_model_mirrors_the_poll_descriptor` (it runs in
//! every build, not only under loom) checks that those still contain the
//! statements the copy makes, in the same order and with the same
//! orderings: change the model with them.
//!
//! The actors, each on a loom thread of its own (not on the model's main
//! thread, whose accesses loom's race detection misses against a thread
//! spawned before them, tokio-rs/loom#392):
//! - the parker, a blocking read (`FD::wait`): check close, then `block`
//!   until it consumes readiness or its re-check sees the close;
//! - the registrant, an async poll (`poll_wait`): `register` once;
//! - the poller: one readiness event (`dispatch`, `unblock(mode, true)`),
//!   readying the G or waking the waker it took out;
//! - the closer (`evict`): stores the closing flag, then `wake`s.
//!
//! The parker and the registrant take the direction's lock (the socket's
//! fdMutex, a loom mutex here) around their waits; the parker holds it
//! while parked, as a blocking read does. The models run the waiters with
//! and without the poller: its readiness ends any wait by itself, so the
//! worlds without it are the ones where a missed close would show. Every
//! execution checks:
//! - every wait ends, each committed park is readied exactly once and each
//!   registered waker woken exactly once. A lost wake-up shows as the G
//!   still parked once the poller and the closer are done, or as a waker
//!   still registered at the end;
//! - the slot is read only after it was written, by whoever the state word
//!   hands it to (loom's cell reports a causality violation otherwise);
//! - no wait stays parked or registered after the close: the word ends in
//!   `NIL` or `READY`;
//! - the readiness is consumed exactly once: by a wait, or, if it found
//!   nobody waiting, by the next wait (which the model runs at the end);
//! - the poller's waiter count is back to 0.
//!
//! Each model also asserts that every way out of the race occurred in some
//! execution (the `*_WAYS` lists: readiness found pending, the close seen
//! by the waiter's check, a failed commit, woken by each unblocker...), so
//! that loom is seen to explore the race.
//!
//! Orderings: loom treats SeqCst loads and read-modify-writes as AcqRel and
//! only `fence(SeqCst)` as SeqCst. The Dekker pair of `pd.rs` (a waiter's
//! SeqCst `-> WAIT` and then its SeqCst load of the closing flag, against
//! the closer's SeqCst store and then `unblock`'s SeqCst first load) is
//! therefore modelled with a `fence(SeqCst)` after the waiter's CAS and
//! before `unblock`'s load, which C11 orders as it orders the four SeqCst
//! accesses. Everything else keeps the real code's orderings.
//!
//! The mutation tests keep the model honest, each against a close with a
//! parker: with `unblock`'s first load weakened (no fence: an Acquire
//! load) or with `check` moved before `NIL -> WAIT`, the goroutine stays
//! parked (lost wake-up); with the commits made Relaxed, the closer reads
//! the G before it was written (a causality violation in loom's cell).
//!
//! Not modelled: deadlines (a deadline setter stores and then wakes, as
//! the closer does; a deadline timer unblocks as the closer does, but
//! hands a waker to the poller), the poller's drop (`is_dead_seqcst`,
//! `take_waker`), the unwind guard `Unpark`, `reset`, the bind lock of
//! `wake_waiters`, and a waker replaced by another registration.

/// The statements of the real code the model copies, per file and
/// function, in order (whitespace is not significant).
const MIRRORED: &[test_support::Mirrored] = &[
    (
        "pd.rs",
        "fn start(",
        &[
            "let step = begin(old);",
            "let Some(new) = step.to() else { panic!(\"runtime: double wait\") };",
            "match w.state.compare_exchange(old, new, Ordering::SeqCst, Ordering::Acquire) {",
            "Begin::Consume => None,",
            "Begin::Replace => {",
            "let k = unsafe { w.take_waker() };",
            "self.owner().waiters.dec(self);",
            "Err(cur) => old = cur,",
        ],
    ),
    (
        "pd.rs",
        "pub(crate) fn block(",
        &[
            "let replaced = match self.start(w) {",
            "None => return true,",
            "if let Some(k) = replaced {",
            "k.wake();",
            "if let Some(deadline) = check() {",
            "unsafe { w.put_g(g) };",
            "owner.waiters.inc(self);",
            "if w.state.compare_exchange(WAIT, PARKED, Ordering::AcqRel, Ordering::Acquire).is_ok() {",
            "owner.waiters.dec(self);",
            "gort_runtime::engine::park_unwind_safe(WaitReason::IoWait, commit);",
            "w.state.swap(NIL, Ordering::AcqRel) == READY",
        ],
    ),
    (
        "pd.rs",
        "pub(crate) fn register(",
        &[
            "let replaced = match self.start(w) {",
            "None => return false,",
            "let Some(deadline) = check() else {",
            "w.state.swap(NIL, Ordering::AcqRel);",
            "if let Some(k) = replaced.filter(|k| !k.will_wake(waker)) {",
            "k.wake();",
            "return false;",
            "Some(old) if old.will_wake(waker) => old,",
            "_ => waker.clone(),",
            "unsafe { w.put_waker(k) };",
            "owner.waiters.inc(self);",
            "if w.state.compare_exchange(WAIT, WAKER, Ordering::AcqRel, Ordering::Acquire).is_err() {",
            "drop(unsafe { w.take_waker() });",
            "owner.waiters.dec(self);",
            "w.state.swap(NIL, Ordering::AcqRel);",
            "return false;",
        ],
    ),
    (
        "pd.rs",
        "pub(crate) fn unblock(",
        &[
            "let mut old = w.state.load(Ordering::SeqCst);",
            "let Some(new) = unblock_to(old, ioready) else { return Woken::Nobody };",
            "match w.state.compare_exchange(old, new, Ordering::SeqCst, Ordering::Acquire) {",
            "Ok(_) if holds_waiter(old) => {",
            "if old == PARKED {",
            "let g = unsafe { w.g() };",
            "return Woken::G(g);",
            "let k = unsafe { w.take_waker() };",
            "return Woken::Waker(k);",
            "Ok(_) => return Woken::Nobody,",
            "Err(cur) => old = cur,",
        ],
    ),
    (
        "pd.rs",
        "pub(crate) fn wake(",
        &[
            "match self.unblock(mode, false) {",
            "Woken::G(g) => {",
            "self.owner().waiters.dec(self);",
            "unsafe { gort_runtime::engine::ready(g) };",
            "Woken::Waker(k) => {",
            "self.owner().waiters.dec(self);",
            "k.wake();",
        ],
    ),
    (
        "poller.rs",
        "fn dispatch(",
        &[
            "match pd.unblock(mode, true) {",
            "Woken::Nobody => continue,",
            "Woken::G(g) => ready.push(g),",
            "Woken::Waker(k) => wakers.push(k),",
            "delta[Waiters::shard(pd)] += 1;",
        ],
    ),
    ("poller.rs", "pub(crate) fn inc(", &["fetch_add(1, Ordering::SeqCst);"]),
    ("poller.rs", "pub(crate) fn dec(", &["fetch_sub(1, Ordering::SeqCst);"]),
    (
        "fd.rs",
        "fn check(",
        &["if self.closing.load(Ordering::SeqCst) {", "return Err(crate::closed());", "Ok(d)"],
    ),
    (
        "fd.rs",
        "pub(crate) fn wait(",
        &[
            "self.check(mode, op_deadline)?;",
            "while !pd.block(mode, || self.check(mode, op_deadline).ok()) {",
            "self.check(mode, op_deadline)?;",
        ],
    ),
    (
        "fd.rs",
        "fn evict(",
        &["self.closing.store(true, Ordering::SeqCst);", "self.wake_waiters(Mode::Read);"],
    ),
    ("fd.rs", "fn wake_waiters(", &["pd.wake(mode);"]),
    (
        "fd/poll.rs",
        "fn poll_wait(",
        &[
            "if pd.register(mode, cx.waker(), || self.check(mode, op_deadline).ok()) {",
            "return Poll::Pending;",
            "self.check(mode, op_deadline)?;",
        ],
    ),
];

#[test]
fn the_model_mirrors_the_poll_descriptor() {
    test_support::check_mirror(env!("CARGO_MANIFEST_DIR"), "netpoll/tests/loom_pd.rs", MIRRORED);
}

#[cfg(loom)]
#[allow(dead_code)]
#[path = "../src/pd/state.rs"]
mod state;

#[cfg(loom)]
#[allow(dead_code)]
#[path = "../src/pd/slot.rs"]
mod slot;

#[cfg(loom)]
mod model {
    use std::collections::BTreeSet;
    use std::sync::atomic::AtomicUsize as StdAtomicUsize;
    use std::sync::atomic::Ordering::Relaxed;
    use std::task::{Wake, Waker};

    use loom::cell::UnsafeCell;
    use loom::sync::atomic::{AtomicBool, AtomicIsize, AtomicU32, Ordering, fence};
    use loom::sync::{Arc, Condvar, Mutex};
    use loom::thread;

    use crate::slot::loom_shim::GRef;
    use crate::slot::{Slot, Waiter, Woken};
    use crate::state::{Begin, NIL, PARKED, READY, WAIT, WAKER, begin, holds_waiter, unblock_to};

    /// What a mutation test changes; `REAL` is `pd.rs`.
    #[derive(Clone, Copy)]
    struct Protocol {
        /// The fence before `unblock`'s first load, which stands for that
        /// load being SeqCst (false: an Acquire load).
        unblock_fence: bool,
        /// The success and failure orderings of the commits
        /// `WAIT -> PARKED` and `WAIT -> WAKER`.
        commit: (Ordering, Ordering),
        /// `block` runs `check` before `start` publishes `WAIT`.
        check_first: bool,
    }

    const REAL: Protocol =
        Protocol { unblock_fence: true, commit: (Ordering::AcqRel, Ordering::Acquire), check_first: false };

    /// Which actors run besides the closer.
    #[derive(Clone, Copy)]
    struct World {
        parker: bool,
        registrant: bool,
        /// The poller's readiness event. It ends any wait by itself, so
        /// the worlds without it are the ones that check the close.
        poller: bool,
    }

    /// Who calls a copied step, for the record of the ways out.
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Who {
        Parker,
        Registrant,
        /// The wait the model runs after the actors.
        Next,
    }

    /// The parker's goroutine: parked by the model's `park`, readied by
    /// its `ready` (the runtime's park/ready contract: one ready per
    /// committed park).
    struct G {
        state: Mutex<GState>,
        cv: Condvar,
    }

    #[derive(Default)]
    struct GState {
        /// Committed and asleep (or about to be).
        parked: bool,
        /// Readied, not yet resumed.
        pending: bool,
        /// The parker's wait returned.
        done: bool,
    }

    impl GState {
        /// Parked and not readied: only an unblocker can wake it.
        fn asleep(&self) -> bool {
            self.parked && !self.pending
        }
    }

    /// The ways out of the race seen, over all executions of one model
    /// (std: it outlives loom's executions).
    type Ways = std::sync::Arc<std::sync::Mutex<BTreeSet<&'static str>>>;

    /// One direction of one descriptor, with its socket's closing flag and
    /// lock and the poller's waiter count.
    struct Pd {
        /// The state word (`PollDesc::state[mode]`).
        state: AtomicU32,
        /// The wait slot (`PollDesc::slot[mode]`).
        slot: UnsafeCell<Slot>,
        /// The poller's waiter count (`Waiters`, one shard).
        waiters: AtomicIsize,
        /// The socket's closing flag (`FD::closing`).
        closing: AtomicBool,
        /// The direction's fdMutex.
        fd_lock: Mutex<()>,
        g: G,
        proto: Protocol,
        // Bookkeeping in std atomics: not part of the protocol, and no
        // scheduling points for loom.
        /// Transitions into READY (the poller's).
        into_ready: StdAtomicUsize,
        /// Transitions out of READY (a wait consumed the readiness).
        consumed: StdAtomicUsize,
        parks: StdAtomicUsize,
        readies: StdAtomicUsize,
        ways: Ways,
    }

    impl Pd {
        fn waiter(&self) -> Waiter<'_> {
            Waiter { state: &self.state, slot: &self.slot }
        }

        fn way(&self, way: &'static str) {
            self.ways.lock().unwrap().insert(way);
        }

        /// Counts a swap out of READY.
        fn consumed_if(&self, was: u32) -> u32 {
            if was == READY {
                self.consumed.fetch_add(1, Relaxed);
            }
            was
        }
    }

    /// The registrant's task: counts its wake-ups.
    #[derive(Default)]
    struct Task {
        wakes: StdAtomicUsize,
    }

    impl Wake for Task {
        fn wake(self: std::sync::Arc<Self>) {
            self.wakes.fetch_add(1, Relaxed);
        }
    }

    /// `engine::park_unwind_safe`: the commit runs once the goroutine is
    /// off its stack; if it succeeds, the goroutine sleeps until readied.
    fn park(pd: &Pd, commit: impl FnOnce(GRef) -> bool) {
        if !commit(GRef(1)) {
            return;
        }
        pd.parks.fetch_add(1, Relaxed);
        let mut s = pd.g.state.lock().unwrap();
        s.parked = true;
        pd.g.cv.notify_all();
        while !s.pending {
            s = pd.g.cv.wait(s).unwrap();
        }
        s.pending = false;
        s.parked = false;
    }

    /// `engine::ready`.
    fn ready(pd: &Pd, g: GRef) {
        assert_eq!(g, GRef(1), "the slot held the parker's G");
        pd.readies.fetch_add(1, Relaxed);
        let mut s = pd.g.state.lock().unwrap();
        assert!(!s.pending, "a goroutine readied twice for one park");
        s.pending = true;
        pd.g.cv.notify_all();
    }

    // The copy of pd.rs (what `MIRRORED` checks), with the bookkeeping.

    /// `PollDesc::start`.
    fn start(pd: &Pd, who: Who) -> Option<Option<Waker>> {
        let w = pd.waiter();
        let mut old = NIL;
        loop {
            let step = begin(old);
            let Some(new) = step.to() else { panic!("runtime: double wait") };
            match w.state.compare_exchange(old, new, Ordering::SeqCst, Ordering::Acquire) {
                Ok(_) => {
                    // The CAS's SeqCst, which loom does not model (module
                    // docs): the waiter's half of the Dekker pair.
                    fence(Ordering::SeqCst);
                    return match step {
                        Begin::Consume => {
                            pd.consumed.fetch_add(1, Relaxed);
                            pd.way(match who {
                                Who::Parker => "parker: found the readiness pending",
                                Who::Registrant => "registrant: found the readiness pending",
                                Who::Next => "readiness that found nobody: the next wait consumed it",
                            });
                            None
                        }
                        Begin::Replace => {
                            // SAFETY: our CAS took the word out of WAKER,
                            // which the registrant set after filling it.
                            let k = unsafe { w.take_waker() };
                            pd.waiters.fetch_sub(1, Ordering::SeqCst);
                            Some(Some(k))
                        }
                        _ => Some(None),
                    };
                }
                Err(cur) => old = cur,
            }
        }
    }

    /// `PollDesc::block` (no deadline: `check` gives 0 or None).
    fn block(pd: &Pd, who: Who, check: impl FnOnce() -> Option<i64>) -> bool {
        let w = pd.waiter();
        let mut check = Some(check);
        let early = if pd.proto.check_first { Some(check.take().unwrap()()) } else { None };
        let replaced = match start(pd, who) {
            None => return true,
            Some(r) => r,
        };
        if let Some(k) = replaced {
            pd.way("registrant: woken by the parker replacing its waker");
            k.wake();
        }
        let checked = early.unwrap_or_else(|| check.take().unwrap()());
        if let Some(_deadline) = checked {
            let commit = |g: GRef| {
                // SAFETY: we moved the word into WAIT and have not
                // committed: the slot is ours.
                unsafe { w.put_g(g) };
                pd.waiters.fetch_add(1, Ordering::SeqCst);
                let (ok, fail) = pd.proto.commit;
                match w.state.compare_exchange(WAIT, PARKED, ok, fail) {
                    Ok(_) => true,
                    Err(cur) => {
                        pd.way(if cur == READY {
                            "parker: commit failed: readiness"
                        } else {
                            "parker: commit failed: close"
                        });
                        pd.waiters.fetch_sub(1, Ordering::SeqCst);
                        false
                    }
                }
            };
            park(pd, commit);
        } else {
            pd.way("parker: saw the close after publishing WAIT");
        }
        pd.consumed_if(w.state.swap(NIL, Ordering::AcqRel)) == READY
    }

    /// `PollDesc::register` (no deadline; the poller's drop is not
    /// modelled, so neither is the `is_dead_seqcst` check after the
    /// commit).
    fn register(pd: &Pd, waker: &Waker, check: impl FnOnce() -> Option<i64>) -> bool {
        let w = pd.waiter();
        let replaced = match start(pd, Who::Registrant) {
            None => return false,
            Some(r) => r,
        };
        let Some(_deadline) = check() else {
            pd.consumed_if(w.state.swap(NIL, Ordering::AcqRel));
            if let Some(k) = replaced.filter(|k| !k.will_wake(waker)) {
                k.wake();
            }
            pd.way("registrant: saw the close after publishing WAIT");
            return false;
        };
        let k = match replaced {
            Some(old) if old.will_wake(waker) => old,
            _ => waker.clone(),
        };
        // SAFETY: we moved the word into WAIT and have not committed.
        unsafe { w.put_waker(k) };
        pd.waiters.fetch_add(1, Ordering::SeqCst);
        let (ok, fail) = pd.proto.commit;
        if let Err(cur) = w.state.compare_exchange(WAIT, WAKER, ok, fail) {
            pd.way(if cur == READY {
                "registrant: commit failed: readiness"
            } else {
                "registrant: commit failed: close"
            });
            // SAFETY: the commit failed, so nobody took the waker we put.
            drop(unsafe { w.take_waker() });
            pd.waiters.fetch_sub(1, Ordering::SeqCst);
            pd.consumed_if(w.state.swap(NIL, Ordering::AcqRel));
            return false;
        }
        true
    }

    /// `PollDesc::unblock`.
    fn unblock(pd: &Pd, ioready: bool) -> Woken {
        let w = pd.waiter();
        if pd.proto.unblock_fence {
            // The first load's SeqCst, which loom does not model (module
            // docs): the unblocker's half of the Dekker pair.
            fence(Ordering::SeqCst);
        }
        let mut old = w.state.load(Ordering::SeqCst);
        loop {
            let Some(new) = unblock_to(old, ioready) else { return Woken::Nobody };
            match w.state.compare_exchange(old, new, Ordering::SeqCst, Ordering::Acquire) {
                Ok(_) if holds_waiter(old) => {
                    if new == READY {
                        pd.into_ready.fetch_add(1, Relaxed);
                    }
                    if old == PARKED {
                        // SAFETY: our CAS took the word out of PARKED,
                        // which the parker set after filling the slot.
                        let g = unsafe { w.g() };
                        return Woken::G(g);
                    }
                    // SAFETY: our CAS took the word out of WAKER, which
                    // the registrant set after filling the slot.
                    let k = unsafe { w.take_waker() };
                    return Woken::Waker(k);
                }
                Ok(_) => {
                    if new == READY {
                        pd.into_ready.fetch_add(1, Relaxed);
                    }
                    return Woken::Nobody;
                }
                Err(cur) => old = cur,
            }
        }
    }

    /// `PollDesc::wake`, for the closer.
    fn wake(pd: &Pd) {
        match unblock(pd, false) {
            Woken::Nobody => {}
            Woken::G(g) => {
                pd.waiters.fetch_sub(1, Ordering::SeqCst);
                pd.way("parker: readied by the closer");
                ready(pd, g);
            }
            Woken::Waker(k) => {
                pd.waiters.fetch_sub(1, Ordering::SeqCst);
                pd.way("registrant: woken by the closer");
                k.wake();
            }
        }
    }

    // The actors.

    /// `FD::check`: None if closing (no deadlines in the model).
    fn check(pd: &Pd) -> Option<i64> {
        if pd.closing.load(Ordering::SeqCst) { None } else { Some(0) }
    }

    /// `FD::wait` under the direction's lock: true once readiness was
    /// consumed, false on close.
    fn parker(pd: &Pd) -> bool {
        let _lock = pd.fd_lock.lock().unwrap();
        if check(pd).is_none() {
            pd.way("parker: saw the close before waiting");
            return false;
        }
        while !block(pd, Who::Parker, || check(pd)) {
            if check(pd).is_none() {
                return false;
            }
        }
        true
    }

    /// `poll_wait` under the direction's lock: whether the waker is
    /// registered (the poll returns `Pending`).
    fn registrant(pd: &Pd, waker: Waker) -> bool {
        let _lock = pd.fd_lock.lock().unwrap();
        register(pd, &waker, || check(pd))
    }

    /// The poller's `dispatch` of one readiness event, and its handling of
    /// what it took out.
    fn poller(pd: &Pd) {
        match unblock(pd, true) {
            Woken::Nobody => {}
            Woken::G(g) => {
                pd.waiters.fetch_sub(1, Ordering::SeqCst);
                pd.way("parker: readied by the poller");
                ready(pd, g);
            }
            Woken::Waker(k) => {
                pd.waiters.fetch_sub(1, Ordering::SeqCst);
                pd.way("registrant: woken by the poller");
                k.wake();
            }
        }
    }

    /// `FD::evict`, for the one direction.
    fn closer(pd: &Pd) {
        pd.closing.store(true, Ordering::SeqCst);
        wake(pd);
    }

    fn state_name(s: u32) -> &'static str {
        ["NIL", "READY", "WAIT", "PARKED", "WAKER"].get(s as usize).copied().unwrap_or("?")
    }

    /// Runs every execution of `world` up to `preemptions` preemptions;
    /// returns the ways out of the race seen.
    fn run(proto: Protocol, world: World, preemptions: Option<usize>) -> BTreeSet<&'static str> {
        let ways = Ways::default();
        let ways2 = ways.clone();
        let executions = std::sync::Arc::new(StdAtomicUsize::new(0));
        let executions2 = executions.clone();
        let mut b = loom::model::Builder::new();
        b.preemption_bound = preemptions;
        b.check(move || {
            executions2.fetch_add(1, Relaxed);
            let pd = Arc::new(Pd {
                state: AtomicU32::new(NIL),
                slot: UnsafeCell::new(Slot { none: () }),
                waiters: AtomicIsize::new(0),
                closing: AtomicBool::new(false),
                fd_lock: Mutex::new(()),
                g: G { state: Mutex::new(GState::default()), cv: Condvar::new() },
                proto,
                into_ready: StdAtomicUsize::new(0),
                consumed: StdAtomicUsize::new(0),
                parks: StdAtomicUsize::new(0),
                readies: StdAtomicUsize::new(0),
                ways: ways2.clone(),
            });
            let task = std::sync::Arc::new(Task::default());

            let parker = world.parker.then(|| {
                let pd = pd.clone();
                thread::spawn(move || {
                    parker(&pd);
                    pd.g.state.lock().unwrap().done = true;
                    pd.g.cv.notify_all();
                })
            });
            let registrant = world.registrant.then(|| {
                let pd = pd.clone();
                let waker = Waker::from(task.clone());
                thread::spawn(move || registrant(&pd, waker))
            });
            let poller = world.poller.then(|| {
                let pd = pd.clone();
                thread::spawn(move || poller(&pd))
            });
            let pd2 = pd.clone();
            let closer = thread::spawn(move || closer(&pd2));
            if let Some(poller) = poller {
                poller.join().unwrap();
            }
            closer.join().unwrap();

            // Nobody is left to ready the parker: it must not be asleep.
            if let Some(parker) = parker {
                let mut s = pd.g.state.lock().unwrap();
                while !s.done && !s.asleep() {
                    s = pd.g.cv.wait(s).unwrap();
                }
                assert!(s.done, "lost wake-up: the goroutine stays parked with nobody left to ready it");
                drop(s);
                parker.join().unwrap();
            }
            let registered = registrant.map(|r| r.join().unwrap());

            let s = pd.state.load(Ordering::SeqCst);
            assert!(s == NIL || s == READY, "lost wake-up: the word stays {} after the close", state_name(s));
            let (parks, readies) = (pd.parks.load(Relaxed), pd.readies.load(Relaxed));
            assert_eq!(readies, parks, "each committed park is readied exactly once");
            let wakes = task.wakes.load(Relaxed);
            if registered == Some(true) {
                assert_eq!(wakes, 1, "a registered waker is woken exactly once");
            } else {
                assert_eq!(wakes, 0, "a waker that was not registered is not woken");
            }
            assert_eq!(pd.waiters.load(Ordering::SeqCst), 0, "the poller's waiter count is back to 0");
            let (into, out) = (pd.into_ready.load(Relaxed), pd.consumed.load(Relaxed));
            assert_eq!(into, world.poller as usize, "the poller's event moved the word to READY");
            if s == READY {
                assert_eq!(out, 0, "readiness consumed and still pending");
                // The next wait, even after the close, takes it.
                assert!(block(&pd, Who::Next, || check(&pd)), "the next wait consumes the pending readiness");
            } else {
                assert_eq!(out, into, "the readiness was consumed exactly once");
            }
        });
        eprintln!("{} executions", executions.load(Relaxed));
        std::mem::take(&mut *ways.lock().unwrap())
    }

    const PARKER_WAYS: &[&str] = &[
        "parker: found the readiness pending",
        "parker: commit failed: readiness",
        "parker: readied by the poller",
        "readiness that found nobody: the next wait consumed it",
    ];

    /// The ways out of the close's Dekker pair.
    const PARKER_CLOSE_WAYS: &[&str] = &[
        "parker: saw the close before waiting",
        "parker: saw the close after publishing WAIT",
        "parker: commit failed: close",
        "parker: readied by the closer",
    ];

    const REGISTRANT_WAYS: &[&str] = &[
        "registrant: found the readiness pending",
        "registrant: commit failed: readiness",
        "registrant: woken by the poller",
        "readiness that found nobody: the next wait consumed it",
    ];

    const REGISTRANT_CLOSE_WAYS: &[&str] = &[
        "registrant: saw the close after publishing WAIT",
        "registrant: commit failed: close",
        "registrant: woken by the closer",
    ];

    /// Both waiters: a parker also finds the registered waker.
    const BOTH_WAYS: &[&str] = &["registrant: woken by the parker replacing its waker"];

    fn check_ways(seen: BTreeSet<&'static str>, want: &[&[&'static str]]) {
        let want: BTreeSet<&'static str> = want.iter().flat_map(|w| w.iter().copied()).collect();
        let missing: Vec<_> = want.difference(&seen).collect();
        assert!(missing.is_empty(), "ways out of the race never explored: {missing:?}");
    }

    /// Preemption bounds: every execution with at most this many
    /// preemptions is explored (the worlds with one waiter and no poller
    /// are explored whole, 7,000 and 500 executions). About 50,000
    /// executions with the parker and the poller, 9,000 with the
    /// registrant and the poller, 58,000 with both waiters and the poller
    /// (bound 2) and 27,000 with both and no poller; the whole file takes
    /// about 25 s on two loaded cores. The mutation tests use 2, at which
    /// loom already finds each bug.
    const BOUND: Option<usize> = Some(3);
    const BOUND_BOTH: Option<usize> = Some(2);
    const BOUND_BOTH_CLOSE: Option<usize> = Some(3);
    const MUTATION_BOUND: Option<usize> = Some(2);

    const PARKER: World = World { parker: true, registrant: false, poller: true };
    const REGISTRANT: World = World { parker: false, registrant: true, poller: true };
    const BOTH: World = World { parker: true, registrant: true, poller: true };
    const PARKER_CLOSE: World = World { poller: false, ..PARKER };
    const REGISTRANT_CLOSE: World = World { poller: false, ..REGISTRANT };
    const BOTH_CLOSE: World = World { poller: false, ..BOTH };

    #[test]
    fn a_parked_wait_ends_once_against_readiness_and_close() {
        check_ways(run(REAL, PARKER, BOUND), &[PARKER_WAYS, PARKER_CLOSE_WAYS]);
    }

    #[test]
    fn a_close_alone_ends_a_parked_wait() {
        check_ways(run(REAL, PARKER_CLOSE, None), &[PARKER_CLOSE_WAYS]);
    }

    #[test]
    fn a_registered_waker_is_woken_once_against_readiness_and_close() {
        check_ways(run(REAL, REGISTRANT, BOUND), &[REGISTRANT_WAYS, REGISTRANT_CLOSE_WAYS]);
    }

    #[test]
    fn a_close_alone_wakes_a_registered_waker() {
        check_ways(run(REAL, REGISTRANT_CLOSE, None), &[REGISTRANT_CLOSE_WAYS]);
    }

    #[test]
    fn a_parker_and_a_registrant_share_a_direction() {
        check_ways(run(REAL, BOTH, BOUND_BOTH), &[BOTH_WAYS]);
    }

    #[test]
    fn a_close_alone_ends_both_waits() {
        check_ways(run(REAL, BOTH_CLOSE, BOUND_BOTH_CLOSE), &[BOTH_WAYS, PARKER_CLOSE_WAYS]);
    }

    #[test]
    #[should_panic(expected = "lost wake-up")]
    fn without_unblocks_seqcst_load_a_close_is_missed() {
        run(Protocol { unblock_fence: false, ..REAL }, PARKER_CLOSE, MUTATION_BOUND);
    }

    #[test]
    #[should_panic(expected = "Causality violation")]
    fn a_relaxed_commit_hands_over_an_unwritten_slot() {
        run(
            Protocol { commit: (Ordering::Relaxed, Ordering::Relaxed), ..REAL },
            PARKER_CLOSE,
            MUTATION_BOUND,
        );
    }

    #[test]
    #[should_panic(expected = "lost wake-up")]
    fn checking_before_publishing_wait_misses_a_close() {
        run(Protocol { check_first: true, ..REAL }, PARKER_CLOSE, MUTATION_BOUND);
    }
}
