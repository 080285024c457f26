//! Model checks (loom) of the runtime's self-contained lock-free protocols,
//! compiling the real modules with loom's atomics:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test --release -p gort-runtime --test loom
//! ```
//!
//! - `pstatus`: the P ownership word; an owner entering the runtime and
//!   sysmon retaking the P never use it at the same time, each sees what
//!   the other wrote, and a release racing a retake is never lost. The
//!   asymmetric barrier pair is modelled as a SeqCst fence on each side.
//! - `taskstate`: a goroutine's task shared with its JoinHandle; exactly
//!   one side frees the block, and every read of the result or waiter slot
//!   happens-after its write, whether the handle is dropped or joins.
#![cfg(loom)]

#[allow(dead_code)]
#[path = "../src/membarrier.rs"]
mod membarrier;
#[allow(dead_code)]
#[path = "../src/pstatus.rs"]
mod pstatus;
#[allow(dead_code)]
#[path = "../src/taskstate.rs"]
mod taskstate;

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::thread;

use pstatus::{IDLE, PStatus, RUNNING, STATE_MASK, USER};
use taskstate::{Finished, TaskState};

#[test]
fn owner_and_sysmon_never_use_a_p_together() {
    loom::model(|| {
        let st = Arc::new(PStatus::new());
        // The owner M's `user` flag (written only by the owner).
        let user = Arc::new(AtomicBool::new(false));
        // What only the P's current owner may touch (its run queue, caches).
        let p_data = Arc::new(UnsafeCell::new(0u32));
        st.acquire(1, &user);
        // SAFETY: the owner holds the P (acquired above) and sysmon has not started; loom's cell
        // would report a racing access.
        p_data.with_mut(|d| unsafe { *d = 1 });
        PStatus::to_user(&user);

        let (st2, user2, data2) = (st.clone(), user.clone(), p_data.clone());
        let sysmon = thread::spawn(move || {
            let seen = st2.view(Some(&user2));
            if seen & STATE_MASK == USER && st2.try_retake(seen, &user2) {
                // The P is sysmon's now (it would hand it to another M).
                // SAFETY: try_retake succeeded: the P is sysmon's; the test asserts loom sees no
                // access racing this one.
                data2.with_mut(|d| unsafe {
                    assert!(*d >= 1, "sysmon must see the owner's writes");
                    *d = 100;
                });
                true
            } else {
                false
            }
        });

        // The owner M: two runtime calls from goroutine code.
        let mut entered = 0;
        for _ in 0..2 {
            if st.try_enter(1, &user) {
                // SAFETY: try_enter succeeded: the owner holds the P until to_user; loom checks no
                // sysmon access overlaps.
                p_data.with_mut(|d| unsafe { *d += 1 });
                PStatus::to_user(&user);
                entered += 1;
            } else {
                break; // lost the P: it must never come back to us
            }
        }
        let retaken = sysmon.join().unwrap();
        if retaken {
            assert!(!st.try_enter(1, &user), "a retaken P stays retaken");
        } else {
            assert_eq!(entered, 2);
            assert_eq!(st.get(), pstatus::word(1, RUNNING), "a retake that backed off restores the word");
        }
    });
}

/// The owner releases its P from runtime code while sysmon, having seen
/// it in goroutine code a moment earlier, tries to retake it: exactly one
/// of them has the P, never both, and the P ends idle.
#[test]
fn a_release_racing_a_retake_is_never_lost() {
    loom::model(|| {
        let st = Arc::new(PStatus::new());
        let user = Arc::new(AtomicBool::new(false));
        let p_data = Arc::new(UnsafeCell::new(0u32));
        st.acquire(1, &user);
        PStatus::to_user(&user);
        let seen = st.view(Some(&user));
        let (st2, user2, data2) = (st.clone(), user.clone(), p_data.clone());
        let sysmon = thread::spawn(move || {
            let retaken = st2.try_retake(seen, &user2);
            if retaken {
                // SAFETY: the retake succeeded: the P is sysmon's; loom checks no access overlaps.
                data2.with_mut(|d| unsafe { *d = 100 });
            }
            retaken
        });
        // The owner enters, uses the P, releases it, and runs goroutine
        // code elsewhere (its flag set again).
        let entered = st.try_enter(1, &user);
        if entered {
            // SAFETY: entered: the P is the owner's until it releases it.
            p_data.with_mut(|d| unsafe { *d += 1 });
            st.release();
            PStatus::to_user(&user);
        }
        let retaken = sysmon.join().unwrap();
        assert!(
            entered != retaken,
            "exactly one of the owner and sysmon has the P: entered {entered}, retaken {retaken}"
        );
        assert_eq!(st.get(), IDLE);
    });
}

