//! The channel handles users hold: [`Chan`] (Go's `chan T`), and its
//! directional views [`Sender`] (`chan<- T`) and [`Receiver`] (`<-chan T`).
//!
//! Go: runtime/chan.go for the semantics; the Go spec for directional
//! channel types.
//!
//! A handle is one reference-counted pointer to the channel: cloning it is
//! cheap, and any clone may send, receive or close, as with a Go channel
//! value. Dropping handles never closes the channel (Go has no such rule):
//! a channel is closed only by [`Chan::close`]. The channel is freed with
//! its last handle, dropping the values still buffered.
//!
//! Go's nil channel is `None`: select cases accept `Option<&Chan<T>>` (and
//! the other handles), and a `None` case never fires, which is how Go code
//! disables a case by setting its channel to nil. A goroutine that wants to
//! block forever, as on a nil channel, writes `select! {}`.

use std::fmt;
use std::time::{Duration, Instant};

use crate::chanref::ChanRef;
use crate::error::{RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError};
use crate::hchan::HChan;
use crate::ops::{RecvFail, SendFail, Wait};

/// Makes a channel of `T` with room for `cap` values: Go's
/// `make(chan T, cap)`. `cap == 0` is unbuffered: a send waits for a
/// receiver and hands its value over directly.
///
/// ```
/// let ch = gort::chan::<i32>(1);
/// ch.send(7).unwrap();
/// assert_eq!(ch.recv(), Some(7));
/// ```
///
/// # Panics
/// With Go's "makechan: size out of range" if `cap` values of `T` cannot
/// fit in memory.
#[track_caller]
pub fn chan<T>(cap: usize) -> Chan<T> {
    Chan { c: ChanRef::new(HChan::new(cap)) }
}

/// [`chan`] for a channel that belongs to no synctest bubble even when
/// made inside one: for a process-wide channel made lazily (a static),
/// which goroutines outside the bubble use too. Not part of the API.
#[doc(hidden)]
pub fn chan_outside_bubbles<T>(cap: usize) -> Chan<T> {
    Chan { c: ChanRef::new(HChan::new_in(cap, crate::hchan::Membership::Outside)) }
}

/// An unbuffered channel of no synctest bubble that the caller promises
/// never to send on nor close: waiting on its receiver is then durable in
/// any bubble, as a wait on Go's nil channel (a context that can never be
/// cancelled has such a done channel). Not part of the API.
#[doc(hidden)]
pub fn chan_never<T>() -> Receiver<T> {
    Receiver { c: ChanRef::new(HChan::new_in(0, crate::hchan::Membership::Never)) }
}

/// A channel: Go's `chan T`. Cheap to clone; every clone is the same
/// channel. See the [crate docs](crate) for the semantics.
pub struct Chan<T> {
    pub(crate) c: ChanRef<T>,
}

/// The send-only view of a channel: Go's `chan<- T`. Made from a [`Chan`]
/// with [`Chan::sender`] or `From`.
pub struct Sender<T> {
    pub(crate) c: ChanRef<T>,
}

/// The receive-only view of a channel: Go's `<-chan T`. Made from a
/// [`Chan`] with [`Chan::receiver`] or `From`; also what the timer
/// functions ([`after`](crate::after), [`tick`](crate::tick)) return.
pub struct Receiver<T> {
    pub(crate) c: ChanRef<T>,
}

/// A timeout's deadline on the caller's clock (its synctest bubble's, in
/// one).
fn deadline_after(d: Duration) -> i64 {
    gort_runtime::engine::when_after(d)
}

/// A deadline's instant on the caller's clock: `at` is an `Instant` of
/// [`gort_runtime::time::now`]'s clock.
fn deadline_at(at: Instant) -> i64 {
    gort_runtime::engine::when_at(at)
}

