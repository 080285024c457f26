//! [`CloseGuard`]: Go's `defer close(ch)` as a value that closes the
//! channel when dropped.
//!
//! Go: the `defer close(ch)` idiom of a producer (the spec's `close`; the
//! deferred call runs on every return path and during a panic).
//!
//! Dropping gort's channel handles never closes a channel (a channel has
//! many handles and no owner), so a producer ported line by line must
//! call `close` on every path out, and one early return through `?` that
//! skips it leaves the consumer's `for v in &ch` waiting for ever. A guard
//! does what `defer` did: [`Chan::close_on_drop`] (or
//! [`Sender::close_on_drop`]) gives a [`CloseGuard`] that sends like a
//! [`Sender`] and closes the channel when it goes out of scope, on a
//! normal return, an early return, or an unwinding panic.
//!
//! One difference from Go: if the channel is already closed when the
//! guard drops, nothing happens (Go's deferred `close` would panic with
//! "close of closed channel"; panicking in a destructor, possibly during
//! another panic, would abort the process instead of reporting it).

use std::fmt;
use std::mem::ManuallyDrop;
use std::ops::Deref;

use crate::channel::{Chan, Sender};

/// A [`Sender`] that closes its channel when dropped: Go's `defer
/// close(ch)`. Made by [`Chan::close_on_drop`] or
/// [`Sender::close_on_drop`]; dereferences to the [`Sender`].
///
/// ```
/// fn produce(tx: gort::CloseGuard<u32>, input: &str) -> Result<(), std::num::ParseIntError> {
///     for word in input.split(' ') {
///         tx.send(word.parse()?).unwrap(); // an early return still closes
///     }
///     Ok(())
/// }
///
/// let ch = gort::chan::<u32>(0);
/// let tx = ch.close_on_drop();
/// let producer = gort::go!(move || produce(tx, "1 2 x 4"));
/// let got: Vec<u32> = ch.iter().collect(); // ends: the guard closed the channel
/// assert_eq!(got, [1, 2]);
/// assert!(producer.join().unwrap().is_err());
/// ```
#[must_use = "the channel is closed when the guard drops; dropping it at once closes it now"]
pub struct CloseGuard<T> {
    tx: ManuallyDrop<Sender<T>>,
}

impl<T> CloseGuard<T> {
    /// A guard that closes `tx`'s channel when dropped.
    pub fn new(tx: Sender<T>) -> CloseGuard<T> {
        CloseGuard { tx: ManuallyDrop::new(tx) }
    }

    /// Gives the sender back without closing the channel (Go: a `defer`
    /// that never was).
    pub fn into_sender(self) -> Sender<T> {
        let mut me = ManuallyDrop::new(self);
        // SAFETY: `me` is never dropped, so its `tx` is taken exactly once,
        // here.
        unsafe { ManuallyDrop::take(&mut me.tx) }
    }
}

impl<T> Deref for CloseGuard<T> {
    type Target = Sender<T>;
    fn deref(&self) -> &Sender<T> {
        &self.tx
    }
}

impl<T> Drop for CloseGuard<T> {
    fn drop(&mut self) {
        self.tx.try_close();
        // SAFETY: dropped exactly once, here; `into_sender` skips this
        // destructor.
        unsafe { ManuallyDrop::drop(&mut self.tx) };
    }
}

impl<T> fmt::Debug for CloseGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CloseGuard").field(&*self.tx).finish()
    }
}

impl<T> Chan<T> {
    /// A sender of this channel that closes it when dropped: Go's `defer
    /// close(ch)`. See [`CloseGuard`].
    pub fn close_on_drop(&self) -> CloseGuard<T> {
        CloseGuard::new(self.sender())
    }
}

impl<T> Sender<T> {
    /// A clone of this sender that closes the channel when dropped: Go's
    /// `defer close(ch)`. See [`CloseGuard`].
    pub fn close_on_drop(&self) -> CloseGuard<T> {
        CloseGuard::new(self.clone())
    }
}
