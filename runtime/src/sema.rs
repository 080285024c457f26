//! Semaphores keyed by address, and the ticket-ordered notify list: the
//! sleep/wake-up layer under gort-sync's Mutex, RwLock, WaitGroup and Cond.
//!
//! Go: runtime/sema.go (`semacquire1`, `semrelease1`, `semaRoot`, the
//! treap, `notifyList`).
//!
//! ## Semaphores
//!
//! A semaphore is any `AtomicU32` a primitive owns; its value counts
//! available units. [`semacquire`] takes one unit, parking the caller while
//! there is none; [`semrelease`] adds one and wakes the longest waiter. As
//! in Plan 9 (Mullender and Cox), every sleep is paired with exactly one
//! wake-up, even when the wake-up comes first: the unit stays in the word.
//!
//! Waiters are kept in a table of [`SEM_TAB_SIZE`] roots indexed by the
//! word's address (`(addr >> 3) % 251`), so a primitive needs no wait queue
//! of its own and costs only its word. Each root holds a **treap** of the
//! distinct addresses that have waiters (a binary search tree by address,
//! a min-heap by a random priority, so expected depth O(log n)); each treap
//! node heads a FIFO list of the further waiters on the same address (a
//! [`WaitList`], `waitlist.rs`, in the node). Enqueue and dequeue therefore cost O(log distinct
//! addresses in the root) plus O(1), however many goroutines wait on one
//! address. Waiter records (Go: `sudog`) live on the waiting goroutine's
//! (or thread's) stack, which stays put while it is parked: the table
//! never allocates.
//!
//! Invariants and orderings:
//! - a root's treap, and every link of every queued waiter, is read and
//!   written only under the root's lock; a queued waiter's record stays
//!   alive because its owner cannot return from [`semacquire`] before a
//!   releaser has dequeued it (under the lock) and readied it;
//! - `nwait` counts the root's queued waiters so that [`semrelease`] can
//!   skip the lock when nobody waits. The acquirer increments `nwait`, then
//!   re-reads the word; the releaser increments the word, then reads
//!   `nwait`. All four are SeqCst, so at least one side sees the other (the
//!   store-load pattern of Dekker's algorithm): no lost wake-up;
//! - after dequeuing a waiter, the releaser alone owns its `ticket` until it
//!   readies it; `ready` publishes the ticket to the woken waiter.
//!
//! **Hand-off.** `semrelease(addr, true)` takes the unit on behalf of the
//! woken waiter (ticket 1, so the waiter does not compete for it) and then
//! yields its P with [`yield_local`]: the waiter sits in `runnext` and runs
//! at once, inheriting the time slice. Mutex's starvation mode depends on
//! this (Go: TestSemaHandoff).
//!
//! **LIFO.** `semacquire(addr, true, ..)` puts the waiter at the head of its
//! address's queue: a mutex waiter that was woken and lost the race goes
//! back to the front, not the back.
//!
//! **A dropped runtime.** A parked `semacquire` is unwind-safe: its guard
//! (`Unqueue`) unlinks the record from the treap, or, if a releaser
//! dequeued it, waits out that releaser's `ready` and gives back a unit it
//! handed over. The primitives built on the semaphore (Mutex, RwLock,
//! WaitGroup) keep counters of their own that still count a waiter
//! unwound this way, so one shared with threads outside the dropped
//! runtime may stay locked, or let a waiter through early, afterwards.
//!
//! The notify list of `sync.Cond` is in `notify.rs` (re-exported here).

use std::cell::Cell;
use std::ptr;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::g::{GRef, WaitReason};
use crate::gopark::{current_g, in_goroutine, park_unwind_safe, ready, yield_local};
use crate::lock::RawLock;
use crate::proc::cheaprand;
use crate::waitlist::{Links, WaitList};

pub use crate::notify::NotifyList;

/// Number of roots in the semaphore table (Go: `semTabSize`), prime so that
/// addresses spread evenly.
pub(crate) const SEM_TAB_SIZE: usize = 251;

