//! Go's own runtime tests, ported: one module per Go test file, one Rust
//! test per Go test (its comment names the Go test), pinned to go1.27.3.
//! Each module lists what it leaves out and why.

#[path = "../common/mod.rs"]
mod common;

mod proc_test;
