//! runtime/chan_test.go (go1.27.3).
//!
//! Ported: TestChan, TestNonblockRecvRace, TestNonblockSelectRace,
//! TestNonblockSelectRace2, TestSelfSelect, TestSelectStress,
//! TestSelectFairness, TestChanSendInterface, TestPseudoRandomSend,
//! TestMultiConsumer, TestSelectDuplicateChannel, and Rust analogues of
//! TestShrinkStackDuringBlockedSend and TestSelectStackAdjust (gort stacks
//! never move or shrink, so what remains to check is that a goroutine that
//! used deep stack, or holds pointers into its own stack, blocks and
//! resumes with its frame intact).
//!
//! Left out: TestNoShrinkStackWhileParking (tests a race between Go's GC
//! stack shrinking and parking; gort has neither GC nor stack shrinking).
//! Go's benchmarks live in benches/.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use gort_channels::{Chan, chan, select};
use gort_runtime::{spawn, yield_now};

use crate::{go_test, ms};

#[test]
fn TestChan() {
    go_test(4, || {
        for cap in 0..200usize {
            {
                // A receive from an empty channel blocks.
                let c = chan::<i32>(cap);
                let recv1 = Arc::new(AtomicBool::new(false));
                let recv2 = Arc::new(AtomicBool::new(false));
                let (c1, r1) = (c.clone(), recv1.clone());
                let h1 = spawn(move || {
                    let _ = c1.recv();
                    r1.store(true, Ordering::SeqCst);
                });
                let (c2, r2) = (c.clone(), recv2.clone());
                let h2 = spawn(move || {
                    let _ = c2.recv();
                    r2.store(true, Ordering::SeqCst);
                });
                gort_runtime::sleep(ms(1));
                assert!(
                    !recv1.load(Ordering::SeqCst) && !recv2.load(Ordering::SeqCst),
                    "chan[{cap}]: receive from empty chan"
                );
                // A non-blocking receive does not block.
                select! {
                    recv(c) -> _ => panic!("chan[{cap}]: receive from empty chan"),
                    default => {}
                }
                assert!(c.try_recv().is_err(), "chan[{cap}]: receive from empty chan");
                c.send(0).unwrap();
                c.send(0).unwrap();
                h1.join().unwrap();
                h2.join().unwrap();
            }
            {
                // A send to a full channel blocks.
                let c = chan::<usize>(cap);
                for i in 0..cap {
                    c.send(i).unwrap();
                }
                let sent = Arc::new(AtomicBool::new(false));
                let (c1, s1) = (c.clone(), sent.clone());
                let h = spawn(move || {
                    c1.send(0).unwrap();
                    s1.store(true, Ordering::SeqCst);
                });
                gort_runtime::sleep(ms(1));
                assert!(!sent.load(Ordering::SeqCst), "chan[{cap}]: send to full chan");
                // A non-blocking send does not block.
                select! {
                    send(c, 0) -> _ => panic!("chan[{cap}]: send to full chan"),
                    default => {}
                }
                c.recv().unwrap();
                h.join().unwrap();
            }
            {
                // A closed channel yields its buffered values, then closed.
                let c = chan::<usize>(cap);
                for i in 0..cap {
                    c.send(i).unwrap();
                }
                c.close();
                for i in 0..cap {
                    assert_eq!(c.recv(), Some(i), "chan[{cap}]");
                }
                assert_eq!(c.recv(), None, "chan[{cap}]");
                assert_eq!(c.recv(), None, "chan[{cap}]");
            }
            {
                // Close unblocks a receive.
                let c = chan::<i32>(cap);
                let done = chan::<bool>(0);
                let (c1, d1) = (c.clone(), done.clone());
                spawn(move || d1.send(c1.recv().is_none()).unwrap());
                gort_runtime::sleep(ms(1));
                c.close();
                assert_eq!(done.recv(), Some(true), "chan[{cap}]: received non zero from closed chan");
            }
            {
                // 100 integers arrive uncorrupted, in FIFO order.
                let c = chan::<i32>(cap);
                for _form in 0..2 {
                    let c1 = c.clone();
                    spawn(move || {
                        for i in 0..100 {
                            c1.send(i).unwrap();
                        }
                    });
                    for i in 0..100 {
                        assert_eq!(c.recv(), Some(i), "chan[{cap}]");
                    }
                }
                // 4 senders of 1000 integers: each value arrives 4 times.
                const P: usize = 4;
                const L: i32 = 1000;
                for _ in 0..P {
                    let c1 = c.clone();
                    spawn(move || {
                        for i in 0..L {
                            c1.send(i).unwrap();
                        }
                    });
                }
                let done = chan::<HashMap<i32, usize>>(0);
                for _ in 0..P {
                    let (c1, d1) = (c.clone(), done.clone());
                    spawn(move || {
                        let mut recv = HashMap::new();
                        for _ in 0..L {
                            *recv.entry(c1.recv().unwrap()).or_default() += 1;
                        }
                        d1.send(recv).unwrap();
                    });
                }
                let mut recv: HashMap<i32, usize> = HashMap::new();
                for _ in 0..P {
                    for (k, v) in done.recv().unwrap() {
                        *recv.entry(k).or_default() += v;
                    }
                }
                assert_eq!(recv.len(), L as usize, "chan[{cap}]");
                assert!(recv.values().all(|&v| v == P), "chan[{cap}]: received a value other than {P} times");
            }
            {
                // len and cap.
                let c = chan::<usize>(cap);
                assert_eq!((c.len(), c.cap()), (0, cap), "chan[{cap}]: bad len/cap");
                for i in 0..cap {
                    c.send(i).unwrap();
                }
                assert_eq!((c.len(), c.cap()), (cap, cap), "chan[{cap}]: bad len/cap");
            }
        }
    });
}

