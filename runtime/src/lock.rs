//! The runtime's own mutex and its one-shot event, both on a futex.
//!
//! Go: runtime/lock_futex.go (`lock2`, `unlock2`, `note`).
//!
//! [`RawLock`] protects short runtime critical sections (a channel, the
//! scheduler's idle lists, a semaphore root). It blocks the OS thread, never
//! the goroutine, so it must never be held across a goroutine park; the one
//! exception is the park hand-off, where the lock is released by the unlock
//! callback that the scheduler runs after the goroutine is off its stack
//! (see [`crate::gopark`]).
//!
//! [`RawLock`] unlocks with a plain store while no thread sleeps on it;
//! its protocol, shared with the loom model, is in [`crate::lockword`].
//!
//! [`Note`] is Go's `note`: one sleep paired with one wake-up, in either
//! order. Key 0 means not signalled, 1 signalled.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::lockword::{self, FutexWord};
use crate::sys;

/// Spins before sleeping, as Go's `active_spin` / `active_spin_cnt`.
const ACTIVE_SPIN: u32 = 4;
const ACTIVE_SPIN_CNT: u32 = 30;

/// A futex mutex without data: lock and unlock are explicit, so a lock taken
/// on a goroutine's stack can be released by the scheduler after the
/// goroutine has parked. Go: runtime `mutex`. See the `lockword` module
/// for the protocol.
pub struct RawLock {
    key: AtomicU32,
}

/// Threads in the sleeping phase of `lock`, counted per bucket of lock
/// addresses rather than in the lock: an unlock reads the count after its
/// releasing store, when the lock's memory may already be freed (a parked
/// goroutine's channel, released by the scheduler's park callback, can be
/// dropped by the goroutine it readies before `unlock` returns; found by
/// AddressSanitizer). These counters are never freed. Locks that share a
/// bucket only cost each other a contended unlock or a futex wake-up that
/// finds nobody.
static SLEEPERS: [AtomicU32; 256] = [const { AtomicU32::new(0) }; 256];

impl RawLock {
    /// An unlocked lock.
    pub const fn new() -> Self {
        RawLock { key: AtomicU32::new(lockword::UNLOCKED) }
    }

    /// The sleeper count of this lock's bucket (one per 64 bytes of address).
    #[inline]
    fn sleepers(&self) -> &'static AtomicU32 {
        &SLEEPERS[(&self.key as *const AtomicU32 as usize >> 6) % SLEEPERS.len()]
    }

    /// Acquires the lock, blocking the OS thread while another holds it.
    #[inline]
    pub fn lock(&self) {
        if !lockword::try_lock(&self.key) {
            lockword::lock_slow(&self.key, self.sleepers(), ACTIVE_SPIN, ACTIVE_SPIN_CNT);
        }
    }

    /// Acquires the lock if it is free.
    #[inline]
    pub fn try_lock(&self) -> bool {
        lockword::try_lock(&self.key)
    }

    /// Releases the lock.
    ///
    /// # Safety
    /// The caller must hold the lock (it may have been taken on another
    /// stack of the same logical owner, e.g. before a goroutine parked).
    #[inline]
    pub unsafe fn unlock(&self) {
        lockword::unlock(&self.key, self.sleepers());
    }

    /// Whether the lock is held, read with Acquire: false means every
    /// critical section that released it happened before the caller's
    /// next access.
    pub(crate) fn is_held_acquire(&self) -> bool {
        self.key.load(Ordering::Acquire) != lockword::UNLOCKED
    }

    /// Whether the lock is held by someone (for assertions only).
    pub fn is_locked(&self) -> bool {
        self.key.load(Ordering::Relaxed) != lockword::UNLOCKED
    }
}

/// The runtime's futex word: a std atomic and Linux futexes.
impl FutexWord for AtomicU32 {
    #[inline]
    fn load(&self, order: Ordering) -> u32 {
        AtomicU32::load(self, order)
    }
    #[inline]
    fn store(&self, v: u32, order: Ordering) {
        AtomicU32::store(self, v, order)
    }
    #[inline]
    fn swap(&self, v: u32, order: Ordering) -> u32 {
        AtomicU32::swap(self, v, order)
    }
    #[inline]
    fn cas(&self, old: u32, new: u32, success: Ordering, failure: Ordering) -> bool {
        self.compare_exchange(old, new, success, failure).is_ok()
    }
    #[inline]
    fn fetch_add(&self, v: u32, order: Ordering) -> u32 {
        AtomicU32::fetch_add(self, v, order)
    }
    #[inline]
    fn fetch_sub(&self, v: u32, order: Ordering) -> u32 {
        AtomicU32::fetch_sub(self, v, order)
    }
    fn wait(&self, expected: u32) {
        // Tell sysmon that this M sleeps on a runtime lock, not in a
        // blocking call, so it keeps its P (`P::lock_sleeps`). Slow path
        // only: the lock was contended and we are about to sleep.
        // The thread sleeps inside `with_m`'s closure: it blocks the
        // thread, not the goroutine, so the M stays the same.
        crate::m::with_m(|ml| {
            let p = ml.and_then(|ml| ml.p());
            if let Some(p) = p {
                p.lock_sleeps.fetch_add(1, Ordering::Relaxed);
            }
            sys::futex_wait(self, expected, None);
            if let Some(p) = p {
                p.lock_sleeps.fetch_sub(1, Ordering::Relaxed);
            }
        })
    }
    #[cold]
    fn wake_one(&self) {
        sys::futex_wake(self, 1);
    }
    fn pause(spins: u32) {
        if spins == 0 { sys::osyield() } else { sys::procyield(spins) }
    }
}

