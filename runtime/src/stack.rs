//! Goroutine stacks: fixed-size, guard-paged, carved from large reserved
//! regions and recycled through a per-P cache and a global pool.
//!
//! Go: runtime/stack.go (`stackalloc`, `stackfree`, `stackpool`,
//! `stackcache`). Go grows stacks by copying; Rust cannot move a stack that
//! holds references into itself, so a goroutine gets one fixed-size stack of
//! which only the touched pages cost memory.
//!
//! Layout of one slot, low to high addresses: one guard page, then `size`
//! usable bytes; the stack grows down from the top of the slot towards the
//! guard. Slots are carved from regions of about 64 MiB mapped with
//! `MAP_NORESERVE`, so reserving them costs neither memory nor commit charge.
//!
//! Guards are installed with `madvise(MADV_GUARD_INSTALL)` (Linux >= 6.13),
//! which adds no kernel mapping: a million guarded stacks stay a handful of
//! mappings, far below `vm.max_map_count`. On older kernels the pool falls
//! back to `mprotect(PROT_NONE)` guards, which split the mapping: each stack
//! then costs two mappings and the map count limits live stacks to about
//! `vm.max_map_count / 2`.
//!
//! Invariants:
//! - a slot's guard is installed before the slot is first handed out and
//!   stays installed until the region is unmapped (`MADV_DONTNEED` keeps
//!   guards), so every stack in the pool is guarded;
//! - a [`GStack`] is owned by exactly one of: a goroutine's coroutine, a P's
//!   `StackCache`, the global pool; under valgrind it is registered as a
//!   stack exactly while a goroutine owns it (registered when handed out
//!   by `StackCache::alloc`, `StackPool::alloc` or `alloc_dedicated`,
//!   deregistered when freed; see `valgrind.rs`), so memcheck follows the
//!   switches onto it;
//! - a region is unmapped when every slot carved from it is a free stack
//!   whose pages `trim` already released (`stack/trim.rs`), or when the
//!   pool is dropped, which the runtime does only when no goroutine holds
//!   a stack; the region being carved is kept.
//! - every size the pool accepts (`round_stack_size`) leaves room for its
//!   guard page below `isize::MAX`, so the slot and region arithmetic on it
//!   is exact; a size that cannot be rounded is a [`StackError`], never an
//!   overflow.

use std::io;

use crate::lock::Lock;
use crate::sys;

mod trim;

/// Bytes reserved per region (rounded down to whole slots, at least 16).
const REGION_BYTES: usize = 64 << 20;
/// A P caches at most this many free stacks (Go: `_StackCacheSize`/2 worth).
const CACHE_MAX: usize = 32;
/// How many stacks move between a P's cache and the pool at once.
const CACHE_BATCH: usize = 16;

/// One goroutine stack: `[bottom, bottom + guard)` is the guard page,
/// `[bottom + guard, top)` the usable part.
#[derive(Debug)]
pub(crate) struct GStack {
    top: usize,
    bottom: usize,
    /// Mapped for this stack alone (a non-default size): unmapped on free.
    dedicated: bool,
    /// The stack's id with valgrind while a goroutine owns it (see
    /// [`GStack::hand_out`]), else [`NOT_REGISTERED`].
    valgrind_id: usize,
}

/// `GStack::valgrind_id` of a stack valgrind does not know.
const NOT_REGISTERED: usize = usize::MAX;

// SAFETY: base() is the slot's top, page-aligned (so STACK_ALIGNMENT-
// aligned); limit() is the slot's bottom, and the page at the bottom is a
// guard that faults on access, installed before the stack is handed out.
// The usable part is at least one page (sizes are clamped to MIN_STACK).
unsafe impl corosensei::stack::Stack for GStack {
    fn base(&self) -> corosensei::stack::StackPointer {
        corosensei::stack::StackPointer::new(self.top).expect("stack top is non-null")
    }
    fn limit(&self) -> corosensei::stack::StackPointer {
        corosensei::stack::StackPointer::new(self.bottom).expect("stack bottom is non-null")
    }
}

