//! An HTTP/1.1 "Hello, World!" server: one goroutine per connection, with
//! keep-alive and pipelining, requests parsed by `httparse`.
//!
//! ```text
//! cargo run --release --example http_hello [ADDR]    # default 127.0.0.1:8080
//! curl -i http://127.0.0.1:8080/
//! ```
//!
//! It answers every GET or HEAD with `Hello, World!` (Go's hello server:
//! `http.HandleFunc("/", ...)`), keeps connections open unless the client
//! asks to close (HTTP/1.0 must ask to keep them), and answers the
//! requests that arrived together with one write. The Go server it is
//! benchmarked against is `benches/go/httphello`; see `benches/http_bench.sh`.
//!
//! `GET /debug/goroutines` answers with the goroutine dump, every
//! goroutine with its stack (`/debug/goroutines?group=1` prints identical
//! goroutines once), as Go's `net/http/pprof` does at
//! `/debug/pprof/goroutine?debug=2`:
//!
//! ```text
//! curl http://127.0.0.1:8080/debug/goroutines?group=1
//! ```

use std::io::{self, Read, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use gort::net::{TcpListener, TcpStream};

const BODY: &[u8] = b"Hello, World!\n";
/// Largest request head accepted.
const MAX_HEAD: usize = 64 << 10;
const MAX_HEADERS: usize = 64;

/// What to do after answering a request.
#[derive(PartialEq)]
enum Next {
    KeepAlive,
    Close,
}

/// Parses one request at the start of `buf`. Returns the bytes it used
/// (head and body) and whether the connection stays open, after appending
/// the response to `out`; None if the request is not complete yet.
fn respond(buf: &[u8], out: &mut Vec<u8>, date: &str) -> Result<Option<(usize, Next)>, &'static str> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err("400 Bad Request"),
    };
    let mut body_len = 0usize;
    let mut next = if req.version == Some(1) { Next::KeepAlive } else { Next::Close };
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            body_len = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .ok_or("400 Bad Request")?;
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err("501 Not Implemented");
        } else if h.name.eq_ignore_ascii_case("connection") {
            if h.value.eq_ignore_ascii_case(b"close") {
                next = Next::Close;
            } else if h.value.eq_ignore_ascii_case(b"keep-alive") {
                next = Next::KeepAlive;
            }
        }
    }
    if buf.len() < head + body_len {
        return Ok(None); // the body is still coming
    }
    let dump;
    let (status, body): (&str, &[u8]) = match (req.method, req.path) {
        (Some("GET"), Some(path)) if path.starts_with("/debug/goroutines") => {
            dump = goroutine_dump(path);
            ("200 OK", dump.as_bytes())
        }
        (Some("GET"), _) => ("200 OK", BODY),
        (Some("HEAD"), _) => ("200 OK", b""),
        _ => ("405 Method Not Allowed", b""),
    };
    let conn = if next == Next::Close { "Connection: close\r\n" } else { "" };
    write!(
        out,
        "HTTP/1.1 {status}\r\nDate: {date}\r\nContent-Length: {}\r\nContent-Type: text/plain; charset=utf-8\r\n{conn}\r\n",
        if req.method == Some("HEAD") { BODY.len() } else { body.len() },
    )
    .expect("writing to a Vec cannot fail");
    out.extend_from_slice(body);
    Ok(Some((head + body_len, next)))
}

/// The goroutine dump for `/debug/goroutines[?group=1]`.
fn goroutine_dump(path: &str) -> String {
    let group = path.split_once('?').is_some_and(|(_, q)| q.split('&').any(|kv| kv == "group=1"));
    gort::debug::dump_string_with(&gort::debug::DumpOptions::new().group(group))
}

/// Serves one connection until the client closes it or asks to.
pub fn handle(mut conn: TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; 4096];
    let mut filled = 0;
    let mut out = Vec::with_capacity(4096);
    let mut date = HttpDate::default();
    loop {
        let n = conn.read(&mut buf[filled..])?;
        if n == 0 {
            return Ok(());
        }
        filled += n;
        // Answer every complete request in the buffer, then write once.
        let mut used = 0;
        let mut next = Next::KeepAlive;
        while used < filled && next == Next::KeepAlive {
            match respond(&buf[used..filled], &mut out, date.now()) {
                Ok(Some((n, k))) => {
                    used += n;
                    next = k;
                }
                Ok(None) => break,
                Err(status) => {
                    write!(out, "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
                    next = Next::Close;
                }
            }
        }
        if !out.is_empty() {
            conn.write_all(&out)?;
            out.clear();
        }
        if next == Next::Close {
            return Ok(());
        }
        buf.copy_within(used..filled, 0);
        filled -= used;
        if filled == buf.len() {
            if buf.len() >= MAX_HEAD {
                conn.write_all(b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n")?;
                return Ok(());
            }
            buf.resize(buf.len() * 2, 0);
        }
    }
}

/// Accepts connections until the listener is closed, one goroutine each.
pub fn serve(ln: &TcpListener) -> io::Result<()> {
    loop {
        let (conn, _) = ln.accept()?;
        gort::go!(move || handle(conn));
    }
}

/// The `Date` header value, formatted once per second (as Go caches it).
#[derive(Default)]
struct HttpDate {
    secs: u64,
    text: String,
}

impl HttpDate {
    fn now(&mut self) -> &str {
        let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if secs != self.secs || self.text.is_empty() {
            self.secs = secs;
            self.text = format_http_date(secs);
        }
        &self.text
    }
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 9110's IMF-fixdate).
fn format_http_date(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[gort::main]
fn main() -> io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8080".into());
    let ln = TcpListener::bind(&addr)?;
    println!("http hello server listening on http://{}", ln.local_addr()?);
    serve(&ln)
}

#[test]
fn http_date_matches_rfc_example() {
    assert_eq!(format_http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
}
