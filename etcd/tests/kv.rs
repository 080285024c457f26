//! The client against a real etcd: KV, ranges, transactions, leases,
//! watches, status, and contexts.

mod common;

use common::{client, run};

use std::time::{Duration, Instant};

use gort_etcd::server::Server;
use gort_etcd::{Compare, Error, EventType, Op, Options, SortOrder, SortTarget};
use gort_sync::context;

#[test]
fn put_get_delete() {
    run(|| {
        let c = client();
        let p = c.put("kv/a", "1").unwrap();
        assert!(p.header.revision > 0);
        let g = c.get("kv/a").unwrap();
        assert_eq!(g.kvs.len(), 1);
        assert_eq!(g.kvs[0].value, b"1");
        assert_eq!(g.kvs[0].version, 1);
        assert_eq!(g.kvs[0].create_revision, p.header.revision);
        let p2 = c.put_with("kv/a", "2", Options::new().with_prev_kv()).unwrap();
        assert_eq!(p2.prev_kv.unwrap().value, b"1");
        assert_eq!(c.get("kv/a").unwrap().kvs[0].version, 2);
        // The old revision is still readable.
        let old = c.get_with("kv/a", Options::new().with_rev(p.header.revision)).unwrap();
        assert_eq!(old.kvs[0].value, b"1");
        let d = c.delete_with("kv/a", Options::new().with_prev_kv()).unwrap();
        assert_eq!(d.deleted, 1);
        assert_eq!(d.prev_kvs[0].value, b"2");
        let g = c.get("kv/a").unwrap();
        assert!(g.kvs.is_empty());
        assert_eq!(g.count, 0);
        // Binary keys and values survive base64.
        c.put(b"kv/\x00\xff", b"\x01\x02\xfe").unwrap();
        assert_eq!(c.get(b"kv/\x00\xff").unwrap().kvs[0].value, b"\x01\x02\xfe");
    });
}

#[test]
fn range_options() {
    run(|| {
        let c = client();
        for (k, v) in [("r/b", "2"), ("r/a", "3"), ("r/c", "1")] {
            c.put(k, v).unwrap();
        }
        c.put("r0", "outside").unwrap();
        let all = c.get_prefix("r/").unwrap();
        let keys: Vec<_> = all.kvs.iter().map(|kv| kv.key_str().into_owned()).collect();
        assert_eq!(keys, ["r/a", "r/b", "r/c"]);
        assert_eq!(all.count, 3);
        let lim = c.get_with("r/", Options::new().with_prefix().with_limit(2)).unwrap();
        assert_eq!(lim.kvs.len(), 2);
        assert!(lim.more);
        assert_eq!(lim.count, 3);
        let by_val = c
            .get_with("r/", Options::new().with_prefix().with_sort(SortTarget::Value, SortOrder::Descend))
            .unwrap();
        let vals: Vec<_> = by_val.kvs.iter().map(|kv| kv.value_str().into_owned()).collect();
        assert_eq!(vals, ["3", "2", "1"]);
        let first = c.get_with("r/", Options::first_create()).unwrap();
        assert_eq!(first.kvs[0].key, b"r/b");
        let last = c.get_with("r/", Options::last_create()).unwrap();
        assert_eq!(last.kvs[0].key, b"r/c");
        let keys_only = c.get_with("r/", Options::new().with_prefix().with_keys_only()).unwrap();
        assert!(keys_only.kvs.iter().all(|kv| kv.value.is_empty()));
        let count = c.get_with("r/", Options::new().with_prefix().with_count_only()).unwrap();
        assert!(count.kvs.is_empty());
        assert_eq!(count.count, 3);
        let span = c.get_with("r/a", Options::new().with_range("r/c")).unwrap();
        assert_eq!(span.count, 2);
        let max = c
            .get_with("r/", Options::new().with_prefix().with_max_create_rev(first.kvs[0].create_revision))
            .unwrap();
        assert_eq!(max.kvs.len(), 1, "the filter applies to kvs (count is the whole range)");
        let d = c.delete_with("r/", Options::new().with_prefix()).unwrap();
        assert_eq!(d.deleted, 3);
        assert_eq!(c.get("r0").unwrap().kvs.len(), 1);
    });
}

