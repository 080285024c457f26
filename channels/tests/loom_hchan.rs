//! Model checks (loom) of a channel's lock-free fast path: the
//! non-blocking receive that fails without taking the lock (the `hchan.rs`
//! module docs; Go's `chanrecv` comments in runtime/chan.go).
//!
//! ```text
//! RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
//!     cargo test --release -p gort-channels --test loom_hchan
//! ```
//!
//! The channel is the real `hchan.rs` (and `waitq.rs`), compiled into this
//! test with loom's atomics and, for the runtime's lock, one made of loom's
//! mutex (its `loom_shim`): `close`, `send_locked`, `recv_locked`, `empty`
//! and `full` keep their own orderings. The fast path itself is inline in
//! `ops.rs` (`HChan::recv`), which needs the scheduler, so the model has a
//! copy; `the_model_mirrors_the_fast_paths` (it runs in every build, not
//! only under loom) checks that `ops.rs` still reads what the copy reads,
//! in the same order and with the same orderings.
//!
//! The fast path may report "empty" only if the channel was open and empty
//! at some instant during the call, and "closed" only if it was closed and
//! empty. Each model runs a history with no such instant and asserts the
//! fast path never reports it:
//!
//! - a buffered value, then close, then a receive that drains it: the
//!   channel is never open and empty. Reading `closed` before `empty()`
//!   (the order Go's comment warns against) reports "open and empty".
//! - a send, then close: the channel is never closed and empty. Reading
//!   `closed` with Relaxed instead of Acquire lets the second `empty()` miss
//!   the value, reporting "closed" with a value in the buffer.
//!
//! Each also asserts that the fast path's other answers (take the lock;
//! the one report the history allows) occurred in some execution, so that
//! loom is seen to explore the race.
//!
//! The non-blocking send's fast path (`!closed`, then `full()`) needs no
//! model: a closed channel never becomes full, so the two reads hold in
//! either order (Go's comment says so), and nothing is read through them:
//! there is no ordering to weaken. Unbuffered
//! channels read the wait queues' heads instead of `qcount`, with the same
//! Release/Acquire pairing; the queue is gort-runtime's `WaitList`
//! (`waitlist.rs`), built with std's atomics, so only the buffered case is
//! modelled.

/// The statements of `ops.rs`'s fast paths the model copies, in order
/// (whitespace is not significant).
const MIRRORED: &[test_support::Mirrored] = &[
    (
        "ops.rs",
        "pub(crate) fn recv(",
        &[
            "if wait == Wait::No && self.empty() {",
            "if !self.hdr.closed.load(Ordering::Acquire) { return Err(RecvFail::Empty); }",
            "if self.empty() { return Err(RecvFail::Closed); }",
        ],
    ),
    (
        "ops.rs",
        "pub(crate) fn send(",
        &["if wait == Wait::No && !self.hdr.closed.load(Ordering::Acquire) && self.full() {"],
    ),
];

#[test]
fn the_model_mirrors_the_fast_paths() {
    test_support::check_mirror(env!("CARGO_MANIFEST_DIR"), "channels/tests/loom_hchan.rs", MIRRORED);
}

#[cfg(loom)]
#[allow(dead_code)]
#[path = "../src/hchan.rs"]
mod hchan;
#[cfg(loom)]
#[allow(dead_code)]
#[path = "../src/waitq.rs"]
mod waitq;

/// What `hchan.rs` needs of `time.rs`: a timer channel's timer, which the
/// model's channels never have.
#[cfg(loom)]
mod time {
    pub(crate) struct ChanTimer {
        pub(crate) node: gort_runtime::engine::TimerNode,
    }
}

#[cfg(loom)]
mod model {
    use std::collections::BTreeSet;
    use std::sync::atomic::Ordering;

    use loom::sync::Arc;
    use loom::thread;

    use crate::hchan::{Attempt, HChan, Membership};

    /// How the model's copy of the fast path reads; `REAL` is `ops.rs`.
    #[derive(Clone, Copy)]
    struct FastPath {
        /// The ordering of the `closed` load.
        closed_order: Ordering,
        /// Read `closed` before `empty()` (the order Go warns against).
        closed_first: bool,
    }

    const REAL: FastPath = FastPath { closed_order: Ordering::Acquire, closed_first: false };

    #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
    enum Fail {
        Empty,
        Closed,
    }

    /// The lock-free fail of a non-blocking receive, copied from `ops.rs`
    /// (`HChan::recv` with `Wait::No`); None: take the lock.
    fn fast_path(c: &HChan<u32>, f: FastPath) -> Option<Fail> {
        let closed = || c.hdr.closed.load(f.closed_order);
        if f.closed_first {
            let open = !closed();
            if c.empty() {
                if open {
                    return Some(Fail::Empty);
                }
                if c.empty() {
                    return Some(Fail::Closed);
                }
            }
        } else if c.empty() {
            if !closed() {
                return Some(Fail::Empty);
            }
            if c.empty() {
                return Some(Fail::Closed);
            }
        }
        None
    }

