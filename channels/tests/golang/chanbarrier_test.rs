//! runtime/chanbarrier_test.go (go1.27.3): TestChanSendBarrier and
//! TestChanSendSelectBarrier. In Go they test GC write barriers on the
//! direct stack-to-stack hand-off; in Rust they test that ownership of a
//! heap value moves intact through that hand-off (plain send and select
//! send) under heap churn. Counts are Go's `-short` outer loop with a
//! longer inner loop (100 × 2,000 instead of 100 × 100,000) to keep the
//! suite fast on 2 cores.

use gort_channels::{chan, select};
use gort_runtime::{spawn, yield_now};

use crate::go_test;

#[derive(Debug, PartialEq)]
struct MyError(String);

struct Async {
    resp: Option<Box<[u8]>>,
    err: Box<dyn std::any::Any + Send>,
}

fn do_request(use_select: bool) -> (Option<Box<[u8]>>, Box<dyn std::any::Any + Send>) {
    let ch = chan::<Box<Async>>(0);
    let done = chan::<()>(0);
    let (c, d) = (ch.clone(), done.clone());
    let make = || Box::new(Async { resp: None, err: Box::new(MyError("my error".into())) });
    if use_select {
        spawn(move || {
            select! {
                send(c, make()) -> r => r.unwrap(),
                recv(d) -> _ => {},
            }
        });
    } else {
        spawn(move || c.send(make()).unwrap());
    }
    let r = ch.recv().unwrap();
    yield_now();
    (r.resp, r.err)
}

fn test_chan_send_barrier(use_select: bool) {
    go_test(2, move || {
        let hs: Vec<_> = (0..100)
            .map(|_| {
                spawn(move || {
                    let mut garbage = Vec::new();
                    for _ in 0..2_000 {
                        let (resp, err) = do_request(use_select);
                        assert!(resp.is_none());
                        assert_eq!(err.downcast_ref::<MyError>(), Some(&MyError("my error".into())));
                        garbage = vec![0u8; 1 << 10];
                    }
                    drop(garbage);
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
}

#[test]
fn TestChanSendSelectBarrier() {
    test_chan_send_barrier(true);
}

#[test]
fn TestChanSendBarrier() {
    test_chan_send_barrier(false);
}
