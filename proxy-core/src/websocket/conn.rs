//! What both connection drivers share: tungstenite configuration, the reader/writer
//! scheduling, the closing handshake and error mapping.
//!
//! # Scheduling
//!
//! A driver splits the WebSocket into a reader half and a writer half and polls both in one
//! task ([`drive`]). The halves never wait for each other: a write blocked on a full socket
//! does not stop reading (so two peers writing to each other cannot deadlock), and a reader
//! waiting for room in `to_pipeline` stops reading the socket (backpressure) while writing
//! goes on.
//!
//! # Pongs (tungstenite 0.30, verified in its `protocol/mod.rs`)
//!
//! When `read()` returns a ping, tungstenite has queued the pong in `additional_send`; the
//! next `read()`, `write()` or `flush()` writes and flushes it *before* reading further.
//! The reader polls the stream again right after a ping, so pongs go out even when the
//! application writes nothing (tested in `tests::ping_answered_while_idle`). While the
//! reader is held up by backpressure no pings are read, so none are answered: the peer's
//! keepalive then measures the pipeline, which is intended.
//!
//! # Closing
//!
//! The side that finishes first decides: the reader ending (close frame, EOF or error) drops
//! the writer; the writer ending (every `outgoing` sender dropped) sends a close frame with
//! code 1000 and gives the reader [`CLOSE_GRACE`] to see the reply. [`finish`] then flushes
//! any close reply, waits (bounded) for the peer to hang up, and shuts the socket.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout_at};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tracing::debug;

use super::WsProtocol;
use super::codec::{self, CodecError, MAX_MESSAGE_LEN, MAX_SEND_PAYLOAD};
use crate::channel::{Channel, Frame, Msg};
use crate::peer::{MAX_FRAME_LEN, PeerError, PeerErrorKind};

/// How long a driver waits for the peer's close reply (and then for it to hang up) after
/// starting or answering the closing handshake.
pub const CLOSE_GRACE: Duration = Duration::from_secs(5);

pub(crate) type Sink<S> = SplitSink<WebSocketStream<S>, Message>;
pub(crate) type Source<S> = SplitStream<WebSocketStream<S>>;

/// tungstenite's read buffer: allocated when the connection opens and zero-filled up to
/// this length before every socket read, so it is resident for every idle session (a
/// kubewitness session has two WebSockets). Its default (128 KiB) was most of an idle
/// session's memory; 16 KiB cut that, and 4 KiB brings what kubewitness adds per idle
/// session under 64 KiB (`BENCHMARKS.md`) without a measurable throughput cost: a longer
/// message still fits, since tungstenite reserves a frame's full length (bounded by
/// [`MAX_MESSAGE_LEN`]) once its header is read, and the TLS layer below buffers whole
/// records either way.
pub(crate) const READ_BUFFER_LEN: usize = 4 * 1024;

/// Wraps `io` (after the 101) as a WebSocket with the size limits of [`codec`].
pub(crate) async fn open<S>(
    io: S,
    role: tokio_tungstenite::tungstenite::protocol::Role,
) -> (Sink<S>, Source<S>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_LEN)
        .max_message_size(Some(MAX_MESSAGE_LEN))
        .max_frame_size(Some(MAX_MESSAGE_LEN));
    WebSocketStream::from_raw_socket(io, role, Some(config))
        .await
        .split()
}

/// Runs the two halves; see the module docs. `reader` resolves when the peer is done.
pub(crate) async fn drive<R, W>(reader: R, writer: W) -> Result<(), PeerError>
where
    R: Future<Output = Result<(), PeerError>>,
    W: Future<Output = Result<(), PeerError>>,
{
    tokio::pin!(reader, writer);
    tokio::select! {
        biased;
        read = &mut reader => read,
        written = &mut writer => {
            written?;
            match timeout_at(Instant::now() + CLOSE_GRACE, reader).await {
                Ok(read) => read,
                Err(_) => {
                    debug!("no close reply within the grace period");
                    Ok(())
                }
            }
        }
    }
}

/// Ends the connection after [`drive`]: on error tells the peer why (best effort), flushes a
/// pending close reply, waits for the peer to hang up, shuts the socket. Bounded by
/// [`CLOSE_GRACE`].
pub(crate) async fn finish<S>(
    mut sink: Sink<S>,
    mut source: Source<S>,
    result: &Result<(), PeerError>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let deadline = Instant::now() + CLOSE_GRACE;
    let _ = timeout_at(deadline, async {
        let code = match result {
            Err(err) if err.kind() == PeerErrorKind::Limit => Some((CloseCode::Size, err)),
            Err(err) if err.kind() == PeerErrorKind::Protocol => Some((CloseCode::Protocol, err)),
            _ => None,
        };
        if let Some((code, err)) = code {
            // The reason names the violation (lengths and ids, never payload: see `ws_error`).
            let _ = sink.send(close_with_reason(code, &err.to_string())).await;
        }
        let _ = sink.flush().await;
        // Until tungstenite reports the closing handshake complete or the peer hangs up.
        while let Some(Ok(_)) = source.next().await {}
    })
    .await;
    if let Ok(mut ws) = sink.reunite(source) {
        let _ = timeout_at(deadline, ws.get_mut().shutdown()).await;
    }
}