impl GStack {
    fn new(bottom: usize, top: usize, dedicated: bool) -> GStack {
        GStack { top, bottom, dedicated, valgrind_id: NOT_REGISTERED }
    }

    /// Marks the stack as a goroutine's from now on. Under valgrind
    /// (`pool.valgrind`), registers its usable part as a stack, so that
    /// memcheck takes a switch onto it for a stack switch rather than
    /// warning "client switching stacks?" and misjudging every access.
    #[inline]
    fn hand_out(mut self, valgrind: bool) -> GStack {
        if valgrind {
            self.register();
        }
        self
    }

    #[cold]
    fn register(&mut self) {
        self.valgrind_id = crate::valgrind::register_stack(self.bottom + sys::page_size(), self.top);
    }

    /// The stack goes back to a cache or the pool: valgrind forgets it
    /// (its memory may be released or unmapped later).
    #[inline]
    fn take_back(&mut self) {
        if self.valgrind_id != NOT_REGISTERED {
            crate::valgrind::deregister_stack(std::mem::replace(&mut self.valgrind_id, NOT_REGISTERED));
        }
    }

    /// The guard page's address: it spans `[guard, guard + page_size)`.
    pub(crate) fn guard_page(&self) -> usize {
        self.bottom
    }

    /// The usable range `[lo, hi)`.
    #[cfg(test)]
    pub(crate) fn usable(&self) -> (usize, usize) {
        (self.bottom + sys::page_size(), self.top)
    }
}

/// The smallest usable stack: corosensei's minimum plus room for the
/// runtime's own frames.
pub(crate) const MIN_STACK: usize = 16 << 10;

/// How guards are installed; found out on first use.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum GuardMode {
    Unknown,
    Madvise,
    Mprotect,
}

/// Why no stack could be had.
#[derive(Debug)]
pub struct StackError {
    size: usize,
    cause: Cause,
}

#[derive(Debug)]
enum Cause {
    /// The size, rounded to pages and with its guard page (or a region of
    /// such slots), does not fit in the address space.
    TooLarge,
    /// The kernel refused the mapping.
    Map(io::Error),
}

impl StackError {
    fn too_large(size: usize) -> StackError {
        StackError { size, cause: Cause::TooLarge }
    }

    fn map(size: usize, err: io::Error) -> StackError {
        StackError { size, cause: Cause::Map(err) }
    }
}

impl std::fmt::Display for StackError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let err = match &self.cause {
            Cause::TooLarge => {
                return write!(
                    f,
                    "gort: a goroutine stack of {} bytes is too large: rounded to whole pages, with \
                     its guard page, it does not fit in the address space. Ask for a smaller \
                     stack (Builder::stack_size or the runtime's stack_size); only the pages a \
                     goroutine touches cost memory, so a few MiB is plenty even for deep recursion",
                    self.size
                );
            }
            Cause::Map(err) => err,
        };
        let max_maps = std::fs::read_to_string("/proc/sys/vm/max_map_count")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown".into());
        write!(
            f,
            "gort: cannot map a {} KiB goroutine stack: {}. The kernel refused a new memory \
             mapping: it may be larger than the free address space, the process may have \
             reached its limit on mappings (vm.max_map_count = {}), or, under \
             vm.overcommit_memory=2, on committed memory. Raise the limit with \
             `sudo sysctl -w vm.max_map_count=1048576`, give goroutines smaller stacks \
             (Builder::stack_size), or run fewer goroutines at once",
            self.size >> 10,
            err,
            max_maps
        )
    }
}

impl std::error::Error for StackError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.cause {
            Cause::TooLarge => None,
            Cause::Map(err) => Some(err),
        }
    }
}

impl From<StackError> for io::Error {
    fn from(e: StackError) -> io::Error {
        let kind = match e.cause {
            Cause::TooLarge => io::ErrorKind::InvalidInput,
            Cause::Map(_) => io::ErrorKind::OutOfMemory,
        };
        io::Error::new(kind, e.to_string())
    }
}

