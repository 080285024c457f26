//! The registry of live goroutines, the goroutine dump, and the SIGQUIT
//! dump.
//!
//! Go: runtime/proc.go (`allgs`, `allgadd`), runtime/traceback.go
//! (`goroutineheader`, `tracebackothers`), runtime/signal_unix.go
//! (SIGQUIT).
//!
//! Every G a runtime allocates is registered in its `allgs` (Gs are cached
//! and reused, so registration happens per allocation, not per spawn) and
//! unregistered only when its memory is freed; both are rare. A dump walks
//! `allgs` under its lock and reports the Gs whose status is neither idle
//! nor dead.
//!
//! What a dump shows of another goroutine (id, name, spawn site, parent)
//! is written by the spawner while the G may already be visible in
//! `allgs`, so it sits in a seqlock ([`Meta`]): the writer makes `seq` odd,
//! stores the fields (all atomics), and makes `seq` even again with
//! Release; a reader that sees the same even `seq` (Acquire) before and
//! after reading the fields got one consistent version, else it retries.
//! Spawn pays a few uncontended stores.
//!
//! SIGQUIT (unless the program handles it) prints every runtime's
//! goroutines, as the deadlock report does (`checkdead::dump_all`), and
//! exits with status 2. The handler only wakes a watcher thread's
//! [`Note`] (async-signal-safe); the watcher, an ordinary thread, builds
//! and prints the dump.

use std::panic::Location;
use std::sync::atomic::{
    AtomicBool, AtomicPtr, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence,
};
use std::time::Duration;

use crate::g::{G, WaitReason, status};
use crate::lock::Note;
use crate::sched::Sched;
use crate::traceback::{Frame, Traceback, TracebackMode};

/// Words of a goroutine's name kept for dumps (40 bytes; longer names are cut).
const NAME_WORDS: usize = 5;

/// The dump-visible description of a G (see the module docs).
pub(crate) struct Meta {
    seq: AtomicU32,
    site: AtomicPtr<Location<'static>>,
    parent: AtomicU64,
    name_len: AtomicU8,
    name: [AtomicU64; NAME_WORDS],
    pub(crate) locked: AtomicBool,
    /// Index in `allgs`, `usize::MAX` when not registered.
    pub(crate) reg_idx: AtomicUsize,
    /// Where the goroutine last switched out, for its traceback.
    pub(crate) switch: crate::traceback::SwitchRecord,
}

impl Meta {
    pub(crate) fn new() -> Meta {
        Meta {
            seq: AtomicU32::new(0),
            site: AtomicPtr::new(std::ptr::null_mut()),
            parent: AtomicU64::new(0),
            name_len: AtomicU8::new(0),
            name: Default::default(),
            locked: AtomicBool::new(false),
            reg_idx: AtomicUsize::new(usize::MAX),
            switch: crate::traceback::SwitchRecord::new(),
        }
    }

    /// Publishes a new incarnation's description (the G's owner only).
    pub(crate) fn write(&self, site: &'static Location<'static>, parent: u64, name: Option<&str>) {
        let g = self.seq.load(Ordering::Relaxed);
        self.seq.store(g.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        self.site.store(site as *const _ as *mut _, Ordering::Relaxed);
        self.parent.store(parent, Ordering::Relaxed);
        let bytes = name.map_or(&[][..], str::as_bytes);
        let n = bytes.len().min(NAME_WORDS * 8);
        for (i, w) in self.name.iter().enumerate().take(n.div_ceil(8)) {
            let mut word = [0u8; 8];
            let chunk = &bytes[i * 8..n.min(i * 8 + 8)];
            word[..chunk.len()].copy_from_slice(chunk);
            w.store(u64::from_le_bytes(word), Ordering::Relaxed);
        }
        self.name_len.store(n as u8, Ordering::Relaxed);
        self.switch.clear();
        self.seq.store(g.wrapping_add(2), Ordering::Release);
    }

    /// Where the current incarnation was spawned: for the G's owner (the
    /// goroutine itself, or the M running it), which wrote it at spawn. Only
    /// an atomic load, so a signal handler may call it.
    pub(crate) fn spawn_site(&self) -> &'static Location<'static> {
        let site = self.site.load(Ordering::Relaxed);
        // SAFETY: `site` is null or a 'static Location stored by write().
        unsafe { site.as_ref() }.unwrap_or(Location::caller())
    }

    /// The parent's id of the current incarnation, for the G's owner.
    pub(crate) fn parent(&self) -> u64 {
        self.parent.load(Ordering::Relaxed)
    }

    /// A consistent copy: (spawn site, parent id, name).
    fn read(&self) -> (Option<&'static Location<'static>>, u64, String) {
        loop {
            let g1 = self.seq.load(Ordering::Acquire);
            if g1 % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let site = self.site.load(Ordering::Relaxed);
            let parent = self.parent.load(Ordering::Relaxed);
            let n = self.name_len.load(Ordering::Relaxed) as usize;
            let mut bytes = Vec::with_capacity(n);
            for w in self.name.iter().take(n.div_ceil(8)) {
                bytes.extend_from_slice(&w.load(Ordering::Relaxed).to_le_bytes());
            }
            bytes.truncate(n);
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) == g1 {
                // SAFETY: `site` is null or a 'static Location stored by write().
                let site = unsafe { site.as_ref() };
                // A name cut at 40 bytes may end inside a UTF-8 sequence.
                return (site, parent, String::from_utf8_lossy(&bytes).into_owned());
            }
        }
    }
}

