//! The poll descriptor's state word: its values and transitions as pure
//! functions, the table of the parent module's docs (and what a model of
//! the protocol checks against).
//!
//! Go: runtime/netpoll.go (`pdNil`, `pdReady`, `pdWait`, a G pointer).

/// Nothing (Go: `pdNil`).
pub(crate) const NIL: u32 = 0;
/// Readiness arrived, not consumed yet (Go: `pdReady`).
pub(crate) const READY: u32 = 1;
/// A waiter is about to park or register (Go: `pdWait`).
pub(crate) const WAIT: u32 = 2;
/// A goroutine is parked; the slot holds its G (Go: the G pointer).
pub(crate) const PARKED: u32 = 3;
/// An async poll registered a waker; the slot holds it.
pub(crate) const WAKER: u32 = 4;

/// A waiter's first step from state `old` (module docs' table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Begin {
    /// `NIL -> WAIT`: publish the wait.
    Publish,
    /// `READY -> NIL`: a notification is pending: consume it, do not wait.
    Consume,
    /// `WAKER -> WAIT`: take the slot over from a registered waker.
    Replace,
    /// `WAIT` or `PARKED`: another waiter in this direction, which the
    /// fdMutex excludes: a bug.
    DoubleWait,
}

/// The waiter's step from `old`; [`Begin::to`] is the state it moves to.
pub(crate) const fn begin(old: u32) -> Begin {
    match old {
        NIL => Begin::Publish,
        READY => Begin::Consume,
        WAKER => Begin::Replace,
        _ => Begin::DoubleWait,
    }
}

impl Begin {
    /// The state this step moves the word to (None: no move).
    pub(crate) const fn to(self) -> Option<u32> {
        match self {
            Begin::Publish | Begin::Replace => Some(WAIT),
            Begin::Consume => Some(NIL),
            Begin::DoubleWait => None,
        }
    }
}

/// The state an unblocker moves `old` to: `READY` on readiness (`ioready`),
/// `NIL` on close or a deadline; None to leave the word as it is (a
/// pending notification stays; with no waiter, close has nothing to do).
pub(crate) const fn unblock_to(old: u32, ioready: bool) -> Option<u32> {
    match old {
        READY => None,
        NIL if !ioready => None,
        _ => Some(if ioready { READY } else { NIL }),
    }
}

/// Whether the slot's content belongs to whoever moves the word out of
/// state `s`.
pub(crate) const fn holds_waiter(s: u32) -> bool {
    s == PARKED || s == WAKER
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The transition table of the module docs, as the pure functions
    /// give it.
    #[test]
    fn transitions_follow_the_table() {
        assert_eq!(begin(NIL).to(), Some(WAIT));
        assert_eq!(begin(READY).to(), Some(NIL));
        assert_eq!(begin(WAKER), Begin::Replace);
        assert_eq!(begin(WAKER).to(), Some(WAIT));
        assert_eq!(begin(WAIT).to(), None);
        assert_eq!(begin(PARKED).to(), None);
        for s in [WAIT, PARKED, WAKER] {
            assert_eq!(unblock_to(s, true), Some(READY));
            assert_eq!(unblock_to(s, false), Some(NIL));
        }
        assert_eq!(unblock_to(NIL, true), Some(READY));
        assert_eq!(unblock_to(NIL, false), None);
        assert_eq!(unblock_to(READY, true), None);
        assert_eq!(unblock_to(READY, false), None);
        assert!(holds_waiter(PARKED) && holds_waiter(WAKER));
        assert!(!holds_waiter(NIL) && !holds_waiter(READY) && !holds_waiter(WAIT));
    }
}
