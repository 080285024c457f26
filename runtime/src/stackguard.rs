//! Turns a goroutine's guard-page hit into a clear fatal error.
//!
//! Go: runtime/signal_unix.go (`sighandler`), runtime/stack.go (the
//! "stack overflow" throw).
//!
//! A SIGSEGV/SIGBUS handler runs on the M's alternate signal stack. If the
//! faulting address lies in the guard page of the goroutine running on this
//! thread, it prints `goroutine N [name]: stack overflow` with the spawn
//! site and aborts. Any other fault goes to the handler that was installed
//! before (Rust's own, which reports thread stack overflows, or the
//! default action). The handler only reads memory and calls `write` and
//! `abort`: it is async-signal-safe, and it never switches goroutines.

use std::sync::OnceLock;

use crate::sys;

/// The handlers installed before ours (SIGSEGV, SIGBUS), to chain to.
struct Prev {
    segv: libc::sigaction,
    bus: libc::sigaction,
}
// SAFETY: plain data (handler addresses, masks, flags), written once before
// our handler is installed and only read afterwards.
unsafe impl Sync for Prev {}
// SAFETY: Prev is plain data with no tie to the thread that filled it in;
// moving it to another thread moves bytes.
unsafe impl Send for Prev {}

static PREV: OnceLock<Prev> = OnceLock::new();

/// Installs the handler once per process.
pub(crate) fn install() {
    PREV.get_or_init(|| {
        // SAFETY: sigaction with valid pointers has no other precondition;
        // we read the current actions, then install ours. The OnceLock is
        // initialised (and readable from the handler) before the handler can
        // run, since get_or_init publishes only after this closure returns
        // and we install below, after it.
        unsafe {
            let mut prev = Prev { segv: std::mem::zeroed(), bus: std::mem::zeroed() };
            libc::sigaction(libc::SIGSEGV, std::ptr::null(), &mut prev.segv);
            libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut prev.bus);
            prev
        }
    });
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        // SAFETY: sigaction gets valid pointers (a zeroed local with our
        // handler's address and an emptied mask), which is all it requires;
        // PREV was initialised above, so the handler can chain from its first
        // run.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = handler as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(libc::SIGSEGV, &sa, std::ptr::null_mut());
            libc::sigaction(libc::SIGBUS, &sa, std::ptr::null_mut());
        }
    });
}

/// Gives the calling M thread an alternate signal stack if it has none
/// (Rust gives its threads one only when its own handler is installed).
/// Returns the mapping to free when the thread exits.
pub(crate) fn ensure_altstack() -> Option<(usize, usize)> {
    // SAFETY: querying the current altstack writes into a valid local.
    unsafe {
        let mut old: libc::stack_t = std::mem::zeroed();
        libc::sigaltstack(std::ptr::null(), &mut old);
        if old.ss_flags & libc::SS_DISABLE == 0 {
            return None;
        }
        let size = 64 << 10;
        let p = libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if p == libc::MAP_FAILED {
            return None;
        }
        let st = libc::stack_t { ss_sp: p, ss_flags: 0, ss_size: size };
        libc::sigaltstack(&st, std::ptr::null_mut());
        Some((p as usize, size))
    }
}

/// Removes and frees an altstack made by [`ensure_altstack`].
pub(crate) fn drop_altstack(stack: Option<(usize, usize)>) {
    if let Some((p, size)) = stack {
        // SAFETY: disabling this thread's altstack, then unmapping the
        // region we mapped for it, which nothing else uses.
        unsafe {
            let st = libc::stack_t { ss_sp: std::ptr::null_mut(), ss_flags: libc::SS_DISABLE, ss_size: 0 };
            libc::sigaltstack(&st, std::ptr::null_mut());
            libc::munmap(p as *mut libc::c_void, size);
        }
    }
}

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    crate::m::with_m(|ml| {
        if let Some(ml) = ml {
            // page_size() is an atomic load here: it was computed before the
            // first stack was mapped.
            let lo = ml.guard.get();
            if lo != 0 && addr >= lo && addr < lo + crate::sys::page_size() {
                report_overflow(ml);
            }
        }
    });
    // Not ours: hand over to the previous handler.
    let Some(prevs) = PREV.get() else { return };
    let prev = if sig == libc::SIGBUS { &prevs.bus } else { &prevs.segv };
    // SAFETY: calling or restoring the handler that was installed before
    // ours, with the arguments the kernel gave us.
    unsafe {
        if prev.sa_sigaction == libc::SIG_DFL || prev.sa_sigaction == libc::SIG_IGN {
            // Restore the default action and return: the fault repeats and
            // kills the process the usual way.
            let mut dfl: libc::sigaction = std::mem::zeroed();
            dfl.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(sig, &dfl, std::ptr::null_mut());
        } else if prev.sa_flags & libc::SA_SIGINFO != 0 {
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                std::mem::transmute(prev.sa_sigaction);
            f(sig, info, ctx);
        } else {
            let f: extern "C" fn(libc::c_int) = std::mem::transmute(prev.sa_sigaction);
            f(sig);
        }
    }
}

fn report_overflow(ml: &crate::m::MLocal) -> ! {
    let mut buf = [0u8; 20];
    if let Some(g) = ml.curg.get() {
        // SAFETY: the goroutine that faulted is this thread's current one
        // and cannot be freed while its thread is stuck in this handler;
        // only plain reads follow.
        let (id, name, site) = unsafe {
            let gp = g.get();
            let inner = &*gp.inner.get();
            (gp.id(), inner.name.as_deref(), gp.meta.spawn_site())
        };
        sys::write_stderr(b"goroutine ");
        sys::write_stderr(sys::fmt_u64(id, &mut buf));
        if let Some(n) = name {
            sys::write_stderr(b" [");
            sys::write_stderr(n.as_bytes());
            sys::write_stderr(b"]");
        }
        sys::write_stderr(b": stack overflow\ncreated at ");
        sys::write_stderr(site.file().as_bytes());
        sys::write_stderr(b":");
        sys::write_stderr(sys::fmt_u64(site.line() as u64, &mut buf));
        sys::write_stderr(b"\n");
    }
    sys::write_stderr(
        b"fatal error: stack overflow (the goroutine used its whole stack; give it a bigger one: \
          GORT_STACK_SIZE=8M for every goroutine, #[gort::main(stack_size = \"8M\")] for main, \
          Builder::stack_size for one goroutine, RuntimeBuilder::stack_size for a runtime)\n",
    );
    // SAFETY: abort is async-signal-safe.
    unsafe { libc::abort() }
}
