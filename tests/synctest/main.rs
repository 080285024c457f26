//! synctest bubbles: Go's tests ported, one module per Go test file, with
//! Go's test names, and gort's own (the timers and primitives of gort in a
//! bubble, misuse, a simulated hour).
//!
//! Every assertion about time is on a bubble's fake clock, which moves
//! only when the bubble is idle: none depends on the machine's speed or
//! load. The bubbles that end in a deadlock leave their blocked goroutines
//! parked in this binary's default runtime, harmlessly (nothing here
//! counts goroutines).

mod example_test;
mod gort_synctest_test;
mod synctest_test;
mod testing_synctest_test;

use std::any::Any;

/// The message of a caught panic.
pub fn panic_message(p: &(dyn Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "<non-string panic>".to_string())
}

/// Runs `f`, which must panic with a message starting with `want`;
/// returns the whole message.
#[track_caller]
pub fn want_panic(want: &str, f: impl FnOnce()) -> String {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    let Err(p) = r else { panic!("got no panic, want one starting with {want:?}") };
    let msg = panic_message(&*p);
    assert!(msg.starts_with(want), "got panic message {msg:?}, want one starting with {want:?}");
    msg
}
