//! The course's barrier demo: one terminal `hold`s the barrier, others
//! `wait` on it until `release`; with `--count N`, N terminals `enter` a
//! double barrier and start together, then `leave` and finish together.
//!
//! ```text
//! cargo run -p gort-etcd --example etcd_barrier -- --endpoints http://127.0.0.1:2379 --count 2
//! commands: hold, release, wait, enter, leave, quit
//! ```

use std::io::BufRead;

use gort_etcd::Client;
use gort_etcd::concurrency::Session;
use gort_etcd::recipes::{Barrier, DoubleBarrier};

fn flag(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.into())
}

fn main() {
    let eps = flag("--endpoints", "http://127.0.0.1:2379");
    let name = flag("--name", "/gort-demo/barrier");
    let count: usize = flag("--count", "2").parse().expect("--count N");
    gort_runtime::run(move || {
        let cli = Client::connect(eps.split(',')).expect("endpoints");
        let s = Session::with_ttl(&cli, 10).unwrap_or_else(|e| panic!("{e}"));
        let b = Barrier::new(&cli, &name);
        let mut db = DoubleBarrier::new(&s, &format!("{name}-double"), count);
        println!("commands: hold release wait enter leave quit (double barrier of {count})");
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            let r = match line.trim() {
                "hold" => b.hold().map(|_| "holding the barrier"),
                "release" => b.release().map(|_| "released the barrier"),
                "wait" => b.wait().map(|_| "passed the barrier"),
                "enter" => db.enter().map(|_| "entered: all are in"),
                "leave" => db.leave().map(|_| "left: all are out"),
                "quit" | "exit" => break,
                "" => continue,
                _ => Ok("unknown command"),
            };
            match r {
                Ok(msg) => println!("{msg}"),
                Err(e) => println!("error: {e}"),
            }
        }
        let _ = s.close();
    });
}
