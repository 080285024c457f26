//! Unwinding a goroutine's stack from its saved registers with the
//! binary's unwind tables (`.eh_frame`), on a copy of the stack.
//!
//! Go: runtime/traceback.go (`unwinder`, `tracebackPCs`).
//!
//! The loaded modules (the executable, the vdso, shared libraries) are
//! listed once, on the first traceback, through `dl_iterate_phdr`; each
//! one's `.eh_frame_hdr` (the `PT_GNU_EH_FRAME` segment) and `.eh_frame`
//! are copied out of memory then, under the loader's lock, so a library
//! unloaded later can never make a traceback fault. framehop walks the
//! frames (`rip`, `rsp`, `rbp` are all it needs on x86_64).
//!
//! Safety against the goroutine being resumed mid-walk: the stack window
//! `[sp, top)` is first copied with `process_vm_readv(2)` on our own pid
//! (falling back to `pread` on `/proc/self/mem`), which reports an
//! unmapped or guarded page as an error instead of faulting, and the
//! unwinder reads only that copy, refusing any address outside it. A
//! goroutine resumed during the copy leaves at worst a torn copy, which
//! yields wrong frames or a short trace, never a crash.
//!
//! One [`Walker`] (module list, framehop's rule cache, the copy buffer)
//! serves the whole process behind a mutex; a walk never parks.

use std::ops::Range;
use std::sync::{Mutex, OnceLock};

use framehop::Unwinder;
use framehop::x86_64::{CacheX86_64, UnwindRegsX86_64, UnwinderX86_64};

use super::record::Regs;

/// Go prints at most 100 frames per goroutine; so do we.
pub(crate) const MAX_FRAMES: usize = 100;
/// The most of a stack one walk copies (deeper frames are elided).
const MAX_WINDOW: usize = 1 << 20;

/// A loaded module as the traceback knows it.
pub(crate) struct ModuleInfo {
    /// Its file (the executable's real path for the main program), or
    /// empty when it has none (the vdso).
    pub(crate) path: std::path::PathBuf,
    /// Load bias: runtime address minus the address stated in the file.
    pub(crate) bias: u64,
    /// Runtime addresses of its loaded segments.
    pub(crate) range: Range<u64>,
    /// Its `.eh_frame_hdr` and `.eh_frame` (stated addresses and copies).
    eh: Option<EhFrames>,
    /// Stated address range of its executable segment.
    text: Option<Range<u64>>,
}

struct EhFrames {
    hdr_svma: Range<u64>,
    hdr: Vec<u8>,
    frame_svma: Range<u64>,
    frame: Vec<u8>,
}

/// Every module loaded when the first traceback ran.
pub(crate) fn modules() -> &'static [ModuleInfo] {
    static MODULES: OnceLock<Vec<ModuleInfo>> = OnceLock::new();
    MODULES.get_or_init(list_modules)
}

fn list_modules() -> Vec<ModuleInfo> {
    unsafe extern "C" fn each(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut libc::c_void,
    ) -> i32 {
        // SAFETY: dl_iterate_phdr passes a valid info and our own `data`,
        // a `Vec<ModuleInfo>`, for the duration of the callback.
        let (info, out) = unsafe { (&*info, &mut *data.cast::<Vec<ModuleInfo>>()) };
        // SAFETY: the loader's lock is held during the callback, so the
        // module's headers and segments stay mapped while we read them.
        if let Some(m) = unsafe { module_of(info, out.is_empty()) } {
            out.push(m);
        }
        0
    }
    let mut out: Vec<ModuleInfo> = Vec::new();
    // SAFETY: the callback only reads what the loader hands it and
    // appends to `out`, which outlives the call.
    unsafe { libc::dl_iterate_phdr(Some(each), (&mut out as *mut Vec<ModuleInfo>).cast()) };
    out
}

