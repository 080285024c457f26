//! gort-channels: Go's channels and `select` for gort.
//!
//! - [`chan`]`::<T>(cap)` makes a channel (Go's `make(chan T, cap)`):
//!   `cap == 0` is unbuffered (a send waits for a receiver and hands the
//!   value over directly), `cap > 0` a FIFO buffer. [`Chan`] is the channel
//!   (Go's `chan T`), [`Sender`] and [`Receiver`] its directional views
//!   (`chan<- T`, `<-chan T`).
//! - `send`, `recv` (`None` once closed and drained), `try_send`,
//!   `try_recv`, `send_timeout`, `recv_timeout`, `close`, `len`, `cap`,
//!   `is_closed`, and `for v in &ch` (Go's `range`); `close_on_drop()`
//!   for Go's `defer close(ch)` ([`CloseGuard`]).
//! - [`select!`] waits on any mix of sends and receives on channels of
//!   different types, with `default` and timeouts
//!   (`recv(gort::after(d))`); [`Select`] does the same over a list of
//!   cases built at run time (Go's `reflect.Select`).
//! - Timer channels: [`after`], [`tick`], [`Timer`], [`Ticker`], with Go
//!   1.23 semantics (no stale values after `stop`/`reset`); [`after_func`]
//!   runs a function in a goroutine after a delay (Go's `time.AfterFunc`).
//!
//! ```
//! let ch = gort::chan::<i32>(0);
//! let tx = ch.clone();
//! let producer = gort::go!(move || {
//!     for i in 0..3 {
//!         tx.send(i).unwrap();
//!     }
//!     tx.close();
//! });
//! let got: Vec<i32> = ch.iter().collect();
//! assert_eq!(got, [0, 1, 2]);
//! producer.join().unwrap();
//! ```
//!
//! Everything works from goroutines and from plain OS threads alike (a
//! thread blocks where a goroutine parks), so a channel can connect the
//! two.
//!
//! ## Go's semantics, and where Rust changes the surface
//!
//! | Go | gort |
//! |---|---|
//! | `ch <- v` on a closed channel panics "send on closed channel" | `send` returns `Err(SendError(v))` (Display: Go's words); `.unwrap()` panics with them |
//! | a sender blocked when the channel closes panics | its `send` returns `Err(SendError(v))` with its value |
//! | `close` of a closed channel panics "close of closed channel" | `close` panics with that message; `try_close` returns false instead |
//! | `v, ok := <-ch` | `ch.recv()` is `Some(v)` or `None` (closed and drained) |
//! | nil channel: blocks forever, a disabled select case | a `None` case in `select!`/`Select`; `select! {}` blocks forever |
//! | `close(nil)` panics | impossible: there is no nil handle |
//! | values copied | values moved: each is dropped exactly once (by its receiver, by the sender that got it back, or with the channel if still buffered) |
//! | element of 64 KiB or more: "makechan: invalid channel element type" at run time | a compile-time error with that message (send a `Box`) |
//!
//! Dropping handles never closes a channel; it is freed (with any buffered
//! values) when its last handle goes. A [`CloseGuard`] (from
//! `ch.close_on_drop()`) is the exception, made for it: Go's `defer
//! close(ch)`.
//!
//! Implementation: Go's runtime/chan.go and runtime/select.go, on
//! gort-runtime's park/ready; see the modules' docs (`hchan`, `ops`,
//! `select`, `waitq`, `time`, `chanref`).

mod afterfunc;
mod channel;
mod chanref;
mod closer;
mod dynselect;
mod error;
mod hchan;
mod macros;
mod ops;
mod select;
mod time;
mod waitq;

pub use afterfunc::{FuncTimer, after_func};
pub use channel::{AsHChan, Chan, IntoIter, Iter, Receiver, Sender, TryIter, chan};
pub use closer::CloseGuard;
pub use dynselect::{Select, Selected};
pub use error::{RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError};
pub use select::{RecvSide, SendSide};
pub use time::{Ticker, Timer, after, tick};

/// Items the macros expand to; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::channel::{chan_never, chan_outside_bubbles};
    pub use crate::ops::Wait;
    pub use crate::select::{
        RecvCase, Scase, SendCase, block_forever, end_cases, recv_case, recv1, selectgo, send_case, send1,
    };
}
