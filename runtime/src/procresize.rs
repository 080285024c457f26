//! Changing the number of Ps of a running runtime: the P table, which
//! grows without moving a P; stopping the world; resizing; starting it
//! again.
//!
//! Go: runtime/proc.go (`procresize`, `stopTheWorldWithSema`,
//! `startTheWorldWithSema`, `gcstopm`, `GOMAXPROCS`).
//!
//! ## The P table
//!
//! A P never moves: Ms hold `&P`, timer nodes point into a P's heap. The
//! table is a list of chunks, chunk k holding 2^k Ps (so 17 chunks cover
//! [`MAX_PROCS`](crate::MAX_PROCS)), allocated when first needed and freed
//! with the runtime. Ps `0..nprocs` are live; Ps beyond it were live once
//! and are *dead*: never handed out, marked idle so thieves skip them,
//! their queues and caches emptied. Their counters still count (spawned,
//! exited), and a timer a plain thread armed on one while it died is still
//! found ([`Sched::timers_wake_time`] and the last steal round look at
//! every P ever allocated).
//!
//! ## Stopping the world
//!
//! `gcwaiting` set, every live P must reach the *stopped* set (Go:
//! `_Pgcstop`), each exactly once, counted down by `stopwait`:
//! - idle Ps, taken off the idle list by the stopper;
//! - Ps in a `gort::syscall`, retaken by the stopper (a CAS);
//! - Ps an M holds: the M stops its P at the top of `find_runnable`
//!   (Go: `gcstopm`), and a P that would go idle or be handed off goes to
//!   the stopped set instead (`pidleput`, `handoffp`). Every live P gets a
//!   preemption request, so goroutines come back to the scheduler at their
//!   next safe point; one that never does (a loop without runtime calls)
//!   loses its P to sysmon after a time slice, which hands it off (to the
//!   stopped set);
//! - Ps in hand-off to an M (`nextp`) are stopped by that M when it
//!   starts looking for work.
//!
//! Stopped Ps keep their run queues. With every live P stopped and owned
//! by no M, the stopper owns them all: it resizes, then puts the Ps on the
//! idle list and starts an M for each one that has work.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::p::{OwnedP, P};
use crate::sched::{Idle, Sched};

/// Chunks of the P table: chunk k holds 2^k Ps.
const CHUNKS: usize = 17;

/// The table of every P a runtime ever had (module docs).
pub(crate) struct AllP {
    chunks: [OnceLock<Box<[P]>>; CHUNKS],
    /// Ps allocated: indices `0..allocated` are valid. Only grows.
    allocated: AtomicU32,
}

/// Chunk and offset of P `i`.
#[inline]
fn locate(i: usize) -> (usize, usize) {
    let k = (usize::BITS - 1 - (i + 1).leading_zeros()) as usize;
    (k, i + 1 - (1 << k))
}

impl AllP {
    /// A table with Ps `0..n` allocated.
    pub(crate) fn new(n: usize) -> AllP {
        let t = AllP { chunks: [const { OnceLock::new() }; CHUNKS], allocated: AtomicU32::new(0) };
        t.grow(n);
        t
    }

    /// Makes Ps `0..n` exist (new ones idle). Callers serialise (runtime
    /// construction, or a stopped world).
    pub(crate) fn grow(&self, n: usize) {
        let have = self.allocated();
        if n <= have {
            return;
        }
        let (last, _) = locate(n - 1);
        for k in 0..=last {
            self.chunks[k].get_or_init(|| {
                let base = (1usize << k) - 1;
                (0..1usize << k).map(|j| P::new(base + j)).collect()
            });
        }
        // Release: a reader that sees the count finds the chunks.
        self.allocated.store(n as u32, Ordering::Release);
    }

    /// Number of Ps ever allocated.
    #[inline]
    pub(crate) fn allocated(&self) -> usize {
        self.allocated.load(Ordering::Acquire) as usize
    }

    /// P `i`, which must have been allocated.
    #[inline]
    pub(crate) fn get(&self, i: usize) -> &P {
        let (k, off) = locate(i);
        &self.chunks[k].get().expect("gort: P index beyond the P table")[off]
    }

