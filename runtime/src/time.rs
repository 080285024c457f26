//! The clock every gort timer reads: the real monotonic clock, or, inside a
//! synctest bubble, the bubble's fake one.
//!
//! Go: runtime/time.go (`time_now` and `nanotime`'s bubble checks),
//! time/time.go (`Now`, `Since`, `Until`).
//!
//! Deadlines inside the runtime are `i64` nanoseconds on
//! [`crate::engine::nanotime`]'s scale. A bubble's clock uses the same scale: it
//! starts at the real reading when the bubble starts and then moves only
//! when the bubble is idle (see [`crate::synctest`]). Its `Instant`s are
//! the real `Instant` of the bubble's start plus the fake time elapsed, so
//! arithmetic between instants of one bubble is exact, and an `Instant`
//! computed outside (a deadline passed in) converts by its distance from
//! that start.
//!
//! Outside bubbles each function costs what it did before bubbles existed
//! plus one load of a global that nobody writes while no bubble is alive
//! (`synctest::LIVE`).

use std::time::{Duration, Instant, SystemTime};

use crate::synctest::{Bubble, current_ptr};

/// The current time: `Instant::now()`, or inside a synctest bubble the
/// bubble's clock (Go: `time.Now` in a bubble).
#[inline]
pub fn now() -> Instant {
    match bubble() {
        Some(b) => b.now_instant(),
        None => Instant::now(),
    }
}

/// Time elapsed since `t` on [`now`]'s clock, zero if `t` is later.
pub fn since(t: Instant) -> Duration {
    now().saturating_duration_since(t)
}

/// Time left until `t` on [`now`]'s clock, zero if `t` has passed.
pub fn until(t: Instant) -> Duration {
    t.saturating_duration_since(now())
}

/// The wall clock: `SystemTime::now()`, or inside a bubble midnight UTC,
/// 2000-01-01, plus the bubble's elapsed time (Go's bubbles start there).
pub fn system_now() -> SystemTime {
    match bubble() {
        Some(b) => b.now_system(),
        None => SystemTime::now(),
    }
}

/// The clock and deadlines in [`crate::engine::nanotime`] units, the
/// scale of timer deadlines: for primitives, which reach them through
/// [`crate::engine`].
pub(crate) mod ns {
    use std::time::{Duration, Instant};

    use crate::synctest::Bubble;

    /// [`now`](super::now) in [`crate::engine::nanotime`] units: the scale of timer deadlines.
    #[inline]
    pub fn now_nanos() -> i64 {
        match super::bubble() {
            Some(b) => b.now_nanos(),
            None => crate::sys::nanotime(),
        }
    }

    /// The deadline `d` from now, for [`crate::timer::TimerNode::reset`] and
    /// `park_timeout`: saturates rather than overflow.
    #[inline]
    pub fn when_after(d: Duration) -> i64 {
        now_nanos().saturating_add(nanos(d))
    }

    /// The deadline at `t`, for [`crate::timer::TimerNode::reset`] and
    /// `park_timeout`, converted on the caller's clock.
    pub fn when_at(t: Instant) -> i64 {
        match super::bubble() {
            Some(b) => b.nanos_at(t),
            None => {
                let (now_i, now) = (Instant::now(), crate::sys::nanotime());
                match t.checked_duration_since(now_i) {
                    Some(d) => now.saturating_add(nanos(d)),
                    None => now.saturating_sub(nanos(now_i - t)),
                }
            }
        }
    }

    /// [`now_nanos`] on `bubble`'s clock (the real one for `None`): for
    /// primitives that fix a timer's clock when it is made.
    #[inline]
    pub fn now_nanos_in(bubble: Option<&Bubble>) -> i64 {
        match bubble {
            Some(b) => b.now_nanos(),
            None => crate::sys::nanotime(),
        }
    }

    /// A duration in nanoseconds, saturating at `i64::MAX`.
    #[inline]
    pub fn nanos(d: Duration) -> i64 {
        d.as_nanos().min(i64::MAX as u128) as i64
    }
}

/// The caller's bubble, borrowed for the call.
#[inline]
fn bubble<'a>() -> Option<&'a Bubble> {
    let b = current_ptr();
    // SAFETY: the caller's G keeps its bubble alive while it runs, and the
    // reference does not outlive this call's caller.
    unsafe { b.as_ref() }
}
