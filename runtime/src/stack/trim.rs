//! Giving the stacks a burst left in the pool back to the OS: their pages
//! first, then whole regions.
//!
//! Go: runtime/mgcscavenge.go (the background scavenger returns free
//! pages that stayed unused) and runtime/stack.go (`freeStackSpans` frees
//! stack spans whose every stack is free). sysmon calls [`StackPool::trim`]
//! about once a second, through `crate::scavenge`.
//!
//! The pool's free list `free` is a LIFO whose bottom part `free[..cold]`
//! holds stacks whose pages were released, sorted by address; `mark`
//! records how long the list was at the previous trim, so `free[..mark]`
//! have been free since then (the LIFO hands out from the top). One trim:
//!
//! 1. under the pool lock, take out the stacks idle since the previous
//!    trim (`free[cold..mark]`, the *fresh* ones) and the cold ones;
//! 2. without the lock, drop the fresh stacks' pages (`MADV_DONTNEED`;
//!    guards survive it) and merge them into the sorted cold list;
//! 3. walk the cold list against the sorted regions: a region every slot
//!    of which is in the list (so no goroutine holds a stack there) is
//!    unmapped, and its stacks leave the list; the region being carved is
//!    kept, since its uncarved slots are not in the list;
//! 4. under the lock, put the remaining cold stacks back at the bottom,
//!    forget the unmapped regions, and shrink the list if it is mostly
//!    empty capacity.
//!
//! Stacks out of the list in between cannot be handed out, so releasing
//! or unmapping them races with nothing; allocation meanwhile takes warm
//! stacks from the top or carves new slots. Fresh stacks are found only
//! after a whole trim period unused, so a steady working set is never
//! released. Cost: O(cold + fresh) per trim that finds fresh stacks, none
//! otherwise (a region can only become empty when its last stack turns
//! cold).

use super::{GStack, StackPool};

impl StackPool {
    /// Releases the memory of stacks that have sat in the pool since the
    /// previous call (their guards stay), and unmaps the regions all of
    /// whose stacks are released. Runs off the hot path (sysmon). Returns
    /// the number of stacks whose pages it released.
    pub(crate) fn trim(&self) -> usize {
        let (mut fresh, cold, regions, carving) = {
            let mut inner = self.inner.lock();
            let upto = inner.mark.min(inner.free.len());
            let from = inner.cold.min(upto);
            if from == upto {
                inner.mark = inner.free.len();
                return 0;
            }
            let fresh: Vec<GStack> = inner.free.drain(from..upto).collect();
            let cold: Vec<GStack> = inner.free.drain(..from).collect();
            inner.cold = 0;
            inner.mark = inner.free.len();
            // The region being carved: its last slot ends at carve_end.
            let carving = inner.carve_end;
            (fresh, cold, inner.regions.clone(), carving)
        };
        let n = fresh.len();
        fresh.sort_unstable_by_key(|s| s.bottom);
        release_pages(&fresh);
        let cold = merge_sorted(cold, fresh);
        let slot = self.size + crate::sys::page_size();
        let (kept, unmapped) = unmap_empty_regions(cold, regions, carving, slot);
        let mut inner = self.inner.lock();
        let k = kept.len();
        inner.free.splice(0..0, kept);
        inner.cold = k;
        inner.mark += k;
        if !unmapped.is_empty() {
            inner.regions.retain(|r| !unmapped.contains(&r.0));
        }
        let len = inner.free.len();
        if inner.free.capacity() > 4 * len + 64 {
            inner.free.shrink_to(2 * len);
        }
        n
    }

    /// Whether free stacks wait for a later trim to release them (what
    /// keeps sysmon trimming while the program idles).
    pub(crate) fn trim_pending(&self) -> bool {
        let inner = self.inner.lock();
        inner.free.len() > inner.cold
    }

    /// Number of mapped regions (dedicated stacks not counted).
    #[cfg(test)]
    pub(crate) fn regions(&self) -> usize {
        self.inner.lock().regions.len()
    }
}

