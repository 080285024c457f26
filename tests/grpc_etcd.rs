//! Drives the gRPC example (examples/grpc_etcd.rs) against a real etcd
//! started on free loopback ports by gort-etcd's launcher
//! (`gort_etcd::server::Server`, as gort-etcd's tests do): values round
//! trip through Put and Range (text, every byte value, and a value larger
//! than an HTTP/2 frame), the JSON gateway sees what gRPC wrote, and bad
//! requests come back as gRPC errors with etcd's status and message while
//! the connection stays usable. Each test is bounded by a watchdog and
//! every call by the example's deadline.

#[allow(dead_code)]
#[path = "../examples/grpc_etcd.rs"]
mod grpc_etcd;

use gort_etcd::server::Server;
use grpc_etcd::{BoxError, GrpcError, KvClient, pb};

/// Starts a one-member etcd, or fails saying how to install one.
fn etcd() -> Server {
    Server::start().unwrap_or_else(|e| {
        panic!("tests/grpc_etcd.rs needs an etcd binary: apt-get install -y etcd-server\n({e})")
    })
}

/// Runs `f` in a goroutine of a runtime of two Ps (the example's `main`
/// runs in one too, under `#[gort::main]`).
fn on_gort<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    gort::Runtime::builder().max_procs(2).build().unwrap().block_on(f)
}

/// The gRPC error inside `e`, or a failure showing what `e` was.
fn grpc_error(e: BoxError) -> GrpcError {
    match e.downcast::<GrpcError>() {
        Ok(g) => *g,
        Err(other) => panic!("want a gRPC status error, got: {other}"),
    }
}

