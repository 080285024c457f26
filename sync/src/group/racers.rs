//! Goroutines that report results on one channel, for the combinators
//! that wait for the first few results (gollback's `race`, Hunch's `all`,
//! `take`, `retry`, `waterfall`).
//!
//! Each function runs in its own goroutine and sends `(index, Some(r))`
//! when it returns, or `(index, None)` from a drop guard if it panicked;
//! the channel has room for every report, so no goroutine ever blocks on
//! a caller that stopped listening. On a `None` the caller joins that
//! goroutine and resumes its panic; once the caller returns, the handles
//! are dropped, and a later panic follows the runtime's policy for
//! unjoined goroutines (by default the process ends, as in Go).

use gort_channels::{Chan, Sender, chan};
use gort_runtime::JoinHandle;

/// The running functions and their report channel.
pub(super) struct Racers<R> {
    results: Chan<(usize, Option<R>)>,
    handles: Vec<Option<JoinHandle<()>>>,
}

impl<R: Send + 'static> Racers<R> {
    /// A channel for `n` reports and no goroutine yet.
    pub(super) fn with_capacity(n: usize) -> Racers<R> {
        Racers { results: chan(n), handles: Vec::with_capacity(n) }
    }

    /// Starts `f` in a goroutine; its reports carry the next index.
    #[track_caller]
    pub(super) fn spawn(&mut self, f: impl FnOnce() -> R + Send + 'static) {
        let report = Report { i: self.handles.len(), tx: self.results.sender(), sent: false };
        self.handles.push(Some(gort_runtime::spawn(move || report.finish(f()))));
    }

    /// The report channel, for `select!`.
    pub(super) fn results(&self) -> &Chan<(usize, Option<R>)> {
        &self.results
    }

    /// Turns a report into `(index, result)`, resuming a panic.
    pub(super) fn open(&mut self, report: Option<(usize, Option<R>)>) -> (usize, R) {
        match report.expect("the caller holds the channel") {
            (i, Some(r)) => (i, r),
            (i, None) => match self.handles[i].take().expect("one report per goroutine").join() {
                Err(p) => p.resume(),
                Ok(()) => unreachable!("a goroutine that returned reports its result"),
            },
        }
    }
}

/// Sends a goroutine's result, or `None` if it panicked (on drop).
struct Report<R> {
    i: usize,
    tx: Sender<(usize, Option<R>)>,
    sent: bool,
}

impl<R> Report<R> {
    fn finish(mut self, r: R) {
        self.sent = true;
        let _ = self.tx.try_send((self.i, Some(r)));
    }
}

impl<R> Drop for Report<R> {
    fn drop(&mut self) {
        if !self.sent {
            let _ = self.tx.try_send((self.i, None));
        }
    }
}
