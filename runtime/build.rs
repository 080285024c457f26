//! Tells the crate whether it is built under ThreadSanitizer (nightly's
//! `-Zsanitizer=thread`): cargo reports the target's `sanitize` cfg to
//! build scripts, and `cfg(sanitize)` itself is unstable, so the runtime
//! reads `cfg(gort_tsan)` instead. AddressSanitizer needs nothing here:
//! corosensei annotates its stack switches for ASan (Cargo.toml).

fn main() {
    println!("cargo::rustc-check-cfg=cfg(gort_tsan)");
    println!("cargo::rerun-if-env-changed=CARGO_CFG_SANITIZE");
    let sanitizers = std::env::var("CARGO_CFG_SANITIZE").unwrap_or_default();
    if sanitizers.split(',').any(|s| s == "thread") {
        println!("cargo::rustc-cfg=gort_tsan");
    }
}
