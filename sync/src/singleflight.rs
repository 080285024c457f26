//! `SingleFlight<K, V>`: collapse concurrent calls for the same key into
//! one.
//!
//! Go: golang.org/x/sync/singleflight/singleflight.go.
//!
//! While a call for a key is in flight, later calls for that key wait for
//! it and receive its result instead of running their own function; they
//! learn the result was shared. Once the call finishes the key is free
//! again, so the next call runs the function anew (unlike `Once`, which
//! runs once for ever). [`SingleFlight::forget`] frees the key early: calls
//! after it start a new flight instead of joining the old one.
//!
//! A panic in the function reaches every waiter: the caller that ran it
//! gets the original panic, each waiter panics with the same message (a
//! Rust panic payload cannot be cloned, so waiters get it as a `String`).
//! Go's x/sync does the same (its `panicError`); Go's `Goexit` case has no
//! Rust counterpart.
//!
//! [`SingleFlight::do_chan`] is Go's `DoChan`: it starts the function in a
//! new goroutine (or joins the flight in progress) and returns a channel
//! that receives the result, to wait on in a `select!` (next to a
//! context's `done()`, say). [`SingleFlight::call_handle`] does the same
//! with a [`Flight`] handle instead of a channel; a waiter on the handle
//! gets the function's panic, a receiver on the channel gets `None`. If the
//! function panics in the new goroutine, the panic also follows gort's
//! policy for unjoined goroutines (by default it ends the process, as Go's
//! `DoChan` re-panics in a fresh goroutine so that it cannot be missed).
//!
//! Built from a gort [`Mutex`] over a `HashMap` of in-flight calls and a
//! [`WaitGroup`] per call. The leader writes the outcome, removes the call
//! from the map, then marks the group done; waiters read the outcome (and
//! the final count of duplicates) after `wait`, which orders them. The
//! result channels of `do_chan` callers are added to their call under the
//! map's lock while the call is in the map, so once the leader has removed
//! it (or `forget` has) the list is final, and the leader sends to each.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::panic::{AssertUnwindSafe, catch_unwind, panic_any, resume_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use gort_channels::{Receiver, Sender, chan};

use crate::{Mutex, WaitGroup};

/// How a flight ended.
enum Outcome<V> {
    Value(V),
    Panicked(String),
}

/// One call in flight (Go: `call`).
struct Call<V> {
    wg: WaitGroup,
    /// Written once, before `wg.done()`.
    outcome: OnceLock<Outcome<V>>,
    /// Callers that joined instead of running the function.
    dups: AtomicUsize,
    /// Where `do_chan` callers wait for the result (Go: `chans`).
    chans: Mutex<Vec<Sender<(V, bool)>>>,
}

impl<V> Call<V> {
    fn new() -> Call<V> {
        let c = Call {
            wg: WaitGroup::new(),
            outcome: OnceLock::new(),
            dups: AtomicUsize::new(0),
            chans: Mutex::new(Vec::new()),
        };
        c.wg.add(1);
        c
    }
}

impl<V: Clone> Call<V> {
    /// The shared result, for a caller that waited; re-panics if the
    /// function panicked.
    fn result(&self) -> V {
        match self.outcome.get().expect("singleflight: result read before the call finished") {
            Outcome::Value(v) => v.clone(),
            Outcome::Panicked(msg) => panic_any(msg.clone()),
        }
    }
}

/// Duplicate-call suppression, Go's `singleflight.Group`. See the module
/// docs.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use gort_sync::SingleFlight;
///
/// let group = Arc::new(SingleFlight::new());
/// let fetches = Arc::new(AtomicUsize::new(0));
/// let hs: Vec<_> = (0..4)
///     .map(|_| {
///         let (group, fetches) = (group.clone(), fetches.clone());
///         gort_runtime::spawn(move || {
///             group.call("user:42", || {
///                 fetches.fetch_add(1, Ordering::Relaxed);
///                 gort_runtime::sleep(std::time::Duration::from_millis(20));
///                 "Ada".to_string()
///             })
///         })
///     })
///     .collect();
/// for h in hs {
///     let (name, _shared) = h.join().unwrap();
///     assert_eq!(name, "Ada");
/// }
/// assert!(fetches.load(Ordering::Relaxed) < 4); // calls overlapped and were merged
/// ```
pub struct SingleFlight<K, V> {
    m: Mutex<HashMap<K, Arc<Call<V>>>>,
}

