//! The two-server graceful shutdown example (examples/graceful_shutdown.rs)
//! under a real SIGTERM, and with a server that cannot start.
//!
//! The signal test runs the example's `run` in a child process: this test
//! binary itself, started again with `GORT_GRACEFUL_CHILD` set (building
//! and running the example with cargo from a test would be slow and
//! fragile). The parent sends a slow request, sends SIGTERM to the child
//! while the request is in flight, and checks that new connections are
//! refused, that the request completes, and that the child exits with
//! status 0 promptly.

#[allow(dead_code)]
#[path = "../examples/graceful_shutdown.rs"]
mod example;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use gort::signal::{self, Signal};

const CHILD_ENV: &str = "GORT_GRACEFUL_CHILD";
/// Generous bound for anything that should happen at once.
const PROMPT: Duration = Duration::from_secs(20);

/// In the child: run both servers until the signal.
#[test]
fn graceful_shutdown_child() {
    if std::env::var(CHILD_ENV).is_err() {
        return; // only meaningful as the child of the test below
    }
    let r = gort::run(|| example::run("127.0.0.1:0", "127.0.0.1:0"));
    assert_eq!(r, Ok(()));
}

/// Waits for a line of the child's output containing `prefix` (libtest may
/// print its own text before it on the same line); returns what follows.
fn wait_line(lines: &mpsc::Receiver<String>, prefix: &str, seen: &mut Vec<String>) -> String {
    let deadline = Instant::now() + PROMPT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(l) => {
                seen.push(l.clone());
                if let Some(i) = l.find(prefix) {
                    return l[i + prefix.len()..].trim().to_string();
                }
            }
            Err(_) => panic!("no line {prefix:?} from the child; it printed:\n{}", seen.join("\n")),
        }
    }
}

/// Kills the child if the test fails before it exits.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[test]
fn sigterm_finishes_in_flight_request_and_exits_0() {
    let mut guard = KillOnDrop(
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "graceful_shutdown_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, "1")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let child = &mut guard.0;
    let (tx, lines) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    // The two servers start in either order.
    let first = wait_line(&lines, " listening on ", &mut seen);
    let second = wait_line(&lines, " listening on ", &mut seen);
    let addr_of = |name: &str| {
        let tag = format!("{name} listening on ");
        let l = seen.iter().find(|l| l.contains(&tag)).expect("both servers listen");
        l[l.find(&tag).unwrap() + tag.len()..].trim().to_string()
    };
    let (app, debug) = (addr_of("app"), addr_of("debug"));
    assert!([&first, &second].contains(&&app) && [&first, &second].contains(&&debug));

    // Both serve.
    let mut c = TcpStream::connect(&debug).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let mut resp = String::new();
    c.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 200 OK") && resp.ends_with("hello from debug\n"), "{resp}");

    // A slow request in flight...
    let slow = std::thread::spawn(move || {
        let mut c = TcpStream::connect(&app).unwrap();
        c.set_read_timeout(Some(PROMPT)).unwrap();
        c.write_all(b"GET /slow?ms=1000 HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        let mut resp = String::new();
        c.read_to_string(&mut resp).unwrap();
        (resp, Instant::now())
    });
    wait_line(&lines, "app: GET /slow", &mut seen);
    // ...when SIGTERM comes.
    let sent = Instant::now();
    signal::kill(child.id(), Signal::Terminate).unwrap();
    wait_line(&lines, "received terminated", &mut seen);
    wait_line(&lines, "debug stopped", &mut seen);
    // The listeners are closed: no new connections.
    assert!(TcpStream::connect(&debug).is_err(), "debug still accepts after shutdown");

    let (resp, answered) = slow.join().unwrap();
    assert!(resp.starts_with("HTTP/1.1 200 OK"), "the in-flight request failed: {resp:?}");
    assert!(resp.ends_with("app finished slow work after 1000 ms\n"), "{resp:?}");
    assert!(answered > sent, "the slow request was answered before the signal");

    let deadline = Instant::now() + PROMPT;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            panic!("the child did not exit after SIGTERM; it printed:\n{}", seen.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    while let Ok(l) = lines.recv_timeout(Duration::from_secs(5)) {
        seen.push(l);
    }
    assert!(status.success(), "child exit {status:?}; it printed:\n{}", seen.join("\n"));
    assert!(seen.iter().any(|l| l == "app stopped"), "{}", seen.join("\n"));
}

/// Seeds S06: a server that cannot start (its port is taken) fails the
/// group, which shuts the other one down; `run` returns the error, and no
/// goroutine is left behind.
#[test]
fn a_failing_server_stops_the_other() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let rt = gort::Runtime::builder().max_procs(2).build().unwrap();
    let r = rt.block_on(move || {
        let check = gort::testing::LeakCheck::new().timeout(PROMPT);
        let t = Instant::now();
        let r = example::run("127.0.0.1:0", &addr);
        assert!(t.elapsed() < PROMPT);
        check.assert();
        r
    });
    let e = r.expect_err("the debug server cannot listen");
    assert!(e.starts_with("debug: listen"), "{e}");
    drop(taken);
}