/// Describes one module, copying its unwind tables.
///
/// # Safety
/// `info` describes a module that stays loaded during the call.
unsafe fn module_of(info: &libc::dl_phdr_info, first: bool) -> Option<ModuleInfo> {
    let bias = info.dlpi_addr;
    // SAFETY: the loader gives `dlpi_phnum` program headers at `dlpi_phdr`.
    let phdrs = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) };
    let loads: Vec<&libc::Elf64_Phdr> = phdrs.iter().filter(|p| p.p_type == libc::PT_LOAD).collect();
    let lo = loads.iter().map(|p| p.p_vaddr).min()?;
    let hi = loads.iter().map(|p| p.p_vaddr + p.p_memsz).max()?;
    let text = loads.iter().find(|p| p.p_flags & libc::PF_X != 0).map(|p| p.p_vaddr..p.p_vaddr + p.p_memsz);
    let name = if info.dlpi_name.is_null() {
        String::new()
    } else {
        // SAFETY: a non-null `dlpi_name` is a NUL-terminated string.
        unsafe { std::ffi::CStr::from_ptr(info.dlpi_name) }.to_string_lossy().into_owned()
    };
    let path = if first && name.is_empty() {
        std::env::current_exe().unwrap_or_default()
    } else if name.starts_with('/') {
        std::path::PathBuf::from(name)
    } else {
        std::path::PathBuf::new()
    };
    let eh = phdrs.iter().find(|p| p.p_type == libc::PT_GNU_EH_FRAME).and_then(|hdr| {
        // SAFETY: forwarded: the segments are mapped during the call.
        unsafe { eh_frames(bias, hdr, &loads) }
    });
    Some(ModuleInfo { path, bias, range: bias + lo..bias + hi, eh, text })
}

/// Copies a module's `.eh_frame_hdr` and the `.eh_frame` it points to.
///
/// # Safety
/// The module's loaded segments are mapped during the call.
unsafe fn eh_frames(bias: u64, hdr: &libc::Elf64_Phdr, loads: &[&libc::Elf64_Phdr]) -> Option<EhFrames> {
    let in_load = |svma: u64| loads.iter().find(|p| p.p_vaddr <= svma && svma < p.p_vaddr + p.p_filesz);
    let hdr_seg = in_load(hdr.p_vaddr)?;
    if hdr.p_vaddr + hdr.p_memsz > hdr_seg.p_vaddr + hdr_seg.p_filesz || hdr.p_memsz < 8 {
        return None;
    }
    // SAFETY: the header lies inside a file-backed part of a loaded segment.
    let hdr_bytes =
        unsafe { std::slice::from_raw_parts((bias + hdr.p_vaddr) as *const u8, hdr.p_memsz as usize) }
            .to_vec();
    if hdr_bytes[0] != 1 {
        return None; // unknown .eh_frame_hdr version
    }
    let frame_svma = decode_eh_ptr(&hdr_bytes[4..], hdr_bytes[1], hdr.p_vaddr + 4, hdr.p_vaddr)?;
    let seg = in_load(frame_svma)?;
    let avail = (seg.p_vaddr + seg.p_filesz - frame_svma) as usize;
    // SAFETY: [frame, frame + avail) lies inside the same segment.
    let all = unsafe { std::slice::from_raw_parts((bias + frame_svma) as *const u8, avail) };
    let len = eh_frame_len(all);
    Some(EhFrames {
        hdr_svma: hdr.p_vaddr..hdr.p_vaddr + hdr.p_memsz,
        hdr: hdr_bytes,
        frame_svma: frame_svma..frame_svma + len as u64,
        frame: all[..len].to_vec(),
    })
}

/// Decodes the `.eh_frame` pointer of an `.eh_frame_hdr` (the encodings
/// linkers use: absolute or pc/data-relative, 4 or 8 bytes).
fn decode_eh_ptr(b: &[u8], enc: u8, field_svma: u64, hdr_svma: u64) -> Option<u64> {
    let raw: i64 = match enc & 0x0f {
        0x00 | 0x04 | 0x0c => i64::from_le_bytes(b.get(..8)?.try_into().ok()?),
        0x03 => u32::from_le_bytes(b.get(..4)?.try_into().ok()?) as i64,
        0x0b => i32::from_le_bytes(b.get(..4)?.try_into().ok()?) as i64,
        _ => return None,
    };
    let base = match enc & 0x70 {
        0x00 => 0,
        0x10 => field_svma,
        0x30 => hdr_svma,
        _ => return None,
    };
    Some(base.wrapping_add(raw as u64))
}

