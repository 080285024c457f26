//! A goroutine queued on a P whose M does not come back to the scheduler
//! runs on the other P even while network events keep arriving there, and
//! the sockets in the stalled P's share of the poller keep being served
//! (`gort_runtime`'s findrunnable.rs, "stalled" Ps; gort-netpoll's
//! poller.rs, "The root and the shards").
//!
//! The stall is made by a goroutine that spins without a runtime call on
//! one P, sysmon off (it would move that P to another M after 10 ms, and
//! poll the network every 10 ms): the same view the other P has of an M
//! that the kernel preempted. The goroutine readies another one onto its
//! own P's queue and counts the echo round trips the other P serves
//! meanwhile; then it waits for every connection to make progress, half
//! of them having both sockets in the stalled P's share of the poller
//! (without the other P's help they made none: checked). Go's order (poll the
//! network, steal only when the poll finds nothing) never gets there
//! while messages are in flight; with the stalled-P step the queued
//! goroutine runs at the other P's first poll once the stall has lasted
//! 100 µs (`STALL_NS`).
//!
//! Causal, not timed: the bound is a count of round trips (800 times
//! what it takes), plus a 60 s guard in case the traffic stops.
//! A test binary of its own (the runtime runs without sysmon). Loopback
//! only, bounded.

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gort_netpoll::{TcpListener, TcpStream};
use gort_runtime::Runtime;

/// Connections kept busy, each with one 8-byte message in flight.
const CONNS: usize = 32;
/// Round trips the other P may serve before the queued goroutine runs.
/// With the stalled-P step, what that P serves in 100 µs and one more
/// poll (measured: 4 to 612 round trips in a debug build; the bound is
/// 800 times that, and a count, so a slow machine does not reach it
/// sooner); without it, never while traffic flows.
const LIMIT: u64 = 500_000;
/// Round trips every connection must make while the P stays stalled
/// (the other P serves them in a few milliseconds; LIMIT bounds the
/// wait, in round trips of all connections).
const PER_CONN: u64 = 50;
/// Round trips to see flowing before the stall starts.
const WARMUP: u64 = 10_000;
/// Wall-clock guard in case the traffic stops altogether.
const GUARD: Duration = Duration::from_secs(60);

fn echo_server(mut s: TcpStream) {
    let mut buf = [0u8; 8];
    while s.read_exact(&mut buf).is_ok() {
        if s.write_all(&buf).is_err() {
            break;
        }
    }
}

fn client(mut s: TcpStream, mine: Arc<Counts>, i: usize, stop: Arc<AtomicBool>) {
    let mut buf = [0u8; 8];
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        s.write_all(&n.to_le_bytes()).expect("client write");
        s.read_exact(&mut buf).expect("client read");
        assert_eq!(u64::from_le_bytes(buf), n, "echo returned another message");
        n += 1;
        mine.per_conn[i].fetch_add(1, Ordering::Relaxed);
        mine.total.fetch_add(1, Ordering::Relaxed);
    }
}

/// Round trips, in all and per connection.
struct Counts {
    total: AtomicU64,
    per_conn: Vec<AtomicU64>,
}

impl Counts {
    fn snapshot(&self) -> Vec<u64> {
        self.per_conn.iter().map(|c| c.load(Ordering::Relaxed)).collect()
    }
}

#[test]
fn a_stalled_ps_goroutines_and_sockets_are_served_while_events_keep_coming() {
    let rt = Runtime::builder().max_procs(2).without_sysmon().build().expect("runtime");
    let (ran_after, waited, least) = rt.block_on(|| {
        let ln = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = ln.local_addr().expect("addr");
        let counts = Arc::new(Counts {
            total: AtomicU64::new(0),
            per_conn: (0..CONNS).map(|_| AtomicU64::new(0)).collect(),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let mut handles = Vec::new();
        // Both ends of each connection in one share of the poller (a
        // loopback connection made in the process has one home, and
        // successive connections take the two shares in turn:
        // gort-netpoll's home.rs), so that the other P's connections keep
        // it busy and the stalled P's make progress only if the other P
        // polls the stalled P's share.
        let mut pairs = Vec::new();
        while pairs.len() < CONNS {
            let c = TcpStream::connect(addr).expect("connect");
            let (s, _) = ln.accept().expect("accept");
            pairs.push((c, s));
        }
        for (i, (c, s)) in pairs.into_iter().enumerate() {
            handles.push(gort_runtime::spawn(move || echo_server(s)));
            let (m, st) = (counts.clone(), stop.clone());
            handles.push(gort_runtime::spawn(move || client(c, m, i, st)));
        }
        let start = Instant::now();
        while counts.total.load(Ordering::Relaxed) < WARMUP {
            assert!(start.elapsed() < GUARD, "echo traffic did not start");
            gort_runtime::sleep(Duration::from_millis(1));
        }

        // The staller: readies `queued` onto its own P (a spawn goes to
        // runnext; the second spawn moves the first to the queue, where
        // other Ps may steal it), then keeps that P without a runtime call,
        // first until `queued` ran, then until every connection made
        // PER_CONN more round trips: half the sockets are in the stalled
        // P's share of the poller, which only the other P's help polls.
        let m = counts.clone();
        let staller = gort_runtime::spawn(move || {
            let ran = Arc::new(AtomicBool::new(false));
            let r = ran.clone();
            let at_spawn = m.total.load(Ordering::Relaxed);
            let queued = gort_runtime::spawn(move || r.store(true, Ordering::Release));
            let runnext = gort_runtime::spawn(|| ());
            let begun = Instant::now();
            let waited = loop {
                let served = m.total.load(Ordering::Relaxed) - at_spawn;
                if ran.load(Ordering::Acquire) || served >= LIMIT || begun.elapsed() >= GUARD {
                    break served;
                }
                std::hint::spin_loop();
            };
            let (before, at) = (m.snapshot(), m.total.load(Ordering::Relaxed));
            let least = loop {
                let least = m.snapshot().iter().zip(&before).map(|(a, b)| a - b).min().unwrap_or(0);
                let served = m.total.load(Ordering::Relaxed) - at;
                if least >= PER_CONN || served >= LIMIT || begun.elapsed() >= GUARD {
                    break least;
                }
                std::hint::spin_loop();
            };
            (ran.load(Ordering::Acquire), waited, least, queued, runnext)
        });
        let (ran, waited, least, queued, runnext) = staller.join().expect("staller");
        stop.store(true, Ordering::Relaxed);
        queued.join().expect("queued goroutine");
        runnext.join().expect("runnext goroutine");
        drop(ln);
        for h in handles {
            h.join().expect("echo goroutine");
        }
        (ran, waited, least)
    });
    assert!(
        ran_after,
        "the goroutine queued on the stalled P had not run after {waited} round trips served by the other P"
    );
    eprintln!("queued goroutine ran after {waited} round trips");
    assert!(waited < LIMIT, "waited {waited} round trips");
    assert!(
        least >= PER_CONN,
        "a connection made only {least} round trips while the P was stalled: its sockets were not polled"
    );
}
