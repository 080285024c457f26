//! Process-level tests: several processes share one etcd lock or
//! election, and one is killed with SIGKILL.
//!
//! This test binary has its own harness (`harness = false`): run with
//! `--role ...` it is one of the child processes (a counter that takes the
//! lock, a lock holder, a candidate); run without, it starts etcd, runs
//! the scenarios one after another, and prints libtest's summary line. A
//! filter argument (as `cargo test` passes) selects scenarios by name.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use gort_etcd::Client;
use gort_etcd::concurrency::{Election, Mutex, Session};
use gort_etcd::server::Server;
use gort_sync::context;

/// The TTL of the sessions of killed processes, in seconds.
const TTL: u64 = 2;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--role") {
        let rest = args[2..].to_vec();
        gort_runtime::run(move || role(&rest));
        return;
    }
    let filters: Vec<&String> = args[1..].iter().filter(|a| !a.starts_with('-')).collect();
    let tests: [(&str, fn()); 3] = [
        ("three_processes_count_under_the_mutex", three_processes_count_under_the_mutex),
        (
            "a_killed_holder_releases_the_mutex_within_its_ttl",
            a_killed_holder_releases_the_mutex_within_its_ttl,
        ),
        (
            "one_leader_among_five_and_a_new_one_when_it_dies",
            one_leader_among_five_and_a_new_one_when_it_dies,
        ),
    ];
    let (mut passed, mut failed) = (0, 0);
    for (name, f) in tests {
        if !filters.is_empty() && !filters.iter().any(|p| name.contains(p.as_str())) {
            continue;
        }
        let t = Instant::now();
        let ok = std::panic::catch_unwind(f).is_ok();
        println!("test {name} ... {} ({:.1} s)", if ok { "ok" } else { "FAILED" }, t.elapsed().as_secs_f64());
        if ok { passed += 1 } else { failed += 1 }
    }
    println!(
        "\ntest result: {}. {passed} passed; {failed} failed",
        if failed == 0 { "ok" } else { "FAILED" }
    );
    if failed > 0 {
        std::process::exit(101);
    }
}

/// A child process's part.
fn role(args: &[String]) {
    let c = Client::connect(args[1].split(',')).unwrap();
    let mut out = std::io::stdout();
    match args[0].as_str() {
        // counter <eps> <prefix> <file> <n>: n locked increments of the file.
        "counter" => {
            let s = Session::with_ttl(&c, 10).unwrap();
            let mut m = Mutex::new(&s, &args[2]);
            let n: usize = args[4].parse().unwrap();
            for _ in 0..n {
                m.lock().unwrap();
                let v: u64 = std::fs::read_to_string(&args[3]).unwrap().trim().parse().unwrap();
                std::fs::write(&args[3], (v + 1).to_string()).unwrap();
                m.unlock().unwrap();
            }
            s.close().unwrap();
        }
        // hold <eps> <prefix>: take the lock, say so, and keep it.
        "hold" => {
            let s = Session::with_ttl(&c, TTL as i64).unwrap();
            let mut m = Mutex::new(&s, &args[2]);
            m.lock().unwrap();
            writeln!(out, "locked").unwrap();
            out.flush().unwrap();
            gort_runtime::sleep(Duration::from_secs(120));
        }
        // campaign <eps> <prefix> <id>: become leader, say so, and stay.
        "campaign" => {
            let s = Session::with_ttl(&c, TTL as i64).unwrap();
            let mut e = Election::new(&s, &args[2]);
            e.campaign(&args[3]).unwrap();
            writeln!(out, "leader {}", args[3]).unwrap();
            out.flush().unwrap();
            gort_runtime::sleep(Duration::from_secs(120));
        }
        r => panic!("unknown role {r}"),
    }
}

