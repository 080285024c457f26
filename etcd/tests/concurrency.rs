//! Sessions, mutexes and elections against a real etcd, in one process
//! (several goroutines, each with its own session, stand for processes;
//! tests/processes.rs kills real ones).

mod common;

use common::{client, run, wait_keys};

use std::time::{Duration, Instant};

use gort_channels::chan;
use gort_etcd::Error;
use gort_etcd::concurrency::{Election, Mutex, Session};
use gort_sync::context;

#[test]
fn waiters_get_the_mutex_in_arrival_order() {
    run(|| {
        let c = client();
        let s0 = Session::with_ttl(&c, 10).unwrap();
        let mut holder = Mutex::new(&s0, "fifo");
        holder.lock().unwrap();
        assert!(holder.key().starts_with("fifo/"));
        let order = chan::<usize>(8);
        let mut hs = Vec::new();
        for i in 0..4 {
            let (c2, tx) = (c.clone(), order.clone());
            hs.push(gort_runtime::spawn(move || {
                let s = Session::with_ttl(&c2, 10).unwrap();
                let mut m = Mutex::new(&s, "fifo");
                m.lock().unwrap();
                tx.send(i).unwrap();
                m.unlock().unwrap();
                s.close().unwrap();
            }));
            // The next waiter arrives only after this one has queued.
            wait_keys(&c, "fifo/", i as i64 + 2);
        }
        holder.unlock().unwrap();
        let got: Vec<usize> = (0..4).map(|_| order.recv().unwrap()).collect();
        assert_eq!(got, [0, 1, 2, 3]);
        for h in hs {
            h.join().unwrap();
        }
        s0.close().unwrap();
    });
}

#[test]
fn try_lock_and_a_cancelled_lock() {
    run(|| {
        let c = client();
        let (s1, s2) = (Session::with_ttl(&c, 10).unwrap(), Session::with_ttl(&c, 10).unwrap());
        let mut a = Mutex::new(&s1, "try");
        let mut b = Mutex::new(&s2, "try");
        a.lock().unwrap();
        assert_eq!(b.try_lock().unwrap_err(), Error::Locked);
        // try_lock left no key behind.
        assert_eq!(c.get_prefix("try/").unwrap().count, 1);
        // A lock blocked on the holder ends with its context, and withdraws.
        let (ctx, _cancel) = context::with_timeout(&context::background(), Duration::from_millis(300));
        assert_eq!(b.lock_ctx(&ctx).unwrap_err(), Error::Context(context::Error::DeadlineExceeded));
        assert_eq!(c.get_prefix("try/").unwrap().count, 1);
        // The owner's guard condition holds only for the owner.
        let t = c.txn().when([a.is_owner()]).commit().unwrap();
        assert!(t.succeeded);
        a.unlock().unwrap();
        b.try_lock().unwrap();
        let t = c.txn().when([a.is_owner()]).commit().unwrap();
        assert!(!t.succeeded);
        b.unlock().unwrap();
        s1.close().unwrap();
        s2.close().unwrap();
    });
}

#[test]
fn a_closed_session_releases_its_lock_and_done_closes() {
    run(|| {
        let c = client();
        let s1 = Session::with_ttl(&c, 30).unwrap();
        let mut a = Mutex::new(&s1, "sess");
        a.lock().unwrap();
        let c2 = c.clone();
        let waiter = gort_runtime::spawn(move || {
            let s2 = Session::with_ttl(&c2, 30).unwrap();
            let mut b = Mutex::new(&s2, "sess");
            b.lock().unwrap();
            b.unlock().unwrap();
            s2.close().unwrap();
        });
        wait_keys(&c, "sess/", 2);
        // Close revokes the lease: the key goes at once, not after 30 s.
        s1.close().unwrap();
        assert!(s1.done().recv_timeout(Duration::from_secs(10)).is_err());
        assert!(s1.done().is_closed());
        waiter.join().unwrap();
        // A session whose lease is revoked under it sees done close.
        let s3 = Session::with_ttl(&c, 30).unwrap();
        c.revoke(s3.lease()).unwrap();
        let t = Instant::now();
        while !s3.done().is_closed() {
            assert!(t.elapsed() < Duration::from_secs(60), "done never closed");
            gort_runtime::sleep(Duration::from_millis(50));
        }
        assert!(s3.is_expired());
    });
}

#[test]
fn one_leader_proclaims_and_observe_sees_every_change() {
    run(|| {
        let c = client();
        let s0 = Session::with_ttl(&c, 10).unwrap();
        let watcher = Election::new(&s0, "elect");
        assert_eq!(watcher.leader().unwrap_err(), Error::NoLeader);
        let (ctx, cancel) = context::with_cancel(&context::background());
        let obs = watcher.observe(&ctx);
        let s1 = Session::with_ttl(&c, 10).unwrap();
        let mut e1 = Election::new(&s1, "elect");
        e1.campaign("a0").unwrap();
        assert_eq!(e1.leader().unwrap().kvs[0].value, b"a0");
        // A second candidate waits behind the leader.
        let (elected, proceed) = (chan::<()>(0), chan::<()>(0));
        let (c2, el, pr) = (c.clone(), elected.clone(), proceed.clone());
        let second = gort_runtime::spawn(move || {
            let s2 = Session::with_ttl(&c2, 10).unwrap();
            let mut e2 = Election::new(&s2, "elect");
            e2.campaign("b0").unwrap();
            el.send(()).unwrap();
            pr.recv();
            e2.proclaim("b1").unwrap();
            el.send(()).unwrap();
            pr.recv();
            e2.resign().unwrap();
            s2.close().unwrap();
        });
        wait_keys(&c, "elect/", 2);
        for i in 1..=5 {
            e1.proclaim(format!("a{i}")).unwrap();
        }
        let next = || obs.recv_timeout(Duration::from_secs(30)).unwrap().kvs[0].value_str().into_owned();
        let seen: Vec<String> = (0..6).map(|_| next()).collect();
        assert_eq!(seen, ["a0", "a1", "a2", "a3", "a4", "a5"]);
        assert!(elected.is_empty(), "two leaders at once");
        e1.resign().unwrap();
        assert_eq!(e1.proclaim("late").unwrap_err(), Error::NotLeader);
        elected.recv().unwrap();
        assert_eq!(next(), "b0");
        proceed.send(()).unwrap();
        elected.recv().unwrap();
        assert_eq!(next(), "b1");
        proceed.send(()).unwrap();
        second.join().unwrap();
        // With no leader left, nothing more arrives; cancelling closes the channel.
        cancel.cancel();
        let t = Instant::now();
        while obs.recv_timeout(Duration::from_secs(30)).is_ok() {
            assert!(t.elapsed() < Duration::from_secs(30));
        }
        s0.close().unwrap();
        s1.close().unwrap();
    });
}
