//! `hyper::rt::Read` and `Write` for gort's stream sockets (feature
//! `hyper`; see the parent module), so hyper 1's client and server
//! connections run over them.
//!
//! Upstream: hyper's `rt::io` contracts (`ReadBufCursor`: write into the
//! unfilled part, then advance by what was written).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use hyper::rt::{Read, ReadBufCursor, Write};

use super::for_streams;

for_streams!(Read =>
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, mut buf: ReadBufCursor<'_>) -> Poll<io::Result<()>> {
        // SAFETY: recv only writes into the slice (never de-initialises a
        // byte).
        let unfilled = unsafe { buf.as_mut() };
        let n = ready!(super::poll_read_uninit(&*self, cx, unfilled))?;
        // SAFETY: recv initialised the first n bytes of the unfilled part.
        unsafe { buf.advance(n) };
        Poll::Ready(Ok(()))
    }
);

for_streams!(Write =>
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
