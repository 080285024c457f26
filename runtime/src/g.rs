//! The G: one goroutine, or the stand-in for a plain OS thread that blocks
//! on a gort primitive.
//!
//! Go: runtime/runtime2.go (`type g`, the `_G*` statuses, `waitReason`).
//!
//! A goroutine's G is created by spawn, gets a corosensei coroutine and a
//! stack when it first runs, and is recycled through its P's free list when
//! it finishes. A thread's G lives as long as its thread and is never
//! scheduled: parking it blocks the thread on the G's [`Note`].
//!
//! Ownership of the fields in [`GInner`]: they are touched only by whoever
//! owns the G at the moment: the spawner before it is published, the M that
//! runs it (the goroutine itself and the M's scheduler, which alternate on
//! one thread), or nobody while it is queued or parked. Ownership passes
//! through the run queues (a Release push paired with an Acquire pop or
//! steal) and through park/ready (the unlock callback runs before any waker
//! can see the G; `ready` publishes it through a run queue), so every access
//! to `GInner` happens-after the previous owner's last one. Everything other
//! threads may read at any time is atomic.

use std::cell::UnsafeCell;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicPtr, AtomicU8, AtomicU32, AtomicU64, Ordering};

use crate::local::Locals;
use crate::lock::Note;
use crate::newproc::TaskRef;
use crate::sched::Sched;
use crate::stack::GStack;

/// The coroutine a goroutine runs in.
pub(crate) type Coro = corosensei::Coroutine<(), Suspend, (), GStack>;
/// The handle a running goroutine suspends itself through.
pub(crate) type GYielder = corosensei::Yielder<(), Suspend>;

/// What a goroutine asks of its M's scheduler when it suspends.
pub(crate) enum Suspend {
    /// Block: the scheduler marks the G waiting, then calls the unlock
    /// function; if that returns false the G runs again at once.
    /// Go: `gopark` / `park_m`.
    Park(ParkFn),
    /// `yield_now`: go behind the goroutines queued on this P, or, when
    /// there are none, to the back of the global run queue. Go: `Gosched`
    /// (which always uses the global queue).
    Gosched,
    /// A preemption request honoured: go to the back of the global run
    /// queue. Go: `gopreempt_m`.
    Preempt,
    /// Go to the back of this P's run queue. Go: `goyield`.
    Yield,
    /// The M lost its P (sysmon retook it): requeue the G and stop the M.
    /// Go: `exitsyscallNoP`.
    NoP,
}

/// The unlock callback of a park: the closure lives on the parked
/// goroutine's stack until `call` moves it out (onto the scheduler's stack)
/// and runs it, so nothing refers into the goroutine's stack once the
/// callback has released the primitive's lock.
pub(crate) struct ParkFn {
    data: *mut (),
    call: unsafe fn(*mut (), GRef) -> bool,
}

impl ParkFn {
    /// Wraps the closure at `f`, which the caller must not use or drop
    /// afterwards (`run` moves it out).
    pub(crate) fn new<F: FnOnce(GRef) -> bool>(f: &mut std::mem::ManuallyDrop<F>) -> ParkFn {
        /// # Safety
        /// `data` points at a live `F` that is not used again.
        unsafe fn trampoline<F: FnOnce(GRef) -> bool>(data: *mut (), g: GRef) -> bool {
            // SAFETY: guaranteed by the caller; the read moves it out.
            let f = unsafe { std::ptr::read(data.cast::<F>()) };
            f(g)
        }
        ParkFn { data: (&mut **f as *mut F).cast(), call: trampoline::<F> }
    }

    /// Runs the callback, once.
    ///
    /// # Safety
    /// Called exactly once, while the parked goroutine's stack is intact
    /// (before anyone can ready it).
    pub(crate) unsafe fn run(self, g: GRef) -> bool {
        // SAFETY: forwarded; `new`'s caller gave the closure up.
        unsafe { (self.call)(self.data, g) }
    }
}