/// A goroutine as `goroutines()` reports it.
#[derive(Clone, Debug)]
pub struct GoroutineInfo {
    /// The goroutine id.
    pub id: u64,
    /// Its name ("" if unnamed; cut at 40 bytes).
    pub name: String,
    /// Go's status word: `runnable`, `running`, `syscall`, or the wait
    /// reason (`chan receive`, `sleep`, ...) when parked.
    pub state: String,
    /// Why it is parked, if it is.
    pub wait_reason: Option<WaitReason>,
    /// How long it has been parked.
    pub waiting: Duration,
    /// Where it was spawned.
    pub spawn_site: Option<&'static Location<'static>>,
    /// The goroutine that spawned it (0: a plain thread).
    pub parent_id: u64,
    /// Whether it is locked to its OS thread.
    pub locked_to_thread: bool,
    /// The id of its synctest bubble, 0 outside bubbles.
    pub synctest_bubble: u64,
    /// Its stack: the frames where it waits, innermost first (see
    /// [`Traceback`]).
    pub traceback: Traceback,
}

impl GoroutineInfo {
    /// Go's header line: `goroutine 7 [chan receive, 5 minutes]:`; in a
    /// synctest bubble, a durable wait says so and the bubble is named:
    /// `goroutine 9 [sleep (durable), synctest bubble 2]:`.
    pub fn header(&self) -> String {
        let mut s = format!("goroutine {} [{}", self.id, self.state);
        if self.synctest_bubble != 0
            && self.wait_reason.is_some_and(WaitReason::is_durable)
            && !self.state.ends_with("(durable)")
        {
            s.push_str(" (durable)");
        }
        let mins = self.waiting.as_secs() / 60;
        if mins >= 1 {
            s.push_str(&format!(", {mins} minutes"));
        }
        if self.locked_to_thread {
            s.push_str(", locked to thread");
        }
        if self.synctest_bubble != 0 {
            s.push_str(&format!(", synctest bubble {}", self.synctest_bubble));
        }
        s.push_str("]:");
        s
    }

    /// The frames of [`GoroutineInfo::traceback`] (empty when the stack
    /// was not walked).
    pub fn frames(&self) -> &[Frame] {
        self.traceback.frames()
    }

    /// Go's text for this goroutine with frames chosen by `mode`: the
    /// header, its name, its stack, and the `created by` lines.
    pub fn to_string_with(&self, mode: TracebackMode) -> String {
        let mut s = String::new();
        self.write_to(&mut s, mode);
        s
    }

    /// Appends [`GoroutineInfo::to_string_with`]'s text to `s`.
    pub(crate) fn write_to(&self, s: &mut String, mode: TracebackMode) {
        use std::fmt::Write;
        s.push_str(&self.header());
        s.push('\n');
        if !self.name.is_empty() {
            let _ = writeln!(s, "\tname: {}", self.name);
        }
        crate::traceback::write(s, &self.traceback, mode);
        let _ = match self.spawn_site {
            Some(site) if self.parent_id != 0 => {
                writeln!(s, "created by goroutine {}\n\t{site}", self.parent_id)
            }
            Some(site) => writeln!(s, "created by a plain thread\n\t{site}"),
            None => Ok(()),
        };
    }
}

impl std::fmt::Display for GoroutineInfo {
    /// [`GoroutineInfo::to_string_with`] in the mode `GORT_TRACEBACK`
    /// selects.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_string_with(TracebackMode::from_env()))
    }
}

impl Sched {
    /// Registers a freshly allocated G (Go: `allgadd`).
    pub(crate) fn allg_add(&self, g: &G) {
        let mut all = self.allgs.lock();
        g.meta.reg_idx.store(all.len(), Ordering::Relaxed);
        all.push(crate::g::GRef::from_ref(g));
    }

    /// Unregisters a G about to be freed.
    pub(crate) fn allg_remove(&self, g: &G) {
        let mut all = self.allgs.lock();
        let i = g.meta.reg_idx.swap(usize::MAX, Ordering::Relaxed);
        if i == usize::MAX {
            return;
        }
        all.swap_remove(i);
        if let Some(moved) = all.get(i) {
            // SAFETY: registered Gs are alive until unregistered, under this lock.
            unsafe { moved.get() }.meta.reg_idx.store(i, Ordering::Relaxed);
        }
    }

    /// The live goroutines of this runtime, with their stacks.
    pub(crate) fn goroutines(&self) -> Vec<GoroutineInfo> {
        self.collect(true)
    }

    /// The live goroutines without their stacks (cheap: for polling).
    pub(crate) fn goroutines_brief(&self) -> Vec<GoroutineInfo> {
        self.collect(false)
    }

