//! Ping-pong pairs: two goroutines bouncing a number over two unbuffered
//! channels (issue 12 §1: the sender sleeps 200 µs every 32 round trips).
//!
//! Go: benches/go/soak/pingpong.go.
//!
//! Pair `p` starts at `p << 40` and the sender sends even numbers in
//! order; the echo side expects exactly the next one and returns it plus
//! one, which the sender checks. On the stop the sender closes its channel
//! after a completed round trip, and the echo side ends on the close. Both
//! sides count what they sent and received; the check wants all four
//! counts of every pair equal and no out-of-sequence value.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use gort::JoinHandle;

use super::progress::Part;
use super::report::Checks;
use super::{Shared, go_named};

/// Counts of one pair, stored by each side when it ends.
#[derive(Default)]
struct Pair {
    /// Sender: values sent, replies received.
    sent: AtomicU64,
    replies: AtomicU64,
    /// Echo side: values received, replies sent.
    echo_recv: AtomicU64,
    echo_sent: AtomicU64,
    /// Values out of sequence or missing, either side.
    bad: AtomicU64,
}

/// Every pair's counts.
pub(crate) struct Stats {
    pairs: Box<[Pair]>,
}

impl Stats {
    pub(crate) fn new(pairs: usize) -> Stats {
        Stats { pairs: (0..pairs).map(|_| Pair::default()).collect() }
    }
}

/// Starts every pair.
pub(crate) fn spawn(sh: &Arc<Shared>, hs: &mut Vec<JoinHandle<()>>) {
    for p in 0..sh.cfg.pairs {
        let a = gort::chan::<u64>(0);
        let b = gort::chan::<u64>(0);
        let (sa, sb) = (a.clone(), b.clone());
        let s = sh.clone();
        hs.push(go_named(format!("pp.send/{p}"), move || sender(&s, p, &sa, &sb)));
        let s = sh.clone();
        hs.push(go_named(format!("pp.recv/{p}"), move || echo(&s, p, &a, &b)));
    }
}

fn sender(sh: &Shared, p: usize, a: &gort::Chan<u64>, b: &gort::Chan<u64>) {
    let beat = sh.progress.beat(Part::PpSend, p);
    let pair = &sh.pp.pairs[p];
    let (mut sent, mut replies, mut bad) = (0u64, 0u64, 0u64);
    let mut i = (p as u64) << 40;
    while !sh.stopped() {
        if a.send(i).is_err() {
            bad += 1;
            break;
        }
        sent += 1;
        match b.recv() {
            Some(v) => {
                replies += 1;
                if v != i + 1 {
                    bad += 1;
                }
            }
            None => {
                bad += 1;
                break;
            }
        }
        i += 2;
        if replies % 32 == 0 {
            sh.nap(Duration::from_micros(200));
        }
        beat.tick();
    }
    a.close();
    pair.sent.store(sent, Ordering::Relaxed);
    pair.replies.store(replies, Ordering::Relaxed);
    pair.bad.fetch_add(bad, Ordering::Relaxed);
}

fn echo(sh: &Shared, p: usize, a: &gort::Chan<u64>, b: &gort::Chan<u64>) {
    let beat = sh.progress.beat(Part::PpRecv, p);
    let pair = &sh.pp.pairs[p];
    let (mut got, mut sent, mut bad) = (0u64, 0u64, 0u64);
    let mut want = (p as u64) << 40;
    while let Some(v) = a.recv() {
        got += 1;
        if v != want {
            bad += 1;
        }
        want = v + 2;
        if b.send(v + 1).is_err() {
            bad += 1;
            break;
        }
        sent += 1;
        beat.tick();
    }
    pair.echo_recv.store(got, Ordering::Relaxed);
    pair.echo_sent.store(sent, Ordering::Relaxed);
    pair.bad.fetch_add(bad, Ordering::Relaxed);
}

/// Every pair's four counts agree and nothing came out of sequence.
pub(crate) fn check(sh: &Shared, c: &mut Checks) {
    let (mut total, mut bad, mut mismatched, mut first) = (0u64, 0u64, 0usize, None);
    for (i, p) in sh.pp.pairs.iter().enumerate() {
        let v = [&p.sent, &p.echo_recv, &p.echo_sent, &p.replies].map(|x| x.load(Ordering::Relaxed));
        total += v[3];
        bad += p.bad.load(Ordering::Relaxed);
        if v.iter().any(|&x| x != v[0]) {
            mismatched += 1;
            first.get_or_insert(format!(
                " first: pair {i} sent={} echo_recv={} echo_sent={} replies={}",
                v[0], v[1], v[2], v[3]
            ));
        }
    }
    c.add(
        "pingpong",
        bad == 0 && mismatched == 0 && (sh.cfg.pairs == 0 || total > 0),
        format!(
            "pairs={} round_trips={total} out_of_sequence={bad} mismatched_pairs={mismatched}{}",
            sh.cfg.pairs,
            first.unwrap_or_default()
        ),
    );
}
