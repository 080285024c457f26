//! A 3-member cluster on loopback: the member the client talks to (the
//! raft leader, the hardest case) is killed with SIGKILL, and the client
//! carries on with the other two.
//!
//! Go: the same failover as clientv3's balancer and retry interceptor.

use std::time::Duration;

use gort_etcd::concurrency::{Mutex, Session};
use gort_etcd::server::Server;
use gort_etcd::{Client, Options};

#[test]
fn operations_continue_when_the_current_member_dies() {
    let mut cluster = Server::cluster(3).unwrap_or_else(|e| panic!("{e}"));
    let eps = cluster.endpoints();
    // Talk to the leader first.
    let probe = Client::connect(&eps).unwrap();
    let leader_id = probe.status(&eps[0]).unwrap().leader;
    let leader = (0..3).find(|&i| probe.status(&eps[i]).unwrap().header.member_id == leader_id).unwrap();
    let mut ordered = vec![eps[leader].clone()];
    ordered.extend(eps.iter().enumerate().filter(|(i, _)| *i != leader).map(|(_, e)| e.clone()));
    let c = Client::connect(&ordered).unwrap();
    let (c2, c3) = (c.clone(), c.clone());
    let (w, before) = gort_runtime::spawn(move || {
        for i in 0..10 {
            c2.put(format!("cl/{i}"), i.to_string()).unwrap();
        }
        let w = c2.watch("cl/after", Options::new());
        (w, c2.get("cl/9").unwrap().header.revision)
    })
    .join()
    .unwrap();
    assert_eq!(c.current_endpoint(), eps[leader]);
    cluster.kill(leader);
    gort_runtime::spawn(move || {
        // A read goes through at once: it moves to the next member and is
        // retried there until the two elect a leader. (A write sent during
        // the election may fail "request timed out due to previous leader
        // failure", as with Go's clientv3, which retries writes only when
        // they surely were not applied.)
        assert_eq!(c3.get_prefix("cl/").unwrap().count, 10);
        // Writes, reads, transactions and locks go on, on the others.
        for i in 10..30 {
            c3.put(format!("cl/{i}"), i.to_string()).unwrap();
        }
        let all = c3.get_prefix("cl/").unwrap();
        assert_eq!(all.count, 30, "a write was lost");
        assert!(all.header.revision > before);
        let s = Session::with_ttl(&c3, 10).unwrap();
        let mut m = Mutex::new(&s, "cl-lock");
        m.lock().unwrap();
        m.unlock().unwrap();
        s.close().unwrap();
        // The watch made before the kill resumed on another member.
        c3.put("cl/after", "x").unwrap();
        let r = w.chan().recv_timeout(Duration::from_secs(60)).expect("the watch survives the kill");
        assert_eq!(r.events[0].kv.value, b"x");
    })
    .join()
    .unwrap();
    assert_ne!(c.current_endpoint(), eps[leader]);
}
