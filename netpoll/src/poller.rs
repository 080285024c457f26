//! The network poller: per runtime, a root epoll instance holding the
//! sockets, the wake-up and one shard per P, which any P polls without
//! blocking (one at a time) before it steals work and an idle M blocks
//! in; a shard holds the sockets whose goroutines live on that P (both
//! ends of an in-process loopback connection), and only its P polls it
//! without blocking.
//!
//! Go: runtime/netpoll_epoll.go (`netpollinit`, `netpollopen`,
//! `netpollclose`, `netpoll`, `netpollBreak`) and the waiter count of
//! runtime/netpoll.go (`netpollWaiters`).
//!
//! ## What mio does, and the two raw calls
//!
//! Each epoll instance (the root and every shard) is a [`mio::Poll`]'s,
//! and everything but the wait and the shards' nesting goes through mio:
//! sockets are registered and deregistered through its
//! [`mio::Registry`] (which takes `&self`, so any thread registers while
//! others poll), and the netpoll break is a [`mio::Waker`]. Two calls are
//! raw: a shard's descriptor is added to the root with `epoll_ctl`
//! once, when the poller is made, because mio registers everything
//! edge-triggered and the root must hold the shards level-triggered ("The
//! root and the shards"); and the wait itself is one raw `epoll_wait` on
//! a Poll's descriptor
//! ([`mio::Poll::as_raw_fd`]), because `mio::Poll::poll` takes `&mut
//! self`: one poller at a time, where gort, as Go, lets the scheduler's
//! non-blocking polls (findRunnable, sysmon) run while an idle M blocks in
//! a poll, and the kernel hands each edge-triggered event to one of them.
//! Each call runs its own `epoll_wait` into a buffer on its stack; no lock
//! is taken. What this relies on from mio (the epoll selector of mio 1, as
//! its source has it; a mio upgrade must keep it):
//! - a [`mio::Token`] is the epoll event's data word, unchanged (mio's
//!   `Token(usize)` stored as the `u64`), so an event read raw carries the
//!   token registered through mio;
//! - its interests map to epoll's bits as Go's `netpollopen` asks for:
//!   every registration is edge-triggered (`EPOLLET`), `READABLE` is
//!   `EPOLLIN | EPOLLRDHUP`, `WRITABLE` is `EPOLLOUT`, `PRIORITY` is
//!   `EPOLLPRI`; the kernel adds `EPOLLHUP` and `EPOLLERR` to every
//!   registration;
//! - the Waker is an `eventfd` registered edge-triggered for reading with
//!   its token, and each `wake` writes it (a new edge, also while the
//!   counter is non-zero); mio resets the counter itself before it could
//!   overflow.
//!
//! A mio `Poll` keeps no state that its `poll` updates beyond the epoll
//! descriptor, so waiting on that descriptor behind its back loses nothing
//! (an `Events` buffer is simply never used).
//!
//! ## The root and the shards
//!
//! A socket without a home ([`crate::home`]: every socket but the two
//! ends of a loopback connection made in this process) is registered in
//! the root, as Go registers every socket in its one instance: whichever
//! P polls first takes its events. A P's non-blocking poll
//! ([`PollerInner::poll_own`]) takes the root if no other P is in it (the
//! `root_polling` claim, Go's `sched.pollingNet`), else only its own
//! shards. Keeping these sockets in one shared instance is what keeps a
//! server's tail short: with them spread over per-P shards (`fd % Ps`,
//! as may's per-worker selectors), hyper's HTTP/1.1 p99 under wrk went
//! from 1.3-1.9 ms to 2.7-3.3 ms (partitioned queues have the longer
//! tail), and letting an idle P take another P's shard did not bring it
//! back.
//!
//! A socket with a home is registered in shard `home % shards`, one
//! shard per P of the runtime when the poller was made (at least 1, at
//! most [`MAX_SHARDS`]), and stays there until it is closed. P `p` of
//! `nprocs` owns shard `p % shards` if there are at least as many Ps as
//! shards, else every shard `k` with `k % nprocs == p`
//! ([`PollerInner::is_own`]): every shard has a P. Its poll drains its own
//! shards (when the root reports them, or directly while another P holds
//! the root), never another P's, so both goroutines of a loopback
//! connection are readied on one P, and a message between them never
//! crosses cores: echo runs at about 0.6 of its time with one shared
//! instance (BENCHMARKS.md, "A home P per loopback connection"). Two
//! polls of one shard at once (more Ps than shards, or a P helping a
//! stalled one) are kept apart by the shard's `polling` claim: the second
//! skips it.
//!
//! The root holds each shard's descriptor **level-triggered** (token
//! `1 + shard`), so that a blocking poll (an idle M, which takes an idle
//! P for what it finds) and sysmon's poll drain every shard with pending
//! events, also a busy P's, and no event is left behind in a shard whose
//! P is not polling: a shard stays ready in the root for as long as it
//! has events. The sockets' own registrations, in the root or a shard,
//! are edge-triggered. The root also holds the Waker (token 0), so the
//! wake-up protocol below concerns the root only.
//!
//! ## The protocol
//!
//! - Every socket is registered once, for both directions
//!   (`READABLE | WRITABLE`, so `EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET`,
//!   as Go, plus `PRIORITY`, `EPOLLPRI`, so that TCP urgent data is seen:
//!   fd.rs, "Drained streams"), and never re-armed. An event's bits are read as Go's
//!   `netpoll` reads them: `EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR`
//!   make the read side ready, `EPOLLOUT | EPOLLHUP | EPOLLERR` the write
//!   side.
//! - A token is a [`PollDesc`] address tagged with its sequence number
//!   (see [`crate::pd`]): an event for a descriptor that has been closed and
//!   reused since carries the old tag and is ignored. In the root, token 0
//!   is the Waker's and tokens 1 to [`MAX_SHARDS`] the shards'; a
//!   descriptor's token (an address) is never that small.
//! - `wake` is Go's `netpollBreak`: the Waker is woken at most once until
//!   a blocking poll consumes the wake-up (`wake_sig` coalesces, Go's
//!   `netpollWakeSig`). Go registers its eventfd level-triggered, so that
//!   a non-blocking poll that sees it leaves it for the M about to block.
//!   mio's Waker is edge-triggered, and its one edge may go to a
//!   non-blocking poll, so the wake-up is handed on by two flags: a
//!   non-blocking poll that takes the edge sets `edge_taken` and then, if
//!   `blockers` (polls inside a blocking `epoll_wait`) is non-zero, wakes
//!   the Waker again for them; a blocking poll increments `blockers`, then
//!   takes `edge_taken` and, finding it set, treats it as its wake-up and
//!   does not block. SeqCst both ways (Dekker): either the blocker sees
//!   the flag, or the non-blocking poll sees the blocker and makes a new
//!   edge. A runtime busy enough that nobody blocks pays no syscall for a
//!   pending wake-up; a spurious wake-up (a flag left set) is allowed by
//!   the `Poller` contract.
//! - The scheduler keeps to one blocking poller at a time (`lastpoll`).
//! - `waiters` counts goroutines parked on sockets of this poller (Go:
//!   `netpollWaiters`): incremented before a parker's commit CAS (and
//!   undone if it fails), decremented by whoever takes the G back out. It
//!   is split into cache-line-padded shards chosen by descriptor address,
//!   so parks on two CPUs do not bounce one line; a descriptor's
//!   increments and decrements hit the same shard, so every shard stays
//!   non-negative and a goroutine parked during `has_waiters` is seen.
//!   Registered wakers of async polls count as waiters too (pd.rs).
//! - Wakers whose I/O is ready are woken at the end of a poll, after the
//!   whole batch of events was handled and the count updated. So are the
//!   wakers that deadline timers took out of their slots
//!   ([`PollerInner::defer_wake`]: a timer callback must not run user
//!   code), which stay counted until then, so a poll comes for them: the
//!   timer breaks a blocked poll, or the scheduler's next look at the
//!   count makes one.
//! - `kick` makes the poller's runtime poll soon, for a waker registered
//!   from outside that runtime's goroutines (a plain thread's executor, a
//!   goroutine of another runtime): a goroutine of the runtime that
//!   registers a waker goes on to park or to the scheduler, which polls
//!   since the count is positive, but nothing else would, and every M of
//!   an idle runtime may be asleep without polling (none blocks in the
//!   poller while the count is zero). It is the runtime's
//!   [`gort_runtime::engine::NetPollWaker`], handed over at installation:
//!   it wakes an M of that runtime unless one blocks in the poller already.
//!
//! A runtime's poller is installed on first use through
//! [`gort_runtime::engine::install_poller`]; the boxed [`NetPoller`] shares its
//! state ([`PollerInner`]) with the sockets bound to it, which find it again
//! through a small table keyed by the installed box's address.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Waker;

