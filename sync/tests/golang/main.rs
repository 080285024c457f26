//! Go's own tests of the sync primitives and context, ported: one module
//! per Go test file, one Rust test per Go test, named as in Go, pinned to
//! go1.27.3 where the module says so. Each module says which Go file it
//! ports, what it leaves out and why, and which checks of gort's own it
//! keeps next to the ports (plain threads, Rust-only API).
//!
//! - sync: `cond_test`, `map_test`, `mutex_test`, `once_test` (with
//!   oncefunc_test.go), `pool_test`, `rwmutex_test`, `waitgroup_test`;
//!   sync/atomic: `value_test`.
//! - context: `context_test` (x_test.go and net_test.go) and
//!   `context_custom_test` (x_test.go's AfterFunc, cause and custom-context
//!   tests, and afterfunc_test.go).
//! - golang.org/x/sync: `errgroup_test`, `semaphore_test`,
//!   `singleflight_test`.
//!
//! runtime/sema_test.go is ported in `sema_test.rs`, a test binary of its
//! own (`golang_sema` in Cargo.toml): its waiter counts must see no other
//! test's waiters.

#[path = "../common/mod.rs"]
mod common;

mod cond_test;
mod context_custom_test;
mod context_test;
mod errgroup_test;
mod map_test;
mod mutex_test;
mod once_test;
mod pool_test;
mod rwmutex_test;
mod semaphore_test;
mod singleflight_test;
mod value_test;
mod waitgroup_test;
