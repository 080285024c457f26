//! A pipeline with fan-out and fan-in (Go's "pipelines and cancellation"
//! pattern): a generator, N squaring workers reading one channel (fan-out),
//! and a merge of their outputs into one channel (fan-in), with a `done`
//! channel that stops every stage early without leaking a goroutine.
//!
//! Run: `cargo run --example pipeline`
use gort::{Chan, Receiver, Select};

/// Sends 1..=n, stopping early if `done` closes.
fn generate(done: Receiver<()>, n: u64) -> Receiver<u64> {
    let out = gort::chan::<u64>(0);
    let tx = out.sender();
    gort::go!(move || {
        for i in 1..=n {
            gort::select! {
                send(tx, i) -> _ => {},
                recv(done) -> _ => break,
            }
        }
        tx.close();
    });
    out.receiver()
}

/// One worker: squares what it reads until its input closes or `done`.
fn square(done: Receiver<()>, input: Receiver<u64>) -> Receiver<u64> {
    let out = gort::chan::<u64>(0);
    let tx = out.sender();
    gort::go!(move || {
        for v in &input {
            gort::select! {
                send(tx, v * v) -> _ => {},
                recv(done) -> _ => break,
            }
        }
        tx.close();
    });
    out.receiver()
}

/// Fan-in over any number of channels with one dynamic select (Go's
/// reflect.Select version of merge): a closed input is disabled.
fn merge(done: Receiver<()>, inputs: Vec<Receiver<u64>>) -> Receiver<u64> {
    let out: Chan<u64> = gort::chan(0);
    let tx = out.sender();
    gort::go!(move || {
        let mut sel = Select::new();
        for c in &inputs {
            sel.recv(c);
        }
        let stop = sel.recv(&done);
        let mut open = inputs.len();
        while open > 0 {
            let op = sel.select();
            let i = op.index();
            if i == stop {
                break;
            }
            match op.recv(&inputs[i]) {
                Some(v) => {
                    // Forward, unless told to stop meanwhile.
                    let sent = gort::select! {
                        send(tx, v) -> _ => true,
                        recv(done) -> _ => false,
                    };
                    if !sent {
                        break;
                    }
                }
                None => {
                    sel.disable(i);
                    open -= 1;
                }
            }
        }
        tx.close();
    });
    out.receiver()
}

#[gort::main]
fn main() {
    // The whole pipeline: sum of squares of 1..=1000 over 4 workers.
    let done = gort::chan::<()>(0);
    let src = generate(done.receiver(), 1000);
    let workers: Vec<_> = (0..4).map(|_| square(done.receiver(), src.clone())).collect();
    let total: u64 = merge(done.receiver(), workers).iter().sum();
    println!("sum of squares 1..=1000 = {total}");
    assert_eq!(total, 1000 * 1001 * 2001 / 6);

    // Stopping early: take 5 values, then close `done`; every stage exits.
    let before = gort::num_goroutine();
    let done = gort::chan::<()>(0);
    let src = generate(done.receiver(), u64::MAX);
    let workers: Vec<_> = (0..4).map(|_| square(done.receiver(), src.clone())).collect();
    let out = merge(done.receiver(), workers);
    let first: Vec<u64> = out.iter().take(5).collect();
    done.close();
    println!("first five squares (any order): {first:?}");
    // The stages notice `done` and finish; wait for them to be gone.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while gort::num_goroutine() > before && std::time::Instant::now() < deadline {
        gort::sleep(std::time::Duration::from_millis(1));
    }
    println!("goroutines before: {before}, after cancelling: {}", gort::num_goroutine());
    assert_eq!(gort::num_goroutine(), before, "a pipeline stage leaked");
}