struct PoolInner {
    /// Free stacks, used as a LIFO: the warmest stack is reused first.
    free: Vec<GStack>,
    /// `free[..cold]` have had their pages released by [`StackPool::trim`],
    /// and are sorted by address (`stack/trim.rs`).
    cold: usize,
    /// `free[..mark]` were already free at the last trim.
    mark: usize,
    /// Every region, `(base, bytes)`, for unmapping.
    regions: Vec<(usize, usize)>,
    /// Next uncarved slot and the end of the current region.
    carve_next: usize,
    carve_end: usize,
    guard_mode: GuardMode,
    /// Stacks handed out and not yet returned (dedicated ones included).
    in_use: usize,
}

/// The global stack pool of one runtime.
pub(crate) struct StackPool {
    /// Usable bytes per default stack (a multiple of the page size).
    size: usize,
    /// The process runs under valgrind: stacks in use are registered.
    valgrind: bool,
    inner: Lock<PoolInner>,
}

impl StackPool {
    /// Checks that a pool of stacks of `size` bytes can exist: the size
    /// rounds to pages, and a region of its slots fits in the address
    /// space. `RuntimeBuilder::build` calls this before [`StackPool::new`].
    pub(crate) fn check_size(size: usize) -> Result<usize, StackError> {
        let rounded = round_stack_size(size)?;
        region_bytes(rounded + sys::page_size()).ok_or(StackError::too_large(size))?;
        Ok(rounded)
    }

    /// A pool of stacks with `size` usable bytes each (rounded up to pages).
    ///
    /// # Panics
    /// If [`StackPool::check_size`] rejects `size`.
    pub(crate) fn new(size: usize) -> StackPool {
        StackPool {
            size: StackPool::check_size(size).unwrap_or_else(|e| panic!("{e}")),
            valgrind: crate::valgrind::running_on_valgrind(),
            inner: Lock::new(PoolInner {
                free: Vec::new(),
                cold: 0,
                mark: 0,
                regions: Vec::new(),
                carve_next: 0,
                carve_end: 0,
                guard_mode: GuardMode::Unknown,
                in_use: 0,
            }),
        }
    }

    /// Usable bytes of a default stack.
    pub(crate) fn stack_size(&self) -> usize {
        self.size
    }

    /// Takes one default-size stack from the pool, carving a new slot (and
    /// mapping a new region) if the pool is empty.
    pub(crate) fn alloc(&self) -> Result<GStack, StackError> {
        let mut inner = self.inner.lock();
        let s = self.alloc_locked(&mut inner)?;
        inner.in_use += 1;
        drop(inner);
        Ok(s.hand_out(self.valgrind))
    }

