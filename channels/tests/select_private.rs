//! The items `select!` expands to are public (macros need them) and safe,
//! so no sequence of safe calls may duplicate, invent or lose track of a
//! value: `selectgo` itself settles who owns the chosen case's value, and
//! a case's view borrows it for as long as the engine may touch it.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use gort_channels::__private::{Wait, recv_case, selectgo, send_case};
use gort_channels::*;

use common::D;

#[test]
fn rerunning_selectgo_over_a_spent_send_case_never_sends_it_twice() {
    let n = Arc::new(AtomicUsize::new(0));
    let c = chan::<D>(2);
    let mut case = send_case(&c, D(n.clone()));
    {
        let mut cases = [case.scase()];
        let mut order = [0u32; 2];
        assert_eq!(selectgo(&mut cases, &mut order, Wait::No), Some((0, true)));
        // The sent case is nil now: a second run finds nothing ready.
        assert_eq!(selectgo(&mut cases, &mut order, Wait::No), None);
    }
    assert!(case.finish().is_ok());
    assert_eq!(c.len(), 1, "sent exactly once");
    drop(case);
    assert_eq!(n.load(Ordering::SeqCst), 0, "the channel owns the value");
    drop(c.try_recv().unwrap());
    assert_eq!(n.load(Ordering::SeqCst), 1);
}

#[test]
fn finish_on_a_case_selectgo_did_not_choose_claims_nothing() {
    let n = Arc::new(AtomicUsize::new(0));
    let (a, b) = (chan::<D>(1), chan::<D>(1));
    b.send(D(n.clone())).unwrap();
    let mut ra = recv_case(&a);
    let mut rb = recv_case(&b);
    let r = selectgo(&mut [ra.scase(), rb.scase()], &mut [0; 4], Wait::No);
    assert_eq!(r, Some((1, true)));
    assert!(ra.finish().is_none(), "case 0 received nothing");
    assert!(rb.finish().is_some());
    assert!(rb.finish().is_none(), "a value is taken once");
    assert_eq!(n.load(Ordering::SeqCst), 1);
}

#[test]
fn an_unsent_value_comes_back_from_a_closed_channel_once() {
    let n = Arc::new(AtomicUsize::new(0));
    let c = chan::<D>(0);
    c.close();
    let mut case = send_case(&c, D(n.clone()));
    assert_eq!(selectgo(&mut [case.scase()], &mut [0; 2], Wait::No), Some((0, false)));
    let back = case.finish().expect_err("the channel is closed").0;
    assert!(case.finish().is_ok(), "the value left the case already");
    drop(case);
    assert_eq!(n.load(Ordering::SeqCst), 0);
    drop(back);
    assert_eq!(n.load(Ordering::SeqCst), 1);
}

#[test]
fn a_received_value_left_in_a_case_is_dropped_with_it() {
    let n = Arc::new(AtomicUsize::new(0));
    let c = chan::<D>(1);
    c.send(D(n.clone())).unwrap();
    let mut case = recv_case(&c);
    assert_eq!(selectgo(&mut [case.scase()], &mut [0; 2], Wait::No), Some((0, true)));
    assert_eq!(n.load(Ordering::SeqCst), 0);
    drop(case);
    assert_eq!(n.load(Ordering::SeqCst), 1);
}
