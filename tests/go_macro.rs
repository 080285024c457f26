//! The facade: `go!` in both forms, `#[gort::main]`-style running, re-exports.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

fn add(a: i32, b: i32) -> i32 {
    a + b
}

mod math {
    pub fn mul(a: u64, b: u64) -> u64 {
        a * b
    }
}

struct Server {
    base: u32,
}

impl Server {
    fn handle(self, req: u32) -> u32 {
        self.base + req
    }
}

#[test]
fn go_closure_form() {
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    gort::go!(move || n2.fetch_add(1, Ordering::SeqCst)).join().unwrap();
    assert_eq!(n.load(Ordering::SeqCst), 1);
    assert_eq!(gort::go!(|| 5).join().unwrap(), 5);
}

#[test]
fn go_call_form_evaluates_arguments_now() {
    let mut x = 1;
    let h = gort::go!(add(x, 2));
    x += 100;
    assert_eq!(h.join().unwrap(), 3);
    assert_eq!(x, 101);
    assert_eq!(gort::go!(math::mul(6, 7)).join().unwrap(), 42);
    let s = Server { base: 10 };
    assert_eq!(gort::go!(s.handle(5)).join().unwrap(), 15);
    // Arguments with side effects run once, in order, on the caller.
    let calls = std::cell::RefCell::new(Vec::new());
    let next = |v: i32| {
        calls.borrow_mut().push(v);
        v
    };
    let h = gort::go!(add(next(1), next(2)));
    assert_eq!(h.join().unwrap(), 3);
    assert_eq!(*calls.borrow(), vec![1, 2]);
}

#[test]
fn go_expression_form() {
    let f = || 9;
    assert_eq!(gort::go!(f).join().unwrap(), 9);
}

#[test]
fn run_returns_main_result() {
    let v = gort::run(|| gort::go!(move || 2 + 2).join().unwrap());
    assert_eq!(v, 4);
}

#[test]
fn max_procs_and_num_cpu_at_the_crate_root() {
    // A plain thread sees the default runtime; a goroutine its own runtime.
    assert!(gort::num_cpu() >= 1);
    assert!((1..=gort::MAX_PROCS).contains(&gort::max_procs()));
    let rt = gort::Runtime::builder().max_procs(3).build().unwrap();
    assert_eq!(rt.block_on(gort::max_procs), 3);
    let rt = gort::Runtime::builder().max_procs(usize::MAX).build().unwrap();
    assert_eq!(rt.max_procs(), gort::MAX_PROCS, "max_procs is capped at 65,536");
}