/// Drops the pages of `stacks` (sorted by address), coalescing adjacent
/// slots into one call: guards survive `MADV_DONTNEED`, so releasing a
/// guard page along with its neighbours is harmless.
fn release_pages(stacks: &[GStack]) {
    let mut i = 0;
    while i < stacks.len() {
        let (lo, mut hi) = (stacks[i].bottom, stacks[i].top);
        i += 1;
        while i < stacks.len() && stacks[i].bottom == hi {
            hi = stacks[i].top;
            i += 1;
        }
        // SAFETY: `lo..hi` covers stacks the trim took out of the pool: no
        // goroutine runs on them or can get them before they are put back,
        // and their contents are dead, so dropping the pages is
        // unobservable apart from the later zero-fill.
        unsafe { libc::madvise(lo as *mut libc::c_void, hi - lo, libc::MADV_DONTNEED) };
    }
}

/// Merges two lists sorted by address into one.
fn merge_sorted(a: Vec<GStack>, b: Vec<GStack>) -> Vec<GStack> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    loop {
        let take_a = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => x.bottom < y.bottom,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return out,
        };
        out.extend(if take_a { a.next() } else { b.next() });
    }
}

/// Unmaps each region (other than the one ending at `carving`) whose every
/// `slot`-byte slot is a stack in `cold` (sorted by address). Returns the
/// stacks of the other regions, still sorted, and the bases of the
/// unmapped regions.
fn unmap_empty_regions(
    cold: Vec<GStack>,
    mut regions: Vec<(usize, usize)>,
    carving: usize,
    slot: usize,
) -> (Vec<GStack>, Vec<usize>) {
    regions.sort_unstable();
    let mut kept = Vec::with_capacity(cold.len());
    let mut unmapped = Vec::new();
    let mut stacks = cold.into_iter().peekable();
    for (base, len) in regions {
        let end = base + len;
        // Stacks below this region belong to none listed: keep them (the
        // list only ever holds stacks carved from listed regions).
        while stacks.peek().is_some_and(|s| s.bottom < base) {
            kept.extend(stacks.next());
        }
        let mut mine = Vec::new();
        while stacks.peek().is_some_and(|s| s.bottom < end) {
            mine.extend(stacks.next());
        }
        if end != carving && mine.len() == len / slot {
            // SAFETY: every slot of this region is a free stack the trim
            // holds (a slot is in the pool or in use, never both, and the
            // region's slots number len / slot): no goroutine runs on it,
            // no cache or list refers to it once `mine` is dropped, and the
            // region is forgotten before the pool lock is released again.
            unsafe { libc::munmap(base as *mut libc::c_void, len) };
            unmapped.push(base);
        } else {
            kept.append(&mut mine);
        }
    }
    kept.extend(stacks);
    (kept, unmapped)
}

#[cfg(test)]
mod tests {
    use super::super::{REGION_BYTES, StackPool};
    use crate::sys;

    #[test]
    fn trim_releases_only_stacks_idle_since_last_trim() {
        let pool = StackPool::new(16 << 10);
        let v: Vec<_> = (0..8).map(|_| pool.alloc().unwrap()).collect();
        for s in v {
            let (lo, hi) = s.usable();
            // SAFETY: the usable part of a stack we own.
            unsafe { std::ptr::write_bytes(lo as *mut u8, 1, hi - lo) };
            pool.free(s);
        }
        assert!(pool.trim_pending());
        assert_eq!(pool.trim(), 0, "first trim only marks");
        assert_eq!(pool.trim(), 8);
        assert!(!pool.trim_pending());
        assert_eq!(pool.trim(), 0, "already cold");
        assert_eq!(pool.regions(), 1, "the region being carved stays");
        let s = pool.alloc().unwrap();
        let (lo, _) = s.usable();
        // SAFETY: reading the usable part of a stack we own; released pages
        // read back as zero.
        assert_eq!(unsafe { *(lo as *const u8) }, 0);
        pool.free(s);
        pool.release_all();
    }