impl<K, V> SingleFlight<K, V>
where
    K: Eq + Hash + Clone,
    V: Clone,
{
    /// A group with no calls in flight.
    pub fn new() -> Self {
        SingleFlight { m: Mutex::new(HashMap::new()) }
    }

    /// Runs `f` for `key`, unless a call for `key` is already in flight, in
    /// which case it waits for that call and returns its result. Returns
    /// the value and whether it was shared with other callers (true for
    /// every caller of a flight that had more than one). Go: `Do` (`do` is
    /// a Rust keyword).
    ///
    /// # Panics
    /// If the flight's function panicked (module docs).
    pub fn call(&self, key: K, f: impl FnOnce() -> V) -> (V, bool) {
        let c = {
            let mut m = self.m.lock();
            if let Some(c) = m.get(&key) {
                c.dups.fetch_add(1, Ordering::Relaxed);
                let c = c.clone();
                drop(m);
                c.wg.wait();
                return (c.result(), true);
            }
            let c = Arc::new(Call::new());
            m.insert(key.clone(), c.clone());
            c
        };
        match self.run(&key, &c, f) {
            Ok(v) => (v, c.dups.load(Ordering::Relaxed) > 0),
            Err(payload) => resume_unwind(payload),
        }
    }

    /// Runs `f` as the flight's leader: publishes the outcome, wakes the
    /// waiters and frees the key. Go: `doCall`.
    fn run(&self, key: &K, c: &Arc<Call<V>>, f: impl FnOnce() -> V) -> std::thread::Result<V> {
        let r = catch_unwind(AssertUnwindSafe(f));
        let outcome = match &r {
            Ok(v) => Outcome::Value(v.clone()),
            Err(p) => Outcome::Panicked(payload_message(&**p)),
        };
        let _ = c.outcome.set(outcome);
        let mut m = self.m.lock();
        // Forget may have replaced us with a newer flight: leave that one.
        if m.get(key).is_some_and(|cur| Arc::ptr_eq(cur, c)) {
            m.remove(key);
        }
        drop(m);
        // Out of the map, nobody can join any more: `dups` is final before
        // anyone wakes to read it, and so is the list of channels.
        c.wg.done();
        let chans = std::mem::take(&mut *c.chans.lock());
        match c.outcome.get() {
            Some(Outcome::Value(v)) => {
                let shared = c.dups.load(Ordering::Relaxed) > 0;
                for ch in chans {
                    // One value per channel of capacity 1: never blocks.
                    let _ = ch.try_send((v.clone(), shared));
                    ch.close();
                }
            }
            _ => {
                for ch in chans {
                    ch.close();
                }
            }
        }
        r
    }

    /// Like [`SingleFlight::call`], but does not wait: runs `f` in a new
    /// goroutine (or joins the flight in progress) and returns a channel
    /// that receives the value and whether it was shared, once, and is then
    /// closed. If the function panics, the channel is closed without a value (and the
    /// panic follows gort's policy for unjoined goroutines, module docs).
    /// Go: `DoChan`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use gort_sync::{SingleFlight, context};
    ///
    /// let group = Arc::new(SingleFlight::new());
    /// let (ctx, _cancel) = context::with_timeout(&context::background(), Duration::from_secs(5));
    /// let result = group.do_chan("config", || "v1".to_string());
    /// gort_channels::select! {
    ///     recv(result) -> r => assert_eq!(r.unwrap().0, "v1"),
    ///     recv(ctx.done()) => panic!("lookup timed out"),
    /// }
    /// ```
    pub fn do_chan<F>(self: &Arc<Self>, key: K, f: F) -> Receiver<(V, bool)>
    where
        K: Send + Sync + 'static,
        V: Send + Sync + 'static,
        F: FnOnce() -> V + Send + 'static,
    {
        let (tx, rx) = chan::<(V, bool)>(1).split();
        let mut m = self.m.lock();
        if let Some(c) = m.get(&key) {
            c.dups.fetch_add(1, Ordering::Relaxed);
            c.chans.lock().push(tx);
            return rx;
        }
        let c = Arc::new(Call::new());
        c.chans.lock().push(tx);
        m.insert(key.clone(), c.clone());
        drop(m);
        let g = self.clone();
        gort_runtime::spawn(move || {
            if let Err(p) = g.run(&key, &c, f) {
                // Do not let the panic vanish if nobody waits (module docs).
                resume_unwind(p);
            }
        });
        rx
    }

    /// Like [`SingleFlight::do_chan`], with a handle to wait on in place of
    /// the channel; a waiter gets the function's panic.
    pub fn call_handle<F>(self: &Arc<Self>, key: K, f: F) -> Flight<V>
    where
        K: Send + Sync + 'static,
        V: Send + Sync + 'static,
        F: FnOnce() -> V + Send + 'static,
    {
        let mut m = self.m.lock();
        if let Some(c) = m.get(&key) {
            c.dups.fetch_add(1, Ordering::Relaxed);
            return Flight { call: c.clone(), leader: false };
        }
        let c = Arc::new(Call::new());
        m.insert(key.clone(), c.clone());
        drop(m);
        let (g, call) = (self.clone(), c.clone());
        gort_runtime::spawn(move || {
            if let Err(p) = g.run(&key, &call, f) {
                // Do not let the panic vanish if nobody waits (module docs).
                resume_unwind(p);
            }
        });
        Flight { call: c, leader: true }
    }

    /// Forgets `key`: later calls for it run their function instead of
    /// joining the flight in progress. Go: `Forget`.
    pub fn forget(&self, key: &K) {
        self.m.lock().remove(key);
    }
}

impl<K: Eq + Hash + Clone, V: Clone> Default for SingleFlight<K, V> {
    fn default() -> Self {
        SingleFlight::new()
    }
}

impl<K, V> fmt::Debug for SingleFlight<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SingleFlight").finish_non_exhaustive()
    }
}

/// The result of [`SingleFlight::call_handle`], to wait for.
pub struct Flight<V> {
    call: Arc<Call<V>>,
    leader: bool,
}

impl<V: Clone> Flight<V> {
    /// Waits for the flight and returns its value and whether it was
    /// shared (Go: the `Result` sent on `DoChan`'s channel).
    ///
    /// # Panics
    /// If the flight's function panicked.
    pub fn wait(self) -> (V, bool) {
        self.call.wg.wait();
        let v = self.call.result();
        let shared = !self.leader || self.call.dups.load(Ordering::Relaxed) > 0;
        (v, shared)
    }

    /// Whether the flight has finished (`wait` would not block).
    pub fn is_finished(&self) -> bool {
        self.call.outcome.get().is_some()
    }
}

impl<V> fmt::Debug for Flight<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Flight").field("finished", &self.call.outcome.get().is_some()).finish()
    }
}

fn payload_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&'static str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}
