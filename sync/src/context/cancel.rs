//! The cancellation tree: cancellable contexts, their children, and the
//! cancel operation. Go: context/context.go (`cancelCtx`, `cancel`,
//! `propagateCancel`, `parentCancelCtx`, `removeChild`, `WithCancel`,
//! `WithCancelCause`).
//!
//! ## State and invariants
//!
//! A [`CancelCtx`] has a goroutine mutex `mu` (Go's `sync.Mutex`; a
//! canceller may park while holding it, e.g. when readying a waiter needs
//! the runtime) guarding `st`: the children and the link to the parent.
//!
//! - `err` is 0 until the first `cancel`, which sets it once, under `mu`,
//!   after writing `cause`, and before closing the done channel. `cause`
//!   is written only then, so a reader that loaded a non-zero `err`
//!   (Acquire, pairing with the Release store) may read it without `mu`.
//! - `children` are the registered cancellable children (each one's
//!   `slot` is its index, guarded by *this* context's `mu`); emptied for
//!   good by `cancel`. A child is registered only while `err` is 0, under
//!   `mu`, so no child is ever missed.
//! - `link` says where the context is registered (its nearest cancellable
//!   ancestor, or a custom parent's stop function), for removal.
//! - Lock order: an ancestor's `mu` before a descendant's. `cancel` holds
//!   the locks of the path from where it started down to the context it
//!   is cancelling (Go's recursion under the parent's lock, done with an
//!   explicit stack); removal from the parent takes the parent's lock only
//!   after releasing the child's. So no two lock holders wait on each other.
//! - Nothing that may start or ready a goroutine, or stop a timer, runs
//!   under a context lock except closing done channels: timers are stopped
//!   and after-functions started once every lock is released.

use std::cell::UnsafeCell;
use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use gort_channels::{Receiver, Sender, chan};
use gort_runtime::engine::{TimerNode, WaitReason};

use super::afterfunc::AfterFuncExt;
use super::deadline::TimerExt;
use super::{Cause, Context, Error, Node, Source, closed_done};
use crate::mutex::RawMutex;

/// A cancellable context. Go: `cancelCtx`, extended by `timerCtx` and
/// `afterFuncCtx` through `ext`.
pub(crate) struct CancelCtx {
    parent: Context,
    mu: RawMutex,
    st: UnsafeCell<State>,
    /// The error code ([`Error::code`]), 0 while not cancelled.
    err: AtomicU8,
    /// Written once, before `err` is set (module docs).
    cause: UnsafeCell<Option<Cause>>,
    done: OnceLock<Done>,
    /// Index in the registering ancestor's `children`, under its `mu`.
    slot: AtomicUsize,
    /// The id of the synctest bubble the context was made in, 0 for none.
    pub(crate) bubble: u64,
    pub(crate) ext: Ext,
}

// SAFETY: `st` is accessed only under `mu`; `cause` is written once under
// `mu` before `err` is published and only read after `err` is seen set
// (module docs). Everything else is atomic or immutable.
unsafe impl Sync for CancelCtx {}
// SAFETY: no field is tied to a thread: the mutex, the cells (accessed as
// argued for Sync), the atomics, the parent Context and the OnceLock may all
// move to another thread.
unsafe impl Send for CancelCtx {}

struct State {
    children: Vec<Arc<Node>>,
    link: Link,
}

/// Where a context is registered for cancellation by its parent.
pub(crate) enum Link {
    /// Nowhere: the parent can never be cancelled, was already, or a
    /// goroutine watches it.
    None,
    /// In the `children` of the parent itself (the common case, which
    /// needs no second reference to it).
    DirectParent,
    /// In the `children` of this cancellable ancestor (behind value or
    /// wrapper layers).
    Ancestor(Arc<Node>),
    /// With a custom parent's `after_func`; this is its stop function.
    Stop(Box<dyn FnOnce() -> bool + Send>),
}

