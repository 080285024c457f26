//! `Pool<T>`: a cache of temporary objects, with per-P slots.
//!
//! Go: sync/pool.go (the per-P `poolLocal` with `private` and `shared`,
//! stealing, the victim cache).
//!
//! ## Structure
//!
//! Each P of the runtime has a [`Local`]: one `private` item and a
//! `shared` deque. `put` stores into the caller's P's private slot if it is
//! empty, else pushes onto that P's shared deque; `get` takes the private
//! item, else pops the newest shared item (temporal locality), else steals
//! the *oldest* item of another P's shared deque, then looks in the
//! thread list and the victim cache, and finally calls `New`. The caller
//! pins its P for each step ([`gort_runtime::engine::with_proc`], Go's
//! `procPin`), so the common case touches only its own P's cache line.
//!
//! Each `Local` is guarded by a `busy` flag taken with one uncontended
//! CAS; owners and thieves only ever *try* it, and fall back to another
//! list rather than wait, so nothing spins except [`Pool::cleanup`]. The
//! flag is what makes the slots sound where Go relies on procPin alone:
//! two runtimes both have a P 0, and a plain thread has no P at all (plain
//! threads use the `threads` list instead).
//!
//! ## Cleanup: gort's rule in place of Go's GC
//!
//! Go drops pooled objects at garbage collection, keeping them one extra
//! cycle in a victim cache. gort has no GC, so pools age by **cleanup
//! rounds**: a round moves every item of a pool into its victim cache and
//! drops what the victim cache held before. An item therefore survives
//! exactly one round, as it survives one GC in Go (Go: TestPool), and a
//! `get` served from the victim cache rescues it.
//!
//! Rounds happen
//! - on [`Pool::cleanup`], for one pool;
//! - on [`pool_cleanup`], for every live pool (Go: what `runtime.GC` does
//!   to pools);
//! - automatically every [`DEFAULT_CLEANUP_INTERVAL`] (60 s, about Go's
//!   2-minute forced-GC period halved), run by one background thread that
//!   the first pool in the process starts. [`set_pool_cleanup_interval`]
//!   changes the period or turns it off (tests do, as Go's do with
//!   `debug.SetGCPercent(-1)`).
//!
//! Items are dropped on the cleaning thread, after every lock is released.
//! Like Go's, the pool makes no promise about which item `get` returns,
//! nor that a `put` item is ever returned.

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::fmt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use gort_runtime::engine::{Lock, with_proc};

/// The default period of automatic cleanup rounds.
pub const DEFAULT_CLEANUP_INTERVAL: Duration = Duration::from_secs(60);

/// One P's cache (Go: `poolLocal`), alone on its cache lines.
#[repr(align(128))]
struct Local<T> {
    /// The slot's lock: taken by CAS (Acquire) by the P's owner or a
    /// thief, released with a Release store; the cells below belong to its
    /// holder.
    busy: AtomicBool,
    /// One item for the P's own goroutines (Go: `private`); under `busy`.
    private: UnsafeCell<Option<T>>,
    /// Items the owner pushes and pops at the back and thieves take from
    /// the front (Go: `shared`); under `busy`.
    shared: UnsafeCell<VecDeque<T>>,
}

impl<T> Local<T> {
    /// Takes the slot if nobody holds it (Acquire pairs with `unlock`'s
    /// Release, so the slot's contents are handed over).
    #[inline]
    fn try_lock(&self) -> bool {
        self.busy.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok()
    }

    #[inline]
    fn unlock(&self) {
        self.busy.store(false, Ordering::Release);
    }

