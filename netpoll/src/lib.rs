//! gort-netpoll: the epoll netpoller and blocking-style sockets for gort.
//!
//! Will hold the `Poller` implementation on mio that `gort-runtime`'s
//! scheduler blocks in when idle, and the `net` module: TCP, UDP and Unix
//! sockets whose blocking calls park the calling goroutine (or block a
//! plain thread) instead of stalling an M.
