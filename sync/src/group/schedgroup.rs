//! [`SchedGroup`]: tasks that run at a given time, each in its own
//! goroutine, driven by one runtime timer for the whole group.
//!
//! Go: github.com/mdlayher/schedgroup (`New`, `Delay`, `Schedule`,
//! `Wait`); Matt Layher's GopherCon EU 2020 talk.
//!
//! ## Why one timer
//!
//! A timer per task is fine for a few tasks; with very many pending tasks
//! that must also be cancellable, the course notes that per-task timers
//! cost a lot of CPU. A group keeps its tasks in its own min-heap ordered
//! by due time (ties in scheduling order) and arms a single runtime
//! [`TimerNode`] (on the runtime's per-P timer heaps, like `gort::sleep`)
//! for the earliest one. Cancelling the group's context drops every
//! pending task at once. BENCHMARKS.md measures 100,000 and 1,000,000
//! pending tasks against a timer per task.
//!
//! ## How it runs
//!
//! `new` starts a monitor goroutine. It pops every task that is due and
//! starts each in its own goroutine (so tasks may run at the same time),
//! arms the timer for the next due time (or disarms it), and parks until
//! the timer fires or a new task becomes the earliest. The timer's
//! callback, which runs on a scheduler thread and must not block, only
//! makes a non-blocking send on the monitor's one-slot wake-up channel,
//! and so does `schedule` when its task is the new earliest.
//!
//! [`wait`](SchedGroup::wait) checks the context first ("cancellation
//! takes priority"), then waits until every scheduled task has been
//! started, then stops the monitor and waits for the tasks to return. If
//! the context is done first, the pending tasks are dropped without
//! running, and `wait` returns the context's error once the tasks already
//! started have returned.
//!
//! ## Rules (they panic, with schedgroup's messages)
//!
//! - `delay`/`schedule` after `wait` was called: "schedgroup: attempted to
//!   schedule task after Group.Wait was called".
//! - A second `wait`: "schedgroup: multiple calls to Group.Wait".
//!
//! A due time in the past (or a zero delay) runs the task at once. If
//! every handle of a group is dropped without `wait`, the tasks already
//! scheduled still run (as with a Go group nobody waits for), and the
//! monitor exits after the last one starts.
//!
//! ## Timer lifetime
//!
//! The timer's callback reaches the wake-up channel through an address in
//! the group's shared allocation. That allocation stops the timer (which
//! waits out a running callback) before anything in it is dropped, so the
//! callback never sees freed memory.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gort_channels::{Chan, chan, select};
use gort_runtime::engine::TimerNode;
use gort_runtime::engine::now_nanos as nanotime;

use crate::context::{self, CancelFunc, Context};
use crate::{Mutex, WaitGroup};

/// A scheduled task: due at `when` (a `nanotime` instant), `seq` breaks
/// ties in scheduling order.
struct Task {
    when: i64,
    seq: u64,
    f: Box<dyn FnOnce() + Send>,
}

impl PartialEq for Task {
    fn eq(&self, other: &Task) -> bool {
        (self.when, self.seq) == (other.when, other.seq)
    }
}
impl Eq for Task {}
impl PartialOrd for Task {
    fn partial_cmp(&self, other: &Task) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Task {
    /// Reversed: `BinaryHeap` is a max-heap, the earliest task must be on
    /// top.
    fn cmp(&self, other: &Task) -> Ordering {
        (other.when, other.seq).cmp(&(self.when, self.seq))
    }
}

struct State {
    tasks: BinaryHeap<Task>,
    seq: u64,
    /// `wait` was called.
    waiting: bool,
    /// Every handle is gone: no task can be added any more.
    orphaned: bool,
}

struct Inner {
    /// Armed for the earliest task; its callback sends on `wake`.
    node: TimerNode,
    /// One slot: "look at the heap again" (a new earliest task, the timer).
    wake: Chan<()>,
    /// Closed by the monitor once the heap is empty while `wait` waits.
    drained: Chan<()>,
    state: Mutex<State>,
    /// The monitor and the running tasks.
    wg: WaitGroup,
    /// The caller's context.
    ctx: Context,
    /// The monitor's context (derived from `ctx`); `wait` cancels it.
    mctx: Context,
    mcancel: CancelFunc,
}

impl Inner {
    fn node(&self) -> Pin<&TimerNode> {
        // SAFETY: the node lives in the `Arc` allocation of `Inner` and is
        // never moved out of it.
        unsafe { Pin::new_unchecked(&self.node) }
    }