#[test]
fn transactions() {
    run(|| {
        let c = client();
        let t = c
            .txn()
            .when([Compare::create_revision("t/k").eq(0)])
            .and_then([Op::put("t/k", "first", Options::new())])
            .or_else([Op::get("t/k", Options::new())])
            .commit()
            .unwrap();
        assert!(t.succeeded);
        assert!(t.responses[0].response_put.is_some());
        let t = c
            .txn()
            .when([Compare::create_revision("t/k").eq(0)])
            .and_then([Op::put("t/k", "second", Options::new())])
            .or_else([Op::get("t/k", Options::new())])
            .commit()
            .unwrap();
        assert!(!t.succeeded);
        let got = t.responses[0].response_range.as_ref().unwrap();
        assert_eq!(got.kvs[0].value, b"first");
        let rev = got.kvs[0].mod_revision;
        // Value, version, mod revision and lease comparisons.
        let t = c
            .txn()
            .when([
                Compare::value("t/k").eq("first"),
                Compare::version("t/k").eq(1),
                Compare::mod_revision("t/k").lt(rev + 1),
                Compare::lease("t/k").eq(0),
                Compare::value("t/k").ne("other"),
                Compare::version("t/k").gt(0),
            ])
            .and_then([Op::delete("t/k", Options::new()), Op::put("t/j", "x", Options::new())])
            .commit()
            .unwrap();
        assert!(t.succeeded);
        assert_eq!(t.responses[0].response_delete_range.as_ref().unwrap().deleted, 1);
        assert!(c.get("t/k").unwrap().kvs.is_empty());
        let t = c.txn().when([Compare::value("t/j").eq("y")]).commit().unwrap();
        assert!(!t.succeeded);
    });
}

#[test]
fn leases_expire_and_take_their_keys() {
    run(|| {
        let c = client();
        let l = c.grant(2).unwrap();
        assert!(l.id != 0);
        assert_eq!(l.ttl, 2);
        c.put_with("lease/k", "v", Options::new().with_lease(l.id)).unwrap();
        let ttl = c.time_to_live(l.id, true).unwrap();
        assert_eq!(ttl.granted_ttl, 2);
        assert_eq!(ttl.keys, vec![b"lease/k".to_vec()]);
        assert!(c.get("lease/k").unwrap().kvs[0].lease == l.id);
        // Not refreshed: the lease expires and its key goes with it. The
        // bound is 30x the TTL.
        let t = Instant::now();
        while !c.get("lease/k").unwrap().kvs.is_empty() {
            assert!(t.elapsed() < Duration::from_secs(60), "the lease never expired");
            gort_runtime::sleep(Duration::from_millis(100));
        }
        assert_eq!(c.time_to_live(l.id, false).unwrap().ttl, -1);
        assert_eq!(c.keep_alive_once(l.id).unwrap_err(), Error::LeaseNotFound { id: l.id });
        // Revoke deletes at once.
        let l2 = c.grant(60).unwrap();
        c.put_with("lease/k2", "v", Options::new().with_lease(l2.id)).unwrap();
        c.revoke(l2.id).unwrap();
        assert!(c.get("lease/k2").unwrap().kvs.is_empty());
    });
}