/// Methods of every handle.
macro_rules! common {
    ($ty:ident) => {
        impl<T> $ty<T> {
            /// Number of values buffered and not yet received (Go:
            /// `len(ch)`); 0 for a timer channel, which looks unbuffered.
            pub fn len(&self) -> usize {
                if self.c.hdr.is_timer() {
                    0
                } else {
                    self.c.hdr.qcount.load(std::sync::atomic::Ordering::Relaxed)
                }
            }

            /// Whether no value is buffered.
            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }

            /// The buffer's capacity (Go: `cap(ch)`); 0 for unbuffered and
            /// timer channels.
            pub fn cap(&self) -> usize {
                if self.c.hdr.is_timer() { 0 } else { self.c.hdr.dataqsiz }
            }

            /// Whether the channel has been closed. Buffered values may
            /// still be waiting to be received.
            pub fn is_closed(&self) -> bool {
                self.c.hdr.closed.load(std::sync::atomic::Ordering::Acquire)
            }

            /// Whether `self` and `other` are the same channel.
            pub fn same_channel<U: crate::channel::AsHChan<Elem = T>>(&self, other: &U) -> bool {
                std::ptr::eq(self.c.as_ptr(), other.hchan_arc())
            }
        }

        impl<T> Clone for $ty<T> {
            fn clone(&self) -> Self {
                $ty { c: self.c.clone() }
            }
        }

        impl<T> fmt::Debug for $ty<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("addr", &self.c.as_ptr())
                    .field("len", &self.len())
                    .field("cap", &self.cap())
                    .field("closed", &self.is_closed())
                    .finish()
            }
        }

        impl<T> PartialEq for $ty<T> {
            fn eq(&self, other: &Self) -> bool {
                ChanRef::ptr_eq(&self.c, &other.c)
            }
        }

        impl<T> Eq for $ty<T> {}

        // A channel's state stays consistent if a panic unwinds past an
        // operation (no operation panics while the lock is held or a value
        // is half moved), as for std's Mutex and channels.
        impl<T> std::panic::UnwindSafe for $ty<T> {}
        impl<T> std::panic::RefUnwindSafe for $ty<T> {}

        impl<T> AsHChan for $ty<T> {
            type Elem = T;
            fn hchan_arc(&self) -> *const HChan<T> {
                self.c.as_ptr()
            }
        }
    };
}

/// Sending and closing, for [`Chan`] and [`Sender`].
macro_rules! send_side {
    ($ty:ident) => {
        impl<T> $ty<T> {
            /// Sends `v`, waiting until a receiver takes it or there is
            /// buffer room (Go: `ch <- v`). A closed channel (even one
            /// closed while this send waits) gives `v` back in a
            /// [`SendError`], whose message is Go's "send on closed
            /// channel".
            #[inline]
            pub fn send(&self, v: T) -> Result<(), SendError<T>> {
                self.c.send(v, Wait::Forever).map_err(|(v, _)| SendError(v))
            }

            /// Sends `v` only if that needs no waiting (Go: a select with
            /// the send and a `default`).
            #[inline]
            pub fn try_send(&self, v: T) -> Result<(), TrySendError<T>> {
                self.c.send(v, Wait::No).map_err(|(v, why)| match why {
                    SendFail::Closed => TrySendError::Closed(v),
                    _ => TrySendError::Full(v),
                })
            }

            /// Sends `v`, waiting at most `timeout`.
            pub fn send_timeout(&self, v: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
                self.send_until(v, deadline_after(timeout))
            }

            /// Sends `v`, waiting until `deadline` at most.
            pub fn send_deadline(&self, v: T, deadline: Instant) -> Result<(), SendTimeoutError<T>> {
                self.send_until(v, deadline_at(deadline))
            }

            fn send_until(&self, v: T, when: i64) -> Result<(), SendTimeoutError<T>> {
                self.c.send(v, Wait::Until(when)).map_err(|(v, why)| match why {
                    SendFail::Closed => SendTimeoutError::Closed(v),
                    _ => SendTimeoutError::Timeout(v),
                })
            }

            /// Closes the channel (Go: `close(ch)`): receivers get the
            /// buffered values, then `None`; waiting senders get their
            /// values back in a [`SendError`]. Closing is a signal to
            /// receivers ("no more values"), so it is the sender's job.
            ///
            /// # Panics
            /// With Go's "close of closed channel" if the channel is
            /// already closed: that is a bug in the program's protocol.
            /// Use [`try_close`](Self::try_close) where several parties may
            /// close.
            #[track_caller]
            pub fn close(&self) {
                if !self.c.hdr.close() {
                    panic!("close of closed channel");
                }
            }

            /// Closes the channel unless it is already closed; returns
            /// whether this call closed it.
            pub fn try_close(&self) -> bool {
                self.c.hdr.close()
            }
        }
    };
}

