//! Ownership of the values in a dynamic [`Select`]'s cases: each value is
//! dropped exactly once whatever the caller does with the [`Selected`],
//! including leaking it with `mem::forget` (safe code must not be able to
//! make a value be dropped twice or sent twice).

mod common;

use common::{D, counter};
use std::mem;
use std::sync::atomic::Ordering;

use gort_channels::*;

#[test]
fn forgotten_selected_of_a_send_does_not_drop_the_sent_value_again() {
    let (n, d) = counter();
    let c = chan::<D>(1);
    let mut sel = Select::new();
    sel.send(&c, d());
    mem::forget(sel.select());
    drop(sel);
    assert_eq!(n.load(Ordering::SeqCst), 0, "the channel owns the sent value");
    drop(c.try_recv().expect("the value was sent"));
    assert_eq!(n.load(Ordering::SeqCst), 1, "the sent value is dropped once");
}

#[test]
fn forgotten_selected_of_a_send_does_not_send_again() {
    let (n, d) = counter();
    let c = chan::<D>(2);
    let mut sel = Select::new();
    sel.send(&c, d());
    mem::forget(sel.select());
    assert!(sel.try_select().is_none(), "a spent send case never fires again");
    drop(sel);
    assert_eq!(c.len(), 1);
    drop(c);
    assert_eq!(n.load(Ordering::SeqCst), 1);
}

#[test]
fn forgotten_selected_of_a_closed_send_keeps_the_value_once() {
    let (n, d) = counter();
    let c = chan::<D>(0);
    c.close();
    let mut sel = Select::new();
    let i = sel.send(&c, d());
    mem::forget(sel.select());
    // The value was not sent: the case still owns it, and reports the
    // closed channel again.
    let again = sel.select();
    assert_eq!(again.index(), i);
    assert!(!again.is_ok());
    let v = again.sent(&c).expect_err("closed").into_inner();
    assert_eq!(n.load(Ordering::SeqCst), 0);
    drop(v);
    drop(sel);
    assert_eq!(n.load(Ordering::SeqCst), 1);
}

#[test]
fn forgotten_selected_of_a_recv_drops_the_value_with_the_select() {
    let (n, d) = counter();
    let c = chan::<D>(2);
    c.send(d()).unwrap();
    c.send(d()).unwrap();
    let mut sel = Select::new();
    sel.recv(&c);
    mem::forget(sel.select());
    assert_eq!(n.load(Ordering::SeqCst), 0);
    // A new run first drops the value nobody took.
    let op = sel.select();
    assert_eq!(n.load(Ordering::SeqCst), 1);
    drop(op.recv(&c));
    assert_eq!(n.load(Ordering::SeqCst), 2);
    c.send(d()).unwrap();
    mem::forget(sel.select());
    drop(sel);
    assert_eq!(n.load(Ordering::SeqCst), 3, "the select drops a value nobody took");
}

#[test]
fn selected_results_are_dropped_exactly_once() {
    let (n, d) = counter();
    let (a, b) = (chan::<D>(1), chan::<D>(1));
    b.send(d()).unwrap();
    let mut sel = Select::new();
    let ia = sel.send(&a, d());
    let ib = sel.recv(&b);
    let mut seen = [false; 2];
    for _ in 0..2 {
        let op = sel.select();
        match op.index() {
            i if i == ia => {
                op.sent(&a).unwrap();
                seen[0] = true;
            }
            i if i == ib => {
                drop(op); // not taken: dropped with the Selected
                seen[1] = true;
            }
            _ => unreachable!(),
        }
    }
    assert_eq!(seen, [true, true]);
    assert_eq!(n.load(Ordering::SeqCst), 1, "the received value was dropped");
    assert!(sel.try_select().is_none(), "the send is spent and b is empty");
    drop(sel);
    drop(a.try_recv().expect("sent"));
    assert_eq!(n.load(Ordering::SeqCst), 2);
}

/// Go's limit is 65,536 cases; `select_timeout`'s timer is gort's own
/// case and does not count against it.
#[test]
fn select_timeout_works_at_the_case_limit() {
    let c = chan::<u32>(1);
    let mut sel = Select::new();
    for _ in 0..65_536 {
        sel.recv(&c);
    }
    assert!(sel.select_timeout(std::time::Duration::from_millis(1)).is_none());
    c.send(7).unwrap();
    let op = sel.select_timeout(std::time::Duration::from_secs(3600)).expect("c is ready");
    assert_eq!(op.recv(&c), Some(7));
}