/// One waiter (Go: `sudog`), on the waiter's own stack.
///
/// `g` is set when it is made; every Cell is read and written only under
/// its root's lock, by the waiter that queues it or the releaser that
/// dequeues it, and by the waiter again after it is readied (which
/// happens-after the releaser's unlock).
struct Sudog {
    /// The waiting goroutine; immutable.
    g: GRef,
    /// The semaphore's address, the treap key.
    addr: Cell<usize>,
    /// While a treap node: its random heap priority (never 0). After
    /// dequeue: 0, or 1 when the releaser handed the unit over.
    ticket: Cell<u32>,
    /// Treap links.
    parent: Cell<*const Sudog>,
    prev: Cell<*const Sudog>,
    next: Cell<*const Sudog>,
    /// Links in the list of further waiters on the same address, the
    /// treap node's `waiters` (Go: `waitlink`).
    links: Links<Sudog>,
    /// On the treap node only: the further waiters on its address, oldest
    /// first (Go: `waitlink`/`waittail` of the node); empty otherwise.
    waiters: WaitList<Sudog>,
}

crate::linked!(Sudog, links);

impl Sudog {
    fn new(g: GRef) -> Sudog {
        Sudog {
            g,
            addr: Cell::new(0),
            ticket: Cell::new(0),
            parent: Cell::new(ptr::null()),
            prev: Cell::new(ptr::null()),
            next: Cell::new(ptr::null()),
            links: Links::new(),
            waiters: WaitList::new(),
        }
    }
}

/// One bucket of the table (Go: `semaRoot`).
struct SemaRoot {
    /// Guards `treap` and every `Sudog` reachable from it (Go:
    /// `semaRoot.lock`); a park callback releases it.
    lock: RawLock,
    /// Root of the treap of distinct waiting addresses; under `lock`.
    treap: Cell<*const Sudog>,
    /// Waiters queued in this root (Go: `semaRoot.nwait`): incremented by a
    /// waiter under `lock` before its last look at the semaphore, and
    /// decremented under `lock` when a waiter leaves, SeqCst both; a
    /// releaser reads it without the lock to skip a root with nobody
    /// waiting (the Dekker pair in the module docs).
    nwait: AtomicU32,
}

// SAFETY: `treap` and everything reachable from it are touched only under
// `lock` (module docs); `nwait` is atomic.
unsafe impl Sync for SemaRoot {}

/// A root padded to its own cache line pair, so that roots do not share
/// lines (Go pads to `cpu.CacheLinePadSize`).
#[repr(align(128))]
struct PaddedRoot(SemaRoot);

static SEMTABLE: [PaddedRoot; SEM_TAB_SIZE] = [const {
    PaddedRoot(SemaRoot { lock: RawLock::new(), treap: Cell::new(ptr::null()), nwait: AtomicU32::new(0) })
}; SEM_TAB_SIZE];

#[inline]
fn root_for(addr: &AtomicU32) -> &'static SemaRoot {
    &SEMTABLE[((addr as *const AtomicU32 as usize) >> 3) % SEM_TAB_SIZE].0
}

/// Takes one unit if there is one (Go: `cansemacquire`).
#[inline]
fn cansemacquire(addr: &AtomicU32) -> bool {
    let mut v = addr.load(Ordering::SeqCst);
    loop {
        if v == 0 {
            return false;
        }
        match addr.compare_exchange_weak(v, v - 1, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => return true,
            Err(cur) => v = cur,
        }
    }
}

/// Takes one unit of the semaphore `addr`, parking the caller (a goroutine,
/// or a plain thread) until one is available. With `lifo`, the caller
/// queues ahead of the address's other waiters (a woken mutex waiter
/// re-queuing). `reason` is shown in goroutine dumps. Go: `semacquire1`.
///
/// The word must not move or be freed while anyone may wait on it; a
/// primitive gets that for free by keying on a field of itself, which its
/// waiters borrow.
pub fn semacquire(addr: &AtomicU32, lifo: bool, reason: WaitReason) {
    if cansemacquire(addr) {
        return;
    }
    semacquire_slow(addr, lifo, reason);
}

