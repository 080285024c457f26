//! Incoming signals delivered on channels: Go's `os/signal` (`Notify`,
//! `Stop`, `Reset`, `Ignore`).
//!
//! Go: os/signal/signal.go, os/signal/signal_unix.go, runtime/sigqueue.go.
//!
//! ```no_run
//! use gort_netpoll::signal::{self, Signal};
//!
//! let sigs = signal::notify(&[Signal::Interrupt, Signal::Terminate]);
//! // ... start the servers ...
//! let sig = sigs.recv().unwrap(); // wait for Ctrl-C or `kill`
//! println!("got {sig}, shutting down");
//! ```
//!
//! ## How a signal travels
//!
//! 1. The handler, installed with `sigaction` for each signal someone
//!    asked for, runs on whatever thread the kernel picked. It only does
//!    async-signal-safe things: it sets the signal's bit in `PENDING` (an
//!    atomic OR) and writes one byte to a non-blocking pipe, saving and
//!    restoring `errno`. A full pipe loses the byte, never the signal: the
//!    bit is already set (Go's `sig.mask` does the same).
//! 2. One thread, started by the first `notify`, blocks in `read` on the
//!    pipe. Woken, it swaps `PENDING` to zero and, for each signal set,
//!    offers it to every registered channel with `try_send`: as in Go, a
//!    full channel misses the signal instead of blocking the delivery (so
//!    give the channel a buffer, usually 1). Signals of one kind arriving
//!    faster than they are delivered coalesce, as in Go.
//!
//! The reader is a plain OS thread, not a goroutine (Go's is a goroutine
//! blocked in a system call on its own M): it is invisible to
//! `LeakCheck`, and, like Go's, its blocked `read` makes the deadlock
//! detector stay silent in a program that waits for a signal.
//!
//! ## Bookkeeping
//!
//! A mutex guards the registered channels, each with its set of signals,
//! and per signal the number of channels that want it and the disposition
//! it had before the first one (restored when the last one stops). The
//! reader delivers under the same mutex, so once [`stop`] returns its
//! channel receives nothing more (Go's guarantee).
//!
//! Only the signals of [`Signal`] can be asked for: the synchronous ones
//! (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP) belong to the runtime, and
//! SIGKILL and SIGSTOP cannot be caught.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use gort_channels::{AsHChan, Receiver, Sender, chan};

/// A signal that can be delivered on a channel. The names follow Go's
/// `os.Interrupt`, `syscall.SIGTERM`...; [`Display`](fmt::Display) gives
/// Go's text ("interrupt", "terminated").
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
pub enum Signal {
    /// SIGHUP: the terminal hung up, or a daemon is asked to reload.
    Hangup,
    /// SIGINT: Ctrl-C. Go: `os.Interrupt`.
    Interrupt,
    /// SIGQUIT: Ctrl-\ (by default gort prints every goroutine and exits).
    Quit,
    /// SIGUSR1.
    User1,
    /// SIGUSR2.
    User2,
    /// SIGPIPE: a write to a pipe or socket with no reader.
    Pipe,
    /// SIGALRM.
    Alarm,
    /// SIGTERM: the polite request to stop (`kill`, service managers).
    Terminate,
    /// SIGCHLD: a child process changed state.
    Child,
    /// SIGCONT.
    Continue,
    /// SIGTSTP: Ctrl-Z.
    TerminalStop,
    /// SIGTTIN.
    TerminalInput,
    /// SIGTTOU.
    TerminalOutput,
    /// SIGURG.
    Urgent,
    /// SIGXCPU.
    CpuLimit,
    /// SIGXFSZ.
    FileSizeLimit,
    /// SIGVTALRM.
    VirtualAlarm,
    /// SIGPROF.
    Profiling,
    /// SIGWINCH: the terminal was resized.
    WindowChange,
    /// SIGIO.
    Io,
    /// SIGPWR.
    Power,
    /// SIGSYS.
    BadSyscall,
}

