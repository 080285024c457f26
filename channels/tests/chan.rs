//! gort's own tests of channels beyond Go's: exact drop semantics, the
//! directional handles, goroutines and plain threads on one channel,
//! deadlines, close, and wake-up latency.

mod common;

use common::{D, counter};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use gort_channels::*;
use gort_runtime::spawn;

#[test]
fn buffered_values_drop_with_the_channel() {
    let (n, d) = counter();
    let c = chan::<D>(4);
    for _ in 0..3 {
        c.send(d()).unwrap();
    }
    drop(c.recv());
    assert_eq!(n.load(Ordering::SeqCst), 1);
    let c2 = c.clone();
    drop(c);
    assert_eq!(n.load(Ordering::SeqCst), 1, "a live handle keeps the values");
    drop(c2);
    assert_eq!(n.load(Ordering::SeqCst), 3);
}

#[test]
fn failed_sends_give_the_value_back() {
    let (n, d) = counter();
    let c = chan::<D>(1);
    c.send(d()).unwrap();
    let v = c.try_send(d()).expect_err("full").into_inner();
    let v = c.send_timeout(v, Duration::from_millis(1)).expect_err("full").into_inner();
    assert_eq!(n.load(Ordering::SeqCst), 0, "no value dropped by a failed send");
    c.close();
    let e = c.send(v).expect_err("closed");
    assert_eq!(e.to_string(), "send on closed channel");
    let v = e.into_inner();
    assert!(matches!(c.try_send(v), Err(TrySendError::Closed(_))));
    assert_eq!(n.load(Ordering::SeqCst), 1);
    drop(c);
    assert_eq!(n.load(Ordering::SeqCst), 2);
}

#[test]
fn blocked_sender_woken_by_close_gets_its_value() {
    let (n, d) = counter();
    let c = chan::<D>(0);
    let c1 = c.clone();
    let v = d();
    let h = spawn(move || c1.send(v).map_err(|e| e.into_inner()));
    gort_runtime::sleep(Duration::from_millis(5));
    c.close();
    let back = h.join().unwrap().expect_err("closed while blocked");
    assert_eq!(n.load(Ordering::SeqCst), 0);
    drop(back);
    assert_eq!(n.load(Ordering::SeqCst), 1);
}

#[test]
fn select_drops_unsent_values_of_losing_cases() {
    let (n, d) = counter();
    let (a, b) = (chan::<D>(1), chan::<D>(0));
    // a has room, b has no receiver: a wins, b's value is dropped.
    select! {
        send(a, d()) -> r => r.unwrap(),
        send(b, d()) -> _ => panic!("b has no receiver"),
    }
    assert_eq!(n.load(Ordering::SeqCst), 1);
    assert_eq!(a.len(), 1);
    // Both full: default; both values dropped.
    select! {
        send(a, d()) -> _ => panic!("a is full"),
        send(b, d()) -> _ => panic!("b has no receiver"),
        default => {}
    }
    assert_eq!(n.load(Ordering::SeqCst), 3);
    // A send case on a closed channel returns its value.
    b.close();
    let back = select! {
        send(b, d()) -> r => r.expect_err("closed").into_inner(),
        send(a, d()) -> _ => panic!("a is full"),
    };
    assert_eq!(n.load(Ordering::SeqCst), 4, "only the losing case's value");
    drop(back);
    drop(a);
    assert_eq!(n.load(Ordering::SeqCst), 6);
}

