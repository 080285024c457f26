//! Helpers shared by the workloads: the report line, RSS, wait groups.

use std::time::Duration;

use gort::sync::WaitGroup;

/// Prints `name ops elapsed_ns ns/op=X`, the anchors' format.
pub(crate) fn report(name: &str, ops: u64, d: Duration) {
    println!("{name} {ops} {} ns/op={:.1}", d.as_nanos(), d.as_nanos() as f64 / ops as f64);
}

/// Resident set size of this process in KiB (VmRSS).
pub(crate) fn rss_kb() -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// A WaitGroup expecting `n` `done`s, shared by plain reference as Go's
/// closures share `&wg` (no reference count to bounce between cores; it
/// lives for the rest of the workload's process).
pub(crate) fn wait_group(n: usize) -> &'static WaitGroup {
    let wg: &'static WaitGroup = Box::leak(Box::new(WaitGroup::new()));
    wg.add(i32::try_from(n).expect("WaitGroup count fits i32"));
    wg
}
