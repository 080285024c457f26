//! Model checks (loom) of the spinning protocol (the `sched.rs` module
//! docs; Go's proc.go "delicate dance" around `wakep`, `resetspinning` and
//! `findRunnable`): work submitted while the last spinning M gives up is
//! never left in a run queue with every M parked.
//!
//! ```text
//! RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
//!     cargo test --release -p gort-runtime --test loom_spinning
//! ```
//!
//! The scheduler cannot be compiled on its own, so the model mirrors it
//! step by step: `wakep`, `wakep_slow`, `wakep_after_push`, `startm`,
//! `stopm`, `park_m`, `pidleget`, `pidleput`, `become_spinning` and
//! `reset_spinning` (`sched.rs`), and `find_runnable`'s give-up path and
//! `respin` (`findrunnable.rs`), with the orderings of the real code. The
//! test `the_model_mirrors_the_scheduler` (it runs in every build, not only
//! under loom) checks that the statements the model mirrors are still in
//! those files in the same order: change the model with them.
//!
//! The world: one P (in a second model two, the other one idle), one M
//! (M1) that holds it and finds nothing to run, and a plain thread that
//! readies a goroutine through the global queue (`ready_from_outside`:
//! `globrunqput`, then `wakep_after_push`). M1 spins, gives up its P, stops
//! spinning, re-checks the queues and parks; the submitter's `wakep` may
//! hand M1 a P again or start a new M. When every M is parked (`stopm`'s
//! `checkdead` condition) the goroutine must have run. A lost wake-up is
//! exactly that state with the goroutine still in the queue. Each model
//! also asserts that both ways out of the race occurred in some execution:
//! M1's re-check found the work, and the submitter's `wakep` handed a P
//! to an M.
//!
//! The re-check reads the queue with Acquire, as `P::runq_empty` reads
//! `runnext` (the weakest load of the real re-check); the submitter's
//! publication is a Release read-modify-write. So the Dekker pair rests on
//! the two SeqCst fences, as it does in the real code. (Loom treats SeqCst
//! loads and read-modify-writes as AcqRel, and only fences as SeqCst, so
//! the path that readies onto the caller's own P, whose `runnext` swap and
//! `nmspinning` load are SeqCst with no fence between, which C11 allows,
//! cannot be checked by loom and is not modelled.)
//!
//! The mutation tests keep the model honest: without the spinner's fence,
//! with the submitter's fence weakened to AcqRel, with the re-check moved
//! before the decrement, or with `nmspinning` read before the work is
//! published, loom finds the lost wake-up.

/// The statements each modelled function must still contain, in order
/// (whitespace is not significant). A change to one of them means the
/// model must be revisited.
const MIRRORED: &[test_support::Mirrored] = &[
    (
        "sched.rs",
        "fn wakep(",
        &[
            "if self.nmspinning.load(Ordering::SeqCst) != 0 { return; }",
            "if self.npidle.load(Ordering::SeqCst) == 0 && self.needspinning.load(Ordering::SeqCst) == 1 { return; }",
            "if self.nmspinning.compare_exchange(0, 1, Ordering::SeqCst, Ordering::Relaxed).is_err() { return; }",
            "self.wakep_slow();",
        ],
    ),
    (
        "sched.rs",
        "fn wakep_slow(",
        &[
            "let Some(p) = self.pidleget_spinning(&mut idle) else {",
            "self.nmspinning.fetch_sub(1, Ordering::SeqCst);",
            "self.startm_locked(idle, Some(p), true);",
        ],
    ),
    ("sched.rs", "fn wakep_after_push(", &["fence(Ordering::SeqCst);", "self.wakep();"]),
    (
        "sched.rs",
        "fn pidleget_spinning(",
        &["let p = self.pidleget(idle);", "self.needspinning.store(1, Ordering::SeqCst);"],
    ),
    ("sched.rs", "fn pidleput(", &["idle.pidle.push(p.id);", "self.npidle.fetch_add(1, Ordering::SeqCst);"]),
    ("sched.rs", "fn pidleget(", &["idle.pidle.pop()?;", "self.npidle.fetch_sub(1, Ordering::SeqCst);"]),
    (
        "sched.rs",
        "fn become_spinning(",
        &["self.nmspinning.fetch_add(1, Ordering::SeqCst);", "self.needspinning.store(0, Ordering::SeqCst);"],
    ),
    ("sched.rs", "fn reset_spinning(", &["self.nmspinning.fetch_sub(1, Ordering::SeqCst);", "self.wakep();"]),
    (
        "sched.rs",
        "fn startm_locked(",
        &["match idle.midle.pop() {", "m.set_nextp(p);", "m.park.wakeup();", "self.newm(id, p, spinning);"],
    ),
    ("sched.rs", "fn stopm(", &["idle.midle.push(ml.m.clone());", "self.park_m(ml)"]),
    (
        "findrunnable.rs",
        "fn find_runnable(",
        &[
            "if sched.is_shutdown() {",
            "let busy = sched.nprocs().saturating_sub(sched.npidle.load(Ordering::SeqCst));",
            "if ml.spinning.get() || 2 * sched.nmspinning.load(Ordering::SeqCst) < busy {",
            "sched.become_spinning(ml);",
            "let mut idle = sched.idle.lock();",
            "if !sched.runq.is_empty() {",
            "if !ml.spinning.get() && sched.needspinning.load(Ordering::SeqCst) == 1 {",
            "let p = sched.releasep(ml, p);",
            "sched.pidleput(&mut idle, p);",
            "drop(idle);",
            "let prev = sched.nmspinning.fetch_sub(1, Ordering::SeqCst);",
            "fence(Ordering::SeqCst);",
            "let work = !sched.runq.is_empty() || sched.live_ps().any(|p2| !p2.idle.load(Ordering::Acquire) && !p2.runq_empty());",
            "if work && respin(sched, ml) { continue 'top; }",
            "if !sched.stopm(ml) { return None; }",
        ],
    ),
    (
        "findrunnable.rs",
        "fn respin(",
        &[
            "match sched.pidleget_spinning(&mut idle) {",
            "sched.acquirep(ml, p2);",
            "sched.become_spinning(ml);",
        ],
    ),
    ("p.rs", "fn runq_empty(", &["self.runnext.load(Ordering::Acquire).is_null()"]),
    ("gopark.rs", "fn ready_from_outside(", &["sched.globrunqput(g);", "sched.wakep_after_push();"]),
];

