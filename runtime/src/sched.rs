//! Scheduler state shared by all Ms of one runtime, and the thread
//! management around it: idle Ps and Ms, spinning accounting, starting and
//! stopping Ms, handing Ps off.
//!
//! Go: runtime/runtime2.go (`schedt`), runtime/proc.go (`wakep`, `startm`,
//! `stopm`, `handoffp`, `pidleget`, `pidleput`, `mget`, `mput`, `newm`,
//! `injectglist`).
//!
//! ## Spinning Ms and lost wake-ups (Go's proc.go header comment)
//!
//! An M with a P and nothing to run *spins*: it looks for work to steal
//! before parking. At most half the busy Ps have a spinning M
//! (`2 * nmspinning < nprocs - npidle`). The invariants that keep
//! parallelism without thundering herds:
//! - whoever submits work (ready, spawn, a timer) publishes it, then reads
//!   `nmspinning` (the publication is an RMW or is followed by a SeqCst
//!   fence), and calls `wakep` if nobody spins and a P is idle;
//! - a spinning M that finds work stops spinning and calls `wakep`, so the
//!   next one takes over looking (`reset_spinning`);
//! - a spinning M that gives up decrements `nmspinning` (SeqCst RMW) and
//!   then re-checks every run queue and the global queue before parking.
//!
//! The two SeqCst sides form a Dekker pair: either the submitter sees
//! `nmspinning > 0` (and the spinner will see its work) or the spinner sees
//! the work in its re-check. `needspinning` covers the window in which no P
//! is idle yet: `wakep` sets it, and the next M to release its P becomes
//! spinning instead.
//!
//! `runtime/tests/loom_spinning.rs` model-checks this protocol with a
//! mirror of `wakep`, `startm`, `stopm` and `find_runnable`'s give-up path;
//! a test there fails when the statements it mirrors change (here, in
//! `findrunnable.rs`, `p.rs` or `park.rs`): change the model with them.
//!
//! ## How many Ms
//!
//! `startm` wakes an idle M when there is one and starts a new thread only
//! when none is idle. Ms multiply when calls block their threads: sysmon
//! hands each such M's P to another M (Go does the same for syscalls). Go
//! keeps idle Ms forever; gort lets an idle M that has waited
//! `thread_keep_alive` (10 s by default) exit while the runtime has more
//! than `max_procs + IDLE_M_RESERVE` Ms not parked with a locked goroutine
//! (`idle_m_sleep`), so a burst of blocking calls does not leave its
//! threads behind. sysmon joins exited threads once a second
//! (`reap_exited_ms`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicPtr, AtomicU32, AtomicU64, Ordering, fence};

use crossbeam_deque::Injector;

use crate::g::{GRef, status};
use crate::lock::Lock;
use crate::m::{M, MLocal};
use crate::p::{OwnedP, P, StealOrder};
use crate::poll::Poller;
use crate::procresize::{AllP, Stw};
use crate::runtime::Config;
use crate::stack::StackPool;

/// Go's `maxmcount`: more Ms than this is a fatal error.
pub(crate) const MAX_M_COUNT: u32 = 10_000;

/// An M's id and its thread, to join.
pub(crate) type MThread = (u32, std::thread::JoinHandle<()>);

/// The lists protected by the scheduler lock (Go: `sched.lock`): every
/// field is read and written only under `Sched::idle`.
pub(crate) struct Idle {
    /// Idle Ps by index (Go: `pidle`).
    pub(crate) pidle: Vec<usize>,
    /// Idle Ms (Go: `midle`).
    pub(crate) midle: Vec<Arc<M>>,
    /// Every M ever started, for shutdown (Go: `allm`).
    pub(crate) allm: Vec<Arc<M>>,
    /// M threads by id, to join at shutdown (sysmon reaps the ones that
    /// exited early: Ms whose locked goroutine finished).
    pub(crate) threads: Vec<MThread>,
    /// Ms started and not exited (Go: `mcount()`), and the next M id.
    pub(crate) mcount: u32,
    pub(crate) mnext: u32,
    /// Ms parked while locked to a goroutine (Go: `nmidlelocked`).
    pub(crate) nmidlelocked: u32,
    /// A stop-the-world in progress (`procresize`).
    pub(crate) stw: Stw,
}