    /// Ps `0..n`.
    #[inline]
    pub(crate) fn range(&self, n: usize) -> impl Iterator<Item = &P> {
        (0..n).map(|i| self.get(i))
    }
}

/// State of a stop-the-world (under the scheduler lock, but for the flag).
#[derive(Default)]
pub(crate) struct Stw {
    /// Live Ps not yet stopped (Go: `sched.stopwait`).
    pub(crate) stopwait: u32,
    /// The stopped Ps (Go: the Ps in `_Pgcstop`).
    pub(crate) stopped: Vec<usize>,
}

impl Sched {
    /// Whether the world is stopping (Go: `sched.gcwaiting`).
    #[inline]
    pub(crate) fn gcwaiting(&self) -> bool {
        self.gcwaiting.load(Ordering::SeqCst)
    }

    /// Puts `p`, owned by nobody, in the stopped set (Go: `_Pgcstop`,
    /// `stopwait--`); wakes the stopper when it was the last.
    pub(crate) fn stopp(&self, idle: &mut Idle, p: &P) {
        debug_assert_eq!(p.status(), crate::pstatus::IDLE, "stopp: P{} is owned", p.id);
        debug_assert!(!idle.stw.stopped.contains(&p.id), "stopp: P{} stopped twice", p.id);
        idle.stw.stopped.push(p.id);
        idle.stw.stopwait -= 1;
        if idle.stw.stopwait == 0 {
            self.stopnote.wakeup();
        }
    }

    /// Stops every live P (module docs) but `own`, the P the caller holds
    /// in runtime code, if any. Returns with the world stopped:
    /// `gcwaiting` set, every other live P in the stopped set.
    fn stop_the_world(&self, own: Option<usize>) {
        let n = self.nprocs();
        {
            let mut idle = self.idle.lock();
            self.gcwaiting.store(true, Ordering::SeqCst);
            idle.stw.stopwait = n - own.is_some() as u32;
            idle.stw.stopped.clear();
            if idle.stw.stopwait == 0 {
                return;
            }
            while let Some(id) = idle.pidle.pop() {
                let p = self.allp.get(id);
                self.npidle.fetch_sub(1, Ordering::SeqCst);
                // Idle Ps are unowned and stay marked idle for thieves.
                self.stopp(&mut idle, p);
            }
        }
        for p in self.allp.range(n as usize).filter(|p| Some(p.id) != own) {
            p.preempt.store(true, Ordering::Relaxed);
        }
        // sysmon takes Ps from goroutines that do not come back (it retakes
        // at once while the world stops, see sysmon::retake).
        self.wake_sysmon(true);
        loop {
            // Ps entering a syscall after we looked are taken on the next
            // round.
            for p in self.allp.range(n as usize) {
                let w = p.status();
                if w & crate::pstatus::STATE_MASK == crate::pstatus::SYSCALL
                    && p.try_retake_syscall((w >> 32) as u32)
                {
                    let mut idle = self.idle.lock();
                    self.stopp(&mut idle, p);
                }
            }
            if self.idle.lock().stw.stopwait == 0 {
                break;
            }
            if self.stopnote.sleep_timeout(std::time::Duration::from_micros(100)) {
                self.stopnote.clear();
            }
        }
        self.stopnote.clear();
    }

    /// Restarts the world: every stopped P goes on the idle list, and an M
    /// starts for each that has goroutines queued. (The caller's own P,
    /// never stopped, stays the caller's.)
    fn start_the_world(&self) {
        let mut busy = Vec::new();
        {
            let mut idle = self.idle.lock();
            debug_assert_eq!(idle.stw.stopwait, 0);
            let stopped = std::mem::take(&mut idle.stw.stopped);
            self.gcwaiting.store(false, Ordering::SeqCst);
            for id in stopped {
                let p = self.allp.get(id);
                p.preempt.store(false, Ordering::Relaxed);
                if p.runq_empty() {
                    p.idle.store(false, Ordering::Relaxed);
                    self.pidleput(&mut idle, p);
                } else {
                    busy.push(id);
                }
            }
        }
        for id in busy {
            let p = self.allp.get(id);
            p.idle.store(false, Ordering::Release);
            self.startm(Some(p), false);
        }
        self.wakep();
    }