    /// Takes the slot, waiting out a holder (holders keep it for O(1)).
    fn lock(&self) {
        let mut spins = 0u32;
        while !self.try_lock() {
            spins += 1;
            if spins % 64 == 0 {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
    }
}

/// The part of a pool that lives at a fixed address once used, so the
/// cleanup registry can point at it.
struct PoolState<T> {
    /// One slot per P id, as many as the Ps (or CPUs) when the pool was
    /// first used, fixed then (a P beyond them uses `threads`); each under
    /// its own `busy` flag.
    locals: Box<[Local<T>]>,
    /// Items put by plain threads, or when the caller's slot was taken.
    threads: Lock<Vec<T>>,
    /// Items that survived one cleanup round (Go: `victim`); refilled by
    /// the next round, under this lock.
    victim: Lock<Vec<T>>,
    /// Lengths of `threads` and `victim`, stored under their locks and read
    /// without them as hints, to skip the locks of empty lists.
    threads_len: AtomicUsize,
    victim_len: AtomicUsize,
}

// SAFETY: a Local's cells are touched only by whoever holds its `busy`
// flag; the rest is atomic or behind a Lock. Items move between threads,
// hence T: Send.
unsafe impl<T: Send> Sync for PoolState<T> {}
// SAFETY: nothing in a PoolState is tied to a thread: each Local's cells go
// with whoever holds its `busy` flag, the lists are behind Locks, and the
// items are T: Send.
unsafe impl<T: Send> Send for PoolState<T> {}

/// What the registry needs from a pool: one cleanup round, returning the
/// items to drop (type-erased) so they are dropped outside every lock.
trait Clean: Send + Sync {
    fn clean(&self) -> Box<dyn Send>;
}

impl<T: Send + 'static> Clean for PoolState<T> {
    fn clean(&self) -> Box<dyn Send> {
        let mut fresh: Vec<T> = Vec::new();
        for l in self.locals.iter() {
            l.lock();
            // SAFETY: we hold the slot's busy flag.
            unsafe {
                fresh.extend((*l.private.get()).take());
                fresh.extend((*l.shared.get()).drain(..));
            }
            l.unlock();
        }
        {
            let mut t = self.threads.lock();
            fresh.append(&mut t);
            self.threads_len.store(0, Ordering::Relaxed);
        }
        let mut v = self.victim.lock();
        self.victim_len.store(fresh.len(), Ordering::Relaxed);
        let old = std::mem::replace(&mut *v, fresh);
        drop(v);
        Box::new(old)
    }
}

/// A registered pool state (a raw pointer, valid until unregistered).
struct Registered(*const dyn Clean);
// SAFETY: it points at a PoolState, which is Sync + Send (T: Send).
unsafe impl Send for Registered {}

static REGISTRY: Lock<Vec<Registered>> = Lock::new(Vec::new());
/// The automatic cleanup period in milliseconds; 0 = off.
static INTERVAL_MS: AtomicU64 = AtomicU64::new(DEFAULT_CLEANUP_INTERVAL.as_millis() as u64);
static CLEANER: OnceLock<std::thread::Thread> = OnceLock::new();

/// Runs one cleanup round on every live pool (see the module docs): what
/// Go's `runtime.GC` does to pools.
pub fn pool_cleanup() {
    let garbage: Vec<Box<dyn Send>> = {
        let reg = REGISTRY.lock();
        // SAFETY: registered states stay alive until their pool's drop
        // unregisters them, which needs the registry lock we hold.
        reg.iter().map(|r| unsafe { (*r.0).clean() }).collect()
    };
    drop(garbage);
}

/// Sets the period of automatic cleanup rounds; `None` turns them off.
/// The default is [`DEFAULT_CLEANUP_INTERVAL`].
pub fn set_pool_cleanup_interval(every: Option<Duration>) {
    let ms = every.map_or(0, |d| d.as_millis().clamp(1, u64::MAX as u128) as u64);
    INTERVAL_MS.store(ms, Ordering::Relaxed);
    if let Some(t) = CLEANER.get() {
        t.unpark();
    }
}

fn start_cleaner() {
    CLEANER.get_or_init(|| {
        std::thread::Builder::new()
            .name("gort-pool-cleanup".into())
            .spawn(|| {
                loop {
                    let ms = INTERVAL_MS.load(Ordering::Relaxed);
                    if ms == 0 {
                        std::thread::park();
                        continue;
                    }
                    // Sleep one period; start over if the period changes.
                    let deadline = std::time::Instant::now() + Duration::from_millis(ms);
                    let mut changed = false;
                    loop {
                        let now = std::time::Instant::now();
                        if now >= deadline {
                            break;
                        }
                        std::thread::park_timeout(deadline - now);
                        if INTERVAL_MS.load(Ordering::Relaxed) != ms {
                            changed = true;
                            break;
                        }
                    }
                    if !changed {
                        pool_cleanup();
                    }
                }
            })
            .expect("cannot start the pool cleanup thread")
            .thread()
            .clone()
    });
}

/// A set of temporary objects that may be individually saved and
/// retrieved, Go's `sync.Pool`: a way to reuse allocations across
/// goroutines. See the module docs for the structure and the cleanup rule.
///
/// ```
/// use gort_sync::Pool;
///
/// static BUFS: Pool<Vec<u8>> = Pool::new();
/// let mut b = BUFS.get().unwrap_or_else(|| Vec::with_capacity(4096));
/// b.extend_from_slice(b"hello");
/// b.clear();
/// BUFS.put(b);
/// ```
pub struct Pool<T: Send + 'static> {
    new: Option<Box<dyn Fn() -> T + Send + Sync>>,
    state: OnceLock<Box<PoolState<T>>>,
}

