//! `test`, `wait` and `sleep`: starting a bubble and driving its clock.
//!
//! Go: runtime/synctest.go (`synctestRun`, `synctestidle_c`,
//! `synctestWait`, `synctestwait_c`), testing/synctest (`Test`, `Wait`,
//! `Sleep`).
//!
//! ## The root's loop
//!
//! The caller of [`test()`] (the *root*: a goroutine or a plain thread) is
//! not a member of the bubble. It spawns the main goroutine into the
//! bubble, then loops:
//!
//! 1. fire the bubble's timers due at the fake `now`, one at a time,
//!    picking at random among those due at the same instant (Go
//!    re-randomises equal deadlines too), with itself tagged as in the
//!    bubble so that what the callbacks start or ready belongs to it;
//! 2. park until the bubble is idle (every member durably blocked or
//!    exited): the decrement that makes it idle readies the root (see
//!    `bubble.rs`). If it is idle already, a pending `wait` returns and
//!    the root parks, or the root goes on without parking;
//! 3. with no timer left, or once the main goroutine has exited (time
//!    stops then, as in Go), leave the loop; else move `now` to the next
//!    deadline and go back to 1.
//!
//! After the loop the bubble is idle for good: if members remain they are
//! blocked forever, a deadlock, reported as Go words it with the dump of
//! the bubble's goroutines. Otherwise the timers still armed in the bubble
//! are disarmed (they never fire, as in Go) and the main goroutine's
//! result is returned, or its panic continued.
//!
//! ## `wait`
//!
//! [`wait`] parks with a durable wait reason and records itself as the
//! bubble's waiter from its unlock callback. When the bubble goes idle and
//! no timer is due, the waiter is woken instead of the root, so time does
//! not move while a `wait` is pending.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::bubble::{self, Bubble, LIVE};
use crate::g::WaitReason;
use crate::panic::Panic;

/// Runs `f` in a new goroutine inside a new bubble and returns its result
/// once every goroutine of the bubble has exited (Go: `synctest.Test`).
///
/// Goroutines started inside the bubble, transitively, belong to it. Its
/// clock ([`crate::time::now`], and every gort timer: `sleep`, `after`,
/// `tick`, `Timer`, `Ticker`, timeouts, context deadlines, `after_func`)
/// starts at the real time and jumps forward only when every goroutine of
/// the bubble is durably blocked (see the [module docs](super)).
///
/// # Panics
/// - With `f`'s panic, if the main goroutine panicked.
/// - `deadlock: all goroutines in bubble are blocked`, followed by the
///   dump of the bubble's goroutines, if they are all durably blocked
///   with no timer to wake any of them.
/// - `deadlock: main bubble goroutine has exited but blocked goroutines
///   remain`, with the dump, if `f` returned while goroutines it started
///   are blocked (time stops when `f` returns).
/// - `synctest::test called from within a synctest bubble`.
///
/// ```
/// use std::time::Duration;
/// use gort_runtime::{sleep, testing::synctest, time};
///
/// synctest::test(|| {
///     let start = time::now();
///     sleep(Duration::from_secs(3600)); // returns at once
///     assert_eq!(time::since(start), Duration::from_secs(3600));
/// });
/// ```
#[track_caller]
pub fn test<F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    if bubble::is_in_bubble() {
        panic!("synctest::test called from within a synctest bubble");
    }
    let sched = crate::runtime::current_sched_arc();
    let b: Arc<Bubble> = Arc::new_cyclic(|w| Bubble::new(w.as_ptr(), sched));
    let bp: *const Bubble = Arc::as_ptr(&b);
    LIVE.fetch_add(1, Ordering::SeqCst);
    let root = crate::gopark::current_g();
    // SAFETY: the root is the running goroutine or this thread's stand-in.
    let rootg = unsafe { root.get() };
    // The main goroutine is spawned with the root tagged, so it inherits
    // the bubble, and is the bubble's first member.
    bubble::tag(rootg, bp);
    let site = std::panic::Location::caller();
    let main = crate::runtime::with_sched(|sched| {
        crate::newproc::spawn_on(sched, crate::newproc::Builder::new(), f, None, site)
    });
    bubble::tag(rootg, std::ptr::null());

    loop {
        bubble::tag(rootg, bp);
        b.timers.check_bubble(b.now_nanos());
        bubble::tag(rootg, std::ptr::null());
        crate::gopark::park(WaitReason::SynctestRun, |g| {
            let mut st = b.lock();
            st.active -= 1;
            st.root = Some(g);
            // Idle already (every member blocked or gone): the root itself
            // may be the one to wake (then it does not park), or a waiter.
            let w = b.maybe_wake(&mut st);
            drop(st);
            match w {
                Some(w) if w == g => false,
                Some(w) => {
                    // SAFETY: maybe_wake took the waiter out of the
                    // bubble's state under its lock: we are its one waker.
                    unsafe { crate::gopark::ready(w) };
                    true
                }
                None => true,
            }
        });
        let st = b.lock();
        let next = b.timers.wake_time();
        if next == 0 || st.main_done {
            break;
        }
        if next > b.now_nanos() {
            b.set_now(next);
        }
    }
    let (total, main_done) = {
        let st = b.lock();
        (st.total, st.main_done)
    };
    if total != 0 {
        // The members left are blocked for good, and keep pointers to the
        // bubble: it is never freed, nor counted out of LIVE.
        std::mem::forget(b.clone());
        if main.is_finished()
            && let Err(p) = main.join()
        {
            p.resume();
        }
        let reason = if main_done {
            "deadlock: main bubble goroutine has exited but blocked goroutines remain"
        } else {
            "deadlock: all goroutines in bubble are blocked"
        };
        panic!("{reason}\n\n{}", dump(&b));
    }
    b.timers.detach_all();
    LIVE.fetch_sub(1, Ordering::SeqCst);
    match main.join() {
        Ok(v) => v,
        Err(p) => Panic::resume(p),
    }
}