/// The length of an `.eh_frame` section: its records up to the zero
/// terminator, or as much of `b` as holds whole records.
fn eh_frame_len(b: &[u8]) -> usize {
    let mut off = 0usize;
    while let Some(len) = b.get(off..off + 4).map(|w| u32::from_le_bytes(w.try_into().unwrap())) {
        let (hdr, len) = match len {
            0 => return off + 4,
            0xffff_ffff => match b.get(off + 4..off + 12) {
                Some(w) => (12, u64::from_le_bytes(w.try_into().unwrap()) as usize),
                None => return off,
            },
            n => (4, n as usize),
        };
        match off.checked_add(hdr).and_then(|o| o.checked_add(len)) {
            Some(end) if end <= b.len() => off = end,
            _ => return off,
        }
    }
    off
}

/// framehop's view of one module: stated ranges and copied sections.
struct Sections(&'static ModuleInfo);

impl framehop::ModuleSectionInfo<&'static [u8]> for Sections {
    fn base_svma(&self) -> u64 {
        0
    }

    fn section_svma_range(&mut self, name: &[u8]) -> Option<Range<u64>> {
        match name {
            b".eh_frame" => self.0.eh.as_ref().map(|e| e.frame_svma.clone()),
            b".eh_frame_hdr" => self.0.eh.as_ref().map(|e| e.hdr_svma.clone()),
            b".text" => self.0.text.clone(),
            _ => None,
        }
    }

    fn section_data(&mut self, name: &[u8]) -> Option<&'static [u8]> {
        match name {
            b".eh_frame" => self.0.eh.as_ref().map(|e| &e.frame[..]),
            b".eh_frame_hdr" => self.0.eh.as_ref().map(|e| &e.hdr[..]),
            _ => None,
        }
    }
}

/// The process-wide unwinder state.
pub(crate) struct Walker {
    unwinder: UnwinderX86_64<&'static [u8]>,
    cache: CacheX86_64,
    buf: Vec<u8>,
}

/// Runs `f` with the process's walker (built on first use); None when
/// called from inside a walk on this thread (the panic hook, for a panic
/// raised by the walk itself), which would deadlock.
pub(crate) fn with_walker<R>(f: impl FnOnce(&mut Walker) -> R) -> Option<R> {
    thread_local!(static WALKING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) });
    struct Done;
    impl Drop for Done {
        fn drop(&mut self) {
            WALKING.with(|w| w.set(false));
        }
    }
    if WALKING.with(|w| w.replace(true)) {
        return None;
    }
    let _done = Done;
    static WALKER: OnceLock<Mutex<Walker>> = OnceLock::new();
    let w = WALKER.get_or_init(|| {
        let mut unwinder = UnwinderX86_64::new();
        for m in modules() {
            if m.eh.is_some() {
                let name = m.path.to_string_lossy().into_owned();
                unwinder.add_module(framehop::Module::new(name, m.range.clone(), m.bias, Sections(m)));
            }
        }
        Mutex::new(Walker { unwinder, cache: CacheX86_64::new(), buf: Vec::new() })
    });
    // A panic inside a walk leaves nothing half-updated that matters: the
    // cache only holds rules, the buffer is overwritten by each walk.
    let mut guard = w.lock().unwrap_or_else(|e| e.into_inner());
    Some(f(&mut guard))
}

/// Why a walk produced no frames.
pub(crate) type WalkError = &'static str;

