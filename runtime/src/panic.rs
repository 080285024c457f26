//! Panics in goroutines and the runtime's fatal errors.
//!
//! Go: runtime/panic.go (`fatalpanic`), runtime/proc.go (the thread-limit
//! message).
//!
//! A goroutine's panic is caught at its root and becomes a [`Panic`] that
//! `JoinHandle::join` returns. The panic hook gort installs prints the
//! message as `goroutine N [name] panicked at file:line:` instead of
//! naming the M thread, and defers to the previous hook elsewhere.
//! A panic nobody can observe follows the [`PanicPolicy`].
//!
//! Fatal errors ([`crate::engine::fatal`], in `sys.rs` so that the leaf modules
//! can call it without depending on this one) print `fatal error: ...`
//! and exit with status 2, as Go does; they never unwind. This module
//! turns panics the scheduler cannot let unwind into them (`contain`).

use std::any::Any;
use std::io::Write;
use std::sync::{Arc, Once};

/// What happens when a goroutine panics and nobody joins it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PanicPolicy {
    /// Print the panic and exit the process with status 2 (Go's behaviour).
    #[default]
    Abort,
    /// Print the panic and keep running.
    Continue,
}

/// A panic that ended a goroutine, as returned by `JoinHandle::join`.
pub struct Panic {
    payload: Box<dyn Any + Send + 'static>,
    goroutine: u64,
    name: Option<Arc<str>>,
    trace: Option<Box<PanicTrace>>,
    /// Not a panic: the goroutine's runtime was dropped first.
    runtime_dropped: bool,
}

/// Where a goroutine panicked: its stack when the panic began (walked by
/// the panic hook, symbolized only if reported) and its spawn site.
pub(crate) struct PanicTrace {
    pcs: crate::traceback::Pcs,
    site: &'static std::panic::Location<'static>,
    parent: u64,
}

impl PanicTrace {
    /// Takes the trace the hook left in the current goroutine's G.
    pub(crate) fn take() -> Option<Box<PanicTrace>> {
        let g = crate::m::current_goroutine()?;
        // SAFETY: the current goroutine owns its G; a short borrow.
        let gp = unsafe { g.get() };
        // SAFETY: the current goroutine owns its G; the borrow lasts only
        // while the trace is taken out.
        let pcs = *unsafe { gp.inner() }.panic_trace.take()?;
        let (site, parent) = (gp.meta.spawn_site(), gp.meta.parent());
        Some(Box::new(PanicTrace { pcs, site, parent }))
    }

    /// Go's `goroutine N [running]:` block of the crash report.
    fn write(&self, out: &mut String, id: u64) {
        out.push_str(&format!("goroutine {id} [running]:\n"));
        crate::traceback::write(out, &self.pcs.symbolize(), crate::traceback::TracebackMode::from_env());
        match self.parent {
            0 => out.push_str(&format!("created by a plain thread\n\t{}\n", self.site)),
            p => out.push_str(&format!("created by goroutine {p}\n\t{}\n", self.site)),
        }
    }
}

/// The panic hook's side: walks the panicking goroutine's stack (the
/// frames that panicked are still on it) and leaves it in the G.
fn record_panic_trace() {
    let Some(g) = crate::m::current_goroutine() else { return };
    // SAFETY: the hook runs on the panicking goroutine, which owns its G.
    let gp = unsafe { g.get() };
    let top = gp.meta.switch.stack_top();
    if let Ok(pcs) = crate::traceback::walk_current(top) {
        // SAFETY: the hook runs on the panicking goroutine, the owner of its
        // G; no other borrow of the inner fields is live.
        unsafe { gp.inner() }.panic_trace = Some(Box::new(pcs));
    }
}

impl Panic {
    pub(crate) fn new(
        payload: Box<dyn Any + Send + 'static>,
        goroutine: u64,
        name: Option<Arc<str>>,
    ) -> Panic {
        Panic { payload, goroutine, name, trace: None, runtime_dropped: false }
    }

