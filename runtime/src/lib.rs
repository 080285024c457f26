//! gort-runtime: stackful goroutines on an M:P:G scheduler.
//!
//! This crate is the foundation of [gort](https://docs.rs/gort): goroutines,
//! the scheduler that runs them, their stacks, the park/ready protocol every
//! blocking primitive is built on, timers and sysmon. Most programs use the
//! `gort` facade, which re-exports this crate's API next to channels, sync
//! and net.
//!
//! # Architecture (Go: runtime/proc.go, runtime/runtime2.go)
//!
//! - A **G** is a goroutine: a corosensei coroutine on its own guard-paged
//!   stack (`stack.rs`), an id, a status, a wait reason.
//! - An **M** is an OS thread. It runs goroutines only while it holds a P.
//! - A **P** is the right to run goroutines; there are `max_procs` of them,
//!   a number [`set_max_procs`] changes with the world stopped (the
//!   `procresize` module).
//!   Each has a local run queue, a `runnext` slot for the goroutine just
//!   readied, a timer heap and caches of stacks and Gs.
//! - An M looks for work in Go's order: `runnext`, the local queue, the
//!   global queue (first, every 61st time), the network poller, stealing
//!   from other Ps in random order, then it parks (or blocks in the poller
//!   until the next timer). Idle Ms use no CPU.
//! - **sysmon**, one thread per runtime, retakes the P of an M that stays
//!   away from the scheduler (blocked in the kernel, or computing for a
//!   whole time slice) and hands it to another M, and asks long-running
//!   goroutines to yield.
//! - Goroutine code enters the runtime (every channel operation, ready,
//!   park) without an atomic read-modify-write on its P, and the runtime's
//!   lock unlocks with a plain store while nobody sleeps on it: the rare
//!   side of each handshake (sysmon's retake, a thread going to sleep on a
//!   lock) pays with `membarrier(2)` instead (`membarrier`, `pstatus` and
//!   `lockword` module docs).
//!
//! # Blocking: park and ready
//!
//! Every blocking primitive (channels, sync, net, sleep) blocks through
//! [`park`](engine::park) and wakes through [`ready`](engine::ready);
//! `gopark.rs` documents the contract. The same calls block and wake a
//! plain OS thread when used outside a goroutine, so every gort primitive
//! works from any thread.
//!
//! # Safety model
//!
//! A goroutine migrates between OS threads at its park points: it may park
//! on one thread and resume on another. What follows from that:
//!
//! - [`spawn`] requires `F: Send + 'static`, like `std::thread::spawn`.
//! - Rust cannot check that a goroutine keeps no `!Send` value (an `Rc`, a
//!   `std::sync::MutexGuard`, a `RefCell` borrow of a `thread_local!`)
//!   across a blocking call. Doing so is the user's promise, exactly as for
//!   any stackful-coroutine runtime. Holding a std `MutexGuard` across a
//!   park is also a deadlock hazard; use `gort::sync::Mutex`.
//! - A `thread_local!` read before a channel receive and after it may come
//!   from two different threads. Use goroutine-local storage ([`local!`])
//!   instead; it follows the goroutine.
//! - LLVM may keep the address of a thread-local variable in a register
//!   across a call. The runtime's own per-thread state is therefore read
//!   only through `#[inline(never)]` accessors after each switch, and a
//!   release-mode test migrates goroutines between threads and checks the
//!   thread identity after every park.
//! - gort cannot interrupt a goroutine that loops without calling into the
//!   runtime (Go interrupts it with a signal; Rust code cannot be switched
//!   away from at an arbitrary instruction). sysmon sets a preemption flag
//!   after 10 ms that every runtime call checks ([`preempt_point`] checks it
//!   explicitly), and after that time slice it hands the looping M's P to
//!   another M, so the other goroutines keep running anyway.
//! - Every `unsafe` block in this crate states why it holds (`// SAFETY:`);
//!   the crate denies `unsafe_op_in_unsafe_fn` and
//!   `clippy::undocumented_unsafe_blocks`.
//!
//! # Stacks
//!
//! Stacks have a fixed size (default [`DEFAULT_STACK_SIZE`], virtual;
//! only touched pages cost memory; `GORT_STACK_SIZE=8M` changes the
//! default, `#[gort::main(stack_size = "8M")]` main's, `Builder::stack_size`
//! one goroutine's) and a guard page. Overflowing one prints
//! `goroutine N [name]: stack overflow` with the spawn site and aborts; it
//! never corrupts memory. Guards use `madvise(MADV_GUARD_INSTALL)` on Linux
//! 6.13 and later, which costs no kernel mapping; on older kernels they
//! fall back to `mprotect`, which costs one mapping per stack and caps live
//! goroutines near `vm.max_map_count / 2`.
//!
//! # Where Go's runtime is in gort
//!
//! Go's names on the left (files of Go's `src/runtime/` unless said
//! otherwise), the files of this crate (`runtime/src/`) that follow them
//! on the right. Each file's header says more, and `runtime/HACKING.md`
//! (stacks, errors, the lock order, atomics, adding a blocking primitive)
//! says how the pieces are meant to be changed.
//!
//! | Go | gort |
//! |---|---|
//! | `runtime2.go`: `g`, `m`, `p`, `schedt`, `waitReason` | `g.rs`, `m.rs`, `p.rs`, `sched.rs` (`Sched`) |
//! | `proc.go`: `mstart`, `schedule`, `execute`, `park_m`, `goexit0` | `proc.rs`: `mstart`, `schedule`, `execute`, `gdestroy` |
//! | `proc.go`: `findRunnable`, `stealWork`, `timeSleepUntil` | `findrunnable.rs`: `find_runnable`, `steal_work`, `timers_wake_time` (and `help_stalled`, which Go has not) |
//! | `proc.go`: `wakep`, `startm`, `stopm`, `handoffp`, `resetspinning`, `newm` | `sched.rs`: `wakep`, `startm`, `stopm`, `handoffp`, `reset_spinning`, `newm` |
//! | `proc.go`: `acquirep`, `releasep`, `pidleget`, `pidleput`, `injectglist`, `globrunqput` | `sched.rs`: `acquirep`, `releasep`, `pidleget`, `pidleput`, `inject_list`, `globrunqput` |
//! | `proc.go`: `runqput`, `runqget`, `runqsteal`, `gfget`, `gfput` | `p.rs`: the same names |
//! | `proc.go`: `newproc`, `newproc1` | `newproc.rs`: `spawn_on` ([`spawn`], [`Builder`]) |
//! | `proc.go`: `gopark`, `goparkunlock`, `goready`, `Gosched`, `goyield` | `gopark.rs`: [`park`](engine::park), [`park_unwind_safe`](engine::park_unwind_safe), [`LockGuard::leak`](engine::LockGuard::leak), [`ready`](engine::ready), [`yield_now`], `yield_local` |
//! | `proc.go`: `entersyscall`, `exitsyscall`, `exitsyscallNoP` | `proc.rs`: [`syscall`], `hold_p`, `no_p`; the P's word in `pstatus.rs` |
//! | `proc.go`: `sysmon`, `retake`, `preemptone` | `sysmon.rs`: `run`, `retake`, `preemptone` |
//! | `proc.go`: `checkdead` | `checkdead.rs` |
//! | `proc.go`: `procresize`, `stopTheWorldWithSema`, `startTheWorldWithSema`, `gcstopm`; `GOMAXPROCS` | `procresize.rs`: `procresize`, `stop_the_world`, `start_the_world`; [`set_max_procs`] in `proc.rs` |
//! | `proc.go`: `LockOSThread`, `stoplockedm`, `startlockedm` | [`lock_os_thread`] in `newproc.rs`; `proc.rs`: `stoplockedm`, `startlockedm` |
//! | `proc.go`: `schedinit`, `main` | `runtime.rs`: [`RuntimeBuilder::build`], [`run`] |
//! | `proc.go`: `schedtrace`; `runtime/metrics` | `debug.rs` |
//! | `netpoll.go`: `netpoll`, `netpollBreak`, `netpollAnyWaiters` | `poll.rs` (the [`Poller`](engine::Poller) trait); gort-netpoll's `poller.rs` (epoll) and `pd.rs` (`pollDesc`) implement it |
//! | `time.go`: `timer`, `timers.check`, `wakeTime`; `time.Sleep` | `timer.rs`: [`TimerNode`](engine::TimerNode), `Timers::check`, [`sleep`]; `wakeNetPoller` is `wake_net_poller` in `sched.rs`; channel timers are gort-channels' `time.rs` and `afterfunc.rs` |
//! | `sema.go`: `semacquire1`, `semrelease1`, `semaRoot`, `notifyList` | `sema.rs`: [`semacquire`](engine::semacquire), [`semrelease`](engine::semrelease), `SemaRoot`; `notify.rs`: [`NotifyList`](engine::NotifyList) |
//! | `chan.go`: `waitq`; `sema.go`: `waitlink`/`waittail`; the hand-written `sudog` lists | `waitlist.rs`: [`WaitList`](engine::WaitList), [`Detached`](engine::Detached) (the one wait list of every blocking primitive) |
//! | `lock_futex.go`: `lock2`, `unlock2`, `note` | `lock.rs` ([`RawLock`](engine::RawLock), [`Lock`](engine::Lock), [`Note`](engine::Note)), `lockword.rs`; `membarrier.rs` (no Go counterpart) |
//! | `stack.go`: `stackalloc`, `stackfree`, `stackcache`; `mgcscavenge.go` | `stack.rs`, `stack/trim.rs`, `scavenge.rs` |
//! | `mcache.go`, `mcentral.go` | `mcache.rs` (the blocks of goroutine tasks) |
//! | `traceback.go`, `allgs`, `allgadd`; `signal_unix.go`: the SIGQUIT dump | `dump.rs`, `dumpopts.rs`, `traceback/` |
//! | `panic.go`: `throw`, `fatal`; `fatalpanic` | `sys.rs` ([`fatal`](engine::fatal)); `panic.rs` (goroutine panics, [`PanicPolicy`]) |
//! | `signal_unix.go`: `sighandler` (stack overflow) | `stackguard.rs` |
//! | `os_linux.go`: `futexsleep`, `futexwakeup`; `nanotime`, `osyield`, `procyield` | `sys.rs`; `cheaprand` is in `proc.rs` |
//! | `race.go`, `valgrind.go` | `tsan.rs`, `valgrind.rs` |
//! | (none) | `taskstate.rs` ([`JoinHandle`]'s protocol), `local.rs` ([`local!`]), `unwind.rs` (dropping a runtime), `testing.rs` (Go's goleak), `engine.rs` (the API gort-channels, gort-sync and gort-netpoll use), `future.rs` and `future/` (Rust futures on goroutines: [`future::block_on`], [`future::spawn`], timer futures) |
//!
//! # Layers
//!
//! Bottom up; each layer builds on the ones below it. The scheduler core
//! also reaches up into diagnostics in a few places (a G's dump record,
//! `checkdead::request`, the traceback's switch record, `panic::contain`
//! and `fatal_thread_exhaustion`). [`fatal`](engine::fatal) itself is in `sys`, so the
//! leaves can end the process without depending on anything above them.
//!
//! ```text
//!  API         user API (lib.rs): spawn, Builder, JoinHandle, sleep,
//!              Runtime, set_max_procs, syscall, local!; debug, testing,
//!              time. engine (park/ready, locks, sema, timers, poller
//!              hook): what gort-channels, gort-sync and gort-netpoll use
//! ---------------------------------------------------------------------
//!  diagnostics checkdead (deadlock)   dump (SIGQUIT), dumpopts, traceback/
//!              debug (metrics, schedtrace)     testing (leak check)
//!              panic (Panic, policy)
//! ---------------------------------------------------------------------
//!  scheduler   runtime (Runtime, builder)   newproc   gopark   sema, notify
//!              waitlist
//!  core        proc (schedule, syscall)   findrunnable   sched (idle
//!              Ps and Ms)   sysmon   procresize   timer   poll (Poller)
//!              g, m, p   local   unwind   scavenge   stackguard
//! ---------------------------------------------------------------------
//!  leaves      sys (futex, clocks, madvise, fatal)   lockword -> lock
//!              membarrier   pstatus   stack, stack/trim   mcache
//!              taskstate   valgrind   tsan
//! ```