/// G statuses (Go: `_Gidle` ...). Stored in [`G::status`].
pub(crate) mod status {
    /// Just allocated or recycled, not yet spawned.
    pub const IDLE: u32 = 0;
    /// On a run queue.
    pub const RUNNABLE: u32 = 1;
    /// Running on an M.
    pub const RUNNING: u32 = 2;
    /// In a `gort::syscall` call.
    pub const SYSCALL: u32 = 3;
    /// Parked.
    pub const WAITING: u32 = 4;
    /// Finished.
    pub const DEAD: u32 = 6;
}

/// Why a goroutine is parked; the strings are Go's, as shown in goroutine
/// dumps (Go: `waitReasonStrings`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum WaitReason {
    /// Not waiting.
    Zero = 0,
    /// Blocked receiving from a channel.
    ChanReceive,
    /// Blocked sending on a channel.
    ChanSend,
    /// Blocked in a select.
    Select,
    /// A select with no cases.
    SelectNoCases,
    /// Receiving from a nil channel.
    ChanReceiveNilChan,
    /// Sending on a nil channel.
    ChanSendNilChan,
    /// In `sleep`.
    Sleep,
    /// Waiting for network I/O.
    IoWait,
    /// Acquiring a runtime semaphore.
    Semacquire,
    /// `Mutex::lock`.
    SyncMutexLock,
    /// `RwLock::read`.
    SyncRWMutexRLock,
    /// `RwLock::write`.
    SyncRWMutexLock,
    /// `Cond::wait`.
    SyncCondWait,
    /// `WaitGroup::wait`.
    SyncWaitGroupWait,
    /// Waiting in `JoinHandle::join`.
    JoinWait,
    /// Waiting at a `Barrier`.
    SyncBarrierWait,
    /// Preempted.
    Preempted,
    /// Parked with no more specific reason.
    Other,
    /// Receiving from a channel of the goroutine's synctest bubble.
    ChanReceiveDurable,
    /// Sending on a channel of the goroutine's synctest bubble.
    ChanSendDurable,
    /// In a select whose channels all belong to the goroutine's bubble.
    SelectDurable,
    /// `WaitGroup::wait` on a group whose `add` was called in the bubble.
    SyncWaitGroupWaitDurable,
    /// `JoinHandle::join` of a goroutine of the same bubble.
    JoinWaitDurable,
    /// `Semaphore::acquire` (x/sync's weighted semaphore).
    SyncSemaphoreAcquire,
    /// The caller of `synctest::test`, waiting for its bubble to go idle.
    SynctestRun,
    /// In `synctest::wait`.
    SynctestWait,
    /// In `gort::future::block_on`, waiting for the future's waker.
    FutureWait,
    /// In `block_on` in a synctest bubble, with no waker held outside
    /// gort's bubble-aware futures (`gort::future`'s module docs).
    FutureWaitDurable,
}