#[test]
fn values_move_exactly_once_under_contention() {
    let (n, d) = counter();
    const N: usize = 20_000;
    for cap in [0, 1, 16] {
        let before = n.load(Ordering::SeqCst);
        let c = chan::<D>(cap);
        let senders: Vec<_> = (0..4)
            .map(|_| {
                let c = c.clone();
                let vals: Vec<D> = (0..N / 4).map(|_| d()).collect();
                spawn(move || {
                    for v in vals {
                        if let Err(e) = c.send_timeout(v, Duration::from_secs(60)) {
                            panic!("send failed: {e}");
                        }
                    }
                })
            })
            .collect();
        let receivers: Vec<_> = (0..3)
            .map(|i| {
                let c = c.clone();
                spawn(move || {
                    let mut got = 0;
                    loop {
                        let v = if i == 0 {
                            select! {
                                recv(c) -> v => v,
                                recv(after(Duration::from_secs(60))) -> _ => panic!("stuck"),
                            }
                        } else {
                            c.recv()
                        };
                        match v {
                            Some(v) => {
                                drop(v);
                                got += 1;
                            }
                            None => return got,
                        }
                    }
                })
            })
            .collect();
        for s in senders {
            s.join().unwrap();
        }
        c.close();
        let got: usize = receivers.into_iter().map(|r| r.join().unwrap()).sum();
        assert_eq!(got, N, "cap {cap}");
        assert_eq!(n.load(Ordering::SeqCst) - before, N, "cap {cap}: each value dropped exactly once");
    }
}

#[test]
fn close_twice_panics_with_gos_words() {
    let c = chan::<i32>(0);
    c.close();
    assert!(!c.try_close());
    let r = std::panic::catch_unwind(|| c.close());
    let msg = *r.expect_err("second close").downcast::<&str>().unwrap();
    assert_eq!(msg, "close of closed channel");
}

#[test]
fn closed_channel_drains_then_reports_closed() {
    let c = chan::<i32>(3);
    c.send(1).unwrap();
    c.send(2).unwrap();
    c.close();
    assert!(c.is_closed());
    assert_eq!(c.try_recv(), Ok(1));
    assert_eq!(c.recv_timeout(Duration::from_secs(1)), Ok(2));
    assert_eq!(c.try_recv(), Err(TryRecvError::Closed));
    assert_eq!(c.recv_timeout(Duration::from_secs(1)), Err(RecvTimeoutError::Closed));
    assert_eq!(c.recv(), None);
    assert_eq!(c.iter().count(), 0);
}

#[test]
fn directional_views_share_the_channel() {
    let c = chan::<i32>(2);
    let (tx, rx) = c.clone().split();
    assert!(tx.same_channel(&c) && rx.same_channel(&tx));
    tx.send(1).unwrap();
    let rx2: Receiver<i32> = c.clone().into();
    assert_eq!(rx2.recv(), Some(1));
    let tx2: Sender<i32> = c.sender();
    tx2.send(2).unwrap();
    assert_eq!((rx.len(), rx.cap(), tx.len()), (1, 2, 1));
    tx.close();
    assert!(rx.is_closed());
    assert_eq!(rx.into_iter().collect::<Vec<_>>(), [2]);
}

#[test]
fn threads_and_goroutines_share_channels() {
    // A plain thread and a goroutine, both directions, unbuffered.
    let (ping, pong) = (chan::<u32>(0), chan::<u32>(0));
    let (pi, po) = (ping.clone(), pong.clone());
    let g = spawn(move || {
        for v in &pi {
            po.send(v * 2).unwrap();
        }
        po.close();
    });
    let (pi, po) = (ping.clone(), pong.clone());
    let t = thread::spawn(move || {
        for i in 0..1000 {
            pi.send(i).unwrap();
            assert_eq!(po.recv(), Some(i * 2));
        }
        pi.close();
    });
    t.join().unwrap();
    assert_eq!(pong.recv(), None);
    g.join().unwrap();
    // Two plain threads selecting against each other.
    let (a, b) = (chan::<u32>(0), chan::<u32>(0));
    let (a1, b1) = (a.clone(), b.clone());
    let t = thread::spawn(move || {
        let mut sum = 0;
        for _ in 0..200 {
            select! {
                recv(a1) -> v => sum += v.unwrap(),
                recv(b1) -> v => sum += 10 * v.unwrap(),
            }
        }
        sum
    });
    for i in 0..100 {
        a.send(i % 2).unwrap();
        b.send(1).unwrap();
    }
    assert_eq!(t.join().unwrap(), 50 + 1000);
}