#[cold]
#[inline(never)]
fn semacquire_slow(addr: &AtomicU32, lifo: bool, reason: WaitReason) {
    let root = root_for(addr);
    let s = Sudog::new(current_g());
    let key = addr as *const AtomicU32 as usize;
    loop {
        root.lock.lock();
        // Announce ourselves before the final check (module docs).
        root.nwait.fetch_add(1, Ordering::SeqCst);
        if cansemacquire(addr) {
            root.nwait.fetch_sub(1, Ordering::SeqCst);
            // SAFETY: we took the lock above.
            unsafe { root.lock.unlock() };
            return;
        }
        // SAFETY: we hold the root's lock, and `s` stays alive and in
        // place until a releaser dequeues it (we only get past `park`
        // after that) or the guard below unlinks it.
        unsafe { root.queue(key, &s, lifo) };
        let guard = Unqueue { root, s: &s, addr };
        park_unwind_safe(reason, |_| {
            // SAFETY: we hold the root's lock; the scheduler runs this once
            // we are off our stack.
            unsafe { root.lock.unlock() };
            true
        });
        std::mem::forget(guard);
        // The releaser dequeued us before readying us; our links are ours
        // again, and `ready` published the ticket it left.
        if s.ticket.get() != 0 || cansemacquire(addr) {
            return;
        }
    }
}

/// The unwind guard of a parked `semacquire` (see [`crate::gopark`]): if
/// the goroutine's runtime is dropped while it waits, unlinks its record,
/// or, if a releaser dequeued it already, waits for that releaser's
/// `ready` and gives back a unit it handed over.
struct Unqueue<'a> {
    root: &'static SemaRoot,
    s: &'a Sudog,
    addr: &'a AtomicU32,
}

impl Drop for Unqueue<'_> {
    fn drop(&mut self) {
        let key = self.addr as *const AtomicU32 as usize;
        self.root.lock.lock();
        // SAFETY: we hold the root's lock; `s` was queued on this root.
        let removed = unsafe { self.root.remove(key, self.s) };
        if removed {
            self.root.nwait.fetch_sub(1, Ordering::SeqCst);
        }
        // SAFETY: taken above.
        unsafe { self.root.lock.unlock() };
        if !removed {
            crate::unwind::wait_for_waker();
            // The releaser wrote the ticket before readying us.
            if self.s.ticket.get() != 0 {
                semrelease(self.addr, false);
            }
        }
    }
}

/// Adds one unit to the semaphore `addr` and wakes its longest waiter, if
/// any. With `handoff`, the unit goes straight to that waiter, which then
/// runs at once on this P: the caller yields to it. Go: `semrelease1`.
pub fn semrelease(addr: &AtomicU32, handoff: bool) {
    let root = root_for(addr);
    addr.fetch_add(1, Ordering::SeqCst);
    // Easy case: nobody to wake (the SeqCst pair of the module docs).
    if root.nwait.load(Ordering::SeqCst) == 0 {
        return;
    }
    semrelease_slow(addr, root, handoff);
}

