//! What the example servers' tests share: start an example's `serve` on a
//! free loopback port, and drive it with curl (which must be installed:
//! the tests fail, naming the install command, when it is not).

use std::io;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;

use gort::net::TcpListener;

/// Starts `serve` (an example's accept loop) in a goroutine on a free
/// loopback port; dropping the returned listener's last clone and closing
/// it ends the loop, which must then report the listener closed.
pub fn start(serve: fn(&TcpListener) -> io::Result<()>) -> (SocketAddr, Arc<TcpListener>) {
    let ln = Arc::new(TcpListener::bind("127.0.0.1:0").unwrap());
    let addr = ln.local_addr().unwrap();
    let ln2 = ln.clone();
    gort::go!(move || {
        let e = serve(&ln2).unwrap_err();
        assert!(gort::net::is_closed(&e), "{e:?}");
    });
    (addr, ln)
}

/// Runs curl with `args` (silent, errors shown, 30 s cap); it must exist
/// and succeed. Returns its standard output.
pub fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-s", "-S", "--max-time", "30"])
        .args(args)
        .output()
        .expect("curl must be installed to drive the example servers: apt-get install -y curl");
    assert!(out.status.success(), "curl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}
