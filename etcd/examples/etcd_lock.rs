//! The course's distributed-lock demo: run it in two terminals (or more)
//! against one etcd and type commands; the second `lock` waits until the
//! first process unlocks, or dies (its session's lease then expires).
//!
//! ```text
//! cargo run -p gort-etcd --example etcd_lock -- --endpoints http://127.0.0.1:2379 --id A
//! commands: lock, trylock, unlock, rlock, runlock, wlock, wunlock, quit
//! ```
//!
//! `lock`/`unlock` use `concurrency::Mutex`; `rlock`/`wlock` use the
//! `recipes::RwMutex` on the same name.

use std::io::BufRead;

use gort_etcd::Client;
use gort_etcd::concurrency::{Mutex, Session};
use gort_etcd::recipes::RwMutex;

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
    let id = flag("--id", &std::process::id().to_string());
    let name = flag("--name", "/gort-demo/lock");
    gort_runtime::run(move || {
        let cli = Client::connect(eps.split(',')).expect("endpoints");
        let s = Session::with_ttl(&cli, 10).unwrap_or_else(|e| panic!("{e}"));
        let mut m = Mutex::new(&s, &name);
        let mut rw = RwMutex::new(&s, &format!("{name}-rw"));
        println!(
            "[{id}] session lease {:x}; commands: lock trylock unlock rlock runlock wlock wunlock quit",
            s.lease()
        );
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            let r = match line.trim() {
                "lock" => m.lock().map(|_| format!("locked (key {})", m.key())),
                "trylock" => m.try_lock().map(|_| format!("locked (key {})", m.key())),
                "unlock" => m.unlock().map(|_| "unlocked".into()),
                "rlock" => rw.rlock().map(|_| "read-locked".into()),
                "runlock" => rw.runlock().map(|_| "read-unlocked".into()),
                "wlock" => rw.lock().map(|_| "write-locked".into()),
                "wunlock" => rw.unlock().map(|_| "write-unlocked".into()),
                "quit" | "exit" => break,
                "" => continue,
                other => Ok(format!("unknown command {other:?}")),
            };
            match r {
                Ok(msg) => println!("[{id}] {msg}"),
                Err(e) => println!("[{id}] error: {e}"),
            }
        }
        let _ = s.close();
    });
}