    /// Moves up to `n` stacks into `out` (at least one, or an error).
    fn alloc_batch(&self, out: &mut Vec<GStack>, n: usize) -> Result<(), StackError> {
        let mut inner = self.inner.lock();
        for i in 0..n {
            match self.alloc_locked(&mut inner) {
                Ok(s) => {
                    inner.in_use += 1;
                    out.push(s)
                }
                Err(e) if i == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(())
    }

    fn alloc_locked(&self, inner: &mut PoolInner) -> Result<GStack, StackError> {
        if let Some(s) = inner.free.pop() {
            let len = inner.free.len();
            inner.cold = inner.cold.min(len);
            inner.mark = inner.mark.min(len);
            return Ok(s);
        }
        // No overflow: `new` checked that a region of slots fits in the
        // address space, and carve_next stays within the current region.
        let slot = self.size + sys::page_size();
        if inner.carve_end - inner.carve_next < slot {
            let want = region_bytes(slot).expect("checked by StackPool::new");
            let base = map_region(want).map_err(|err| StackError::map(self.size, err))?;
            inner.regions.push((base, want));
            inner.carve_next = base;
            inner.carve_end = base + want;
        }
        let bottom = inner.carve_next;
        install_guard(bottom, &mut inner.guard_mode).map_err(|err| StackError::map(self.size, err))?;
        inner.carve_next += slot;
        Ok(GStack::new(bottom, bottom + slot, false))
    }

    /// Maps a stack of a non-default size for one goroutine. A size that
    /// cannot be rounded, or mapped, is an error (never an overflow).
    pub(crate) fn alloc_dedicated(&self, size: usize) -> Result<GStack, StackError> {
        let size = round_stack_size(size)?;
        // round_stack_size leaves room for the guard page.
        let slot = size + sys::page_size();
        let base = map_region(slot).map_err(|err| StackError::map(size, err))?;
        let mut inner = self.inner.lock();
        if let Err(err) = install_guard(base, &mut inner.guard_mode) {
            // SAFETY: `base..base+slot` is the mapping just made, used by no one.
            unsafe { libc::munmap(base as *mut libc::c_void, slot) };
            return Err(StackError::map(size, err));
        }
        inner.in_use += 1;
        Ok(GStack::new(base, base + slot, true).hand_out(self.valgrind))
    }

    /// Returns one stack to the pool (or unmaps a dedicated one).
    pub(crate) fn free(&self, mut s: GStack) {
        s.take_back();
        let mut inner = self.inner.lock();
        inner.in_use -= 1;
        if s.dedicated {
            drop(inner);
            unmap_dedicated(s);
            return;
        }
        inner.free.push(s);
    }

    /// Returns the stacks drained from `stacks` to the pool.
    fn free_batch(&self, stacks: impl Iterator<Item = GStack>) {
        let mut inner = self.inner.lock();
        for s in stacks {
            debug_assert!(!s.dedicated);
            inner.in_use -= 1;
            inner.free.push(s);
        }
    }

    /// Number of stacks handed out and not returned.
    pub(crate) fn in_use(&self) -> usize {
        self.inner.lock().in_use
    }

    /// Number of stacks waiting in the global pool.
    #[cfg(test)]
    fn pooled(&self) -> usize {
        self.inner.lock().free.len()
    }

    /// Unmaps every region. Must only be called when no goroutine runs on,
    /// or is parked on, a pooled stack; the runtime checks `in_use() == 0`.
    /// Nor while a `trim` runs (it may have unmapped a region it has not
    /// yet dropped from the list): the runtime calls this after sysmon, the
    /// only trimmer, has stopped.
    pub(crate) fn release_all(&self) {
        let mut inner = self.inner.lock();
        assert_eq!(inner.in_use, 0, "stack pool released while stacks are in use");
        inner.free.clear();
        inner.cold = 0;
        inner.mark = 0;
        for (base, len) in inner.regions.drain(..) {
            // SAFETY: the region was mapped by map_region and, with no stack
            // in use, nothing references its memory.
            unsafe { libc::munmap(base as *mut libc::c_void, len) };
        }
        inner.carve_next = 0;
        inner.carve_end = 0;
    }
}

/// A P's private stack cache (Go: `p.mcache.stackcache`). Owner-only.
#[derive(Default)]
pub(crate) struct StackCache {
    stacks: Vec<GStack>,
}

impl StackCache {
    /// A stack from the cache, refilling it from `pool` when empty.
    #[inline]
    pub(crate) fn alloc(&mut self, pool: &StackPool) -> Result<GStack, StackError> {
        if let Some(s) = self.stacks.pop() {
            return Ok(s.hand_out(pool.valgrind));
        }
        pool.alloc_batch(&mut self.stacks, CACHE_BATCH)?;
        Ok(self.stacks.pop().expect("alloc_batch yields at least one stack").hand_out(pool.valgrind))
    }

    /// Caches `s`, spilling half the cache to `pool` when it is full.
    #[inline]
    pub(crate) fn free(&mut self, pool: &StackPool, mut s: GStack) {
        s.take_back();
        if s.dedicated {
            pool.free(s);
            return;
        }
        self.stacks.push(s);
        if self.stacks.len() > CACHE_MAX {
            let keep = self.stacks.len() - CACHE_BATCH;
            pool.free_batch(self.stacks.drain(keep..));
        }
    }

    /// Returns every cached stack to `pool`.
    pub(crate) fn flush(&mut self, pool: &StackPool) {
        pool.free_batch(self.stacks.drain(..));
    }
}

/// Rounds a requested stack size to whole pages, at least [`MIN_STACK`].
/// An error if the rounded size plus its guard page overflows `usize`, or
/// exceeds `isize::MAX` (no mapping can be that large), so that every size
/// the pool computes from an accepted one is exact.
pub(crate) fn round_stack_size(size: usize) -> Result<usize, StackError> {
    let page = sys::page_size();
    size.max(MIN_STACK)
        .div_ceil(page)
        .checked_mul(page)
        .filter(|&r| r.checked_add(page).is_some_and(|slot| slot <= isize::MAX as usize))
        .ok_or(StackError::too_large(size))
}

/// Bytes of a region of `slot`-byte slots: about [`REGION_BYTES`], at
/// least 16 slots. None if that does not fit in `isize`.
fn region_bytes(slot: usize) -> Option<usize> {
    (REGION_BYTES / slot).max(16).checked_mul(slot).filter(|&b| b <= isize::MAX as usize)
}

fn map_region(len: usize) -> io::Result<usize> {
    // SAFETY: an anonymous private mapping at a kernel-chosen address
    // aliases nothing; MAP_NORESERVE defers the commit charge to first touch.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(p as usize)
}

fn install_guard(page: usize, mode: &mut GuardMode) -> io::Result<()> {
    let len = sys::page_size();
    if *mode != GuardMode::Mprotect {
        // SAFETY: `page` is the first page of a slot in a mapping we own and
        // that no one uses yet; a guard there only makes later access fault.
        let r = unsafe { libc::madvise(page as *mut libc::c_void, len, sys::MADV_GUARD_INSTALL) };
        if r == 0 {
            *mode = GuardMode::Madvise;
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if *mode == GuardMode::Madvise || err.raw_os_error() != Some(libc::EINVAL) {
            return Err(err);
        }
        // The kernel predates guard regions: use mprotect from now on.
        *mode = GuardMode::Mprotect;
    }
    // SAFETY: `page` is the first page of a slot in a mapping we own that
    // nobody uses yet; PROT_NONE there only makes later access fault.
    let r = unsafe { libc::mprotect(page as *mut libc::c_void, len, libc::PROT_NONE) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn unmap_dedicated(s: GStack) {
    // SAFETY: a dedicated stack is its own mapping, `[bottom, top)`, and the
    // goroutine that used it has finished.
    unsafe { libc::munmap(s.bottom as *mut libc::c_void, s.top - s.bottom) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacks_are_reused_lifo() {
        let pool = StackPool::new(64 << 10);
        let a = pool.alloc().unwrap();
        let top = a.top;
        assert_eq!(a.top - a.bottom, pool.stack_size() + sys::page_size());
        pool.free(a);
        let b = pool.alloc().unwrap();
        assert_eq!(b.top, top);
        pool.free(b);
        assert_eq!(pool.in_use(), 0);
        pool.release_all();
    }

    #[test]
    fn usable_range_is_writable() {
        let pool = StackPool::new(32 << 10);
        let s = pool.alloc().unwrap();
        let (lo, hi) = s.usable();
        // SAFETY: [lo, hi) is the usable, writable part of a stack we own.
        unsafe { std::ptr::write_bytes(lo as *mut u8, 0xAB, hi - lo) };
        pool.free(s);
        pool.release_all();
    }

    #[test]
    fn cache_spills_and_refills() {
        let pool = StackPool::new(16 << 10);
        let mut cache = StackCache::default();
        let stacks: Vec<_> = (0..100).map(|_| cache.alloc(&pool).unwrap()).collect();
        assert_eq!(pool.in_use(), 100 + cache.stacks.len());
        for s in stacks {
            cache.free(&pool, s);
        }
        assert!(cache.stacks.len() <= CACHE_MAX);
        cache.flush(&pool);
        assert_eq!(pool.in_use(), 0);
        assert!(pool.pooled() >= 100);
        pool.release_all();
    }

    #[test]
    fn dedicated_stacks_have_their_own_size() {
        let pool = StackPool::new(16 << 10);
        let s = pool.alloc_dedicated(1 << 20).unwrap();
        let (lo, hi) = s.usable();
        assert_eq!(hi - lo, 1 << 20);
        pool.free(s);
        assert_eq!(pool.in_use(), 0);
        pool.release_all();
    }
}
