//! The cache of poll descriptors: chunks allocated per poller and never
//! freed while it lives (see the parent module, "Memory and stale events").
//!
//! Go: runtime/netpoll.go (`pollCache`, `alloc`, `free`).

use std::sync::Mutex;
use std::sync::atomic::Ordering;

use super::{ADDR_MASK, CHUNK, Mode, NIL, PollDesc};
use crate::poller::PollerInner;

/// A poller's descriptors (Go: `pollcache`).
pub(crate) struct PdCache {
    inner: Mutex<CacheInner>,
}

struct CacheInner {
    free: Vec<&'static PollDesc>,
    /// Boxed so that descriptor addresses never move.
    chunks: Vec<Box<[PollDesc]>>,
}

impl PdCache {
    pub(crate) fn new() -> PdCache {
        PdCache { inner: Mutex::new(CacheInner { free: Vec::new(), chunks: Vec::new() }) }
    }

    /// A descriptor with both directions in NIL. `owner` is the poller this
    /// cache belongs to.
    pub(crate) fn alloc(&self, owner: *const PollerInner) -> &'static PollDesc {
        let mut c = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if c.free.is_empty() {
            // The chunk goes to its final place first, then the references
            // are taken: moving a Box would invalidate them.
            c.chunks.push((0..CHUNK).map(|_| PollDesc::new(owner)).collect());
            let chunk: *const [PollDesc] = &**c.chunks.last().expect("just pushed");
            // SAFETY: chunks are only dropped with the cache, i.e. with the
            // poller, after every socket bound to it is gone (each holds an
            // Arc of the poller until it is destroyed).
            let chunk: &'static [PollDesc] = unsafe { &*chunk };
            for pd in chunk {
                let addr = pd as *const PollDesc as usize;
                assert!(
                    addr & !ADDR_MASK == 0,
                    "gort: poll descriptor address {addr:#x} does not fit a token"
                );
                c.free.push(pd);
            }
        }
        let pd = c.free.pop().expect("refilled above");
        for s in &pd.state {
            s.store(NIL, Ordering::Relaxed);
        }
        pd.no_drain.store(false, Ordering::Relaxed);
        pd
    }

    /// Returns a descriptor; events still in flight for it become stale.
    /// Nothing may wait on it. Its deadline timers are stopped first (this
    /// waits out a callback in flight), so none fires for the next socket.
    pub(crate) fn free(&self, pd: &'static PollDesc) {
        pd.stop_timers();
        pd.seq.fetch_add(1, Ordering::Release);
        let mut c = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        c.free.push(pd);
    }

    /// Takes every registered waker out of the cache's descriptors, for a
    /// poller whose runtime is going away: woken, their tasks poll again
    /// and bind their sockets to a live runtime.
    pub(crate) fn take_wakers(&self) -> Vec<std::task::Waker> {
        let c = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        for pd in c.chunks.iter().flat_map(|chunk| chunk.iter()) {
            out.extend([Mode::Read, Mode::Write].into_iter().filter_map(|m| pd.take_waker(m)));
        }
        out
    }
}
