//! ThreadSanitizer's view of goroutine stack switches (built only under
//! `-Zsanitizer=thread`, `cfg(gort_tsan)`; see build.rs).
//!
//! Go: runtime/race.go (`racegostart`, `racegoend`: Go tells its race
//! detector about each goroutine). corosensei annotates switches for
//! AddressSanitizer but not for ThreadSanitizer, which otherwise sees one
//! thread's accesses jump between stacks and goroutines migrate between
//! threads without knowing why. Each goroutine gets a TSan fiber when its
//! coroutine is built; the scheduler switches to it just before resuming
//! the goroutine and back to its thread's own fiber as soon as `resume`
//! returns; the fiber is destroyed with the coroutine. Both switches are on
//! the scheduler's side of `resume`, so the instrumented function entries
//! and exits TSan records on each fiber's shadow stack stay balanced (a
//! switch made inside the goroutine, before its final return, would pop
//! the scheduler's frames off the thread's shadow stack). Switches use
//! TSan's default (synchronising) flag: a goroutine and the scheduler that
//! runs it take turns on one thread.

use std::cell::Cell;
use std::ffi::c_void;

unsafe extern "C" {
    fn __tsan_get_current_fiber() -> *mut c_void;
    fn __tsan_create_fiber(flags: u32) -> *mut c_void;
    fn __tsan_destroy_fiber(fiber: *mut c_void);
    fn __tsan_switch_to_fiber(fiber: *mut c_void, flags: u32);
}

thread_local! {
    /// This thread's own fiber (its original stack), once known.
    static THREAD_FIBER: Cell<*mut c_void> = const { Cell::new(std::ptr::null_mut()) };
}

/// A fiber for a new goroutine.
pub(crate) fn create() -> *mut c_void {
    // SAFETY: creating a fiber has no preconditions.
    unsafe { __tsan_create_fiber(0) }
}

/// Destroys a finished goroutine's fiber (not the current one).
pub(crate) fn destroy(fiber: *mut c_void) {
    if !fiber.is_null() {
        // SAFETY: the goroutine has returned; nothing runs on its fiber.
        unsafe { __tsan_destroy_fiber(fiber) }
    }
}

/// The scheduler is about to resume the goroutine whose fiber is `fiber`.
/// Always inlined, as is [`to_thread`]: an instrumented function that
/// switched fibers would record its entry on one fiber's shadow stack and
/// its exit on the other's.
#[inline(always)]
pub(crate) fn to_goroutine(fiber: *mut c_void) {
    THREAD_FIBER.with(|t| {
        if t.get().is_null() {
            // SAFETY: called on the scheduler's own stack: the current
            // fiber is this thread's.
            t.set(unsafe { __tsan_get_current_fiber() });
        }
    });
    // SAFETY: `fiber` was made by `create` and not destroyed; the switch
    // follows at once.
    unsafe { __tsan_switch_to_fiber(fiber, 0) }
}

/// `resume` returned: the scheduler runs on its thread's fiber again.
#[inline(always)]
pub(crate) fn to_thread() {
    let t = THREAD_FIBER.with(Cell::get);
    // SAFETY: `to_goroutine` recorded this thread's fiber before the
    // resume that just returned.
    unsafe { __tsan_switch_to_fiber(t, 0) }
}
