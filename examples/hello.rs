//! The README's example: goroutines, a join, and the runtime's counters.
use std::time::Duration;

#[gort::main]
fn main() {
    // Ten goroutines sleep concurrently: the whole thing takes ~10 ms, not 100.
    let start = std::time::Instant::now();
    let workers: Vec<_> = (1..=10u64)
        .map(|i| {
            gort::go!(move || {
                gort::sleep(Duration::from_millis(10));
                i * i
            })
        })
        .collect();
    let sum: u64 = workers.into_iter().map(|h| h.join().unwrap()).sum();
    println!("sum of squares 1..=10 = {sum}, in {:?}", start.elapsed());
    let me = gort::current().expect("main runs as a goroutine");
    println!("main is goroutine {}; {} goroutine(s) alive", me.id(), gort::num_goroutine());
}