/// The done channel, made on first use.
enum Done {
    Open(Sender<()>, Receiver<()>),
    /// Cancelled before anyone asked: the shared closed channel.
    Closed,
}

/// What kind of cancellable context this is.
pub(crate) enum Ext {
    /// Go: `cancelCtx`.
    None,
    /// Go: `timerCtx`. Boxed (and pinned, for its timer node): most
    /// contexts have no deadline and stay small.
    Timer(Pin<Box<TimerExt>>),
    /// Go: `afterFuncCtx`.
    AfterFunc(AfterFuncExt),
}

/// Work left for when every lock is released (module docs).
#[derive(Default)]
struct Deferred {
    timers: Vec<Arc<Node>>,
    funcs: Vec<Box<dyn FnOnce() + Send>>,
}

impl Deferred {
    fn run(self) {
        for n in self.timers {
            if let Ext::Timer(t) = &n.cancel_ctx().ext {
                t.stop(&n);
            }
        }
        for f in self.funcs {
            gort_runtime::spawn(f);
        }
    }
}

impl CancelCtx {
    pub(crate) fn new(parent: &Context, ext: Ext) -> CancelCtx {
        CancelCtx {
            parent: parent.clone(),
            mu: RawMutex::new(),
            st: UnsafeCell::new(State { children: Vec::new(), link: Link::None }),
            err: AtomicU8::new(0),
            cause: UnsafeCell::new(None),
            done: OnceLock::new(),
            slot: AtomicUsize::new(0),
            bubble: gort_runtime::engine::current_bubble().map_or(0, |b| b.id()),
            ext,
        }
    }

    pub(crate) fn parent(&self) -> &Context {
        &self.parent
    }

    pub(crate) fn parent_mut(&mut self) -> &mut Context {
        &mut self.parent
    }

    /// Drops the registration link (the node is being dropped).
    pub(crate) fn clear_link(&mut self) {
        self.st.get_mut().link = Link::None;
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        match &self.ext {
            Ext::Timer(t) => Some(t.deadline),
            _ => None,
        }
    }

    /// Go: `cancelCtx.Done`.
    #[inline]
    pub(crate) fn done(&self) -> &Receiver<()> {
        match self.done.get_or_init(|| {
            let (tx, rx) = chan::<()>(0).split();
            Done::Open(tx, rx)
        }) {
            Done::Open(_, rx) => rx,
            Done::Closed => closed_done(),
        }
    }

    /// Go: `cancelCtx.Err`. A reader that sees the error waits for the done
    /// channel to be closed (by the canceller, which holds `mu` from setting
    /// the error until closing), so that `err().is_some()` implies a closed
    /// `done()` (Go issue 75533).
    #[inline]
    pub(crate) fn err(&self) -> Option<Error> {
        let e = Error::from_code(self.err.load(Ordering::Acquire))?;
        let d = self.done();
        if !d.is_closed() {
            d.recv();
        }
        Some(e)
    }

    /// The cause, if cancelled (the error itself when none was given).
    pub(crate) fn cause(&self) -> Option<Cause> {
        let e = Error::from_code(self.err.load(Ordering::Acquire))?;
        // SAFETY: written before `err` was published, never again (module
        // docs); our Acquire load saw `err` set.
        let c = unsafe { (*self.cause.get()).clone() };
        Some(c.unwrap_or_else(|| Cause::of(e)))
    }

    pub(crate) fn is_canceled(&self) -> bool {
        self.err.load(Ordering::Acquire) != 0
    }

    fn lock(&self) {
        self.mu.lock(WaitReason::SyncMutexLock);
    }

    /// # Safety
    /// `mu` is held by the caller.
    unsafe fn unlock(&self) {
        // SAFETY: guaranteed by the caller.
        unsafe { self.mu.unlock() }
    }

    /// # Safety
    /// `mu` is held, or the context is not shared yet; no other reference
    /// to the state is alive.
    #[allow(clippy::mut_from_ref)]
    unsafe fn state(&self) -> &mut State {
        // SAFETY: guaranteed by the caller.
        unsafe { &mut *self.st.get() }
    }

