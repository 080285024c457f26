//! Workloads of the chan area (see mod.rs for the convention). Each entry's
//! name matches a workload of the Go program in benches/go (main.go's
//! `skynet`, `pingpong` and `chan`; chan_bench.go's `select`), and mirrors
//! it line by line.

use std::time::{Duration, Instant};

use super::support::{report, wait_group};
use gort::Chan;

pub(crate) const WORKLOADS: &[(&str, fn())] =
    &[("skynet", skynet), ("pingpong", pingpong), ("chan", chan), ("select", select_prodcons)];

/// One node of the 10-ary tree: a leaf sends its number, an inner node
/// spawns 10 children on a fresh unbuffered channel and sends their sum.
fn skynet_node(c: Chan<u64>, num: u64, size: u64, div: u64) {
    if size == 1 {
        c.send(num).unwrap();
        return;
    }
    let rc = gort::chan::<u64>(0);
    for i in 0..div {
        let sub = num + i * (size / div);
        let rc = rc.clone();
        gort::go!(move || skynet_node(rc, sub, size / div, div));
    }
    let mut sum = 0;
    for _ in 0..div {
        sum += rc.recv().unwrap();
    }
    c.send(sum).unwrap();
}

/// skynet: 1,000,000 leaves, 10-way.
fn skynet() {
    let size = 1_000_000u64;
    let t = Instant::now();
    let c = gort::chan::<u64>(0);
    let c2 = c.clone();
    gort::go!(move || skynet_node(c2, 0, size, 10));
    let sum = c.recv().unwrap();
    let d = t.elapsed();
    assert_eq!(sum, size * (size - 1) / 2, "bad sum");
    report("skynet", size, d);
}

/// pingpong: 1,000,000 round trips over two unbuffered channels.
fn pingpong() {
    let n = 1_000_000;
    let (a, b) = (gort::chan::<u64>(0), gort::chan::<u64>(0));
    let (a2, b2) = (a.clone(), b.clone());
    gort::go!(move || {
        for v in &a2 {
            b2.send(v).unwrap();
        }
        b2.close();
    });
    let t = Instant::now();
    for i in 0..n {
        a.send(i).unwrap();
        b.recv();
    }
    a.close();
    report("pingpong", n, t.elapsed());
}

/// chan_mpmc: `p` producers and as many consumers over one channel.
fn chan_mpmc(n: usize, p: usize, cap: usize) {
    let ch = gort::chan::<usize>(cap);
    let wg = wait_group(p);
    let t = Instant::now();
    let per = n / p;
    for _ in 0..p {
        let ch = ch.clone();
        gort::go!(move || {
            for j in 0..per {
                ch.send(j).unwrap();
            }
        });
    }
    for _ in 0..p {
        let (ch, wg) = (ch.clone(), wg);
        gort::go!(move || {
            for _ in 0..per {
                ch.recv();
            }
            wg.done();
        });
    }
    wg.wait();
    report(&format!("chan_mpmc_cap{cap}"), (per * p) as u64, t.elapsed());
}

/// chan: 4 producers, 4 consumers, 4,000,000 messages, unbuffered then
/// with capacity 128.
fn chan() {
    chan_mpmc(4_000_000, 4, 0);
    chan_mpmc(4_000_000, 4, 128);
}

/// select: Go's BenchmarkSelectProdCons as a workload: 2 producers and 2
/// consumers over one channel of capacity 128, 1,000,000 messages, every
/// operation a 3-case select with a fresh `after(1h)` case and a
/// never-ready close channel (select plus timer-channel cost).
fn select_prodcons() {
    let (n, procs) = (1_000_000usize, 2usize);
    let myc = gort::chan::<usize>(128);
    let myclose = gort::chan::<bool>(0);
    let wg = wait_group(procs);
    let per = n / procs;
    let t = Instant::now();
    for _ in 0..procs {
        let (c, close) = (myc.clone(), myclose.clone());
        gort::go!(move || {
            for _ in 0..per {
                gort::select! {
                    send(c, 1) -> _ => {},
                    recv(gort::after(Duration::from_secs(3600))) -> _ => panic!("timeout"),
                    recv(close) -> _ => {},
                }
            }
        });
        let (c, close, wg) = (myc.clone(), myclose.clone(), wg);
        gort::go!(move || {
            for _ in 0..per {
                gort::select! {
                    recv(c) -> _ => {},
                    recv(gort::after(Duration::from_secs(3600))) -> _ => panic!("timeout"),
                    recv(close) -> _ => {},
                }
            }
            wg.done();
        });
    }
    wg.wait();
    report("select_prodcons", (per * procs) as u64, t.elapsed());
}
