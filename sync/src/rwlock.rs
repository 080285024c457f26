//! `RwLock<T>`: Go's sync.RWMutex, owning the data it protects.
//!
//! Go: sync/rwmutex.go.
//!
//! ## Algorithm
//!
//! Any number of readers or one writer. **Writer-preferring**: once a
//! writer is waiting, new readers wait too (readers already inside are
//! never preempted), so a stream of readers cannot starve writers. The
//! consequence, as in Go: taking a read lock while already holding one can
//! deadlock behind a waiting writer; do not lock recursively.
//!
//! - `w`, a [`RawMutex`], serialises writers.
//! - `reader_count` counts readers (inside or waiting); a writer subtracts
//!   [`MAX_READERS`] to announce itself, so a negative count tells arriving
//!   readers to wait on `reader_sem`.
//! - `reader_wait` counts the readers a pending writer still waits for
//!   ("departing readers"); the last of them releases `writer_sem`. It may
//!   go transiently negative when readers leave between the writer's two
//!   adds; the sum still reaches 0 exactly once.
//! - A writer's unlock adds [`MAX_READERS`] back and releases `reader_sem`
//!   once for each reader that queued meanwhile, then unlocks `w`.
//!
//! Counter updates happen inside `w` (the writer takes `w` before touching
//! them and releases it after), so writers never race on them.
//!
//! ## Orderings
//!
//! All read-modify-writes on the counters are AcqRel: a reader that enters
//! reads (through the release sequence of `reader_count`) the last writer's
//! unlock, and a writer that sees no readers reads their departures. When
//! either side must wait, the runtime semaphore's release/acquire pair
//! carries the happens-before edge.
//!
//! ## What guards rule out
//!
//! Go's fatal errors "sync: RUnlock of unlocked RWMutex" and "sync: Unlock
//! of unlocked RWMutex" come from unlocking a lock not held, or with the
//! wrong kind of unlock. Here a read lock is released only by dropping its
//! [`RwLockReadGuard`] and a write lock only by dropping its
//! [`RwLockWriteGuard`], so neither mistake can be expressed.

use std::cell::UnsafeCell;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

use gort_runtime::engine::{WaitReason, semacquire, semrelease};
use gort_runtime::preempt_point;

use crate::mutex::RawMutex;

/// The most readers the lock admits at once (Go: `rwmutexMaxReaders`).
pub const MAX_READERS: i32 = 1 << 30;

/// A reader-writer lock protecting a `T`, Go's `sync.RWMutex` with the data
/// inside. See the module docs.
///
/// ```
/// use gort_sync::RwLock;
///
/// let config = RwLock::new(String::from("v1"));
/// {
///     let a = config.read();
///     let b = config.read(); // readers share
///     assert_eq!(*a, *b);
/// }
/// config.write().push_str("-patched");
/// assert_eq!(*config.read(), "v1-patched");
/// ```
///
/// Go's fatal RWMutex misuse (TestMutexMisuse's `RWMutex.Unlock`,
/// `RWMutex.RUnlock`, `RWMutex.Unlock2`, `RWMutex.RUnlock2`, ... cases)
/// cannot be written: a read lock is released only by its read guard, a
/// write lock only by its write guard, each once; and a read guard gives no
/// write access.
///
/// ```compile_fail
/// let rw = gort_sync::RwLock::new(0);
/// let r = rw.read();
/// drop(r);
/// drop(r); // error: use of moved value (Go: RUnlock of unlocked RWMutex)
/// ```
///
/// ```compile_fail
/// let rw = gort_sync::RwLock::new(0);
/// let mut r = rw.read();
/// *r += 1; // error: cannot assign through a read guard
/// ```
pub struct RwLock<T: ?Sized> {
    // -- writers' side --
    /// Serialises writers (Go: `w`); a writer holds it from its lock to
    /// its unlock, so the writer-side updates below never race each other.
    w: RawMutex,
    /// The departing readers' last one releases it; the pending writer
    /// waits on it (Go: `writerSem`). Runtime semaphore word.
    writer_sem: AtomicU32,
    // -- readers' side --
    /// Released by a writer's unlock, once per reader that queued while it
    /// held the lock; readers wait on it (Go: `readerSem`). Runtime
    /// semaphore word.
    reader_sem: AtomicU32,
    /// Readers inside or waiting, minus `MAX_READERS` while a writer is
    /// pending or inside (Go: `readerCount`). Readers add and subtract
    /// without a lock; a writer adds and subtracts `MAX_READERS` holding
    /// `w`. AcqRel read-modify-writes only.
    reader_count: AtomicI32,
    /// Readers the pending writer still waits for (Go: `readerWait`): set
    /// by the writer (holding `w`), decremented by departing readers.
    /// AcqRel read-modify-writes only.
    reader_wait: AtomicI32,
    // -- the protected value --
    /// Read through a read guard, written through the write guard.
    data: UnsafeCell<T>,
}

// SAFETY: readers share `&T` across threads (T: Sync) and a writer gets
// `&mut T` on whichever thread it runs (T: Send), as for std's RwLock.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}
// SAFETY: moving the lock moves the T.
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}