    fn recv_locked(c: &HChan<u32>) -> Result<u32, Fail> {
        let mut v = 0u32;
        c.hdr.lock.lock();
        // SAFETY: we hold the lock; v is writable.
        let r = unsafe { c.recv_locked(&mut v) };
        // SAFETY: we hold the lock.
        unsafe { c.hdr.lock.unlock() };
        match r {
            Attempt::Done(None) => Ok(v),
            Attempt::Done(Some(_)) => unreachable!("nobody parks in this model"),
            Attempt::Closed => Err(Fail::Closed),
            Attempt::Block => Err(Fail::Empty),
        }
    }

    /// A non-blocking receive: the fast path's verdict (None: it took
    /// the lock), and the result.
    fn try_recv(c: &HChan<u32>, f: FastPath) -> (Option<Fail>, Result<u32, Fail>) {
        match fast_path(c, f) {
            Some(fail) => (Some(fail), Err(fail)),
            None => (None, recv_locked(c)),
        }
    }

    fn send(c: &HChan<u32>, mut v: u32) {
        c.hdr.lock.lock();
        // SAFETY: we hold the lock; v is a valid u32 (Copy: moving it out
        // leaves nothing to drop).
        let r = unsafe { c.send_locked(&mut v) };
        // SAFETY: we hold the lock.
        unsafe { c.hdr.lock.unlock() };
        assert!(matches!(r, Attempt::Done(None)), "the buffer has room");
    }

    /// What the fast path answered over all executions of a model.
    type Verdicts = std::sync::Arc<std::sync::Mutex<BTreeSet<Option<Fail>>>>;

    /// A buffered value; then close; then a receive drains it. At no
    /// instant is the channel open and empty, so a non-blocking receive
    /// racing this must get the value or see it closed.
    ///
    /// The receiver runs on a thread of its own, not on the model's main
    /// thread: there loom never ran the closer before the receiver's first
    /// load (it keeps only the last access to each atomic, and close's own
    /// load of `closed` hides the receiver's from the race detection;
    /// tokio-rs/loom#392). The verdicts seen show that every path of the
    /// fast path was explored.
    fn closed_then_drained(f: FastPath) -> BTreeSet<Option<Fail>> {
        let verdicts = Verdicts::default();
        let v2 = verdicts.clone();
        loom::model(move || {
            let c = Arc::new(HChan::<u32>::new_in(1, Membership::Outside));
            send(&c, 7);
            let c2 = c.clone();
            let closer = thread::spawn(move || {
                assert!(c2.hdr.close());
                recv_locked(&c2)
            });
            let c3 = c.clone();
            let receiver = thread::spawn(move || try_recv(&c3, f));
            let drained = closer.join().unwrap();
            let (verdict, got) = receiver.join().unwrap();
            v2.lock().unwrap().insert(verdict);
            assert_ne!(got, Err(Fail::Empty), "reported open and empty: the channel never was");
            match got {
                Ok(v) => assert_eq!((v, drained), (7, Err(Fail::Closed))),
                Err(_) => assert_eq!(drained, Ok(7)),
            }
        });
        std::mem::take(&mut *verdicts.lock().unwrap())
    }

    /// A send, then close. At no instant is the channel closed and empty,
    /// so a non-blocking receive racing this must never report closed.
    fn sent_then_closed(f: FastPath) -> BTreeSet<Option<Fail>> {
        let verdicts = Verdicts::default();
        let v2 = verdicts.clone();
        loom::model(move || {
            let c = Arc::new(HChan::<u32>::new_in(1, Membership::Outside));
            let c2 = c.clone();
            let sender = thread::spawn(move || {
                send(&c2, 7);
                assert!(c2.hdr.close());
            });
            let c3 = c.clone();
            let receiver = thread::spawn(move || try_recv(&c3, f));
            sender.join().unwrap();
            let (verdict, got) = receiver.join().unwrap();
            v2.lock().unwrap().insert(verdict);
            assert_ne!(
                got,
                Err(Fail::Closed),
                "reported closed and empty: the value sent before the close was missed"
            );
            if got == Err(Fail::Empty) {
                assert_eq!(recv_locked(&c), Ok(7), "the value is still buffered");
            }
        });
        std::mem::take(&mut *verdicts.lock().unwrap())
    }

    #[test]
    fn a_nonblocking_recv_never_sees_a_drained_channel_open() {
        let seen = closed_then_drained(REAL);
        assert_eq!(seen, BTreeSet::from([None, Some(Fail::Closed)]), "the fast path's outcomes explored");
    }

    #[test]
    #[should_panic(expected = "reported open and empty")]
    fn reading_closed_before_empty_is_caught() {
        closed_then_drained(FastPath { closed_first: true, ..REAL });
    }

    #[test]
    fn a_nonblocking_recv_never_misses_a_value_sent_before_close() {
        let seen = sent_then_closed(REAL);
        assert_eq!(seen, BTreeSet::from([None, Some(Fail::Empty)]), "the fast path's outcomes explored");
    }

    #[test]
    #[should_panic(expected = "reported closed and empty")]
    fn a_relaxed_closed_load_is_caught() {
        sent_then_closed(FastPath { closed_order: Ordering::Relaxed, ..REAL });
    }
}