/// Counters kept outside the Ps (read by `debug::metrics`): bumped with
/// Relaxed read-modify-writes by whoever does the counted thing, under no
/// lock.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) handoffs: AtomicU64,
    pub(crate) preempt_requests: AtomicU64,
    pub(crate) polls: AtomicU64,
    pub(crate) threads_started: AtomicU64,
    pub(crate) threads_exited: AtomicU64,
    /// Times an idle M went to sleep (Go: `stopm`), and times one was
    /// woken to run a P (`startm` on an idle M).
    pub(crate) m_parks: AtomicU64,
    pub(crate) m_wakeups: AtomicU64,
    /// sysmon's rounds (one per timed sleep of its loop).
    pub(crate) sysmon_rounds: AtomicU64,
    /// Goroutines spawned from outside any P (plain threads).
    pub(crate) spawned_nop: AtomicU64,
    /// Goroutines that exited on an M whose P sysmon had retaken.
    pub(crate) exited_nop: AtomicU64,
}

/// One runtime's scheduler (Go: `sched` plus `allp`).
///
/// Fields by what protects them, as Go groups `schedt`. "Under `idle`"
/// means under the scheduler lock (`Sched::idle`, Go's `sched.lock`);
/// the lock order is in `runtime/HACKING.md`.
pub(crate) struct Sched {
    // -- the Ps, resized only with the world stopped (procresize.rs) --
    /// Every P the runtime ever had; `0..nprocs` are live (`procresize`).
    pub(crate) allp: AllP,
    /// Live Ps (Go: `gomaxprocs`); changed only with the world stopped,
    /// by the stopper (Release), read with Acquire.
    pub(crate) nprocs: AtomicU32,
    /// The world is stopping or stopped (Go: `sched.gcwaiting`); set and
    /// cleared under `idle` by the stopper, read by Ms at safe points.
    pub(crate) gcwaiting: AtomicBool,
    /// The stopper sleeps here until every live P stopped (Go:
    /// `sched.stopnote`); the M that stops the last P wakes it.
    pub(crate) stopnote: crate::lock::Note,
    /// One stop-the-world at a time (held by the stopper throughout).
    pub(crate) stw_lock: std::sync::Mutex<()>,
    // -- idle Ps and Ms (Go's `sched.lock` and its counts) --
    /// The scheduler lock and the lists it protects ([`Idle`]).
    pub(crate) idle: Lock<Idle>,
    /// Idle Ps (Go: `sched.npidle`): changed under `idle` with SeqCst
    /// read-modify-writes, read without the lock by `wakep`, sysmon and
    /// the deadlock check.
    pub(crate) npidle: AtomicU32,
    /// Spinning Ms (Go: `sched.nmspinning`): SeqCst read-modify-writes by
    /// Ms that start or stop spinning, under no lock; one side of the
    /// Dekker pair in the module docs.
    pub(crate) nmspinning: AtomicU32,
    /// 1 when `wakep` found no idle P: the next M to release one spins
    /// instead (Go: `sched.needspinning`). SeqCst stores, no lock.
    pub(crate) needspinning: AtomicU32,
    // -- run queues, Gs and stacks --
    /// The global run queue (Go: `sched.runq`), lock-free (crossbeam).
    pub(crate) runq: Injector<GRef>,
    /// Every G this runtime allocated and has not freed (Go: `allgs`),
    /// under its own lock.
    pub(crate) allgs: Lock<Vec<GRef>>,
    /// Dead Gs for reuse, shared by the Ps (Go: `sched.gFree`), under its
    /// own lock (a leaf).
    #[allow(clippy::vec_box)] // a G must not move: its address is its GRef
    pub(crate) gfree: Lock<Vec<Box<crate::g::G>>>,
    /// Goroutine ids handed out so far (Go: `sched.goidgen`); Relaxed
    /// read-modify-writes, a batch at a time per P.
    goidgen: AtomicU64,
    /// The stack pool, with its own lock (`stack.rs`).
    pub(crate) stacks: StackPool,
    // -- pollers --
    /// The poller used until a network poller is installed; set when the
    /// runtime is built.
    pub(crate) poller: Box<dyn Poller>,
    /// The network poller, installed once on first use (`install_poller`).
    pub(crate) net_poller: std::sync::OnceLock<Box<dyn Poller>>,
    /// When the network was last polled; 0 while an M blocks in the poller
    /// (Go: `sched.lastpoll`). The M that blocks swaps it to 0 and stores
    /// the time when it returns; sysmon polls only if its CAS from a time
    /// to now succeeds. SeqCst, no lock.
    pub(crate) lastpoll: AtomicI64,
    /// The deadline the blocked poller sleeps until, 0 for none; written
    /// by the blocking M, read by wakers of the poller (SeqCst).
    pub(crate) poll_until: AtomicI64,
    // -- shutdown --
    /// Set once, under `idle`, when the runtime shuts down.
    pub(crate) shutdown: AtomicBool,
    /// Readies of this runtime's goroutines in flight from outside its Ms
    /// (plain threads, other runtimes): shutdown waits for them before it
    /// frees Gs and stacks (`gopark::ready`, `unwind`). SeqCst increment,
    /// Release decrement, by each such waker.
    pub(crate) readying: AtomicU32,
    // -- immutable after build --
    /// The runtime's settings (`RuntimeBuilder`).
    pub(crate) config: Config,
    // -- stealing --
    /// The steal order for `nprocs` Ps; replaced by `procresize` with the
    /// world stopped, the old ones kept (a thief may still walk one) until
    /// the runtime is freed.
    steal_order: AtomicPtr<StealOrder>,
    /// Every steal order made, under its own lock (a leaf).
    #[allow(clippy::vec_box)] // boxed: `steal_order` points into one
    steal_orders: Lock<Vec<Box<StealOrder>>>,
    // -- statistics --
    /// Counters kept outside the Ps ([`Counters`]).
    pub(crate) counters: Counters,
    // -- sysmon --
    /// sysmon sleeps here when the runtime is idle (Go: `sysmonnote`).
    pub(crate) sysmon_note: crate::lock::Note,
    /// sysmon is in (or going into) that deep sleep (Go:
    /// `sched.sysmonwait`): set and cleared under `idle`; a waker reads it
    /// without the lock, then again under it before waking.
    pub(crate) sysmon_wait: AtomicBool,
    /// The last wake from that sleep came from a goroutine entering a
    /// syscall or a stopping world ([`Sched::wake_sysmon`]), which brings
    /// back sysmon's 20 µs rounds (Go's `syscallWake`); a P taken off the
    /// idle list or a deadlock check wakes it without them. Under `idle`.
    pub(crate) sysmon_syscall_wake: AtomicBool,
    /// sysmon's thread, joined at shutdown; under its own lock (a leaf).
    pub(crate) sysmon_thread: Lock<Option<std::thread::JoinHandle<()>>>,
    /// A weak reference to this Sched's own Arc, so that code holding only
    /// `&Sched` (a goroutine's) can keep it alive (`LeakCheck`); set once
    /// when the runtime is built.
    pub(crate) this: std::sync::OnceLock<std::sync::Weak<Sched>>,
}

