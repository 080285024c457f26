//! Testing helpers: a goroutine leak check, like Go's goleak, and
//! [`synctest`]'s virtual-time bubbles (Go's `testing/synctest`).
//!
//! ```
//! # use std::time::Duration;
//! let rt = gort_runtime::Runtime::builder().max_procs(2).build().unwrap();
//! rt.block_on(|| {
//!     let check = gort_runtime::testing::LeakCheck::new();
//!     gort_runtime::spawn(|| gort_runtime::sleep(Duration::from_millis(1)));
//!     check.assert(); // waits for the goroutine above to finish
//! });
//! ```
//!
//! A check remembers which goroutines were alive when it was made; asserting
//! waits (up to its timeout) for every other goroutine to finish, then fails
//! listing those still alive with their state and spawn site. The goroutine
//! that asserts is never counted. gort starts no goroutines of its own, so
//! there is nothing else to ignore.

// Declared here so that its one public path is `testing::synctest`, next
// to the leak check, as Go's `testing/synctest`; the files stay in
// `runtime/src/synctest/`.
#[path = "synctest/mod.rs"]
pub mod synctest;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::dump::GoroutineInfo;
use crate::sched::Sched;

/// A snapshot to compare against later (see the module docs). It keeps its
/// runtime's scheduler state alive, so it stays valid after the runtime is
/// dropped (and then finds no goroutine).
pub struct LeakCheck {
    sched: Arc<Sched>,
    baseline: HashSet<u64>,
    timeout: Duration,
}

/// Goroutines that outlived a [`LeakCheck`].
#[derive(Debug)]
pub struct Leaks(pub Vec<GoroutineInfo>);

impl std::fmt::Display for Leaks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "found {} unexpected goroutine(s):", self.0.len())?;
        for g in &self.0 {
            write!(f, "\n{g}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Leaks {}

impl LeakCheck {
    /// Snapshots the goroutines alive now in the current runtime (the
    /// default one on a plain thread).
    pub fn new() -> LeakCheck {
        LeakCheck::on(crate::runtime::current_sched_arc())
    }

    /// Snapshots the goroutines alive now in `rt`.
    pub fn for_runtime(rt: &crate::Runtime) -> LeakCheck {
        LeakCheck::on(rt.sched_arc())
    }

    fn on(sched: Arc<Sched>) -> LeakCheck {
        let baseline = sched.goroutines_brief().into_iter().map(|g| g.id).collect();
        LeakCheck { sched, baseline, timeout: Duration::from_secs(1) }
    }

    /// How long to wait for stragglers before failing (default 1 s).
    pub fn timeout(mut self, d: Duration) -> LeakCheck {
        self.timeout = d;
        self
    }

    /// Waits for goroutines started since the snapshot to finish; returns
    /// those still alive after the timeout.
    pub fn check(&self) -> Result<(), Leaks> {
        let me = crate::m::current_goroutine()
            // SAFETY: the current goroutine is alive.
            .map(|g| unsafe { g.get() }.id());
        let deadline = Instant::now() + self.timeout;
        let mut pause = Duration::from_micros(100);
        loop {
            let leaked = |g: &GoroutineInfo| !self.baseline.contains(&g.id) && Some(g.id) != me;
            if !self.sched.goroutines_brief().iter().any(leaked) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                // Once more, with the leaked goroutines' stacks.
                let extra: Vec<GoroutineInfo> = self.sched.goroutines().into_iter().filter(leaked).collect();
                if extra.is_empty() {
                    return Ok(());
                }
                return Err(Leaks(extra));
            }
            crate::timer::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    /// [`LeakCheck::check`], panicking with the list of leaked goroutines.
    #[track_caller]
    pub fn assert(&self) {
        if let Err(leaks) = self.check() {
            panic!("{leaks}");
        }
    }
}

impl Default for LeakCheck {
    fn default() -> Self {
        LeakCheck::new()
    }
}

/// Fails unless every goroutine of the current runtime other than the
/// caller finishes within a second (Go: `goleak.VerifyNone`).
#[track_caller]
pub fn assert_no_leaks() {
    let check = LeakCheck { baseline: HashSet::new(), ..LeakCheck::new() };
    check.assert();
}
