//! The Go habits a porting user reaches for, on channels: `send(v).unwrap()`
//! panicking with Go's words, and `defer close(ch)` as a guard.

use std::time::Duration;

use gort_channels::*;

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

#[test]
fn send_error_debug_is_gos_panic_message() {
    let c = chan::<Vec<u8>>(1);
    c.close();
    let e = c.send(vec![1, 2]).expect_err("closed");
    assert_eq!(format!("{e:?}"), "send on closed channel");
    assert_eq!(e.into_inner(), vec![1, 2], "the value still comes back");
    // What a ported `ch <- v` written as `ch.send(v).unwrap()` prints.
    let p = std::panic::catch_unwind(|| c.send(vec![3]).unwrap()).expect_err("unwrap panics");
    assert_eq!(panic_message(p), "called `Result::unwrap()` on an `Err` value: send on closed channel");
}