    /// Locks, and if not cancelled yet records `err` and `cause`, closes
    /// the done channel and returns the children, **still locked**. Returns
    /// None (unlocked) if it was already cancelled.
    fn begin(&self, err: Error, cause: &Option<Cause>) -> Option<Vec<Arc<Node>>> {
        self.lock();
        if self.err.load(Ordering::Relaxed) != 0 {
            // SAFETY: locked above.
            unsafe { self.unlock() };
            return None;
        }
        // SAFETY: we hold `mu`, and `err` is still 0, so no reader looks at
        // `cause` yet.
        unsafe { *self.cause.get() = cause.clone() };
        self.err.store(err.code(), Ordering::Release);
        match self.done.get_or_init(|| Done::Closed) {
            Done::Open(tx, _) => {
                tx.close();
            }
            Done::Closed => {}
        }
        // SAFETY: we hold `mu`.
        Some(std::mem::take(&mut unsafe { self.state() }.children))
    }

    /// Unlocks a context `begin` cancelled, and queues its kind's own work:
    /// stopping the timer, starting the after-function.
    fn end(&self, node: &Arc<Node>, later: &mut Deferred) {
        // SAFETY: `begin` left it locked.
        unsafe { self.unlock() };
        match &self.ext {
            Ext::None => {}
            Ext::Timer(_) => later.timers.push(node.clone()),
            Ext::AfterFunc(a) => {
                if let Some(f) = a.take() {
                    later.funcs.push(f);
                }
            }
        }
    }

    /// Cancels `node` (a `Cancel` node) and all its descendants with `err`
    /// and `cause` (None: the error itself), if it is not cancelled yet;
    /// with `remove`, also unregisters it from its parent. Go:
    /// `cancelCtx.cancel` (and the `timerCtx` and `afterFuncCtx` overrides).
    pub(crate) fn cancel(node: &Arc<Node>, remove: bool, err: Error, cause: Option<Cause>) {
        let c = node.cancel_ctx();
        if c.is_canceled() {
            return; // only the first cancel acts, and it removed us already
        }
        let Some(children) = c.begin(err, &cause) else { return };
        let mut later = Deferred::default();
        if !children.is_empty() {
            // Depth first, holding the locks of the path (module docs).
            let mut path: Vec<(Arc<Node>, std::vec::IntoIter<Arc<Node>>)> = Vec::new();
            path.push((node.clone(), children.into_iter()));
            while let Some(top) = path.last_mut() {
                match top.1.next() {
                    Some(child) => {
                        let cc = child.cancel_ctx();
                        if let Some(grand) = cc.begin(err, &cause) {
                            if grand.is_empty() {
                                cc.end(&child, &mut later);
                            } else {
                                path.push((child, grand.into_iter()));
                            }
                        }
                    }
                    None => {
                        let (n, _) = path.pop().expect("non-empty path");
                        if !Arc::ptr_eq(&n, node) {
                            n.cancel_ctx().end(&n, &mut later);
                        }
                    }
                }
            }
        }
        c.end(node, &mut later);
        if remove {
            c.remove_from_parent(node);
        }
        later.run();
    }

