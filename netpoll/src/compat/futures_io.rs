//! `futures_io::AsyncRead` and `AsyncWrite` for gort's stream sockets
//! (feature `futures-io`; see the parent module).
//!
//! Upstream: the futures-io crate's trait contracts (`poll_close` shuts
//! the write half down).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};

use super::for_streams;

for_streams!(AsyncRead =>
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        super::poll_read(&*self, cx, buf)
    }
);

for_streams!(AsyncWrite =>
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        super::poll_write(&*self, cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        super::poll_write_vectored(&*self, cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        super::poll_shutdown(&*self)
    }
);
