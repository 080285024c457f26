//! Starting goroutines and joining them: `spawn`, the goroutine
//! [`Builder`], [`JoinHandle`].
//!
//! Go: runtime/proc.go (`newproc`, `newproc1`, `gfget`).
//!
//! A spawn allocates one block, the task: the closure and the slot for its
//! result, shared by the goroutine and the [`JoinHandle`], from the P's
//! allocation cache. The G itself comes from the P's free list. The new goroutine takes the
//! spawner's `runnext` slot, as in Go, so a spawn-then-block hands the P
//! straight to the child; it gets a stack only when it first runs.
//!
//! Panics: the closure runs under `catch_unwind`. A handle that joins gets
//! the panic as `Err(Panic)`. A panic nobody can observe (the handle was
//! dropped, or is dropped without joining) follows the runtime's
//! [`PanicPolicy`]: by default the process prints it and exits with status
//! 2, as Go does for an unrecovered panic. A handle dropped while its
//! holder unwinds a panic of its own (`std::thread::panicking`) does not
//! kill the process over the goroutine's panic, which would hide the
//! holder's: the holder's panic goes on and the goroutine's gets a note
//! (see `panic::dropped_while_panicking`).

use std::alloc::Layout;
use std::cell::UnsafeCell;
use std::panic::{AssertUnwindSafe, Location};
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::g::{G, GRef, WaitReason, status};
use crate::mcache::MCache;
use crate::p::OwnedP;
use crate::panic::{Panic, PanicPolicy, PanicTrace, Unobserved};
use crate::sched::Sched;
use crate::stack::{GStack, StackError};
use crate::taskstate::{Finished, TaskState};

/// A goroutine's task: its closure and its result slot, in one block from
/// the P's [`MCache`](crate::mcache), shared by the goroutine and its
/// [`JoinHandle`] without a reference count. The state word decides who
/// owns the result, the waiter slot and the block: see
/// [`crate::taskstate`].
#[repr(C)]
struct Header {
    state: TaskState,
    vtable: &'static TaskVTable,
}

/// The type-erased operations on a task block.
struct TaskVTable {
    /// Runs the closure and publishes the result; returns whether the
    /// goroutine now owns the block (the handle was gone), in which case
    /// it must `dealloc` it.
    run: unsafe fn(NonNull<Header>) -> bool,
    /// Drops what is left in the block and frees it.
    dealloc: unsafe fn(NonNull<Header>, Option<&mut MCache>),
    /// The goroutine's runtime was dropped before its run returned.
    abandon: unsafe fn(NonNull<Header>),
}

/// The part of a task the handle knows (no closure type).
#[repr(C)]
struct Packet<T> {
    header: Header,
    waiter: UnsafeCell<Option<GRef>>,
    result: UnsafeCell<Option<Result<T, Panic>>>,
    policy: PanicPolicy,
    /// The handle was dropped while its holder unwound a panic. Written
    /// before the handle's DETACHED and read after the goroutine's DONE
    /// saw it (the state word's AcqRel RMWs order them).
    dropped_while_panicking: AtomicBool,
}

/// A whole task; `repr(C)` so that a `*Task<F, T>` is a `*Packet<T>` is a
/// `*Header`.
#[repr(C)]
struct Task<F, T> {
    packet: Packet<T>,
    f: UnsafeCell<Option<F>>,
    id: u64,
    name: Option<Arc<str>>,
}

/// A goroutine's reference to its task (in its G until it runs).
#[derive(Clone, Copy)]
pub(crate) struct TaskRef(NonNull<Header>);

// SAFETY: a task is handed from the spawner to the goroutine and its
// handle; its fields are protected by the state-word protocol above, and
// F and T are Send (spawn's bounds).
unsafe impl Send for TaskRef {}

impl TaskRef {
    /// Runs the task; true if the caller must then `dealloc` it.
    ///
    /// # Safety
    /// Called once, by the task's goroutine.
    pub(crate) unsafe fn run(self) -> bool {
        // SAFETY: the block is alive (the goroutine holds its share).
        let vt = unsafe { self.0.as_ref() }.vtable;
        // SAFETY: forwarded.
        unsafe { (vt.run)(self.0) }
    }