    /// Changes the number of live Ps with the world stopped: new Ps are
    /// allocated (or dead ones revived); Ps beyond `n` die, their queued
    /// goroutines going to the global queue, their timers to the live
    /// Ps, their caches to the central ones. If the caller's own P (`ml`'s)
    /// dies, the caller takes P 0 instead. Go: `procresize`.
    fn procresize(&self, n: usize, ml: Option<&crate::m::MLocal>) {
        let old = self.nprocs() as usize;
        self.allp.grow(n);
        for i in n..old {
            // SAFETY: the world is stopped: every P but the stopper's is in
            // the stopped set, its word IDLE and named by no M (pstatus.rs),
            // and the stopper's own is its own, its hold's token idle while
            // this runs; so the stopper owns this dying P, (1). The token
            // ends with this iteration, before the P is marked idle, and
            // nothing here switches goroutines, (2), (3).
            let mut p = unsafe { OwnedP::new(self.allp.get(i)) };
            for g in p.drain() {
                self.globrunqput(g);
            }
            p.timers.move_all(&self.allp.get(i % n).timers);
            let l = p.local();
            l.stacks.flush(&self.stacks);
            crate::mcache::CENTRAL.flush(&mut l.mcache);
            self.gfree.lock().append(&mut l.gfree);
            p.idle.store(true, Ordering::Release);
        }
        let own = ml.and_then(|ml| ml.p()).map(|p| p.id);
        let mut idle = self.idle.lock();
        // Revived Ps were marked idle when they died: the stopped set now
        // holds exactly the live Ps (but the caller's).
        idle.stw.stopped.retain(|&id| id < n);
        idle.stw.stopped.extend(old..n);
        if let (Some(ml), Some(id)) = (ml, own)
            && id >= n
        {
            // Our P dies: swap it for P 0 (stopped, so unowned).
            // SAFETY: the stopper is a goroutine inside a hold (depth >= 1,
            // `set_max_procs_of`) on this P; the token is released at once.
            let dead = self.releasep(ml, unsafe { ml.owned_p() });
            dead.idle.store(true, Ordering::Release);
            idle.stw.stopped.retain(|&i| i != 0);
            let p0 = self.allp.get(0);
            // A P the stopper took off the idle list is still marked idle.
            p0.idle.store(false, Ordering::Release);
            self.acquirep(ml, p0);
        }
        drop(idle);
        self.nprocs.store(n as u32, Ordering::SeqCst);
        self.set_steal_order(n as u32);
    }

    /// `GOMAXPROCS(n)` for this runtime; returns the previous count.
    /// Callers validated `n`. `ml` is the calling M when it holds one of
    /// this runtime's Ps in runtime code (a goroutine's `hold_p`): that P
    /// keeps running the caller, as in Go, instead of stopping with the
    /// rest. Otherwise the caller holds none of its Ps.
    pub(crate) fn set_max_procs(&self, n: usize, ml: Option<&crate::m::MLocal>) -> usize {
        let _one = self.stw_lock.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.nprocs() as usize;
        if n == old || self.is_shutdown() {
            return old;
        }
        self.stop_the_world(ml.and_then(|ml| ml.p()).map(|p| p.id));
        self.procresize(n, ml);
        self.start_the_world();
        old
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_covers_every_index_once() {
        let mut next = 0;
        for k in 0..6 {
            for off in 0..1usize << k {
                assert_eq!(locate(next), (k, off));
                next += 1;
            }
        }
        assert_eq!(locate(crate::runtime::MAX_PROCS - 1).0, 16);
    }

    #[test]
    fn the_table_grows_without_moving_a_p() {
        let t = AllP::new(3);
        let p2: *const P = t.get(2);
        t.grow(40);
        assert_eq!(t.allocated(), 40);
        assert!(std::ptr::eq(p2, t.get(2)));
        for i in 0..40 {
            assert_eq!(t.get(i).id, i);
        }
    }
}