#[test]
fn put_then_range_round_trips_values() {
    let _w = test_support::watchdog("put_then_range_round_trips_values", 180);
    let server = etcd();
    let endpoint = server.endpoint(0).to_string();
    on_gort(move || {
        // The example's own flow, as `main` runs it.
        let mut out = Vec::new();
        grpc_etcd::run(&endpoint, "gort/grpc/greeting", "hello over gRPC", &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        let mut lines = out.lines();
        let put = lines.next().unwrap_or_default();
        let rev: i64 = put
            .strip_prefix("put gort/grpc/greeting at revision ")
            .and_then(|r| r.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line: {out:?}"));
        assert!(rev > 1, "a put on a fresh etcd makes revision 2 or later, got {rev}");
        assert_eq!(lines.next(), Some("gort/grpc/greeting = hello over gRPC"), "{out:?}");
        assert_eq!(lines.next(), None, "{out:?}");

        // The client directly: every byte value, and 100 KiB (more than
        // HTTP/2's default 16 KiB frame, so hyper splits it and etcd's
        // answer comes in several DATA frames).
        let mut kv = KvClient::connect(&endpoint).unwrap();
        let every_byte: Vec<u8> = (0..=255u8).collect();
        let big: Vec<u8> = (0..100 << 10).map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
        let r1 = kv.put(b"gort/grpc/bytes", &every_byte).unwrap();
        let r2 = kv.put(b"gort/grpc/big", &big).unwrap();
        assert_eq!((r1, r2), (rev + 1, rev + 2), "each put adds one revision");
        assert_eq!(kv.range(b"gort/grpc/bytes").unwrap().as_deref(), Some(&every_byte[..]));
        assert!(
            kv.range(b"gort/grpc/big").unwrap().as_deref() == Some(&big[..]),
            "the 100 KiB value changed"
        );
        assert_eq!(kv.range(b"gort/grpc/never-set").unwrap(), None);
        // An empty value is a value: Range returns the key with no bytes.
        kv.put(b"gort/grpc/empty", b"").unwrap();
        assert_eq!(kv.range(b"gort/grpc/empty").unwrap(), Some(Vec::new()));
        kv.close().unwrap();

        // What gRPC wrote, etcd's JSON gateway reads back (gort-etcd's
        // client): the example really stored it.
        let json = gort_etcd::Client::connect(vec![endpoint.clone()]).unwrap();
        let got = json.get("gort/grpc/bytes").unwrap();
        assert_eq!(got.kvs.len(), 1);
        assert_eq!(got.kvs[0].value, every_byte);
        assert_eq!(json.get("gort/grpc/greeting").unwrap().kvs[0].value, b"hello over gRPC");
    });
    drop(server);
}

#[test]
fn a_bad_request_surfaces_a_grpc_error() {
    let _w = test_support::watchdog("a_bad_request_surfaces_a_grpc_error", 180);
    let server = etcd();
    let endpoint = server.endpoint(0).to_string();
    on_gort(move || {
        let mut kv = KvClient::connect(&endpoint).unwrap();

        // etcd refuses an empty key: InvalidArgument, with its message.
        let e = grpc_error(kv.put(b"", b"v").unwrap_err());
        assert_eq!((e.method.as_str(), e.code), ("/etcdserverpb.KV/Put", 3), "{e}");
        assert!(e.message.contains("key is not provided"), "{e}");
        assert_eq!(
            e.to_string(),
            format!("/etcdserverpb.KV/Put: gRPC status 3 (InvalidArgument): {}", e.message)
        );

        // A method etcd does not have: Unimplemented.
        let mut req = Vec::new();
        pb::put_bytes(&mut req, 1, b"k");
        let e = grpc_error(kv.unary("/etcdserverpb.KV/NoSuchMethod", req).unwrap_err());
        assert_eq!(e.code, 12, "{e}");

        // A request that is not protobuf (field 1 with wire type 7):
        // grpc-go cannot decode it and answers Internal, saying so.
        let e = grpc_error(kv.unary("/etcdserverpb.KV/Range", vec![0x0f, 0x01]).unwrap_err());
        assert!(e.code == 13 && e.message.contains("unmarshal"), "{e}");

        // Errors end calls, not the connection: it still serves.
        kv.put(b"gort/grpc/after-errors", b"still here").unwrap();
        assert_eq!(kv.range(b"gort/grpc/after-errors").unwrap().as_deref(), Some(&b"still here"[..]));
        kv.close().unwrap();

        // Bad endpoints fail with a message naming the problem.
        let e = KvClient::connect("https://127.0.0.1:2379").err().expect("TLS endpoints are refused");
        assert!(e.to_string().contains("only http:// endpoints"), "{e}");
        let e = KvClient::connect("not a url").err().expect("not a URL");
        assert!(e.to_string().contains("not a URL") || e.to_string().contains("only http://"), "{e}");
    });
    drop(server);
}

/// The hand-written protobuf codec against bytes worked out from the
/// wire format's rules (no etcd needed).
#[test]
fn the_protobuf_codec_reads_what_it_writes() {
    let mut v = Vec::new();
    pb::put_varint(&mut v, 300);
    assert_eq!(v, [0xac, 0x02]);
    let mut m = Vec::new();
    pb::put_bytes(&mut m, 1, b"ab");
    pb::put_bytes(&mut m, 2, b""); // proto3: empty fields are left off
    pb::put_bytes(&mut m, 5, b"xyz");
    assert_eq!(m, [0x0a, 2, b'a', b'b', 0x2a, 3, b'x', b'y', b'z']);
    // A varint field 3 = 150 and a fixed64 field 4 in between.
    m.extend_from_slice(&[0x18, 0x96, 0x01, 0x21, 1, 2, 3, 4, 5, 6, 7, 8]);
    let fields: Vec<_> = pb::fields(&m).unwrap().collect();
    assert_eq!(
        fields,
        [
            pb::Field::Bytes(1, b"ab"),
            pb::Field::Bytes(5, b"xyz"),
            pb::Field::Varint(3, 150),
            pb::Field::Fixed(4),
        ]
    );
    let e = pb::fields(&[0x0a, 5, b'a']).err().expect("a truncated field");
    assert!(e.contains("runs past the end"), "{e}");
    // gRPC's framing: flag 0, big-endian length, message.
    assert_eq!(grpc_etcd::frame(b"hi"), [0, 0, 0, 0, 2, b'h', b'i']);
    assert_eq!(grpc_etcd::unframe("m", &[0, 0, 0, 0, 2, b'h', b'i']).unwrap(), b"hi");
    assert!(grpc_etcd::unframe("m", &[0, 0, 0, 0, 3, b'h']).is_err());
}