#[test]
fn TestNonblockRecvRace() {
    go_test(2, || {
        for _ in 0..10_000 {
            let c = chan::<i32>(1);
            c.send(1).unwrap();
            let c1 = c.clone();
            let h = spawn(move || {
                let mut ready = true;
                select! {
                    recv(c1) -> _ => {},
                    default => ready = false,
                }
                ready
            });
            c.close();
            c.recv();
            assert!(h.join().unwrap(), "chan is not ready");
        }
    });
}

/// TestNonblockSelectRace and TestNonblockSelectRace2: from the time the
/// goroutine starts, c1 or c2 is always ready, so its non-blocking select
/// must never take `default`.
fn nonblock_select_race(close_c2: bool) {
    go_test(2, move || {
        let done = chan::<bool>(1);
        for _ in 0..100_000 {
            let c1 = chan::<i32>(1);
            let c2 = chan::<i32>(if close_c2 { 0 } else { 1 });
            c1.send(1).unwrap();
            let (a, b, d) = (c1.clone(), c2.clone(), done.clone());
            spawn(move || {
                let ok = select! {
                    recv(a) -> _ => true,
                    recv(b) -> _ => true,
                    default => false,
                };
                d.send(ok).unwrap();
            });
            if close_c2 {
                c2.close();
            } else {
                c2.send(1).unwrap();
            }
            select! {
                recv(c1) -> _ => {},
                default => {}
            }
            assert_eq!(done.recv(), Some(true), "no chan is ready");
        }
    });
}

#[test]
fn TestNonblockSelectRace() {
    nonblock_select_race(false);
}

#[test]
fn TestNonblockSelectRace2() {
    nonblock_select_race(true);
}