/// Every signal of [`Signal`], in number order: what `notify(&[])` asks
/// for (Go: `Notify(c)` with no signals).
const ALL: [Signal; 22] = [
    Signal::Hangup,
    Signal::Interrupt,
    Signal::Quit,
    Signal::User1,
    Signal::User2,
    Signal::Pipe,
    Signal::Alarm,
    Signal::Terminate,
    Signal::Child,
    Signal::Continue,
    Signal::TerminalStop,
    Signal::TerminalInput,
    Signal::TerminalOutput,
    Signal::Urgent,
    Signal::CpuLimit,
    Signal::FileSizeLimit,
    Signal::VirtualAlarm,
    Signal::Profiling,
    Signal::WindowChange,
    Signal::Io,
    Signal::Power,
    Signal::BadSyscall,
];

impl Signal {
    /// The signal's number (`libc::SIGINT`...).
    pub fn number(self) -> i32 {
        match self {
            Signal::Hangup => libc::SIGHUP,
            Signal::Interrupt => libc::SIGINT,
            Signal::Quit => libc::SIGQUIT,
            Signal::User1 => libc::SIGUSR1,
            Signal::User2 => libc::SIGUSR2,
            Signal::Pipe => libc::SIGPIPE,
            Signal::Alarm => libc::SIGALRM,
            Signal::Terminate => libc::SIGTERM,
            Signal::Child => libc::SIGCHLD,
            Signal::Continue => libc::SIGCONT,
            Signal::TerminalStop => libc::SIGTSTP,
            Signal::TerminalInput => libc::SIGTTIN,
            Signal::TerminalOutput => libc::SIGTTOU,
            Signal::Urgent => libc::SIGURG,
            Signal::CpuLimit => libc::SIGXCPU,
            Signal::FileSizeLimit => libc::SIGXFSZ,
            Signal::VirtualAlarm => libc::SIGVTALRM,
            Signal::Profiling => libc::SIGPROF,
            Signal::WindowChange => libc::SIGWINCH,
            Signal::Io => libc::SIGIO,
            Signal::Power => libc::SIGPWR,
            Signal::BadSyscall => libc::SIGSYS,
        }
    }

    /// The signal with number `n`, if it is one of these.
    pub fn from_number(n: i32) -> Option<Signal> {
        ALL.into_iter().find(|s| s.number() == n)
    }

    fn bit(self) -> u64 {
        1 << self.number()
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Signal::Hangup => "hangup",
            Signal::Interrupt => "interrupt",
            Signal::Quit => "quit",
            Signal::User1 => "user defined signal 1",
            Signal::User2 => "user defined signal 2",
            Signal::Pipe => "broken pipe",
            Signal::Alarm => "alarm clock",
            Signal::Terminate => "terminated",
            Signal::Child => "child exited",
            Signal::Continue => "continued",
            Signal::TerminalStop => "stopped",
            Signal::TerminalInput => "stopped (tty input)",
            Signal::TerminalOutput => "stopped (tty output)",
            Signal::Urgent => "urgent I/O condition",
            Signal::CpuLimit => "CPU time limit exceeded",
            Signal::FileSizeLimit => "file size limit exceeded",
            Signal::VirtualAlarm => "virtual timer expired",
            Signal::Profiling => "profiling timer expired",
            Signal::WindowChange => "window changed",
            Signal::Io => "I/O possible",
            Signal::Power => "power failure",
            Signal::BadSyscall => "bad system call",
        })
    }
}

/// Signals caught and not yet delivered, one bit per number.
static PENDING: AtomicU64 = AtomicU64::new(0);
/// The pipe's write end, for the handler (-1 until made).
static PIPE_W: AtomicI32 = AtomicI32::new(-1);

/// A registered channel (Go: `handler`).
struct Handler {
    tx: Sender<Signal>,
    mask: u64,
}

struct State {
    handlers: Vec<Handler>,
    /// How many handlers want each signal (Go: `handlers.ref`).
    refs: [u32; 64],
    /// The disposition before we took each signal over.
    prev: [Option<libc::sigaction>; 64],
    /// Whether the pipe and the reader thread exist.
    started: bool,
}

// SAFETY: `libc::sigaction` is plain data (a handler address, flags and a
// mask); nothing in State is tied to a thread.
unsafe impl Send for State {}

static STATE: Mutex<State> =
    Mutex::new(State { handlers: Vec::new(), refs: [0; 64], prev: [None; 64], started: false });

fn state() -> MutexGuard<'static, State> {
    // A panic cannot leave the state half-updated (no code below panics
    // while holding it), so a poisoned lock is still consistent.
    STATE.lock().unwrap_or_else(|p| p.into_inner())
}

