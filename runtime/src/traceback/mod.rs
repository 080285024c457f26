//! Goroutine stack traces: the frames under each goroutine of a dump, a
//! deadlock report, the SIGQUIT dump and an unrecovered panic's report.
//!
//! Go: runtime/traceback.go (`traceback`, `showframe`, `GOTRACEBACK`,
//! `printcreatedby`).
//!
//! A parked (or queued) goroutine's stack is walked from the registers its
//! last switch left in its [`SwitchRecord`] ([`record`] module docs), on a
//! copy of its stack window, with the binary's `.eh_frame` ([`unwind`]
//! module docs); the addresses are then symbolized ([`symbolize`] module
//! docs). Nothing is captured at park time beyond those three registers.
//! A goroutine running on another thread has no stable stack to read and
//! shows Go's `goroutine running on other thread; stack unavailable`;
//! the goroutine that asks for a dump sees its own live stack.
//!
//! Frames of the runtime (gort's runtime and channels, which are Go's
//! runtime package, corosensei, Rust's std/core/alloc) are hidden unless
//! `GORT_TRACEBACK=system`, as Go hides `runtime.*` frames unless
//! `GOTRACEBACK=system`; `GORT_TRACEBACK=none` prints headers only. gort's
//! sync and net frames stay, as Go's `sync.*` and `net.*` frames do.
//! Tracebacks are available on x86_64 Linux.

mod record;
mod stacks;
mod symbolize;
mod unwind;

use std::sync::{Arc, OnceLock};

pub(crate) use record::{Regs, SwitchRecord, read_regs, record_switch};
pub(crate) use stacks::StackSet;
pub(crate) use unwind::{MAX_FRAMES, Walker, with_walker};

/// One frame of a goroutine's stack trace.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Frame {
    /// The demangled function name, without its hash
    /// (`myapp::worker`, `myapp::main::{{closure}}`); None if unknown.
    pub function: Option<Arc<str>>,
    /// The source file, as the debug info names it.
    pub file: Option<Arc<str>>,
    /// The source line.
    pub line: Option<u32>,
    /// The innermost frame's instruction pointer or a caller's return
    /// address; inlined frames share their physical frame's address.
    pub address: usize,
    /// This call was inlined into the frame that follows it.
    pub inlined: bool,
    /// A frame of the runtime (hidden unless `GORT_TRACEBACK=system`).
    pub runtime: bool,
}

impl Frame {
    fn new(
        function: Option<String>,
        file: Option<String>,
        line: Option<u32>,
        address: u64,
        inlined: bool,
    ) -> Frame {
        let runtime = function.as_deref().is_some_and(is_runtime_function);
        Frame {
            function: function.map(Arc::from),
            file: file.map(Arc::from),
            line,
            address: address as usize,
            inlined,
            runtime,
        }
    }
}

impl std::fmt::Display for Frame {
    /// Go's two lines: `function(...)` and a tab-indented `file:line`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{}(...)", self.function.as_deref().unwrap_or("?"))?;
        match (&self.file, self.line) {
            (Some(file), Some(line)) => writeln!(f, "\t{file}:{line}"),
            (Some(file), None) => writeln!(f, "\t{file}"),
            _ => writeln!(f, "\t?:0 pc={:#x}", self.address),
        }
    }
}

/// Whether a demangled function belongs to the runtime (see the module
/// docs for the list): `<T as Trait>::f` counts as T's crate.
fn is_runtime_function(name: &str) -> bool {
    const RUNTIME: [&str; 12] = [
        "gort_runtime::",
        "gort_channels::",
        "gort::",
        "corosensei::",
        "std::",
        "core::",
        "alloc::",
        "panic_unwind::",
        "__rust",
        "rust_begin_unwind",
        "rust_panic",
        "stack_init_trampoline",
    ];
    let mut n = name;
    loop {
        let t = n.trim_start_matches('<').trim_start_matches('&');
        let t = t.strip_prefix("mut ").or_else(|| t.strip_prefix("dyn ")).unwrap_or(t);
        if t.len() == n.len() {
            break;
        }
        n = t;
    }
    RUNTIME.iter().any(|p| n.starts_with(p))
}

/// A goroutine's stack, as a dump shows it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Traceback {
    /// The frames, innermost first.
    Frames {
        /// The frames (inlined calls expanded), innermost first.
        frames: Arc<[Frame]>,
        /// More than 100 physical frames: the outermost ones were left out.
        elided: bool,
    },
    /// Running on a thread (or in a `gort::syscall` call): its stack
    /// changes under any reader.
    Running,
    /// Spawned and not yet run: there is no stack yet.
    NotStarted,
    /// The stack could not be walked, and why.
    Unavailable(&'static str),
}

