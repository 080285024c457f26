//! Addresses to frames: demangled function names and `file:line`, with
//! inlined calls expanded, from the modules' DWARF (addr2line).
//!
//! Go: runtime/symtab.go (`FuncForPC`, `CallersFrames`, inline expansion).
//!
//! A module's debug info is loaded the first time one of its addresses is
//! symbolized and kept for the life of the process, as are the frames of
//! each address already seen: a dump of many goroutines parked at the same
//! few places symbolizes each place once. A module without DWARF falls
//! back to its symbol table (names without lines).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use super::Frame;
use super::unwind::modules;

struct Symbolizer {
    /// One entry per module of `modules()`: not tried yet, failed, loaded.
    loaders: Vec<Option<Option<addr2line::Loader>>>,
    /// Frames of each address seen (the innermost-frame flag is part of
    /// the key: a return address is looked up one byte earlier).
    cache: HashMap<(u64, bool), Arc<[Frame]>>,
}

// SAFETY: the loaders' lazily filled caches are only touched with the
// mutex below held, from one thread at a time; their memory maps and
// arenas are plain owned data.
unsafe impl Send for Symbolizer {}

/// The frames of a walk: `pcs[0]` is the innermost frame's instruction
/// pointer, the rest are return addresses.
pub(crate) fn frames(pcs: &[u64]) -> Vec<Frame> {
    static SYMBOLIZER: OnceLock<Mutex<Symbolizer>> = OnceLock::new();
    let s = SYMBOLIZER.get_or_init(|| {
        Mutex::new(Symbolizer { loaders: modules().iter().map(|_| None).collect(), cache: HashMap::new() })
    });
    let mut s = s.lock().unwrap_or_else(|e| e.into_inner());
    let mut out = Vec::with_capacity(pcs.len());
    for (i, &pc) in pcs.iter().enumerate() {
        let fs = s.lookup(pc, i == 0);
        // corosensei's trampoline is the root of a coroutine's stack: what
        // an unwinder finds beyond it is not this goroutine's.
        if fs.iter().any(|f| f.function.as_deref() == Some("stack_init_trampoline")) {
            break;
        }
        out.extend(fs.iter().cloned());
    }
    out
}

impl Symbolizer {
    fn lookup(&mut self, pc: u64, innermost: bool) -> Arc<[Frame]> {
        if let Some(f) = self.cache.get(&(pc, innermost)) {
            return f.clone();
        }
        let f: Arc<[Frame]> = self.resolve(pc, innermost).into();
        self.cache.insert((pc, innermost), f.clone());
        f
    }

    fn resolve(&mut self, pc: u64, innermost: bool) -> Vec<Frame> {
        // A return address points after the call: look up the call itself.
        let lookup = if innermost { pc } else { pc.saturating_sub(1) };
        let unknown = || vec![Frame::new(None, None, None, pc, false)];
        let Some(i) = modules().iter().position(|m| m.range.contains(&lookup)) else { return unknown() };
        let m = &modules()[i];
        let loader = self.loaders[i].get_or_insert_with(|| {
            if m.path.as_os_str().is_empty() {
                return None;
            }
            addr2line::Loader::new(&m.path).ok()
        });
        let Some(loader) = loader.as_ref() else { return unknown() };
        let probe = lookup.wrapping_sub(m.bias);
        let mut out = Vec::new();
        if let Ok(mut it) = loader.find_frames(probe) {
            while let Ok(Some(f)) = it.next() {
                let name = f.function.as_ref().and_then(|n| n.demangle().ok()).map(|n| n.into_owned());
                let (file, line) = match f.location {
                    Some(l) => (l.file.map(str::to_owned), l.line),
                    None => (None, None),
                };
                out.push(Frame::new(name, file, line, pc, true));
            }
        }
        if out.iter().all(|f| f.function.is_none()) {
            // No DWARF for this address: the symbol table still names it.
            let name =
                loader.find_symbol(probe).map(|n| addr2line::demangle_auto(n.into(), None).into_owned());
            let (file, line) = out.first().map_or((None, None), |f| (f.file.clone(), f.line));
            out = vec![Frame::new(name, None, line, pc, false)];
            if let Some(file) = file {
                out[0].file = Some(file);
            }
        }
        // The last one is the physical frame; the ones before it were
        // inlined into it.
        if let Some(last) = out.last_mut() {
            last.inlined = false;
        }
        out
    }
}