impl Sched {
    pub(crate) fn new(config: Config, poller: Box<dyn Poller>) -> Sched {
        let n = config.max_procs as u32;
        let allp = AllP::new(n as usize);
        let stacks = StackPool::new(config.stack_size);
        // Every P starts idle; the first spawn wakes an M for one.
        for p in allp.range(n as usize) {
            p.idle.store(true, Ordering::Relaxed);
        }
        let mut order = Box::new(StealOrder::new(n));
        Sched {
            allp,
            nprocs: AtomicU32::new(n),
            gcwaiting: AtomicBool::new(false),
            stopnote: crate::lock::Note::new(),
            stw_lock: std::sync::Mutex::new(()),
            idle: Lock::new(Idle {
                pidle: (0..n as usize).rev().collect(),
                midle: Vec::new(),
                allm: Vec::new(),
                threads: Vec::new(),
                mcount: 0,
                mnext: 1,
                nmidlelocked: 0,
                stw: Stw::default(),
            }),
            npidle: AtomicU32::new(n),
            nmspinning: AtomicU32::new(0),
            needspinning: AtomicU32::new(0),
            runq: Injector::new(),
            gfree: Lock::new(Vec::new()),
            allgs: Lock::new(Vec::new()),
            goidgen: AtomicU64::new(0),
            stacks,
            poller,
            net_poller: std::sync::OnceLock::new(),
            lastpoll: AtomicI64::new(crate::sys::nanotime()),
            poll_until: AtomicI64::new(0),
            shutdown: AtomicBool::new(false),
            readying: AtomicU32::new(0),
            steal_order: AtomicPtr::new(&mut *order),
            steal_orders: Lock::new(vec![order]),
            counters: Counters::default(),
            sysmon_note: crate::lock::Note::new(),
            sysmon_wait: AtomicBool::new(false),
            sysmon_syscall_wake: AtomicBool::new(false),
            sysmon_thread: Lock::new(None),
            this: std::sync::OnceLock::new(),
            config,
        }
    }

    /// Number of live Ps (Go: `gomaxprocs`).
    #[inline]
    pub(crate) fn nprocs(&self) -> u32 {
        self.nprocs.load(Ordering::Acquire)
    }