impl<T> RwLock<T> {
    /// An unlocked lock holding `value`.
    pub const fn new(value: T) -> RwLock<T> {
        RwLock {
            w: RawMutex::new(),
            writer_sem: AtomicU32::new(0),
            reader_sem: AtomicU32::new(0),
            reader_count: AtomicI32::new(0),
            reader_wait: AtomicI32::new(0),
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the lock, returning the data.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Locks for reading, waiting while a writer holds the lock or waits
    /// for it. Go: `RLock`.
    #[inline]
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        if self.reader_count.fetch_add(1, Ordering::AcqRel) < 0 {
            // A writer is pending: wait for it to finish.
            self.read_slow();
        }
        RwLockReadGuard { lock: self }
    }

    #[cold]
    #[inline(never)]
    fn read_slow(&self) {
        preempt_point();
        semacquire(&self.reader_sem, false, WaitReason::SyncRWMutexRLock);
    }

    /// Locks for reading if no writer holds or waits for the lock. Go:
    /// `TryRLock`.
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        let mut c = self.reader_count.load(Ordering::Relaxed);
        loop {
            if c < 0 {
                return None;
            }
            match self.reader_count.compare_exchange_weak(c, c + 1, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return Some(RwLockReadGuard { lock: self }),
                Err(cur) => c = cur,
            }
        }
    }

    /// Unlocks a read lock. Go: `RUnlock`.
    ///
    /// # Safety
    /// A read lock must be held on the caller's behalf.
    #[inline]
    unsafe fn read_unlock(&self) {
        let r = self.reader_count.fetch_sub(1, Ordering::AcqRel) - 1;
        if r < 0 {
            self.read_unlock_slow(r);
        }
    }

    #[cold]
    #[inline(never)]
    fn read_unlock_slow(&self, r: i32) {
        if r + 1 == 0 || r + 1 == -MAX_READERS {
            crate::fatal("sync: RUnlock of unlocked RWMutex");
        }
        // A writer is pending; the last departing reader lets it in.
        if self.reader_wait.fetch_sub(1, Ordering::AcqRel) - 1 == 0 {
            semrelease(&self.writer_sem, false);
        }
    }

    /// Locks for writing, waiting until no reader or writer holds the
    /// lock. New readers wait from the moment this is called. Go: `Lock`.
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        // First, resolve competition with other writers.
        self.w.lock(WaitReason::SyncRWMutexLock);
        // Announce to readers there is a pending writer.
        let r = self.reader_count.fetch_sub(MAX_READERS, Ordering::AcqRel);
        // Wait for active readers.
        if r != 0 && self.reader_wait.fetch_add(r, Ordering::AcqRel) + r != 0 {
            preempt_point();
            semacquire(&self.writer_sem, false, WaitReason::SyncRWMutexLock);
        }
        RwLockWriteGuard { lock: self }
    }

    /// Locks for writing if nobody holds or waits for the lock. Go:
    /// `TryLock`.
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        if !self.w.try_lock() {
            return None;
        }
        if self.reader_count.compare_exchange(0, -MAX_READERS, Ordering::AcqRel, Ordering::Relaxed).is_err() {
            // SAFETY: we locked `w` just above.
            unsafe { self.w.unlock() };
            return None;
        }
        Some(RwLockWriteGuard { lock: self })
    }

    /// Unlocks a write lock. Go: `Unlock`.
    ///
    /// # Safety
    /// The write lock must be held on the caller's behalf.
    unsafe fn write_unlock(&self) {
        // Announce to readers there is no active writer.
        let r = self.reader_count.fetch_add(MAX_READERS, Ordering::AcqRel) + MAX_READERS;
        if r >= MAX_READERS {
            crate::fatal("sync: Unlock of unlocked RWMutex");
        }
        // Unblock the readers that queued meanwhile.
        for _ in 0..r {
            semrelease(&self.reader_sem, false);
        }
        // Allow other writers to proceed.
        // SAFETY: the write lock includes `w`.
        unsafe { self.w.unlock() };
    }

    /// Mutable access without locking: `&mut self` proves exclusivity.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> Self {
        RwLock::new(T::default())
    }
}

impl<T> From<T> for RwLock<T> {
    fn from(value: T) -> Self {
        RwLock::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.try_read() {
            Some(g) => d.field("data", &&*g),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish_non_exhaustive()
    }
}

/// A read lock on an [`RwLock`]; dropping it unlocks (Go: `RUnlock`).
#[must_use = "dropping the guard unlocks at once"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
}

// SAFETY: a read guard only gives `&T`; moving it to another thread (which
// then unlocks, as Go allows) shares T across threads: T: Sync.
unsafe impl<T: ?Sized + Sync> Send for RwLockReadGuard<'_, T> {}
// SAFETY: `&RwLockReadGuard` gives only `&T`, as the guard itself does, so
// sharing it across threads shares T: T: Sync.
unsafe impl<T: ?Sized + Sync> Sync for RwLockReadGuard<'_, T> {}

impl<'a, T: ?Sized> RwLockReadGuard<'a, T> {
    pub(crate) fn lock(&self) -> &'a RwLock<T> {
        self.lock
    }
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: a read lock is held, so no writer has `&mut T`.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: a live read guard means we hold a read lock.
        unsafe { self.lock.read_unlock() }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// A write lock on an [`RwLock`]; dropping it unlocks (Go: `Unlock`).
#[must_use = "dropping the guard unlocks at once"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
}

// SAFETY: the write guard gives `&mut T` on whichever thread holds it.
unsafe impl<T: ?Sized + Send + Sync> Send for RwLockWriteGuard<'_, T> {}
// SAFETY: sharing the guard shares `&T`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockWriteGuard<'_, T> {}

impl<'a, T: ?Sized> RwLockWriteGuard<'a, T> {
    pub(crate) fn lock(&self) -> &'a RwLock<T> {
        self.lock
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the write lock is held: no other reference exists.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the write lock is held and `&mut self` is unique.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: a live write guard means we hold the write lock.
        unsafe { self.lock.write_unlock() }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
