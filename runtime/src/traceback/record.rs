//! Where a goroutine stopped: the registers a traceback of a parked
//! goroutine starts from.
//!
//! Go: runtime/runtime2.go (`gobuf`: the `sp`, `pc` and `bp` a switch
//! saves, which `traceback` starts from).
//!
//! corosensei saves a suspended coroutine's registers on its stack and
//! keeps the stack pointer in a private field, so the runtime writes down
//! its own copy at the switch: [`record_switch!`] reads the instruction
//! pointer, stack pointer and frame pointer in the function that is about
//! to call `Yielder::suspend` and stores them in the G's [`SwitchRecord`]
//! (three plain stores; nothing is walked at park time). That function's
//! frame stays on the stack, unchanged up to its canonical frame address,
//! until the goroutine is resumed, so the three values are a valid
//! starting point for the unwinder for as long as the goroutine stays
//! switched out, and CFI is exact at every instruction on x86_64.
//!
//! The record also holds the top of the goroutine's stack (set when its
//! coroutine is built), which bounds the window a traceback copies.
//! Orderings: the owner writes the record with Relaxed stores before the
//! Release store of the G's status that publishes the park; a reader that
//! saw that status with Acquire sees the record of that switch. A reader
//! racing with a resume may see a stale record: the traceback copies the
//! stack through the kernel and validates every read, so a stale record
//! can only give wrong frames, never a fault, and the dump rechecks the
//! record after the walk.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The registers saved at a goroutine's last switch out, and its stack top.
pub(crate) struct SwitchRecord {
    pc: AtomicUsize,
    sp: AtomicUsize,
    bp: AtomicUsize,
    top: AtomicUsize,
}

/// One consistent-looking copy of a [`SwitchRecord`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Regs {
    pub(crate) pc: usize,
    pub(crate) sp: usize,
    pub(crate) bp: usize,
    /// The stack's top (highest address, exclusive); 0 if unknown.
    pub(crate) top: usize,
}

impl SwitchRecord {
    pub(crate) const fn new() -> SwitchRecord {
        SwitchRecord {
            pc: AtomicUsize::new(0),
            sp: AtomicUsize::new(0),
            bp: AtomicUsize::new(0),
            top: AtomicUsize::new(0),
        }
    }

    /// A new incarnation of the G: nothing to unwind until it first
    /// switches out. Called by the spawner, which owns the G.
    pub(crate) fn clear(&self) {
        self.sp.store(0, Ordering::Relaxed);
        self.top.store(0, Ordering::Relaxed);
    }

    /// The goroutine's coroutine was built on a stack whose highest
    /// address is `top`.
    pub(crate) fn set_stack_top(&self, top: usize) {
        self.top.store(top, Ordering::Relaxed);
    }

    /// Stores registers read by [`record_switch!`].
    #[inline(always)]
    pub(crate) fn set(&self, pc: usize, sp: usize, bp: usize) {
        self.pc.store(pc, Ordering::Relaxed);
        self.sp.store(sp, Ordering::Relaxed);
        self.bp.store(bp, Ordering::Relaxed);
    }

    /// The last switch, or None if the goroutine never switched out in
    /// this incarnation.
    pub(crate) fn load(&self) -> Option<Regs> {
        let sp = self.sp.load(Ordering::Relaxed);
        if sp == 0 {
            return None;
        }
        Some(Regs {
            pc: self.pc.load(Ordering::Relaxed),
            sp,
            bp: self.bp.load(Ordering::Relaxed),
            top: self.top.load(Ordering::Relaxed),
        })
    }

    /// The stack top alone (for a traceback of the running goroutine).
    pub(crate) fn stack_top(&self) -> usize {
        self.top.load(Ordering::Relaxed)
    }
}

/// Reads the instruction, stack and frame pointers of the function this
/// macro expands in, as `(pc, sp, bp)`. A macro rather than a function, so
/// the values describe the caller's own frame: an inlining decision can
/// never move them into a frame that is gone by the time they are used.
/// Yields zeros on architectures the traceback does not support.
macro_rules! read_regs {
    () => {{
        #[cfg(target_arch = "x86_64")]
        let regs = {
            let (pc, sp, bp): (usize, usize, usize);
            // SAFETY: reads three registers and takes the address of the
            // next instruction; touches no memory and no flags.
            unsafe {
                ::core::arch::asm!(
                    "lea {pc}, [rip + 2f]",
                    "2:",
                    "mov {sp}, rsp",
                    "mov {bp}, rbp",
                    pc = out(reg) pc,
                    sp = out(reg) sp,
                    bp = out(reg) bp,
                    options(nomem, nostack, preserves_flags),
                )
            };
            (pc, sp, bp)
        };
        #[cfg(not(target_arch = "x86_64"))]
        let regs = (0usize, 0usize, 0usize);
        regs
    }};
}
pub(crate) use read_regs;

/// Writes where the current goroutine stops into its [`SwitchRecord`]:
/// expand it in the function that then calls `Yielder::suspend`.
macro_rules! record_switch {
    ($record:expr) => {{
        let (pc, sp, bp) = $crate::traceback::read_regs!();
        $record.set(pc, sp, bp);
    }};
}
pub(crate) use record_switch;
