//! A runtime instance: its configuration, building, `block_on`, the lazily
//! started default runtime, and shutdown.
//!
//! Go: runtime/proc.go (`schedinit`, `procresize` at start-up, `main`).
//!
//! A process may build any number of runtimes (tests do); each has its own
//! Ps, Ms, stacks, timers and sysmon. Code running in a goroutine uses its
//! own runtime; code on a plain thread uses the default runtime, started on
//! first use with `GORT_MAXPROCS` (or the CPU count) Ps.
//!
//! Shutdown (dropping a [`Runtime`]): no new goroutine runs; idle Ms and
//! sysmon are woken and exit; Ms running goroutine code exit when that code
//! next enters the scheduler, and the drop waits for them (use
//! [`Runtime::shutdown_timeout`] to bound the wait). Timers are detached.
//! Then, on a fresh plain thread, the goroutines that never finished are
//! reclaimed ([`crate::unwind`]): their stacks are force-unwound so their
//! destructors run (sockets close, channel ends drop, timers stop), and a
//! `join` on one of them returns an error saying its runtime was dropped.
//! Finally the stacks are unmapped and the runtime is freed.
//!
//! Destructors run by that unwinding must not block: one that waits on a
//! gort primitive blocks the reclaiming thread, and the drop with it (as a
//! tokio task's destructor must not block). Channel ends, sockets, timers,
//! and the guards of Mutex, RwLock and WaitGroup never do.
//!
//! A goroutine parked through the plain public [`crate::engine::park()`] (rather
//! than a gort primitive, whose park sites clean up after an unwind) is
//! left parked, and the runtime's memory is then leaked rather than pulled
//! from under a waiter record a plain thread might still reach; so is
//! everything when `shutdown_timeout` gives up on an M.

use std::io;
use std::panic::Location;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::newproc::{Builder, JoinHandle};
use crate::panic::PanicPolicy;
use crate::poll::{IdlePoller, Poller};
use crate::sched::Sched;

/// Default usable stack size of a goroutine: virtual memory only; a
/// goroutine's resident cost is the pages it touches.
pub const DEFAULT_STACK_SIZE: usize = 256 << 10;

/// Default of [`RuntimeBuilder::thread_keep_alive`].
pub const DEFAULT_THREAD_KEEP_ALIVE: Duration = Duration::from_secs(10);

/// Idle Ms a runtime keeps beyond one per P, however long they idle: a
/// P handed off by sysmon finds a thread at once.
pub const IDLE_M_RESERVE: usize = 2;

/// The most Ps a runtime has: a larger `max_procs` or `GORT_MAXPROCS` is
/// capped to this (65,536).
pub const MAX_PROCS: usize = 1 << 16;

/// A runtime's settings, fixed at build time.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) max_procs: usize,
    pub(crate) stack_size: usize,
    pub(crate) pin_threads: bool,
    pub(crate) panic_policy: PanicPolicy,
    pub(crate) name: String,
    pub(crate) sysmon: bool,
    pub(crate) thread_keep_alive: Duration,
}

/// Builds a [`Runtime`]: `Runtime::builder().max_procs(4).build()?`.
#[derive(Debug, Default)]
#[must_use = "a RuntimeBuilder does nothing until build is called"]
pub struct RuntimeBuilder {
    max_procs: Option<usize>,
    stack_size: Option<usize>,
    pin_threads: bool,
    panic_policy: PanicPolicy,
    name: Option<String>,
    no_sysmon: bool,
    no_sigquit: bool,
    thread_keep_alive: Option<Duration>,
}

impl RuntimeBuilder {
    /// Number of Ps: goroutines running in parallel (Go: `GOMAXPROCS`).
    /// Default: `GORT_MAXPROCS` if set, else the number of CPUs. Values
    /// above [`MAX_PROCS`] (65,536) are capped to it.
    pub fn max_procs(mut self, n: usize) -> Self {
        self.max_procs = Some(n);
        self
    }

