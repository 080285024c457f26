//! valgrind client requests, so that memcheck knows goroutine stacks.
//!
//! Go: runtime/valgrind.go, runtime/valgrind_amd64.s and valgrind_arm64.s
//! (`valgrindRegisterStack`, `valgrindDeregisterStack`). Go emits them
//! only in builds tagged `valgrind`; gort asks valgrind once, at the first
//! stack pool, whether it runs under it, and otherwise skips them, so a
//! program outside valgrind pays one well-predicted branch per stack
//! handed out or taken back.
//!
//! How a client request works (the ABI of valgrind.h's
//! `VALGRIND_DO_CLIENT_REQUEST`, described here in our own words): the
//! program puts the address of six machine words, the request code then
//! five arguments, in one register and a default result in another, then
//! runs a marker: four rotations of a scratch register whose amounts add
//! up to twice the register width (so the register ends up unchanged),
//! followed by an instruction that moves a register onto itself. On real
//! hardware that does nothing and the result register keeps the default.
//! valgrind's translator recognises the sequence, carries out the request
//! and puts its answer in the result register. The registers:
//!
//! - x86-64: words at `rax`, default and result in `rdx`; the marker
//!   rotates `rdi` left by 3, 13, 61 and 51, then `xchg rbx, rbx`.
//! - AArch64: words at `x4`, default and result in `x3`; the marker
//!   rotates `x12` right by 3, 13, 51 and 61, then `orr x10, x10, x10`.
//!
//! Elsewhere every request returns its default: gort does not know it is
//! under valgrind and registers nothing.

use std::sync::atomic::{AtomicU8, Ordering};

/// Request codes (valgrind.h's `Vg_ClientRequest`).
const RUNNING_ON_VALGRIND: usize = 0x1001;
const STACK_REGISTER: usize = 0x1501;
const STACK_DEREGISTER: usize = 0x1502;

/// Makes one client request; natively, returns `default`.
#[inline(always)]
fn request(default: usize, words: &[usize; 6]) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        let result;
        // SAFETY: the rotations of rdi add up to 128 bits, leaving it as it
        // was, and `xchg rbx, rbx` changes nothing, so natively the block
        // only reads its operands and returns rdx unchanged; under valgrind
        // the request reads the six words at rax (alive for the call) and
        // writes only rdx. No stack use; flags are clobbered (the default).
        unsafe {
            std::arch::asm!(
                "rol rdi, 3",
                "rol rdi, 13",
                "rol rdi, 61",
                "rol rdi, 51",
                "xchg rbx, rbx",
                inout("rdx") default => result,
                in("rax") words.as_ptr(),
                options(nostack),
            );
        }
        result
    }
    #[cfg(target_arch = "aarch64")]
    {
        let result;
        // SAFETY: the rotations of x12 add up to 128 bits, leaving it as it
        // was, and `orr x10, x10, x10` changes nothing, so natively the
        // block returns x3 unchanged; under valgrind the request reads the
        // six words at x4 (alive for the call) and writes only x3.
        unsafe {
            std::arch::asm!(
                "ror x12, x12, #3",
                "ror x12, x12, #13",
                "ror x12, x12, #51",
                "ror x12, x12, #61",
                "orr x10, x10, x10",
                inout("x3") default => result,
                in("x4") words.as_ptr(),
                options(nostack),
            );
        }
        result
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let _ = words;
        default
    }
}

/// 0: not asked yet; 1: native; 2: under valgrind.
static UNDER_VALGRIND: AtomicU8 = AtomicU8::new(0);

/// Whether the process runs under valgrind (asked once, then cached).
pub(crate) fn running_on_valgrind() -> bool {
    match UNDER_VALGRIND.load(Ordering::Relaxed) {
        0 => {
            // valgrind answers with its nesting depth; natively, the default.
            let on = request(0, &[RUNNING_ON_VALGRIND, 0, 0, 0, 0, 0]) != 0;
            UNDER_VALGRIND.store(if on { 2 } else { 1 }, Ordering::Relaxed);
            on
        }
        v => v == 2,
    }
}

/// Tells valgrind that `[lo, hi)` is a stack; returns its id for
/// [`deregister_stack`]. Only call under valgrind.
pub(crate) fn register_stack(lo: usize, hi: usize) -> usize {
    // valgrind.h takes the lowest and the highest addressable byte.
    request(0, &[STACK_REGISTER, lo, hi - 1, 0, 0, 0])
}

/// Tells valgrind that the stack `id` is no longer one.
pub(crate) fn deregister_stack(id: usize) {
    request(0, &[STACK_DEREGISTER, id, 0, 0, 0, 0]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natively_a_request_returns_its_default() {
        if running_on_valgrind() {
            return; // the suite itself runs under valgrind: nothing to check
        }
        assert_eq!(request(42, &[RUNNING_ON_VALGRIND, 0, 0, 0, 0, 0]), 42);
        assert_eq!(request(7, &[STACK_REGISTER, 0x1000, 0x1fff, 0, 0, 0]), 7);
    }
}
