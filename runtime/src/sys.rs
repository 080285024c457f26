//! Thin wrappers over the Linux system calls the runtime is built on: futex
//! wait and wake, the monotonic clock, the page size and `madvise` guards.
//!
//! Go: runtime/os_linux.go (`futexsleep`, `futexwakeup`), runtime/time_nofake.go
//! (`nanotime`).
//!
//! Go: runtime/panic.go (`fatal`, `throw`) for [`fatal`], which lives
//! here, below every other module, so that the leaf modules can end the
//! process without depending on the scheduler's.
//!
//! Invariants: every function here is a leaf: it never parks a goroutine,
//! never allocates (except [`fatal`], which ends the process) and is
//! async-signal-safe where noted, so the scheduler, sysmon and the
//! stack-overflow handler may all call it.

use std::sync::OnceLock;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

/// `madvise` advice that installs guard pages without a new mapping
/// (Linux >= 6.13). libc does not export it yet.
pub(crate) const MADV_GUARD_INSTALL: libc::c_int = 102;

/// Blocks the calling thread while `*word == expected`, for at most
/// `timeout`. Returns on a wake-up, a spurious wake-up, a timeout, a signal,
/// or at once when the word no longer holds `expected`: callers re-check
/// their condition in a loop.
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
    let ts;
    let ts_ptr = match timeout {
        Some(d) => {
            ts = libc::timespec {
                tv_sec: d.as_secs().min(i64::MAX as u64) as libc::time_t,
                tv_nsec: d.subsec_nanos() as libc::c_long,
            };
            &ts as *const libc::timespec
        }
        None => std::ptr::null(),
    };
    // SAFETY: FUTEX_WAIT only reads the 32-bit word behind a live reference
    // and the timespec (null or pointing at `ts`, alive for the call).
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected,
            ts_ptr,
        );
    }
}

/// Wakes up to `n` threads blocked in [`futex_wait`] on `word`.
pub(crate) fn futex_wake(word: &AtomicU32, n: i32) {
    // SAFETY: FUTEX_WAKE only uses the address as a key; the reference keeps
    // it valid for the call.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG, n);
    }
}

/// Monotonic time in nanoseconds since an arbitrary origin (Go: `nanotime`).
/// Async-signal-safe.
#[inline]
pub fn nanotime() -> i64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec into the valid local `ts`.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// `CLOCK_MONOTONIC_COARSE` on [`nanotime`]'s time base: the precise
/// clock as of the kernel's last tick (a few ns to read instead of a few
/// tens; never ahead of [`nanotime`], behind it by up to a tick).
#[inline]
pub(crate) fn coarse_clock() -> i64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec into the valid local `ts`.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// How far past the coarse clock a deadline must lie for [`reached`] (and
/// `TimerNode::run_if_due`) to call it not reached without reading the
/// precise clock: far more than the coarse clock's lag (a tick, 1-10 ms).
pub(crate) const COARSE_FAR_NS: i64 = 1_000_000_000;

/// Whether [`nanotime`] has reached `when`. A deadline more than
/// [`COARSE_FAR_NS`] past the coarse clock is settled by it alone (a
/// server's 30 s header timeout, checked on every poll), so that only near
/// deadlines pay for the precise clock.
#[inline]
pub(crate) fn reached(when: i64) -> bool {
    when <= coarse_clock().saturating_add(COARSE_FAR_NS) && nanotime() >= when
}