    /// Default usable stack size of goroutines, in bytes (rounded up to
    /// pages, at least 16 KiB). Default: `GORT_STACK_SIZE` if set (bytes,
    /// or with a `K`, `M` or `G` suffix: `GORT_STACK_SIZE=8M`), else
    /// 256 KiB of virtual memory. A size too large to map makes
    /// [`build`](Self::build) fail.
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Pins M threads to CPUs round-robin (off by default).
    pub fn pin_threads(mut self, on: bool) -> Self {
        self.pin_threads = on;
        self
    }

    /// What an unjoined goroutine's panic does (default: exit status 2).
    pub fn panic_policy(mut self, p: PanicPolicy) -> Self {
        self.panic_policy = p;
        self
    }

    /// Prefix of the runtime's thread names (default `gort`).
    pub fn thread_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Whether SIGQUIT prints every goroutine and exits with status 2, as
    /// in Go (default: on, unless the program already handles SIGQUIT).
    /// The handler is per process: the first runtime built decides.
    pub fn sigquit_dump(mut self, on: bool) -> Self {
        self.no_sigquit = !on;
        self
    }

    /// How long an idle M thread beyond the Ps' needs waits for work
    /// before it exits (default 10 s, as tokio's blocking pool). Calls
    /// that block their thread make sysmon hand their Ps to other Ms, so a
    /// burst of them starts threads; once it is over, idle Ms beyond
    /// `max_procs` plus [`IDLE_M_RESERVE`] exit after this long.
    pub fn thread_keep_alive(mut self, d: Duration) -> Self {
        self.thread_keep_alive = Some(d);
        self
    }

    /// Runs without the sysmon thread: no handoff of stuck Ms, no
    /// preemption requests, no stack trimming. For tests of the scheduler
    /// in isolation.
    #[doc(hidden)]
    pub fn without_sysmon(mut self) -> Self {
        self.no_sysmon = true;
        self
    }

    /// Builds the runtime. No thread starts until a goroutine is spawned.
    pub fn build(self) -> io::Result<Runtime> {
        let max_procs = match self.max_procs {
            Some(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "gort: max_procs must be at least 1",
                ));
            }
            Some(n) => n,
            None => env_max_procs()?,
        };
        // A stack size that cannot be mapped is an error now, not a panic
        // or a fatal error at the first spawn.
        let stack_size = match self.stack_size {
            Some(n) => n,
            None => env_stack_size()?,
        };
        crate::stack::StackPool::check_size(stack_size)?;
        let config = Config {
            max_procs: max_procs.min(MAX_PROCS),
            stack_size,
            pin_threads: self.pin_threads,
            panic_policy: self.panic_policy,
            name: self.name.unwrap_or_else(|| "gort".into()),
            sysmon: !self.no_sysmon,
            thread_keep_alive: self.thread_keep_alive.unwrap_or(DEFAULT_THREAD_KEEP_ALIVE),
        };
        crate::panic::install_hook();
        crate::stackguard::install();
        if !self.no_sigquit {
            crate::dump::install_sigquit();
        }
        let sched = Arc::new(Sched::new(config, Box::new(IdlePoller::default())));
        let _ = sched.this.set(Arc::downgrade(&sched));
        if sched.config.sysmon {
            crate::sysmon::start(&sched);
        }
        crate::checkdead::register_runtime(&sched);
        Ok(Runtime { sched: Some(sched) })
    }
}

/// Reads `GORT_MAXPROCS`, defaulting to the CPU count.
fn env_max_procs() -> io::Result<usize> {
    match std::env::var("GORT_MAXPROCS") {
        Err(_) => Ok(crate::sys::cpu_count()),
        Ok(v) => match v.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "gort: GORT_MAXPROCS={v:?} is not a positive integer; unset it or set e.g. GORT_MAXPROCS=4"
                ),
            )),
        },
    }
}

/// Reads `GORT_STACK_SIZE`, defaulting to [`DEFAULT_STACK_SIZE`].
fn env_stack_size() -> io::Result<usize> {
    match std::env::var("GORT_STACK_SIZE") {
        Err(_) => Ok(DEFAULT_STACK_SIZE),
        Ok(v) => parse_size(&v).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "gort: GORT_STACK_SIZE={v:?} is not a stack size; give bytes or a number with a K, M \
                     or G suffix (powers of 1024), e.g. GORT_STACK_SIZE=8M, or unset it for the \
                     default 256K"
                ),
            )
        }),
    }
}

