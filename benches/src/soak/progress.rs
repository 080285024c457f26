//! Per-worker progress counters: the soak's evidence that no goroutine is
//! lost, and its live throughput figures.
//!
//! Go: none (the Go twin keeps the same counters, benches/go/soak).
//!
//! Every long-lived worker goroutine owns one slot and adds one to it per
//! loop iteration (a relaxed store by its only writer; the monitor thread
//! reads it), and sets the slot's top bit when it ends (its [`Beat`] is
//! dropped). A slot that stops moving while the run is on means that
//! worker is starved, blocked on a partner that is stuck, or itself lost by
//! the scheduler; a slot without its top bit long after the stop names a
//! worker that never ended. Slots are padded to a cache line so neighbours
//! on different Ps do not share one.

use std::sync::atomic::{AtomicU64, Ordering};

/// The kinds of long-lived workers, one section of slots each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Part {
    /// The sending side of a ping-pong pair (one per pair).
    PpSend,
    /// The echoing side of a ping-pong pair.
    PpRecv,
    /// A select producer.
    Producer,
    /// A select consumer.
    Consumer,
    /// A mutex worker.
    Mutex,
    /// A timer looper.
    Timer,
    /// A context-tree builder.
    Ctx,
    /// A TCP client.
    Client,
}

impl Part {
    pub(crate) const ALL: [Part; 8] = [
        Part::PpSend,
        Part::PpRecv,
        Part::Producer,
        Part::Consumer,
        Part::Mutex,
        Part::Timer,
        Part::Ctx,
        Part::Client,
    ];

    /// The name used in goroutine names and stall reports.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Part::PpSend => "pp.send",
            Part::PpRecv => "pp.recv",
            Part::Producer => "sel.producer",
            Part::Consumer => "sel.consumer",
            Part::Mutex => "mutex",
            Part::Timer => "timer",
            Part::Ctx => "ctx.builder",
            Part::Client => "tcp.client",
        }
    }
}

#[repr(align(64))]
struct Slot(AtomicU64);

/// The top bit of a slot: its worker has ended.
const FINISHED: u64 = 1 << 63;

/// The slots of every worker, section by section (see the module docs).
pub(crate) struct Progress {
    slots: Box<[Slot]>,
    /// (part, first slot, count), in `Part::ALL` order.
    sections: Vec<(Part, usize, usize)>,
}

impl Progress {
    /// Slots for `count(part)` workers of each part.
    pub(crate) fn new(count: impl Fn(Part) -> usize) -> Progress {
        let mut sections = Vec::new();
        let mut at = 0;
        for p in Part::ALL {
            sections.push((p, at, count(p)));
            at += count(p);
        }
        Progress { slots: (0..at).map(|_| Slot(AtomicU64::new(0))).collect(), sections }
    }

    fn index(&self, part: Part, i: usize) -> usize {
        let &(_, first, n) = self.sections.iter().find(|s| s.0 == part).expect("every part has a section");
        assert!(i < n, "{} worker {i} out of {n}", part.name());
        first + i
    }

    /// The slot of worker `i` of `part`.
    pub(crate) fn beat(&self, part: Part, i: usize) -> Beat<'_> {
        Beat(&self.slots[self.index(part, i)].0)
    }

    /// All slots' counts now, in slot order, and whether each worker ended.
    pub(crate) fn snapshot(&self) -> Vec<(u64, bool)> {
        self.slots
            .iter()
            .map(|s| {
                let v = s.0.load(Ordering::Relaxed);
                (v & !FINISHED, v & FINISHED != 0)
            })
            .collect()
    }

    /// The sum of `part`'s slots: its workers' iterations so far.
    pub(crate) fn sum(&self, part: Part) -> u64 {
        let &(_, first, n) = self.sections.iter().find(|s| s.0 == part).expect("every part has a section");
        self.slots[first..first + n].iter().map(|s| s.0.load(Ordering::Relaxed) & !FINISHED).sum()
    }

    /// `part[i]` for slot index `idx`.
    pub(crate) fn label(&self, idx: usize) -> String {
        for &(p, first, n) in &self.sections {
            if (first..first + n).contains(&idx) {
                return format!("{}[{}]", p.name(), idx - first);
            }
        }
        format!("slot[{idx}]")
    }
}

/// One worker's slot: only its worker writes it. Dropping it (when the
/// worker returns or unwinds) marks the worker ended.
pub(crate) struct Beat<'a>(&'a AtomicU64);

impl Beat<'_> {
    /// One more iteration done.
    pub(crate) fn tick(&self) {
        self.0.store(self.0.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }
}

impl Drop for Beat<'_> {
    fn drop(&mut self) {
        self.0.store(self.0.load(Ordering::Relaxed) | FINISHED, Ordering::Relaxed);
    }
}