#[test]
fn deadlines_from_goroutines_and_threads() {
    let c = chan::<i32>(0);
    let t0 = Instant::now();
    assert_eq!(c.recv_timeout(Duration::from_millis(20)), Err(RecvTimeoutError::Timeout));
    assert!(t0.elapsed() >= Duration::from_millis(20));
    let c1 = c.clone();
    // Causal, not timed: the send below waits until the goroutine's two
    // timed waits have ended (a late start under load once let it meet
    // the send inside its 5 ms receive).
    let ready = chan::<()>(1);
    let ready1 = ready.clone();
    let h = spawn(move || {
        let t0 = Instant::now();
        assert!(matches!(c1.send_timeout(7, Duration::from_millis(20)), Err(SendTimeoutError::Timeout(7))));
        assert!(t0.elapsed() >= Duration::from_millis(20));
        assert_eq!(
            c1.recv_deadline(Instant::now() + Duration::from_millis(5)),
            Err(RecvTimeoutError::Timeout)
        );
        ready1.send(()).unwrap();
        c1.recv_timeout(Duration::from_secs(60))
    });
    ready.recv().unwrap();
    c.send(9).unwrap();
    assert_eq!(h.join().unwrap(), Ok(9));
}

/// A counterpart that arrives right after a timed wait parks must not
/// race with the deadline's timer (the timer is armed before parking and
/// stopped before the frame goes).
#[test]
fn timed_waits_completed_at_once_many_times() {
    let (a, b) = (chan::<u32>(0), chan::<u32>(0));
    let (a1, b1) = (a.clone(), b.clone());
    let h = spawn(move || {
        for i in 0..20_000 {
            let v = a1.recv_timeout(Duration::from_secs(3600)).unwrap();
            assert_eq!(v, i);
            b1.send_timeout(v, Duration::from_secs(3600)).unwrap();
        }
    });
    let g = spawn(move || {
        for i in 0..20_000 {
            a.send_timeout(i, Duration::from_secs(3600)).unwrap();
            assert_eq!(b.recv_timeout(Duration::from_secs(3600)), Ok(i));
        }
    });
    h.join().unwrap();
    g.join().unwrap();
}

#[test]
fn nil_cases_never_fire() {
    let c = chan::<i32>(1);
    c.send(1).unwrap();
    let nil: Option<&Chan<i32>> = None;
    for _ in 0..100 {
        let got = select! {
            recv(nil) -> _ => panic!("nil receive fired"),
            send(nil, 5) -> _ => panic!("nil send fired"),
            recv(Some(&c)) -> v => v,
        };
        assert_eq!(got, Some(1));
        c.send(1).unwrap();
    }
    // Only nil cases and a default: the default.
    let r = select! {
        recv(nil) -> _ => 0,
        default => 1,
    };
    assert_eq!(r, 1);
}

#[test]
fn select_bodies_can_break_continue_and_disable_cases() {
    let (a, b) = (chan::<i32>(0), chan::<i32>(0));
    let (a1, b1) = (a.clone(), b.clone());
    spawn(move || {
        for i in 0..3 {
            a1.send(i).unwrap();
        }
        a1.close();
        for i in 0..2 {
            b1.send(10 + i).unwrap();
        }
        b1.close();
    });
    // Go's merge loop: a closed input is set to nil.
    let (mut ra, mut rb) = (Some(a), Some(b));
    let mut got = Vec::new();
    while ra.is_some() || rb.is_some() {
        select! {
            recv(ra) -> v => match v {
                Some(v) => got.push(v),
                None => { ra = None; continue; }
            },
            recv(rb) -> v => match v {
                Some(v) => got.push(v),
                None => rb = None,
            },
        }
    }
    got.sort();
    assert_eq!(got, [0, 1, 2, 10, 11]);
}

