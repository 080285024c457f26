//! Workloads on a real etcd (see mod.rs for the convention), against the
//! server whose client URLs the parent passes in `GORT_BENCH_ETCD`. The
//! Go twins are in benches/go-etcd (clientv3 and its concurrency package);
//! each line here matches the Go line of the same name.

use std::time::{Duration, Instant};

use gort_etcd::concurrency::{Election, Mutex, Session};
use gort_etcd::{Client, Options};

use super::support::report;

pub(crate) const WORKLOADS: &[(&str, fn())] =
    &[("etcd_put_get", put_get), ("etcd_lock", lock), ("election_failover", failover)];

/// The names of the workloads that need etcd (the parent starts it).
pub(crate) fn is_etcd(name: &str) -> bool {
    WORKLOADS.iter().any(|(n, _)| *n == name)
}

fn client() -> Client {
    let eps = std::env::var("GORT_BENCH_ETCD").expect("GORT_BENCH_ETCD: run this through gort-benches");
    Client::connect(eps.split(',')).unwrap()
}

/// A put then a get of one key, one round trip each, 1,000 times.
fn put_get() {
    let c = client();
    for _ in 0..50 {
        c.put("bench/pg", "v").unwrap();
    }
    const N: u64 = 1000;
    let t = Instant::now();
    for _ in 0..N {
        c.put("bench/pg", "v").unwrap();
        c.get("bench/pg").unwrap();
    }
    report("etcd_put_get", N, t.elapsed());
}

/// Uncontended lock+unlock 300 times; then 8 goroutines, each with its own
/// session, contending one Mutex, 25 acquisitions each.
fn lock() {
    let c = client();
    let s = Session::with_ttl(&c, 10).unwrap();
    let mut m = Mutex::new(&s, "/bench/lock");
    for _ in 0..20 {
        m.lock().unwrap();
        m.unlock().unwrap();
    }
    const N: u64 = 300;
    let t = Instant::now();
    for _ in 0..N {
        m.lock().unwrap();
        m.unlock().unwrap();
    }
    report("etcd_lock", N, t.elapsed());
    s.close().unwrap();

    const G: usize = 8;
    const PER: usize = 25;
    let sessions: Vec<Session> = (0..G).map(|_| Session::with_ttl(&c, 10).unwrap()).collect();
    let t = Instant::now();
    let hs: Vec<_> = sessions
        .iter()
        .map(|s| {
            let s = s.clone();
            gort::go!(move || {
                let mut m = Mutex::new(&s, "/bench/lock8");
                for _ in 0..PER {
                    m.lock().unwrap();
                    m.unlock().unwrap();
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    report("etcd_lock_contended", (G * PER) as u64, t.elapsed());
    for s in sessions {
        s.close().unwrap();
    }
}

/// The leader's session stops refreshing (a crash: its lease expires
/// after the 2 s TTL); the time until the waiting candidate's campaign
/// returns. Three rounds.
fn failover() {
    let c = client();
    const ROUNDS: u64 = 3;
    let mut total = Duration::ZERO;
    for r in 0..ROUNDS {
        let pfx = format!("/bench/elect-gort-{}-{r}", std::process::id());
        let s1 = Session::with_ttl(&c, 2).unwrap();
        Election::new(&s1, &pfx).campaign("a").unwrap();
        let s2 = Session::with_ttl(&c, 2).unwrap();
        let (s2c, p2) = (s2.clone(), pfx.clone());
        let follower = gort::go!(move || {
            let mut e2 = Election::new(&s2c, &p2);
            e2.campaign("b").unwrap();
            let at = Instant::now();
            e2.resign().unwrap();
            at
        });
        while c.get_with(format!("{pfx}/"), Options::new().with_prefix().with_count_only()).unwrap().count < 2
        {
            gort::sleep(Duration::from_millis(1));
        }
        let t = Instant::now();
        s1.orphan();
        total += follower.join().unwrap().duration_since(t);
        s2.close().unwrap();
    }
    report("election_failover", ROUNDS, total);
}