impl Default for RawLock {
    fn default() -> Self {
        Self::new()
    }
}

/// Data behind a [`RawLock`]. Go: a struct whose first field is a `mutex`.
pub struct Lock<T: ?Sized> {
    raw: RawLock,
    data: UnsafeCell<T>,
}

// SAFETY: the lock serialises all access to `data`, so sharing a Lock is
// sound whenever T may be sent between threads, as for std's Mutex.
unsafe impl<T: ?Sized + Send> Sync for Lock<T> {}
// SAFETY: moving the Lock moves T; requires T: Send.
unsafe impl<T: ?Sized + Send> Send for Lock<T> {}

impl<T> Lock<T> {
    /// Wraps `data` in an unlocked lock.
    pub const fn new(data: T) -> Self {
        Lock { raw: RawLock::new(), data: UnsafeCell::new(data) }
    }
}

impl<T: ?Sized> Lock<T> {
    /// Acquires the lock.
    #[inline]
    pub fn lock(&self) -> LockGuard<'_, T> {
        self.raw.lock();
        LockGuard { lock: self }
    }

    /// Acquires the lock if it is free.
    #[inline]
    pub fn try_lock(&self) -> Option<LockGuard<'_, T>> {
        // `then`, not `then_some`: a guard built eagerly would unlock the
        // holder's lock when dropped.
        self.raw.try_lock().then(|| LockGuard { lock: self })
    }

    /// The underlying lock, for callers that release it from a park
    /// callback (see [`LockGuard::leak`]).
    pub fn raw(&self) -> &RawLock {
        &self.raw
    }

    /// Mutable access without locking: `&mut self` proves exclusivity.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

/// Proof that a [`Lock`] is held; unlocks on drop.
pub struct LockGuard<'a, T: ?Sized> {
    lock: &'a Lock<T>,
}

impl<'a, T: ?Sized> LockGuard<'a, T> {
    /// Gives up the guard without unlocking and returns the raw lock, which
    /// the caller must unlock exactly once, typically from the unlock
    /// callback of [`crate::engine::park()`]. Go: `goparkunlock(&c.lock)`.
    pub fn leak(self) -> &'a RawLock {
        let raw = &self.lock.raw;
        std::mem::forget(self);
        raw
    }
}

impl<T: ?Sized> Deref for LockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while the lock is held.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for LockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard exists only while the lock is held, and `&mut
        // self` makes this the only reference through it.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for LockGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: a live guard means we hold the lock.
        unsafe { self.lock.raw.unlock() }
    }
}

/// One sleep paired with one wake-up, in either order. Go: `note`.
///
/// `wakeup` stores 1 with Release and the sleeper's Acquire load of 1
/// pairs with it, so whatever the waker wrote before waking is visible to
/// the sleeper after it returns.
pub struct Note {
    key: AtomicU32,
}

impl Note {
    /// A cleared note.
    pub const fn new() -> Self {
        Note { key: AtomicU32::new(0) }
    }

    /// Re-arms the note. Only the sleeper calls it, after its sleep returned.
    pub fn clear(&self) {
        self.key.store(0, Ordering::Relaxed);
    }

    /// Signals the note, waking the sleeper if there is one.
    pub fn wakeup(&self) {
        if self.key.swap(1, Ordering::Release) == 0 {
            sys::futex_wake(&self.key, 1);
        }
    }

    /// Blocks the thread until the note is signalled.
    pub fn sleep(&self) {
        while self.key.load(Ordering::Acquire) == 0 {
            sys::futex_wait(&self.key, 0, None);
        }
    }

    /// Blocks until the note is signalled or `timeout` passes; returns
    /// whether it was signalled.
    pub fn sleep_timeout(&self, timeout: Duration) -> bool {
        let deadline = sys::nanotime().saturating_add(timeout.as_nanos().min(i64::MAX as u128) as i64);
        loop {
            if self.key.load(Ordering::Acquire) != 0 {
                return true;
            }
            let now = sys::nanotime();
            if now >= deadline {
                return self.key.load(Ordering::Acquire) != 0;
            }
            sys::futex_wait(&self.key, 0, Some(Duration::from_nanos((deadline - now) as u64)));
        }
    }

    /// Whether the note has been signalled.
    pub fn is_signalled(&self) -> bool {
        self.key.load(Ordering::Acquire) != 0
    }
}

impl Default for Note {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn lock_serialises_threads() {
        let l = Arc::new(Lock::new(0u64));
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let l = l.clone();
                std::thread::spawn(move || {
                    for _ in 0..100_000 {
                        *l.lock() += 1;
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(*l.lock(), 400_000);
    }

    #[test]
    fn try_lock_fails_while_held_and_leaves_the_holder_locked() {
        let l = Lock::new(());
        let g = l.lock();
        assert!(l.try_lock().is_none());
        // The failed attempt must not have released the holder's lock.
        assert!(l.raw().is_locked());
        assert!(l.try_lock().is_none());
        drop(g);
        assert!(!l.raw().is_locked());
        assert!(l.try_lock().is_some());
    }

    #[test]
    fn note_wakeup_before_sleep_is_kept() {
        let n = Note::new();
        n.wakeup();
        n.sleep();
        assert!(n.is_signalled());
        n.clear();
        assert!(!n.sleep_timeout(Duration::from_millis(1)));
    }

    #[test]
    fn note_wakes_a_sleeping_thread() {
        let n = Arc::new(Note::new());
        let n2 = n.clone();
        let h = std::thread::spawn(move || n2.sleep());
        std::thread::sleep(Duration::from_millis(5));
        n.wakeup();
        h.join().unwrap();
    }
}