#[test]
fn the_model_mirrors_the_scheduler() {
    test_support::check_mirror(env!("CARGO_MANIFEST_DIR"), "runtime/tests/loom_spinning.rs", MIRRORED);
}

#[cfg(loom)]
mod model {
    use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering, fence};
    use loom::sync::{Arc, Condvar, Mutex, MutexGuard};
    use loom::thread::{self, JoinHandle};
    use std::sync::atomic::AtomicUsize as StdAtomicUsize;
    use std::sync::atomic::Ordering::Relaxed;

    /// What a mutation test changes; `REAL` is the runtime's protocol.
    #[derive(Clone, Copy)]
    struct Protocol {
        /// `wakep_after_push`'s fence (None: removed).
        submit_fence: Option<Ordering>,
        /// `find_runnable`'s fence between the `nmspinning` decrement and
        /// the re-check (None: removed).
        spin_fence: Option<Ordering>,
        /// Re-check the queues before the decrement instead of after.
        recheck_first: bool,
        /// The submitter reads `nmspinning` (wakep) before it publishes.
        wakep_first: bool,
    }

    const REAL: Protocol = Protocol {
        submit_fence: Some(Ordering::SeqCst),
        spin_fence: Some(Ordering::SeqCst),
        recheck_first: false,
        wakep_first: false,
    };

    /// `lock::Note`: one sleeper, woken once.
    struct Note {
        signalled: Mutex<bool>,
        cv: Condvar,
    }

    impl Note {
        fn sleep(&self) {
            let mut s = self.signalled.lock().unwrap();
            while !*s {
                s = self.cv.wait(s).unwrap();
            }
            *s = false; // `clear`
        }
        fn wakeup(&self) {
            *self.signalled.lock().unwrap() = true;
            self.cv.notify_one();
        }
    }

    /// An M's shared half (`m::M`).
    struct M {
        park: Note,
        /// The P handed over by `startm` (real: `M::nextp`).
        nextp: Mutex<Option<usize>>,
        /// Start out spinning (set by `startm` with the hand-over).
        spinning: AtomicBool,
    }

    impl M {
        fn new(nextp: Option<usize>, spinning: bool) -> Arc<M> {
            Arc::new(M {
                park: Note { signalled: Mutex::new(false), cv: Condvar::new() },
                nextp: Mutex::new(nextp),
                spinning: AtomicBool::new(spinning),
            })
        }
    }

    /// An M's own half (`m::MLocal`).
    struct MLocal {
        m: Arc<M>,
        p: Option<usize>,
        spinning: bool,
    }

    /// What the scheduler lock protects (`sched::Idle`).
    struct Idle {
        pidle: Vec<usize>,
        midle: Vec<Arc<M>>,
        allm: Vec<Arc<M>>,
        threads: Vec<JoinHandle<()>>,
        mcount: u32,
    }

    struct Sched {
        nprocs: u32,
        idle: Mutex<Idle>,
        /// Signalled when the last M parks (real: `checkdead::request`).
        all_parked: Condvar,
        npidle: AtomicU32,
        nmspinning: AtomicU32,
        needspinning: AtomicU32,
        /// Goroutines in the global run queue.
        runq: AtomicUsize,
        shutdown: AtomicBool,
        /// Goroutines run.
        ran: AtomicUsize,
        proto: Protocol,
        /// The submitting thread, and what the model saw (coverage).
        submitter: Mutex<Option<thread::ThreadId>>,
        seen: std::sync::Arc<Seen>,
    }

    impl Sched {
        fn runq_empty(&self) -> bool {
            self.runq.load(Ordering::Acquire) == 0
        }

        /// `P::take_global`: one goroutine off the global queue.
        fn take_global(&self) -> bool {
            let mut n = self.runq.load(Ordering::Acquire);
            while n > 0 {
                match self.runq.compare_exchange(n, n - 1, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => return true,
                    Err(cur) => n = cur,
                }
            }
            false
        }

        fn pidleput(&self, idle: &mut Idle, p: usize) {
            idle.pidle.push(p);
            self.npidle.fetch_add(1, Ordering::SeqCst);
        }

        fn pidleget(&self, idle: &mut Idle) -> Option<usize> {
            let p = idle.pidle.pop()?;
            self.npidle.fetch_sub(1, Ordering::SeqCst);
            Some(p)
        }

        fn pidleget_spinning(&self, idle: &mut Idle) -> Option<usize> {
            let p = self.pidleget(idle);
            if p.is_none() {
                self.needspinning.store(1, Ordering::SeqCst);
            }
            p
        }

        fn become_spinning(&self, ml: &mut MLocal) {
            ml.spinning = true;
            self.nmspinning.fetch_add(1, Ordering::SeqCst);
            self.needspinning.store(0, Ordering::SeqCst);
        }

        /// Parks the M until it is handed a P; false at shutdown.
        fn stopm(&self, ml: &mut MLocal) -> bool {
            {
                let mut idle = self.idle.lock().unwrap();
                if self.shutdown.load(Ordering::Acquire) {
                    return false;
                }
                idle.midle.push(ml.m.clone());
                if idle.midle.len() == idle.mcount as usize {
                    self.all_parked.notify_all();
                }
            }
            // park_m
            if self.shutdown.load(Ordering::Acquire) {
                return false;
            }
            ml.m.park.sleep();
            match ml.m.nextp.lock().unwrap().take() {
                Some(p) => {
                    ml.p = Some(p);
                    if ml.m.spinning.swap(false, Ordering::Relaxed) {
                        ml.spinning = true;
                    }
                    true
                }
                None => false,
            }
        }

        /// `find_runnable` with no timers, poller or other P to steal from
        /// (the work goes to the global queue). True: a goroutine was taken.
        fn find_runnable(&self, ml: &mut MLocal) -> bool {
            loop {
                if self.shutdown.load(Ordering::Acquire) {
                    let p = ml.p.take().expect("find_runnable holds a P");
                    self.pidleput(&mut self.idle.lock().unwrap(), p);
                    return false;
                }
                if !self.runq_empty() && self.take_global() {
                    return true;
                }
                let busy = self.nprocs - self.npidle.load(Ordering::SeqCst);
                let spin = ml.spinning || 2 * self.nmspinning.load(Ordering::SeqCst) < busy;
                if spin && !ml.spinning {
                    self.become_spinning(ml);
                }
                // steal_work finds nothing: in this model no P has work in
                // its own queue (the submitter uses the global queue).

                // Nothing to do: give up the P.
                let mut idle = self.idle.lock().unwrap();
                if !self.runq_empty() {
                    let got = self.take_global();
                    drop(idle);
                    if got {
                        return true;
                    }
                    continue;
                }
                if !ml.spinning && self.needspinning.load(Ordering::SeqCst) == 1 {
                    self.become_spinning(ml);
                    drop(idle);
                    continue;
                }
                let p = ml.p.take().expect("find_runnable holds a P");
                self.pidleput(&mut idle, p);
                drop(idle);

                if ml.spinning {
                    ml.spinning = false;
                    let work = if self.proto.recheck_first {
                        let work = !self.runq_empty();
                        self.nmspinning.fetch_sub(1, Ordering::SeqCst);
                        work
                    } else {
                        self.nmspinning.fetch_sub(1, Ordering::SeqCst);
                        if let Some(order) = self.proto.spin_fence {
                            fence(order);
                        }
                        !self.runq_empty()
                    };
                    if work {
                        self.seen.recheck_found.fetch_add(1, Relaxed);
                    }
                    if work && self.respin(ml) {
                        continue;
                    }
                }
                if !self.stopm(ml) {
                    return false;
                }
            }
        }

        fn respin(&self, ml: &mut MLocal) -> bool {
            let mut idle = self.idle.lock().unwrap();
            match self.pidleget_spinning(&mut idle) {
                Some(p) => {
                    drop(idle);
                    ml.p = Some(p);
                    self.become_spinning(ml);
                    true
                }
                None => false,
            }
        }
    }

    fn reset_spinning(s: &Arc<Sched>, ml: &mut MLocal) {
        ml.spinning = false;
        s.nmspinning.fetch_sub(1, Ordering::SeqCst);
        wakep(s);
    }

    fn wakep(s: &Arc<Sched>) {
        if s.nmspinning.load(Ordering::SeqCst) != 0 {
            return;
        }
        if s.npidle.load(Ordering::SeqCst) == 0 && s.needspinning.load(Ordering::SeqCst) == 1 {
            return;
        }
        if s.nmspinning.compare_exchange(0, 1, Ordering::SeqCst, Ordering::Relaxed).is_err() {
            return;
        }
        let mut idle = s.idle.lock().unwrap();
        let Some(p) = s.pidleget_spinning(&mut idle) else {
            s.nmspinning.fetch_sub(1, Ordering::SeqCst);
            return;
        };
        startm_locked(s, idle, p, true);
    }

    fn wakep_after_push(s: &Arc<Sched>) {
        if let Some(order) = s.proto.submit_fence {
            fence(order);
        }
        wakep(s);
    }

    /// `startm_locked` with a P: wake an idle M with it, or start one.
    fn startm_locked(s: &Arc<Sched>, mut idle: MutexGuard<'_, Idle>, p: usize, spinning: bool) {
        if s.shutdown.load(Ordering::Acquire) {
            drop(idle);
            if spinning {
                s.nmspinning.fetch_sub(1, Ordering::SeqCst);
            }
            return;
        }
        if *s.submitter.lock().unwrap() == Some(thread::current().id()) {
            s.seen.submitter_started.fetch_add(1, Relaxed);
        }
        match idle.midle.pop() {
            Some(m) => {
                drop(idle);
                m.spinning.store(spinning, Ordering::Relaxed);
                *m.nextp.lock().unwrap() = Some(p);
                m.park.wakeup();
            }
            None => {
                // `newm`: counted before the lock is dropped.
                idle.mcount += 1;
                let m = M::new(Some(p), spinning);
                idle.allm.push(m.clone());
                drop(idle);
                let s2 = s.clone();
                let h = thread::spawn(move || mstart(&s2, m));
                s.idle.lock().unwrap().threads.push(h);
            }
        }
    }

    /// An M's life: take the P handed over, then `schedule` until shutdown.
    fn mstart(s: &Arc<Sched>, m: Arc<M>) {
        let p = m.nextp.lock().unwrap().take();
        let spinning = m.spinning.swap(false, Ordering::Relaxed);
        let mut ml = MLocal { m, p, spinning };
        while s.find_runnable(&mut ml) {
            if ml.spinning {
                reset_spinning(s, &mut ml);
            }
            // execute: the goroutine runs to its end.
            s.ran.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Which halves of the Dekker pair did the work, over all executions
    /// of one model (std atomics: they outlive loom's executions).
    #[derive(Default)]
    struct Seen {
        executions: StdAtomicUsize,
        /// The last spinning M's re-check found the work.
        recheck_found: StdAtomicUsize,
        /// The submitter's `wakep` handed a P to an M.
        submitter_started: StdAtomicUsize,
    }

    /// `nprocs` Ps: P0 is M1's, which is about to look for work; the
    /// others are idle.
    fn run(proto: Protocol, nprocs: u32, preemptions: usize) -> std::sync::Arc<Seen> {
        let seen = std::sync::Arc::new(Seen::default());
        let seen2 = seen.clone();
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(preemptions);
        b.check(move || {
            seen2.executions.fetch_add(1, Relaxed);
            let m1 = M::new(Some(0), false);
            let s = Arc::new(Sched {
                nprocs,
                idle: Mutex::new(Idle {
                    pidle: (1..nprocs as usize).rev().collect(),
                    midle: Vec::new(),
                    allm: vec![m1.clone()],
                    threads: Vec::new(),
                    mcount: 1,
                }),
                all_parked: Condvar::new(),
                npidle: AtomicU32::new(nprocs - 1),
                nmspinning: AtomicU32::new(0),
                needspinning: AtomicU32::new(0),
                runq: AtomicUsize::new(0),
                shutdown: AtomicBool::new(false),
                ran: AtomicUsize::new(0),
                proto,
                submitter: Mutex::new(None),
                seen: seen2.clone(),
            });
            let s1 = s.clone();
            let h1 = thread::spawn(move || mstart(&s1, m1));

            // A plain thread readies a goroutine (`ready_from_outside`).
            // A thread of its own, not the model's main thread: loom's race
            // detection misses interleavings of the main thread's accesses
            // with a thread spawned before them (tokio-rs/loom#392; here it
            // explored a tenth of the executions at the same bound).
            let s2 = s.clone();
            let submitter = thread::spawn(move || {
                *s2.submitter.lock().unwrap() = Some(thread::current().id());
                if proto.wakep_first {
                    wakep_after_push(&s2);
                    s2.runq.fetch_add(1, Ordering::Release);
                } else {
                    s2.runq.fetch_add(1, Ordering::Release);
                    wakep_after_push(&s2);
                }
            });
            submitter.join().unwrap();

            // Wait until every M is parked, as checkdead would see it.
            let mut idle = s.idle.lock().unwrap();
            while idle.midle.len() < idle.mcount as usize {
                idle = s.all_parked.wait(idle).unwrap();
            }
            assert_eq!(
                s.ran.load(Ordering::Relaxed),
                1,
                "a goroutine was left in the run queue with every M parked (lost wake-up)"
            );
            // Shut down: the flag, then every M woken under the lock.
            s.shutdown.store(true, Ordering::Release);
            for m in &idle.allm {
                m.park.wakeup();
            }
            let threads = std::mem::take(&mut idle.threads);
            drop(idle);
            h1.join().unwrap();
            for h in threads {
                h.join().unwrap();
            }
        });
        seen
    }

    /// Preemption bounds: every execution with at most this many
    /// preemptions is explored (about 186,000 executions with one P and
    /// 43,000 with two; the whole file takes 30 s on two loaded cores). The
    /// mutation tests use 3, at which loom already finds each bug.
    const BOUND_ONE_P: usize = 4;
    const BOUND_TWO_PS: usize = 2;
    const MUTATION_BOUND: usize = 3;

    /// The real protocol loses no wake-up, and the model reaches both
    /// outcomes of the race: the spinner's re-check finds the work, or the
    /// submitter's `wakep` hands a P to an M.
    fn check_real(nprocs: u32, preemptions: usize) {
        let seen = run(REAL, nprocs, preemptions);
        let n = |c: &StdAtomicUsize| c.load(Relaxed);
        eprintln!(
            "{nprocs} P: {} executions; re-check found the work in {}, the submitter started an M in {}",
            n(&seen.executions),
            n(&seen.recheck_found),
            n(&seen.submitter_started)
        );
        assert!(n(&seen.recheck_found) > 0, "no execution had the spinner's re-check find the work");
        assert!(n(&seen.submitter_started) > 0, "no execution had the submitter start an M");
    }

    #[test]
    fn no_wakeup_is_lost_with_one_p() {
        check_real(1, BOUND_ONE_P);
    }

    #[test]
    fn no_wakeup_is_lost_with_two_ps() {
        check_real(2, BOUND_TWO_PS);
    }

    #[test]
    #[should_panic(expected = "lost wake-up")]
    fn without_the_spinners_fence_a_wakeup_is_lost() {
        run(Protocol { spin_fence: None, ..REAL }, 1, MUTATION_BOUND);
    }

    #[test]
    #[should_panic(expected = "lost wake-up")]
    fn with_an_acqrel_submitter_fence_a_wakeup_is_lost() {
        run(Protocol { submit_fence: Some(Ordering::AcqRel), ..REAL }, 1, MUTATION_BOUND);
    }

    #[test]
    #[should_panic(expected = "lost wake-up")]
    fn rechecking_before_the_decrement_loses_a_wakeup() {
        run(Protocol { recheck_first: true, ..REAL }, 1, MUTATION_BOUND);
    }

    #[test]
    #[should_panic(expected = "lost wake-up")]
    fn reading_nmspinning_before_publishing_loses_a_wakeup() {
        run(Protocol { wakep_first: true, ..REAL }, 1, MUTATION_BOUND);
    }
}