use gort_runtime::engine::{GRef, NetPollWaker, Poller};
use mio::unix::SourceFd;
use mio::{Interest, Token};

use crate::pd::{Mode, PdCache, PollDesc, Woken};

/// Events taken per `epoll_wait` (Go: 128).
const EVENTS: usize = 128;
/// The token of the Waker in the root; a descriptor's token is never 0.
const WAKE_TOKEN: u64 = 0;
/// The most shards a poller makes; shard `k`'s token in the root is
/// `1 + k`, below any descriptor's token (an address).
pub(crate) const MAX_SHARDS: usize = 64;

/// The state of one runtime's poller, shared with the sockets bound to it.
pub(crate) struct PollerInner {
    /// The root epoll instance: the Waker, the sockets without a home and
    /// the shards' descriptors; `epoll_wait` runs raw on its descriptor
    /// (module docs).
    poll: mio::Poll,
    /// A P's non-blocking poll of the root is in progress (Go's
    /// `sched.pollingNet`): one at a time, the others poll their shards
    /// only (module docs).
    root_polling: AtomicBool,
    /// The shards, holding the sockets with a home (module docs).
    shards: Box<[PollShard]>,
    /// The netpoll break.
    waker: mio::Waker,
    /// 1 while a wake-up is pending (Go: `netpollWakeSig`).
    wake_sig: AtomicU32,
    /// A non-blocking poll took the pending wake-up's edge (module docs).
    edge_taken: AtomicBool,
    /// Polls in a blocking `epoll_wait` now (module docs).
    blockers: AtomicU32,
    /// Goroutines parked on sockets of this poller (Go: `netpollWaiters`).
    pub(crate) waiters: Waiters,
    /// Set when the runtime that owns the poller is dropped: sockets bound
    /// to it rebind to the runtime that next waits on them.
    dead: AtomicBool,
    /// The address of the runtime's [`NetPoller`] box ([`current_key`]),
    /// set once before the poller is published in the table.
    key: AtomicUsize,
    /// The poll descriptors of sockets bound to this poller.
    pub(crate) cache: PdCache,
    /// Wakers that deadline timers took out of their slots, each with its
    /// waiter-count shard, to be woken by the next poll; `has_deferred`
    /// says whether there are any (set under the lock).
    deferred: Mutex<Vec<(Waker, usize)>>,
    has_deferred: AtomicBool,
    /// Wakes an M of the runtime to poll (`kick`, module docs).
    runtime: NetPollWaker,
}

