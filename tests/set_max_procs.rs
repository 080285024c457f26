//! `gort::set_max_procs` (Go's `runtime.GOMAXPROCS(n)`) under a running
//! workload of the real primitives: channel ping-pong, `select!` with
//! timeouts, a contended Mutex, context trees. Every message is counted;
//! the scheduler trace shows the new number of Ps.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use gort::context::{self, background};

#[test]
fn resizing_under_channels_select_mutex_and_contexts_loses_nothing() {
    let rt = gort::Runtime::builder().max_procs(2).build().unwrap();
    rt.block_on(|| {
        let stop = Arc::new(AtomicBool::new(false));
        // Ping-pong pairs: each side counts what it received.
        let mut pairs = Vec::new();
        for _ in 0..20 {
            let (a, b) = (gort::chan::<u64>(0), gort::chan::<u64>(0));
            let (a2, b2, s) = (a.clone(), b.clone(), stop.clone());
            let pinger = gort::go!(move || {
                let mut n = 0u64;
                while !s.load(Ordering::Relaxed) {
                    a2.send(n).unwrap();
                    assert_eq!(b2.recv(), Some(n + 1), "the answer to {n}");
                    n += 1;
                }
                a2.close();
                n
            });
            let ponger = gort::go!(move || {
                let mut n = 0u64;
                while let Some(v) = a.recv() {
                    b.send(v + 1).unwrap();
                    n += 1;
                }
                n
            });
            pairs.push((pinger, ponger));
        }
        // Producers and consumers through select with timeouts.
        let work = gort::chan::<u64>(16);
        let (produced, consumed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let quit = gort::chan::<()>(0);
        let producers: Vec<_> = (0..4)
            .map(|_| {
                let (w, s, p) = (work.clone(), stop.clone(), produced.clone());
                gort::go!(move || {
                    while !s.load(Ordering::Relaxed) {
                        gort::select! {
                            send(w, 1) -> r => { r.unwrap(); p.fetch_add(1, Ordering::Relaxed); },
                            recv(gort::after(Duration::from_millis(2))) => {},
                        }
                    }
                })
            })
            .collect();
        let consumers: Vec<_> = (0..8)
            .map(|_| {
                let (w, q, c) = (work.clone(), quit.clone(), consumed.clone());
                gort::go!(move || {
                    loop {
                        gort::select! {
                            recv(w) -> v => { c.fetch_add(v.unwrap(), Ordering::Relaxed); },
                            recv(gort::after(Duration::from_millis(3))) => {},
                            recv(q) => return,
                        }
                    }
                })
            })
            .collect();
        // A contended Mutex.
        let counter = Arc::new(gort::sync::Mutex::new(0u64));
        let lockers: Vec<_> = (0..8)
            .map(|_| {
                let (m, s) = (counter.clone(), stop.clone());
                gort::go!(move || {
                    let mut n = 0u64;
                    while !s.load(Ordering::Relaxed) {
                        *m.lock() += 1;
                        n += 1;
                        if n % 100 == 0 {
                            gort::yield_now();
                        }
                    }
                    n
                })
            })
            .collect();
        // Context trees cancelled from the root.
        let trees: Vec<_> = (0..4)
            .map(|_| {
                let s = stop.clone();
                gort::go!(move || {
                    let mut woken = 0u64;
                    while !s.load(Ordering::Relaxed) {
                        let (root, cancel) = context::with_cancel(&background());
                        let waiters: Vec<_> = (0..5)
                            .map(|_| {
                                let (child, _c) = context::with_timeout(&root, Duration::from_secs(30));
                                gort::go!(move || child.done().recv())
                            })
                            .collect();
                        gort::sleep(Duration::from_micros(300));
                        cancel.cancel();
                        for w in waiters {
                            assert_eq!(w.join().unwrap(), None, "done() is closed, not sent on");
                            woken += 1;
                        }
                    }
                    woken
                })
            })
            .collect();

        for (i, n) in [4, 1, 3, 2, 5, 1, 2].into_iter().cycle().take(21).enumerate() {
            gort::sleep(Duration::from_millis(2 + i as u64 % 3));
            gort::set_max_procs(n);
            assert_eq!(gort::max_procs(), n);
        }
        stop.store(true, Ordering::Relaxed);
        let mut pings = 0;
        for (pinger, ponger) in pairs {
            let (sent, answered) = (pinger.join().unwrap(), ponger.join().unwrap());
            assert_eq!(sent, answered, "every ping answered once");
            pings += sent;
        }
        assert!(pings > 0);
        for p in producers {
            p.join().unwrap();
        }
        // Drain what is still buffered, then let the consumers go.
        while let Ok(v) = work.try_recv() {
            consumed.fetch_add(v, Ordering::Relaxed);
        }
        quit.close();
        for c in consumers {
            c.join().unwrap();
        }
        assert_eq!(produced.load(Ordering::Relaxed), consumed.load(Ordering::Relaxed), "produced = consumed");
        let locked: u64 = lockers.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(*counter.lock(), locked, "no lost increment");
        let woken: u64 = trees.into_iter().map(|h| h.join().unwrap()).sum();
        assert!(woken > 0);
    });
}

/// The scheduler trace (`GORT_SCHEDTRACE`) reports the new number of Ps.
/// Causal: the child changes the number of Ps only after the parent has
/// read a trace line with the old one, and exits only after the parent
/// has read one with the new one (a loaded machine may delay sysmon's
/// first line past any fixed sleep).
#[test]
fn schedtrace_shows_the_new_number_of_ps() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};
    const NAME: &str = "schedtrace_shows_the_new_number_of_ps";
    if std::env::var("GORT_CHILD").as_deref() != Ok(NAME) {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", NAME, "--nocapture", "--test-threads=1"])
            .env("GORT_CHILD", NAME)
            .env("GORT_SCHEDTRACE", "5")
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        // A trace that never shows a line would block the reads below.
        std::thread::spawn(|| {
            std::thread::sleep(Duration::from_secs(120));
            eprintln!("no schedtrace line with the expected gomaxprocs within 120 s");
            std::process::abort();
        });
        let mut stdin = child.stdin.take().unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut seen = Vec::new();
        for want in ["gomaxprocs=2 ", "gomaxprocs=3 "] {
            loop {
                let line = lines.next().unwrap_or_else(|| panic!("no line with {want}: {seen:#?}")).unwrap();
                seen.push(line.clone());
                if line.contains(want) {
                    break;
                }
            }
            writeln!(stdin, "next").unwrap();
        }
        drop(stdin);
        lines.for_each(drop);
        assert!(child.wait().unwrap().success(), "{seen:#?}");
        return;
    }
    // Blocks its M in read(2): sysmon hands the P on meanwhile.
    let next = || gort::syscall(|| std::io::stdin().lock().read_line(&mut String::new()).unwrap());
    let rt = gort::Runtime::builder().max_procs(2).build().unwrap();
    rt.block_on(move || {
        next();
        assert_eq!(gort::set_max_procs(3), 2);
        next();
    });
}