    /// Finishes the task of a goroutine whose runtime was dropped before
    /// its run returned (`unwind`): drops the closure if it never ran and
    /// publishes [`Panic::runtime_dropped`] to the handle, or, if the
    /// goroutine had finished and owns the block, frees it.
    ///
    /// # Safety
    /// Called once, by the thread reclaiming the goroutine, whose run never
    /// returned.
    pub(crate) unsafe fn abandon(self) {
        // SAFETY: the block is alive (the goroutine's share is unreleased).
        let vt = unsafe { self.0.as_ref() }.vtable;
        // SAFETY: forwarded.
        unsafe { (vt.abandon)(self.0) }
    }

    /// Frees a task the goroutine owns (`run` returned true, or it never
    /// ran).
    ///
    /// # Safety
    /// The caller must own the block; it is unusable afterwards.
    pub(crate) unsafe fn dealloc(self, cache: Option<&mut MCache>) {
        // SAFETY: the block is alive until this call.
        let vt = unsafe { self.0.as_ref() }.vtable;
        // SAFETY: forwarded.
        unsafe { (vt.dealloc)(self.0, cache) }
    }
}

impl<F, T> Task<F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    const VTABLE: TaskVTable = TaskVTable { run: Self::run, dealloc: Self::dealloc, abandon: Self::abandon };

    /// # Safety
    /// `h` is a live `Task<F, T>`, run once by its goroutine.
    unsafe fn run(h: NonNull<Header>) -> bool {
        // SAFETY: the header is the first field of the repr(C) task.
        let task = unsafe { h.cast::<Task<F, T>>().as_ref() };
        // SAFETY: only the goroutine touches `f`, once.
        let f = unsafe { (*task.f.get()).take() }.expect("task runs once");
        let r = std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
            if crate::unwind::unwinding().is_some() {
                // The runtime was dropped and this stack is being unwound:
                // not a panic of the goroutine. The reclaimer publishes the
                // result (`abandon`).
                std::panic::resume_unwind(payload);
            }
            Panic::new(payload, task.id, task.name.clone()).with_trace(PanicTrace::take())
        });
        let pk = &task.packet;
        // SAFETY: before DONE is set, only the goroutine touches `result`.
        unsafe { *pk.result.get() = Some(r) };
        match pk.header.state.finish() {
            Finished::Owned => {
                // The handle is gone: the result, and the block, are ours.
                // SAFETY: DETACHED was set before our DONE.
                let r = unsafe { (*pk.result.get()).take() };
                if let Some(Err(p)) = r {
                    let why = if pk.dropped_while_panicking.load(Ordering::Relaxed) {
                        Unobserved::DroppedWhilePanicking
                    } else {
                        Unobserved::DroppedWithoutJoin
                    };
                    crate::panic::unobserved_because(p, pk.policy, why);
                }
                true
            }
            Finished::WakeJoiner => {
                // SAFETY: the joiner wrote `waiter` before setting WAITING,
                // which our DONE observed; it is parked until readied.
                let w = unsafe { (*pk.waiter.get()).take() }.expect("WAITING implies a waiter");
                // SAFETY: the joiner parked; WAITING makes us its one
                // waker. Nothing touches the block after this: the joiner
                // frees it.
                unsafe { crate::gopark::ready(w) };
                false
            }
            Finished::Handed => false,
        }
    }

    /// # Safety
    /// `h` is a live `Task<F, T>` whose goroutine's run never returned; see
    /// [`TaskRef::abandon`].
    unsafe fn abandon(h: NonNull<Header>) {
        // SAFETY: the header is the first field of the repr(C) task.
        let task = unsafe { h.cast::<Task<F, T>>().as_ref() };
        let pk = &task.packet;
        if pk.header.state.is_done() {
            // Suspended after DONE: only while dropping a result nobody
            // will read, so the block is the goroutine's (`Finished::Owned`).
            // SAFETY: owned, as just argued.
            unsafe { Self::dealloc(h, None) };
            return;
        }
        // SAFETY: before DONE only the goroutine's side touches `f` and
        // `result`, and we act for the goroutine.
        drop(unsafe { (*task.f.get()).take() });
        // SAFETY: before DONE only the goroutine's side touches `result` (the
        // handle reads it only after it sees DONE), and we act for the
        // goroutine; `finish` below publishes the write.
        unsafe { *pk.result.get() = Some(Err(Panic::runtime_dropped(task.id, task.name.clone()))) };
        match pk.header.state.finish() {
            // Nobody will read it, and a dropped runtime is no panic to
            // report: drop the result with the block.
            // SAFETY: DETACHED was set before our DONE: the block is ours.
            Finished::Owned => unsafe { Self::dealloc(h, None) },
            Finished::WakeJoiner => {
                // SAFETY: as in `run`.
                let w = unsafe { (*pk.waiter.get()).take() }.expect("WAITING implies a waiter");
                // SAFETY: as in `run`: WAITING makes us the joiner's waker.
                unsafe { crate::gopark::ready(w) };
            }
            Finished::Handed => {}
        }
    }

    /// # Safety
    /// `h` is a live `Task<F, T>` owned by the caller.
    unsafe fn dealloc(h: NonNull<Header>, cache: Option<&mut MCache>) {
        let p = h.cast::<Task<F, T>>();
        // SAFETY: the caller owns the live block; drop its fields in place
        // (the closure if it never ran, the name, an untaken result).
        unsafe { std::ptr::drop_in_place(p.as_ptr()) };
        // SAFETY: the block came from CENTRAL.alloc with this layout.
        unsafe { crate::mcache::CENTRAL.free(cache, p.cast(), Layout::new::<Task<F, T>>()) };
    }
}

