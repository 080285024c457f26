//! The course's leader-election demo: run it in several terminals against
//! one etcd; `elect` campaigns (in a goroutine: it returns once elected),
//! and when the leader resigns, quits or is killed, another is elected.
//!
//! ```text
//! cargo run -p gort-etcd --example etcd_election -- --endpoints http://127.0.0.1:2379 --id A
//! commands: elect, proclaim <value>, resign, watch, query, rev, quit
//! ```

use std::io::BufRead;
use std::sync::{Arc, Mutex as StdMutex};

use gort_etcd::Client;
use gort_etcd::concurrency::{Election, Session};
use gort_sync::context;

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
    let name = flag("--name", "/gort-demo/election");
    gort_runtime::run(move || {
        let cli = Client::connect(eps.split(',')).expect("endpoints");
        let s = Session::with_ttl(&cli, 5).unwrap_or_else(|e| panic!("{e}"));
        let e = Arc::new(StdMutex::new(Election::new(&s, &name)));
        let (ctx, cancel) = context::with_cancel(&context::background());
        println!("[{id}] commands: elect proclaim <v> resign watch query rev quit");
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("elect") => {
                    let (e, id, ctx, s, name) = (e.clone(), id.clone(), ctx.clone(), s.clone(), name.clone());
                    gort_runtime::spawn(move || {
                        // Its own Election while campaigning, so the other
                        // commands do not wait on the shared one's lock.
                        let mut mine = Election::new(&s, &name);
                        match mine.campaign_ctx(&ctx, &id) {
                            Ok(()) => {
                                println!("[{id}] I am the leader");
                                *e.lock().unwrap() = mine;
                            }
                            Err(err) => println!("[{id}] campaign ended: {err}"),
                        }
                    });
                }
                Some("proclaim") => {
                    let v = words.collect::<Vec<_>>().join(" ");
                    let r = e.lock().unwrap().proclaim(&v);
                    println!("[{id}] proclaim {v:?}: {}", r.map_or_else(|e| e.to_string(), |_| "ok".into()));
                }
                Some("resign") => {
                    let r = e.lock().unwrap().resign();
                    println!("[{id}] resign: {}", r.map_or_else(|e| e.to_string(), |_| "ok".into()));
                }
                Some("watch") => {
                    let (obs, id) = (e.lock().unwrap().observe(&ctx), id.clone());
                    gort_runtime::spawn(move || {
                        for r in obs.iter() {
                            println!("[{id}] leader now {}", r.kvs[0].value_str());
                        }
                    });
                }
                Some("query") => match e.lock().unwrap().leader() {
                    Ok(r) => println!("[{id}] leader: {} (key {})", r.kvs[0].value_str(), r.kvs[0].key_str()),
                    Err(err) => println!("[{id}] {err}"),
                },
                Some("rev") => println!("[{id}] rev {}", e.lock().unwrap().rev()),
                Some("quit" | "exit") => break,
                None => {}
                Some(other) => println!("[{id}] unknown command {other:?}"),
            }
        }
        cancel.cancel();
        let _ = s.close();
    });
}