impl WaitReason {
    /// Go's spelling, as in `goroutine 7 [chan receive]:`.
    pub fn as_str(self) -> &'static str {
        match self {
            WaitReason::Zero => "",
            WaitReason::ChanReceive => "chan receive",
            WaitReason::ChanSend => "chan send",
            WaitReason::Select => "select",
            WaitReason::SelectNoCases => "select (no cases)",
            WaitReason::ChanReceiveNilChan => "chan receive (nil chan)",
            WaitReason::ChanSendNilChan => "chan send (nil chan)",
            WaitReason::Sleep => "sleep",
            WaitReason::IoWait => "IO wait",
            WaitReason::Semacquire => "semacquire",
            WaitReason::SyncMutexLock => "sync.Mutex.Lock",
            WaitReason::SyncRWMutexRLock => "sync.RWMutex.RLock",
            WaitReason::SyncRWMutexLock => "sync.RWMutex.Lock",
            WaitReason::SyncCondWait => "sync.Cond.Wait",
            WaitReason::SyncWaitGroupWait => "sync.WaitGroup.Wait",
            WaitReason::JoinWait => "goroutine join",
            WaitReason::SyncBarrierWait => "sync.Barrier.Wait",
            WaitReason::Preempted => "preempted",
            WaitReason::Other => "waiting",
            WaitReason::ChanReceiveDurable => "chan receive (durable)",
            WaitReason::ChanSendDurable => "chan send (durable)",
            WaitReason::SelectDurable => "select (durable)",
            WaitReason::SyncWaitGroupWaitDurable => "sync.WaitGroup.Wait (durable)",
            WaitReason::JoinWaitDurable => "goroutine join (durable)",
            WaitReason::SyncSemaphoreAcquire => "sync.Semaphore.Acquire",
            WaitReason::SynctestRun => "synctest.Run",
            WaitReason::SynctestWait => "synctest.Wait",
            WaitReason::FutureWait => "future wait",
            WaitReason::FutureWaitDurable => "future wait (durable)",
        }
    }

    /// Whether a goroutine of a synctest bubble parked for this reason is
    /// durably blocked: only its own bubble can wake it (Go:
    /// `isIdleInSynctest`). The `...Durable` reasons are the bubble forms
    /// of channel, select, `WaitGroup` and join waits, chosen by the park
    /// site when what it waits on belongs to the bubble; the others are
    /// durable whatever they wait on (a sleep, a `Cond`, a `Barrier`, a
    /// `Semaphore`), so waking them from outside the bubble is a fatal
    /// error. A mutex, I/O and the plain channel reasons are not durable.
    pub fn is_durable(self) -> bool {
        matches!(
            self,
            WaitReason::ChanReceiveNilChan
                | WaitReason::ChanSendNilChan
                | WaitReason::SelectNoCases
                | WaitReason::Sleep
                | WaitReason::SyncCondWait
                | WaitReason::SyncBarrierWait
                | WaitReason::ChanReceiveDurable
                | WaitReason::ChanSendDurable
                | WaitReason::SelectDurable
                | WaitReason::SyncWaitGroupWaitDurable
                | WaitReason::JoinWaitDurable
                | WaitReason::SyncSemaphoreAcquire
                | WaitReason::SynctestRun
                | WaitReason::SynctestWait
                | WaitReason::FutureWaitDurable
        )
    }

    fn from_u8(v: u8) -> WaitReason {
        const ALL: [WaitReason; 29] = [
            WaitReason::Zero,
            WaitReason::ChanReceive,
            WaitReason::ChanSend,
            WaitReason::Select,
            WaitReason::SelectNoCases,
            WaitReason::ChanReceiveNilChan,
            WaitReason::ChanSendNilChan,
            WaitReason::Sleep,
            WaitReason::IoWait,
            WaitReason::Semacquire,
            WaitReason::SyncMutexLock,
            WaitReason::SyncRWMutexRLock,
            WaitReason::SyncRWMutexLock,
            WaitReason::SyncCondWait,
            WaitReason::SyncWaitGroupWait,
            WaitReason::JoinWait,
            WaitReason::SyncBarrierWait,
            WaitReason::Preempted,
            WaitReason::Other,
            WaitReason::ChanReceiveDurable,
            WaitReason::ChanSendDurable,
            WaitReason::SelectDurable,
            WaitReason::SyncWaitGroupWaitDurable,
            WaitReason::JoinWaitDurable,
            WaitReason::SyncSemaphoreAcquire,
            WaitReason::SynctestRun,
            WaitReason::SynctestWait,
            WaitReason::FutureWait,
            WaitReason::FutureWaitDurable,
        ];
        ALL.get(v as usize).copied().unwrap_or(WaitReason::Other)
    }
}