/// `t` in [`nanotime`] units without reading a clock: `Instant` is
/// `CLOCK_MONOTONIC` as well, so one pair of readings taken once converts
/// every instant. The pair is read instant first, then nanotime, so the
/// conversion is never early (a deadline never fires before its instant)
/// and late by the gap between the two readings, kept under a microsecond
/// by retrying a pair that a preemption split.
pub(crate) fn instant_nanos(t: std::time::Instant) -> i64 {
    static BASE: OnceLock<(std::time::Instant, i64)> = OnceLock::new();
    let &(base_i, base_n) = BASE.get_or_init(|| {
        let mut best = None;
        for _ in 0..16 {
            let before = nanotime();
            let i = std::time::Instant::now();
            let after = nanotime();
            if best.is_none_or(|(_, b, a): (std::time::Instant, i64, i64)| after - before < a - b) {
                best = Some((i, before, after));
            }
            if after - before < 1_000 {
                break;
            }
        }
        let (i, _, after) = best.expect("sampled at least once");
        (i, after)
    });
    match t.checked_duration_since(base_i) {
        Some(d) => base_n.saturating_add(d.as_nanos().min(i64::MAX as u128) as i64),
        None => base_n.saturating_sub((base_i - t).as_nanos().min(i64::MAX as u128) as i64),
    }
}

/// The clock sysmon keeps current (every round: at most 10 ms old while
/// goroutines run), on [`nanotime`]'s time base; 0 before any sysmon ran.
static COARSE_NOW: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

/// Records `now` as the coarse clock (sysmon, each round).
#[inline]
pub(crate) fn set_coarse_now(now: i64) {
    COARSE_NOW.store(now, std::sync::atomic::Ordering::Relaxed);
}

/// A cheap clock for timestamps only shown to humans (how long a goroutine
/// has waited, in dumps): one load, at most a sysmon round stale. Every
/// park records one, so it must cost less than a clock read.
#[inline]
pub(crate) fn coarse_nanotime() -> i64 {
    match COARSE_NOW.load(std::sync::atomic::Ordering::Relaxed) {
        0 => nanotime(),
        t => t,
    }
}

/// The system page size.
pub(crate) fn page_size() -> usize {
    static PAGE: OnceLock<usize> = OnceLock::new();
    *PAGE.get_or_init(|| {
        // SAFETY: sysconf has no preconditions.
        let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if n > 0 { n as usize } else { 4096 }
    })
}

/// Number of CPUs this process may run on (Go: `getproccount`).
pub(crate) fn cpu_count() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// wyrand: a fast, decent random step on `state` (Go: `cheaprand`).
#[inline]
pub(crate) fn wyrand(state: &std::cell::Cell<u64>) -> u32 {
    let s = state.get().wrapping_add(0xa076_1d64_78bd_642f);
    state.set(s);
    let t = (s as u128).wrapping_mul((s ^ 0xe703_7ed1_a0b4_28db) as u128);
    ((t >> 64) as u64 ^ t as u64) as u32
}

/// A short busy-wait, for spin loops (Go: `procyield`).
#[inline]
pub(crate) fn procyield(cycles: u32) {
    for _ in 0..cycles {
        std::hint::spin_loop();
    }
}

/// Gives up the CPU to another thread (Go: `osyield`).
#[inline]
pub(crate) fn osyield() {
    std::thread::yield_now();
}

/// membarrier(2) commands (linux/membarrier.h). (Unused under loom,
/// which models the barriers as fences.)
#[cfg_attr(loom, allow(dead_code))]
const MEMBARRIER_CMD_QUERY: libc::c_long = 0;
#[cfg_attr(loom, allow(dead_code))]
const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
#[cfg_attr(loom, allow(dead_code))]
const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;

/// Registers the process for [`membarrier`]; false if the kernel (or a
/// seccomp filter) does not offer it. `GORT_NO_MEMBARRIER=1` declines it,
/// to test the fallback.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) fn membarrier_register() -> bool {
    if std::env::var_os("GORT_NO_MEMBARRIER").is_some_and(|v| v == "1") {
        return false;
    }
    // SAFETY: membarrier takes plain integer arguments and touches no
    // memory of ours.
    let cmds = unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0) };
    if cmds < 0 || cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED == 0 {
        return false;
    }
    // SAFETY: membarrier takes plain integer arguments and touches no memory
    // of ours; registering only changes what later barrier calls may do.
    unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0 }
}