#![warn(missing_docs)]
// gdb's `info goroutines` and `goroutine N bt`, loaded by gdb from every
// binary that links this crate (see the script's header).
#![debugger_visualizer(gdb_script_file = "../gort-gdb.py")]

mod checkdead;
pub mod debug;
mod dump;
mod dumpopts;
#[doc(hidden)]
pub mod engine;
mod findrunnable;
pub mod future;
mod g;
mod gopark;
mod local;
mod lock;
mod lockword;
mod m;
mod mcache;
mod membarrier;
mod newproc;
mod notify;
mod p;
mod panic;
mod poll;
mod proc;
mod procresize;
mod pstatus;
mod runtime;
mod scavenge;
mod sched;
mod sema;
mod stack;
mod stackguard;
mod sys;
mod sysmon;
mod taskstate;
pub mod testing;
pub mod time;
mod timer;
mod traceback;
#[cfg(gort_tsan)]
mod tsan;
mod unwind;
mod valgrind;
mod waitlist;

// The synctest module is public as `testing::synctest` (testing.rs
// declares it); the runtime reaches it by its short path.
pub(crate) use testing::synctest;

pub use gopark::yield_now;
pub use local::LocalKey;
pub use newproc::{
    Builder, Goroutine, JoinHandle, current, lock_os_thread, num_goroutine, os_thread_lock_count, spawn,
    unlock_os_thread,
};
pub use panic::{Panic, PanicPolicy};
pub use proc::{max_procs, preempt_point, set_max_procs, syscall};
pub use runtime::{
    DEFAULT_STACK_SIZE, DEFAULT_THREAD_KEEP_ALIVE, IDLE_M_RESERVE, MAX_PROCS, Runtime, RuntimeBuilder,
    default_runtime, run,
};
pub use stack::StackError as SpawnError;
pub use timer::sleep;

/// The number of logical CPUs this process may run on: the CPUs of its
/// affinity mask, further limited by a cgroup CPU quota (std's
/// `available_parallelism`). Go: `runtime.NumCPU`. The default number of
/// Ps of a runtime.
pub fn num_cpu() -> usize {
    sys::cpu_count()
}
