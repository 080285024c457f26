//! Homes: which P's shard of the poller (module `poller`, "The root and
//! the shards") a socket is registered in, and so on which P its
//! goroutine is readied; a socket without a home is in the shared root.
//!
//! Go has no counterpart: its poller is one epoll instance for all Ps.
//!
//! - A socket has no home ([`NONE`]) unless it is one end of a **loopback
//!   connection made within the process**. `TcpStream::connect` to a
//!   loopback address takes the next home of a process-wide round robin
//!   ([`for_connect`]) and, as soon as the connect has started (the local
//!   port is bound then, before the peer can accept), records it under
//!   its local port ([`connected`]); `TcpListener::accept` of a
//!   connection from a loopback peer looks the peer's port up
//!   ([`accepted`]) and registers the accepted socket in the same shard.
//!   Both goroutines are then readied by one P, and a message between
//!   them never crosses cores (BENCHMARKS.md, "A home P per loopback
//!   connection"). A connection whose two ends sit on different cores
//!   costs each message a cross-core wake-up and the socket's cache lines.
//! - A home is decided before the socket's first registration and kept
//!   until it is closed; sockets never move between instances, so a
//!   readiness edge is never split between two of them.
//!
//! The port table is a hint, never a correctness matter: an entry outlives
//! its connection (nothing clears it; the next loopback connect from that
//! port overwrites it), so a later connection from another process that
//! reuses the port gets a home chosen by a stale entry: its goroutine
//! lives on one P instead of any. Homes are numbers below 2^15, reduced modulo the
//! poller's shard count where they are used, so both ends reduce the same
//! number to the same shard.
//!
//! Orderings: Relaxed throughout. The connecting goroutine records the
//! port right after its connect started, and the peer's accept may run
//! on another P in between: such an accept misses the hint and the
//! accepted socket goes to the root, which is correct, only not local.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};

/// No home: the socket is registered in the poller's root.
pub(crate) const NONE: u16 = u16::MAX;

/// Homes are below this, so that `home + 1` fits the port table's u16
/// and no home is [`NONE`].
const HOMES: u16 = 1 << 15;

/// The round robin of loopback connections' homes.
static NEXT: AtomicU16 = AtomicU16::new(0);

/// Per local port of a loopback connection made here: its home + 1, 0
/// for none.
static BY_PORT: [AtomicU16; 65536] = [const { AtomicU16::new(0) }; 65536];

/// The home for a connect to `addr`: the next of the round robin if it is
/// a loopback address, else [`NONE`].
pub(crate) fn for_connect(addr: &SocketAddr) -> u16 {
    if !addr.ip().is_loopback() {
        return NONE;
    }
    NEXT.fetch_add(1, Ordering::Relaxed) % HOMES
}

/// Records the home of a connected socket whose local address is `local`,
/// for the peer's accept (a no-op for [`NONE`]).
pub(crate) fn connected(local: &SocketAddr, home: u16) {
    if home < HOMES && local.ip().is_loopback() {
        BY_PORT[local.port() as usize].store(home + 1, Ordering::Relaxed);
    }
}

/// The home for a connection accepted from `peer`: its connecting end's,
/// if that is a loopback connection made in this process, else [`NONE`].
pub(crate) fn accepted(peer: &SocketAddr) -> u16 {
    if !peer.ip().is_loopback() {
        return NONE;
    }
    match BY_PORT[peer.port() as usize].load(Ordering::Relaxed) {
        0 => NONE,
        h => h - 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loopback_connects_home_is_found_by_its_peer() {
        let server: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let h = for_connect(&server);
        assert!(h < HOMES);
        // Ports below 1024 are never ephemeral: no other test's connection
        // writes these entries.
        let local: SocketAddr = "127.0.0.1:1001".parse().unwrap();
        connected(&local, h);
        assert_eq!(accepted(&local), h);
        let v6: SocketAddr = "[::1]:1002".parse().unwrap();
        connected(&v6, 7);
        assert_eq!(accepted(&v6), 7);
    }

    #[test]
    fn other_addresses_have_no_home() {
        let remote: SocketAddr = "192.0.2.1:80".parse().unwrap();
        assert_eq!(for_connect(&remote), NONE);
        connected(&remote, 3);
        assert_eq!(accepted(&remote), NONE);
        let unknown: SocketAddr = "127.0.0.1:1003".parse().unwrap();
        assert_eq!(accepted(&unknown), NONE, "a port nobody connected from");
    }
}
