//! The README's example: goroutines, `join`, and Go's `go f(x)` form.
use std::time::Duration;

#[gort::main]
fn main() {
    // Ten goroutines sleep at once: this takes ~10 ms, not 100.
    let workers: Vec<_> = (1..=10u64)
        .map(|i| {
            gort::go!(move || {
                gort::sleep(Duration::from_millis(10));
                i * i
            })
        })
        .collect();
    let sum: u64 = workers.into_iter().map(|h| h.join().unwrap()).sum();
    println!("sum of squares = {sum}");
    // Go's form: arguments are evaluated now, the call runs in a goroutine.
    fn add(a: u64, b: u64) -> u64 {
        a + b
    }
    assert_eq!(gort::go!(add(sum, 1)).join().unwrap(), 386);
}