impl PollerInner {
    fn new(runtime: NetPollWaker) -> io::Result<PollerInner> {
        let n = runtime.procs();
        Self::with_shards(runtime, n)
    }

    /// A poller with `n` shards (clamped to 1..=[`MAX_SHARDS`]).
    fn with_shards(runtime: NetPollWaker, n: usize) -> io::Result<PollerInner> {
        let poll = mio::Poll::new()?;
        let waker = mio::Waker::new(poll.registry(), Token(WAKE_TOKEN as usize))?;
        let mut shards = Vec::new();
        for k in 0..n.clamp(1, MAX_SHARDS) {
            let shard = PollShard { poll: mio::Poll::new()?, polling: AtomicBool::new(false) };
            // Level-triggered, which mio's registry does not offer (module
            // docs, "The root and the shards").
            let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: 1 + k as u64 };
            // SAFETY: both descriptors are epoll instances we own and keep
            // open (the shard's in `shards`, the root in `poll`); `ev` is a
            // valid event the kernel only reads.
            let r = unsafe {
                libc::epoll_ctl(poll.as_raw_fd(), libc::EPOLL_CTL_ADD, shard.poll.as_raw_fd(), &mut ev)
            };
            if r != 0 {
                return Err(io::Error::last_os_error());
            }
            shards.push(shard);
        }
        Ok(PollerInner {
            poll,
            root_polling: AtomicBool::new(false),
            shards: shards.into_boxed_slice(),
            waker,
            wake_sig: AtomicU32::new(0),
            edge_taken: AtomicBool::new(false),
            blockers: AtomicU32::new(0),
            waiters: Waiters::default(),
            dead: AtomicBool::new(false),
            key: AtomicUsize::new(0),
            cache: PdCache::new(),
            deferred: Mutex::new(Vec::new()),
            has_deferred: AtomicBool::new(false),
            runtime,
        })
    }

    /// Whether the runtime owning this poller is gone.
    pub(crate) fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }

    /// [`PollerInner::is_dead`] as the second half of a Dekker pair with
    /// the poller's drop (`PollDesc::register`).
    pub(crate) fn is_dead_seqcst(&self) -> bool {
        self.dead.load(Ordering::SeqCst)
    }

    /// Hands a waker that a deadline timer took out of its slot to the
    /// next poll, which wakes it (module docs). The waker stays counted in
    /// `waiters` until then. If the poller is dead already (its drop has
    /// drained the list), wakes it here.
    pub(crate) fn defer_wake(&self, pd: &PollDesc, k: Waker) {
        let shard = Waiters::shard(pd);
        let mut d = self.deferred.lock().unwrap_or_else(|e| e.into_inner());
        d.push((k, shard));
        self.has_deferred.store(true, Ordering::Release);
        drop(d);
        // The drop marks the poller dead before it drains the list under
        // its lock: if our push came after that drain, we see the mark.
        if self.is_dead_seqcst() {
            for (k, shard) in self.take_deferred() {
                self.waiters.0[shard].0.fetch_sub(1, Ordering::SeqCst);
                k.wake();
            }
            return;
        }
        self.wake();
    }

    fn take_deferred(&self) -> Vec<(Waker, usize)> {
        let mut d = self.deferred.lock().unwrap_or_else(|e| e.into_inner());
        self.has_deferred.store(false, Ordering::Relaxed);
        std::mem::take(&mut *d)
    }

    /// Makes this poller's runtime poll soon: after registering a waker
    /// from outside its goroutines (module docs). Nothing if the runtime
    /// is gone or an M blocks in the poller already.
    pub(crate) fn kick(&self) {
        self.runtime.wake();
    }

    /// Whether this is the live poller of the runtime whose key is `key`.
    /// A key can name a new runtime's poller after the old one's box was
    /// freed (the allocator reuses the address), but only once the old one
    /// is marked dead.
    #[inline]
    pub(crate) fn is_current(&self, key: usize) -> bool {
        self.key.load(Ordering::Relaxed) == key && !self.is_dead()
    }

    /// Registers `fd` for both directions, edge-triggered, through mio's
    /// registry (Go: `netpollopen`; module docs for the bits): in the root
    /// if it has no home, else in its home's shard ([`crate::home`]).
    pub(crate) fn register(&self, fd: RawFd, token: usize, home: u16) -> io::Result<()> {
        self.instance(home).registry().register(
            &mut SourceFd(&fd),
            Token(token),
            Interest::READABLE | Interest::WRITABLE | Interest::PRIORITY,
        )
    }

    /// Removes `fd` from the interest list it was registered in with
    /// `home` (Go: `netpollclose`). Needed even right before close(2): a
    /// dup'd descriptor keeps the registration of the open file alive.
    pub(crate) fn deregister(&self, fd: RawFd, home: u16) {
        let _ = self.instance(home).registry().deregister(&mut SourceFd(&fd));
    }

    /// The epoll instance of the sockets with `home`.
    fn instance(&self, home: u16) -> &mio::Poll {
        match self.shard_of(home) {
            None => &self.poll,
            Some(k) => &self.shards[k].poll,
        }
    }

    /// The shard of the sockets with `home`, None for the root.
    pub(crate) fn shard_of(&self, home: u16) -> Option<usize> {
        (home != crate::home::NONE).then(|| usize::from(home) % self.shards.len())
    }

    fn poll(&self, timeout_ns: Option<i64>, ready: &mut Vec<GRef>) {
        self.poll_root(timeout_ns, None, ready);
    }

    /// One `epoll_wait` on the root; a ready shard is drained if `own` is
    /// None (a blocking or sysmon's poll: every shard) or if it is one of
    /// P `own`'s shards (`(p, nprocs)`, see [`Self::is_own`]); another
    /// P's shard stays ready in the root (level-triggered) for its P.
    fn poll_root(&self, timeout_ns: Option<i64>, own: Option<(usize, usize)>, ready: &mut Vec<GRef>) {
        // Go's rounding: under 1 ms waits 1 ms, and at most 1e9 ms.
        let ms = match timeout_ns {
            None => -1,
            Some(ns) if ns <= 0 => 0,
            Some(ns) if ns < 1_000_000 => 1,
            Some(ns) => (ns / 1_000_000).min(1_000_000_000) as libc::c_int,
        };
        let blocking = ms != 0;
        let mut events = [const { MaybeUninit::<libc::epoll_event>::uninit() }; EVENTS];
        let n = if blocking {
            // The blocking side of the wake-up's hand-off (module docs):
            // count ourselves, then look for an edge a non-blocking poll
            // took; if there is one, that was our wake-up: do not block.
            self.blockers.fetch_add(1, Ordering::SeqCst);
            let ms = if self.edge_taken.swap(false, Ordering::SeqCst) {
                self.wake_sig.store(0, Ordering::SeqCst);
                0
            } else {
                ms
            };
            let n = epoll_wait(&self.poll, &mut events, ms);
            self.blockers.fetch_sub(1, Ordering::SeqCst);
            n
        } else {
            epoll_wait(&self.poll, &mut events, 0)
        };
        // None: a timed wait was interrupted; it returns to the scheduler,
        // which recomputes it.
        let Some(n) = n else { return };
        let mut delta = [0isize; SHARDS];
        let mut wakers = Vec::new();
        for ev in &events[..n] {
            // SAFETY: epoll_wait initialised the first n events.
            let ev = unsafe { ev.assume_init() };
            let (bits, token) = (ev.events as libc::c_int, ev.u64);
            if token == WAKE_TOKEN {
                if blocking {
                    // Consume the wake-up (mio drains the eventfd's counter
                    // itself when it must).
                    self.edge_taken.store(false, Ordering::SeqCst);
                    self.wake_sig.store(0, Ordering::SeqCst);
                } else {
                    // Leave it for the M that blocks next (module docs):
                    // mark the edge taken, then make it again if an M
                    // blocks already.
                    self.edge_taken.store(true, Ordering::SeqCst);
                    if self.blockers.load(Ordering::SeqCst) != 0 {
                        self.rewake();
                    }
                }
                continue;
            }
            if token <= MAX_SHARDS as u64 {
                // A shard with events (level-triggered: it has them now,
                // unless a P's own poll took them since).
                let k = token as usize - 1;
                match own {
                    None => drain(&self.shards[k], ready, &mut wakers, &mut delta),
                    Some((p, nprocs)) if self.is_own(k, p, nprocs) => {
                        self.drain_claimed(k, ready, &mut wakers, &mut delta)
                    }
                    Some(_) => {}
                }
                continue;
            }
            dispatch(token as usize, bits, ready, &mut wakers, &mut delta);
        }
        self.finish(wakers, delta);
    }

    /// A P's non-blocking poll (module docs): the root, if no other P is
    /// polling it, taking the sockets without a home and this P's shards
    /// when the root reports them; else this P's shards directly. A shard
    /// another P is polling right now is skipped.
    fn poll_own(&self, p: usize, nprocs: usize, ready: &mut Vec<GRef>) {
        // Acquire/Release: the claim orders nothing but itself; the events
        // are the kernel's to hand out once.
        if !self.root_polling.swap(true, Ordering::Acquire) {
            self.poll_root(Some(0), Some((p, nprocs)), ready);
            self.root_polling.store(false, Ordering::Release);
            return;
        }
        let (mut wakers, mut delta) = (Vec::new(), [0isize; SHARDS]);
        for k in 0..self.shards.len() {
            if self.is_own(k, p, nprocs) {
                self.drain_claimed(k, ready, &mut wakers, &mut delta);
            }
        }
        self.finish(wakers, delta);
    }

    /// Whether shard `k` is P `p`'s when the runtime has `nprocs` Ps:
    /// shard `p % shards` with at least as many Ps as shards, else every
    /// shard `k` with `k % nprocs == p` (module docs).
    fn is_own(&self, k: usize, p: usize, nprocs: usize) -> bool {
        let step = nprocs.max(1);
        k % step == p % self.shards.len().min(step)
    }

    /// Drains shard `k` unless another P's poll is in it.
    fn drain_claimed(
        &self,
        k: usize,
        ready: &mut Vec<GRef>,
        wakers: &mut Vec<Waker>,
        delta: &mut [isize; SHARDS],
    ) {
        let shard = &self.shards[k];
        // Acquire/Release: as the root's claim.
        if !shard.polling.swap(true, Ordering::Acquire) {
            drain(shard, ready, wakers, delta);
            shard.polling.store(false, Ordering::Release);
        }
    }

    /// The end of every poll: wakes the deferred wakers too, takes what
    /// was taken out off the waiter count, then wakes the wakers (module
    /// docs).
    fn finish(&self, mut wakers: Vec<Waker>, mut delta: [isize; SHARDS]) {
        if self.has_deferred.load(Ordering::Acquire) {
            for (k, shard) in self.take_deferred() {
                wakers.push(k);
                delta[shard] += 1;
            }
        }
        for (i, d) in delta.into_iter().enumerate() {
            if d != 0 {
                self.waiters.0[i].0.fetch_sub(d, Ordering::SeqCst);
            }
        }
        // No lock of ours is held; the scheduler's state is as it was
        // before the poll.
        for k in wakers {
            k.wake();
        }
    }

    pub(crate) fn wake(&self) {
        if self.wake_sig.compare_exchange(0, 1, Ordering::SeqCst, Ordering::Relaxed).is_ok() {
            self.rewake();
        }
    }

    /// Wakes the Waker (a new edge), for the pending wake-up.
    fn rewake(&self) {
        if let Err(e) = self.waker.wake() {
            // eventfd's write fails only on a full counter, which mio
            // resets itself: anything else leaves the poller unwakeable.
            eprintln!("gort: netpoll failed: cannot wake the poller: {e}");
            std::process::abort();
        }
    }
}