impl Walker {
    /// Unwinds from `regs`, appending to `out` the instruction pointer of
    /// the innermost frame and then each caller's return address, at most
    /// [`MAX_FRAMES`] + 1 of them (one more than are shown, so the caller
    /// can tell that frames were elided).
    pub(crate) fn walk(&mut self, regs: Regs, out: &mut Vec<u64>) -> Result<(), WalkError> {
        if !cfg!(target_arch = "x86_64") {
            return Err("tracebacks are supported on x86_64 only");
        }
        if regs.top == 0 || regs.sp >= regs.top || regs.sp % 8 != 0 {
            return Err("no valid saved stack pointer");
        }
        let len = (regs.top - regs.sp).min(MAX_WINDOW);
        self.buf.resize(len, 0);
        let got = copy_memory(regs.sp, &mut self.buf[..len]);
        if got < 16 {
            return Err("stack unreadable");
        }
        let (lo, buf) = (regs.sp as u64, &self.buf[..got]);
        let mut read = |addr: u64| -> Result<u64, ()> {
            let off = addr.checked_sub(lo).ok_or(())? as usize;
            let w = buf.get(off..off.checked_add(8).ok_or(())?).ok_or(())?;
            Ok(u64::from_le_bytes(w.try_into().map_err(|_| ())?))
        };
        let start = UnwindRegsX86_64::new(regs.pc as u64, regs.sp as u64, regs.bp as u64);
        let mut frames = self.unwinder.iter_frames(regs.pc as u64, start, &mut self.cache, &mut read);
        while out.len() <= MAX_FRAMES {
            match frames.next() {
                Ok(Some(f)) => out.push(f.address()),
                Ok(None) | Err(_) => break,
            }
        }
        Ok(())
    }
}

/// Copies `buf.len()` bytes at `addr` of our own memory without ever
/// faulting; returns how many leading bytes were readable.
fn copy_memory(addr: usize, buf: &mut [u8]) -> usize {
    let local = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    let remote = libc::iovec { iov_base: addr as *mut libc::c_void, iov_len: buf.len() };
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf` and
    // reads the remote range through the page tables, reporting a hole as
    // an error instead of a fault.
    let n = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
    if n >= 0 {
        return n as usize;
    }
    let err = std::io::Error::last_os_error().raw_os_error();
    if err != Some(libc::ENOSYS) && err != Some(libc::EPERM) {
        return 0; // EFAULT: the first page is a hole
    }
    // The call itself is refused (a seccomp filter, an old kernel):
    // /proc/self/mem reads the same memory through the file interface.
    use std::os::unix::fs::FileExt;
    static MEM: OnceLock<Option<std::fs::File>> = OnceLock::new();
    let Some(f) = MEM.get_or_init(|| std::fs::File::open("/proc/self/mem").ok()) else { return 0 };
    let mut done = 0;
    while done < buf.len() {
        match f.read_at(&mut buf[done..], (addr + done) as u64) {
            Ok(0) | Err(_) => break,
            Ok(n) => done += n,
        }
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_memory_reports_holes_instead_of_faulting() {
        let page = crate::sys::page_size();
        // SAFETY: a fresh private mapping of two pages that only this test uses.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                2 * page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        } as usize;
        assert_ne!(p as *mut libc::c_void, libc::MAP_FAILED);
        // SAFETY: writing into the first page of our mapping, then making
        // the second one inaccessible.
        unsafe {
            std::ptr::write_bytes(p as *mut u8, 7, page);
            libc::mprotect((p + page) as *mut libc::c_void, page, libc::PROT_NONE);
        }
        let mut buf = vec![0u8; 2 * page];
        assert_eq!(copy_memory(p, &mut buf), page);
        assert!(buf[..page].iter().all(|&b| b == 7));
        assert_eq!(copy_memory(p + page, &mut buf[..8]), 0);
        // SAFETY: unmapping our own mapping; nothing refers to it.
        unsafe { libc::munmap(p as *mut libc::c_void, 2 * page) };
        assert_eq!(copy_memory(p, &mut buf[..8]), 0, "unmapped memory reads as a hole");
    }

    #[test]
    fn eh_frame_len_stops_at_the_terminator() {
        let mut b = Vec::new();
        b.extend_from_slice(&8u32.to_le_bytes());
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&[0xAA; 16]);
        assert_eq!(eh_frame_len(&b), 16);
        assert_eq!(eh_frame_len(&b[..10]), 0, "a record cut short is left out");
    }

    #[test]
    fn the_executable_has_unwind_tables() {
        let exe = modules().first().expect("the executable is listed first");
        assert!(exe.path.is_file(), "{:?}", exe.path);
        assert!(exe.eh.as_ref().is_some_and(|e| !e.frame.is_empty()));
        let here = the_executable_has_unwind_tables as *const () as usize as u64;
        assert!(exe.range.contains(&here));
    }
}