/// Parses a size: a positive number of bytes, or a number with a `K`,
/// `M` or `G` suffix (1024-based; `KB`/`KiB` and lower case too): `8M`,
/// `512k`, `1048576`. `None` for anything else, zero, or an overflow.
pub(crate) fn parse_size(s: &str) -> Option<usize> {
    let s = s.trim();
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(digits);
    let n: usize = num.parse().ok()?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return None,
    };
    let bytes = n.checked_mul(1usize << shift)?;
    (bytes > 0).then_some(bytes)
}

/// A gort runtime: Ps, Ms, stacks, timers, sysmon. Dropping it shuts it
/// down (module docs).
pub struct Runtime {
    sched: Option<Arc<Sched>>,
}

impl Runtime {
    /// A builder with default settings.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// A runtime with default settings.
    pub fn new() -> io::Result<Runtime> {
        RuntimeBuilder::default().build()
    }

    fn sched(&self) -> &Sched {
        self.sched.as_ref().expect("runtime is live until dropped")
    }

    /// Starts a goroutine on this runtime.
    #[track_caller]
    pub fn spawn<F, T>(&self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        crate::newproc::spawn_on(self.sched(), Builder::new(), f, None, Location::caller())
    }

    /// Runs `f` as a goroutine of this runtime and blocks the calling
    /// thread (or parks the calling goroutine) until it returns; a panic in
    /// `f` continues in the caller.
    #[track_caller]
    pub fn block_on<F, T>(&self, f: F) -> T
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let h = crate::newproc::spawn_on(self.sched(), Builder::new(), f, None, Location::caller());
        match h.join() {
            Ok(v) => v,
            Err(p) => p.resume(),
        }
    }

    pub(crate) fn sched_arc(&self) -> Arc<Sched> {
        self.sched.clone().expect("runtime is live until dropped")
    }

    /// The live goroutines of this runtime (see `debug::goroutines`).
    pub fn goroutines(&self) -> Vec<crate::dump::GoroutineInfo> {
        self.sched().goroutines()
    }

    /// Counters of this runtime (see `debug::metrics`).
    pub fn metrics(&self) -> crate::debug::Metrics {
        self.sched().metrics()
    }

    /// Number of Ps.
    pub fn max_procs(&self) -> usize {
        self.sched().nprocs() as usize
    }

    /// Sets the number of Ps of this runtime and returns the previous
    /// number; see [`crate::set_max_procs`].
    #[track_caller]
    pub fn set_max_procs(&self, n: usize) -> usize {
        crate::proc::set_max_procs_of(self.sched(), n)
    }

    /// Goroutines alive in this runtime.
    pub fn num_goroutine(&self) -> usize {
        self.sched().num_goroutine()
    }

    /// Shuts down, waiting at most `timeout` for Ms still running goroutine
    /// code. Returns whether every thread exited; if not, the runtime's
    /// memory is leaked so the stragglers stay safe.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> bool {
        self.shutdown(Some(timeout))
    }

    fn shutdown(&mut self, timeout: Option<Duration>) -> bool {
        let Some(sched) = self.sched.take() else {
            return true;
        };
        if crate::m::with_m(|ml| ml.is_some_and(|ml| std::ptr::eq(ml.sched(), &*sched))) {
            // Joining our own thread would deadlock.
            std::mem::forget(sched);
            panic!("gort: a Runtime cannot be dropped from one of its own goroutines");
        }
        crate::checkdead::unregister_runtime(&sched);
        {
            // Under the idle lock, so no startm can begin an M after this
            // (startm_locked checks the flag under the same lock).
            let idle = sched.idle.lock();
            sched.shutdown.store(true, Ordering::SeqCst);
            for m in &idle.allm {
                m.park.wakeup();
            }
        }
        // sysmon first: it could otherwise still retake and hand off Ps.
        sched.sysmon_note.wakeup();
        crate::sysmon::join(&sched);
        sched.poller().wake();
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut all_joined = true;
        // Join until every M has exited: an M counted before the flag may
        // still be starting, its handle not yet pushed.
        loop {
            let (threads, mcount) = {
                let mut idle = sched.idle.lock();
                (std::mem::take(&mut idle.threads), idle.mcount)
            };
            if threads.is_empty() && mcount == 0 {
                break;
            }
            for (_, h) in threads {
                match deadline {
                    None => {
                        let _ = h.join();
                    }
                    Some(d) => {
                        while !h.is_finished() && Instant::now() < d {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                        if h.is_finished() {
                            let _ = h.join();
                        } else {
                            all_joined = false;
                        }
                    }
                }
            }
            if !all_joined || deadline.is_some_and(|d| Instant::now() >= d) {
                all_joined = false;
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        if !all_joined {
            std::mem::forget(sched);
            return false;
        }
        // No M remains to arm or fire a timer: detach the nodes still armed
        // (owned by channels or contexts that outlive us, or on the stacks
        // of parked goroutines) from our heaps.
        sched.detach_timers();
        // Unwind the goroutines that never finished, on a thread that is no
        // M (nor a goroutine being unwound itself: a runtime may be dropped
        // by the destructors of another's goroutines).
        let reclaimed = sched.num_goroutine() == 0 || {
            let s: &Sched = &sched;
            std::thread::scope(|scope| {
                std::thread::Builder::new()
                    .name(format!("{}-unwind", sched.config.name))
                    .spawn_scoped(scope, || crate::unwind::reclaim(s))
                    .map(|h| h.join().unwrap_or(false))
                    .unwrap_or(false)
            })
        };
        // Every M is gone: we own all Ps. Return cached stacks; unmap them
        // all if no goroutine holds one.
        for p in sched.all_ps() {
            // SAFETY: every M thread has been joined and sysmon has exited,
            // so no M owns the P and nothing can take it (1); the token
            // ends with this iteration, on this plain thread, where no
            // goroutine runs (2); it is the only token for the P (3).
            let mut p = unsafe { crate::p::OwnedP::new(p) };
            let l = p.local();
            l.stacks.flush(&sched.stacks);
            crate::mcache::CENTRAL.flush(&mut l.mcache);
        }
        if reclaimed && sched.stacks.in_use() == 0 {
            sched.stacks.release_all();
        } else {
            // Goroutines left parked (by the plain public `park`) may still
            // be referenced from primitives that plain threads use: keep
            // their stacks and Gs valid forever.
            std::mem::forget(sched);
        }
        true
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.shutdown(None);
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("max_procs", &self.max_procs()).finish()
    }
}

static DEFAULT: OnceLock<Runtime> = OnceLock::new();

/// The default runtime, started on first use (`GORT_MAXPROCS` Ps).
pub fn default_runtime() -> &'static Runtime {
    DEFAULT.get_or_init(|| match Runtime::builder().build() {
        Ok(rt) => rt,
        Err(e) => crate::sys::fatal(&e.to_string()),
    })
}

/// The runtime of the calling goroutine (or the default one), kept alive.
pub(crate) fn current_sched_arc() -> Arc<Sched> {
    with_sched(|s| s.this.get().and_then(std::sync::Weak::upgrade).expect("a running runtime is alive"))
}

/// Calls `f` with the runtime of the calling goroutine, or the default one
/// on a plain thread. Unlike [`crate::m::with_m`]'s, `f` may park: the
/// reference stays good across parks and for the whole call, because a
/// runtime is freed only after its Ms exited and its goroutines' stacks
/// were unwound (or it is leaked), and the default runtime is never freed.
/// A `#[track_caller]` function reads `Location::caller()` before calling
/// this: closures do not pass the caller on.
#[inline]
pub(crate) fn with_sched<R>(f: impl FnOnce(&Sched) -> R) -> R {
    let s = crate::m::with_m(|ml| ml.map_or(std::ptr::null(), |ml| ml.sched));
    // SAFETY: a non-null pointer is the running M's Sched, which outlives
    // this goroutine's call of `f` (see above).
    let s = if s.is_null() { default_runtime().sched() } else { unsafe { &*s } };
    f(s)
}

/// Runs `f` as the main goroutine of the default runtime and returns its
/// result; a panic in `f` continues in the caller. This is what
/// `#[gort::main]` expands to.
#[track_caller]
pub fn run<F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    default_runtime().block_on(f)
}

