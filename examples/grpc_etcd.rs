//! A gRPC client on gort: puts a key into etcd and reads it back over
//! etcd's gRPC KV service, through hyper's HTTP/2 client connection on a
//! gort socket, with no tokio runtime, no protoc and no generated code.
//!
//! ```text
//! etcd &                                                 # listens on 127.0.0.1:2379
//! cargo run --release --features hyper --example grpc_etcd [ENDPOINT [KEY [VALUE]]]
//! # default: http://127.0.0.1:2379 greeting "hello from gort"
//! ```
//!
//! The pieces, bottom up:
//! - the socket is a `gort::net::TcpStream`, which implements hyper's
//!   `Read`/`Write` (feature `hyper`) by registering the task's waker with
//!   gort's netpoller;
//! - `hyper::client::conn::http2` does the HTTP/2 handshake on it (h2c
//!   with prior knowledge: etcd serves gRPC in clear text on its client
//!   port), with `GortExecutor` (each of hyper's background tasks on a
//!   goroutine) and `GortTimer` (keep-alive pings on gort's timers); the
//!   connection itself is driven by a goroutine of its own
//!   (`gort::future::spawn`);
//! - gRPC is a POST to `/<package>.<Service>/<Method>` with `content-type:
//!   application/grpc` and `te: trailers`, whose body is a 5-byte prefix
//!   (a compression flag and a big-endian length) and one protobuf
//!   message; the outcome is the `grpc-status` (and `grpc-message`)
//!   trailer, or the same fields in the headers of a trailers-only answer;
//! - the protobuf messages are encoded by hand (`pb` below: varints and
//!   length-delimited fields), from the field numbers of etcd's
//!   `api/etcdserverpb/rpc.proto` and `api/mvccpb/kv.proto`, cited where
//!   they are used.
//!
//! Every call runs under `gort::future::block_on`, which parks the calling
//! goroutine while the future waits on the socket, and under a deadline
//! (`gort::future::timeout`). A non-zero `grpc-status` becomes a
//! [`GrpcError`] naming the status and etcd's message.

use std::error::Error;
use std::fmt;
use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;

use gort::future::hyper_rt::{GortExecutor, GortTimer};
use gort::future::{self, JoinHandle};
use gort::net::TcpStream;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http2;
use hyper::{HeaderMap, Request, StatusCode, Uri, header};

/// The error type of this example: anything, with its message.
pub type BoxError = Box<dyn Error + Send + Sync>;

/// How long one call may take before it fails.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A gRPC call that ended with a non-zero `grpc-status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrpcError {
    /// The method called (`/etcdserverpb.KV/Put`).
    pub method: String,
    /// The status code (3: InvalidArgument, 12: Unimplemented, ...).
    pub code: u32,
    /// The server's `grpc-message`, percent-decoded.
    pub message: String,
}

impl fmt::Display for GrpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: gRPC status {} ({}): {}", self.method, self.code, code_name(self.code), self.message)
    }
}

impl Error for GrpcError {}

/// The name of a gRPC status code (grpc's doc/statuscodes.md).
pub fn code_name(code: u32) -> &'static str {
    const NAMES: [&str; 17] = [
        "OK",
        "Cancelled",
        "Unknown",
        "InvalidArgument",
        "DeadlineExceeded",
        "NotFound",
        "AlreadyExists",
        "PermissionDenied",
        "ResourceExhausted",
        "FailedPrecondition",
        "Aborted",
        "OutOfRange",
        "Unimplemented",
        "Internal",
        "Unavailable",
        "DataLoss",
        "Unauthenticated",
    ];
    NAMES.get(code as usize).copied().unwrap_or("not a gRPC status code")
}

/// A client of etcd's KV service over one HTTP/2 connection.
pub struct KvClient {
    sender: http2::SendRequest<Full<Bytes>>,
    /// `http://host:port`, the prefix of every request's URI.
    base: String,
    /// The goroutine driving the connection.
    driver: Option<JoinHandle<hyper::Result<()>>>,
}

