//! Goroutine stack traces: what `goroutines()` and the dump show of a
//! parked goroutine's stack. (SIGQUIT and the deadlock report: crashtest/.)

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::Slot;
use gort_runtime::debug::{Traceback, TracebackMode, dump_string, goroutines};
use gort_runtime::{Runtime, spawn};

fn wait_parked(id: u64) -> gort_runtime::debug::GoroutineInfo {
    let t = std::time::Instant::now();
    loop {
        if let Some(g) = goroutines().into_iter().find(|g| g.id == id && g.wait_reason.is_some()) {
            return g;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "goroutine {id} never parked");
        gort_runtime::sleep(Duration::from_millis(1));
    }
}

#[inline(never)]
fn blocked_in_user_code(slot: &Slot) -> u64 {
    let line = line!() + 1;
    let v = slot.take();
    std::hint::black_box(line);
    v
}

#[inline(never)]
fn outer_user_function(slot: Arc<Slot>) -> u64 {
    blocked_in_user_code(&slot) + 1
}

#[test]
fn a_parked_goroutine_shows_its_frames_innermost_first() {
    let rt = Runtime::builder().max_procs(2).build().unwrap();
    rt.block_on(|| {
        let slot = Arc::new(Slot::new());
        let s = slot.clone();
        let h = spawn(move || outer_user_function(s));
        let g = wait_parked(h.id());
        let frames = g.frames();
        let pos = |name: &str| {
            frames
                .iter()
                .position(|f| f.function.as_deref().is_some_and(|n| n.ends_with(name)))
                .unwrap_or_else(|| panic!("no frame {name} in {frames:#?}"))
        };
        let inner = pos("traceback::blocked_in_user_code");
        let outer = pos("traceback::outer_user_function");
        assert!(inner < outer, "innermost first: {frames:#?}");
        let f = &frames[inner];
        assert!(f.file.as_deref().is_some_and(|p| p.ends_with("traceback.rs")), "{f:?}");
        let take_line = blocked_in_user_code_line();
        assert_eq!(f.line, Some(take_line), "{f:?}");
        assert!(!f.runtime && frames.iter().any(|f| f.runtime), "{frames:#?}");
        // The dump hides the runtime's frames and ends with the spawn site.
        let text = g.to_string_with(TracebackMode::User);
        assert!(text.contains("traceback::blocked_in_user_code(...)\n\t"), "{text}");
        assert!(text.contains(&format!("traceback.rs:{take_line}\n")), "{text}");
        assert!(!text.contains("gort_runtime::"), "{text}");
        assert!(text.contains("\ncreated by goroutine "), "{text}");
        let system = g.to_string_with(TracebackMode::System);
        assert!(system.contains("gort_runtime::"), "{system}");
        let none = g.to_string_with(TracebackMode::None);
        assert!(!none.contains("blocked_in_user_code"), "{none}");
        slot.put(41);
        assert_eq!(h.join().unwrap(), 42);
    });
}

fn blocked_in_user_code_line() -> u32 {
    let src = include_str!("traceback.rs");
    let i = src.lines().position(|l| l.trim() == "let v = slot.take();").unwrap();
    i as u32 + 1
}

#[test]
fn the_caller_sees_its_own_stack_and_others_running_are_unavailable() {
    let rt = Runtime::builder().max_procs(2).build().unwrap();
    rt.block_on(|| {
        let me = gort_runtime::current().unwrap().id();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        let spinner = spawn(move || {
            while !s.load(std::sync::atomic::Ordering::Relaxed) {
                std::hint::spin_loop();
            }
        });
        let t = std::time::Instant::now();
        let spin = loop {
            let gs = goroutines();
            let g = gs.into_iter().find(|g| g.id == spinner.id()).unwrap();
            if g.state == "running" {
                break g;
            }
            assert!(t.elapsed() < Duration::from_secs(10), "the spinner never ran");
            gort_runtime::yield_now();
        };
        assert!(matches!(spin.traceback, Traceback::Running), "{:?}", spin.traceback);
        assert!(spin.to_string().contains("goroutine running on other thread; stack unavailable\n"));
        let mine = goroutines().into_iter().find(|g| g.id == me).unwrap();
        assert!(
            mine.frames()
                .iter()
                .any(|f| f.function.as_deref().is_some_and(|n| n.contains("the_caller_sees"))),
            "{:#?}",
            mine.traceback
        );
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        spinner.join().unwrap();
        let _ = dump_string();
    });
}