/// Pins the calling thread to CPU `i` modulo the CPU count.
pub(crate) fn pin_current_thread(i: usize) {
    if let Some(ids) = core_affinity::get_core_ids()
        && !ids.is_empty()
    {
        core_affinity::set_for_current(ids[i % ids.len()]);
    }
}

impl Sched {
    /// The poller in use: the network poller once installed, else the idle
    /// one.
    #[inline]
    pub(crate) fn poller(&self) -> &dyn Poller {
        match self.net_poller.get() {
            Some(p) => &**p,
            None => &*self.poller,
        }
    }
}

/// The identity of an installed poller: equal keys name the same poller
/// while its runtime lives. A dropped runtime's key may come back as a
/// later runtime's (the address is reused), so whoever keeps keys must
/// also learn when a poller dies (the poller's own `Drop`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct PollerKey(usize);

impl PollerKey {
    /// The key as a number (e.g. a table index).
    pub fn as_usize(self) -> usize {
        self.0
    }
}

/// Makes one runtime look at its network poller soon, from any thread:
/// for an I/O waiter that was added from outside the runtime's goroutines
/// (a plain thread's executor registering a waker), which no M of that
/// runtime would otherwise notice while they all sleep. Go has no
/// counterpart (only goroutines wait for I/O there); it does what Go's
/// `wakeNetPoller` does for a new timer: if no M blocks in the poller, it
/// wakes an M (`wakep`), which finds the poller's waiter count positive
/// and blocks in the poller; an M already blocked there receives the
/// readiness itself. Call it after the waiter is counted (SeqCst): the
/// woken or spinning M reads the count after it stops spinning (the
/// Dekker pair of `wakep`).
///
/// The handle holds its runtime weakly: after the runtime is gone, `wake`
/// does nothing. Given to the poller by [`install_poller`]; the default
/// handle names no runtime (for a poller tested on its own).
#[derive(Clone, Debug, Default)]
pub struct NetPollWaker(std::sync::Weak<Sched>);

