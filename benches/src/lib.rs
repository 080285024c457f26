//! gort's benchmark support shared by the benches crate's programs: the
//! long mixed soak ([`soak`]), run by the `soak` binary
//! (`cargo run --release -p gort-benches --bin soak`) and, shortened, by
//! the comparison program's `soak_latency` workload.

pub mod soak;