    /// Unregisters `node` from where it was registered. Go: `removeChild`.
    fn remove_from_parent(&self, node: &Arc<Node>) {
        self.lock();
        // SAFETY: we hold `mu`.
        let link = std::mem::replace(&mut unsafe { self.state() }.link, Link::None);
        // SAFETY: locked above.
        unsafe { self.unlock() };
        match link {
            Link::None => {}
            Link::Stop(stop) => {
                stop();
            }
            Link::DirectParent | Link::Ancestor(_) => {
                let p = match &link {
                    Link::Ancestor(p) => p,
                    _ => match self.parent.source() {
                        Source::Cancel(p) => p,
                        _ => unreachable!("registered with a cancellable parent"),
                    },
                };
                let pc = p.cancel_ctx();
                pc.lock();
                // SAFETY: we hold the parent's `mu`, which guards its
                // children and their slots.
                let kids = &mut unsafe { pc.state() }.children;
                let i = self.slot.load(Ordering::Relaxed);
                if kids.get(i).is_some_and(|k| Arc::ptr_eq(k, node)) {
                    let me = kids.swap_remove(i);
                    if let Some(moved) = kids.get(i) {
                        moved.cancel_ctx().slot.store(i, Ordering::Relaxed);
                    }
                    // SAFETY: locked above.
                    unsafe { pc.unlock() };
                    drop(me);
                } else {
                    // SAFETY: locked above. (The parent was cancelled and
                    // already let go of its children.)
                    unsafe { pc.unlock() };
                }
            }
        }
    }

    /// Registers the new, not yet shared, context `child` to be cancelled
    /// with `parent`. Go: `propagateCancel`.
    pub(crate) fn propagate(parent: &Context, child: &Arc<Node>) {
        match parent.source() {
            Source::Never => {}
            Source::Cancel(p) => Self::register(p, child),
            Source::Custom(pctx, pc) => super::custom::propagate(pctx, pc, child),
        }
    }

    /// Adds `child` to `p`'s children, or cancels it at once if `p` is
    /// cancelled already. Go: the `parentCancelCtx` branch of
    /// `propagateCancel`.
    pub(crate) fn register(p: &Arc<Node>, child: &Arc<Node>) {
        let pc = p.cancel_ctx();
        let cc = child.cancel_ctx();
        pc.lock();
        if let Some(err) = Error::from_code(pc.err.load(Ordering::Relaxed)) {
            // SAFETY: under `mu`, written before `err`.
            let cause = unsafe { (*pc.cause.get()).clone() };
            // SAFETY: locked above.
            unsafe { pc.unlock() };
            // Go cancels the child under the parent's lock; the child is
            // not shared yet, so doing it after unlocking is the same, and
            // keeps goroutine starts out of the lock.
            CancelCtx::cancel(child, false, err, cause);
            return;
        }
        // SAFETY: we hold the parent's `mu`; the child is not shared yet.
        unsafe {
            let kids = &mut pc.state().children;
            cc.slot.store(kids.len(), Ordering::Relaxed);
            kids.push(child.clone());
            let direct = cc.parent.node_is(p);
            cc.state().link = if direct { Link::DirectParent } else { Link::Ancestor(p.clone()) };
            pc.unlock();
        }
    }

    /// Records the stop function of a custom parent's `after_func`.
    pub(crate) fn set_link_stop(&self, stop: Box<dyn FnOnce() -> bool + Send>) {
        self.lock();
        // SAFETY: we hold `mu`.
        unsafe { self.state() }.link = Link::Stop(stop);
        // SAFETY: locked above.
        unsafe { self.unlock() };
    }

    /// The done channel if it was made and is still open.
    pub(crate) fn done_if_made(&self) -> Option<&Receiver<()>> {
        match self.done.get() {
            Some(Done::Open(_, rx)) => Some(rx),
            _ => None,
        }
    }

    /// The timer node of a `Timer` context, pinned.
    pub(crate) fn timer_node(&self) -> Option<Pin<&TimerNode>> {
        match &self.ext {
            // SAFETY: structural pinning: the node is never moved out of
            // its pinned box.
            Ext::Timer(t) => Some(unsafe { t.as_ref().map_unchecked(|t| &t.node) }),
            _ => None,
        }
    }

    /// Number of registered children (for tests).
    #[cfg(test)]
    pub(crate) fn children_len(&self) -> usize {
        self.lock();
        // SAFETY: we hold `mu`.
        let n = unsafe { self.state() }.children.len();
        // SAFETY: locked above.
        unsafe { self.unlock() };
        n
    }

