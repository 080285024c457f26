//! Go's own tests of what the facade puts together, ported: one module per
//! Go test file, with Go's test names (in Rust casing).
//!
//! - `timeout_test`: net/timeout_test.go, deadlines on gort's sockets;
//! - `synctest_test`: internal/synctest/synctest_test.go;
//! - `testing_synctest_test`: testing/synctest/synctest_test.go;
//! - `example_test`: testing/synctest/example_test.go.
//!
//! Each module says what it leaves out and why. gort's own synctest tests
//! are in `tests/synctest/`. Every synctest assertion about time is on a
//! bubble's fake clock, which moves only when the bubble is idle. The
//! bubbles that end in a deadlock leave their blocked goroutines parked in
//! this binary's default runtime, harmlessly (nothing here counts
//! goroutines).

mod example_test;
mod synctest_test;
mod testing_synctest_test;
mod timeout_test;

pub use test_support::want_panic;
