//! The stacks of one dump: each goroutine walked under the registry lock,
//! each distinct stack symbolized once afterwards.
//!
//! Go: runtime/traceback.go (`tracebackothers`), runtime/mprof.go (the
//! goroutine profile's grouping by stack).
//!
//! A walk is trusted only if the goroutine stayed where it was: its status
//! and its switch record read the same before and after the walk. If it
//! moved, the walk is tried once more, and then the goroutine is shown as
//! running (it was, during the dump).

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use super::{Pcs, Traceback, Walker, walk_switched};
use crate::dump::GoroutineInfo;
use crate::g::{G, status};

/// Distinct walked stacks, and which dump entry shows which.
#[derive(Default)]
pub(crate) struct StackSet {
    index: HashMap<Pcs, usize>,
    stacks: Vec<Pcs>,
    /// (entry of the dump, stack) pairs waiting for symbolization.
    pending: Vec<(usize, usize)>,
}

impl StackSet {
    /// Walks `g`, the dump's entry number `slot`, unless it runs.
    pub(crate) fn walk(&mut self, w: &mut Walker, g: &G, slot: usize) -> Traceback {
        for _ in 0..2 {
            let st = g.status.load(Ordering::Acquire);
            if st != status::WAITING && st != status::RUNNABLE {
                return Traceback::Running;
            }
            let Some(regs) = g.meta.switch.load() else { return Traceback::NotStarted };
            let walked = walk_switched(w, regs);
            if g.status.load(Ordering::Acquire) != st || g.meta.switch.load() != Some(regs) {
                continue; // resumed meanwhile: the copy may be torn
            }
            return match walked {
                Ok(pcs) => self.add(pcs, slot),
                Err(why) => Traceback::Unavailable(why),
            };
        }
        Traceback::Running
    }

    /// Walks the calling goroutine's own stack (top `top`) for entry `slot`.
    pub(crate) fn walk_current(&mut self, top: usize, slot: usize) -> Traceback {
        match super::walk_current(top) {
            Ok(pcs) => self.add(pcs, slot),
            Err(why) => Traceback::Unavailable(why),
        }
    }

    fn add(&mut self, pcs: Pcs, slot: usize) -> Traceback {
        let i = match self.index.get(&pcs) {
            Some(&i) => i,
            None => {
                self.index.insert(pcs.clone(), self.stacks.len());
                self.stacks.push(pcs);
                self.stacks.len() - 1
            }
        };
        self.pending.push((slot, i));
        Traceback::Unavailable("not symbolized")
    }

    /// Symbolizes each distinct stack once and gives the dump's entries
    /// their frames (shared, not copied).
    pub(crate) fn symbolize(self, out: &mut [GoroutineInfo]) {
        let done: Vec<Traceback> = self.stacks.iter().map(Pcs::symbolize).collect();
        for (slot, i) in self.pending {
            out[slot].traceback = done[i].clone();
        }
    }
}
