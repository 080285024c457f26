//! Per-P caches of the small blocks spawn allocates (the task holding a
//! goroutine's closure and result).
//!
//! Go: runtime/mcache.go, runtime/mcentral.go (per-P caches of size
//! classes in front of a central free list).
//!
//! A spawn allocates one task block and a goroutine's end or its handle's
//! drop frees it, usually on another thread. With the system allocator
//! that is a cross-thread free per goroutine, which glibc serialises on an
//! arena lock. Blocks of up to 512 bytes (16-byte aligned) therefore go through
//! size classes: a P allocates from and frees to its own cache (no lock);
//! a cache that runs dry takes a batch from the global list, and one that
//! overflows gives a batch back. sysmon trims the global lists once a
//! second, so a burst does not pin memory forever. Larger blocks, and
//! blocks allocated or freed where no P is held, use the global list or the
//! system allocator directly.
//!
//! Invariants: a block in any list is unused and was allocated with its
//! class's layout; a P's cache is touched only by the P's owner.

use std::alloc::Layout;
use std::ptr::NonNull;

use crate::lock::Lock;

/// Block sizes of the classes; all 16-byte aligned.
const CLASS_SIZES: [usize; 4] = [96, 160, 256, 512];
const ALIGN: usize = 16;
/// A P's cache holds at most this many blocks per class.
const CACHE_MAX: usize = 256;
/// Blocks moved between a P's cache and the global list at once.
const BATCH: usize = 64;
/// What the global list keeps per class after a trim.
const GLOBAL_KEEP: usize = 1024;

/// A free block. The list types hold raw addresses of unused memory.
#[derive(Clone, Copy)]
struct Block(NonNull<u8>);
// SAFETY: a free block is plain unused memory, owned by whichever list
// holds it.
unsafe impl Send for Block {}

fn class_of(layout: Layout) -> Option<usize> {
    if layout.align() > ALIGN {
        return None;
    }
    CLASS_SIZES.iter().position(|&s| layout.size() <= s)
}

fn class_layout(c: usize) -> Layout {
    Layout::from_size_align(CLASS_SIZES[c], ALIGN).expect("valid class layout")
}

/// A P's cache (owner-only, lives in the P).
#[derive(Default)]
pub(crate) struct MCache {
    free: [Vec<Block>; CLASS_SIZES.len()],
}

/// The central lists, one per class (Go: `mcentral`). One per process:
/// classes are plain layouts, so a block may be freed into any runtime's
/// caches.
pub(crate) struct MCentral {
    free: Lock<[Vec<Block>; CLASS_SIZES.len()]>,
}

/// The process's central lists.
pub(crate) static CENTRAL: MCentral = MCentral::new();

impl MCentral {
    pub(crate) const fn new() -> MCentral {
        MCentral { free: Lock::new([const { Vec::new() }; CLASS_SIZES.len()]) }
    }

    /// Allocates `layout` for a caller that holds `cache` (its P's), or
    /// none.
    pub(crate) fn alloc(&self, cache: Option<&mut MCache>, layout: Layout) -> NonNull<u8> {
        let Some(c) = class_of(layout) else { return sys_alloc(layout) };
        if let Some(cache) = cache {
            if let Some(b) = cache.free[c].pop() {
                return b.0;
            }
            let mut central = self.free.lock();
            let n = central[c].len().min(BATCH);
            let from = central[c].len() - n;
            cache.free[c].extend(central[c].drain(from..));
            drop(central);
            if let Some(b) = cache.free[c].pop() {
                return b.0;
            }
        } else if let Some(b) = self.free.lock()[c].pop() {
            return b.0;
        }
        sys_alloc(class_layout(c))
    }

    /// Frees a block allocated by [`MCentral::alloc`] with the same layout.
    ///
    /// # Safety
    /// `p` must come from `alloc(_, layout)` of this MCentral (or of any
    /// MCentral: classes are process-wide layouts) and be unused from now on.
    pub(crate) unsafe fn free(&self, cache: Option<&mut MCache>, p: NonNull<u8>, layout: Layout) {
        let Some(c) = class_of(layout) else {
            // SAFETY: allocated by sys_alloc with this layout (caller).
            unsafe { std::alloc::dealloc(p.as_ptr(), layout) };
            return;
        };
        match cache {
            Some(cache) => {
                cache.free[c].push(Block(p));
                if cache.free[c].len() > CACHE_MAX {
                    let spill = cache.free[c].len() - BATCH;
                    self.free.lock()[c].extend(cache.free[c].drain(spill..));
                }
            }
            None => self.free.lock()[c].push(Block(p)),
        }
    }