#[test]
fn keep_alive_holds_a_lease_past_its_ttl() {
    run(|| {
        let c = client();
        let l = c.grant(2).unwrap();
        c.put_with("ka/k", "v", Options::new().with_lease(l.id)).unwrap();
        let mut ka = c.keep_alive(l.id).unwrap();
        // Refreshes arrive every TTL/3; collect five (about 3 s, past the TTL).
        for _ in 0..5 {
            let r = ka.chan().recv_timeout(Duration::from_secs(30)).expect("a refresh");
            assert_eq!(r.id, l.id);
            assert!(r.ttl > 0);
        }
        assert_eq!(c.get("ka/k").unwrap().kvs.len(), 1);
        // Revoked under it: the keep-alive notices the loss and ends.
        c.revoke(l.id).unwrap();
        assert!(ka.done().recv_timeout(Duration::from_secs(30)).is_err() || ka.done().is_closed());
        assert!(ka.is_lost());
        ka.stop();
    });
}

#[test]
fn watch_sees_puts_and_deletes_in_order() {
    run(|| {
        let c = client();
        let start = c.put("w/a", "0").unwrap().header.revision;
        let w = c.watch("w/", Options::new().with_prefix().with_prev_kv());
        // Writes after the watch exists, then the history from `start`.
        let c2 = c.clone();
        let writer = gort_runtime::spawn(move || {
            gort_runtime::sleep(Duration::from_millis(100));
            for i in 1..=5 {
                c2.put("w/a", i.to_string()).unwrap();
            }
            c2.delete("w/a").unwrap();
        });
        let mut seen = Vec::new();
        while seen.len() < 6 {
            let r = w.chan().recv_timeout(Duration::from_secs(30)).expect("events");
            for ev in r.events {
                seen.push((
                    ev.kind,
                    ev.kv.value_str().into_owned(),
                    ev.prev_kv.map(|p| p.value_str().into_owned()),
                ));
            }
        }
        writer.join().unwrap();
        assert_eq!(seen[0], (EventType::Put, "1".into(), Some("0".into())));
        assert_eq!(seen[4], (EventType::Put, "5".into(), Some("4".into())));
        assert_eq!(seen[5].0, EventType::Delete);
        w.cancel();
        // The channel closes after cancel (maybe after buffered responses).
        let t = Instant::now();
        while w.chan().recv_timeout(Duration::from_secs(30)).is_ok() {
            assert!(t.elapsed() < Duration::from_secs(30));
        }
        // From a revision: the history replays.
        let h = c.watch("w/a", Options::new().with_rev(start));
        let r = h.chan().recv_timeout(Duration::from_secs(30)).expect("history");
        assert_eq!(r.events[0].kv.value, b"0");
        assert_eq!(r.events[0].kv.mod_revision, start);
        // Filters: deletes only.
        let f = c.watch("w/a", Options::new().with_rev(start).with_filter_put());
        let r = f.chan().recv_timeout(Duration::from_secs(30)).expect("the delete");
        assert!(r.events.iter().all(|e| e.kind == EventType::Delete));
    });
}

#[test]
fn status_names_the_version() {
    run(|| {
        let s = Server::shared();
        let c = client();
        let st = c.status(s.endpoint(0)).unwrap();
        assert_eq!(st.version, s.version());
        assert!(st.leader != 0);
        assert!(st.db_size > 0);
    });
}

#[test]
fn a_context_ends_a_blocked_call() {
    run(|| {
        let c = client();
        // A watch receive blocks until the context's deadline.
        let (ctx, _cancel) = context::with_timeout(&context::background(), Duration::from_millis(200));
        let w = c.watch_ctx(&ctx, "ctx/none", Options::new());
        let t = Instant::now();
        assert!(w.recv().is_none(), "the watch ends with its context");
        assert!(t.elapsed() < Duration::from_secs(20));
        // A call made with an ended context fails at once with its error.
        let r = c.get_ctx(&ctx, "ctx/none", Options::new());
        assert_eq!(r.unwrap_err(), Error::Context(context::Error::DeadlineExceeded));
        let (ctx, cancel) = context::with_cancel(&context::background());
        cancel.cancel();
        assert_eq!(
            c.put_ctx(&ctx, "ctx/k", "v", Options::new()).unwrap_err(),
            Error::Context(context::Error::Canceled)
        );
    });
}
