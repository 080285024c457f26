//! Options of the goroutine dump: which frames, and grouping of identical
//! goroutines.
//!
//! Go: runtime/pprof (the goroutine profile, which prints each distinct
//! stack once with the number of goroutines on it), runtime/traceback.go
//! (`GOTRACEBACK`).
//!
//! Goroutines are identical when they have the same state, the same stack
//! and the same spawn site. Identical stacks share one symbolized frame
//! list (the dump symbolizes each distinct stack once), so grouping
//! compares pointers, not frames. Groups are printed largest first, ties
//! by their lowest goroutine id.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Arc;

use crate::dump::GoroutineInfo;
use crate::traceback::{Traceback, TracebackMode};

/// How [`dump_string_with`] prints the goroutines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DumpOptions {
    group: bool,
    mode: TracebackMode,
}

impl Default for DumpOptions {
    fn default() -> Self {
        DumpOptions { group: false, mode: TracebackMode::from_env() }
    }
}

impl DumpOptions {
    /// Go's dump: every goroutine, frames as `GORT_TRACEBACK` says.
    pub fn new() -> DumpOptions {
        DumpOptions::default()
    }

    /// Print identical goroutines once, as `300 goroutines with this
    /// stack:` followed by their ids (as the goroutine profile does).
    pub fn group(mut self, yes: bool) -> DumpOptions {
        self.group = yes;
        self
    }

    /// Which frames to show, whatever `GORT_TRACEBACK` says.
    pub fn traceback(mut self, mode: TracebackMode) -> DumpOptions {
        self.mode = mode;
        self
    }
}

/// The goroutine dump of the current runtime as `opts` asks.
pub fn dump_string_with(opts: &DumpOptions) -> String {
    render(&crate::dump::goroutines(), opts)
}

/// Prints [`dump_string_with`]'s text to standard error.
pub fn dump_with(opts: &DumpOptions) {
    eprint!("{}", dump_string_with(opts));
}

/// The text of a dump of `gs` (sorted by id).
pub(crate) fn render(gs: &[GoroutineInfo], opts: &DumpOptions) -> String {
    let mut s = String::new();
    if !opts.group {
        for g in gs {
            g.write_to(&mut s, opts.mode);
            s.push('\n');
        }
        return s;
    }
    let mut groups: Vec<Vec<&GoroutineInfo>> = Vec::new();
    let mut index: HashMap<(String, bool, usize, Option<usize>), usize> = HashMap::new();
    for g in gs {
        let key = (
            g.state.clone(),
            g.locked_to_thread,
            stack_key(&g.traceback),
            g.spawn_site.map(|l| l as *const _ as usize),
        );
        let i = *index.entry(key).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[i].push(g);
    }
    groups.sort_by_key(|v| (std::cmp::Reverse(v.len()), v[0].id));
    for v in groups {
        write_group(&mut s, &v, opts.mode);
        s.push('\n');
    }
    s
}

/// Identifies a stack: identical walked stacks share one frame list.
fn stack_key(t: &Traceback) -> usize {
    match t {
        Traceback::Frames { frames, .. } => Arc::as_ptr(frames) as *const u8 as usize,
        Traceback::Running => 1,
        Traceback::NotStarted => 2,
        Traceback::Unavailable(_) => 3,
    }
}

/// Ids shown in a group's header before "and N more".
const IDS_SHOWN: usize = 10;

fn write_group(s: &mut String, v: &[&GoroutineInfo], mode: TracebackMode) {
    let g = v[0];
    let n = v.len();
    let _ = write!(s, "{n} goroutine{} with this stack [{}", if n == 1 { "" } else { "s" }, g.state);
    let mins = v.iter().map(|g| g.waiting.as_secs() / 60).max().unwrap_or(0);
    if mins >= 1 {
        let _ = write!(s, ", up to {mins} minutes");
    }
    if g.locked_to_thread {
        s.push_str(", locked to thread");
    }
    s.push_str("]:");
    for g in v.iter().take(IDS_SHOWN) {
        let _ = write!(s, " {}", g.id);
    }
    if n > IDS_SHOWN {
        let _ = write!(s, " and {} more", n - IDS_SHOWN);
    }
    s.push('\n');
    if !g.name.is_empty() && v.iter().all(|o| o.name == g.name) {
        let _ = writeln!(s, "\tname: {}", g.name);
    }
    crate::traceback::write(s, &g.traceback, mode);
    // The spawn site is the group's; the parents may differ.
    if let Some(site) = g.spawn_site {
        let _ = match g.parent_id {
            _ if v.iter().any(|o| o.parent_id != g.parent_id) => writeln!(s, "created by several goroutines"),
            0 => writeln!(s, "created by a plain thread"),
            p => writeln!(s, "created by goroutine {p}"),
        };
        let _ = writeln!(s, "\t{site}");
    }
}
