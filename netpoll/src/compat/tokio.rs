//! `tokio::io::AsyncRead` and `AsyncWrite` for gort's stream sockets
//! (feature `tokio-io`; see the parent module).
//!
//! Upstream: tokio's `io::AsyncRead`/`AsyncWrite` contracts (`ReadBuf`'s
//! filled and initialised parts).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::for_streams;

for_streams!(AsyncRead =>
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        // SAFETY: recv only writes into the slice (never de-initialises a
        // byte), and we mark initialised only what it wrote.
        let unfilled = unsafe { buf.unfilled_mut() };
        let n = ready!(super::poll_read_uninit(&*self, cx, unfilled))?;
        // SAFETY: recv wrote the first n bytes of the unfilled part.
        unsafe { buf.assume_init(n) };
        buf.advance(n);
        Poll::Ready(Ok(()))
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

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        super::poll_shutdown(&*self)
    }
);
