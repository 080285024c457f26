//! The Go habits a porting user reaches for, on channels: `send(v).unwrap()`
//! panicking with Go's words, and `defer close(ch)` as a guard.

use std::time::Duration;

use gort_channels::*;
use test_support::panic_message;

#[test]
fn send_error_debug_is_gos_panic_message() {
    let c = chan::<Vec<u8>>(1);
    c.close();
    let e = c.send(vec![1, 2]).expect_err("closed");
    assert_eq!(format!("{e:?}"), "send on closed channel");
    assert_eq!(e.into_inner(), vec![1, 2], "the value still comes back");
    // What a ported `ch <- v` written as `ch.send(v).unwrap()` prints.
    let p = std::panic::catch_unwind(|| c.send(vec![3]).unwrap()).expect_err("unwrap panics");
    assert_eq!(panic_message(&*p), "called `Result::unwrap()` on an `Err` value: send on closed channel");
}

/// A producer that returns early through `?` still closes its channel, so
/// the consumer's `for v in &ch` ends: Go's `defer close(ch)`.
#[test]
fn close_guard_closes_on_early_return() {
    fn produce(tx: CloseGuard<u32>, words: &[&str]) -> Result<(), std::num::ParseIntError> {
        for w in words {
            tx.send(w.parse()?).unwrap();
        }
        Ok(())
    }
    let ch = chan::<u32>(0);
    let tx = ch.close_on_drop();
    let h = gort_runtime::spawn(move || produce(tx, &["1", "2", "three", "4"]));
    let got: Vec<u32> = ch.iter().collect();
    assert_eq!(got, [1, 2]);
    assert!(h.join().unwrap().is_err());
    assert!(ch.is_closed());
}

/// The guard also closes when the producer panics, as a deferred close
/// runs during a Go panic.
#[test]
fn close_guard_closes_on_panic() {
    let ch = chan::<u32>(1);
    let tx = ch.sender().close_on_drop();
    let h = gort_runtime::spawn(move || {
        tx.send(7).unwrap();
        panic!("producer failed");
    });
    assert!(h.join().is_err());
    assert_eq!(ch.recv(), Some(7), "buffered values are still received");
    assert_eq!(ch.recv_timeout(Duration::from_secs(10)), Err(RecvTimeoutError::Closed));
}

#[test]
fn close_guard_tolerates_an_earlier_close_and_can_be_defused() {
    let ch = chan::<u32>(1);
    let g = ch.close_on_drop();
    g.close(); // closed by hand: dropping the guard does nothing more
    drop(g);
    assert!(ch.is_closed());

    let ch = chan::<u32>(1);
    let tx = ch.close_on_drop().into_sender();
    assert!(!ch.is_closed(), "into_sender does not close");
    tx.send(1).unwrap();
    drop(tx);
    assert!(!ch.is_closed(), "a plain sender never closes");
    assert_eq!(ch.recv(), Some(1));
}
