//! gort's versions of the reference workloads, one file per area. Each area
//! lists `(name, fn)` pairs; the name matches the Go program's `-w` name
//! (benches/go), and each function prints `name ops elapsed_ns` lines; the
//! latency workloads (latency.rs) print `latency NAME n=.. p50=.. ...`
//! lines too, which the comparison program tabulates in µs.

mod chan;
pub(crate) mod etcd;
mod future;
mod latency;
mod net;
mod runtime;
mod sched;
pub(crate) mod support;
mod sync;

pub(crate) use net::raise_fd_limit;

/// Every workload, in the order the comparison runs them.
fn all() -> Vec<(&'static str, fn())> {
    let mut v = Vec::new();
    v.extend_from_slice(runtime::WORKLOADS);
    v.extend_from_slice(chan::WORKLOADS);
    v.extend_from_slice(sync::WORKLOADS);
    v.extend_from_slice(net::WORKLOADS);
    v.extend_from_slice(sched::WORKLOADS);
    v.extend_from_slice(etcd::WORKLOADS);
    v.extend_from_slice(future::WORKLOADS);
    v
}

/// Whether workload `name` has no Go twin (the comparison then runs only
/// gort's side).
pub(crate) fn gort_only(name: &str) -> bool {
    future::GORT_ONLY.contains(&name)
}

/// Workloads that build their own runtime (a soak needs its Runtime for
/// the hang report; the sleeper needs one P), run outside `gort::run`.
fn standalone() -> Vec<(&'static str, fn())> {
    latency::STANDALONE.to_vec()
}

/// The names of all workloads.
pub(crate) fn names() -> Vec<&'static str> {
    all().into_iter().chain(standalone()).map(|(n, _)| n).collect()
}

/// Runs workload `name` in this process on the default runtime (its
/// max_procs comes from GORT_MAXPROCS, set by the parent).
pub(crate) fn run(name: &str, _procs: usize) {
    if let Some((_, f)) = standalone().into_iter().find(|(n, _)| *n == name) {
        return f();
    }
    let f = all().into_iter().find(|(n, _)| *n == name).map(|(_, f)| f);
    match f {
        Some(f) => {
            gort::run(f);
            // GORT_BENCH_METRICS=1: the runtime's counters, for diagnosis.
            if std::env::var_os("GORT_BENCH_METRICS").is_some() {
                eprintln!("{:#?}", gort::run(gort::debug::metrics));
            }
        }
        None => {
            eprintln!("unknown workload {name:?}");
            std::process::exit(2);
        }
    }
}
