//! The engine: what a blocking primitive needs from the runtime, and
//! nothing else. gort-channels, gort-sync and gort-netpoll import from
//! here; the `gort` facade re-exports this module's contents, next to the
//! user API, as `gort::runtime`.
//!
//! Go has no such boundary (its channels, `sync` and the netpoller live
//! in the runtime package and use its internals). gort keeps those
//! primitives in their own crates, and this module is the narrow API they
//! are allowed: everything else in the runtime crate is private or user
//! API (spawn, `Runtime`, sleep, syscall, `debug`, `testing`, `time`).
//! It is `#[doc(hidden)]` here because users reach it as `gort::runtime`.
//!
//! What it holds, by concern (`runtime/HACKING.md`, "Adding a blocking
//! primitive", says how the pieces fit together):
//!
//! - **park / ready** (`gopark.rs`, whose module docs state the
//!   contract): [`park`], [`park_unwind_safe`], [`park_timeout`],
//!   [`park_timeout_unwind_safe`], [`ready`], [`current_g`],
//!   [`in_goroutine`]; the goroutine reference [`GRef`] a wait queue
//!   keeps, and the [`WaitReason`] dumps show.
//! - **The runtime's lock** (`lock.rs`): [`RawLock`], [`Lock`] and its
//!   [`LockGuard`] (whose `leak` is Go's `goparkunlock`), and [`Note`],
//!   a one-shot thread sleep and wake-up.
//! - **Wait lists** (`waitlist.rs`): [`WaitList`], the intrusive FIFO
//!   every primitive queues its waiter records on (records implement
//!   [`Linked`] to embed their [`Links`]), and [`Detached`], the waiters
//!   taken off under the lock and readied ([`Parked`]) after the unlock;
//!   [`linked!`] implements `Linked` (and `Parked`) for a record.
//! - **Semaphores** (`sema.rs`, `notify.rs`): [`semacquire`],
//!   [`semrelease`], [`semnwait`], and `sync.Cond`'s [`NotifyList`].
//! - **Timers** (`timer.rs`, `time.rs`): [`TimerNode`] and its callback
//!   type [`TimerFn`]; deadlines in [`nanotime`] units, on the caller's
//!   clock (a synctest bubble's fake one inside a bubble): [`now_nanos`],
//!   [`now_nanos_in`], [`when_after`], [`when_at`], [`nanos`].
//! - **Spinning and P-local work** (`proc.rs`): [`can_spin`] and
//!   [`do_spin`] (a mutex's active spinning), [`with_proc`] (a section
//!   pinned to the caller's P, for per-P caches), [`cheaprandn`].
//! - **The poller hook** (`poll.rs`, `runtime.rs`): the [`Poller`] trait
//!   the scheduler calls, [`install_poller`], its [`PollerKey`], and the
//!   [`NetPollWaker`] it hands the poller (an I/O waiter added from
//!   outside the runtime makes an M poll).
//! - **synctest bubbles** (`synctest/`): [`Bubble`], [`current_bubble`],
//!   [`any_bubble_alive`] and [`is_in_bubble`], for primitives that
//!   remember the bubble they were made in (a durable wait, a fake clock).
//! - **Dropping a runtime** (`unwind.rs`): [`wait_for_waker`], for the
//!   unwind guard of a park site.
//! - **Errors**: [`fatal`], for a primitive whose state is found corrupt.
//!
//! A change here is a change of the contract between the runtime and the
//! primitive crates: keep it to what they need.

pub use crate::g::{GRef, WaitReason};
pub use crate::gopark::{
    current_g, in_goroutine, park, park_timeout, park_timeout_unwind_safe, park_unwind_safe, ready,
};
pub use crate::linked;
pub use crate::lock::{Lock, LockGuard, Note, RawLock};
pub use crate::poll::Poller;
pub use crate::proc::{can_spin, cheaprandn, do_spin, with_proc};
pub use crate::runtime::{NetPollWaker, PollerKey, install_poller};
pub use crate::sema::{NotifyList, semacquire, semnwait, semrelease};
pub use crate::synctest::bubble::{
    Bubble, any_alive as any_bubble_alive, current as current_bubble, is_in_bubble,
};
pub use crate::sys::{fatal, nanotime};
pub use crate::time::ns::{nanos, now_nanos, now_nanos_in, when_after, when_at};
pub use crate::timer::{TimerFn, TimerNode};
pub use crate::unwind::wait_for_waker;
pub use crate::waitlist::{Detached, Iter as WaitListIter, Linked, Links, Parked, WaitList};
