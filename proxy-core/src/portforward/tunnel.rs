//! kubectl's WebSocket tunnel (`SPDY/3.1+portforward.k8s.io`, kubectl 1.31+'s default) as a
//! byte stream, so the SPDY port-forward driver runs over it unchanged.
//!
//! client-go's `TunnelingConnection` writes every SPDY write as one binary WebSocket message
//! and reads messages back as one byte stream (PROTOCOLS.md §3): message boundaries mean
//! nothing. [`WsTunnel`] is that adapter on our side: `AsyncRead` yields the bytes of binary
//! messages in order (a text message is an error; pings are answered by tungstenite, pongs
//! ignored; a close frame or the end of the socket, with or without one, is EOF);
//! `AsyncWrite` sends each write as
//! one binary message of at most [`MAX_TUNNEL_WRITE`] bytes. Buffering is bounded: one
//! message being read (at most `websocket::codec::MAX_MESSAGE_LEN`), and tungstenite's write
//! buffer, which is flushed before the next message is taken (`poll_ready`). Shutting down
//! sends a close frame with code 1000, which client-go reads as a clean EOF.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use futures_util::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::websocket::codec::MAX_MESSAGE_LEN;

/// The largest WebSocket message one write sends (longer writes are cut; the writer sends
/// the rest next). The SPDY driver writes through a 64 KiB buffer.
pub const MAX_TUNNEL_WRITE: usize = 64 * 1024;
/// tungstenite's read buffer (one TLS record's worth, like the channel protocols).
const READ_BUFFER_LEN: usize = 16 * 1024;

/// Where the close handshake stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Closing {
    /// Not started.
    Open,
    /// Our close frame is queued; flushing and closing.
    Sent,
}

/// A WebSocket tunnel as a byte stream. See the module docs.
#[derive(Debug)]
pub struct WsTunnel<S> {
    ws: WebSocketStream<S>,
    /// The unread rest of the current message.
    pending: Bytes,
    /// The peer closed (or the socket ended): reads return EOF.
    read_done: bool,
    closing: Closing,
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsTunnel<S> {
    /// Wraps `io` (after the 101) in the server role.
    pub async fn server(io: S) -> WsTunnel<S> {
        WsTunnel::new(io, Role::Server).await
    }

    /// Wraps `io` (after the 101) in the client role.
    pub async fn client(io: S) -> WsTunnel<S> {
        WsTunnel::new(io, Role::Client).await
    }

    async fn new(io: S, role: Role) -> WsTunnel<S> {
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER_LEN)
            .max_message_size(Some(MAX_MESSAGE_LEN))
            .max_frame_size(Some(MAX_MESSAGE_LEN));
        WsTunnel {
            ws: WebSocketStream::from_raw_socket(io, role, Some(config)).await,
            pending: Bytes::new(),
            read_done: false,
            closing: Closing::Open,
        }
    }
}

fn ws_error(e: WsError) -> io::Error {
    io::Error::other(e)
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WsTunnel<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.pending.is_empty() {
                let n = this.pending.len().min(buf.remaining());
                buf.put_slice(&this.pending[..n]);
                this.pending.advance(n);
                return Poll::Ready(Ok(()));
            }
            if this.read_done {
                return Poll::Ready(Ok(()));
            }
            match ready!(Pin::new(&mut this.ws).poll_next(cx)) {
                Some(Ok(Message::Binary(bytes))) => this.pending = bytes,
                Some(Ok(Message::Text(_))) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "text message in the port-forward tunnel",
                    )));
                }
                Some(Ok(Message::Close(_))) | None => this.read_done = true,
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                // A socket that ends without a close frame is the end, as a TCP close is
                // for SPDY on its own (the SPDY decoder still sees whether it was mid-frame).
                Some(Err(
                    WsError::ConnectionClosed
                    | WsError::AlreadyClosed
                    | WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake),
                )) => this.read_done = true,
                Some(Err(e)) => return Poll::Ready(Err(ws_error(e))),
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WsTunnel<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.closing != Closing::Open {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        ready!(Pin::new(&mut this.ws).poll_ready(cx)).map_err(ws_error)?;
        let n = buf.len().min(MAX_TUNNEL_WRITE);
        let message = Message::Binary(Bytes::copy_from_slice(&buf[..n]));
        Pin::new(&mut this.ws)
            .start_send(message)
            .map_err(ws_error)?;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().ws)
            .poll_flush(cx)
            .map_err(ws_error)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.closing == Closing::Open {
            ready!(Pin::new(&mut this.ws).poll_ready(cx)).map_err(ws_error)?;
            let close = Message::Close(Some(CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            }));
            Pin::new(&mut this.ws).start_send(close).map_err(ws_error)?;
            this.closing = Closing::Sent;
        }
        match ready!(Pin::new(&mut this.ws).poll_close(cx)) {
            // The peer may already be gone; the close is best effort.
            Ok(()) | Err(_) => Poll::Ready(Ok(())),
        }
    }
}

#[cfg(test)]
#[path = "tunnel_tests.rs"]
mod tests;
