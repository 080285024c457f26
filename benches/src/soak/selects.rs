//! Select with timeouts: producers offering items to a channel of
//! capacity 16 against a 2 ms timeout, consumers taking them against a
//! 1–5 ms timeout or a quit channel (issue 12 §1).
//!
//! Go: benches/go/soak/selects.go.
//!
//! Each item is (producer, sequence number); producer `p` sends 1, 2, 3...
//! in order, so `n` items sent have the sum n(n+1)/2 and the sum of
//! squares n(n+1)(2n+1)/6. Consumers add up count, sum and sum of squares
//! per producer; a lost, duplicated or corrupted item changes at least one
//! of them. On the stop the producers end, a closer goroutine closes the
//! work and quit channels, and the consumers drain the buffer and end when
//! the work channel is closed and empty; whatever is left is drained and
//! counted after they are joined.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gort::JoinHandle;
use gort::sync::WaitGroup;

use super::progress::Part;
use super::report::Checks;
use super::{Rng, Shared, go_named};

/// An item: (producer, sequence number from 1).
type Item = (u32, u64);

/// Per-producer totals.
#[derive(Default)]
struct Tally {
    /// Items the producer sent (its last sequence number).
    sent: AtomicU64,
    /// Items received (by consumers, or drained at the end), their sum and
    /// sum of squares (wrapping).
    got: AtomicU64,
    sum: AtomicU64,
    sum_sq: AtomicU64,
}

impl Tally {
    fn add(&self, n: u64, sum: u64, sum_sq: u64) {
        self.got.fetch_add(n, Ordering::Relaxed);
        self.sum.fetch_add(sum, Ordering::Relaxed);
        self.sum_sq.fetch_add(sum_sq, Ordering::Relaxed);
    }
}

/// The channels and every producer's tally.
pub(crate) struct Stats {
    work: gort::Chan<Item>,
    quit: gort::Chan<()>,
    tally: Box<[Tally]>,
    drained: AtomicU64,
    timeouts: AtomicU64,
}

impl Stats {
    pub(crate) fn new(producers: usize) -> Stats {
        Stats {
            work: gort::chan(16),
            quit: gort::chan(0),
            tally: (0..producers).map(|_| Tally::default()).collect(),
            drained: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
        }
    }
}

/// Starts the producers, their closer and the consumers.
pub(crate) fn spawn(sh: &Arc<Shared>, hs: &mut Vec<JoinHandle<()>>) {
    let producing = Arc::new(WaitGroup::new());
    for p in 0..sh.cfg.producers {
        producing.add(1);
        let (s, wg) = (sh.clone(), producing.clone());
        hs.push(go_named(format!("sel.producer/{p}"), move || {
            producer(&s, p);
            wg.done();
        }));
    }
    let s = sh.clone();
    hs.push(go_named("sel.closer".into(), move || {
        producing.wait();
        s.sel.work.close();
        s.sel.quit.close();
    }));
    for c in 0..sh.cfg.consumers {
        let s = sh.clone();
        hs.push(go_named(format!("sel.consumer/{c}"), move || consumer(&s, c)));
    }
}

fn producer(sh: &Shared, p: usize) {
    let beat = sh.progress.beat(Part::Producer, p);
    let mut rng = Rng::new(p as u64 + 77);
    let mut seq = 0u64;
    let wait = Duration::from_millis(2);
    while !sh.stopped() {
        let t = Instant::now();
        gort::select! {
            send(sh.sel.work, (p as u32, seq + 1)) -> r => {
                r.expect("the work channel closes only after every producer ended");
                seq += 1;
            },
            recv(gort::after(wait)) => sh.lat.after.record_late(t.elapsed(), wait),
        }
        if rng.below(8) == 0 {
            sh.nap(Duration::from_millis(1));
        }
        beat.tick();
    }
    sh.sel.tally[p].sent.store(seq, Ordering::Relaxed);
}

/// Per-producer count, sum, sum of squares, accumulated locally.
fn take(acc: &mut [(u64, u64, u64)], (p, seq): Item) {
    let a = &mut acc[p as usize];
    a.0 += 1;
    a.1 = a.1.wrapping_add(seq);
    a.2 = a.2.wrapping_add(seq.wrapping_mul(seq));
}

fn consumer(sh: &Shared, c: usize) {
    let beat = sh.progress.beat(Part::Consumer, c);
    let mut rng = Rng::new(c as u64 + 1234);
    let mut acc = vec![(0u64, 0u64, 0u64); sh.cfg.producers];
    let mut timeouts = 0u64;
    loop {
        let wait = Duration::from_millis(1 + rng.below(5));
        let t = Instant::now();
        gort::select! {
            recv(sh.sel.work) -> v => match v {
                Some(item) => take(&mut acc, item),
                None => break,
            },
            recv(gort::after(wait)) => {
                timeouts += 1;
                sh.lat.after.record_late(t.elapsed(), wait);
            },
            recv(sh.sel.quit) => {},
        }
        beat.tick();
    }
    for (t, (n, sum, sq)) in sh.sel.tally.iter().zip(acc) {
        t.add(n, sum, sq);
    }
    sh.sel.timeouts.fetch_add(timeouts, Ordering::Relaxed);
}

/// After the joins: takes what is left in the work channel (nothing, if
/// the consumers drained it as they should).
pub(crate) fn drain(sh: &Shared) {
    let mut acc = vec![(0u64, 0u64, 0u64); sh.cfg.producers];
    let mut n = 0;
    while let Ok(item) = sh.sel.work.try_recv() {
        take(&mut acc, item);
        n += 1;
    }
    for (t, (n, sum, sq)) in sh.sel.tally.iter().zip(acc) {
        t.add(n, sum, sq);
    }
    sh.sel.drained.store(n, Ordering::Relaxed);
}

/// Every producer's items arrived exactly once (count, sum, sum of squares).
pub(crate) fn check(sh: &Shared, c: &mut Checks) {
    let (mut sent, mut got, mut wrong) = (0u64, 0u64, Vec::new());
    for (p, t) in sh.sel.tally.iter().enumerate() {
        let n = t.sent.load(Ordering::Relaxed);
        let g = t.got.load(Ordering::Relaxed);
        let sum = (n as u128 * (n as u128 + 1) / 2) as u64;
        let sq = (n as u128 * (n as u128 + 1) * (2 * n as u128 + 1) / 6) as u64;
        sent += n;
        got += g;
        if g != n || t.sum.load(Ordering::Relaxed) != sum || t.sum_sq.load(Ordering::Relaxed) != sq {
            wrong.push(format!("producer {p}: sent {n}, received {g}"));
        }
    }
    let drained = sh.sel.drained.load(Ordering::Relaxed);
    c.add(
        "select",
        wrong.is_empty() && (sh.cfg.producers == 0 || sent > 0),
        format!(
            "produced={sent} consumed={} drained={drained} timeouts={} bad_producers={}{}",
            got - drained,
            sh.sel.timeouts.load(Ordering::Relaxed),
            wrong.len(),
            wrong.first().map(|w| format!(" first: {w}")).unwrap_or_default()
        ),
    );
}
