//! Goroutine stack sizes that cannot be mapped: `try_spawn` returns an
//! error, `spawn` panics in the caller with that error's message, and the
//! runtime builder refuses them, in debug and release builds alike (the
//! size arithmetic must neither overflow-panic nor wrap). `.ci/run` runs
//! this file in release mode too.

use gort_runtime::{Builder, Runtime, SpawnError};
use test_support::panic_message;

/// Sizes no stack can have: each overflows the page rounding, the guard
/// page or the address space.
const HUGE: [usize; 5] = [usize::MAX, usize::MAX - 4095, usize::MAX / 2 + 1, isize::MAX as usize, 1 << 62];

fn message(e: &SpawnError) -> String {
    e.to_string()
}

#[test]
fn try_spawn_refuses_a_stack_it_cannot_map() {
    for size in HUGE {
        let r = Builder::new().stack_size(size).try_spawn(|| unreachable!("the goroutine must not start"));
        let e = r.expect_err(&format!("try_spawn with stack_size({size}) must fail"));
        let msg = message(&e);
        assert!(
            msg.contains("too large") || msg.contains("cannot map"),
            "stack_size({size}): unhelpful message: {msg}"
        );
        assert!(msg.contains("Builder::stack_size"), "the message names the fix: {msg}");
        let io: std::io::Error = e.into();
        assert!(matches!(io.kind(), std::io::ErrorKind::InvalidInput | std::io::ErrorKind::OutOfMemory));
    }
}

#[test]
fn spawn_panics_in_the_caller_with_try_spawns_message() {
    for size in HUGE {
        let expected = message(&Builder::new().stack_size(size).try_spawn(|| ()).unwrap_err());
        // From a plain thread (the default runtime)...
        let r = std::panic::catch_unwind(|| Builder::new().stack_size(size).spawn(|| ()));
        let got = panic_message(&*r.expect_err("spawn must panic"));
        assert_eq!(got, expected, "stack_size({size})");
        // ...and from a goroutine, whose panic its joiner sees.
        let h = gort_runtime::spawn(move || Builder::new().stack_size(size).spawn(|| ()));
        let p = h.join().expect_err("spawn in a goroutine must panic");
        assert_eq!(p.message(), Some(expected.as_str()), "stack_size({size}) from a goroutine");
    }
    // The runtime still works afterwards.
    assert_eq!(gort_runtime::spawn(|| 7).join().unwrap(), 7);
}

#[test]
fn a_large_but_mappable_stack_works() {
    // 1 GiB of address space: only the touched pages cost memory.
    let h = Builder::new().stack_size(1 << 30).spawn(|| {
        let buf = [7u8; 64 << 10];
        std::hint::black_box(&buf).iter().map(|&b| b as u64).sum::<u64>()
    });
    assert_eq!(h.join().unwrap(), 7 * (64 << 10));
    let h = Builder::new().stack_size(1 << 30).try_spawn(|| 1).unwrap();
    assert_eq!(h.join().unwrap(), 1);
}

#[test]
fn the_runtime_builder_refuses_a_stack_size_it_cannot_map() {
    for size in HUGE {
        let e = Runtime::builder().max_procs(1).stack_size(size).build().err();
        let e = e.unwrap_or_else(|| panic!("build with stack_size({size}) must fail"));
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{e}");
        assert!(e.to_string().contains("too large"), "{e}");
    }
    // A large default size that fits still builds and runs.
    let rt = Runtime::builder().max_procs(1).stack_size(64 << 20).build().unwrap();
    assert_eq!(rt.block_on(|| 3), 3);
}