    #[test]
    fn regions_whose_stacks_are_all_released_are_unmapped() {
        // Stacks this large make regions of 16 slots.
        let size = REGION_BYTES / 16;
        let pool = StackPool::new(size);
        let slot = pool.stack_size() + sys::page_size();
        let per_region = (REGION_BYTES / slot).max(16);
        let stacks: Vec<_> = (0..2 * per_region + 3).map(|_| pool.alloc().unwrap()).collect();
        assert_eq!(pool.regions(), 3);
        // Keep one stack of whichever full region it lies in, in use.
        let mut stacks = stacks;
        let kept = stacks.swap_remove(1);
        let (lo, hi) = kept.usable();
        // SAFETY: the usable part of a stack we own.
        unsafe { std::ptr::write_bytes(lo as *mut u8, 0xCD, hi - lo) };
        for s in stacks {
            pool.free(s);
        }
        pool.trim();
        pool.trim();
        assert_eq!(pool.regions(), 2, "one full region unmapped; the in-use and carving ones stay");
        assert_eq!(pool.pooled(), per_region - 1 + 3);
        // SAFETY: the usable part of a stack we own, never released.
        assert!(unsafe { std::slice::from_raw_parts(lo as *const u8, hi - lo) }.iter().all(|&b| b == 0xCD));
        pool.free(kept);
        pool.trim();
        pool.trim();
        assert_eq!(pool.regions(), 1, "only the region being carved is left");
        assert_eq!(pool.pooled(), 3);
        assert!(!pool.trim_pending());
        // The pool keeps working: new regions are mapped as needed.
        let again: Vec<_> = (0..2 * per_region).map(|_| pool.alloc().unwrap()).collect();
        for s in &again {
            let (lo, hi) = s.usable();
            // SAFETY: the usable part of a stack we own.
            unsafe { (*(lo as *mut u8), *((hi - 1) as *mut u8)) = (1, 1) };
        }
        for s in again {
            pool.free(s);
        }
        assert_eq!(pool.in_use(), 0);
        pool.release_all();
    }

    #[test]
    fn trim_never_releases_a_stack_in_use() {
        // Trim (sysmon) racing with allocation (P cache refills): a stack
        // handed out and written must keep its contents, and its region
        // must stay mapped. Bounded: 1 s or 20,000 rounds; the race, when
        // present, shows within milliseconds. Stacks of REGION_BYTES / 16
        // make 16-slot regions, so regions empty and unmap all the time.
        let pool = std::sync::Arc::new(StackPool::new(REGION_BYTES / 16));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (p2, stop2) = (pool.clone(), stop.clone());
        let trimmer = std::thread::spawn(move || {
            while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
                p2.trim();
            }
        });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
        let mut released = 0;
        for round in 0..20_000 {
            if std::time::Instant::now() > deadline {
                break;
            }
            let stacks: Vec<_> = (0..40 + round % 7).map(|_| pool.alloc().unwrap()).collect();
            for s in &stacks {
                let (lo, hi) = s.usable();
                // SAFETY: the usable part of a stack we own.
                unsafe { (*(lo as *mut u8), *((hi - 1) as *mut u8)) = (0xAB, 0xAB) };
            }
            std::thread::yield_now();
            for s in &stacks {
                let (lo, hi) = s.usable();
                // SAFETY: reads the usable part of a stack the test still
                // owns (allocated above, written just before the yield, not
                // yet freed); if the trimmer had unmapped it instead of
                // releasing its pages, this would fault.
                if unsafe { (*(lo as *const u8), *((hi - 1) as *const u8)) } != (0xAB, 0xAB) {
                    released += 1;
                }
            }
            for s in stacks {
                pool.free(s);
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        trimmer.join().unwrap();
        assert_eq!(released, 0, "trim released the pages of stacks in use");
        assert_eq!(pool.in_use(), 0);
        pool.release_all();
    }
}