    /// The error of a goroutine whose runtime was dropped before it
    /// finished (`unwind`): its message names the goroutine.
    pub(crate) fn runtime_dropped(goroutine: u64, name: Option<Arc<str>>) -> Panic {
        let who = match &name {
            Some(n) => format!("goroutine {goroutine} [{n}]"),
            None => format!("goroutine {goroutine}"),
        };
        let msg = format!("{who} did not finish: its runtime was dropped before it finished");
        Panic { payload: Box::new(msg), goroutine, name, trace: None, runtime_dropped: true }
    }

    /// Whether the goroutine did not panic but was ended by the drop of its
    /// runtime (its stack unwound, its destructors run).
    pub fn is_runtime_dropped(&self) -> bool {
        self.runtime_dropped
    }

    /// Attaches where the goroutine panicked, for the crash report.
    pub(crate) fn with_trace(mut self, trace: Option<Box<PanicTrace>>) -> Panic {
        self.trace = trace;
        self
    }

    /// The value passed to `panic!` (usually a `&str` or `String`).
    pub fn payload(&self) -> &(dyn Any + Send + 'static) {
        &*self.payload
    }

    /// The payload, by value (e.g. for `std::panic::resume_unwind`).
    pub fn into_payload(self) -> Box<dyn Any + Send + 'static> {
        self.payload
    }

    /// The panic message, when the payload is a string.
    pub fn message(&self) -> Option<&str> {
        payload_str(&*self.payload)
    }

    /// The id of the goroutine that panicked.
    pub fn goroutine_id(&self) -> u64 {
        self.goroutine
    }

    /// The name of the goroutine that panicked, if it had one.
    pub fn goroutine_name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Continues the panic on the calling goroutine or thread.
    pub fn resume(self) -> ! {
        std::panic::resume_unwind(self.payload)
    }
}

fn payload_str(p: &(dyn Any + Send)) -> Option<&str> {
    p.downcast_ref::<&'static str>().copied().or_else(|| p.downcast_ref::<String>().map(String::as_str))
}

impl std::fmt::Display for Panic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.runtime_dropped {
            return f.write_str(self.message().unwrap_or_default());
        }
        write!(f, "goroutine {}", self.goroutine)?;
        if let Some(n) = &self.name {
            write!(f, " [{n}]")?;
        }
        match self.message() {
            Some(m) => write!(f, " panicked: {m}"),
            None => write!(f, " panicked"),
        }
    }
}

impl std::fmt::Debug for Panic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Panic")
            .field("goroutine", &self.goroutine)
            .field("name", &self.name)
            .field("message", &self.message())
            .finish()
    }
}

impl std::error::Error for Panic {}

/// A panic nobody can observe: apply the policy.
pub(crate) fn unobserved(p: Panic, policy: PanicPolicy) {
    unobserved_because(p, policy, Unobserved::DroppedWithoutJoin);
}

/// Why nobody can observe a goroutine's panic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unobserved {
    /// Its JoinHandle was dropped (or never kept) without a join.
    DroppedWithoutJoin,
    /// Its JoinHandle was dropped by a goroutine or thread that was itself
    /// unwinding a panic, before this goroutine finished.
    DroppedWhilePanicking,
}

/// A panic nobody can observe, for the reason `why`: apply the policy.
pub(crate) fn unobserved_because(p: Panic, policy: PanicPolicy, why: Unobserved) {
    if p.runtime_dropped {
        return; // not a panic
    }
    match policy {
        PanicPolicy::Continue => {}
        PanicPolicy::Abort => {
            let mut msg = format!("fatal error: unrecovered panic in goroutine {}", p.goroutine);
            if let Some(n) = &p.name {
                msg.push_str(&format!(" [{n}]"));
            }
            if let Some(m) = p.message() {
                msg.push_str(&format!(": {m}"));
            }
            msg.push_str(match why {
                Unobserved::DroppedWithoutJoin => {
                    "\n(the goroutine's JoinHandle was dropped without join; join it to handle the \
                     panic, or build the runtime with .panic_policy(PanicPolicy::Continue))"
                }
                Unobserved::DroppedWhilePanicking => {
                    "\n(the goroutine's JoinHandle was dropped by a goroutine or thread unwinding \
                     an earlier panic, reported above)"
                }
            });
            if let Some(t) = &p.trace {
                msg.push_str("\n\n");
                t.write(&mut msg, p.goroutine);
            }
            crate::sys::fatal(&msg);
        }
    }
}