/// Receiving, for [`Chan`] and [`Receiver`].
macro_rules! recv_side {
    ($ty:ident) => {
        impl<T> $ty<T> {
            /// Receives a value, waiting until one is sent (Go: `v, ok :=
            /// <-ch`). `None` means the channel is closed and drained.
            #[inline]
            pub fn recv(&self) -> Option<T> {
                self.c.recv(Wait::Forever).ok()
            }

            /// Receives a value only if that needs no waiting.
            #[inline]
            pub fn try_recv(&self) -> Result<T, TryRecvError> {
                self.c.recv(Wait::No).map_err(|why| match why {
                    RecvFail::Closed => TryRecvError::Closed,
                    _ => TryRecvError::Empty,
                })
            }

            /// Receives a value, waiting at most `timeout`.
            pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
                self.recv_until(deadline_after(timeout))
            }

            /// Receives a value, waiting until `deadline` at most.
            pub fn recv_deadline(&self, deadline: Instant) -> Result<T, RecvTimeoutError> {
                self.recv_until(deadline_at(deadline))
            }

            fn recv_until(&self, when: i64) -> Result<T, RecvTimeoutError> {
                self.c.recv(Wait::Until(when)).map_err(|why| match why {
                    RecvFail::Closed => RecvTimeoutError::Closed,
                    _ => RecvTimeoutError::Timeout,
                })
            }

            /// Iterates over received values until the channel is closed
            /// and drained (Go: `for v := range ch`).
            pub fn iter(&self) -> Iter<'_, T> {
                Iter { c: &self.c }
            }

            /// Iterates over the values receivable without waiting.
            pub fn try_iter(&self) -> TryIter<'_, T> {
                TryIter { c: &self.c }
            }
        }

        impl<'a, T> IntoIterator for &'a $ty<T> {
            type Item = T;
            type IntoIter = Iter<'a, T>;
            fn into_iter(self) -> Iter<'a, T> {
                self.iter()
            }
        }

        impl<T> IntoIterator for $ty<T> {
            type Item = T;
            type IntoIter = IntoIter<T>;
            fn into_iter(self) -> IntoIter<T> {
                IntoIter { c: self.c }
            }
        }
    };
}

common!(Chan);
common!(Sender);
common!(Receiver);
send_side!(Chan);
send_side!(Sender);
recv_side!(Chan);
recv_side!(Receiver);

impl<T> Chan<T> {
    /// A send-only view of this channel (Go: converting to `chan<- T`).
    pub fn sender(&self) -> Sender<T> {
        Sender { c: self.c.clone() }
    }

    /// A receive-only view of this channel (Go: converting to `<-chan T`).
    pub fn receiver(&self) -> Receiver<T> {
        Receiver { c: self.c.clone() }
    }

    /// Both views.
    pub fn split(self) -> (Sender<T>, Receiver<T>) {
        (Sender { c: self.c.clone() }, Receiver { c: self.c })
    }
}

impl<T> From<Chan<T>> for Sender<T> {
    fn from(c: Chan<T>) -> Sender<T> {
        Sender { c: c.c }
    }
}

impl<T> From<Chan<T>> for Receiver<T> {
    fn from(c: Chan<T>) -> Receiver<T> {
        Receiver { c: c.c }
    }
}

/// Any handle of a channel of `Elem` (used to compare channels).
pub trait AsHChan {
    /// The element type.
    type Elem;
    #[doc(hidden)]
    fn hchan_arc(&self) -> *const HChan<Self::Elem>;
}

/// Iterator over received values until close (Go: `range ch`).
pub struct Iter<'a, T> {
    c: &'a HChan<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.c.recv(Wait::Forever).ok()
    }
}

/// Owning iterator over received values until close.
pub struct IntoIter<T> {
    c: ChanRef<T>,
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.c.recv(Wait::Forever).ok()
    }
}

/// Iterator over the values receivable without waiting.
pub struct TryIter<'a, T> {
    c: &'a HChan<T>,
}

impl<T> Iterator for TryIter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.c.recv(Wait::No).ok()
    }
}
