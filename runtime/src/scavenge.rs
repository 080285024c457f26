//! The scavenger: once a second, sysmon gives back to the OS the memory a
//! burst of goroutines left in gort's caches, as Go's background scavenger
//! returns the heap's unused pages.
//!
//! Go: runtime/mgcscavenge.go (`bgscavenge`), runtime/stack.go
//! (`freeStackSpans`), runtime/proc.go (`gfpurge`).
//!
//! What a million finished goroutines leave, and where it goes:
//! - their stacks, in the runtime's stack pool: a stack unused for a whole
//!   round has its pages released, and a region whose every stack is
//!   released is unmapped (`stack/trim.rs`);
//! - their Gs, on the global free list: all but `GFREE_GLOBAL_KEEP` are
//!   freed (`Sched::trim_gfree`), the lowest-addressed kept so that they
//!   share a few pages, and the free list's and the G registry's vectors
//!   shrink to fit;
//! - their task blocks, on the central lists of `mcache`: all but a few
//!   per class are freed, again keeping the lowest addresses;
//! - what those frees gave back to the C allocator: glibc keeps freed
//!   chunks in its arenas, resident, unless asked (`malloc_trim`), which is
//!   done after a round that freed many objects.
//!
//! Per-P caches (stacks, Gs, task blocks) are bounded and stay: they are
//! the working set. A round that finds nothing to release costs a few
//! lock acquisitions. While a round leaves work for the next (free stacks
//! not yet released), sysmon keeps running rounds even if every P is idle
//! ([`pending`]), so the memory comes back within seconds of a spike, not
//! at the next wake-up.

use crate::sched::Sched;

/// A round that freed at least this many Gs and task blocks asks the C
/// allocator to return its free pages.
const MALLOC_TRIM_AFTER: usize = 1024;

/// One scavenging round (sysmon, about once a second). Returns the number
/// of stacks, Gs and task blocks it released.
pub(crate) fn run(sched: &Sched) -> usize {
    let stacks = sched.stacks.trim();
    keep_lowest_gs(sched);
    let gs = sched.trim_gfree();
    shrink(&mut sched.gfree.lock());
    shrink(&mut sched.allgs.lock());
    let blocks = crate::mcache::CENTRAL.trim();
    if gs + blocks >= MALLOC_TRIM_AFTER {
        malloc_trim();
    }
    stacks + gs + blocks
}

/// Whether the last round left work for the next one: sysmon then does not
/// sleep past the next round, even with every P idle.
pub(crate) fn pending(sched: &Sched) -> bool {
    sched.stacks.trim_pending()
}

/// Orders a long global G free list by address, lowest first, so that
/// the Gs `trim_gfree` keeps (the first ones) lie together in a few pages
/// of the allocator's arenas: kept Gs scattered over a spike's worth of
/// arena would each pin a page that `malloc_trim` cannot return.
fn keep_lowest_gs(sched: &Sched) {
    let mut gl = sched.gfree.lock();
    if gl.len() > crate::p::GFREE_GLOBAL_KEEP {
        gl.sort_unstable_by_key(|g| &**g as *const crate::g::G as usize);
    }
}

/// Gives a vector's unused capacity back when it is mostly unused (a
/// spike's worth), keeping room to grow.
fn shrink<T>(v: &mut Vec<T>) {
    if v.capacity() > 4 * v.len() + 1024 {
        v.shrink_to(2 * v.len());
    }
}

/// Asks glibc to return the free memory of all its arenas to the OS.
fn malloc_trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator's own
    // arenas; it takes their locks and touches no live allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}