impl std::fmt::Display for WaitReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A goroutine, or a thread's stand-in (Go: `g`). Who writes each field
/// and what protects it is said field by field; the module docs give the
/// ownership rule for [`GInner`]. The atomics may be read by any thread
/// at any time (dumps, the deadlock check, sysmon); the cells belong to
/// one party at a time.
pub(crate) struct G {
    // -- identity and state, readable by anyone --
    /// Goroutine id (Go: `goid`); 0 for a thread's G. Written by the
    /// spawner before the G is published (Relaxed: the run queue's
    /// Release publishes it), constant while the goroutine lives.
    pub(crate) id: AtomicU64,
    /// A [`status`] value. Written by whoever owns the G at the transition:
    /// the spawner (`RUNNABLE`), its M's scheduler (`RUNNING`, `WAITING`,
    /// `RUNNABLE` on a yield, `DEAD`), the goroutine itself around a
    /// `syscall` (`SYSCALL`), the one waker entitled to ready it
    /// (`RUNNABLE`); a thread's G by its thread and its waker. Read by
    /// anyone; the orderings are argued where it is stored.
    pub(crate) status: AtomicU32,
    // -- synctest (synctest module) --
    /// Counted as durably blocked by its synctest bubble; read and written
    /// under the bubble's lock only (`synctest` module).
    pub(crate) durable: AtomicBool,
    /// The synctest bubble the goroutine belongs to, null outside bubbles
    /// (then every scheduler hook of `synctest` is skipped). A member owns
    /// one strong count of the bubble's `Arc` from spawn to exit; the root
    /// of a bubble sets it, uncounted, while it spawns the main goroutine
    /// and runs the bubble's timers.
    pub(crate) bubble: AtomicPtr<crate::synctest::Bubble>,
    /// The bubble's id, 0 for none: what dumps read (unlike `bubble`, it
    /// does not dangle if the goroutine exits under the reader). Written
    /// with `bubble` (spawn, exit), Relaxed.
    pub(crate) bubble_id: AtomicU64,
    // -- the current wait, for dumps --
    /// A [`WaitReason`] as `u8`. Written by the G itself just before it
    /// parks and cleared when it runs again (Relaxed: only dumps read it,
    /// and a stale reason there is harmless).
    wait_reason: AtomicU8,
    /// When the current wait began (nanotime), for dumps; written with
    /// `wait_reason`.
    wait_since: AtomicI64,
    // -- a plain thread's stand-in only --
    /// Whether this G stands in for a plain thread; immutable.
    pub(crate) is_thread: bool,
    /// A thread's G sleeps here while parked: the thread sleeps, the one
    /// waker entitled to ready it wakes it.
    pub(crate) note: Note,
    /// A thread's G is parked with a deadline (it wakes by itself). Set by
    /// the thread before it parks (SeqCst, read by the deadlock check).
    pub(crate) timed_wait: std::sync::atomic::AtomicBool,
    // -- set at spawn, constant while the goroutine lives --
    /// The runtime the goroutine belongs to; written by the spawner before
    /// publication.
    sched: AtomicPtr<Sched>,
    // -- owned by one party at a time (module docs) --
    /// The coroutine, touched only by the M that runs the G (never by the
    /// goroutine's own code, so the scheduler may hold it across `resume`).
    pub(crate) coro: UnsafeCell<Option<Coro>>,
    /// What dumps show, readable by any thread: written by the spawner
    /// under the seqlock's protocol (`dump.rs`), `locked` by the goroutine.
    pub(crate) meta: crate::dump::Meta,
    /// Goroutine-local storage, touched only by the goroutine itself.
    pub(crate) locals: UnsafeCell<Locals>,
    /// The owner-only fields (module docs: the spawner, then the M running
    /// the G and the goroutine on it, never two at once).
    pub(crate) inner: UnsafeCell<GInner>,
    /// The goroutine's ThreadSanitizer fiber (see [`crate::tsan`]).
    #[cfg(gort_tsan)]
    pub(crate) tsan_fiber: AtomicPtr<std::ffi::c_void>,
}

