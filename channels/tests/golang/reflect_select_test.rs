//! reflect/all_test.go (go1.27.3): the tests of `reflect.Select`, ported
//! to the dynamic [`Select`].
//!
//! Ported: TestSelect (the exhaustive combinations of ready, blocking,
//! nil and closed send and receive cases, with and without default),
//! TestSelectMaxCases, TestSelectNop. Left out: the rest of all_test.go
//! (reflection, not channels).

use gort_channels::{Chan, Select, chan};
use gort_runtime::spawn;

use crate::{go_test, ms};

/// What one case of a combination is.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// Receive from a channel holding a value.
    RecvReady,
    /// Receive from an empty channel nobody sends to.
    RecvBlock,
    /// Receive from a closed channel.
    RecvClosed,
    /// Receive from a nil channel.
    RecvNil,
    /// Send to a channel with room.
    SendReady,
    /// Send to a full channel.
    SendBlock,
    /// Send to a nil channel.
    SendNil,
}

const KINDS: [Kind; 7] = [
    Kind::RecvReady,
    Kind::RecvBlock,
    Kind::RecvClosed,
    Kind::RecvNil,
    Kind::SendReady,
    Kind::SendBlock,
    Kind::SendNil,
];

fn ready(k: Kind) -> bool {
    matches!(k, Kind::RecvReady | Kind::RecvClosed | Kind::SendReady)
}

/// Every combination of up to three cases, each with and without
/// default: the chosen case must be ready (or default exactly when none
/// is), and its result right. Go: TestSelect's exhaustive walk.
#[test]
fn TestSelect() {
    go_test(2, || {
        // Every sequence of 1 to 3 kinds.
        let mut combos: Vec<Vec<Kind>> = Vec::new();
        let mut layer: Vec<Vec<Kind>> = vec![vec![]];
        for _ in 0..3 {
            layer = layer
                .iter()
                .flat_map(|c| KINDS.iter().map(move |&k| [c.clone(), vec![k]].concat()))
                .collect();
            combos.extend(layer.iter().cloned());
        }
        for combo in combos.iter().filter(|c| !c.is_empty()) {
            for with_default in [true, false] {
                let any_ready = combo.iter().any(|&k| ready(k));
                if !with_default && !any_ready {
                    continue; // would block forever
                }
                let chans: Vec<Chan<i32>> = combo.iter().map(|_| chan::<i32>(1)).collect();
                for (k, c) in combo.iter().zip(&chans) {
                    match k {
                        Kind::RecvReady | Kind::SendBlock => c.send(7).unwrap(),
                        Kind::RecvClosed => c.close(),
                        _ => {}
                    }
                }
                let nil: Option<&Chan<i32>> = None;
                let mut sel = Select::new();
                for (i, (k, c)) in combo.iter().zip(&chans).enumerate() {
                    match k {
                        Kind::RecvNil => sel.recv(&nil),
                        Kind::SendNil => sel.send(&nil, i as i32),
                        Kind::SendReady | Kind::SendBlock => sel.send(c, 100 + i as i32),
                        _ => sel.recv(c),
                    };
                }
                let op = if with_default { sel.try_select() } else { Some(sel.select()) };
                let Some(op) = op else {
                    assert!(!any_ready, "{combo:?}: default taken with a ready case");
                    continue;
                };
                let i = op.index();
                let k = combo[i];
                assert!(ready(k), "{combo:?}: chose case {i} ({k:?}), which is not ready");
                match k {
                    Kind::RecvReady => assert_eq!(op.recv(&chans[i]), Some(7)),
                    Kind::RecvClosed => assert_eq!(op.recv(&chans[i]), None),
                    Kind::SendReady => {
                        op.sent(&chans[i]).unwrap();
                        assert_eq!(chans[i].try_recv(), Ok(100 + i as i32));
                    }
                    _ => unreachable!(),
                }
            }
        }
    });
}

/// Not in Go: blocking dynamic selects woken by a sender, a receiver and
/// a close.
#[test]
fn select_blocking_wakeups() {
    go_test(2, || {
        let (a, b, c) = (chan::<i32>(0), chan::<i32>(0), chan::<i32>(0));
        let (a1, b1, c1) = (a.clone(), b.clone(), c.clone());
        let h = spawn(move || {
            let mut got = Vec::new();
            let mut sel = Select::new();
            let ia = sel.recv(&a1);
            let ib = sel.send(&b1, 5);
            let ic = sel.recv(&c1);
            for _ in 0..3 {
                let op = sel.select();
                match op.index() {
                    i if i == ia => got.push(("a", op.recv(&a1))),
                    i if i == ib => got.push(("b", op.sent(&b1).ok().map(|_| 5))),
                    i if i == ic => {
                        got.push(("c", op.recv(&c1)));
                        sel.disable(ic);
                    }
                    _ => unreachable!(),
                }
            }
            got.sort();
            got
        });
        gort_runtime::sleep(ms(2));
        a.send(1).unwrap();
        gort_runtime::sleep(ms(2));
        assert_eq!(b.recv(), Some(5));
        gort_runtime::sleep(ms(2));
        c.close();
        assert_eq!(h.join().unwrap(), vec![("a", Some(1)), ("b", Some(5)), ("c", None)]);
    });
}

#[test]
fn TestSelectMaxCases() {
    let c = chan::<i32>(0);
    let mut sel = Select::new();
    for _ in 0..65536 {
        sel.recv(&c);
    }
    assert!(sel.try_select().is_none());
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        sel.recv(&c);
    }));
    let msg = r.expect_err("65537 cases must panic");
    assert_eq!(msg.downcast_ref::<&str>().copied(), Some("Select: too many cases (max 65536)"));
}

#[test]
fn TestSelectNop() {
    // Only a default: it is taken.
    let nil: Option<&Chan<i32>> = None;
    let mut sel = Select::new();
    assert!(sel.try_select().is_none());
    sel.recv(&nil);
    assert!(sel.try_select().is_none());
    assert!(sel.select_timeout(ms(1)).is_none());
}