impl NetPollWaker {
    /// The runtime's number of Ps now, 1 if it is gone (a poller makes
    /// one share of its descriptors per P: `Poller::poll_own`).
    pub fn procs(&self) -> usize {
        self.0.upgrade().map_or(1, |s| s.nprocs() as usize)
    }

    /// Wakes an M of the runtime to poll, unless one blocks in the poller
    /// already or the runtime is gone (see the type's docs).
    pub fn wake(&self) {
        // The upgraded reference may outlive a concurrent shutdown and be
        // the last: the runtime is then freed here, on a thread that is no
        // M of it, as when any other holder of the runtime drops it.
        if let Some(s) = self.0.upgrade()
            && !s.is_shutdown()
            && s.lastpoll.load(Ordering::SeqCst) != 0
        {
            s.wakep();
        }
    }
}

/// Installs the network poller of the current runtime (the default one
/// outside a runtime), built by `make` on first call, and returns its key.
/// `make` gets the runtime's [`NetPollWaker`]. Ms blocked in the idle
/// poller are woken so they move to the new one.
pub fn install_poller(make: impl FnOnce(NetPollWaker) -> Box<dyn Poller>) -> PollerKey {
    with_sched(|sched| {
        let mut fresh = false;
        let p = sched.net_poller.get_or_init(|| {
            fresh = true;
            make(NetPollWaker(sched.this.get().cloned().unwrap_or_default()))
        });
        if fresh {
            sched.poller.wake();
        }
        PollerKey(&**p as *const dyn Poller as *const () as usize)
    })
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_parse_with_1024_based_suffixes() {
        assert_eq!(parse_size("8M"), Some(8 << 20));
        assert_eq!(parse_size(" 512k "), Some(512 << 10));
        assert_eq!(parse_size("2MiB"), Some(2 << 20));
        assert_eq!(parse_size("1 GB"), Some(1 << 30));
        assert_eq!(parse_size("65536"), Some(65536));
        for bad in ["", "0", "0M", "M", "8T", "-1", "1.5M", "8 M B", "99999999999999999999G"] {
            assert_eq!(parse_size(bad), None, "{bad:?}");
        }
    }
}