impl<T: Send + 'static> Pool<T> {
    /// An empty pool without `New`: [`Pool::get`] returns `None` when it
    /// has nothing.
    pub const fn new() -> Pool<T> {
        Pool { new: None, state: OnceLock::new() }
    }

    /// An empty pool whose [`Pool::get`] calls `new` when it has nothing
    /// (Go: the `New` field).
    pub fn with_new(new: impl Fn() -> T + Send + Sync + 'static) -> Pool<T> {
        Pool { new: Some(Box::new(new)), state: OnceLock::new() }
    }

    fn state(&self) -> &PoolState<T> {
        self.state.get_or_init(|| {
            let n =
                gort_runtime::max_procs().max(std::thread::available_parallelism().map_or(1, |n| n.get()));
            let st = Box::new(PoolState {
                locals: (0..n)
                    .map(|_| Local {
                        busy: AtomicBool::new(false),
                        private: UnsafeCell::new(None),
                        shared: UnsafeCell::new(VecDeque::new()),
                    })
                    .collect(),
                threads: Lock::new(Vec::new()),
                victim: Lock::new(Vec::new()),
                threads_len: AtomicUsize::new(0),
                victim_len: AtomicUsize::new(0),
            });
            let ptr: *const PoolState<T> = &*st;
            REGISTRY.lock().push(Registered(ptr as *const dyn Clean));
            start_cleaner();
            st
        })
    }

    /// Adds `x` to the pool. Go: `Put`.
    pub fn put(&self, x: T) {
        let st = self.state();
        let rest = with_proc(|pid| {
            let Some(l) = pid.and_then(|p| st.locals.get(p)) else { return Some(x) };
            if !l.try_lock() {
                return Some(x);
            }
            // SAFETY: we hold the slot's busy flag.
            unsafe {
                let private = &mut *l.private.get();
                if private.is_none() {
                    *private = Some(x);
                } else {
                    (*l.shared.get()).push_back(x);
                }
            }
            l.unlock();
            None
        });
        if let Some(x) = rest {
            let mut t = st.threads.lock();
            t.push(x);
            st.threads_len.store(t.len(), Ordering::Relaxed);
        }
    }

    /// Takes an item from the pool, or calls `New`; `None` if the pool is
    /// empty and has no `New`. Go: `Get`.
    pub fn get(&self) -> Option<T> {
        if let Some(st) = self.state.get() {
            let (x, pid) = with_proc(|pid| {
                let Some(l) = pid.and_then(|p| st.locals.get(p)) else { return (None, pid) };
                if !l.try_lock() {
                    return (None, pid);
                }
                // SAFETY: we hold the slot's busy flag.
                let x = unsafe { (*l.private.get()).take().or_else(|| (*l.shared.get()).pop_back()) };
                l.unlock();
                (x, pid)
            });
            if x.is_some() {
                return x;
            }
            if let Some(x) = Self::get_slow(st, pid) {
                return Some(x);
            }
        }
        self.new.as_ref().map(|f| f())
    }

    /// Steals from the other Ps, then tries the thread list and the victim
    /// cache. Go: `getSlow`.
    #[cold]
    fn get_slow(st: &PoolState<T>, pid: Option<usize>) -> Option<T> {
        let n = st.locals.len();
        let start = pid.map_or(0, |p| p + 1);
        for i in 0..n {
            let l = &st.locals[(start + i) % n];
            if Some((start + i) % n) == pid || !l.try_lock() {
                continue;
            }
            // SAFETY: we hold the slot's busy flag.
            let x = unsafe { (*l.shared.get()).pop_front() };
            l.unlock();
            if x.is_some() {
                return x;
            }
        }
        for (list, len) in [(&st.threads, &st.threads_len), (&st.victim, &st.victim_len)] {
            if len.load(Ordering::Relaxed) == 0 {
                continue;
            }
            let mut l = list.lock();
            let x = l.pop();
            len.store(l.len(), Ordering::Relaxed);
            if x.is_some() {
                return x;
            }
        }
        None
    }

    /// Runs one cleanup round on this pool: its items move to its victim
    /// cache, and what the victim cache held is dropped (module docs).
    pub fn cleanup(&self) {
        if let Some(st) = self.state.get() {
            drop(st.clean());
        }
    }
}

impl<T: Send + 'static> Default for Pool<T> {
    fn default() -> Self {
        Pool::new()
    }
}

impl<T: Send + 'static> Drop for Pool<T> {
    fn drop(&mut self) {
        if let Some(st) = self.state.get() {
            let ptr = &**st as *const PoolState<T> as *const ();
            REGISTRY.lock().retain(|r| r.0 as *const () != ptr);
        }
    }
}

impl<T: Send + 'static> fmt::Debug for Pool<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool").field("has_new", &self.new.is_some()).finish_non_exhaustive()
    }
}