/// A task block shared by the goroutine and its handle: the result slot,
/// the waiter slot, and a count of frees.
struct Block {
    state: TaskState,
    result: UnsafeCell<Option<u32>>,
    waiter: UnsafeCell<Option<u32>>,
    freed: AtomicUsize,
    woken: AtomicBool,
}

impl Block {
    fn new() -> Arc<Block> {
        Arc::new(Block {
            state: TaskState::new(),
            result: UnsafeCell::new(None),
            waiter: UnsafeCell::new(None),
            freed: AtomicUsize::new(0),
            woken: AtomicBool::new(false),
        })
    }

    /// The goroutine's side of `Task::run`.
    fn run(&self) {
        // SAFETY: the goroutine writes the result before finish() publishes it; the handle reads
        // it only after detach() sees that.
        self.result.with_mut(|r| unsafe { *r = Some(42) });
        match self.state.finish() {
            Finished::Owned => {
                // SAFETY: Owned: the handle is gone, so no one else touches the block.
                let r = self.result.with_mut(|r| unsafe { (*r).take() });
                assert_eq!(r, Some(42));
                self.freed.fetch_add(1, Ordering::SeqCst);
            }
            Finished::WakeJoiner => {
                // SAFETY: WakeJoiner: the joiner wrote its waiter before wait() and does not touch
                // it again until woken.
                let w = self.waiter.with_mut(|w| unsafe { (*w).take() });
                assert_eq!(w, Some(7), "the joiner's G must be visible");
                self.woken.store(true, Ordering::Release); // ready(w)
            }
            Finished::Handed => {}
        }
    }
}

#[test]
fn a_dropped_handle_and_the_goroutine_free_once() {
    loom::model(|| {
        let b = Block::new();
        let b2 = b.clone();
        let goroutine = thread::spawn(move || b2.run());
        // JoinHandle::drop
        if b.state.detach() {
            // SAFETY: detach() saw the goroutine finished, so its result write happened-before
            // (the property under test).
            let r = b.result.with_mut(|r| unsafe { (*r).take() });
            assert_eq!(r, Some(42));
            b.freed.fetch_add(1, Ordering::SeqCst);
        }
        goroutine.join().unwrap();
        assert_eq!(b.freed.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn a_joiner_gets_the_result_and_frees_once() {
    loom::model(|| {
        let b = Block::new();
        let b2 = b.clone();
        let goroutine = thread::spawn(move || b2.run());
        // JoinHandle::join
        if !b.state.is_done() {
            // The park callback: the joiner is parked while this runs.
            // SAFETY: the joiner writes its waiter before wait() publishes it; the goroutine reads
            // it only after seeing that.
            b.waiter.with_mut(|w| unsafe { *w = Some(7) });
            if b.state.wait() {
                // Parked until the goroutine readies us.
                while !b.woken.load(Ordering::Acquire) {
                    thread::yield_now();
                }
            }
        }
        assert!(b.state.detach(), "a joiner resumes only once the goroutine is done");
        // SAFETY: detach() after the goroutine finished: its result write happened-before this
        // read.
        let r = b.result.with_mut(|r| unsafe { (*r).take() });
        assert_eq!(r, Some(42));
        b.freed.fetch_add(1, Ordering::SeqCst);
        goroutine.join().unwrap();
        assert_eq!(b.freed.load(Ordering::SeqCst), 1);
    });
}