/// An owned permission to wait for a goroutine's result. Dropping it
/// detaches the goroutine.
pub struct JoinHandle<T> {
    packet: Option<NonNull<Packet<T>>>,
    id: u64,
    name: Option<Arc<str>>,
    /// The id of the goroutine's synctest bubble, 0 for none: a join from
    /// the same bubble is durably blocked.
    bubble: u64,
}

// SAFETY: the handle only moves or reads T through the packet protocol;
// sending or sharing it is like sending or sharing a T (std's JoinHandle
// has the same bounds).
unsafe impl<T: Send> Send for JoinHandle<T> {}
// SAFETY: `&JoinHandle` only reads the packet's state word and the handle's
// own id and name; taking the T needs the handle by value, so sharing a
// handle shares no T beyond what Send already allows.
unsafe impl<T: Send> Sync for JoinHandle<T> {}

impl<T> JoinHandle<T> {
    fn packet(&self) -> &Packet<T> {
        // SAFETY: while the handle holds the packet it has not set
        // DETACHED, so the block is alive (the goroutine never frees it
        // before DETACHED is set).
        unsafe { self.packet.expect("a live handle has its task").as_ref() }
    }

    /// Waits for the goroutine to finish and returns its result, or the
    /// panic that ended it. Parks a goroutine; blocks a plain thread.
    ///
    /// If the goroutine's runtime is dropped before it finishes, returns
    /// an error saying so ([`Panic::is_runtime_dropped`]).
    pub fn join(mut self) -> Result<T, Panic> {
        let pk = self.packet();
        if !pk.header.state.is_done() {
            // If our own runtime is dropped while we wait: leave the
            // waiter slot, or wait out the finisher's ready.
            struct Unwait<'a>(&'a TaskState);
            impl Drop for Unwait<'_> {
                fn drop(&mut self) {
                    if !self.0.unwait() {
                        crate::unwind::wait_for_waker();
                    }
                }
            }
            let guard = Unwait(&pk.header.state);
            let reason = if self.bubble != 0 && joining_from_bubble(self.bubble) {
                WaitReason::JoinWaitDurable
            } else {
                WaitReason::JoinWait
            };
            crate::gopark::park_unwind_safe(reason, |g| {
                // SAFETY: until WAITING is set only we touch `waiter`.
                unsafe { *pk.waiter.get() = Some(g) };
                // Stay parked unless the goroutine finished meanwhile.
                pk.header.state.wait()
            });
            std::mem::forget(guard);
        }
        let done = pk.header.state.detach();
        debug_assert!(done, "joined before the goroutine finished");
        // SAFETY: DONE was set before our DETACHED: the result and the
        // block are ours.
        let r = unsafe { (*pk.result.get()).take() }.expect("a finished task has a result");
        let p = self.packet.take().expect("a live handle has its task");
        // SAFETY: we own the block (above); nothing else refers to it.
        unsafe { free_from_handle(p.cast()) };
        r
    }

    /// Whether the goroutine has finished.
    pub fn is_finished(&self) -> bool {
        self.packet().header.state.is_done()
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
        let Some(p) = self.packet.take() else { return };
        // SAFETY: as in `packet()`: alive until we set DETACHED.
        let pk = unsafe { p.as_ref() };
        // Dropped by a goroutine or thread unwinding a panic: that panic is
        // the one to report, not this goroutine's (see panic.rs).
        let panicking = std::thread::panicking();
        if panicking {
            pk.dropped_while_panicking.store(true, Ordering::Relaxed);
        }
        if !pk.header.state.detach() {
            return; // the goroutine frees the block when it finishes
        }
        // Finished and never joined: the result and the block are ours.
        // SAFETY: DONE was set before our DETACHED.
        let r = unsafe { (*pk.result.get()).take() };
        if let Some(Err(panic)) = r {
            if panicking {
                crate::panic::dropped_while_panicking(panic, pk.policy);
            } else {
                crate::panic::unobserved(panic, pk.policy);
            }
        }
        // SAFETY: we own the block.
        unsafe { free_from_handle(p.cast()) };
    }
}