#[test]
fn TestSelfSelect() {
    go_test(2, || {
        for cap in [0usize, 10] {
            let c = chan::<usize>(cap);
            let hs: Vec<_> = (0..2usize)
                .map(|p| {
                    let c = c.clone();
                    spawn(move || {
                        for i in 0..1000 {
                            let got = if p == 0 || i % 2 == 0 {
                                select! {
                                    send(c, p) -> r => { r.unwrap(); None },
                                    recv(c) -> v => v,
                                }
                            } else {
                                select! {
                                    recv(c) -> v => v,
                                    send(c, p) -> r => { r.unwrap(); None },
                                }
                            };
                            assert!(!(cap == 0 && got == Some(p)), "self receive");
                        }
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
        }
    });
}

#[test]
fn TestSelectStress() {
    go_test(10, || {
        let c: [Chan<i32>; 4] = [chan(0), chan(0), chan(2), chan(3)];
        const N: usize = 100_000;
        let mut hs = Vec::new();
        for ck in &c {
            let ck2 = ck.clone();
            hs.push(spawn(move || {
                for _ in 0..N {
                    ck2.send(0).unwrap();
                }
            }));
            let ck = ck.clone();
            hs.push(spawn(move || {
                for _ in 0..N {
                    ck.recv();
                }
            }));
        }
        let cs = c.clone();
        hs.push(spawn(move || {
            let mut n = [0usize; 4];
            let mut c1: [Option<&Chan<i32>>; 4] = [Some(&cs[0]), Some(&cs[1]), Some(&cs[2]), Some(&cs[3])];
            for _ in 0..4 * N {
                let k = select! {
                    send(c1[3], 0) -> _ => 3,
                    send(c1[2], 0) -> _ => 2,
                    send(c1[0], 0) -> _ => 0,
                    send(c1[1], 0) -> _ => 1,
                };
                n[k] += 1;
                if n[k] == N {
                    c1[k] = None;
                }
            }
        }));
        let cs = c.clone();
        hs.push(spawn(move || {
            let mut n = [0usize; 4];
            let mut c1: [Option<&Chan<i32>>; 4] = [Some(&cs[0]), Some(&cs[1]), Some(&cs[2]), Some(&cs[3])];
            for _ in 0..4 * N {
                let k = select! {
                    recv(c1[0]) -> _ => 0,
                    recv(c1[1]) -> _ => 1,
                    recv(c1[2]) -> _ => 2,
                    recv(c1[3]) -> _ => 3,
                };
                n[k] += 1;
                if n[k] == N {
                    c1[k] = None;
                }
            }
        }));
        for h in hs {
            h.join().unwrap();
        }
    });
}

#[test]
fn TestSelectFairness() {
    go_test(2, || {
        const TRIALS: usize = 10_000;
        let c1 = chan::<u8>(TRIALS + 1);
        let c2 = chan::<u8>(TRIALS + 1);
        for _ in 0..TRIALS + 1 {
            c1.send(1).unwrap();
            c2.send(2).unwrap();
        }
        let (c3, c4) = (chan::<u8>(0), chan::<u8>(0));
        let (out, done) = (chan::<u8>(0), chan::<()>(0));
        let (o, d) = (out.clone(), done.clone());
        let h = spawn(move || {
            loop {
                let b = select! {
                    recv(c3) -> b => b,
                    recv(c4) -> b => b,
                    recv(c1) -> b => b,
                    recv(c2) -> b => b,
                };
                select! {
                    send(o, b.unwrap()) -> _ => {},
                    recv(d) -> _ => return,
                }
            }
        });
        let (mut cnt1, mut cnt2) = (0i64, 0i64);
        for _ in 0..TRIALS {
            match out.recv() {
                Some(1) => cnt1 += 1,
                Some(2) => cnt2 += 1,
                b => panic!("unexpected value {b:?} on channel"),
            }
        }
        // Within 10 sigma of 50/50, as Go checks.
        let mean = TRIALS as f64 * 0.5;
        let stddev = (TRIALS as f64 * 0.5 * 0.5).sqrt();
        assert!(
            (cnt1 as f64 - mean).abs() <= 10.0 * stddev,
            "unfair select: in {TRIALS} trials, results were {cnt1}, {cnt2}"
        );
        done.close();
        h.join().unwrap();
    });
}

#[test]
fn TestChanSendInterface() {
    // Go sends interface values; the Rust analogue sends trait objects
    // (boxed, owned) and checks non-blocking sends to a full channel drop
    // or return them correctly.
    trait Mt: Send {}
    struct M;
    impl Mt for M {}
    let c = chan::<Box<dyn Mt>>(1);
    c.send(Box::new(M)).unwrap();
    select! {
        send(c, Box::new(M)) -> _ => panic!("channel is full"),
        default => {}
    }
    select! {
        send(c, Box::new(M)) -> _ => panic!("channel is full"),
        send(c, Box::new(M)) -> _ => panic!("channel is full"),
        default => {}
    }
    assert_eq!(c.len(), 1);
}

#[test]
fn TestPseudoRandomSend() {
    go_test(2, || {
        let n = 100;
        for cap in [0, n] {
            let c = chan::<usize>(cap);
            let c1 = c.clone();
            let h = spawn(move || {
                (0..n)
                    .map(|_| {
                        yield_now();
                        c1.recv().unwrap()
                    })
                    .collect::<Vec<_>>()
            });
            for _ in 0..n {
                select! {
                    send(c, 1) -> _ => {},
                    send(c, 0) -> _ => {},
                }
            }
            let l = h.join().unwrap();
            let n1: usize = l.iter().sum();
            let n0 = n - n1;
            assert!(
                n0 > n / 10 && n1 > n / 10,
                "want pseudorandom, got {n0} zeros and {n1} ones (chan cap {cap})"
            );
        }
    });
}

#[test]
fn TestMultiConsumer() {
    go_test(2, || {
        const NWORK: usize = 23;
        const NITER: usize = 271_828;
        const PN: [usize; 10] = [2, 3, 7, 11, 13, 17, 19, 23, 27, 31];
        let q = chan::<usize>(NWORK * 3);
        let r = chan::<usize>(NWORK * 3);
        let workers: Vec<_> = (0..NWORK)
            .map(|w| {
                let (q, r) = (q.clone(), r.clone());
                spawn(move || {
                    for v in &q {
                        // Mess with the FIFO-ish nature of range.
                        if PN[w % PN.len()] == v {
                            yield_now();
                        }
                        r.send(v).unwrap();
                    }
                })
            })
            .collect();
        let (q1, r1) = (q.clone(), r.clone());
        let feeder = spawn(move || {
            let mut expect = 0;
            for i in 0..NITER {
                let v = PN[i % PN.len()];
                expect += v;
                q1.send(v).unwrap();
            }
            q1.close();
            for w in workers {
                w.join().unwrap();
            }
            r1.close();
            expect
        });
        let (mut n, mut s) = (0, 0);
        for v in &r {
            n += 1;
            s += v;
        }
        let expect = feeder.join().unwrap();
        assert_eq!((n, s), (NITER, expect));
    });
}

#[inline(never)]
fn stack_growth_recursive(n: usize) -> u64 {
    let mut pad = [0u64; 128];
    pad[n % 128] = n as u64;
    let pad = std::hint::black_box(pad);
    if n == 0 { pad[0] } else { pad[n % 128] + stack_growth_recursive(n - 1) }
}

#[test]
fn TestShrinkStackDuringBlockedSend() {
    go_test(2, || {
        const N: i32 = 10;
        let c = chan::<i32>(0);
        let done = chan::<()>(0);
        let (c1, d1) = (c.clone(), done.clone());
        spawn(move || {
            for i in 0..N {
                c1.send(i).unwrap();
                // Use lots of stack, briefly.
                std::hint::black_box(stack_growth_recursive(20));
            }
            d1.send(()).unwrap();
        });
        for i in 0..N {
            assert_eq!(c.recv(), Some(i), "bad channel read");
            // Let the sender finish using stack and block in its send.
            gort_runtime::sleep(ms(1));
        }
        done.recv();
    });
}

#[test]
fn TestSelectDuplicateChannel() {
    go_test(2, || {
        let (c, d, e) = (chan::<i32>(0), chan::<i32>(0), chan::<i32>(0));
        let (c1, d1, e1) = (c.clone(), d.clone(), e.clone());
        // Goroutine A: queued twice on c, once on d.
        spawn(move || {
            select! {
                recv(c1) -> _ => {},
                recv(c1) -> _ => {},
                recv(d1) -> _ => {},
            }
            e1.send(9).unwrap();
        });
        gort_runtime::sleep(ms(1)); // A is queued on c first
        let c2 = c.clone();
        let b = spawn(move || c2.recv()); // goroutine B
        gort_runtime::sleep(ms(1)); // B is queued on c
        d.send(7).unwrap(); // wakes A, which unlinks itself from c
        e.recv(); // A is done
        c.send(8).unwrap(); // must wake B, not a stale waiter of A
        assert_eq!(b.join().unwrap(), Some(8));
    });
}

#[test]
fn TestSelectStackAdjust() {
    go_test(2, || {
        let (c, d) = (chan::<usize>(0), chan::<usize>(0));
        let (ready1, ready2) = (chan::<bool>(0), chan::<bool>(0));
        let f = |ready: Chan<bool>, dup: bool, c: Chan<usize>, d: Chan<usize>| {
            move || {
                std::hint::black_box(stack_growth_recursive(10));
                ready.send(true).unwrap();
                let mut val = 42usize;
                let cx = &mut val as *mut usize;
                let c2 = dup.then_some(&c);
                let d2 = dup.then_some(&d);
                // Receive from d (closed); the local pointer survives.
                select! {
                    recv(c) -> _ => panic!("c is never sent to"),
                    recv(c2) -> _ => panic!("c is never sent to"),
                    recv(d) -> _ => {},
                    recv(d2) -> _ => {},
                }
                assert!(std::ptr::eq(cx, &val), "cx no longer points to val");
                assert_eq!(val, 42, "val changed");
                // SAFETY: cx points at val, alive in this frame.
                unsafe { *cx = 43 };
                assert_eq!(val, 43, "changing *cx failed to change val");
                ready.send(true).unwrap();
            }
        };
        spawn(f(ready1.clone(), false, c.clone(), d.clone()));
        spawn(f(ready2.clone(), true, c.clone(), d.clone()));
        ready1.recv();
        ready2.recv();
        gort_runtime::sleep(ms(10));
        d.close();
        ready1.recv();
        ready2.recv();
    });
}