/// A child running `role`, whose stdout lines arrive on a channel; killed
/// when dropped.
struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Proc {
    fn start(args: &[&str]) -> Proc {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .arg("--role")
            .args(args)
            .env("GORT_MAXPROCS", "2")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    return;
                }
            }
        });
        Proc { child, lines }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits (bounded) for the child to exit; its success.
    fn wait(&mut self, limit: Duration) -> bool {
        let t = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.success();
            }
            if t.elapsed() > limit {
                self.kill();
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

fn eps() -> String {
    Server::shared().endpoints().join(",")
}

fn three_processes_count_under_the_mutex() {
    let file = std::env::temp_dir().join(format!("gort-etcd-counter-{}", std::process::id()));
    std::fs::write(&file, "0").unwrap();
    let eps = eps();
    let f = file.to_str().unwrap();
    let mut ps: Vec<Proc> =
        (0..3).map(|_| Proc::start(&["counter", &eps, "proc/counter", f, "200"])).collect();
    for p in &mut ps {
        assert!(p.wait(Duration::from_secs(300)), "a counter process failed");
    }
    let v = std::fs::read_to_string(&file).unwrap();
    let _ = std::fs::remove_file(&file);
    assert_eq!(v.trim(), "600", "an increment was lost: the lock let two in");
}

fn a_killed_holder_releases_the_mutex_within_its_ttl() {
    let eps = eps();
    let mut holder = Proc::start(&["hold", &eps, "proc/held"]);
    assert_eq!(holder.lines.recv_timeout(Duration::from_secs(60)).unwrap(), "locked");
    let c = Client::connect(eps.split(',')).unwrap();
    let s = Session::with_ttl(&c, 10).unwrap();
    let mut m = Mutex::new(&s, "proc/held");
    // Held: a bounded attempt fails.
    let (ctx, _c) = context::with_timeout(&context::background(), Duration::from_millis(500));
    assert!(m.lock_ctx(&ctx).unwrap_err().is_context());
    holder.kill();
    let t = Instant::now();
    let (ctx, _c) = context::with_timeout(&context::background(), Duration::from_secs(60));
    m.lock_ctx(&ctx).unwrap();
    let took = t.elapsed();
    println!("  the lock passed {:.2} s after SIGKILL (TTL {TTL} s)", took.as_secs_f64());
    assert!(took <= Duration::from_secs(TTL + 1), "released {took:?} after the kill, TTL is {TTL} s");
    m.unlock().unwrap();
    s.close().unwrap();
}

fn one_leader_among_five_and_a_new_one_when_it_dies() {
    let eps = eps();
    let mut ps: Vec<Proc> =
        (0..5).map(|i| Proc::start(&["campaign", &eps, "proc/elect", &format!("node-{i}")])).collect();
    let c = Client::connect(eps.split(',')).unwrap();
    let s = Session::with_ttl(&c, 10).unwrap();
    let watcher = Election::new(&s, "proc/elect");
    let (ctx, cancel) = context::with_cancel(&context::background());
    let obs = watcher.observe(&ctx);
    // Exactly one says it leads.
    let first = wait_leader(&ps, None);
    let id = first.trim_start_matches("leader ").to_string();
    assert_eq!(watcher.leader().unwrap().kvs[0].value_str(), id);
    std::thread::sleep(Duration::from_secs(1));
    for p in &ps {
        assert!(p.lines.try_recv().is_err(), "a second leader while {id} leads");
    }
    let n: usize = id.trim_start_matches("node-").parse().unwrap();
    ps[n].kill();
    let t = Instant::now();
    let second = wait_leader(&ps, Some(n));
    let took = t.elapsed();
    println!("  new leader {:.2} s after SIGKILL (TTL {TTL} s)", took.as_secs_f64());
    assert!(took <= Duration::from_secs(TTL + 1), "re-elected {took:?} after the kill");
    let id2 = second.trim_start_matches("leader ").to_string();
    assert_ne!(id, id2);
    assert_eq!(watcher.leader().unwrap().kvs[0].value_str(), id2);
    // observe saw the first leader, then the second, in order.
    let seen: Vec<String> = (0..2)
        .map(|_| obs.recv_timeout(Duration::from_secs(30)).unwrap().kvs[0].value_str().into_owned())
        .collect();
    assert_eq!(seen, [id, id2]);
    cancel.cancel();
    drop(ps);
    s.close().unwrap();
}

/// The one "leader" line among the processes (skipping `dead`), bounded.
fn wait_leader(ps: &[Proc], dead: Option<usize>) -> String {
    let t = Instant::now();
    loop {
        for (i, p) in ps.iter().enumerate() {
            if Some(i) == dead {
                continue;
            }
            if let Ok(l) = p.lines.try_recv() {
                return l;
            }
        }
        assert!(t.elapsed() < Duration::from_secs(60), "nobody became leader");
        std::thread::sleep(Duration::from_millis(5));
    }
}