/// The handler: async-signal-safe (module docs).
extern "C" fn on_signal(sig: libc::c_int) {
    // SAFETY: errno is thread-local; we restore it so that the
    // interrupted code does not see our write's errno.
    let saved = unsafe { *libc::__errno_location() };
    if (0..64).contains(&sig) {
        PENDING.fetch_or(1 << sig, Ordering::SeqCst);
    }
    let fd = PIPE_W.load(Ordering::SeqCst);
    if fd >= 0 {
        let b = sig as u8;
        // SAFETY: write(2) is async-signal-safe; fd is the pipe's
        // non-blocking write end, which is never closed; b is a valid byte.
        unsafe { libc::write(fd, (&b as *const u8).cast(), 1) };
    }
    // SAFETY: errno's location is this thread's own and valid for the
    // thread's life; writing back the saved value undoes our write's effect
    // on it.
    unsafe { *libc::__errno_location() = saved };
}

/// Makes the pipe and starts the reader thread, once.
fn start(st: &mut State) -> io::Result<()> {
    if st.started {
        return Ok(());
    }
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 writes two descriptors into `fds`.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let (r, w) = (fds[0], fds[1]);
    // SAFETY: w is our pipe's write end; only the handler writes to it,
    // and it must never block.
    unsafe {
        let fl = libc::fcntl(w, libc::F_GETFL);
        libc::fcntl(w, libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
    std::thread::Builder::new().name("gort-signal".into()).spawn(move || reader(r))?;
    PIPE_W.store(w, Ordering::SeqCst);
    st.started = true;
    Ok(())
}

/// The reader thread: waits for the handler's bytes and delivers the
/// pending signals (module docs).
fn reader(fd: libc::c_int) {
    let mut buf = [0u8; 64];
    loop {
        // SAFETY: reading into a valid local buffer from our pipe.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        let bits = PENDING.swap(0, Ordering::SeqCst);
        if bits == 0 {
            continue;
        }
        let st = state();
        for sig in ALL {
            if bits & sig.bit() == 0 {
                continue;
            }
            for h in &st.handlers {
                if h.mask & sig.bit() != 0 {
                    // Never block the delivery: a full channel misses it.
                    let _ = h.tx.try_send(sig);
                }
            }
        }
    }
}

/// Catches `sig` with our handler, remembering what was there before.
fn enable(st: &mut State, sig: Signal) -> io::Result<()> {
    let n = sig.number() as usize;
    st.refs[n] += 1;
    if st.refs[n] > 1 {
        return Ok(());
    }
    // SAFETY: installing a handler that only does async-signal-safe work;
    // the old action is written into a valid local.
    let old = unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as *const () as usize;
        sa.sa_flags = libc::SA_RESTART | libc::SA_ONSTACK;
        libc::sigemptyset(&mut sa.sa_mask);
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(sig.number(), &sa, &mut old) != 0 {
            st.refs[n] -= 1;
            return Err(io::Error::last_os_error());
        }
        old
    };
    // The first takeover remembers the original disposition; an `ignore`
    // in between does not replace it.
    if st.prev[n].is_none() {
        st.prev[n] = Some(old);
    }
    Ok(())
}

/// Drops one user of `sig`; the last one restores the old disposition.
fn disable(st: &mut State, sig: Signal) {
    let n = sig.number() as usize;
    if st.refs[n] == 0 {
        return;
    }
    st.refs[n] -= 1;
    if st.refs[n] == 0
        && let Some(old) = st.prev[n].take()
    {
        // SAFETY: restoring an action sigaction gave us.
        unsafe { libc::sigaction(sig.number(), &old, std::ptr::null_mut()) };
    }
}

fn mask_of(sigs: &[Signal]) -> u64 {
    let list: &[Signal] = if sigs.is_empty() { &ALL } else { sigs };
    list.iter().fold(0, |m, s| m | s.bit())
}

/// Relays the signals `sigs` to a new channel, which it returns; an empty
/// list means every [`Signal`]. The channel has a buffer of one: a signal
/// that comes while the previous one is still unread is dropped. Go:
/// `c := make(chan os.Signal, 1); signal.Notify(c, sigs...)`.
///
/// # Panics
/// If the signal machinery cannot be set up (no pipe or thread can be
/// made: the process is out of descriptors or threads).
pub fn notify(sigs: &[Signal]) -> Receiver<Signal> {
    let c = chan::<Signal>(1);
    notify_with(&c.sender(), sigs);
    c.receiver()
}

/// Relays the signals `sigs` (all if empty) to `tx`, in addition to the
/// signals it already gets. Delivery never blocks: when `tx` has no room
/// the signal is dropped, so give it a buffer. Go: `signal.Notify(c,
/// sigs...)`.
///
/// # Panics
/// As [`notify`].
pub fn notify_with(tx: &Sender<Signal>, sigs: &[Signal]) {
    let mask = mask_of(sigs);
    let mut st = state();
    start(&mut st).expect("signal: cannot start signal delivery");
    let i = match st.handlers.iter().position(|h| h.tx.same_channel(tx)) {
        Some(i) => i,
        None => {
            st.handlers.push(Handler { tx: tx.clone(), mask: 0 });
            st.handlers.len() - 1
        }
    };
    for sig in ALL {
        if mask & sig.bit() != 0 && st.handlers[i].mask & sig.bit() == 0 {
            st.handlers[i].mask |= sig.bit();
            enable(&mut st, sig).expect("signal: sigaction failed");
        }
    }
}

/// Stops relaying signals to the channel `c` (any handle of it). When it
/// returns, `c` receives no more signals. A signal nobody relays any more
/// gets its previous disposition back (for SIGINT: ending the process).
/// Go: `signal.Stop`.
pub fn stop<C: AsHChan<Elem = Signal>>(c: &C) {
    let mut st = state();
    let Some(i) = st.handlers.iter().position(|h| h.tx.same_channel(c)) else { return };
    let h = st.handlers.swap_remove(i);
    for sig in ALL {
        if h.mask & sig.bit() != 0 {
            disable(&mut st, sig);
        }
    }
}

/// Undoes every [`notify`] for `sigs` (all if empty): no channel gets them
/// any more, and they get their previous disposition back. Go:
/// `signal.Reset`.
pub fn reset(sigs: &[Signal]) {
    let mask = mask_of(sigs);
    let mut st = state();
    let mut drops = Vec::new();
    for h in st.handlers.iter_mut() {
        for sig in ALL {
            if mask & h.mask & sig.bit() != 0 {
                h.mask &= !sig.bit();
                drops.push(sig);
            }
        }
    }
    for sig in drops {
        disable(&mut st, sig);
    }
    st.handlers.retain(|h| h.mask != 0);
}

/// Makes the process ignore `sigs` (all if empty): no channel gets them
/// and they no longer have their default effect. Go: `signal.Ignore`.
pub fn ignore(sigs: &[Signal]) {
    reset(sigs);
    let list: &[Signal] = if sigs.is_empty() { &ALL } else { sigs };
    for &sig in list {
        // SAFETY: setting SIG_IGN has no preconditions.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = libc::SIG_IGN;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig.number(), &sa, std::ptr::null_mut());
        }
    }
}