/// The owner-only part of a G (see the module docs): every field is read
/// and written only by the G's current owner, with no lock; ownership
/// passes through the run queues and park/ready.
pub(crate) struct GInner {
    // -- the task (spawner, then the goroutine and its M) --
    /// The goroutine's function, until it first runs.
    pub(crate) entry: Option<TaskRef>,
    /// The goroutine finished owning its task block (its handle was gone):
    /// the scheduler frees it with the G.
    pub(crate) free_entry: bool,
    /// A stack taken at spawn time (`try_spawn`), else `None`.
    pub(crate) stack: Option<GStack>,
    /// Requested stack size; 0 means the runtime's default.
    pub(crate) stack_size: usize,
    /// The handle the goroutine suspends through, at the bottom of its
    /// stack; set by the goroutine's first frame, null once it exited.
    pub(crate) yielder: *const GYielder,
    /// The name given by `Builder::name`, set by the spawner.
    pub(crate) name: Option<Arc<str>>,
    /// The guard page of the goroutine's stack (its lowest address), once
    /// it has one.
    pub(crate) guard: usize,
    /// The M this goroutine is locked to (Go: `lockedm`), and the nesting
    /// count of `lock_os_thread` calls.
    /// Written by the goroutine itself (`lock_os_thread`), cleared by its
    /// M when it exits.
    pub(crate) locked_m: Option<Arc<crate::m::M>>,
    pub(crate) lock_count: u32,
    /// The stack of the goroutine's latest panic, walked by the panic hook
    /// while the panicking frames were still there; taken when the panic
    /// is caught at the goroutine's root.
    /// (Boxed: one word in every G for a rare event.)
    pub(crate) panic_trace: Option<Box<crate::traceback::Pcs>>,
    /// The goroutine is suspended in a park whose site does not clean up
    /// after a forced unwind (the plain public [`crate::engine::park()`]): a
    /// dropped runtime leaves it parked rather than unwind it
    /// ([`crate::unwind`]). False at every other suspension point.
    pub(crate) park_unguarded: bool,
}

// SAFETY: G is shared between threads: its atomic fields are thread-safe,
// and `inner` is accessed only by the G's current owner, with ownership
// handed over through synchronising operations (module docs). The
// coroutine inside is !Send only because its stack may hold !Send values;
// gort's safety model (crate docs) makes keeping such values across a
// blocking call the user's promise.
unsafe impl Send for G {}
// SAFETY: a shared `&G` reaches only the atomic fields, which are
// thread-safe, and `inner`, which only the G's current owner may touch
// (module docs), whichever thread that owner runs on.
unsafe impl Sync for G {}

impl G {
    pub(crate) fn new(is_thread: bool) -> G {
        G {
            id: AtomicU64::new(0),
            status: AtomicU32::new(status::IDLE),
            durable: AtomicBool::new(false),
            bubble: AtomicPtr::new(std::ptr::null_mut()),
            bubble_id: AtomicU64::new(0),
            wait_reason: AtomicU8::new(0),
            wait_since: AtomicI64::new(0),
            is_thread,
            note: Note::new(),
            timed_wait: std::sync::atomic::AtomicBool::new(false),
            sched: AtomicPtr::new(std::ptr::null_mut()),
            coro: UnsafeCell::new(None),
            meta: crate::dump::Meta::new(),
            #[cfg(gort_tsan)]
            tsan_fiber: AtomicPtr::new(std::ptr::null_mut()),
            locals: UnsafeCell::new(Locals::default()),
            inner: UnsafeCell::new(GInner {
                entry: None,
                free_entry: false,
                stack: None,
                stack_size: 0,
                yielder: std::ptr::null(),
                name: None,
                guard: 0,
                locked_m: None,
                lock_count: 0,
                panic_trace: None,
                park_unguarded: false,
            }),
        }
    }

    /// The runtime of a goroutine.
    pub(crate) fn sched(&self) -> &Sched {
        // SAFETY: set at spawn to the Sched that runs the goroutine; a Sched
        // outlives its goroutines (it is leaked if any survive shutdown).
        unsafe { &*self.sched.load(Ordering::Relaxed) }
    }

    pub(crate) fn set_sched(&self, s: &Sched) {
        self.sched.store(s as *const Sched as *mut Sched, Ordering::Relaxed);
    }

