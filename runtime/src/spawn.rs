//! Starting goroutines and joining them: `spawn`, the goroutine
//! [`Builder`], [`JoinHandle`].
//!
//! Go: runtime/proc.go (`newproc`, `newproc1`, `gfget`).
//!
//! A spawn allocates one object, the task: the closure and the slot for its
//! result, shared by the goroutine (as [`Runnable`]) and the [`JoinHandle`].
//! The G itself comes from the P's free list. The new goroutine takes the
//! spawner's `runnext` slot, as in Go, so a spawn-then-block hands the P
//! straight to the child; it gets a stack only when it first runs.
//!
//! Panics: the closure runs under `catch_unwind`. A handle that joins gets
//! the panic as `Err(Panic)`. A panic nobody can observe (the handle was
//! dropped, or is dropped without joining) follows the runtime's
//! [`PanicPolicy`]: by default the process prints it and exits with status
//! 2, as Go does for an unrecovered panic.

use std::cell::UnsafeCell;
use std::panic::{AssertUnwindSafe, Location};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::g::{G, GRef, WaitReason, status};
use crate::panic::{Panic, PanicPolicy};
use crate::sched::Sched;
use crate::stack::{GStack, StackError};

/// The goroutine side of a task: run the closure once.
pub(crate) trait Runnable: Send + Sync {
    fn run(&self);
}

// Task state bits. DONE: the result is written. DETACHED: the handle is
// gone (dropped or joined), so the goroutine owns the result. WAITING: a
// joiner has parked and left its G in `waiter`.
const DONE: u32 = 1;
const DETACHED: u32 = 2;
const WAITING: u32 = 4;

/// What a task's goroutine and its handle share. The state word decides
/// who owns `result` and `waiter`:
/// - `result` is written by the goroutine before it sets DONE (Release);
///   after that, it belongs to the handle if the handle saw DONE first
///   (Acquire), or to the goroutine if DETACHED was already set;
/// - `waiter` is written by the joiner before it sets WAITING (from the
///   park callback, so it is parked by then); the goroutine reads it after
///   its DONE swap observes WAITING, and readies it.
struct Packet<T> {
    state: AtomicU32,
    waiter: UnsafeCell<Option<GRef>>,
    result: UnsafeCell<Option<Result<T, Panic>>>,
    policy: PanicPolicy,
}

struct Task<F, T> {
    packet: Packet<T>,
    f: UnsafeCell<Option<F>>,
    id: u64,
    name: Option<Arc<str>>,
}

// SAFETY: `f` is taken exactly once, by the goroutine, the only code that
// touches it; `waiter` and `result` are handed over through `state` as the
// Packet docs describe. F and T cross threads, hence the Send bounds.
unsafe impl<F: Send, T: Send> Sync for Task<F, T> {}

impl<F, T> Runnable for Task<F, T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    fn run(&self) {
        // SAFETY: run is called once, by the goroutine; nothing else touches f.
        let f = unsafe { (*self.f.get()).take() }.expect("task runs once");
        let r = std::panic::catch_unwind(AssertUnwindSafe(f))
            .map_err(|payload| Panic::new(payload, self.id, self.name.clone()));
        let pk = &self.packet;
        // SAFETY: before DONE is set, only the goroutine touches `result`.
        unsafe { *pk.result.get() = Some(r) };
        let prev = pk.state.fetch_or(DONE, Ordering::AcqRel);
        if prev & DETACHED != 0 {
            // Nobody will read the result: it is ours to drop.
            // SAFETY: DETACHED was set before our DONE: the handle is gone.
            let r = unsafe { (*pk.result.get()).take() };
            if let Some(Err(p)) = r {
                crate::panic::unobserved(p, pk.policy);
            }
        } else if prev & WAITING != 0 {
            // SAFETY: the joiner wrote `waiter` before setting WAITING, which
            // our AcqRel swap observed; it is parked until we ready it.
            let w = unsafe { (*pk.waiter.get()).take() }.expect("WAITING implies a waiter");
            // SAFETY: the joiner parked and only we can ready it (WAITING).
            unsafe { crate::park::ready(w) };
        }
    }
}

/// The handle side of a task, without the closure's type.
trait Join<T>: Send + Sync {
    fn packet(&self) -> &Packet<T>;
}

impl<F, T> Join<T> for Task<F, T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    fn packet(&self) -> &Packet<T> {
        &self.packet
    }
}

/// An owned permission to wait for a goroutine's result. Dropping it
/// detaches the goroutine.
pub struct JoinHandle<T> {
    task: Option<Arc<dyn Join<T>>>,
    id: u64,
    name: Option<Arc<str>>,
}