impl KvClient {
    /// Connects to `endpoint` (`http://host:port`, etcd's client URL) and
    /// does the HTTP/2 handshake.
    pub fn connect(endpoint: &str) -> Result<KvClient, BoxError> {
        let uri: Uri = endpoint.parse().map_err(|e| format!("{endpoint}: not a URL: {e}"))?;
        if uri.scheme_str() != Some("http") {
            return Err(format!(
                "{endpoint}: only http:// endpoints are supported (this example does not do TLS)"
            )
            .into());
        }
        let authority = uri.authority().ok_or_else(|| format!("{endpoint}: no host in the URL"))?.clone();
        let host = authority.host().trim_start_matches('[').trim_end_matches(']');
        let port = authority.port_u16().unwrap_or(2379);
        let stream =
            TcpStream::connect((host, port)).map_err(|e| format!("connecting to {authority}: {e}"))?;
        let handshake = http2::Builder::new(GortExecutor).timer(GortTimer).handshake(stream);
        let (sender, conn) = block_on_within(CALL_TIMEOUT, "the HTTP/2 handshake", handshake)?
            .map_err(|e| format!("HTTP/2 handshake with {authority}: {e}"))?;
        // The connection reads and writes for every request; it ends once
        // the last sender is dropped.
        let driver = future::spawn(conn);
        Ok(KvClient { sender, base: format!("http://{authority}"), driver: Some(driver) })
    }

    /// Puts `key` = `value`; returns the store's revision after the put.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<i64, BoxError> {
        // PutRequest (rpc.proto): bytes key = 1; bytes value = 2.
        let mut req = Vec::new();
        pb::put_bytes(&mut req, 1, key);
        pb::put_bytes(&mut req, 2, value);
        let resp = self.unary("/etcdserverpb.KV/Put", req)?;
        // PutResponse: ResponseHeader header = 1.
        let header = pb::fields(&resp)?.find_map(|f| f.bytes(1)).unwrap_or_default();
        response_revision(header)
    }

    /// Reads `key`: its value, or `None` if it is not set.
    pub fn range(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, BoxError> {
        // RangeRequest (rpc.proto): bytes key = 1 (no range_end = 2: one key).
        let mut req = Vec::new();
        pb::put_bytes(&mut req, 1, key);
        let resp = self.unary("/etcdserverpb.KV/Range", req)?;
        // RangeResponse: repeated mvccpb.KeyValue kvs = 2.
        for kv in pb::fields(&resp)?.filter_map(|f| f.bytes(2)) {
            // KeyValue (kv.proto): bytes key = 1; bytes value = 5.
            let (mut k, mut v) = (None, None);
            for f in pb::fields(kv)? {
                k = f.bytes(1).or(k);
                v = f.bytes(5).or(v);
            }
            if k == Some(key) {
                return Ok(Some(v.unwrap_or_default().to_vec()));
            }
        }
        Ok(None)
    }

    /// Calls unary method `method` (`/package.Service/Method`) with the
    /// encoded request message; returns the encoded response message.
    pub fn unary(&mut self, method: &str, msg: Vec<u8>) -> Result<Vec<u8>, BoxError> {
        let req = Request::post(format!("{}{method}", self.base))
            .header(header::CONTENT_TYPE, "application/grpc")
            .header(header::TE, "trailers")
            .header("grpc-timeout", format!("{}m", CALL_TIMEOUT.as_millis()))
            .header(header::USER_AGENT, "gort-grpc-etcd")
            .body(Full::new(Bytes::from(frame(&msg))))?;
        let sender = &mut self.sender;
        let call = async move {
            let resp = sender.send_request(req).await?;
            let (head, body) = resp.into_parts();
            let collected = body.collect().await?;
            let trailers = collected.trailers().cloned();
            Ok::<_, hyper::Error>((head, collected.to_bytes(), trailers))
        };
        let (head, body, trailers) =
            block_on_within(CALL_TIMEOUT, method, call)?.map_err(|e| format!("{method}: HTTP/2: {e}"))?;
        if head.status != StatusCode::OK {
            return Err(format!("{method}: HTTP status {} (want 200 for gRPC)", head.status).into());
        }
        // A trailers-only answer (an error before any message) carries the
        // status in its headers.
        let status = trailers
            .as_ref()
            .and_then(|t| grpc_status(method, t))
            .or_else(|| grpc_status(method, &head.headers));
        match status {
            None => return Err(format!("{method}: the answer has no grpc-status").into()),
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(())) => {}
        }
        unframe(method, &body)
    }

    /// Closes the connection and waits for its goroutine.
    pub fn close(mut self) -> Result<(), BoxError> {
        let driver = self.driver.take().expect("the driver is taken only here");
        drop(self); // the last sender: the connection ends
        block_on_within(CALL_TIMEOUT, "closing the connection", driver)?
            .map_err(|p| format!("the connection's goroutine panicked: {p}"))??;
        Ok(())
    }
}

