//! Virtual time for testing goroutine programs: Go 1.25's
//! `testing/synctest`.
//!
//! Go: runtime/synctest.go, internal/synctest, testing/synctest.
//!
//! [`test()`] runs a closure in a new goroutine inside an isolated *bubble*.
//! Goroutines it starts, and the goroutines those start, belong to the
//! bubble too. A bubble has its own clock: [`crate::time::now`] and every
//! gort timer (`sleep`, `after`, `tick`, `Timer`, `Ticker`,
//! `recv_timeout`/`send_timeout`, semaphore and barrier timeouts, context
//! deadlines, `after_func`) run on it. The clock starts at the real time
//! and moves only when every goroutine of the bubble is *durably blocked*;
//! then it jumps straight to the next timer of the bubble and fires it. A
//! test of a 30-second timeout takes microseconds, and cannot flake: no
//! real time passes in it.
//!
//! ```
//! use std::time::Duration;
//! use gort_runtime::testing::synctest;
//! use gort_runtime::time;
//!
//! synctest::test(|| {
//!     let start = time::now();
//!     let h = gort_runtime::spawn(move || {
//!         gort_runtime::sleep(Duration::from_secs(1));
//!         time::since(start) // exactly 1 s
//!     });
//!     gort_runtime::sleep(Duration::from_secs(2));
//!     assert_eq!(h.join().unwrap(), Duration::from_secs(1));
//!     assert_eq!(time::since(start), Duration::from_secs(2));
//! });
//! ```
//!
//! ## Durably blocked
//!
//! A goroutine of a bubble is durably blocked when only another goroutine
//! of the same bubble can unblock it, as Go defines it:
//! - a send, receive or select on channels made inside the bubble (every
//!   case of the select; a nil channel or `select! {}` counts), including
//!   their timeouts (`recv_timeout`, `send_timeout`);
//! - `sleep`, and a wait on a timer channel made in the bubble;
//! - `Cond::wait`, `Barrier::wait`, `Semaphore::acquire` (with or without
//!   timeout), `WaitGroup::wait` when the group's `add` was called in the
//!   bubble, `JoinHandle::join` of a goroutine of the bubble;
//! - [`wait`].
//!
//! Anything else is not durable, and time stands still while a goroutine
//! of the bubble is in it: running, blocked on I/O or a `syscall`, on a
//! `Mutex` or `RwLock` (as in Go: a goroutine outside may hold it), on a
//! channel or `WaitGroup` from outside the bubble.
//!
//! When every goroutine of a bubble is durably blocked: a pending [`wait`]
//! returns; else the clock moves to the next timer, unless the main
//! goroutine has exited; else it is a deadlock and [`test()`] panics with
//! the dump of the bubble's goroutines (Go's words: `deadlock: all
//! goroutines in bubble are blocked`).
//!
//! ## Isolation
//!
//! Channels, timers (`Timer`, `Ticker`, `after_func`) and context
//! deadlines made in a bubble belong to it. Sending, receiving, selecting
//! on or closing a bubble's channel from outside it panics (`send on
//! synctest channel from outside bubble`), and so do `stop` and `reset`
//! of its timers. A `WaitGroup` becomes the bubble's on its first `add`
//! inside it; `add` from outside then panics. Waking a goroutine durably
//! blocked in a bubble from outside the bubble (a `Cond::signal`, a
//! semaphore release) is a fatal error, as in Go. Goroutines outside every
//! bubble see the real clock, and each bubble has its own: tests with
//! bubbles run in parallel without seeing each other.
//!
//! `std::time::Instant::now()` and `std::thread::sleep` are the operating
//! system's and know nothing of bubbles: use [`crate::time::now`],
//! [`crate::time::since`] and gort's `sleep` in code under test. The
//! wall clock of a bubble ([`crate::time::system_now`]) starts, as Go's,
//! at midnight UTC, 2000-01-01.
//!
//! ## How it works, and what it costs outside bubbles
//!
//! Each G has a bubble pointer, null outside bubbles. The scheduler tests
//! it where a goroutine is spawned, parks, is readied and exits: one
//! predictable branch on a G already in hand. A bubble counts its
//! goroutines that are not durably blocked; the park that brings the count
//! to zero wakes the caller of [`test()`], which owns the bubble's timer heap
//! and clock (see `bubble.rs` and `run.rs` for the protocol). Timers made
//! in a bubble live in that heap, never in a P's, so the scheduler's timer
//! checks and the poller's timeout are untouched. Code without a G in hand
//! (making a channel, arming a timer, reading the clock) first reads a
//! global count of live bubbles, so with no bubble alive it pays one
//! load of a line nobody writes.

pub(crate) mod bubble;
mod run;

pub use run::{sleep, test, wait};

pub(crate) use bubble::Bubble;

pub(crate) use bubble::{current_ptr, on_exit, on_ready, on_spawn, park};