impl<T> JoinHandle<T> {
    /// Waits for the goroutine to finish and returns its result, or the
    /// panic that ended it. Parks a goroutine; blocks a plain thread.
    pub fn join(mut self) -> Result<T, Panic> {
        let task = self.task.take().expect("a live handle has its task");
        let pk = task.packet();
        if pk.state.load(Ordering::Acquire) & DONE == 0 {
            crate::park::park(WaitReason::JoinWait, |g| {
                // SAFETY: until WAITING is set only we touch `waiter`.
                unsafe { *pk.waiter.get() = Some(g) };
                // Stay parked unless the goroutine finished meanwhile.
                pk.state.compare_exchange(0, WAITING, Ordering::AcqRel, Ordering::Acquire).is_ok()
            });
        }
        let prev = pk.state.fetch_or(DETACHED, Ordering::AcqRel);
        debug_assert!(prev & DONE != 0, "joined before the goroutine finished");
        // SAFETY: DONE is set and we are the handle: the result is ours.
        unsafe { (*pk.result.get()).take() }.expect("a finished task has a result")
    }

    /// Whether the goroutine has finished.
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_some_and(|t| t.packet().state.load(Ordering::Acquire) & DONE != 0)
    }

    /// The goroutine's id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The goroutine's name, if it has one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        let Some(task) = self.task.take() else { return };
        let pk = task.packet();
        let prev = pk.state.fetch_or(DETACHED, Ordering::AcqRel);
        if prev & DONE != 0 {
            // Finished and never joined: the result is ours to drop.
            // SAFETY: DONE was set before our DETACHED: the goroutine is
            // done with `result`.
            let r = unsafe { (*pk.result.get()).take() };
            if let Some(Err(p)) = r {
                crate::panic::unobserved(p, pk.policy);
            }
        }
    }
}

impl<T> std::fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinHandle").field("id", &self.id).field("name", &self.name).finish()
    }
}

/// Options for a goroutine about to start: its name and stack size.
#[derive(Debug, Default, Clone)]
#[must_use = "a Builder does nothing until spawn is called"]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
}

impl Builder {
    /// Default options: no name, the runtime's default stack size.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the goroutine (shown in panics, dumps and `current()`).
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// Sets the usable stack size in bytes (rounded up to whole pages, at
    /// least 16 KiB). Only touched pages cost memory.
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = Some(bytes);
        self
    }

    /// Starts the goroutine on the current runtime (the default one when
    /// called outside a runtime). The stack is taken when the goroutine
    /// first runs; if none can be mapped then, the process dies with the
    /// error [`Builder::try_spawn`] would have returned.
    #[track_caller]
    pub fn spawn<F, T>(self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let sched = crate::runtime::current_sched();
        spawn_on(sched, self, f, None, Location::caller())
    }

    /// Like [`Builder::spawn`], but takes the goroutine's stack now and
    /// returns an error instead of dying when none can be mapped (e.g. the
    /// kernel's `vm.max_map_count` is reached).
    #[track_caller]
    pub fn try_spawn<F, T>(self, f: F) -> Result<JoinHandle<T>, StackError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let sched = crate::runtime::current_sched();
        let site = Location::caller();
        let stack = match self.stack_size {
            Some(n) if crate::stack::round_stack_size(n) != sched.stacks.stack_size() => {
                sched.stacks.alloc_dedicated(n)?
            }
            _ => sched.stacks.alloc()?,
        };
        Ok(spawn_on(sched, self, f, Some(stack), site))
    }
}

/// Starts a goroutine running `f` on the current runtime (the default one
/// outside a runtime). Go: the `go` statement.
#[track_caller]
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let sched = crate::runtime::current_sched();
    spawn_on(sched, Builder::new(), f, None, Location::caller())
}