/// One `epoll_wait` on `poll`'s instance into `events` (the raw wait,
/// module docs): the number of events, or None if a timed wait was
/// interrupted. An untimed or non-blocking wait is retried on `EINTR`.
fn epoll_wait(
    poll: &mio::Poll,
    events: &mut [MaybeUninit<libc::epoll_event>; EVENTS],
    ms: libc::c_int,
) -> Option<usize> {
    loop {
        // SAFETY: the descriptor is the epoll instance `poll` owns, open
        // while the borrow lives; the buffer holds EVENTS events and the
        // kernel writes the first n of them.
        let n = unsafe { libc::epoll_wait(poll.as_raw_fd(), events.as_mut_ptr().cast(), EVENTS as _, ms) };
        if n >= 0 {
            return Some(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            eprintln!("gort: netpoll failed: epoll_wait: {e}");
            std::process::abort();
        }
        if ms > 0 {
            return None;
        }
    }
}

/// One shard's epoll instance and whether a P's own poll is in it.
struct PollShard {
    poll: mio::Poll,
    polling: AtomicBool,
}

/// Takes a shard's ready events without blocking (at most [`EVENTS`]; a
/// shard with more stays ready in the root) and dispatches them.
fn drain(shard: &PollShard, ready: &mut Vec<GRef>, wakers: &mut Vec<Waker>, delta: &mut [isize; SHARDS]) {
    let mut events = [const { MaybeUninit::<libc::epoll_event>::uninit() }; EVENTS];
    let n = epoll_wait(&shard.poll, &mut events, 0).unwrap_or(0);
    for ev in &events[..n] {
        // SAFETY: epoll_wait initialised the first n events.
        let ev = unsafe { ev.assume_init() };
        dispatch(ev.u64 as usize, ev.events as libc::c_int, ready, wakers, delta);
    }
}

/// Marks the directions of the descriptor behind `token` that `bits` (an
/// epoll event) reports ready; collects the goroutines and wakers taken
/// out and counts them per waiter shard. A stale token is ignored.
#[inline(always)]
fn dispatch(
    token: usize,
    bits: libc::c_int,
    ready: &mut Vec<GRef>,
    wakers: &mut Vec<Waker>,
    delta: &mut [isize; SHARDS],
) {
    let Some(pd) = PollDesc::from_token(token) else { return };
    if bits & (libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR | libc::EPOLLPRI) != 0 {
        // Before the waiters are readied, so that a reader they wake sees it.
        pd.set_no_drain();
    }
    let r = bits & (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR | libc::EPOLLPRI) != 0;
    let w = bits & (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) != 0;
    for (on, mode) in [(r, Mode::Read), (w, Mode::Write)] {
        if on {
            match pd.unblock(mode, true) {
                Woken::Nobody => continue,
                Woken::G(g) => ready.push(g),
                Woken::Waker(k) => wakers.push(k),
            }
            delta[Waiters::shard(pd)] += 1;
        }
    }
}

const SHARDS: usize = 8;

#[repr(align(64))]
#[derive(Default)]
struct Shard(AtomicIsize);

/// The sharded waiter count (module docs).
#[derive(Default)]
pub(crate) struct Waiters([Shard; SHARDS]);

impl Waiters {
    fn shard(pd: &PollDesc) -> usize {
        (pd as *const PollDesc as usize >> 6) % SHARDS
    }

    /// One more goroutine parks on `pd`.
    pub(crate) fn inc(&self, pd: &PollDesc) {
        self.0[Self::shard(pd)].0.fetch_add(1, Ordering::SeqCst);
    }

    /// A goroutine parked on `pd` was taken out (or did not park).
    pub(crate) fn dec(&self, pd: &PollDesc) {
        self.0[Self::shard(pd)].0.fetch_sub(1, Ordering::SeqCst);
    }

    fn any(&self) -> bool {
        self.0.iter().any(|s| s.0.load(Ordering::SeqCst) > 0)
    }
}

/// The poller a runtime owns (the `Box<dyn Poller>` it was given).
pub(crate) struct NetPoller {
    inner: Arc<PollerInner>,
}

impl Poller for NetPoller {
    fn poll(&self, timeout_ns: Option<i64>, ready: &mut Vec<GRef>) {
        self.inner.poll(timeout_ns, ready);
    }

    fn wake(&self) {
        self.inner.wake();
    }

    fn has_waiters(&self) -> bool {
        self.inner.waiters.any()
    }

    fn poll_own(&self, p: usize, nprocs: usize, ready: &mut Vec<GRef>) {
        self.inner.poll_own(p, nprocs, ready);
    }
}

impl Drop for NetPoller {
    fn drop(&mut self) {
        // SeqCst: Dekker with a registration's commit (PollDesc::register)
        // and with defer_wake's push.
        self.inner.dead.store(true, Ordering::SeqCst);
        let key = self as *const NetPoller as usize;
        table().retain(|(k, _)| *k != key);
        // Nobody polls this poller again: wake every registered waker, so
        // its task polls again and binds its socket to a live runtime.
        let mut wakers = self.inner.cache.take_wakers();
        for (k, shard) in self.inner.take_deferred() {
            self.inner.waiters.0[shard].0.fetch_sub(1, Ordering::SeqCst);
            wakers.push(k);
        }
        for k in wakers {
            k.wake();
        }
    }
}

/// Installed pollers by the address of their box.
type Table = Vec<(usize, Arc<PollerInner>)>;

fn table() -> std::sync::MutexGuard<'static, Table> {
    static TABLE: Mutex<Table> = Mutex::new(Vec::new());
    TABLE.lock().unwrap_or_else(|e| e.into_inner())
}