/// `fut` under `gort::future::block_on`, failing after `d`.
fn block_on_within<F: Future>(d: Duration, what: &str, fut: F) -> Result<F::Output, BoxError> {
    future::block_on(future::timeout(d, fut)).map_err(|_| format!("{what}: no answer within {d:?}").into())
}

/// The revision in an encoded ResponseHeader (rpc.proto: int64 revision = 3).
fn response_revision(header: &[u8]) -> Result<i64, BoxError> {
    Ok(pb::fields(header)?.find_map(|f| f.varint(3)).unwrap_or(0) as i64)
}

/// The gRPC status in `h`, if it has one: `Ok` for 0, else the error.
fn grpc_status(method: &str, h: &HeaderMap) -> Option<Result<(), GrpcError>> {
    let raw = h.get("grpc-status")?;
    let code = raw.to_str().ok().and_then(|s| s.parse::<u32>().ok());
    let message = h.get("grpc-message").map(|m| percent_decode(m.as_bytes())).unwrap_or_default();
    Some(match code {
        Some(0) => Ok(()),
        Some(code) => Err(GrpcError { method: method.into(), code, message }),
        None => Err(GrpcError {
            method: method.into(),
            code: 2, // Unknown, as gRPC's clients report an unparsable status
            message: format!("unparsable grpc-status {raw:?}; {message}"),
        }),
    })
}

/// grpc-message's encoding: percent-escapes for bytes outside printable
/// ASCII (and for `%` itself).
fn percent_decode(s: &[u8]) -> String {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (s[i], s.get(i + 1).and_then(|&b| hex(b)), s.get(i + 2).and_then(|&b| hex(b))) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One gRPC message on the wire: flag 0 (not compressed), its length as
/// four big-endian bytes, the message.
pub fn frame(msg: &[u8]) -> Vec<u8> {
    let len = u32::try_from(msg.len()).expect("a gRPC message is under 4 GiB");
    let mut out = Vec::with_capacity(5 + msg.len());
    out.push(0);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(msg);
    out
}

/// The one message of a unary answer's body.
pub fn unframe(method: &str, body: &[u8]) -> Result<Vec<u8>, BoxError> {
    let Some((prefix, rest)) = body.split_first_chunk::<5>() else {
        return Err(
            format!("{method}: a {}-byte body, shorter than a gRPC message prefix", body.len()).into()
        );
    };
    if prefix[0] != 0 {
        return Err(format!(
            "{method}: a compressed message (flag {}), which this client never asks for",
            prefix[0]
        )
        .into());
    }
    let len = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]) as usize;
    if rest.len() != len {
        return Err(format!(
            "{method}: the message says {len} bytes, the body holds {} after the prefix",
            rest.len()
        )
        .into());
    }
    Ok(rest.to_vec())
}

/// Protocol buffers' wire format, the part this example needs: encoding
/// length-delimited fields, and reading varint and length-delimited
/// fields (skipping the fixed-width ones).
pub mod pb {
    /// The wire type of varints (int64, uint64, bool, enums).
    const VARINT: u64 = 0;
    /// 8-byte fields (fixed64, double).
    const I64: u64 = 1;
    /// Length-delimited fields (bytes, string, messages, packed lists).
    const LEN: u64 = 2;
    /// 4-byte fields (fixed32, float).
    const I32: u64 = 5;

