//! Quick end-to-end checks of channels and select.
use gort_channels::*;
use gort_runtime::spawn;
use std::time::Duration;

#[test]
fn pingpong_goroutines() {
    let a = chan::<i32>(0);
    let b = chan::<i32>(0);
    let (a2, b2) = (a.clone(), b.clone());
    let h = spawn(move || {
        for v in &a2 {
            b2.send(v + 1).unwrap();
        }
        b2.close();
    });
    for i in 0..1000 {
        a.send(i).unwrap();
        assert_eq!(b.recv(), Some(i + 1));
    }
    a.close();
    assert_eq!(b.recv(), None);
    h.join().unwrap();
}

#[test]
fn select_basic() {
    let a = chan::<i32>(1);
    let b = chan::<String>(1);
    b.send("x".into()).unwrap();
    let got;
    select! {
        recv(a) -> v => panic!("{v:?}"),
        recv(b) -> v => { assert_eq!(v.as_deref(), Some("x")); got = 1; }
    }
    assert_eq!(got, 1);
    select! {
        send(a, 5) -> r => r.unwrap(),
        recv(b) -> _ => panic!(),
    }
    assert_eq!(a.try_recv(), Ok(5));
    let r = select! {
        recv(a) -> _ => 1,
        default => 2,
    };
    assert_eq!(r, 2);
    select! {
        recv(a) -> _ => panic!(),
        recv(after(Duration::from_millis(5))) -> t => assert!(t.is_some()),
    }
}

#[test]
fn recv_timeout_thread() {
    let a = chan::<i32>(0);
    assert_eq!(a.recv_timeout(Duration::from_millis(5)), Err(RecvTimeoutError::Timeout));
    let h = spawn(move || a.recv_timeout(Duration::from_millis(5)));
    assert_eq!(h.join().unwrap(), Err(RecvTimeoutError::Timeout));
}
