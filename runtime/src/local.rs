//! Goroutine-local storage: `gort::local!`, the safe replacement for
//! `thread_local!` inside goroutines.
//!
//! Go has no goroutine-local storage; gort needs it because a goroutine
//! migrates between OS threads at every park, so a `thread_local!` read
//! before a channel receive and after it may be two different threads'
//! values (see the safety model in the crate docs).
//!
//! Each [`LocalKey`] gets a process-wide index on first use; each G holds a
//! vector of lazily initialised slots. On a plain thread the thread's
//! stand-in G holds them, so the same key works there too. Values are
//! dropped when the goroutine finishes, on its own stack, so their
//! destructors may use the runtime.
//!
//! Invariant: a G's slots are touched only by the G itself (the goroutine
//! or the thread it stands for), so no locking is needed; a slot's value is
//! boxed, so growing the vector never moves a value that is borrowed.

use std::any::Any;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The slots of one G.
#[derive(Default)]
pub struct Locals {
    slots: Vec<Option<Box<dyn Any>>>,
}

static NEXT_KEY: AtomicUsize = AtomicUsize::new(1);

/// A goroutine-local value, declared with [`local!`](crate::local!).
pub struct LocalKey<T: 'static> {
    init: fn() -> T,
    index: AtomicUsize,
}

impl<T: 'static> LocalKey<T> {
    #[doc(hidden)]
    pub const fn new(init: fn() -> T) -> LocalKey<T> {
        LocalKey { init, index: AtomicUsize::new(0) }
    }

    fn index(&self) -> usize {
        let i = self.index.load(Ordering::Acquire);
        if i != 0 {
            return i - 1;
        }
        let fresh = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
        match self.index.compare_exchange(0, fresh, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => fresh - 1,
            Err(won) => won - 1,
        }
    }

    /// Calls `f` with the current goroutine's value, initialising it first
    /// if this goroutine has not used the key yet.
    pub fn with<R>(&'static self, f: impl FnOnce(&T) -> R) -> R {
        let i = self.index();
        let g = crate::gopark::current_g();
        // SAFETY: g is the caller itself (a goroutine or this thread's
        // stand-in), the only one to touch its slots (module invariant).
        let slots = unsafe { &mut *g.get().locals.get() };
        let present = slots.slots.get(i).is_some_and(|s| s.is_some());
        if !present {
            // Run init without borrowing the slots: it may use other keys.
            let v: Box<dyn Any> = Box::new((self.init)());
            // SAFETY: g is still the caller, the only one to touch its slots,
            // and the first borrow ended before `init` ran, so this is the
            // only live borrow.
            let slots = unsafe { &mut *g.get().locals.get() };
            if slots.slots.len() <= i {
                slots.slots.resize_with(i + 1, || None);
            }
            if slots.slots[i].is_none() {
                slots.slots[i] = Some(v);
            }
        }
        // SAFETY: g is still the caller, the only one to touch its slots, and
        // the mutable borrow above has ended. The value is boxed: later
        // growth of the vector (a nested `with` on another key) does not move
        // it, and slots are only removed when the goroutine ends.
        let v: *const T = unsafe { &*g.get().locals.get() }.slots[i]
            .as_ref()
            .and_then(|b| b.downcast_ref::<T>())
            .expect("local slot holds its key's type");
        // SAFETY: `v` points into the boxed value of this goroutine's slot,
        // which stays in place and is not removed while `f` runs (only the
        // goroutine's end removes slots).
        f(unsafe { &*v })
    }
}

/// Drops the goroutine's locals (at its end). Destructors may initialise
/// other locals; repeat a few rounds, as thread-local destructors do, then
/// leak what is still there: the G is reused, and the next goroutine must
/// start with no value of this one's.
pub(crate) fn drop_locals(g: &crate::g::G) {
    for _ in 0..8 {
        // SAFETY: called by the goroutine itself as it finishes.
        let slots = std::mem::take(unsafe { &mut *g.locals.get() });
        if slots.slots.iter().all(Option::is_none) {
            return;
        }
        drop(slots);
    }
    // SAFETY: still called by the finishing goroutine itself, the only user
    // of its slots; the loop's borrows have all ended.
    std::mem::forget(std::mem::take(unsafe { &mut *g.locals.get() }));
}

/// Declares goroutine-local values, like `thread_local!`:
///
/// ```
/// use std::cell::Cell;
/// gort_runtime::local! {
///     static COUNTER: Cell<u32> = Cell::new(0);
/// }
/// COUNTER.with(|c| c.set(c.get() + 1));
/// assert_eq!(COUNTER.with(|c| c.get()), 1);
/// ```
#[macro_export]
macro_rules! local {
    () => {};
    ($(#[$attr:meta])* $vis:vis static $name:ident : $t:ty = $init:expr; $($rest:tt)*) => {
        $(#[$attr])* $vis static $name: $crate::LocalKey<$t> = $crate::LocalKey::new({
            fn __init() -> $t { $init }
            __init
        });
        $crate::local!($($rest)*);
    };
    ($(#[$attr:meta])* $vis:vis static $name:ident : $t:ty = $init:expr) => {
        $crate::local!($(#[$attr])* $vis static $name : $t = $init;);
    };
}
