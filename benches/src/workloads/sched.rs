//! Workloads of pending cancellable tasks (see mod.rs for the
//! convention): the course's claim that with very many pending tasks that
//! must also be cancellable, a timer per task costs a lot of CPU, and a
//! group with one heap and one timer (schedgroup) does not.
//!
//! Each workload schedules 100,000, then 1,000,000 no-op tasks due an hour
//! from now (spread over a second, so the heaps sift), then cancels them
//! all, and reports the time per task for both phases together and for
//! each, and (on an extra line) the resident memory a pending task costs. benches/go/sched_bench.go has the same three on Go's side.
//!
//! - `sched_group`: one [`SchedGroup`]; cancelling is cancelling its
//!   context and `wait` (which drops the pending tasks). Go: a heap with
//!   one `time.Timer` and a monitor goroutine, schedgroup's design.
//! - `sched_timer`: a [`gort::Timer`] (a timer channel) per task, each
//!   stopped. Go: `time.NewTimer` per task, each stopped.
//! - `sched_afterfunc`: [`gort::after_func`] per task, each stopped. Go:
//!   `time.AfterFunc` per task, each stopped.

use std::time::{Duration, Instant};

use super::support::{report, rss_kb};
use gort::context;
use gort::sync::group::SchedGroup;

pub(crate) const WORKLOADS: &[(&str, fn())] =
    &[("sched_group", sched_group), ("sched_timer", sched_timer), ("sched_afterfunc", sched_afterfunc)];

const SIZES: [(usize, &str); 2] = [(100_000, "100k"), (1_000_000, "1m")];

/// Task `i`'s delay: an hour, plus up to a second spread pseudo-randomly.
fn delay(i: usize) -> Duration {
    Duration::from_secs(3600) + Duration::from_micros((i as u64).wrapping_mul(7919) % 1_000_000)
}

/// Runs `schedule(n)` then `cancel`, and reports `name_size` (ns per
/// task, both phases), `name_size_schedule` and `name_size_cancel`, and
/// the resident bytes a pending task costs on an extra line.
fn measure<S>(name: &str, schedule: impl Fn(usize) -> S, cancel: impl Fn(S)) {
    for (n, size) in SIZES {
        let before = rss_kb();
        let t = Instant::now();
        let pending = schedule(n);
        let sched = t.elapsed();
        let bytes = (rss_kb() - before) as f64 * 1024.0 / n as f64;
        let t2 = Instant::now();
        cancel(pending);
        let cancel_d = t2.elapsed();
        report(&format!("{name}_{size}"), n as u64, sched + cancel_d);
        report(&format!("{name}_{size}_schedule"), n as u64, sched);
        report(&format!("{name}_{size}_cancel"), n as u64, cancel_d);
        println!("{name}_{size}_bytes_per_pending_task {bytes:.0}");
    }
}

fn sched_group() {
    measure(
        "sched_group",
        |n| {
            let (ctx, cancel) = context::with_cancel(&context::background());
            let sg = SchedGroup::new(&ctx);
            for i in 0..n {
                sg.delay(delay(i), || {});
            }
            (sg, cancel)
        },
        |(sg, cancel)| {
            cancel.cancel();
            assert_eq!(sg.wait(), Err(context::Canceled));
        },
    );
}

fn sched_timer() {
    measure(
        "sched_timer",
        |n| (0..n).map(|i| gort::Timer::new(delay(i))).collect::<Vec<_>>(),
        |timers| {
            for t in &timers {
                assert!(t.stop());
            }
        },
    );
}

fn sched_afterfunc() {
    measure(
        "sched_afterfunc",
        |n| (0..n).map(|i| gort::after_func(delay(i), || {})).collect::<Vec<_>>(),
        |timers| {
            for t in &timers {
                assert!(t.stop());
            }
        },
    );
}
