//! synctest bubbles: gort's own tests (the timers and primitives of gort
//! in a bubble, misuse, a simulated hour). Go's synctest tests are ported
//! in `tests/golang/` (`synctest_test`, `testing_synctest_test`,
//! `example_test`).
//!
//! Every assertion about time is on a bubble's fake clock, which moves
//! only when the bubble is idle: none depends on the machine's speed or
//! load. The bubbles that end in a deadlock leave their blocked goroutines
//! parked in this binary's default runtime, harmlessly (nothing here
//! counts goroutines).

mod gort_synctest_test;

pub use test_support::want_panic;