#[test]
fn dumps_racing_with_switching_and_exiting_goroutines_never_fault() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let rt = Runtime::builder().max_procs(2).build().unwrap();
    rt.block_on(|| {
        let slot = Arc::new(Slot::new());
        let s = slot.clone();
        let parked = spawn(move || outer_user_function(s));
        wait_parked(parked.id());
        let stop = Arc::new(AtomicBool::new(false));
        let exited = Arc::new(AtomicU64::new(0));
        // Goroutines that switch all the time (each walk of them may race
        // with their resumption), and short-lived ones on dedicated stacks,
        // which are unmapped when they exit.
        let mut churn = Vec::new();
        for _ in 0..4 {
            let stop = stop.clone();
            churn.push(spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    gort_runtime::yield_now();
                }
            }));
        }
        let (stop2, exited2) = (stop.clone(), exited.clone());
        churn.push(spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                let e = exited2.clone();
                let h = gort_runtime::Builder::new().stack_size(1 << 20).spawn(move || {
                    for _ in 0..3 {
                        gort_runtime::yield_now();
                    }
                    e.fetch_add(1, Ordering::Relaxed);
                });
                drop(h);
                gort_runtime::yield_now();
            }
        }));
        // Bounded: until 300 dumps raced with 50 exits, or 5 s.
        let t = std::time::Instant::now();
        let mut dumps = 0;
        while (dumps < 300 || exited.load(Ordering::Relaxed) < 50) && t.elapsed() < Duration::from_secs(5) {
            gort_runtime::yield_now();
            let gs = goroutines();
            let g = gs.iter().find(|g| g.id == parked.id()).expect("the parked goroutine is listed");
            assert!(
                g.frames()
                    .iter()
                    .any(|f| f.function.as_deref().is_some_and(|n| n.ends_with("blocked_in_user_code"))),
                "{g}"
            );
            dumps += 1;
        }
        stop.store(true, Ordering::Relaxed);
        for h in churn {
            h.join().unwrap();
        }
        assert!(dumps > 10 && exited.load(Ordering::Relaxed) > 0, "{dumps} dumps");
        slot.put(0);
        parked.join().unwrap();
    });
}

#[test]
fn grouped_dump_prints_identical_goroutines_once() {
    use gort_runtime::debug::{DumpOptions, dump_string_with};
    let rt = Runtime::builder().max_procs(2).build().unwrap();
    rt.block_on(|| {
        let slots: Vec<Arc<Slot>> = (0..12).map(|_| Arc::new(Slot::new())).collect();
        let hs: Vec<_> = slots
            .iter()
            .map(|s| {
                let s = s.clone();
                spawn(move || outer_user_function(s))
            })
            .collect();
        let other = Arc::new(Slot::new());
        let o = other.clone();
        let odd = spawn(move || o.take());
        for h in &hs {
            wait_parked(h.id());
        }
        wait_parked(odd.id());
        let text = dump_string_with(&DumpOptions::new().group(true).traceback(TracebackMode::User));
        let groups: Vec<&str> = text.split("\n\n").filter(|g| !g.is_empty()).collect();
        let big = groups[0];
        let ids: Vec<String> = hs.iter().take(10).map(|h| h.id().to_string()).collect();
        assert!(
            big.starts_with(&format!(
                "12 goroutines with this stack [chan receive]: {} and 2 more\n",
                ids.join(" ")
            )),
            "{text}"
        );
        assert_eq!(big.matches("blocked_in_user_code(...)").count(), 1, "{big}");
        assert!(big.contains("\ncreated by goroutine "), "{big}");
        let lone = groups
            .iter()
            .find(|g| g.contains(&format!("]: {}\n", odd.id())))
            .unwrap_or_else(|| panic!("{text}"));
        assert!(lone.starts_with("1 goroutine with this stack [chan receive]:"), "{lone}");
        assert!(!lone.contains("blocked_in_user_code"), "{lone}");
        // Ungrouped, each goroutine has its own entry.
        let flat = dump_string_with(&DumpOptions::new());
        assert_eq!(flat.matches("blocked_in_user_code(...)").count(), 12, "{flat}");
        for s in &slots {
            s.put(0);
        }
        other.put(0);
        for h in hs {
            h.join().unwrap();
        }
        odd.join().unwrap();
    });
}
