//! The peers' side of the comparison: tokio's and may's versions of the
//! net workloads (echo, idleconn), ported from `../shared/anchors/peers`
//! (`tokio_anchor.rs`, `may_anchor.rs`), run by this same executable as
//! `gort-benches --peer tokio|may WORKLOAD` so that the comparison program
//! can alternate gort, Go, tokio and may in one invocation.
//!
//! Each peer runs with GOMAXPROCS worker threads (tokio's multi-thread
//! runtime, may's workers), as the anchors do, and prints the same
//! `name ops elapsed_ns` lines as gort's workloads.

mod may_rt;
mod tokio_rt;

/// The peer runtimes, in table order.
pub(crate) const PEERS: &[&str] = &["tokio", "may"];

/// The workloads that have peer versions.
pub(crate) const WORKLOADS: &[&str] = &["echo", "idleconn"];

/// Whether workload `name` has tokio and may versions.
pub(crate) fn has_peers(name: &str) -> bool {
    WORKLOADS.contains(&name)
}

/// Runs `workload` on `peer` in this process.
pub(crate) fn run(peer: &str, workload: &str) {
    let procs = std::env::var("GOMAXPROCS").ok().and_then(|v| v.parse().ok()).unwrap_or(2);
    match peer {
        "tokio" => tokio_rt::run(workload, procs),
        "may" => may_rt::run(workload, procs),
        _ => {
            eprintln!("unknown peer {peer:?}; known: {}", PEERS.join(" "));
            std::process::exit(2);
        }
    }
}

/// The idleconn server's client: gort's client side (workloads/net.rs),
/// this executable again with `IDLECONN_CLIENT` set. Which runtime the
/// client runs on does not matter: its RSS is its own process's.
pub(crate) fn idleconn_client(addr: std::net::SocketAddr) -> std::process::Child {
    std::process::Command::new(std::env::current_exe().expect("self"))
        .args(["--run", "idleconn"])
        .env("IDLECONN_CLIENT", addr.to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("client process")
}

/// Raises a listening socket's backlog to the kernel's limit (somaxconn),
/// as Go's and gort's listeners have it: std's, tokio's and may's `bind`
/// listen with 128 or 1024, and idleconn's client dials 10,000 at once,
/// so an overflowing backlog would time the SYN retransmits instead of
/// the accepts. Linux applies a second `listen` to a listening socket.
pub(crate) fn raise_backlog(fd: std::os::fd::RawFd) {
    let max = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(4096);
    // SAFETY: listen on a socket fd the caller owns and keeps open; it
    // only changes the accept queue's length.
    let rc = unsafe { libc::listen(fd, max) };
    assert_eq!(rc, 0, "listen({max}): {}", std::io::Error::last_os_error());
}

/// Prints the idleconn lines: the accept phase's time and the RSS each
/// connection added.
pub(crate) fn report_idleconn(n: usize, d: std::time::Duration, before_kb: i64) {
    let per = (crate::workloads::support::rss_kb() - before_kb) as f64 * 1024.0 / n as f64;
    crate::workloads::support::report("idleconn", n as u64, d);
    println!("idleconn_bytes_per_conn {per:.0}");
}