impl Traceback {
    /// The frames, if the stack was walked.
    pub fn frames(&self) -> &[Frame] {
        match self {
            Traceback::Frames { frames, .. } => frames,
            _ => &[],
        }
    }
}

/// Which frames a traceback shows (`GORT_TRACEBACK`, read once; Go's
/// `GOTRACEBACK`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TracebackMode {
    /// Goroutine headers only (`GORT_TRACEBACK=none`).
    None,
    /// The program's frames, the runtime's hidden (the default).
    #[default]
    User,
    /// Every frame, the runtime's included (`GORT_TRACEBACK=system`).
    System,
}

impl TracebackMode {
    /// The mode `GORT_TRACEBACK` selects: `none` (or `0`) hides stacks,
    /// `system` (or `crash`) shows every frame, and `all`, `single`, `1`
    /// or no value give the default, as in Go. An unknown value is
    /// reported once on stderr and gives the default.
    pub fn from_env() -> TracebackMode {
        static MODE: OnceLock<TracebackMode> = OnceLock::new();
        *MODE.get_or_init(|| match std::env::var("GORT_TRACEBACK") {
            Err(_) => TracebackMode::User,
            Ok(v) => match v.trim() {
                "none" | "0" => TracebackMode::None,
                "system" | "crash" => TracebackMode::System,
                "" | "single" | "all" | "1" => TracebackMode::User,
                other => {
                    eprintln!(
                        "gort: GORT_TRACEBACK={other:?} is not a traceback mode; use none, all or \
                         system (showing the default, all)"
                    );
                    TracebackMode::User
                }
            },
        })
    }
}

/// Appends `t` as Go prints a goroutine's stack: its frames (the runtime's
/// hidden in `User` mode, unless that would hide them all), or Go's line
/// for a running goroutine.
pub(crate) fn write(out: &mut String, t: &Traceback, mode: TracebackMode) {
    use std::fmt::Write;
    if mode == TracebackMode::None {
        return;
    }
    match t {
        Traceback::Frames { frames, elided } => {
            let shown = |f: &&Frame| mode == TracebackMode::System || !f.runtime;
            let all = !frames.iter().any(|f| shown(&f));
            for f in frames.iter().filter(|f| all || shown(f)) {
                let _ = write!(out, "{f}");
            }
            if *elided {
                out.push_str("...additional frames elided...\n");
            }
        }
        Traceback::Running => out.push_str("goroutine running on other thread; stack unavailable\n"),
        Traceback::NotStarted => {}
        Traceback::Unavailable(why) => {
            let _ = writeln!(out, "stack unavailable: {why}");
        }
    }
}

/// Walked return addresses, before symbolization.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Pcs(pub(crate) Vec<u64>);

impl Pcs {
    /// Symbolizes the addresses (each distinct address once per process).
    pub(crate) fn symbolize(&self) -> Traceback {
        let elided = self.0.len() > MAX_FRAMES;
        let pcs = &self.0[..self.0.len().min(MAX_FRAMES)];
        Traceback::Frames { frames: symbolize::frames(pcs).into(), elided }
    }
}

/// Walks a switched-out goroutine's stack from its record.
pub(crate) fn walk_switched(w: &mut Walker, regs: Regs) -> Result<Pcs, &'static str> {
    let mut out = Vec::new();
    w.walk(regs, &mut out)?;
    Ok(Pcs(out))
}

/// Walks the calling goroutine's own stack, whose top is `top`, from here.
#[inline(never)]
pub(crate) fn walk_current(top: usize) -> Result<Pcs, &'static str> {
    let (pc, sp, bp) = read_regs!();
    let regs = Regs { pc, sp, bp, top };
    // This frame stays live during the walk, so the window [sp, top) is
    // the stable part of our own stack.
    with_walker(|w| walk_switched(w, regs)).unwrap_or(Err("a traceback taken inside a traceback"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_frames_are_recognised_by_crate() {
        for n in [
            "gort_runtime::proc::goroutine_main",
            "<gort_runtime::newproc::Task<F,T>>::run",
            "<alloc::boxed::Box<F,A> as core::ops::function::FnOnce<Args>>::call_once",
            "core::ops::function::FnOnce::call_once",
            "gort_channels::channel::Chan<T>::recv",
            "std::panicking::try",
        ] {
            assert!(is_runtime_function(n), "{n}");
        }
        for n in [
            "myapp::worker",
            "myapp::main::{{closure}}",
            "<myapp::Server as gort_sync::Locker>::lock",
            "gort_sync::mutex::Mutex<T>::lock",
            "gort_netpoll::net::TcpListener::accept",
        ] {
            assert!(!is_runtime_function(n), "{n}");
        }
    }
}