fn make_poller(runtime: NetPollWaker) -> Box<dyn Poller> {
    let inner = match PollerInner::new(runtime) {
        Ok(p) => Arc::new(p),
        Err(e) => {
            eprintln!("gort: cannot create the network poller: {e}");
            std::process::abort();
        }
    };
    let b = Box::new(NetPoller { inner: inner.clone() });
    let key = &*b as *const NetPoller as usize;
    // Relaxed: sockets find the poller only through the table's lock.
    inner.key.store(key, Ordering::Relaxed);
    table().push((key, inner));
    b
}

/// The identity of the current runtime's network poller (the address of
/// its box), installing it on first use.
#[inline]
pub(crate) fn current_key() -> usize {
    gort_runtime::engine::install_poller(make_poller).as_usize()
}

/// The poller state behind `key` (a [`current_key`] value).
pub(crate) fn lookup(key: usize) -> Option<Arc<PollerInner>> {
    table().iter().find(|(k, _)| *k == key).map(|(_, p)| p.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;
    use std::time::{Duration, Instant};

    /// Go: TestNetpollBreak. A poll blocked for 10 s returns promptly when
    /// woken from another thread.
    #[test]
    fn netpoll_break_wakes_a_blocked_poll() {
        let p = Arc::new(PollerInner::new(NetPollWaker::default()).unwrap());
        let p2 = p.clone();
        let h = std::thread::spawn(move || {
            let t = Instant::now();
            p2.poll(Some(10_000_000_000), &mut Vec::new());
            t.elapsed()
        });
        std::thread::sleep(Duration::from_millis(50));
        p.wake();
        assert!(h.join().unwrap() < Duration::from_secs(5), "wake did not break the poll");
        // The wake-up was consumed: a short blocking poll now times out.
        let t = Instant::now();
        p.poll(Some(20_000_000), &mut Vec::new());
        assert!(t.elapsed() >= Duration::from_millis(20));
    }

    /// A wake-up seen by a non-blocking poll stays pending for the next
    /// blocking one (the eventfd is level-triggered).
    #[test]
    fn nonblocking_poll_leaves_the_wake_up() {
        let p = PollerInner::new(NetPollWaker::default()).unwrap();
        p.wake();
        p.wake(); // coalesced
        p.poll(Some(0), &mut Vec::new());
        let t = Instant::now();
        p.poll(Some(10_000_000_000), &mut Vec::new());
        assert!(t.elapsed() < Duration::from_secs(5), "the wake-up was lost");
    }

    /// A non-blocking poll that takes the wake-up's edge while a poll
    /// blocks makes a new edge for it (the blocker had looked for a taken
    /// edge before, and found none).
    #[test]
    fn a_taken_edge_is_made_again_for_a_blocked_poll() {
        let p = PollerInner::new(NetPollWaker::default()).unwrap();
        p.wake();
        p.blockers.store(1, Ordering::SeqCst); // a poll blocks already
        p.poll(Some(0), &mut Vec::new());
        assert!(p.edge_taken.load(Ordering::SeqCst));
        // The blocker's look at the flag came before the edge was taken.
        p.blockers.store(0, Ordering::SeqCst);
        p.edge_taken.store(false, Ordering::SeqCst);
        let t = Instant::now();
        p.poll(Some(10_000_000_000), &mut Vec::new());
        assert!(t.elapsed() < Duration::from_secs(5), "the blocked poll never saw the wake-up");
        assert_eq!(p.wake_sig.load(Ordering::SeqCst), 0, "the blocking poll consumed it");
    }

    /// A waker that counts its wakes.
    #[derive(Default)]
    struct Count(std::sync::atomic::AtomicUsize);
    impl std::task::Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A late event for a closed socket's descriptor, now reused by a new
    /// socket with a registered waker, carries the old tag: it neither
    /// wakes the new waker nor marks the new socket ready. An event with
    /// the current tag wakes it.
    #[test]
    fn stale_events_do_not_wake_a_reused_descriptor() {
        let p: &'static PollerInner = Box::leak(Box::new(PollerInner::new(NetPollWaker::default()).unwrap()));
        let pd = p.cache.alloc(p);
        let old_waker = Arc::new(Count::default());
        assert!(pd.register(Mode::Read, &Waker::from(old_waker.clone()), || Some(0)));
        let stale = pd.token();
        pd.wake(Mode::Read); // close
        assert_eq!(old_waker.0.load(Ordering::SeqCst), 1, "close wakes the waker");
        p.cache.free(pd);
        let again = p.cache.alloc(p);
        assert!(std::ptr::eq(again, pd), "the cache reuses descriptors");
        let new_waker = Arc::new(Count::default());
        assert!(again.register(Mode::Read, &Waker::from(new_waker.clone()), || Some(0)));
        assert!(p.waiters.any());
        let (mut ready, mut wakers, mut delta) = (Vec::new(), Vec::new(), [0isize; SHARDS]);
        dispatch(stale, libc::EPOLLIN, &mut ready, &mut wakers, &mut delta);
        assert!(
            wakers.is_empty() && ready.is_empty() && delta == [0; SHARDS],
            "a stale event woke the new socket"
        );
        dispatch(again.token(), libc::EPOLLIN, &mut ready, &mut wakers, &mut delta);
        assert_eq!(wakers.len(), 1, "the current event wakes the waker");
        assert_eq!(delta.iter().sum::<isize>(), 1);
        for k in wakers {
            k.wake();
        }
        assert_eq!(new_waker.0.load(Ordering::SeqCst), 1);
        assert_eq!(old_waker.0.load(Ordering::SeqCst), 1);
    }

    /// An event for a descriptor freed since carries a stale tag.
    #[test]
    fn stale_tokens_are_ignored() {
        let p = PollerInner::new(NetPollWaker::default()).unwrap();
        let pd = p.cache.alloc(&p as *const PollerInner);
        let token = pd.token();
        assert!(PollDesc::from_token(token).is_some());
        p.cache.free(pd);
        assert!(PollDesc::from_token(token).is_none(), "stale token accepted");
        let again = p.cache.alloc(&p as *const PollerInner);
        assert!(std::ptr::eq(again, pd), "the cache reuses descriptors");
        assert_ne!(again.token(), token);
    }

    /// A poller of `shards` shards with no runtime, alive for the rest of
    /// the test binary.
    fn leaked_poller(shards: usize) -> &'static PollerInner {
        Box::leak(Box::new(PollerInner::with_shards(NetPollWaker::default(), shards).unwrap()))
    }

    /// A socket pair (the read end is registered by [`watch`]).
    fn pair() -> (std::os::unix::net::UnixStream, std::os::unix::net::UnixStream) {
        std::os::unix::net::UnixStream::pair().unwrap()
    }

    /// Registers `fd` with home `home` (`home::NONE`: the root) and a
    /// fresh descriptor of `p` whose read slot holds a counting waker;
    /// returns the count.
    fn watch(p: &'static PollerInner, fd: RawFd, home: u16) -> Arc<Count> {
        let pd = p.cache.alloc(p);
        let n = Arc::new(Count::default());
        assert!(pd.register(Mode::Read, &Waker::from(n.clone()), || Some(0)));
        p.register(fd, pd.token(), home).unwrap();
        n
    }

    /// Each P's own poll takes the events of its shard and no other's: a
    /// socket in shard 1 is not woken by P 0's poll, and is by P 1's.
    #[test]
    fn each_p_polls_its_own_shard() {
        use std::io::Write;
        let p = leaked_poller(2);
        let (a0, mut b0) = pair();
        let (a1, mut b1) = pair();
        let (ar, mut br) = pair();
        let (n0, n1) = (watch(p, a0.as_raw_fd(), 0), watch(p, a1.as_raw_fd(), 1));
        let nr = watch(p, ar.as_raw_fd(), crate::home::NONE);
        b0.write_all(b"x").unwrap();
        b1.write_all(b"x").unwrap();
        br.write_all(b"x").unwrap();
        p.poll_own(0, 2, &mut Vec::new());
        assert_eq!(n0.0.load(Ordering::SeqCst), 1, "P 0 did not take its shard's event");
        assert_eq!(n1.0.load(Ordering::SeqCst), 0, "P 0 took shard 1's event");
        assert_eq!(nr.0.load(Ordering::SeqCst), 1, "P 0 did not take the root's event");
        p.poll_own(1, 2, &mut Vec::new());
        assert_eq!(n1.0.load(Ordering::SeqCst), 1, "P 1 did not take its shard's event");
    }

    /// While another P polls the root, a P's poll still drains its own
    /// shard, and leaves the root's sockets to the root's poller.
    #[test]
    fn a_p_polls_its_shard_while_the_root_is_taken() {
        use std::io::Write;
        let p = leaked_poller(2);
        let (a1, mut b1) = pair();
        let (ar, mut br) = pair();
        let (n1, nr) = (watch(p, a1.as_raw_fd(), 1), watch(p, ar.as_raw_fd(), crate::home::NONE));
        b1.write_all(b"x").unwrap();
        br.write_all(b"x").unwrap();
        p.root_polling.store(true, Ordering::SeqCst);
        p.poll_own(1, 2, &mut Vec::new());
        assert_eq!(n1.0.load(Ordering::SeqCst), 1, "P 1 did not drain its shard");
        assert_eq!(nr.0.load(Ordering::SeqCst), 0, "P 1 polled a root another P holds");
        p.root_polling.store(false, Ordering::SeqCst);
        p.poll_own(0, 2, &mut Vec::new());
        assert_eq!(nr.0.load(Ordering::SeqCst), 1, "the root's event was lost");
    }

    /// With fewer Ps than shards, a P polls every shard `j` with
    /// `j % nprocs == p`: one P polls all three.
    #[test]
    fn fewer_ps_than_shards_leave_no_shard_unpolled() {
        use std::io::Write;
        let p = leaked_poller(3);
        let pairs: Vec<_> = (0..3).map(|_| pair()).collect();
        let counts: Vec<_> =
            pairs.iter().enumerate().map(|(k, (a, _))| watch(p, a.as_raw_fd(), k as u16)).collect();
        for (_, b) in &pairs {
            (&*b).write_all(b"x").unwrap();
        }
        p.poll_own(0, 1, &mut Vec::new());
        for (k, n) in counts.iter().enumerate() {
            assert_eq!(n.0.load(Ordering::SeqCst), 1, "shard {k} was not polled");
        }
    }

    /// A poll blocked in the root wakes for an event in any shard (the
    /// shards are level-triggered there), and a shard's events that no P
    /// took stay visible to the root until taken.
    #[test]
    fn a_blocked_poll_sees_every_shard() {
        use std::io::Write;
        let p = leaked_poller(2);
        let (a1, mut b1) = pair();
        let n1 = watch(p, a1.as_raw_fd(), 1);
        // Take the edge the registration made (the socket is writable).
        p.poll(Some(0), &mut Vec::new());
        let h = std::thread::spawn(move || {
            let t = Instant::now();
            p.poll(Some(10_000_000_000), &mut Vec::new());
            t.elapsed()
        });
        std::thread::sleep(Duration::from_millis(50));
        b1.write_all(b"x").unwrap();
        assert!(h.join().unwrap() < Duration::from_secs(5), "the event in shard 1 did not wake the root");
        assert_eq!(n1.0.load(Ordering::SeqCst), 1);

        // An event P 0's own poll does not take (it is shard 1's) is still
        // there for a non-blocking root poll.
        let (a1b, mut b1b) = pair();
        let n = watch(p, a1b.as_raw_fd(), 1);
        b1b.write_all(b"x").unwrap();
        p.poll_own(0, 2, &mut Vec::new());
        assert_eq!(n.0.load(Ordering::SeqCst), 0);
        p.poll(Some(0), &mut Vec::new());
        assert_eq!(n.0.load(Ordering::SeqCst), 1, "the root did not report the shard");
        drop((a1, a1b));
    }
}