/// Makes every running thread of the process execute a full memory
/// barrier before returning (membarrier(2), private expedited). Only after
/// [`membarrier_register`] returned true.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) fn membarrier() {
    // SAFETY: membarrier takes plain integer arguments and touches no
    // memory of ours.
    let barrier = || unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) };
    if barrier() == 0 {
        return;
    }
    // EPERM: this process is not registered, which happens only in a child
    // forked after registration if the kernel does not carry it over.
    // Register again and retry.
    // SAFETY: the registration call again: plain integer arguments, no memory
    // of ours touched.
    let again =
        unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) };
    if again != 0 || barrier() != 0 {
        crate::sys::fatal("gort: membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) failed after registration");
    }
}

/// Sleeps the OS thread for `us` microseconds (Go: `usleep`).
pub(crate) fn usleep(us: u64) {
    std::thread::sleep(Duration::from_micros(us));
}

/// Writes `bytes` to standard error without allocating or locking.
/// Async-signal-safe; used by fatal-error paths.
pub(crate) fn write_stderr(bytes: &[u8]) {
    let mut rest = bytes;
    while !rest.is_empty() {
        // SAFETY: the pointer and length describe the live slice `rest`.
        let n = unsafe { libc::write(2, rest.as_ptr().cast(), rest.len()) };
        if n <= 0 {
            // EINTR: retry; anything else: give up, there is nowhere to report.
            if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        rest = &rest[n as usize..];
    }
}

/// Prints `fatal error: msg` and exits the process with status 2 (Go:
/// `fatal`), without unwinding or running destructors: for states the
/// runtime or a primitive cannot continue from (runtime/HACKING.md, "Errors:
/// `panic!` or `fatal`"). Standard output is flushed first.
pub fn fatal(msg: &str) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let mut line = String::with_capacity(msg.len() + 16);
    if !msg.starts_with("fatal error:") {
        line.push_str("fatal error: ");
    }
    line.push_str(msg);
    line.push('\n');
    write_stderr(line.as_bytes());
    std::process::exit(2)
}

/// Formats `n` in decimal into `buf` and returns the digits. Allocation-free,
/// for the async-signal-safe fatal paths.
pub(crate) fn fmt_u64(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fmt_u64_formats_decimal() {
        let mut b = [0; 20];
        assert_eq!(fmt_u64(0, &mut b), b"0");
        assert_eq!(fmt_u64(1234567890, &mut b), b"1234567890");
        assert_eq!(fmt_u64(u64::MAX, &mut b), b"18446744073709551615");
    }

    #[test]
    fn nanotime_is_monotonic() {
        let a = nanotime();
        let b = nanotime();
        assert!(b >= a);
    }

    /// An instant converts to the nanotime read just before it or later
    /// (a deadline never fires early), and within a millisecond of the one
    /// read just after it (the base pair's gap is kept under 1 µs unless
    /// 16 tries were all preempted); instants before and far after the
    /// base convert by their distance to it.
    #[test]
    fn instant_nanos_is_never_early() {
        for _ in 0..1_000 {
            let before = nanotime();
            let t = std::time::Instant::now();
            let after = nanotime();
            let n = instant_nanos(t);
            assert!(n >= before, "converted {} ns early", before - n);
            assert!(n <= after + 1_000_000, "converted {} ns late", n - after);
        }
        let t = std::time::Instant::now();
        let d = Duration::from_secs(3600);
        assert_eq!(instant_nanos(t + d) - instant_nanos(t), 3_600_000_000_000);
        assert_eq!(instant_nanos(t) - instant_nanos(t - Duration::from_millis(5)), 5_000_000);
    }

    /// A deadline far past the coarse clock is not reached without a
    /// precise reading; past and near deadlines are read precisely.
    #[test]
    fn reached_settles_far_deadlines_by_the_coarse_clock() {
        let now = nanotime();
        assert!(reached(now));
        assert!(reached(now - 1_000_000_000));
        assert!(!reached(now + 10 * COARSE_FAR_NS));
        assert!(!reached(now + COARSE_FAR_NS / 2));
        assert!(!reached(i64::MAX));
    }
}