    /// Starts the due tasks; returns the next due time, if any. Closes
    /// `drained` when the heap is empty and `wait` waits.
    fn trigger(self: &Arc<Self>) -> (Option<i64>, bool) {
        let now = nanotime();
        let mut due = Vec::new();
        let (next, exit) = {
            let mut st = self.state.lock();
            while st.tasks.peek().is_some_and(|t| t.when <= now) {
                due.push(st.tasks.pop().expect("peeked"));
            }
            let next = st.tasks.peek().map(|t| t.when);
            if next.is_none() && st.waiting {
                self.drained.try_close();
            }
            (next, next.is_none() && st.orphaned)
        };
        for t in due {
            self.wg.add(1);
            let done = Done(self.clone());
            gort_runtime::spawn(move || {
                let _done = done;
                (t.f)();
            });
        }
        (next, exit)
    }

    /// The monitor goroutine (schedgroup's `monitor`).
    fn monitor(self: Arc<Self>) {
        let _done = Done(self.clone());
        loop {
            if self.mctx.err().is_some() {
                break;
            }
            let (next, exit) = self.trigger();
            if exit {
                break;
            }
            match next {
                Some(when) => {
                    self.node().reset(when, 0);
                }
                None => {
                    self.node.stop();
                }
            }
            select! {
                recv(self.mctx.done()) => break,
                recv(self.wake) => {},
            }
        }
        self.node.stop();
    }

