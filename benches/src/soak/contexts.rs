//! Context trees: builders making root → 5 children (`with_timeout` and
//! `with_cancel` alternately) → 4 grandchildren each, one goroutine per
//! grandchild, cancelling the root after 0–10 ms (issue 12 §1).
//!
//! Go: benches/go/soak/contexts.go.
//!
//! Each grandchild goroutine loops on a select of its context's `done()`,
//! its own tick channel and `after(3 ms)`; the builder sends one tick to
//! each (a message the check counts), sleeps, stamps the time and cancels
//! the root. Each grandchild, once woken by the cancellation, records the
//! time since the stamp (the `ctx_wake` histogram: cancel-to-wake), checks
//! that its context's error is `Canceled`, and signals a WaitGroup the
//! builder waits on. The stamp is stored before `cancel` and read after
//! `done()` fires, which `cancel` makes happen after the store.
//!
//! On an overloaded machine a tree can take longer than the `with_timeout`
//! children's 10 s: those children then expire first, legitimately. Their
//! grandchildren end with `DeadlineExceeded` (counted as `expired`, and
//! only allowed under a timeout child at least 10 s old; they record no
//! cancel-to-wake), and the builder's tick send to such a grandchild
//! gives up when its parent is done (counted as `ticks_skipped`) instead
//! of blocking forever. The check wants sent + skipped = grandchildren,
//! every sent tick received, and no other error.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gort::JoinHandle;
use gort::context::{self, Context};
use gort::sync::WaitGroup;

use super::progress::Part;
use super::report::Checks;
use super::{Rng, Shared, go_named};

const CHILDREN: usize = 5;
const GRANDCHILDREN: usize = 4;
/// The deadline of the `with_timeout` children.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Totals over all trees.
#[derive(Default)]
pub(crate) struct Stats {
    /// Grandchildren started, and those that ended after the cancel.
    started: AtomicU64,
    woken: AtomicU64,
    /// Ticks sent by builders, and received by grandchildren.
    ticks_sent: AtomicU64,
    ticks_got: AtomicU64,
    /// Ticks not sent because the grandchild's parent had expired.
    ticks_skipped: AtomicU64,
    /// Grandchildren ended by their timeout parent's deadline.
    expired: AtomicU64,
    /// Grandchildren whose context's error was neither `Canceled` nor an
    /// allowed `DeadlineExceeded`.
    wrong_err: AtomicU64,
}

/// Starts the builders.
pub(crate) fn spawn(sh: &Arc<Shared>, hs: &mut Vec<JoinHandle<()>>) {
    for b in 0..sh.cfg.ctx {
        let s = sh.clone();
        hs.push(go_named(format!("ctx.builder/{b}"), move || builder(&s, b)));
    }
}

fn builder(sh: &Arc<Shared>, b: usize) {
    let beat = sh.progress.beat(Part::Ctx, b);
    let mut rng = Rng::new(b as u64 + 4242);
    while !sh.stopped() {
        tree(sh, &mut rng);
        beat.tick();
    }
}

/// One tree, from building to the last grandchild's wake-up.
fn tree(sh: &Arc<Shared>, rng: &mut Rng) {
    let (root, cancel) = context::with_cancel(&context::background());
    let wg = Arc::new(WaitGroup::new());
    // Nanoseconds since the soak's epoch at the root's cancel.
    let cancelled_at = Arc::new(AtomicU64::new(0));
    let mut keep = Vec::with_capacity(CHILDREN);
    let mut ticks = Vec::with_capacity(CHILDREN * GRANDCHILDREN);
    let born = Instant::now();
    for k in 0..CHILDREN {
        let timed = k % 2 == 0;
        let (child, ccancel) =
            if timed { context::with_timeout(&root, TIMEOUT) } else { context::with_cancel(&root) };
        for _ in 0..GRANDCHILDREN {
            let (gc, gcancel) = context::with_cancel(&child);
            let tick = gort::chan::<()>(0);
            ticks.push((tick.clone(), child.clone()));
            wg.add(1);
            sh.ctx.started.fetch_add(1, Ordering::Relaxed);
            let (s, wg, at) = (sh.clone(), wg.clone(), cancelled_at.clone());
            gort::go!(move || {
                grandchild(&s, &gc, &tick, &at, timed.then_some(born));
                drop(gcancel);
                wg.done();
            });
        }
        keep.push(ccancel);
    }
    for (t, parent) in &ticks {
        gort::select! {
            send(t, ()) -> r => {
                r.expect("tick channels are never closed");
                sh.ctx.ticks_sent.fetch_add(1, Ordering::Relaxed);
            },
            recv(parent.done()) => {
                sh.ctx.ticks_skipped.fetch_add(1, Ordering::Relaxed);
            },
        }
    }
    sh.nap(Duration::from_millis(rng.below(10)));
    cancelled_at.store(sh.now_ns(), Ordering::Release);
    cancel.cancel();
    wg.wait();
    drop(keep);
}

/// `timed_since`: when the grandchild's parent was made, if it is a
/// `with_timeout` child.
fn grandchild(
    sh: &Shared,
    gc: &Context,
    tick: &gort::Chan<()>,
    cancelled_at: &AtomicU64,
    timed_since: Option<Instant>,
) {
    let wait = Duration::from_millis(3);
    loop {
        let t = Instant::now();
        gort::select! {
            recv(gc.done()) => break,
            recv(tick) => {
                sh.ctx.ticks_got.fetch_add(1, Ordering::Relaxed);
            },
            recv(gort::after(wait)) => sh.lat.after.record_late(t.elapsed(), wait),
        }
    }
    let woke = sh.now_ns();
    match gc.err() {
        Some(context::Canceled) => {
            let at = cancelled_at.load(Ordering::Acquire);
            sh.lat.ctx_wake.record_us(woke.saturating_sub(at) / 1000);
        }
        Some(context::DeadlineExceeded) if timed_since.is_some_and(|b| b.elapsed() >= TIMEOUT) => {
            sh.ctx.expired.fetch_add(1, Ordering::Relaxed);
        }
        _ => {
            sh.ctx.wrong_err.fetch_add(1, Ordering::Relaxed);
        }
    }
    sh.ctx.woken.fetch_add(1, Ordering::Relaxed);
}

/// Every grandchild woke with `Canceled` (or an allowed expiry), every
/// tick sent or skipped, every sent tick received.
pub(crate) fn check(sh: &Shared, c: &mut Checks) {
    let x = &sh.ctx;
    let [started, woken, sent, skipped, got, expired, wrong] =
        [&x.started, &x.woken, &x.ticks_sent, &x.ticks_skipped, &x.ticks_got, &x.expired, &x.wrong_err]
            .map(|a| a.load(Ordering::Relaxed));
    let trees = sh.progress.sum(Part::Ctx);
    let expect = trees * (CHILDREN * GRANDCHILDREN) as u64;
    c.add(
        "ctx",
        started == expect && woken == expect && sent + skipped == expect && got == sent && wrong == 0,
        format!(
            "trees={trees} grandchildren_expected={expect} started={started} woken={woken} \
             ticks_sent={sent} ticks_received={got} ticks_skipped={skipped} expired={expired} wrong_err={wrong}"
        ),
    );
}
