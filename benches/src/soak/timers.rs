//! Timer loopers: goroutines each driving one `Timer` through stop,
//! reset-and-wait and reset-then-sleep (issue 12 §1).
//!
//! Go: benches/go/soak/timers.go.
//!
//! Each iteration picks one of three at random:
//! - `stop`, then `recv_timeout(2 ms)` on the timer's channel: after a
//!   stop no value may arrive (Go 1.23's timers); the timeout's lateness
//!   goes to the `after` histogram;
//! - `reset(0.5–3.5 ms)`, then `recv`: the value must not come early nor
//!   be a stale one from before the reset; its lateness goes to the
//!   `timer` histogram;
//! - `reset(1 ms)`, then a sleep of 0–2 ms (the timer may fire meanwhile;
//!   the next iteration's stop or reset must discard it).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gort::{JoinHandle, RecvTimeoutError, Timer};

use super::progress::Part;
use super::report::Checks;
use super::{Rng, Shared, go_named};

/// What went wrong, summed over the loopers.
#[derive(Default)]
pub(crate) struct Stats {
    /// A value received after `stop`.
    stopped_then_fired: AtomicU64,
    /// A value received before the deadline, or stamped before the reset.
    early: AtomicU64,
    /// The timer's channel reported closed.
    closed: AtomicU64,
}

/// Starts the loopers.
pub(crate) fn spawn(sh: &Arc<Shared>, hs: &mut Vec<JoinHandle<()>>) {
    for t in 0..sh.cfg.timers {
        let s = sh.clone();
        hs.push(go_named(format!("timer/{t}"), move || looper(&s, t)));
    }
}

fn looper(sh: &Shared, t: usize) {
    let beat = sh.progress.beat(Part::Timer, t);
    let mut rng = Rng::new(t as u64 + 999);
    let timer = Timer::new(Duration::from_millis(50));
    let st = &sh.tm;
    while !sh.stopped() {
        match rng.below(3) {
            0 => {
                timer.stop();
                let wait = Duration::from_millis(2);
                let start = Instant::now();
                match timer.c().recv_timeout(wait) {
                    Ok(_) => st.stopped_then_fired.fetch_add(1, Ordering::Relaxed),
                    Err(RecvTimeoutError::Timeout) => {
                        sh.lat.after.record_late(start.elapsed(), wait);
                        0
                    }
                    Err(RecvTimeoutError::Closed) => st.closed.fetch_add(1, Ordering::Relaxed),
                };
            }
            1 => {
                let d = Duration::from_micros(500 + rng.below(3000));
                let start = Instant::now();
                timer.reset(d);
                match timer.c().recv() {
                    Some(at) => {
                        let el = start.elapsed();
                        if el < d || at < start {
                            st.early.fetch_add(1, Ordering::Relaxed);
                        }
                        sh.lat.timer.record_late(el, d);
                    }
                    None => {
                        st.closed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            _ => {
                timer.reset(Duration::from_millis(1));
                sh.nap(Duration::from_micros(rng.below(2000)));
            }
        }
        beat.tick();
    }
    timer.stop();
}

/// No value after a stop, none early or stale, no closed channel.
pub(crate) fn check(sh: &Shared, c: &mut Checks) {
    let st = &sh.tm;
    let (stf, early, closed) = (
        st.stopped_then_fired.load(Ordering::Relaxed),
        st.early.load(Ordering::Relaxed),
        st.closed.load(Ordering::Relaxed),
    );
    c.add(
        "timers",
        stf == 0 && early == 0 && closed == 0 && (sh.cfg.timers == 0 || sh.progress.sum(Part::Timer) > 0),
        format!(
            "loopers={} ops={} stopped_then_fired={stf} early_or_stale={early} closed={closed}",
            sh.cfg.timers,
            sh.progress.sum(Part::Timer)
        ),
    );
}