/// Whether the caller belongs to the synctest bubble with id `bubble`.
#[cold]
fn joining_from_bubble(bubble: u64) -> bool {
    let b = crate::synctest::current_ptr();
    // SAFETY: a non-null bubble is the caller's, alive while it runs.
    !b.is_null() && unsafe { &*b }.id() == bubble
}

/// Frees a task block from the handle's side: into the current P's cache
/// when on an M holding a P, else to the central lists.
///
/// # Safety
/// The caller owns the block.
unsafe fn free_from_handle(h: NonNull<Header>) {
    match crate::proc::hold_p() {
        Some(mut hold) => {
            let mut p = hold.owned();
            let cache = &mut p.local().mcache;
            // SAFETY: forwarded from the caller.
            unsafe { TaskRef(h).dealloc(Some(cache)) };
        }
        // SAFETY: forwarded from the caller.
        None => unsafe { TaskRef(h).dealloc(None) },
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
    /// least 16 KiB). Only touched pages cost memory. A size other than the
    /// runtime's default gets a stack of its own, mapped at spawn time; a
    /// size that cannot be mapped makes [`Builder::try_spawn`] fail and
    /// [`Builder::spawn`] panic.
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = Some(bytes);
        self
    }

    /// Starts the goroutine on the current runtime (the default one when
    /// called outside a runtime). A default-size stack is taken when the
    /// goroutine first runs; if none can be mapped then, the process dies
    /// with the error [`Builder::try_spawn`] would have returned.
    ///
    /// # Panics
    /// With [`Builder::try_spawn`]'s error message if the goroutine has its
    /// own [`stack_size`](Builder::stack_size) and that stack cannot be
    /// mapped (e.g. `usize::MAX` bytes).
    #[track_caller]
    pub fn spawn<F, T>(self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let site = Location::caller();
        // A stack of its own is mapped here, in the spawning goroutine, so
        // that a size that cannot be had panics in the caller rather than
        // killing the process when the goroutine first runs (outside the
        // closure, so that the panic names the caller's line).
        let spawned: Result<_, StackError> = crate::runtime::with_sched(|sched| {
            let stack = self.dedicated_stack(sched)?;
            Ok(spawn_on(sched, self, f, stack, site))
        });
        match spawned {
            Ok(h) => h,
            Err(e) => panic!("{e}"),
        }
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
        let site = Location::caller();
        crate::runtime::with_sched(|sched| {
            let stack = match self.dedicated_stack(sched)? {
                Some(s) => s,
                None => sched.stacks.alloc()?,
            };
            Ok(spawn_on(sched, self, f, Some(stack), site))
        })
    }

    /// Maps the goroutine's own stack if it asked for a size other than
    /// the runtime's default; None for a default-size stack.
    fn dedicated_stack(&self, sched: &Sched) -> Result<Option<GStack>, StackError> {
        let Some(n) = self.stack_size else { return Ok(None) };
        if crate::stack::round_stack_size(n)? == sched.stacks.stack_size() {
            return Ok(None);
        }
        sched.stacks.alloc_dedicated(n).map(Some)
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
    let site = Location::caller();
    crate::runtime::with_sched(|sched| spawn_on(sched, Builder::new(), f, None, site))
}

/// Starts a goroutine on `sched`. `b`'s stack size is not looked at: a
/// goroutine with its own stack size gets that stack as `stack` (see
/// `Builder::dedicated_stack`); `stack` None means a default-size stack,
/// taken when the goroutine first runs.
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
    let mut hold = crate::proc::hold_p().filter(|h| std::ptr::eq(h.sched(), sched));
    let mut p = hold.as_mut().map(|h| h.owned());
    let id = sched.next_goid(p.as_mut().map(OwnedP::reborrow));
    let task = Task {
        packet: Packet {
            header: Header { state: TaskState::new(), vtable: &Task::<F, T>::VTABLE },
            waiter: UnsafeCell::new(None),
            result: UnsafeCell::new(None),
            policy: sched.config.panic_policy,
            dropped_while_panicking: AtomicBool::new(false),
        },
        f: UnsafeCell::new(Some(f)),
        id,
        name: name.clone(),
    };
    let cache = p.as_mut().map(|p| &mut p.local().mcache);
    let block = crate::mcache::CENTRAL.alloc(cache, Layout::new::<Task<F, T>>()).cast::<Task<F, T>>();
    // SAFETY: a fresh block with Task<F, T>'s layout, not yet shared.
    unsafe { block.as_ptr().write(task) };
    let entry = TaskRef(block.cast());
    // The spawner's synctest bubble, inherited (null outside bubbles: then
    // this is one load of a global nobody writes).
    let bubble = crate::synctest::current_ptr();
    let handle = JoinHandle {
        packet: Some(block.cast()),
        id,
        name: name.clone(),
        // SAFETY: a non-null bubble is the spawner's, alive while it runs.
        bubble: if bubble.is_null() { 0 } else { unsafe { &*bubble }.id() },
    };
    let gbox = p.as_mut().and_then(|p| p.gfget(&sched.gfree)).unwrap_or_else(|| {
        let g = Box::new(G::new(false));
        sched.allg_add(&g);
        g
    });
    gbox.id.store(id, Ordering::Relaxed);
    gbox.set_sched(sched);
    if !bubble.is_null() {
        crate::synctest::on_spawn(bubble, &gbox);
    }
    {
        // SAFETY: the G is not published yet: we own it.
        let inner = unsafe { gbox.inner() };
        inner.entry = Some(entry);
        inner.free_entry = false;
        // A stack of a non-default size is always mapped by the Builder and
        // passed in: without one the goroutine takes a default-size stack.
        inner.stack = stack;
        inner.stack_size = 0;
        inner.name = name;
        let parent = crate::m::current_goroutine()
            // SAFETY: the current goroutine is alive.
            .map_or(0, |g| unsafe { g.get() }.id());
        gbox.meta.write(site, parent, inner.name.as_deref());
        gbox.meta.locked.store(false, Ordering::Relaxed);
    }
    gbox.status.store(status::RUNNABLE, Ordering::Relaxed);
    let g = GRef::from_ref(Box::leak(gbox));
    match p {
        Some(mut p) => {
            p.spawned.store(p.spawned.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            p.runqput(g, true, &sched.runq);
            drop(hold);
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
    // SAFETY: g is the running goroutine, the owner of its G; the borrow
    // lasts only for cloning the name.
    let inner = unsafe { gp.inner() };
    Some(Goroutine { id: gp.id(), name: inner.name.clone(), spawn_site: gp.meta.spawn_site() })
}

/// Number of goroutines alive in the current runtime (the default one
/// outside a runtime). Go: `runtime.NumGoroutine`.
pub fn num_goroutine() -> usize {
    crate::runtime::with_sched(|s| s.num_goroutine())
}

/// Wires the calling goroutine to its OS thread: until a matching
/// [`unlock_os_thread`], it runs only on this thread and no other goroutine
/// runs on it. Calls nest. A goroutine that exits while locked takes its
/// thread with it. No effect on a plain thread. Go: `runtime.LockOSThread`.
pub fn lock_os_thread() {
    crate::m::with_m(|ml| {
        let Some(ml) = ml else { return };
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
    })
}

/// Undoes one [`lock_os_thread`]; when the count reaches zero the goroutine
/// may run anywhere again. Unlocking an unlocked goroutine does nothing.
/// Go: `runtime.UnlockOSThread`.
pub fn unlock_os_thread() {
    crate::m::with_m(|ml| {
        let Some(ml) = ml else { return };
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
    })
}

/// How many [`lock_os_thread`] calls of the current goroutine are pending.
pub fn os_thread_lock_count() -> u32 {
    match crate::m::current_goroutine() {
        // SAFETY: g is the running goroutine.
        Some(g) => unsafe { g.get().inner() }.lock_count,
        None => 0,
    }
}