pub(crate) fn spawn_on<F, T>(
    sched: &Sched,
    b: Builder,
    f: F,
    stack: Option<GStack>,
    site: &'static Location<'static>,
) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    crate::proc::preempt_point();
    let name: Option<Arc<str>> = b.name.map(Arc::from);
    let stack_size = match b.stack_size {
        Some(n) if crate::stack::round_stack_size(n) != sched.stacks.stack_size() => n,
        _ => 0,
    };
    let hold = crate::proc::hold_p().filter(|h| std::ptr::eq(h.sched(), sched));
    let p = hold.as_ref().map(|h| h.p());
    let id = sched.next_goid(p);
    let task = Arc::new(Task {
        packet: Packet {
            state: AtomicU32::new(0),
            waiter: UnsafeCell::new(None),
            result: UnsafeCell::new(None),
            policy: sched.config.panic_policy,
        },
        f: UnsafeCell::new(Some(f)),
        id,
        name: name.clone(),
    });
    let handle = JoinHandle { task: Some(task.clone()), id, name: name.clone() };
    // SAFETY: with a hold we own p.
    let gbox = p.and_then(|p| unsafe { p.gfget(&sched.gfree) }).unwrap_or_else(|| {
        let g = Box::new(G::new(false));
        sched.allg_add(&g);
        g
    });
    gbox.id.store(id, Ordering::Relaxed);
    gbox.set_sched(sched);
    {
        // SAFETY: the G is not published yet: we own it.
        let inner = unsafe { gbox.inner() };
        inner.entry = Some(task);
        inner.stack = stack;
        inner.stack_size = stack_size;
        inner.name = name;
        inner.spawn_site = site;
        inner.parent_id = crate::m::current_goroutine()
            // SAFETY: the current goroutine is alive.
            .map_or(0, |g| unsafe { g.get() }.id());
        gbox.meta.write(site, inner.parent_id, inner.name.as_deref());
        gbox.meta.locked.store(false, Ordering::Relaxed);
    }
    gbox.status.store(status::RUNNABLE, Ordering::Relaxed);
    let g = GRef::from_ref(Box::leak(gbox));
    match hold {
        Some(h) => {
            let p = h.p();
            p.spawned.store(p.spawned.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            // SAFETY: the hold proves we own p.
            unsafe { p.runqput(g, true) };
            drop(h);
            sched.wakep();
        }
        None => {
            sched.counters.spawned_nop.fetch_add(1, Ordering::Relaxed);
            sched.globrunqput(g);
            sched.wakep_after_push();
        }
    }
    handle
}

/// Information about a goroutine (see [`current`]).
#[derive(Clone, Debug)]
pub struct Goroutine {
    id: u64,
    name: Option<Arc<str>>,
    spawn_site: &'static Location<'static>,
}

impl Goroutine {
    /// The goroutine id (Go's goid; the first goroutine of a runtime is 1).
    pub fn id(&self) -> u64 {
        self.id
    }
    /// The name given with [`Builder::name`].
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
    /// Where the goroutine was spawned.
    pub fn spawn_site(&self) -> &'static Location<'static> {
        self.spawn_site
    }
}

/// The calling goroutine, or None on a plain thread.
pub fn current() -> Option<Goroutine> {
    let g = crate::m::current_goroutine()?;
    // SAFETY: g is the running goroutine: it owns itself.
    let gp = unsafe { g.get() };
    // SAFETY: as above; a short-lived borrow.
    let inner = unsafe { gp.inner() };
    Some(Goroutine { id: gp.id(), name: inner.name.clone(), spawn_site: inner.spawn_site })
}

/// Number of goroutines alive in the current runtime (the default one
/// outside a runtime). Go: `runtime.NumGoroutine`.
pub fn num_goroutine() -> usize {
    crate::runtime::current_sched().num_goroutine()
}

/// Wires the calling goroutine to its OS thread: until a matching
/// [`unlock_os_thread`], it runs only on this thread and no other goroutine
/// runs on it. Calls nest. A goroutine that exits while locked takes its
/// thread with it. No effect on a plain thread. Go: `runtime.LockOSThread`.
pub fn lock_os_thread() {
    let Some(ml) = crate::m::current() else {
        return;
    };
    let Some(g) = ml.curg.get() else { return };
    // SAFETY: g is the running goroutine.
    let inner = unsafe { g.get().inner() };
    inner.lock_count = inner.lock_count.checked_add(1).expect("lock_os_thread nested too deeply");
    if inner.lock_count == 1 {
        // SAFETY: g is the running goroutine.
        unsafe { g.get() }.meta.locked.store(true, Ordering::Relaxed);
        inner.locked_m = Some(ml.m.clone());
        ml.m.locked_g.store(g.0.as_ptr(), Ordering::Release);
    }
}

/// Undoes one [`lock_os_thread`]; when the count reaches zero the goroutine
/// may run anywhere again. Unlocking an unlocked goroutine does nothing.
/// Go: `runtime.UnlockOSThread`.
pub fn unlock_os_thread() {
    let Some(ml) = crate::m::current() else {
        return;
    };
    let Some(g) = ml.curg.get() else { return };
    // SAFETY: g is the running goroutine.
    let inner = unsafe { g.get().inner() };
    if inner.lock_count == 0 {
        return;
    }
    inner.lock_count -= 1;
    if inner.lock_count == 0 {
        // SAFETY: g is the running goroutine.
        unsafe { g.get() }.meta.locked.store(false, Ordering::Relaxed);
        inner.locked_m = None;
        ml.m.locked_g.store(std::ptr::null_mut(), Ordering::Release);
    }
}

/// How many [`lock_os_thread`] calls of the current goroutine are pending.
pub fn os_thread_lock_count() -> u32 {
    match crate::m::current_goroutine() {
        // SAFETY: g is the running goroutine.
        Some(g) => unsafe { g.get().inner() }.lock_count,
        None => 0,
    }
}
