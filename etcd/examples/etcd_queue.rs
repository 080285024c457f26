//! The course's distributed-queue demo: producers and consumers in several
//! terminals share one queue; `pop` blocks while it is empty.
//!
//! ```text
//! cargo run -p gort-etcd --example etcd_queue -- --endpoints http://127.0.0.1:2379
//! commands: push <v>, pop, ppush <v> <priority>, ppop, quit
//! ```
//!
//! `push`/`pop` use `recipes::Queue`; `ppush`/`ppop` the
//! `recipes::PriorityQueue` (lower priority numbers come out first).

use std::io::BufRead;

use gort_etcd::Client;
use gort_etcd::recipes::{PriorityQueue, Queue};

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
    let name = flag("--name", "/gort-demo/queue");
    gort_runtime::run(move || {
        let cli = Client::connect(eps.split(',')).expect("endpoints");
        let q = Queue::new(&cli, &name);
        let pq = PriorityQueue::new(&cli, &format!("{name}-prio"));
        println!("commands: push <v> pop ppush <v> <priority> ppop quit");
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            let w: Vec<&str> = line.split_whitespace().collect();
            let r = match w.as_slice() {
                ["push", v] => q.enqueue(v).map(|_| format!("pushed {v}")),
                ["pop"] => q.dequeue().map(|v| format!("popped {v}")),
                ["ppush", v, p] => match p.parse::<u16>() {
                    Ok(p) => pq.enqueue(v, p).map(|_| format!("pushed {v} at priority {p}")),
                    Err(_) => Ok(format!("priority {p:?}: give a number 0-65535")),
                },
                ["ppop"] => pq.dequeue().map(|v| format!("popped {v}")),
                ["quit" | "exit"] => break,
                [] => continue,
                _ => Ok(format!("unknown command {line:?}")),
            };
            match r {
                Ok(msg) => println!("{msg}"),
                Err(e) => println!("error: {e}"),
            }
        }
    });
}