    /// Returns every cached block of `cache` to the central lists.
    pub(crate) fn flush(&self, cache: &mut MCache) {
        let mut central = self.free.lock();
        for (c, list) in cache.free.iter_mut().enumerate() {
            central[c].append(list);
        }
    }

    /// Frees central blocks beyond what a class keeps (sysmon, once a
    /// second). Returns how many were freed.
    pub(crate) fn trim(&self) -> usize {
        let mut freed = Vec::new();
        {
            let mut central = self.free.lock();
            for (c, list) in central.iter_mut().enumerate() {
                if list.len() > GLOBAL_KEEP {
                    // Keep the lowest addresses: blocks kept together pin
                    // a few pages of the allocator, scattered ones many.
                    list.sort_unstable_by_key(|b| b.0.as_ptr() as usize);
                    freed.extend(list.drain(GLOBAL_KEEP..).map(|b| (b, c)));
                    // A burst's worth of capacity goes too.
                    list.shrink_to(2 * GLOBAL_KEEP);
                }
            }
        }
        let n = freed.len();
        for (b, c) in freed {
            // SAFETY: every listed block was allocated with its class
            // layout and is unused.
            unsafe { std::alloc::dealloc(b.0.as_ptr(), class_layout(c)) };
        }
        n
    }
}

impl Drop for MCentral {
    fn drop(&mut self) {
        for (c, list) in self.free.get_mut().iter_mut().enumerate() {
            for b in list.drain(..) {
                // SAFETY: as in trim.
                unsafe { std::alloc::dealloc(b.0.as_ptr(), class_layout(c)) };
            }
        }
    }
}

impl Drop for MCache {
    fn drop(&mut self) {
        for (c, list) in self.free.iter_mut().enumerate() {
            for b in list.drain(..) {
                // SAFETY: as in trim.
                unsafe { std::alloc::dealloc(b.0.as_ptr(), class_layout(c)) };
            }
        }
    }
}

fn sys_alloc(layout: Layout) -> NonNull<u8> {
    // SAFETY: every layout here has a non-zero size (a task has a header).
    let p = unsafe { std::alloc::alloc(layout) };
    NonNull::new(p).unwrap_or_else(|| std::alloc::handle_alloc_error(layout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_reused_through_the_cache() {
        let central = MCentral::new();
        let mut cache = MCache::default();
        let l = Layout::from_size_align(100, 8).unwrap();
        let a = central.alloc(Some(&mut cache), l);
        // SAFETY: allocated just above with the same layout.
        unsafe { central.free(Some(&mut cache), a, l) };
        let b = central.alloc(Some(&mut cache), l);
        assert_eq!(a, b);
        // SAFETY: `b` came from `central` with layout `l` just above and is
        // not used after this free.
        unsafe { central.free(None, b, l) };
        assert_eq!(central.alloc(None, l), b, "a block freed without a P goes central");
    }

    #[test]
    fn overflow_spills_and_trim_frees() {
        let central = MCentral::new();
        let mut cache = MCache::default();
        let l = Layout::from_size_align(64, 16).unwrap();
        let blocks: Vec<_> = (0..3000).map(|_| central.alloc(Some(&mut cache), l)).collect();
        for b in blocks {
            // SAFETY: allocated above with the same layout.
            unsafe { central.free(Some(&mut cache), b, l) };
        }
        assert!(cache.free[0].len() <= CACHE_MAX);
        central.flush(&mut cache);
        assert_eq!(central.trim(), 3000 - GLOBAL_KEEP);
        assert_eq!(central.trim(), 0);
    }

    #[test]
    fn large_and_overaligned_layouts_bypass_the_classes() {
        let central = MCentral::new();
        for l in [Layout::from_size_align(4096, 8).unwrap(), Layout::from_size_align(32, 64).unwrap()] {
            let p = central.alloc(None, l);
            // SAFETY: allocated above with this layout.
            unsafe { central.free(None, p, l) };
        }
        assert!(central.free.lock().iter().all(Vec::is_empty));
    }
}
