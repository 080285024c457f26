//! [`Select`]: a select over a list of cases built at run time, for
//! fan-in over N channels and the like. Go: `reflect.Select`.
//!
//! Cases are added with [`Select::recv`] and [`Select::send`], which return
//! the case's index. [`Select::select`] (or `try_select`, Go's default
//! case, or `select_timeout`) completes one ready case, chosen uniformly at
//! random when several are, exactly like [`select!`](crate::select!), and
//! returns a [`Selected`] that names the case and hands over its result.
//!
//! The result is typed through the channel: `selected.recv(&ch)` checks
//! that the chosen case is a receive on `ch` (the same channel, hence the
//! same element type) and returns the value. A `Select` may be reused:
//! receive cases stay armed; a send case whose value has gone (sent, or
//! returned because its channel was closed) is disabled, and
//! [`Select::disable`] disables any case (Go's idiom of setting a case's
//! channel to nil, e.g. once that channel is closed).
//!
//! ## Ownership
//!
//! Every value is dropped exactly once, and safety never depends on a
//! destructor running. A run settles ownership before it returns the
//! [`Selected`]: a sent value belongs to its channel (or receiver) and its
//! case is spent, so the case never offers it again; a received value
//! belongs to its case until [`Selected::recv`] takes it. Leaking the
//! `Selected` (`mem::forget`) therefore leaks nothing that matters: an
//! untaken received value is dropped by the next run or with the
//! `Select`, and a value handed back by a closed channel stays with its
//! case, which reports the closed channel again.

use std::time::{Duration, Instant};

use crate::channel::Receiver;

use crate::error::SendError;
use crate::hchan::Header;
use crate::ops::Wait;
use crate::select::{
    MAX_CASES, RecvCase, RecvSide, Scase, SendCase, SendSide, recv_case, selectgo, send_case,
};

/// A type-erased case of a [`Select`].
trait DynCase {
    fn scase(&mut self) -> Scase<'_>;
    fn hdr(&self) -> *const Header;
    fn is_send(&self) -> bool;
    /// Drops what the chosen case still holds, and disables a spent send.
    fn settle(&mut self);
    fn disable(&mut self);
}

impl<T> DynCase for RecvCase<'_, T> {
    fn scase(&mut self) -> Scase<'_> {
        RecvCase::scase(self)
    }
    fn hdr(&self) -> *const Header {
        self.header()
    }
    fn is_send(&self) -> bool {
        false
    }
    fn settle(&mut self) {
        drop(self.take());
    }
    fn disable(&mut self) {
        self.set_nil();
    }
}

impl<T> DynCase for SendCase<'_, T> {
    fn scase(&mut self) -> Scase<'_> {
        SendCase::scase(self)
    }
    fn hdr(&self) -> *const Header {
        self.header()
    }
    fn is_send(&self) -> bool {
        true
    }
    fn settle(&mut self) {
        self.discard();
    }
    fn disable(&mut self) {
        self.discard();
    }
}

/// A select over cases added at run time. Go: `reflect.Select`.
///
/// ```
/// let chans: Vec<_> = (0..4).map(|_| gort::chan::<usize>(1)).collect();
/// chans[2].send(42).unwrap();
/// let mut sel = gort::Select::new();
/// for c in &chans {
///     sel.recv(c);
/// }
/// let op = sel.select();
/// let i = op.index();
/// assert_eq!((i, op.recv(&chans[i])), (2, Some(42)));
/// ```
#[derive(Default)]
pub struct Select<'a> {
    cases: Vec<Box<dyn DynCase + 'a>>,
    /// Scratch space reused by every run: the erased cases (kept empty
    /// between runs) and the poll/lock orders.
    scases: Vec<Scase<'static>>,
    order: Vec<u32>,
}