/// A JoinHandle whose goroutine had already panicked is dropped while the
/// caller unwinds a panic of its own (`std::thread::panicking`). The
/// caller's panic is the one that counts, and it is on its way: killing the
/// process here would report the goroutine's panic as the cause and hide
/// the caller's. So the goroutine's panic (whose message the hook printed
/// when it happened) only gets a note, and the caller's panic goes on. Go
/// has no join handles; there the process dies of the first panic, and so
/// does the caller here unless it recovers.
pub(crate) fn dropped_while_panicking(p: Panic, policy: PanicPolicy) {
    if policy == PanicPolicy::Continue || p.runtime_dropped {
        return;
    }
    let mut msg = format!("note: goroutine {}", p.goroutine);
    if let Some(n) = &p.name {
        msg.push_str(&format!(" [{n}]"));
    }
    msg.push_str(" had panicked");
    if let Some(m) = p.message() {
        msg.push_str(&format!(" ({m})"));
    }
    msg.push_str(" and its JoinHandle was dropped, unjoined, while ");
    match crate::newproc::current() {
        Some(g) => msg.push_str(&format!("goroutine {} was panicking", g.id())),
        None => msg.push_str("a thread was panicking"),
    }
    msg.push('\n');
    crate::sys::write_stderr(msg.as_bytes());
}

/// Installs gort's panic hook once per process. Panics in goroutines are
/// reported with the goroutine's id and name; others go to the previous
/// hook unchanged.
pub(crate) fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let Some(g) = crate::newproc::current() else {
                return prev(info);
            };
            record_panic_trace();
            let mut out = format!("goroutine {}", g.id());
            if let Some(n) = g.name() {
                out.push_str(&format!(" [{n}]"));
            }
            out.push_str(" panicked");
            if let Some(loc) = info.location() {
                out.push_str(&format!(" at {}:{}:{}", loc.file(), loc.line(), loc.column()));
            }
            out.push_str(":\n");
            out.push_str(payload_str(info.payload()).unwrap_or("Box<dyn Any>"));
            out.push('\n');
            let bt = std::backtrace::Backtrace::capture();
            if bt.status() == std::backtrace::BacktraceStatus::Captured {
                out.push_str(&format!("stack backtrace:\n{bt}\n"));
            } else {
                out.push_str(
                    "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n",
                );
            }
            let _ = std::io::stderr().write_all(out.as_bytes());
        }));
    });
}

/// Runs `f`, which the scheduler calls on its own stack (a park or timer
/// callback): a panic escaping it would unwind through the scheduler and
/// lose the M and its P, so it is a fatal error naming `what` instead, as
/// a Go runtime throw.
#[inline]
pub(crate) fn contain<R>(what: &str, f: impl FnOnce() -> R) -> R {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            let msg = payload_str(&*p).unwrap_or("Box<dyn Any>").to_owned();
            // Not dropped: a payload whose destructor panics would abort
            // without our message.
            std::mem::forget(p);
            crate::sys::fatal(&format!("gort: {what} panicked: {msg}"))
        }
    }
}

/// Go's message when the M limit is hit.
pub(crate) fn fatal_thread_exhaustion(max: u32) -> ! {
    crate::sys::write_stderr(format!("runtime: program exceeds {max}-thread limit\n").as_bytes());
    crate::sys::fatal("thread exhaustion")
}