#[cold]
#[inline(never)]
fn semrelease_slow(addr: &AtomicU32, root: &SemaRoot, handoff: bool) {
    root.lock.lock();
    if root.nwait.load(Ordering::SeqCst) == 0 {
        // Someone else took the waiter (or it took the unit itself).
        // SAFETY: we took the lock above.
        unsafe { root.lock.unlock() };
        return;
    }
    // SAFETY: we hold the root's lock.
    let s = unsafe { root.dequeue(addr as *const AtomicU32 as usize) };
    if !s.is_null() {
        root.nwait.fetch_sub(1, Ordering::SeqCst);
    }
    // SAFETY: we took the lock above. Wake-ups happen after unlocking:
    // never ready a goroutine under the lock it queued under.
    unsafe { root.lock.unlock() };
    if s.is_null() {
        return;
    }
    // SAFETY: we dequeued `s` under the lock, so its owner is parked (or
    // about to be) and waits for exactly our ready; until then its record
    // is alive and ours alone.
    let (g, handed) = unsafe {
        let s = &*s;
        let handed = handoff && cansemacquire(addr);
        if handed {
            s.ticket.set(1);
        }
        (s.g, handed)
    };
    // SAFETY: we dequeued `s` under the root's lock, which makes us the one
    // party entitled to ready its goroutine, and `g` was copied out of the
    // record before the record can go away.
    unsafe { ready(g) };
    if handed && in_goroutine() {
        // Let the waiter, now in our runnext, run at once (Go: goyield).
        yield_local();
    }
}

/// The number of waiters queued in `addr`'s root (all addresses sharing
/// it), for tests and diagnostics. Go: `SemNwait` (export_test.go).
pub fn semnwait(addr: &AtomicU32) -> u32 {
    root_for(addr).nwait.load(Ordering::SeqCst)
}

impl SemaRoot {
    /// Adds `s` as a waiter on `addr`. Go: `semaRoot.queue`.
    ///
    /// # Safety
    /// The caller holds `self.lock`, and `s` stays alive and in place until
    /// [`SemaRoot::dequeue`] returns it.
    unsafe fn queue(&self, addr: usize, s: *const Sudog, lifo: bool) {
        // SAFETY: (whole body) every pointer followed is `s` or reachable
        // from the treap, hence a live queued record (caller's contract and
        // the module invariant), and we hold the lock that guards them all.
        unsafe {
            let sr = &*s;
            sr.addr.set(addr);
            sr.parent.set(ptr::null());
            sr.prev.set(ptr::null());
            sr.next.set(ptr::null());
            debug_assert!(sr.waiters.is_empty(), "semaRoot queue: a waiter with waiters");

            let mut last: *const Sudog = ptr::null();
            let mut pt: &Cell<*const Sudog> = &self.treap;
            loop {
                let t = pt.get();
                if t.is_null() {
                    break;
                }
                let tr = &*t;
                if tr.addr.get() == addr {
                    // Already have addr in the list.
                    if lifo {
                        // Substitute s for t in the treap, and put t at the
                        // head of s's wait list.
                        pt.set(s);
                        sr.ticket.set(tr.ticket.get());
                        sr.parent.set(tr.parent.get());
                        sr.prev.set(tr.prev.get());
                        sr.next.set(tr.next.get());
                        if let Some(p) = sr.prev.get().as_ref() {
                            p.parent.set(s);
                        }
                        if let Some(n) = sr.next.get().as_ref() {
                            n.parent.set(s);
                        }
                        sr.waiters.push_back(tr);
                        sr.waiters.append(&tr.waiters);
                        tr.parent.set(ptr::null());
                        tr.prev.set(ptr::null());
                        tr.next.set(ptr::null());
                    } else {
                        // Add s to the end of t's wait list.
                        tr.waiters.push_back(sr);
                    }
                    return;
                }
                last = t;
                pt = if addr < tr.addr.get() { &tr.prev } else { &tr.next };
            }

            // Add s as a new leaf with a random priority, then rotate it up
            // until the heap order holds (Go: treap insertion).
            sr.ticket.set(cheaprand() | 1);
            sr.parent.set(last);
            pt.set(s);
            loop {
                let p = sr.parent.get();
                if p.is_null() || (*p).ticket.get() <= sr.ticket.get() {
                    break;
                }
                if (*p).prev.get() == s {
                    self.rotate_right(p);
                } else {
                    debug_assert!((*p).next.get() == s, "semaRoot queue");
                    self.rotate_left(p);
                }
            }
        }
    }