#[test]
fn a_send_wakes_a_parked_receiver_promptly() {
    let c = chan::<Instant>(0);
    let c1 = c.clone();
    let h = spawn(move || {
        let mut waits: Vec<Duration> = (0..100).map(|_| c1.recv().unwrap().elapsed()).collect();
        waits.sort();
        waits
    });
    for _ in 0..100 {
        gort_runtime::sleep(Duration::from_micros(200));
        c.send(Instant::now()).unwrap();
    }
    // A hand-off readies the receiver on the sender's P at once; nothing
    // here waits for a poll period (10 ms) or a timer. The median says so
    // even on a loaded machine (a wake-up is microseconds; the bound is
    // half a poll period); single wake-ups may wait for a CPU.
    let waits = h.join().unwrap();
    assert!(waits[50] < Duration::from_millis(5), "median wake-up {:?}, worst {:?}", waits[50], waits[99]);
}

#[test]
fn timer_channels_look_unbuffered_and_stop_cleanly() {
    let t = Timer::new(Duration::from_millis(1));
    assert_eq!((t.c().len(), t.c().cap()), (0, 0));
    std::thread::sleep(Duration::from_millis(20));
    // Fired but not received: stop reports it pending and discards it.
    assert!(t.stop());
    assert!(t.c().try_recv().is_err());
    assert!(!t.stop());
    // A ticker delivers tick after tick, each stamped later than the one
    // before. (Dropped timer channels: see tests/timers.rs.)
    let tick = tick(Duration::from_millis(1));
    let first = tick.recv().unwrap();
    let second = tick.recv().unwrap();
    assert!(second > first);
}

/// Go's select fairness bound (10 sigma, as TestSelectFairness) for every
/// case when all of them are ready, for `select!` and for `Select`.
#[test]
fn select_fairness_every_ready_case() {
    const TRIALS: usize = 20_000;
    let chans: Vec<Chan<usize>> = (0..4).map(|_| chan(1)).collect();
    for c in &chans {
        c.send(0).unwrap();
    }
    let p = 0.25;
    let mean = TRIALS as f64 * p;
    let bound = 10.0 * (TRIALS as f64 * p * (1.0 - p)).sqrt();
    let mut counts = [0usize; 4];
    for _ in 0..TRIALS {
        let i = select! {
            recv(chans[0]) -> _ => 0,
            recv(chans[1]) -> _ => 1,
            recv(chans[2]) -> _ => 2,
            recv(chans[3]) -> _ => 3,
        };
        counts[i] += 1;
        chans[i].send(0).unwrap();
    }
    for (i, &n) in counts.iter().enumerate() {
        assert!(
            (n as f64 - mean).abs() <= bound,
            "select!: case {i} chosen {n} times of {TRIALS}: {counts:?}"
        );
    }
    let mut counts = [0usize; 4];
    let mut sel = Select::new();
    for c in &chans {
        sel.recv(c);
    }
    for _ in 0..TRIALS {
        let op = sel.select();
        let i = op.index();
        assert_eq!(op.recv(&chans[i]), Some(0));
        counts[i] += 1;
        chans[i].send(0).unwrap();
    }
    for (i, &n) in counts.iter().enumerate() {
        assert!(
            (n as f64 - mean).abs() <= bound,
            "Select: case {i} chosen {n} times of {TRIALS}: {counts:?}"
        );
    }
}