    /// P `id` (live or dead; see [`crate::procresize`]).
    #[inline]
    pub(crate) fn p(&self, id: usize) -> &P {
        self.allp.get(id)
    }

    /// The live Ps.
    #[inline]
    pub(crate) fn live_ps(&self) -> impl Iterator<Item = &P> {
        self.allp.range(self.nprocs() as usize)
    }

    /// Every P ever allocated, dead ones included (for counters, timers).
    #[inline]
    pub(crate) fn all_ps(&self) -> impl Iterator<Item = &P> {
        self.allp.range(self.allp.allocated())
    }

    /// The current steal order (a random walk over the live Ps).
    #[inline]
    pub(crate) fn steal_order(&self) -> &StealOrder {
        // SAFETY: steal orders are boxed and kept in `steal_orders` until
        // the Sched is freed; the pointer always names one of them.
        unsafe { &*self.steal_order.load(Ordering::Acquire) }
    }

    /// Installs the steal order for `n` live Ps (`procresize`).
    pub(crate) fn set_steal_order(&self, n: u32) {
        let mut order = Box::new(StealOrder::new(n));
        self.steal_order.store(&mut *order, Ordering::Release);
        self.steal_orders.lock().push(order);
    }

    #[inline]
    pub(crate) fn is_shutdown(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    /// A fresh goroutine id. Ids are handed to Ps in batches so that spawns
    /// on different Ps do not contend on one counter (Go: `goidcache`).
    pub(crate) fn next_goid(&self, p: Option<OwnedP<'_>>) -> u64 {
        match p {
            Some(mut p) => {
                let l = p.local();
                if l.goid_next == l.goid_end {
                    let base = self.goidgen.fetch_add(crate::p::GOID_BATCH, Ordering::Relaxed);
                    l.goid_next = base + 1;
                    l.goid_end = base + 1 + crate::p::GOID_BATCH;
                }
                let id = l.goid_next;
                l.goid_next += 1;
                id
            }
            None => self.goidgen.fetch_add(1, Ordering::Relaxed) + 1,
        }
    }

    // ---- global run queue (Go: globrunqput) ----

    /// Puts `g` on the global queue. The caller calls `wakep` if needed.
    #[inline]
    pub(crate) fn globrunqput(&self, g: GRef) {
        self.runq.push(g);
    }

    /// How many to take from the global queue at once: Go's
    /// `min(n, len/gomaxprocs + 1)`.
    pub(crate) fn global_batch(&self, n: usize) -> usize {
        (self.runq.len() / self.nprocs() as usize + 1).min(n)
    }

    // ---- idle Ps (Go: pidleput / pidleget / pidlegetSpinning) ----

    /// Puts an idle P on the list: one nobody owns (released by its M, or
    /// retaken), with an empty run queue.
    pub(crate) fn pidleput(&self, idle: &mut Idle, p: &P) {
        if self.gcwaiting() {
            // The world is stopping: the P stops instead (Go: handoffp's
            // and gcstopm's `_Pgcstop`).
            return self.stopp(idle, p);
        }
        debug_assert!(p.runq_empty(), "pidleput: P has work");
        debug_assert_eq!(p.status(), crate::pstatus::IDLE, "pidleput: P{} is owned", p.id);
        debug_assert!(!p.idle.load(Ordering::Relaxed), "pidleput: P{} is already idle", p.id);
        p.idle.store(true, Ordering::Release);
        idle.pidle.push(p.id);
        self.npidle.fetch_add(1, Ordering::SeqCst);
    }

    /// Takes an idle P off the list.
    pub(crate) fn pidleget(&self, idle: &mut Idle) -> Option<&P> {
        let id = idle.pidle.pop()?;
        let p = self.p(id);
        p.idle.store(false, Ordering::Release);
        self.npidle.fetch_sub(1, Ordering::SeqCst);
        // A P goes busy: sysmon must watch again (Go wakes it from the
        // syscall paths; gort also from here, since any busy P may stall
        // in a call gort does not know blocks). Its rounds keep the length
        // they had, as Go's do: a runtime that goes idle and busy thousands
        // of times a second (a server at half load) would otherwise keep
        // sysmon on 20 µs rounds, 7 % of the process's CPU under wrk.
        if self.sysmon_wait.load(Ordering::SeqCst) {
            self.sysmon_wait.store(false, Ordering::SeqCst);
            self.sysmon_note.wakeup();
        }
        Some(p)
    }

    /// `pidleget` for an M about to spin: when no P is idle, ask the next
    /// M that releases one to spin instead.
    pub(crate) fn pidleget_spinning(&self, idle: &mut Idle) -> Option<&P> {
        let p = self.pidleget(idle);
        if p.is_none() {
            self.needspinning.store(1, Ordering::SeqCst);
        }
        p
    }

    // ---- Ps and Ms ----

    /// Makes `ml` the owner of `p` (Go: `acquirep`): a P nobody owns,
    /// taken off the idle list or handed over through `nextp`. Returns the
    /// token for it (dropping it keeps the P: `releasep` gives it up).
    pub(crate) fn acquirep<'a>(&self, ml: &'a MLocal, p: &'a P) -> OwnedP<'a> {
        debug_assert!(ml.p().is_none(), "acquirep: M{} already holds a P", ml.m.id);
        debug_assert_eq!(p.status(), crate::pstatus::IDLE, "acquirep: P{} is owned", p.id);
        debug_assert!(!p.idle.load(Ordering::Relaxed), "acquirep: P{} is on the idle list", p.id);
        p.clock.store(ml.clock, Ordering::Relaxed);
        p.tid.store(ml.tid, Ordering::Relaxed);
        p.acquire(&ml.m);
        ml.set_p(Some(p));
        // SAFETY: the P was IDLE (off the idle list, or handed to this M
        // alone through `nextp`), and `acquire` cleared this M's `user`
        // flag before swapping in RUNNING with its id (pstatus.rs), so only
        // a `releasep` by this M ends the ownership, (1). This runs in the
        // scheduler or in runtime code at depth >= 1; callers keep the
        // token within that code, (2). The M held no P, so no other token
        // names this one, (3).
        unsafe { OwnedP::new(p) }
    }

    /// Gives up the P `ml` holds (Go: `releasep`), consuming its token;
    /// returns it, unowned, for the caller to pass on (the idle list,
    /// `handoffp`, another M's `nextp`).
    pub(crate) fn releasep<'a>(&self, ml: &MLocal, p: OwnedP<'a>) -> &'a P {
        debug_assert!(ml.p().is_some_and(|q| std::ptr::eq(q, p.p())), "releasep: not M{}'s P", ml.m.id);
        let p = p.p();
        ml.set_p(None);
        p.release();
        p
    }

    /// Marks `ml` spinning (Go: `becomeSpinning`).
    pub(crate) fn become_spinning(&self, ml: &MLocal) {
        ml.spinning.set(true);
        self.nmspinning.fetch_add(1, Ordering::SeqCst);
        self.needspinning.store(0, Ordering::SeqCst);
    }

    /// A spinning M found work: stop spinning and let another M look
    /// (Go: `resetspinning`).
    pub(crate) fn reset_spinning(&self, ml: &MLocal) {
        ml.spinning.set(false);
        let prev = self.nmspinning.fetch_sub(1, Ordering::SeqCst);
        debug_assert!(prev > 0, "reset_spinning: negative nmspinning");
        self.wakep();
    }

    /// Starts an M to run goroutines if a P is idle and no M spins (Go:
    /// `wakep`). Called after work is published.
    #[inline]
    pub(crate) fn wakep(&self) {
        if self.nmspinning.load(Ordering::SeqCst) != 0 {
            return;
        }
        // No P idle and the next M to release one is already asked to spin
        // instead: wakep could only ask that again. (needspinning is cleared
        // only by an M that becomes spinning and then searches every queue,
        // after our publication.) This keeps the scheduler lock off the
        // spawn/ready path of a busy runtime.
        if self.npidle.load(Ordering::SeqCst) == 0 && self.needspinning.load(Ordering::SeqCst) == 1 {
            return;
        }
        if self.nmspinning.compare_exchange(0, 1, Ordering::SeqCst, Ordering::Relaxed).is_err() {
            return;
        }
        self.wakep_slow();
    }

    #[cold]
    fn wakep_slow(&self) {
        let mut idle = self.idle.lock();
        let Some(p) = self.pidleget_spinning(&mut idle) else {
            self.nmspinning.fetch_sub(1, Ordering::SeqCst);
            return;
        };
        self.startm_locked(idle, Some(p), true);
    }

    /// [`Sched::wakep`] after publishing work with a non-RMW store (e.g. a
    /// push to a crossbeam queue): the fence orders the publication before
    /// the `nmspinning` read (the submitter's side of the Dekker pair).
    #[inline]
    pub(crate) fn wakep_after_push(&self) {
        fence(Ordering::SeqCst);
        self.wakep();
    }

    /// Schedules some M to run `p` (or any idle P); creates an M if none is
    /// idle. With `spinning`, the M starts out spinning and the caller has
    /// already counted it in `nmspinning`. Go: `startm`.
    pub(crate) fn startm(&self, p: Option<&P>, spinning: bool) {
        let idle = self.idle.lock();
        self.startm_locked(idle, p, spinning);
    }

    fn startm_locked(&self, mut idle: crate::lock::LockGuard<'_, Idle>, p: Option<&P>, spinning: bool) {
        if self.is_shutdown() {
            // Shutdown joins the Ms it knows of; start no more.
            drop(idle);
            if spinning {
                self.nmspinning.fetch_sub(1, Ordering::SeqCst);
            }
            return;
        }
        let p = match p {
            Some(p) => p,
            None => match self.pidleget(&mut idle) {
                Some(p) => p,
                None => {
                    drop(idle);
                    if spinning {
                        self.nmspinning.fetch_sub(1, Ordering::SeqCst);
                    }
                    return;
                }
            },
        };
        match idle.midle.pop() {
            Some(m) => {
                drop(idle);
                self.counters.m_wakeups.fetch_add(1, Ordering::Relaxed);
                m.spinning.store(spinning, Ordering::Relaxed);
                m.set_nextp(p);
                m.park.wakeup();
            }
            None => {
                // Count the new M before dropping the lock (Go's
                // mReserveID), so no observer sees a P with no M.
                let id = idle.mnext;
                idle.mnext += 1;
                idle.mcount += 1;
                if idle.mcount > MAX_M_COUNT {
                    drop(idle);
                    crate::panic::fatal_thread_exhaustion(MAX_M_COUNT);
                }
                drop(idle);
                self.newm(id, p, spinning);
            }
        }
    }

    /// Parks the calling M until it is handed a P; returns false if it was
    /// woken for shutdown instead. Go: `stopm`.
    pub(crate) fn stopm(&self, ml: &MLocal) -> bool {
        debug_assert!(ml.p().is_none(), "stopm holding a P");
        let last = {
            let mut idle = self.idle.lock();
            if self.is_shutdown() {
                return false;
            }
            idle.midle.push(ml.m.clone());
            idle.midle.len() + idle.nmidlelocked as usize == idle.mcount as usize
        };
        if last {
            // The last M stops: no M runs, none waits in the poller (so no
            // timer and no I/O is pending). Go checks for deadlock right
            // here (`mput` -> `checkdead`); sysmon does it for us.
            crate::checkdead::request();
        }
        self.counters.m_parks.fetch_add(1, Ordering::Relaxed);
        if !self.idle_m_sleep(ml) {
            return false; // the M exits
        }
        self.park_m(ml)
    }

    /// An idle M sleeps until `startm` wakes it, or until it has idled for
    /// the keep-alive while the runtime has more Ms than it needs: then it
    /// takes itself off the idle list and returns false (the M exits).
    /// Ms blocked in calls, Ms parked with a locked goroutine and the
    /// reserve stay. Without sysmon nobody would reap exited threads, so
    /// such runtimes keep their Ms.
    fn idle_m_sleep(&self, ml: &MLocal) -> bool {
        if !self.config.sysmon {
            return true;
        }
        while !ml.m.park.sleep_timeout(self.config.thread_keep_alive) {
            let mut idle = self.idle.lock();
            let keep = self.nprocs() as usize + crate::runtime::IDLE_M_RESERVE;
            let unlocked = (idle.mcount - idle.nmidlelocked) as usize;
            if unlocked <= keep || self.is_shutdown() {
                continue;
            }
            // Still listed means nobody is handing us a P: leave. (Not
            // listed: startm popped us and is about to wake us.)
            if let Some(i) = idle.midle.iter().position(|m| Arc::ptr_eq(m, &ml.m)) {
                idle.midle.remove(i);
                return false;
            }
        }
        true
    }

    /// Sleeps on the M's note until woken with a P (or for shutdown).
    pub(crate) fn park_m(&self, ml: &MLocal) -> bool {
        // Shutdown sets its flag, then wakes every M under the idle lock:
        // checking under the same lock means we either see the flag or get
        // the wake-up.
        if self.is_shutdown() {
            return false;
        }
        ml.m.park.sleep();
        ml.m.park.clear();
        match ml.m.take_nextp() {
            Some(id) => {
                self.acquirep(ml, self.p(id));
                if ml.m.spinning.swap(false, Ordering::Relaxed) {
                    ml.spinning.set(true);
                }
                true
            }
            None => false,
        }
    }

    /// Decides what to do with a P whose M stops running goroutines on it
    /// (a retake, a locked M blocking): give it to an M if it has work,
    /// else put it on the idle list. Go: `handoffp`.
    pub(crate) fn handoffp(&self, p: &P) {
        if self.gcwaiting() {
            let mut idle = self.idle.lock();
            // Cleared only once every live P stopped, this one included.
            debug_assert!(self.gcwaiting());
            return self.stopp(&mut idle, p);
        }
        if !p.runq_empty() || !self.runq.is_empty() {
            self.startm(Some(p), false);
            return;
        }
        if self.nmspinning.load(Ordering::SeqCst) + self.npidle.load(Ordering::SeqCst) == 0
            && self.nmspinning.compare_exchange(0, 1, Ordering::SeqCst, Ordering::Relaxed).is_ok()
        {
            self.needspinning.store(0, Ordering::SeqCst);
            self.startm(Some(p), true);
            return;
        }
        let mut idle = self.idle.lock();
        if !self.runq.is_empty() {
            self.startm_locked(idle, Some(p), false);
            return;
        }
        // The last running P, and nobody polls: someone must wait for
        // timers and I/O.
        if self.npidle.load(Ordering::SeqCst) == self.nprocs() - 1
            && self.lastpoll.load(Ordering::SeqCst) != 0
        {
            self.startm_locked(idle, Some(p), false);
            return;
        }
        let when = p.timers.wake_time();
        self.pidleput(&mut idle, p);
        drop(idle);
        if when != 0 {
            self.wake_net_poller(when);
        }
    }

    /// Makes sure someone will run the timer due at `when` (Go:
    /// `wakeNetPoller`): break the blocked poller if it sleeps past `when`,
    /// else wake an M.
    pub(crate) fn wake_net_poller(&self, when: i64) {
        if self.lastpoll.load(Ordering::SeqCst) == 0 {
            let until = self.poll_until.load(Ordering::SeqCst);
            if until == 0 || until > when {
                self.poller().wake();
            }
        } else {
            self.wakep();
        }
    }

    /// Starts an M on an idle P if goroutines wait for I/O or timers and no
    /// M blocks in the poller: for an M that goes to sleep without a P and
    /// so cannot poll itself (Go's `handoffp` rule that the last P must
    /// not go idle with nobody polling).
    pub(crate) fn ensure_poller(&self) {
        if (self.poller().has_waiters() || self.timers_wake_time() != 0)
            && self.lastpoll.load(Ordering::SeqCst) != 0
            && self.npidle.load(Ordering::SeqCst) > 0
        {
            self.startm(None, false);
        }
    }

    /// Makes a list of readied goroutines runnable (netpoll results). Go:
    /// `injectglist`.
    pub(crate) fn inject_list(&self, p: Option<OwnedP<'_>>, list: &mut Vec<GRef>) {
        // A plain thread's stand-in is not scheduled: wake its thread.
        list.retain(|g| {
            // SAFETY: the poller hands over parked Gs it alone may ready.
            let is_thread = unsafe { g.get() }.is_thread();
            if is_thread {
                // SAFETY: the poller handed this parked stand-in G to us,
                // which makes us the one party entitled to ready it, once.
                unsafe { crate::gopark::ready(*g) };
            }
            !is_thread
        });
        if list.is_empty() {
            return;
        }
        for g in list.iter() {
            // SAFETY: the poller hands over parked goroutines it owns.
            unsafe { g.get() }.status.store(status::RUNNABLE, Ordering::Relaxed);
        }
        match p {
            None => {
                let n = list.len();
                for g in list.drain(..) {
                    self.globrunqput(g);
                }
                fence(Ordering::SeqCst);
                for _ in 0..n.min(self.npidle.load(Ordering::SeqCst) as usize) {
                    self.startm(None, false);
                }
            }
            Some(mut p) => {
                // One per idle P through the global queue, the rest here.
                let npidle = self.npidle.load(Ordering::SeqCst) as usize;
                let mut n = 0;
                while n < npidle && !list.is_empty() {
                    let g = list.pop().expect("non-empty");
                    self.globrunqput(g);
                    n += 1;
                }
                fence(Ordering::SeqCst);
                for _ in 0..n {
                    self.startm(None, false);
                }
                for g in list.drain(..) {
                    p.runqput(g, false, &self.runq);
                }
                self.wakep_after_push();
            }
        }
    }

    /// Starts the OS thread of a new M that will run `p` (Go: `newm`).
    fn newm(&self, id: u32, p: &P, spinning: bool) {
        let m = Arc::new(M::new(id));
        m.spinning.store(spinning, Ordering::Relaxed);
        m.set_nextp(p);
        // Listed in allm before its thread exists: shutdown wakes every M in
        // allm after setting its flag, and an M listed only once its thread
        // runs could go to sleep in between, missing both.
        self.idle.lock().allm.push(m.clone());
        self.counters.threads_started.fetch_add(1, Ordering::Relaxed);
        let sched = SchedPtr(self as *const Sched);
        let m2 = m;
        let name = format!("{}-m{}", self.config.name, id);
        let pin = self.config.pin_threads;
        let handle = std::thread::Builder::new()
            .name(name)
            .spawn(move || {
                let sched = sched;
                // SAFETY: a Sched is freed only after every M thread has been
                // joined (Runtime::drop), so it outlives this thread.
                let sched = unsafe { &*sched.0 };
                if pin {
                    crate::runtime::pin_current_thread(id as usize);
                }
                crate::proc::mstart(sched, m2);
            })
            .unwrap_or_else(|e| crate::sys::fatal(&format!("gort: cannot start an M thread: {e}")));
        self.idle.lock().threads.push((id, handle));
    }

    /// Frees dead Gs beyond what the global cache keeps (sysmon).
    pub(crate) fn trim_gfree(&self) -> usize {
        let freed: Vec<Box<crate::g::G>> = {
            let mut gl = self.gfree.lock();
            let keep = crate::p::GFREE_GLOBAL_KEEP.min(gl.len());
            gl.drain(keep..).collect()
        };
        for g in &freed {
            self.allg_remove(g);
        }
        freed.len()
    }

    /// Wakes sysmon from its deep sleep (Go: `entersyscall_sysmon`);
    /// `short_rounds` brings its 20 µs rounds back (a goroutine entering a
    /// syscall, a stopping world), which a deadlock check does not need.
    pub(crate) fn wake_sysmon(&self, short_rounds: bool) {
        if self.sysmon_wait.load(Ordering::SeqCst) {
            let _idle = self.idle.lock();
            if self.sysmon_wait.load(Ordering::SeqCst) {
                self.sysmon_wait.store(false, Ordering::SeqCst);
                if short_rounds {
                    self.sysmon_syscall_wake.store(true, Ordering::Relaxed);
                }
                self.sysmon_note.wakeup();
            }
        }
    }

    /// Joins the threads of Ms that exited before shutdown (idle beyond
    /// the keep-alive, or taken along by a locked goroutine that finished)
    /// and frees them, so a long-running program does not accumulate dead
    /// threads. sysmon's thread only, once a second: sysmon follows the
    /// Ps' `owner` pointers (`P::status_view`), so an M may be freed only
    /// where sysmon cannot be reading one, and only once no P points at it
    /// any more (an exited M owns no P, but may have owned one last).
    pub(crate) fn reap_exited_ms(&self) {
        let (finished, dead): (Vec<MThread>, Vec<Arc<M>>) = {
            let mut idle = self.idle.lock();
            let (done, live): (Vec<_>, Vec<_>) =
                std::mem::take(&mut idle.threads).into_iter().partition(|(_, h)| h.is_finished());
            idle.threads = live;
            let (dead, alive): (Vec<_>, Vec<_>) = std::mem::take(&mut idle.allm)
                .into_iter()
                .partition(|m| done.iter().any(|(id, _)| *id == m.id));
            idle.allm = alive;
            (done, dead)
        };
        for m in &dead {
            for p in self.all_ps() {
                p.forget_owner(m);
            }
        }
        drop(dead);
        for (_, h) in finished {
            let _ = h.join();
        }
    }

    /// Goroutines alive now (Go: `NumGoroutine`).
    pub(crate) fn num_goroutine(&self) -> usize {
        let mut spawned = self.counters.spawned_nop.load(Ordering::Relaxed);
        let mut exited = self.counters.exited_nop.load(Ordering::Relaxed);
        for p in self.all_ps() {
            spawned += p.spawned.load(Ordering::Relaxed);
            exited += p.exited.load(Ordering::Relaxed);
        }
        spawned.saturating_sub(exited) as usize
    }
}

/// A Sched pointer that may move to a new M or sysmon thread.
pub(crate) struct SchedPtr(pub(crate) *const Sched);
// SAFETY: Sched is Sync; the pointer's validity is argued at its use.
unsafe impl Send for SchedPtr {}