    /// The goroutine id; 0 for a plain thread.
    pub(crate) fn id(&self) -> u64 {
        self.id.load(Ordering::Relaxed)
    }

    /// Whether this is a plain thread's stand-in rather than a goroutine.
    pub(crate) fn is_thread(&self) -> bool {
        self.is_thread
    }

    /// Records why the G is about to park, and when (to the coarse
    /// clock's few milliseconds: dumps show waits in minutes, and a precise
    /// clock read on every park is a measurable share of a channel hand-off).
    /// A plain thread may park while sysmon sleeps deeply (its clock then
    /// stale), so threads record the precise time instead.
    #[inline]
    pub(crate) fn set_wait_reason(&self, r: WaitReason) {
        self.wait_reason.store(r as u8, Ordering::Relaxed);
        let now = if self.is_thread { crate::sys::nanotime() } else { crate::sys::coarse_nanotime() };
        self.wait_since.store(now, Ordering::Relaxed);
    }

    /// The G runs again.
    #[inline]
    pub(crate) fn clear_wait_reason(&self) {
        self.wait_reason.store(WaitReason::Zero as u8, Ordering::Relaxed);
    }

    /// When the current wait began (nanotime).
    pub(crate) fn wait_since(&self) -> i64 {
        self.wait_since.load(Ordering::Relaxed)
    }

    /// Why the G is parked, if it is.
    pub(crate) fn wait_reason(&self) -> WaitReason {
        WaitReason::from_u8(self.wait_reason.load(Ordering::Relaxed))
    }

    /// Owner-only access to the inner fields.
    ///
    /// # Safety
    /// The caller must own the G (module docs) and must not let two
    /// references from this call overlap.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn inner(&self) -> &mut GInner {
        // SAFETY: guaranteed by the caller.
        unsafe { &mut *self.inner.get() }
    }
}

/// A reference to a goroutine (or a thread's stand-in) that a primitive
/// keeps in its wait queue. Go: the `g` pointer in a `sudog`.
///
/// A GRef is a raw pointer: it stays valid while its goroutine is parked,
/// and a goroutine cannot finish while it is parked, so a waker that took
/// the GRef out of a wait queue under the queue's lock may use it until it
/// has called [`crate::gopark::ready`] on it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct GRef(pub(crate) NonNull<G>);

// SAFETY: a GRef is only an address; what may be done through it is
// governed by the park/ready contract, which is thread-agnostic.
unsafe impl Send for GRef {}
// SAFETY: a GRef is a copyable address with no interior state: sharing
// `&GRef` only lets other threads copy the address, and every use of it goes
// through the park/ready contract.
unsafe impl Sync for GRef {}

impl GRef {
    pub(crate) fn from_ref(g: &G) -> GRef {
        GRef(NonNull::from(g))
    }

    /// The G behind the reference.
    ///
    /// # Safety
    /// The G must still be alive: it is the current goroutine, or it is
    /// parked and has not been readied since the caller took the GRef from
    /// a wait queue (see the type's docs).
    pub(crate) unsafe fn get(&self) -> &G {
        // SAFETY: guaranteed by the caller.
        unsafe { self.0.as_ref() }
    }

    /// The address of the G, opaque: a map key, or a word to keep the
    /// reference in an atomic ([`GRef::from_ptr`] turns it back).
    pub fn as_ptr(&self) -> *const () {
        self.0.as_ptr().cast_const().cast()
    }

    /// The reference whose [`GRef::as_ptr`] is `p`.
    ///
    /// # Safety
    /// `p` was returned by [`GRef::as_ptr`], and the goroutine is still
    /// one the caller may use by the park/ready contract (see the type's
    /// docs).
    pub unsafe fn from_ptr(p: *const ()) -> GRef {
        // SAFETY: as_ptr returned the non-null address of a G.
        GRef(unsafe { NonNull::new_unchecked(p.cast::<G>().cast_mut()) })
    }
}