/// Random sends, receives, timeouts, selects and a close racing on a few
/// channels of drop-counted values: every value created is dropped exactly
/// once, whatever path it took (received, returned to its sender, dropped
/// as a losing select case, or left in a buffer).
#[test]
fn chaos_every_value_dropped_exactly_once() {
    let created = Arc::new(AtomicUsize::new(0));
    let dropped = Arc::new(AtomicUsize::new(0));
    let progress = Arc::new(AtomicUsize::new(0));
    let chans: Arc<Vec<Chan<D>>> = Arc::new(vec![chan(0), chan(1), chan(3)]);
    let workers: Vec<_> = (0..6u64)
        .map(|w| {
            let (chans, created, counter) = (chans.clone(), created.clone(), dropped.clone());
            let progress = progress.clone();
            spawn(move || {
                let mut rng = w.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                let mut next = move || {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    rng
                };
                let mk = || {
                    created.fetch_add(1, Ordering::SeqCst);
                    D(counter.clone())
                };
                let short = Duration::from_micros(50);
                for _ in 0..20_000 {
                    progress.fetch_add(1, Ordering::Relaxed);
                    let (i, j) = ((next() % 3) as usize, (next() % 3) as usize);
                    let (a, b) = (&chans[i], &chans[j]);
                    match next() % 7 {
                        0 => drop(a.try_send(mk())),
                        1 => drop(a.send_timeout(mk(), short)),
                        2 => drop(a.try_recv()),
                        3 => drop(a.recv_timeout(short)),
                        4 => select! {
                            send(a, mk()) -> r => drop(r),
                            recv(b) -> v => drop(v),
                            recv(after(short)) -> _ => {},
                        },
                        5 => select! {
                            send(a, mk()) -> r => drop(r),
                            send(b, mk()) -> r => drop(r),
                            default => {}
                        },
                        _ => {
                            let mut sel = Select::new();
                            sel.recv(a);
                            sel.send(b, mk());
                            if let Some(op) = sel.select_timeout(short) {
                                drop(op); // a result not taken is dropped
                            }
                        }
                    }
                }
            })
        })
        .collect();
    // Close once the workers are well into their run (not by time).
    while progress.load(Ordering::SeqCst) < 30_000 {
        std::thread::sleep(Duration::from_micros(100));
    }
    chans[1].close(); // senders on it get their values back from now on
    for h in workers {
        h.join().unwrap();
    }
    drop(chans); // drops what is still buffered
    assert_eq!(dropped.load(Ordering::SeqCst), created.load(Ordering::SeqCst));
    assert!(created.load(Ordering::SeqCst) > 1000);
}

/// The macro's forms (bodies as blocks or expressions, with and without
/// commas, cases without `->`), and hygiene: names the expansion uses
/// (`i`, `ok`, `case`, `chan`, `order`, `wait`, `chosen`) do not capture
/// the user's.
#[test]
fn select_macro_forms_and_hygiene() {
    let (i, ok, case, order, wait, chosen) = (1, 2, 3, 4, 5, 6);
    let chan_ = chan::<i32>(4);
    let c = chan_.clone();
    c.send(10).unwrap();
    let r = select! {
        recv(c) -> v => { v.unwrap() + i + ok + case + order + wait + chosen }
        send(c, 0) => 0
    };
    assert!(r == 31 || r == 0);
    let r = select! {
        send(c, 1) => { 1 }
        default => { 2 }
    };
    assert_eq!(r, 1);
    let mut n = 0;
    for _ in 0..3 {
        select! {
            recv(c) => n += 1,
            default => break,
        }
    }
    assert!(n >= 1);
    let r: Result<(), SendError<i32>> = select! { send(c, 3) -> r => r };
    assert!(r.is_ok());
    let v = select! { recv(c) -> v => v };
    assert!(v.is_some());
}

/// Making a channel costs O(1) whatever its capacity: the buffer is
/// allocated, not initialised slot by slot (Go's `makechan` too). A channel
/// of a zero-sized type may have any capacity, as in Go.
#[test]
fn capacity_costs_no_work_up_front() {
    let huge = chan::<()>(usize::MAX >> 1);
    assert_eq!(huge.cap(), usize::MAX >> 1);
    for _ in 0..3 {
        huge.send(()).unwrap();
    }
    assert_eq!((huge.len(), huge.recv()), (3, Some(())));
    // A big buffer wraps around correctly.
    let big = chan::<u32>(1 << 16);
    for round in 0..3u32 {
        for i in 0..(1 << 16) - 7 {
            big.try_send(round ^ i).unwrap();
        }
        for i in 0..(1 << 16) - 7 {
            assert_eq!(big.try_recv(), Ok(round ^ i));
        }
    }
}
