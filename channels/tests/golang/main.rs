//! Go's own tests of channels, select and timer channels, ported: one Rust
//! test per Go test, named as in Go, pinned to go1.27.3
//! (`src/runtime/chan_test.go`, `src/runtime/chanbarrier_test.go`,
//! `src/time/sleep_test.go`, `src/time/tick_test.go`,
//! `src/reflect/all_test.go`). Each module lists the Go tests it leaves
//! out and why.
#![allow(non_snake_case)]

mod chan_test;
mod chanbarrier_test;
mod reflect_select_test;
mod sleep_test;
mod tick_test;

use std::time::Duration;

/// Runs `f` as a goroutine of a fresh runtime with `procs` Ps (Go's tests
/// set GOMAXPROCS the same way), and returns its result.
pub fn go_test<T: Send + 'static>(procs: usize, f: impl FnOnce() -> T + Send + 'static) -> T {
    let rt = gort_runtime::Runtime::builder().max_procs(procs).build().expect("runtime");
    rt.block_on(f)
}

/// `time.Millisecond` and friends.
pub const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
