//! Helpers shared by gort-etcd's integration tests: a client of the shared
//! test etcd, running a test body as a goroutine, and a bounded wait.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use gort_etcd::server::Server;
use gort_etcd::{Client, Options};

/// A client of the etcd shared by this test binary (started on first use).
pub fn client() -> Client {
    Client::connect(Server::shared().endpoints()).unwrap()
}

/// Runs `f` as a goroutine and returns its result (a panic fails the test).
pub fn run<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    gort_runtime::spawn(f).join().unwrap()
}

/// Waits (bounded: 60 s) until `prefix` holds `n` keys.
pub fn wait_keys(c: &Client, prefix: &str, n: i64) {
    let t = Instant::now();
    while c.get_with(prefix, Options::new().with_prefix().with_count_only()).unwrap().count < n {
        assert!(t.elapsed() < Duration::from_secs(60), "{prefix} never reached {n} keys");
        gort_runtime::sleep(Duration::from_millis(10));
    }
}