    /// Adds a task; wakes the monitor if it is the new earliest.
    #[track_caller]
    fn push(&self, when: i64, f: Box<dyn FnOnce() + Send>) {
        let earliest = {
            let mut st = self.state.lock();
            if st.waiting {
                drop(st);
                panic!("schedgroup: attempted to schedule task after Group.Wait was called");
            }
            let seq = st.seq;
            st.seq += 1;
            let earliest = st.tasks.peek().is_none_or(|t| when < t.when);
            st.tasks.push(Task { when, seq, f });
            earliest
        };
        if earliest {
            let _ = self.wake.try_send(());
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Before the channels go: waits out a running callback (module
        // docs, Timer lifetime).
        self.node.stop();
    }
}

/// The timer fired: wake the monitor. Runs on a scheduler thread, so it
/// only makes a non-blocking send.
fn fire(arg: usize, _delay: i64) {
    // SAFETY: `arg` is the address of `Inner::wake`, set before the node
    // was first armed; `Inner` stops the node (waiting for this callback)
    // before dropping the channel.
    let wake = unsafe { &*(arg as *const Chan<()>) };
    let _ = wake.try_send(());
}

/// Marks a goroutine of the group (the monitor, a task) finished when
/// dropped, also on a panic.
struct Done(Arc<Inner>);

impl Drop for Done {
    fn drop(&mut self) {
        self.0.wg.done();
    }
}

/// Marks the group's handles gone when the last one drops.
struct Handle(Arc<Inner>);

impl Drop for Handle {
    fn drop(&mut self) {
        self.0.state.lock().orphaned = true;
        let _ = self.0.wake.try_send(());
    }
}

/// A group of tasks that each run at a given time in their own goroutine:
/// schedgroup's `Group`. See the [module docs](self). Cheap to clone;
/// every clone is the same group.
///
/// The course's example: three tasks 100, 200 and 300 ms out print 1, 2,
/// 3 (shorter here). Each due task starts in its own goroutine, so tasks
/// due close together may finish in any order on a busy machine: the
/// example checks that each ran once, no earlier than its time.
///
/// ```
/// use std::time::{Duration, Instant};
/// use gort_sync::context;
/// use gort_sync::group::SchedGroup;
///
/// let out = gort_channels::chan::<(u32, Duration)>(3);
/// let sg = SchedGroup::new(&context::background());
/// let start = Instant::now();
/// for n in [3u32, 1, 2] {
///     let tx = out.sender();
///     sg.delay(Duration::from_millis(10 * n as u64), move || tx.send((n, start.elapsed())).unwrap());
/// }
/// sg.wait().unwrap();
/// out.close();
/// let mut ran: Vec<_> = out.iter().collect();
/// ran.sort();
/// assert_eq!(ran.iter().map(|r| r.0).collect::<Vec<_>>(), [1, 2, 3]);
/// assert!(ran.iter().all(|&(n, at)| at >= Duration::from_millis(10 * n as u64)));
/// ```
#[derive(Clone)]
pub struct SchedGroup {
    h: Arc<Handle>,
}

impl SchedGroup {
    /// A group whose tasks stop being started once `ctx` is done; starts
    /// its monitor goroutine. Go: `schedgroup.New(ctx)`.
    #[track_caller]
    pub fn new(ctx: &Context) -> SchedGroup {
        let (mctx, mcancel) = context::with_cancel(ctx);
        let inner = Arc::new(Inner {
            node: TimerNode::new(fire, 0),
            wake: chan(1),
            drained: chan(0),
            state: Mutex::new(State { tasks: BinaryHeap::new(), seq: 0, waiting: false, orphaned: false }),
            wg: WaitGroup::new(),
            ctx: ctx.clone(),
            mctx,
            mcancel,
        });
        inner.node.set_arg(&inner.wake as *const Chan<()> as usize);
        inner.wg.add(1);
        let m = inner.clone();
        gort_runtime::spawn(move || m.monitor());
        SchedGroup { h: Arc::new(Handle(inner)) }
    }

    fn inner(&self) -> &Arc<Inner> {
        &self.h.0
    }

    /// Runs `f` in its own goroutine `d` from now (at once for a zero
    /// `d`). Go: `Delay`.
    ///
    /// # Panics
    /// "schedgroup: attempted to schedule task after Group.Wait was
    /// called".
    #[track_caller]
    pub fn delay(&self, d: Duration, f: impl FnOnce() + Send + 'static) {
        let when = nanotime().saturating_add(d.as_nanos().min(i64::MAX as u128) as i64);
        self.inner().push(when, Box::new(f));
    }

    /// Runs `f` in its own goroutine at `when` (at once if that has
    /// passed). Go: `Schedule`.
    ///
    /// # Panics
    /// "schedgroup: attempted to schedule task after Group.Wait was
    /// called".
    #[track_caller]
    pub fn schedule(&self, when: Instant, f: impl FnOnce() + Send + 'static) {
        // On the caller's clock (its synctest bubble's, in one).
        let now = gort_runtime::time::now();
        let at = nanotime()
            .saturating_add(when.saturating_duration_since(now).as_nanos().min(i64::MAX as u128) as i64);
        self.inner().push(at, Box::new(f));
    }

    /// Waits until every scheduled task has run (been started, and
    /// returned), or until the context is done: then the pending tasks
    /// are dropped, and once the started ones have returned, the
    /// context's error comes back. May be called once; no task may be
    /// scheduled after it. Go: `Wait`.
    ///
    /// # Panics
    /// "schedgroup: multiple calls to Group.Wait".
    #[track_caller]
    pub fn wait(&self) -> Result<(), context::Error> {
        let inner = self.inner();
        let empty = {
            let mut st = inner.state.lock();
            if st.waiting {
                drop(st);
                panic!("schedgroup: multiple calls to Group.Wait");
            }
            st.waiting = true;
            st.tasks.is_empty()
        };
        let mut result = inner.ctx.err().map_or(Ok(()), Err);
        if result.is_ok() && !empty {
            select! {
                recv(inner.ctx.done()) => {},
                recv(inner.drained) => {},
            }
            // Cancellation takes priority.
            result = inner.ctx.err().map_or(Ok(()), Err);
        }
        inner.mcancel.cancel();
        inner.wg.wait();
        // Drop what never ran (the context ended first), outside the lock:
        // a task's destructor may use the group.
        let never_ran = std::mem::take(&mut inner.state.lock().tasks);
        drop(never_ran);
        result
    }

    /// The number of tasks scheduled and not started yet.
    pub fn pending(&self) -> usize {
        self.inner().state.lock().tasks.len()
    }
}

// The misuse panics come before any change to the group, and tasks run in
// their own goroutines: a caught panic leaves the group consistent.
impl std::panic::UnwindSafe for SchedGroup {}
impl std::panic::RefUnwindSafe for SchedGroup {}

impl fmt::Debug for SchedGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SchedGroup")
            .field("pending", &self.pending())
            .field("running", &(self.inner().wg.count() - 1).max(0))
            .finish()
    }
}
