//! connect_timeout against a listener whose backlog is full (needs raw
//! libc to listen with backlog 0).

use std::time::Duration;

use gort_netpoll::TcpStream;

#[test]
fn connect_timeout_fires_against_a_full_backlog() {
    // A listener with backlog 0 that never accepts: the kernel queues one
    // connection and drops later SYNs, so a further connect hangs.
    // SAFETY: socket has no memory preconditions.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
    assert!(fd >= 0);
    // SAFETY: sockaddr_in is plain data; all-zero is valid.
    let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sa.sin_family = libc::AF_INET as libc::sa_family_t;
    sa.sin_addr = libc::in_addr { s_addr: u32::from_ne_bytes([127, 0, 0, 1]) };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: sa is a valid sockaddr_in of length len.
    assert_eq!(unsafe { libc::bind(fd, (&raw const sa).cast(), len) }, 0);
    // SAFETY: listen on our socket.
    assert_eq!(unsafe { libc::listen(fd, 0) }, 0);
    let mut len2 = len;
    // SAFETY: getsockname into sa.
    assert_eq!(unsafe { libc::getsockname(fd, (&raw mut sa).cast(), &mut len2) }, 0);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], u16::from_be(sa.sin_port)));
    let rt = gort_runtime::Runtime::builder().max_procs(2).build().unwrap();
    let outcome = rt.block_on(move || {
        let mut held = Vec::new();
        for _ in 0..8 {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                Ok(c) => held.push(c),
                Err(e) => return Some(e),
            }
        }
        None
    });
    // SAFETY: closing our own fd.
    unsafe { libc::close(fd) };
    let e = outcome.expect("some connect must hang on the full backlog");
    assert!(gort_netpoll::is_timeout(&e), "{e:?}");
}
