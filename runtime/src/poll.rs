//! The poller interface: how the scheduler waits for I/O and timers.
//!
//! Go: runtime/netpoll.go (`netpoll`, `netpollBreak`, `netpollAnyWaiters`).
//!
//! The runtime does not depend on the network crate; it defines this
//! trait, and `gort-netpoll` implements it on epoll. A runtime built
//! without a network poller uses [`IdlePoller`], which only sleeps until the
//! next timer or a wake-up.
//!
//! Contract, as in Go's findRunnable:
//! - at most one M blocks in [`Poller::poll`] with a timeout at a time
//!   (the scheduler guarantees it: `lastpoll == 0` marks the blocked one);
//!   non-blocking polls (`Some(0)`, and [`Poller::poll_own`] by the Ps)
//!   may run concurrently with it and with each other;
//! - [`Poller::poll_own`] is a P's non-blocking poll before it steals: a
//!   poller may give each P its own share of the descriptors, so that a
//!   socket's goroutine keeps being readied on the same P (gort-netpoll
//!   does for both ends of an in-process loopback connection; its other
//!   sockets are shared, taken by whichever P polls first); `poll` covers
//!   every share;
//! - [`Poller::wake`] makes a blocked or the next `poll` return promptly;
//!   wake-ups may coalesce and may be spurious;
//! - `poll` hands back the parked Gs whose I/O is ready, instead of calling
//!   `ready` on them: the scheduler makes goroutines runnable (several at
//!   once, onto idle Ps) and wakes plain threads' stand-ins directly. Each
//!   G handed back counts as its one `ready`.

use std::time::Duration;

use crate::g::GRef;
use crate::lock::Note;

/// Blocks for I/O readiness. See the module docs for the contract.
pub trait Poller: Send + Sync + 'static {
    /// Waits up to `timeout_ns` (None: until woken; `Some(0)`: do not
    /// block), then pushes the goroutines whose I/O became ready onto
    /// `ready`.
    fn poll(&self, timeout_ns: Option<i64>, ready: &mut Vec<GRef>);
    /// Interrupts a blocked [`Poller::poll`] (Go: `netpollBreak`).
    fn wake(&self);
    /// Whether any goroutine waits for I/O (Go: `netpollAnyWaiters`). When
    /// false and no timer is armed, an idle M parks instead of polling.
    fn has_waiters(&self) -> bool;
    /// A non-blocking poll of P `p`'s share of the descriptors, `nprocs`
    /// being the number of Ps now (module docs). By default the whole
    /// poller's: `poll(Some(0), ready)`.
    fn poll_own(&self, p: usize, nprocs: usize, ready: &mut Vec<GRef>) {
        let _ = (p, nprocs);
        self.poll(Some(0), ready);
    }
}

/// The poller of a runtime with no network: sleeps until the deadline or a
/// wake-up.
#[derive(Default)]
pub(crate) struct IdlePoller {
    note: Note,
}

impl Poller for IdlePoller {
    fn poll(&self, timeout_ns: Option<i64>, _ready: &mut Vec<GRef>) {
        match timeout_ns {
            Some(0) => return,
            Some(ns) => {
                self.note.sleep_timeout(Duration::from_nanos(ns as u64));
            }
            None => self.note.sleep(),
        }
        // A wake-up that lands after this is not lost work: the M re-checks
        // every source of work before it sleeps again.
        self.note.clear();
    }

    fn wake(&self) {
        self.note.wakeup();
    }

    fn has_waiters(&self) -> bool {
        false
    }
}
