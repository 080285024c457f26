//! Tells the crate whether it is built under ThreadSanitizer (nightly's
//! `-Zsanitizer=thread`): cargo reports the target's `sanitize` cfg to
//! build scripts, and `cfg(sanitize)` itself is unstable, so the runtime
//! reads `cfg(gort_tsan)` instead. AddressSanitizer needs nothing in the
//! runtime (corosensei annotates its stack switches for ASan, Cargo.toml);
//! `cfg(gort_asan)` tells tests that measure the process's memory that
//! ASan's quarantine keeps freed memory resident.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(gort_tsan)");
    println!("cargo::rustc-check-cfg=cfg(gort_asan)");
    println!("cargo::rerun-if-env-changed=CARGO_CFG_SANITIZE");
    let sanitizers = std::env::var("CARGO_CFG_SANITIZE").unwrap_or_default();
    if sanitizers.split(',').any(|s| s == "thread") {
        println!("cargo::rustc-cfg=gort_tsan");
    }
    if sanitizers.split(',').any(|s| s == "address") {
        println!("cargo::rustc-cfg=gort_asan");
    }
}