    fn collect(&self, traces: bool) -> Vec<GoroutineInfo> {
        let now = crate::sys::nanotime();
        let me = crate::m::current_goroutine().map(|g| g.0.as_ptr().cast_const());
        let mut out = Vec::new();
        // Walked stacks, each distinct one once: the goroutines of a
        // server mostly wait in a handful of places.
        let mut stacks = crate::traceback::StackSet::default();
        let mut current = None;
        {
            let all = self.allgs.lock();
            let mut each = |walker: Option<&mut crate::traceback::Walker>| {
                let mut walker = walker;
                for g in all.iter() {
                    // SAFETY: registered Gs stay allocated while we hold the lock.
                    let g = unsafe { g.get() };
                    let st = g.status.load(Ordering::Acquire);
                    if st == status::IDLE || st == status::DEAD {
                        continue;
                    }
                    let mut info = describe(g, st, now);
                    if let Some(w) = walker.as_deref_mut() {
                        if Some(g as *const G) == me {
                            current = Some((out.len(), g.meta.switch.stack_top()));
                        } else {
                            info.traceback = stacks.walk(w, g, out.len());
                        }
                    }
                    out.push(info);
                }
            };
            // (No walker inside a walk: a panic raised by the walker itself.)
            if !(traces && crate::traceback::with_walker(|w| each(Some(w))).is_some()) {
                each(None);
            }
        }
        if let Some((i, top)) = current {
            out[i].traceback = stacks.walk_current(top, i);
        }
        stacks.symbolize(&mut out);
        out.sort_by_key(|g| g.id);
        out
    }
}

/// What a dump shows of `g` apart from its stack.
fn describe(g: &G, st: u32, now: i64) -> GoroutineInfo {
    let (site, parent, name) = g.meta.read();
    let (state, reason, waiting) = match st {
        status::RUNNABLE => ("runnable".to_string(), None, Duration::ZERO),
        status::RUNNING => ("running".to_string(), None, Duration::ZERO),
        status::SYSCALL => ("syscall".to_string(), None, Duration::ZERO),
        _ => {
            let r = g.wait_reason();
            let since = g.wait_since();
            let waiting = Duration::from_nanos((now - since).max(0) as u64);
            let s = if r == WaitReason::Zero { "waiting".to_string() } else { r.as_str().to_string() };
            (s, Some(r), waiting)
        }
    };
    GoroutineInfo {
        id: g.id(),
        name,
        state,
        wait_reason: reason,
        waiting,
        spawn_site: site,
        parent_id: parent,
        locked_to_thread: g.meta.locked.load(Ordering::Relaxed),
        synctest_bubble: g.bubble_id.load(Ordering::Relaxed),
        traceback: Traceback::Unavailable("not collected"),
    }
}

/// The live goroutines of the current runtime (the default one outside a
/// runtime), by id.
pub fn goroutines() -> Vec<GoroutineInfo> {
    crate::runtime::with_sched(|s| s.goroutines())
}

/// Go's goroutine dump of the current runtime, as text.
pub fn dump_string() -> String {
    crate::dumpopts::render(&goroutines(), &crate::dumpopts::DumpOptions::new())
}

/// Prints the goroutine dump of the current runtime to standard error.
pub fn dump() {
    eprint!("{}", dump_string());
}

// ---- SIGQUIT ----

static QUIT: Note = Note::new();

/// Makes SIGQUIT print every goroutine and exit with status 2 (Go's
/// behaviour), unless the program already handles SIGQUIT. An inherited
/// SIG_IGN does not count: a shell ignores SIGQUIT in the commands it
/// starts in the background, and Go installs its handler over that
/// (it keeps an inherited SIG_IGN only for SIGHUP and SIGINT). Once per
/// process.
pub(crate) fn install_sigquit() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: reading the current disposition into a valid local.
        let current = unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            libc::sigaction(libc::SIGQUIT, std::ptr::null(), &mut old);
            old.sa_sigaction
        };
        if current != libc::SIG_DFL && current != libc::SIG_IGN {
            return;
        }
        let spawned = std::thread::Builder::new().name("gort-sigquit".into()).spawn(|| {
            QUIT.sleep();
            let mut out = String::from("SIGQUIT: quit\n\n");
            out.push_str(&crate::checkdead::dump_all());
            crate::sys::write_stderr(out.as_bytes());
            std::process::exit(2);
        });
        if spawned.is_err() {
            return;
        }
        crate::checkdead::SYSTEM_THREADS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: installing a handler that only calls Note::wakeup (an
        // atomic swap and a futex wake: async-signal-safe).
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_sigquit as *const () as usize;
            // On the alternate stack: the signal may land on a goroutine
            // whose stack is nearly full.
            sa.sa_flags = libc::SA_RESTART | libc::SA_ONSTACK;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(libc::SIGQUIT, &sa, std::ptr::null_mut());
        }
    });
}

extern "C" fn on_sigquit(_sig: libc::c_int) {
    QUIT.wakeup();
}