    /// Removes and returns the first waiter on `addr`, or null. Go:
    /// `semaRoot.dequeue`.
    ///
    /// # Safety
    /// The caller holds `self.lock`.
    unsafe fn dequeue(&self, addr: usize) -> *const Sudog {
        // SAFETY: (whole body) as in `queue`: pointers reachable from the
        // treap are live queued records, guarded by the lock we hold.
        unsafe {
            let mut ps: &Cell<*const Sudog> = &self.treap;
            let mut s = ps.get();
            while !s.is_null() {
                let sr = &*s;
                if sr.addr.get() == addr {
                    break;
                }
                ps = if addr < sr.addr.get() { &sr.prev } else { &sr.next };
                s = ps.get();
            }
            if s.is_null() {
                return ptr::null();
            }
            let sr = &*s;
            if let Some(tr) = sr.waiters.pop_front() {
                // Promote the next waiter on addr into s's treap position,
                // with the rest of the list.
                let t: *const Sudog = tr;
                ps.set(t);
                tr.ticket.set(sr.ticket.get());
                tr.parent.set(sr.parent.get());
                tr.prev.set(sr.prev.get());
                if let Some(p) = tr.prev.get().as_ref() {
                    p.parent.set(t);
                }
                tr.next.set(sr.next.get());
                if let Some(n) = tr.next.get().as_ref() {
                    n.parent.set(t);
                }
                tr.waiters.append(&sr.waiters);
            } else {
                // Rotate s down to a leaf, keeping the heap order, then cut it.
                while !sr.next.get().is_null() || !sr.prev.get().is_null() {
                    let prev = sr.prev.get();
                    let next = sr.next.get();
                    if next.is_null() || (!prev.is_null() && (*prev).ticket.get() < (*next).ticket.get()) {
                        self.rotate_right(s);
                    } else {
                        self.rotate_left(s);
                    }
                }
                match sr.parent.get().as_ref() {
                    Some(p) if p.prev.get() == s => p.prev.set(ptr::null()),
                    Some(p) => p.next.set(ptr::null()),
                    None => self.treap.set(ptr::null()),
                }
            }
            sr.parent.set(ptr::null());
            sr.next.set(ptr::null());
            sr.prev.set(ptr::null());
            sr.ticket.set(0);
            s
        }
    }

    /// Unlinks `s`, a waiter on `addr`, if it is still queued; returns
    /// whether it was (for a waiter being unwound, see [`Unqueue`]).
    ///
    /// # Safety
    /// The caller holds `self.lock`; `s` was queued on this root, if at all.
    unsafe fn remove(&self, addr: usize, s: *const Sudog) -> bool {
        // SAFETY: (whole body) as in `queue`: pointers reachable from the
        // treap are live queued records, guarded by the lock we hold.
        unsafe {
            let mut t = self.treap.get();
            while let Some(tr) = t.as_ref() {
                if tr.addr.get() == addr {
                    break;
                }
                t = if addr < tr.addr.get() { tr.prev.get() } else { tr.next.get() };
            }
            let Some(tr) = t.as_ref() else { return false };
            if t == s {
                // The head of addr's waiters: what dequeue takes.
                let d = self.dequeue(addr);
                debug_assert!(d == s, "semaRoot remove");
                return true;
            }
            // Else s is in the node's list, or on no list at all.
            tr.waiters.remove(&*s)
        }
    }

    /// Rotates the treap left at `x`: `x`'s right child takes its place.
    ///
    /// # Safety
    /// Lock held; `x` is a treap node with a right child.
    unsafe fn rotate_left(&self, x: *const Sudog) {
        // SAFETY: live treap nodes under the lock (caller's contract).
        unsafe {
            let xr = &*x;
            let p = xr.parent.get();
            let y = xr.next.get();
            let yr = &*y;
            let b = yr.prev.get();

            yr.prev.set(x);
            xr.parent.set(y);
            xr.next.set(b);
            if let Some(b) = b.as_ref() {
                b.parent.set(x);
            }
            yr.parent.set(p);
            match p.as_ref() {
                None => self.treap.set(y),
                Some(pr) if pr.prev.get() == x => pr.prev.set(y),
                Some(pr) => {
                    debug_assert!(pr.next.get() == x, "semaRoot rotateLeft");
                    pr.next.set(y);
                }
            }
        }
    }