/// A close frame with `code` and no reason.
pub(crate) fn close_message(code: CloseCode) -> Message {
    close_with_reason(code, "")
}

/// The longest close reason: a control frame carries 125 bytes, two of them the code.
const MAX_CLOSE_REASON: usize = 123;

/// A close frame with `code` and `reason`, cut to [`MAX_CLOSE_REASON`] bytes on a character
/// boundary.
pub(crate) fn close_with_reason(code: CloseCode, reason: &str) -> Message {
    let mut end = reason.len().min(MAX_CLOSE_REASON);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    Message::Close(Some(CloseFrame {
        code,
        reason: reason[..end].into(),
    }))
}

/// Sends `bytes` on `channel` in messages of at most [`MAX_SEND_PAYLOAD`] payload bytes.
pub(crate) async fn send_data<S>(
    sink: &mut Sink<S>,
    protocol: WsProtocol,
    channel: Channel,
    bytes: &Bytes,
) -> Result<(), PeerError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    for chunk in codec::chunks(bytes, MAX_SEND_PAYLOAD) {
        sink.send(codec::encode(protocol, channel, &chunk))
            .await
            .map_err(ws_error)?;
    }
    Ok(())
}

/// The payload of a data message, or `None` for control messages (tungstenite answers pings
/// itself) and close frames (returned in the `Err` arm with their code).
pub(crate) fn payload(message: Message) -> Result<Option<Bytes>, Option<CloseCode>> {
    match message {
        Message::Binary(bytes) => Ok(Some(bytes)),
        Message::Text(text) => Ok(Some(Bytes::from(text))),
        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => Ok(None),
        Message::Close(frame) => Err(frame.map(|f| f.code)),
    }
}

/// Hands frames to the pipeline, at most [`MAX_FRAME_LEN`] bytes each. If the pipeline has
/// dropped `incoming`, later messages are discarded but the socket is still read, so pings
/// are answered and the peer's close is seen.
pub(crate) struct Deliver {
    tx: mpsc::Sender<Msg>,
    gone: bool,
}

impl Deliver {
    pub(crate) fn new(tx: mpsc::Sender<Msg>) -> Deliver {
        Deliver { tx, gone: false }
    }

    /// Sends `msg`, waiting for room in the queue (backpressure).
    pub(crate) async fn send(&mut self, msg: Msg) {
        if !self.gone && self.tx.send(msg).await.is_err() {
            debug!("pipeline dropped incoming; discarding further messages");
            self.gone = true;
        }
    }

    /// Sends `frame`, split into slices of at most [`MAX_FRAME_LEN`] bytes.
    pub(crate) async fn data(&mut self, frame: Frame) {
        for bytes in codec::chunks(&frame.bytes, MAX_FRAME_LEN) {
            self.send(Msg::Data(Frame {
                channel: frame.channel,
                bytes,
            }))
            .await;
        }
    }
}

/// Classifies a tungstenite error. Never includes payload bytes (tungstenite's UTF-8 error
/// text would).
pub(crate) fn ws_error(err: WsError) -> PeerError {
    match err {
        WsError::Io(io) => PeerError::io(io),
        WsError::Capacity(cap) => PeerError::new(
            PeerErrorKind::Limit,
            format!("websocket message over the {MAX_MESSAGE_LEN}-byte limit"),
        )
        .with_source(cap),
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            PeerError::new(PeerErrorKind::Io, "peer hung up without a close frame")
        }
        WsError::Protocol(p) => {
            PeerError::new(PeerErrorKind::Protocol, "websocket protocol violation").with_source(p)
        }
        WsError::Utf8(_) => PeerError::new(PeerErrorKind::Protocol, "text message is not UTF-8"),
        WsError::WriteBufferFull(_) => {
            PeerError::new(PeerErrorKind::Limit, "websocket write buffer full")
        }
        WsError::ConnectionClosed | WsError::AlreadyClosed => {
            PeerError::new(PeerErrorKind::Io, "websocket already closed")
        }
        _ => PeerError::new(PeerErrorKind::Protocol, "unexpected websocket error"),
    }
}

/// Classifies a channel-codec error.
pub(crate) fn codec_error(err: CodecError) -> PeerError {
    let kind = if err.is_too_long() {
        PeerErrorKind::Limit
    } else {
        PeerErrorKind::Protocol
    };
    PeerError::new(kind, "bad channel message").with_source(err)
}

#[cfg(test)]
#[path = "conn_tests.rs"]
mod tests;