/// Whether `sig` is currently ignored (by [`ignore`], or inherited).
/// Go: `signal.Ignored`.
pub fn ignored(sig: Signal) -> bool {
    // SAFETY: reading the current action into a valid local.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(sig.number(), std::ptr::null(), &mut old);
        old.sa_sigaction == libc::SIG_IGN
    }
}

/// Sends `sig` to the process `pid`. Go: `(*os.Process).Signal` and
/// `syscall.Kill`.
pub fn kill(pid: u32, sig: Signal) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: kill(2) has no memory-safety preconditions.
    if unsafe { libc::kill(pid, sig.number()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sends `sig` to this process (any of its threads may handle it).
pub fn raise(sig: Signal) -> io::Result<()> {
    kill(std::process::id(), sig)
}

#[cfg(test)]
mod tests {
    use std::process::Command;
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;

    /// Signals are process-wide: these tests take turns.
    static SERIAL: Mutex<()> = Mutex::new(());

    fn serial() -> std::sync::MutexGuard<'static, ()> {
        SERIAL.lock().unwrap_or_else(|p| p.into_inner())
    }

    const WAIT: Duration = Duration::from_secs(10);

    /// Go: os/signal's TestSignal (SIGUSR1 is safe to raise in tests): a
    /// raised signal arrives on the channel, from a goroutine as from a
    /// thread.
    #[test]
    fn signal_delivered() {
        let _s = serial();
        let rx = notify(&[Signal::User1]);
        raise(Signal::User1).unwrap();
        assert_eq!(rx.recv_timeout(WAIT), Ok(Signal::User1));
        let h = gort_runtime::spawn(move || {
            raise(Signal::User1).unwrap();
            let got = rx.recv_timeout(WAIT);
            stop(&rx);
            got
        });
        assert_eq!(h.join().unwrap(), Ok(Signal::User1));
    }

    /// Go never blocks sending to a channel: a full one misses the signal,
    /// and the others still get it.
    #[test]
    fn signal_full_channel_drops() {
        let _s = serial();
        let full = chan::<Signal>(1);
        full.send(Signal::Hangup).unwrap();
        notify_with(&full.sender(), &[Signal::User2]);
        let other = notify(&[Signal::User2]);
        raise(Signal::User2).unwrap();
        assert_eq!(other.recv_timeout(WAIT), Ok(Signal::User2));
        stop(&full);
        stop(&other);
        assert_eq!(full.try_recv(), Ok(Signal::Hangup));
        assert!(full.try_recv().is_err(), "the full channel got the signal later");
    }

    /// After `stop`, the channel gets nothing more; one channel may ask for
    /// several signals; `notify(&[])` asks for all of them.
    #[test]
    fn signal_stop_and_several() {
        let _s = serial();
        let a = notify(&[Signal::User1, Signal::User2]);
        let b = notify(&[Signal::User1]);
        raise(Signal::User2).unwrap();
        assert_eq!(a.recv_timeout(WAIT), Ok(Signal::User2));
        stop(&a);
        raise(Signal::User1).unwrap();
        assert_eq!(b.recv_timeout(WAIT), Ok(Signal::User1));
        assert!(a.recv_timeout(Duration::from_millis(50)).is_err(), "a stopped channel got a signal");
        let all = notify(&[]);
        raise(Signal::User1).unwrap();
        assert_eq!(all.recv_timeout(WAIT), Ok(Signal::User1));
        assert_eq!(b.recv_timeout(WAIT), Ok(Signal::User1));
        stop(&all);
        stop(&b);
    }

    #[test]
    fn signal_names() {
        assert_eq!(Signal::Interrupt.to_string(), "interrupt");
        assert_eq!(Signal::Terminate.to_string(), "terminated");
        assert_eq!(Signal::from_number(libc::SIGTERM), Some(Signal::Terminate));
        assert_eq!(Signal::from_number(libc::SIGSEGV), None);
        for s in ALL {
            assert_eq!(Signal::from_number(s.number()), Some(s));
        }
    }

    fn is_child(name: &str) -> bool {
        std::env::var("GORT_SIGNAL_CHILD").is_ok_and(|v| v == name)
    }

    /// When the last channel stops, a signal gets its default effect back
    /// (SIGUSR1 ends the process); `reset` does the same; `ignore` makes it
    /// harmless. Each case runs in a child process (this test binary).
    #[test]
    fn signal_default_restored() {
        use std::os::unix::process::ExitStatusExt;
        const NAME: &str = "signal::tests::signal_default_restored";
        if is_child(NAME) {
            let mode = std::env::var("GORT_SIGNAL_MODE").unwrap_or_default();
            let rx = notify(&[Signal::User1]);
            match mode.as_str() {
                "reset" => reset(&[Signal::User1]),
                "ignore" => ignore(&[Signal::User1]),
                _ => stop(&rx),
            }
            raise(Signal::User1).unwrap();
            std::thread::sleep(Duration::from_millis(200));
            std::process::exit(if mode == "ignore" && ignored(Signal::User1) { 0 } else { 3 });
        }
        for (mode, killed) in [("stop", true), ("reset", true), ("ignore", false)] {
            let st = Command::new(std::env::current_exe().unwrap())
                .args(["--exact", NAME, "--nocapture", "--test-threads=1"])
                .env("GORT_SIGNAL_CHILD", NAME)
                .env("GORT_SIGNAL_MODE", mode)
                .status()
                .unwrap();
            if killed {
                assert_eq!(st.signal(), Some(libc::SIGUSR1), "{mode}: {st:?}");
            } else {
                assert!(st.success(), "{mode}: {st:?}");
            }
        }
    }
}