    /// Whether `child` is among the registered children (for tests).
    #[cfg(test)]
    pub(crate) fn has_child(&self, child: &Arc<Node>) -> bool {
        self.lock();
        // SAFETY: we hold `mu`.
        let r = unsafe { self.state() }.children.iter().any(|k| Arc::ptr_eq(k, child));
        // SAFETY: locked above.
        unsafe { self.unlock() };
        r
    }

    pub(crate) fn fmt_layer(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.ext {
            Ext::Timer(t) => t.fmt_layer(f),
            _ => f.write_str(".WithCancel"),
        }
    }
}

/// Returns a copy of `parent` with a new done channel, closed when the
/// returned [`CancelFunc`] is called or dropped, or when the parent is
/// done, whichever happens first. Go: `context.WithCancel`.
///
/// ```
/// use gort_sync::context;
///
/// let (parent, cancel_parent) = context::with_cancel(&context::background());
/// let (child, _cancel_child) = context::with_cancel(&parent);
/// cancel_parent.cancel();
/// assert_eq!(child.err(), Some(context::Canceled)); // synchronously
/// assert_eq!(child.done().recv(), None); // closed
/// ```
pub fn with_cancel(parent: &Context) -> (Context, CancelFunc) {
    let n = new_cancel(parent, Ext::None);
    (Context::from_node(n.clone()), CancelFunc { node: n })
}

/// Like [`with_cancel`], but the cancel function takes a cause, reported
/// by [`cause`](super::cause). Go: `context.WithCancelCause`.
pub fn with_cancel_cause(parent: &Context) -> (Context, CancelCauseFunc) {
    let n = new_cancel(parent, Ext::None);
    (Context::from_node(n.clone()), CancelCauseFunc { node: n })
}

/// A registered cancellable context. Go: `withCancel`.
pub(crate) fn new_cancel(parent: &Context, ext: Ext) -> Arc<Node> {
    let n = Arc::new(Node::Cancel(CancelCtx::new(parent, ext)));
    CancelCtx::propagate(parent, &n);
    n
}

/// Cancels its context: Go's `CancelFunc`. Calling [`cancel`](Self::cancel)
/// more than once, or from several goroutines, is fine: only the first call
/// acts. **Dropping it cancels too** (module docs), so keep it as long as
/// the context should live.
#[must_use = "dropping a CancelFunc cancels its context; keep it (let _cancel = ...) while the context is in use"]
pub struct CancelFunc {
    node: Arc<Node>,
}

impl CancelFunc {
    pub(crate) fn new(node: Arc<Node>) -> CancelFunc {
        CancelFunc { node }
    }

    /// Cancels the context and its descendants with [`Canceled`](Error::Canceled),
    /// unless it is done already; stops its timer and releases what its
    /// parent holds for it. Returns once every descendant is cancelled.
    pub fn cancel(&self) {
        CancelCtx::cancel(&self.node, true, Error::Canceled, None);
    }
}

impl Drop for CancelFunc {
    fn drop(&mut self) {
        self.cancel();
    }
}

impl fmt::Debug for CancelFunc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelFunc").field("canceled", &self.node.cancel_ctx().is_canceled()).finish()
    }
}

/// Cancels its context with a cause: Go's `CancelCauseFunc`. Dropping it
/// cancels without a cause.
#[must_use = "dropping a CancelCauseFunc cancels its context; keep it while the context is in use"]
pub struct CancelCauseFunc {
    node: Arc<Node>,
}

impl CancelCauseFunc {
    /// Cancels the context with [`Canceled`](Error::Canceled) and `cause`
    /// (`None`: the cause is `Canceled` itself), unless it is done already.
    pub fn cancel(&self, cause: Option<Cause>) {
        CancelCtx::cancel(&self.node, true, Error::Canceled, cause);
    }
}

impl Drop for CancelCauseFunc {
    fn drop(&mut self) {
        self.cancel(None);
    }
}

impl fmt::Debug for CancelCauseFunc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelCauseFunc").field("canceled", &self.node.cancel_ctx().is_canceled()).finish()
    }
}