/// The dump of a bubble's goroutines, Go's format.
fn dump(b: &Bubble) -> String {
    let gs: Vec<_> = b.sched.goroutines().into_iter().filter(|g| g.synctest_bubble == b.id()).collect();
    crate::dumpopts::render(&gs, &crate::dumpopts::DumpOptions::new())
}

/// Blocks until every other goroutine of the caller's bubble is durably
/// blocked or has exited (Go: `synctest.Wait`). Time does not move while
/// it waits.
///
/// # Panics
/// `synctest::wait: goroutine is not in a bubble` outside a bubble, and
/// `synctest::wait: wait already in progress` if another goroutine of the
/// bubble is in `wait`.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use gort_runtime::testing::synctest;
///
/// synctest::test(|| {
///     let done = Arc::new(AtomicBool::new(false));
///     let d = done.clone();
///     gort_runtime::spawn(move || d.store(true, Ordering::Relaxed));
///     synctest::wait(); // the goroutine above has exited
///     assert!(done.load(Ordering::Relaxed));
/// });
/// ```
pub fn wait() {
    let bp = bubble::current_ptr();
    if bp.is_null() {
        panic!("synctest::wait: goroutine is not in a bubble");
    }
    // SAFETY: the caller's G holds a count of its bubble.
    let b = unsafe { &*bp };
    {
        let mut st = b.lock();
        if st.waiting {
            drop(st);
            panic!("synctest::wait: wait already in progress");
        }
        st.waiting = true;
    }
    // Durable: the park hook counts us out of `running`; once the callback
    // has recorded us and the hook found the bubble idle, we are woken.
    crate::gopark::park(WaitReason::SynctestWait, |g| {
        b.lock().waiter = Some(g);
        true
    });
    b.lock().waiting = false;
}

/// Sleeps for `d` on the bubble's clock, then [`wait`]s: what a test
/// usually wants after moving time, so that whatever `d` set off has
/// settled (Go: `synctest.Sleep`).
///
/// # Panics
/// As [`wait`], outside a bubble.
pub fn sleep(d: Duration) {
    if !bubble::is_in_bubble() {
        panic!("synctest::sleep: goroutine is not in a bubble");
    }
    crate::timer::sleep(d);
    wait();
}