    /// Appends `v` as a varint: 7 bits a byte, low first, the high bit
    /// set on every byte but the last.
    pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push(v as u8 | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    /// Appends field `field` as length-delimited bytes. proto3 leaves a
    /// field at its default (empty) off the wire, and so does this.
    pub fn put_bytes(out: &mut Vec<u8>, field: u32, v: &[u8]) {
        if v.is_empty() {
            return;
        }
        put_varint(out, (u64::from(field) << 3) | LEN);
        put_varint(out, v.len() as u64);
        out.extend_from_slice(v);
    }

    /// Reads a varint at the front of `b`, advancing it.
    fn varint(b: &mut &[u8]) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = b.split_first().ok_or("a varint runs past the end of the message")?;
            *b = rest;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("a varint longer than 10 bytes".into())
    }

    /// A field read from a message.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Field<'a> {
        /// A varint field: its number and value.
        Varint(u32, u64),
        /// A length-delimited field: its number and bytes.
        Bytes(u32, &'a [u8]),
        /// A fixed-width field, skipped: its number.
        Fixed(u32),
    }

    impl<'a> Field<'a> {
        /// The bytes of field `n`, if this is it.
        pub fn bytes(self, n: u32) -> Option<&'a [u8]> {
            match self {
                Field::Bytes(f, b) if f == n => Some(b),
                _ => None,
            }
        }

        /// The value of varint field `n`, if this is it.
        pub fn varint(self, n: u32) -> Option<u64> {
            match self {
                Field::Varint(f, v) if f == n => Some(v),
                _ => None,
            }
        }
    }

    /// The fields of message `msg`, in wire order; checks the whole
    /// message first, so that the iterator cannot fail half-way.
    pub fn fields(msg: &[u8]) -> Result<impl Iterator<Item = Field<'_>>, String> {
        let mut out = Vec::new();
        let mut b = msg;
        while !b.is_empty() {
            let key = varint(&mut b)?;
            let n = u32::try_from(key >> 3).map_err(|_| format!("field number {} out of range", key >> 3))?;
            let skip = |b: &mut &[u8], k: usize| -> Result<(), String> {
                if b.len() < k {
                    return Err(format!("field {n} runs past the end of the message"));
                }
                *b = &b[k..];
                Ok(())
            };
            match key & 7 {
                VARINT => out.push(Field::Varint(n, varint(&mut b)?)),
                LEN => {
                    let len = usize::try_from(varint(&mut b)?).map_err(|_| "a length beyond memory")?;
                    let v =
                        b.get(..len).ok_or_else(|| format!("field {n} runs past the end of the message"))?;
                    b = &b[len..];
                    out.push(Field::Bytes(n, v));
                }
                I64 => {
                    skip(&mut b, 8)?;
                    out.push(Field::Fixed(n));
                }
                I32 => {
                    skip(&mut b, 4)?;
                    out.push(Field::Fixed(n));
                }
                t => return Err(format!("field {n} has wire type {t}, which proto3 does not use")),
            }
        }
        Ok(out.into_iter())
    }
}

/// Puts `key` = `value` into the etcd at `endpoint`, reads it back with
/// Range, and writes what it did to `out`.
pub fn run(endpoint: &str, key: &str, value: &str, out: &mut dyn Write) -> Result<(), BoxError> {
    let mut kv = KvClient::connect(endpoint)?;
    let rev = kv.put(key.as_bytes(), value.as_bytes())?;
    writeln!(out, "put {key} at revision {rev}")?;
    match kv.range(key.as_bytes())? {
        Some(v) => writeln!(out, "{key} = {}", String::from_utf8_lossy(&v))?,
        None => return Err(format!("{key}: not found right after the put").into()),
    }
    kv.close()
}

#[gort::main]
fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let endpoint = args.next().unwrap_or_else(|| "http://127.0.0.1:2379".into());
    let key = args.next().unwrap_or_else(|| "greeting".into());
    let value = args.next().unwrap_or_else(|| "hello from gort".into());
    match run(&endpoint, &key, &value, &mut io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("grpc_etcd: {e}");
            ExitCode::FAILURE
        }
    }
}
