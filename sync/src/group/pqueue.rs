//! [`PriorityQueue`]: an in-process priority queue whose `dequeue` blocks
//! until an item arrives.
//!
//! Go: etcd's `contrib/recipes` `PriorityQueue` (`Enqueue(val, pr)`,
//! `Dequeue()`), the distributed recipe the course's chapter 20 shows;
//! this is its in-process counterpart (the course's advice: keep the
//! distributed primitives in etcd, and the local ones cheap).
//!
//! Order, as etcd's: the **lowest** priority number comes out first
//! (etcd keys items by `prefix + %05d(pr)` and takes the smallest key,
//! although the course's text says "higher priority first"), and items of
//! one priority come out in the order they went in.
//!
//! Many producers and consumers may share one queue (it is cheap to
//! clone). A consumer that finds the queue empty parks (a plain thread
//! blocks) in FIFO order with the other waiting consumers; `enqueue` hands
//! a new item straight to the longest-waiting consumer. A consumer that
//! gives up ([`dequeue_ctx`](PriorityQueue::dequeue_ctx) with a context
//! that ends) leaves the queue as it found it: if an item was handed to
//! it at the same moment, the item goes back in its place (or to the next
//! waiting consumer), so no item is ever lost or delivered twice.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;
use std::sync::Arc;

use gort_channels::{Sender, chan, select};

use crate::Mutex;
use crate::context::{self, Context};

struct Item<T> {
    pr: u16,
    seq: u64,
    val: T,
}

impl<T> PartialEq for Item<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.pr, self.seq) == (other.pr, other.seq)
    }
}
impl<T> Eq for Item<T> {}
impl<T> PartialOrd for Item<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Item<T> {
    /// Reversed: the max-heap's top is the lowest `(pr, seq)`.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.pr, other.seq).cmp(&(self.pr, self.seq))
    }
}

/// A consumer parked in `dequeue`: its one-slot hand-over channel.
struct Waiter<T> {
    id: u64,
    tx: Sender<Item<T>>,
}

struct State<T> {
    heap: BinaryHeap<Item<T>>,
    /// Consumers waiting for an item, oldest first; only while `heap` is
    /// empty.
    waiters: VecDeque<Waiter<T>>,
    seq: u64,
    next_waiter: u64,
}

impl<T> State<T> {
    /// Gives `item` to the oldest waiting consumer, or keeps it.
    fn deliver(&mut self, item: Item<T>) {
        match self.waiters.pop_front() {
            // The waiter's channel has one free slot (one hand-over per
            // waiter) and the waiter is still there: it leaves `waiters`
            // under this lock before it stops listening.
            Some(w) => {
                if let Err(e) = w.tx.try_send(item) {
                    unreachable!("a queued consumer's slot is free: {}", e.into_inner().seq)
                }
            }
            None => self.heap.push(item),
        }
    }
}

/// An in-process priority queue with a blocking `dequeue`: etcd's recipe
/// `PriorityQueue`, without etcd. Lowest priority number first, FIFO
/// within one priority (module docs). Cheap to clone; every clone is the
/// same queue.
///
/// ```
/// use gort_sync::group::PriorityQueue;
///
/// let q = PriorityQueue::new();
/// q.enqueue("low", 9);
/// q.enqueue("urgent", 0);
/// q.enqueue("normal", 5);
/// q.enqueue("urgent too", 0);
/// let got: Vec<_> = (0..4).map(|_| q.dequeue()).collect();
/// assert_eq!(got, ["urgent", "urgent too", "normal", "low"]);
///
/// // On an empty queue, dequeue waits for the next enqueue.
/// let consumer = {
///     let q = q.clone();
///     gort_runtime::spawn(move || q.dequeue())
/// };
/// q.enqueue("late", 1);
/// assert_eq!(consumer.join().unwrap(), "late");
/// ```
pub struct PriorityQueue<T> {
    inner: Arc<Mutex<State<T>>>,
}

impl<T> Clone for PriorityQueue<T> {
    fn clone(&self) -> Self {
        PriorityQueue { inner: self.inner.clone() }
    }
}

impl<T: Send + 'static> Default for PriorityQueue<T> {
    fn default() -> Self {
        PriorityQueue::new()
    }
}

impl<T: Send + 'static> PriorityQueue<T> {
    /// An empty queue. Go: `recipe.NewPriorityQueue` (without the client
    /// and key).
    pub fn new() -> PriorityQueue<T> {
        PriorityQueue {
            inner: Arc::new(Mutex::new(State {
                heap: BinaryHeap::new(),
                waiters: VecDeque::new(),
                seq: 0,
                next_waiter: 0,
            })),
        }
    }

    /// Adds `val` with priority `pr` (lower comes out first); wakes a
    /// waiting consumer. Never blocks. Go: `Enqueue(val, pr)`.
    pub fn enqueue(&self, val: T, pr: u16) {
        let mut st = self.inner.lock();
        let seq = st.seq;
        st.seq += 1;
        st.deliver(Item { pr, seq, val });
    }

    /// Takes the first item, waiting (parked) until there is one. Go:
    /// `Dequeue()`.
    pub fn dequeue(&self) -> T {
        match self.dequeue_ctx(&context::background()) {
            Ok(v) => v,
            Err(_) => unreachable!("the background context never ends"),
        }
    }

    /// Like [`dequeue`](Self::dequeue), but gives up with the context's
    /// error once `ctx` is done; then no item was taken.
    pub fn dequeue_ctx(&self, ctx: &Context) -> Result<T, context::Error> {
        let (id, slot) = {
            let mut st = self.inner.lock();
            if let Some(it) = st.heap.pop() {
                return Ok(it.val);
            }
            if let Some(e) = ctx.err() {
                return Err(e);
            }
            let slot = chan::<Item<T>>(1);
            let id = st.next_waiter;
            st.next_waiter += 1;
            st.waiters.push_back(Waiter { id, tx: slot.sender() });
            (id, slot)
        };
        select! {
            recv(slot) -> it => return Ok(it.expect("the slot stays open").val),
            recv(ctx.done()) => {},
        }
        let e = ctx.err().unwrap_or(context::Canceled);
        let mut st = self.inner.lock();
        if let Some(pos) = st.waiters.iter().position(|w| w.id == id) {
            st.waiters.remove(pos);
            return Err(e);
        }
        // An item was handed over (under the lock, so it is in the slot)
        // as the context ended: put it back where it belongs.
        let it = slot.try_recv().expect("a consumer that left the queue was handed an item");
        st.deliver(it);
        Err(e)
    }

    /// Takes the first item if there is one, without waiting.
    pub fn try_dequeue(&self) -> Option<T> {
        self.inner.lock().heap.pop().map(|it| it.val)
    }

    /// The number of items in the queue.
    pub fn len(&self) -> usize {
        self.inner.lock().heap.len()
    }

    /// The number of consumers waiting in `dequeue` (a racy snapshot, for
    /// diagnostics and tests).
    pub fn waiting(&self) -> usize {
        self.inner.lock().waiters.len()
    }

    /// Whether the queue holds no item.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> fmt::Debug for PriorityQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.inner.lock();
        f.debug_struct("PriorityQueue")
            .field("len", &st.heap.len())
            .field("waiting", &st.waiters.len())
            .finish()
    }
}
