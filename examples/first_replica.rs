//! Go's replicated-search pattern ("Go Concurrency Patterns"): send the
//! same query to several replicas, take the first answer, give up after a
//! timeout, and leak nothing. The result channel is buffered with room for
//! every replica, so the slower ones complete their sends and exit instead
//! of blocking forever.
//!
//! Run: `cargo run --example first_replica`
use std::time::{Duration, Instant};

fn replica(name: &'static str, latency_ms: u64) -> impl Fn(&str) -> String + Send + Sync + 'static {
    move |q: &str| {
        gort::sleep(Duration::from_millis(latency_ms));
        format!("{name} result for {q:?}")
    }
}

/// The first answer of any replica. Go: `First(query, replicas...)`.
fn first<F>(query: &str, replicas: Vec<F>) -> String
where
    F: Fn(&str) -> String + Send + 'static,
{
    let c = gort::chan::<String>(replicas.len()); // room for every replica
    for r in replicas {
        let (c, q) = (c.sender(), query.to_string());
        gort::go!(move || c.send(r(&q)).unwrap());
    }
    c.recv().expect("no replica answered")
}

/// `first`, but giving up after `timeout`.
fn first_within<F>(query: &str, replicas: Vec<F>, timeout: Duration) -> Option<String>
where
    F: Fn(&str) -> String + Send + 'static,
{
    let c = gort::chan::<String>(replicas.len());
    for r in replicas {
        let (c, q) = (c.sender(), query.to_string());
        gort::go!(move || c.send(r(&q)).unwrap());
    }
    gort::select! {
        recv(c) -> r => r,
        recv(gort::after(timeout)) -> _ => None,
    }
}

#[gort::main]
fn main() {
    let before = gort::num_goroutine();
    let t = Instant::now();
    let r =
        first("golang", vec![replica("replica-1", 30), replica("replica-2", 5), replica("replica-3", 60)]);
    println!("{r} after {:?}", t.elapsed());
    assert!(r.starts_with("replica-2"));

    let r =
        first_within("gort", vec![replica("slow-1", 200), replica("slow-2", 300)], Duration::from_millis(50));
    println!("with a 50 ms timeout: {r:?}");
    assert!(r.is_none());

    // The losers finish their sends into the buffer and exit: no leak.
    let deadline = Instant::now() + Duration::from_secs(5);
    while gort::num_goroutine() > before && Instant::now() < deadline {
        gort::sleep(Duration::from_millis(5));
    }
    println!("goroutines before: {before}, after: {}", gort::num_goroutine());
    assert_eq!(gort::num_goroutine(), before, "a replica goroutine leaked");
}