impl<'a> Select<'a> {
    /// An empty select.
    pub fn new() -> Select<'a> {
        Select { cases: Vec::new(), scases: Vec::new(), order: Vec::new() }
    }

    fn push(&mut self, c: Box<dyn DynCase + 'a>) -> usize {
        assert!(self.cases.len() < MAX_CASES, "Select: too many cases (max 65536)");
        self.cases.push(c);
        self.cases.len() - 1
    }

    /// Adds a receive from `r` (a `None` channel never fires); returns the
    /// case's index.
    pub fn recv<R: RecvSide + ?Sized>(&mut self, r: &'a R) -> usize {
        self.push(Box::new(recv_case(r)))
    }

    /// Adds a send of `v` to `s`; returns the case's index. The case owns
    /// `v` until it is sent; an unsent value is dropped with the select
    /// (or when the case is disabled).
    pub fn send<S: SendSide + ?Sized>(&mut self, s: &'a S, v: S::Elem) -> usize {
        self.push(Box::new(send_case(s, v)))
    }

    /// Number of cases (disabled ones included).
    pub fn len(&self) -> usize {
        self.cases.len()
    }

    /// Whether there are no cases.
    pub fn is_empty(&self) -> bool {
        self.cases.is_empty()
    }

    /// Disables case `i`: it never fires again (Go: setting its channel to
    /// nil). An unsent value is dropped.
    pub fn disable(&mut self, i: usize) {
        self.cases[i].disable();
    }

    /// Runs the select, with one more receive case on `timeout` if given.
    fn run(&mut self, wait: Wait, timeout: Option<&Receiver<Instant>>) -> Option<Selected<'_, 'a>> {
        let n = self.cases.len();
        let mut timer = timeout.map(recv_case);
        let r = {
            let mut scases = relabel(std::mem::take(&mut self.scases));
            scases.extend(self.cases.iter_mut().map(|c| c.scase()));
            if let Some(t) = &mut timer {
                scases.push(t.scase());
            }
            self.order.resize(2 * scases.len(), 0);
            let r = selectgo(&mut scases, &mut self.order, wait);
            scases.clear(); // no pointer into the cases outlives the run
            self.scases = relabel(scases);
            r
        };
        // selectgo settled ownership in the chosen case object, not
        // `Selected`'s destructor, which safe code may skip (`mem::forget`):
        // a sent value belongs to the channel and its case is spent; a
        // received value belongs to its case.
        let (index, ok) = r?;
        if index == n {
            let _fired: Option<Instant> = timer.expect("the timer case").finish();
            return None;
        }
        Some(Selected { sel: self, index, ok, settled: false })
    }

    /// Blocks until one case completes. With no enabled case it blocks
    /// forever, as Go's `select {}`.
    pub fn select(&mut self) -> Selected<'_, 'a> {
        self.run(Wait::Forever, None).expect("a blocking select completes a case")
    }

    /// Completes a ready case if there is one (Go: a select with
    /// `default`).
    pub fn try_select(&mut self) -> Option<Selected<'_, 'a>> {
        self.run(Wait::No, None)
    }

    /// Waits at most `timeout` for a case to complete.
    pub fn select_timeout(&mut self, timeout: Duration) -> Option<Selected<'_, 'a>> {
        // Go's way: one more case, a receive from a timer channel.
        let timer = crate::time::after(timeout);
        self.run(Wait::Forever, Some(&timer))
    }
}

/// Reuses an empty scratch vector's allocation for cases of another
/// lifetime (an in-place collect: no element exists to convert).
fn relabel<'x, 'y>(v: Vec<Scase<'x>>) -> Vec<Scase<'y>> {
    debug_assert!(v.is_empty());
    v.into_iter().map(|_| unreachable!("the scratch is empty between runs")).collect()
}

/// The case a [`Select`] completed. Take its result with
/// [`recv`](Selected::recv) or [`sent`](Selected::sent); a result not
/// taken is dropped.
pub struct Selected<'s, 'a> {
    sel: &'s mut Select<'a>,
    index: usize,
    ok: bool,
    settled: bool,
}

impl Selected<'_, '_> {
    /// The index of the completed case.
    pub fn index(&self) -> usize {
        self.index
    }

    fn check(&self, hdr: *const Header, send: bool, what: &str) {
        let c = &self.sel.cases[self.index];
        assert!(
            c.is_send() == send && std::ptr::eq(c.hdr(), hdr),
            "Selected::{what}: case {} is not a {} on this channel",
            self.index,
            if send { "send" } else { "receive" },
        );
    }

    /// The chosen receive case's value (`None`: its channel is closed and
    /// drained).
    ///
    /// # Panics
    /// If the chosen case is not a receive on `r`'s channel.
    pub fn recv<R: RecvSide + ?Sized>(mut self, r: &R) -> Option<R::Elem> {
        let hdr = r.recv_hchan().map_or(std::ptr::null(), |c| &c.hdr as *const Header);
        self.check(hdr, false, "recv");
        self.settled = true;
        let case: *mut dyn DynCase = &mut *self.sel.cases[self.index];
        // SAFETY: the case is a receive on the very channel `r` names, and
        // a channel has one element type, so the case is a
        // RecvCase<R::Elem> (the only receive case type).
        let case = unsafe { &mut *case.cast::<RecvCase<'_, R::Elem>>() };
        case.take()
    }

    /// The chosen send case's outcome: `Err` with the value if its channel
    /// was closed.
    ///
    /// # Panics
    /// If the chosen case is not a send on `s`'s channel.
    pub fn sent<S: SendSide + ?Sized>(mut self, s: &S) -> Result<(), SendError<S::Elem>> {
        let hdr = s.send_hchan().map_or(std::ptr::null(), |c| &c.hdr as *const Header);
        self.check(hdr, true, "sent");
        self.settled = true;
        let case: *mut dyn DynCase = &mut *self.sel.cases[self.index];
        // SAFETY: as in `recv`: a send on this channel is a SendCase<S::Elem>.
        let case = unsafe { &mut *case.cast::<SendCase<'_, S::Elem>>() };
        let r = case.finish();
        case.set_nil();
        r
    }

    /// Whether the case moved a value (false: its channel was closed).
    pub fn is_ok(&self) -> bool {
        self.ok
    }
}

impl Drop for Selected<'_, '_> {
    fn drop(&mut self) {
        if !self.settled {
            self.sel.cases[self.index].settle();
        }
    }
}