    /// Rotates the treap right at `y`: `y`'s left child takes its place.
    ///
    /// # Safety
    /// Lock held; `y` is a treap node with a left child.
    unsafe fn rotate_right(&self, y: *const Sudog) {
        // SAFETY: live treap nodes under the lock (caller's contract).
        unsafe {
            let yr = &*y;
            let p = yr.parent.get();
            let x = yr.prev.get();
            let xr = &*x;
            let b = xr.next.get();

            xr.next.set(y);
            yr.parent.set(x);
            yr.prev.set(b);
            if let Some(b) = b.as_ref() {
                b.parent.set(y);
            }
            xr.parent.set(p);
            match p.as_ref() {
                None => self.treap.set(x),
                Some(pr) if pr.prev.get() == y => pr.prev.set(x),
                Some(pr) => {
                    debug_assert!(pr.next.get() == y, "semaRoot rotateRight");
                    pr.next.set(x);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Walks a root's treap checking the search-tree order by address, the
    /// heap order by ticket and the parent links; returns (nodes, queued).
    fn check(root: &SemaRoot) -> (usize, usize) {
        fn walk(n: *const Sudog, parent: *const Sudog, lo: usize, hi: usize) -> (usize, usize) {
            // SAFETY: test-only; every node is a live local of the test.
            let Some(nr) = (unsafe { n.as_ref() }) else { return (0, 0) };
            assert_eq!(nr.parent.get(), parent, "parent link");
            assert!(nr.addr.get() >= lo && nr.addr.get() < hi, "search order");
            // SAFETY: test-only; `parent` is null or a node of this treap,
            // and every node is a live local of the test.
            if let Some(p) = unsafe { parent.as_ref() } {
                assert!(p.ticket.get() <= nr.ticket.get(), "heap order");
            }
            let mut queued = 1;
            // SAFETY: test-only; a node's wait list links only records the
            // test queued, which outlive the walk.
            for wr in unsafe { nr.waiters.iter() } {
                assert_eq!(wr.addr.get(), nr.addr.get());
                assert!(wr.waiters.is_empty(), "only a treap node has waiters");
                queued += 1;
            }
            let (a, qa) = walk(nr.prev.get(), n, lo, nr.addr.get());
            let (b, qb) = walk(nr.next.get(), n, nr.addr.get() + 1, hi);
            (1 + a + b, queued + qa + qb)
        }
        walk(root.treap.get(), ptr::null(), 0, usize::MAX)
    }

    /// White-box test of the treap (Go: BenchmarkSemTable's shapes, as
    /// assertions): many addresses in one root, several waiters per
    /// address; dequeue returns each address's waiters in FIFO order, a
    /// LIFO queue goes first, and the tree stays a treap throughout.
    #[test]
    fn treap_keeps_order_per_address() {
        let root = SemaRoot { lock: RawLock::new(), treap: Cell::new(ptr::null()), nwait: AtomicU32::new(0) };
        let g = current_g();
        const ADDRS: usize = 300;
        const PER: usize = 4;
        let recs: Vec<Sudog> = (0..ADDRS * PER).map(|_| Sudog::new(g)).collect();
        let lifo: Vec<Sudog> = (0..ADDRS).map(|_| Sudog::new(g)).collect();
        // Spread addresses pseudo-randomly, as distinct keys.
        let addr_of = |i: usize| 0x1000 + ((i * 7919) % ADDRS) * 8;
        root.lock.lock();
        for round in 0..PER {
            for i in 0..ADDRS {
                // SAFETY: lock held; the records outlive the test's use.
                unsafe { root.queue(addr_of(i), &recs[round * ADDRS + i], false) };
            }
        }
        for (i, l) in lifo.iter().enumerate() {
            // SAFETY: the root's lock, taken above, is still held; the LIFO
            // records live until the test ends, past every dequeue.
            unsafe { root.queue(addr_of(i), l, true) };
        }
        assert_eq!(check(&root), (ADDRS, ADDRS * (PER + 1)));
        for i in (0..ADDRS).rev() {
            // SAFETY: the root's lock, taken before the queueing loops, is
            // still held.
            let first = unsafe { root.dequeue(addr_of(i)) };
            assert_eq!(first, &lifo[i] as *const Sudog, "LIFO waiter first");
            for round in 0..PER {
                // SAFETY: the root's lock is still held; the record returned
                // is only compared by address.
                let s = unsafe { root.dequeue(addr_of(i)) };
                assert_eq!(s, &recs[round * ADDRS + i] as *const Sudog, "FIFO per address");
            }
            // SAFETY: the root's lock is still held; dequeuing an address
            // with no waiter left only reads the treap.
            assert!(unsafe { root.dequeue(addr_of(i)) }.is_null());
            let (nodes, queued) = check(&root);
            assert_eq!((nodes, queued), (i, i * (PER + 1)));
        }
        // SAFETY: taken above.
        unsafe { root.lock.unlock() };
    }

    /// `remove` of the waiters on one address: the treap node, one in the
    /// node's list, and one that is not queued (an unwound waiter that a
    /// releaser took first).
    #[test]
    fn remove_unlinks_one_waiter_of_an_address() {
        let root = SemaRoot { lock: RawLock::new(), treap: Cell::new(ptr::null()), nwait: AtomicU32::new(0) };
        let g = current_g();
        let recs: Vec<Sudog> = (0..4).map(|_| Sudog::new(g)).collect();
        let (a, b) = (0x1000, 0x2000);
        root.lock.lock();
        // SAFETY: the root's lock is held until the end of the block, and
        // the records outlive every use of the root.
        unsafe {
            for r in &recs[..3] {
                root.queue(a, r, false);
            }
            root.queue(b, &recs[3], false);
            assert!(root.remove(a, &recs[1]), "in the node's list");
            assert!(!root.remove(a, &recs[1]), "removed already");
            assert_eq!(check(&root), (2, 3));
            assert!(root.remove(a, &recs[0]), "the treap node");
            assert_eq!(check(&root), (2, 2));
            assert_eq!(root.dequeue(a), &recs[2] as *const Sudog);
            assert!(!root.remove(a, &recs[2]), "dequeued");
            assert_eq!(check(&root), (1, 1));
            assert_eq!(root.dequeue(b), &recs[3] as *const Sudog);
            root.lock.unlock();
        }
    }

    #[test]
    fn release_before_acquire_is_kept() {
        let sema = AtomicU32::new(0);
        semrelease(&sema, false);
        semrelease(&sema, false);
        semacquire(&sema, false, WaitReason::Semacquire);
        semacquire(&sema, false, WaitReason::Semacquire);
        assert_eq!(sema.load(Ordering::SeqCst), 0);
    }

    /// Go: TestSemaphore (mutex_test.go), on plain threads: 10 threads ×
    /// 1000 acquire/release pairs on a semaphore starting at 1.
    #[test]
    fn semaphore_threads() {
        use std::sync::Arc;
        let sema = Arc::new(AtomicU32::new(1));
        let inside = Arc::new(AtomicU32::new(0));
        let hs: Vec<_> = (0..10)
            .map(|_| {
                let (sema, inside) = (sema.clone(), inside.clone());
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        semacquire(&sema, false, WaitReason::Semacquire);
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                        inside.fetch_sub(1, Ordering::SeqCst);
                        semrelease(&sema, false);
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(sema.load(Ordering::SeqCst), 1);
    }
}
