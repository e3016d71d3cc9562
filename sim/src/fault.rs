//! Faults the simulated kubelet injects into a pod's exec and attach sessions, so tests can
//! watch kubewitness deal with an upstream that breaks mid-session: [`SimFault`] on a
//! [`super::SimPod`].
//!
//! * [`SimFault::DropAfter`] wraps the upgraded connection in a [`Severable`] with a byte
//!   budget: once that many bytes of the session's wire output are written (a frame may be
//!   cut in the middle), the connection is dropped: no exit status, no WebSocket close, no
//!   SPDY FIN or GOAWAY, just the TCP connection closing under the client.
//! * [`SimFault::Hang`] sets the session up as usual (101, SPDY streams replied) but the
//!   "container" never writes, never exits and ignores its input.
//! * [`SimFault::Silent`] answers the upgrade and then never sends a byte, not even SPDY
//!   stream replies; what the client sends is read and thrown away until it hangs up.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

use proxy_core::channel::Msg;
use proxy_core::peer::{DriverQueues, Peer, PeerError};

/// A fault injected into every exec/attach session of one pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimFault {
    /// Drop the upgraded connection once `bytes` bytes of the session's output (the wire
    /// bytes after the 101: frames, headers and payload) have been written.
    DropAfter {
        /// The byte budget.
        bytes: u64,
    },
    /// Run the protocol, but the process never writes, never exits and ignores its input.
    Hang,
    /// Answer the upgrade, then never send anything at all.
    Silent,
}

/// An I/O object whose writes stop after a byte budget: the write that reaches it is cut
/// short, and the inner connection is dropped (closed) right after. Every later read or
/// write fails with `ConnectionReset`. Without a budget it only passes through.
#[derive(Debug)]
pub struct Severable<T> {
    inner: Option<T>,
    left: Option<u64>,
}

impl<T> Severable<T> {
    /// Wraps `inner`; with `budget`, drops it after that many written bytes.
    pub fn new(inner: T, budget: Option<u64>) -> Severable<T> {
        Severable {
            inner: Some(inner),
            left: budget,
        }
    }

    fn inner(&mut self) -> std::io::Result<&mut T> {
        self.inner.as_mut().ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "kubewitness sim: connection dropped by fault injection",
            )
        })
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Severable<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut().inner() {
            Ok(io) => Pin::new(io).poll_read(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Severable<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let allowed = match this.left {
            None => buf.len(),
            Some(left) => usize::try_from(left).unwrap_or(usize::MAX).min(buf.len()),
        };
        if allowed == 0 && !buf.is_empty() {
            this.inner = None;
        }
        let io = match this.inner() {
            Ok(io) => io,
            Err(e) => return Poll::Ready(Err(e)),
        };
        let written = match Pin::new(io).poll_write(cx, &buf[..allowed]) {
            Poll::Ready(Ok(n)) => n,
            other => return other,
        };
        if let Some(left) = &mut this.left {
            *left -= written as u64;
            if *left == 0 {
                tracing::debug!("sim: byte budget spent, dropping the connection");
                this.inner = None;
            }
        }
        Poll::Ready(Ok(written))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut().inner() {
            Ok(io) => Pin::new(io).poll_flush(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut().inner() {
            Ok(io) => Pin::new(io).poll_shutdown(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

/// Reads and discards what the client sends until it hangs up; never writes.
pub(crate) async fn silent<T: AsyncRead + Unpin>(mut io: T) {
    let mut buf = vec![0u8; 16 * 1024];
    let mut total = 0u64;
    while let Ok(n @ 1..) = io.read(&mut buf).await {
        total += n as u64;
    }
    tracing::debug!(total, "sim: silent session ended");
}

/// A process peer that never writes, never exits and ignores its input; it ends when the
/// session is cancelled (every `outgoing` sender dropped).
pub(crate) fn hung() -> Peer {
    let (peer, queues) = Peer::channel();
    peer.with_driver(tokio::spawn(ignore_input(queues)))
}

async fn ignore_input(queues: DriverQueues) -> Result<(), PeerError> {
    let DriverQueues {
        to_pipeline,
        mut from_pipeline,
    } = queues;
    while let Some(msg) = from_pipeline.recv().await {
        if let Msg::Data(frame) = msg {
            tracing::trace!(len = frame.bytes.len(), "sim: hung process ignores input");
        }
    }
    drop(to_pipeline);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn the_write_that_spends_the_budget_is_cut_and_the_connection_dropped() {
        let (a, mut b) = tokio::io::duplex(1024);
        let mut cut = Severable::new(a, Some(10));
        assert_eq!(cut.write(b"0123456").await.unwrap(), 7);
        assert_eq!(cut.write(b"789abcdef").await.unwrap(), 3);
        let err = cut.write(b"x").await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
        let mut got = Vec::new();
        b.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"0123456789", "the peer sees the budget, then EOF");
        let mut buf = [0u8; 4];
        assert!(cut.read(&mut buf).await.is_err());
    }

    #[tokio::test]
    async fn without_a_budget_it_passes_everything() {
        let (a, mut b) = tokio::io::duplex(1 << 16);
        let mut io = Severable::new(a, None);
        io.write_all(&[7u8; 50_000]).await.unwrap();
        io.shutdown().await.unwrap();
        drop(io);
        let mut got = Vec::new();
        b.read_to_end(&mut got).await.unwrap();
        assert_eq!(got.len(), 50_000);
    }
}
