//! The client-role driver: kubewitness toward an API server (or kubelet), after the 101.
//!
//! Outgoing stdin and resize data go out as they come; `Close(Stdin)` becomes `[0xFF, 0]`
//! on v5. Before v5 the WebSocket protocols have no half-close (the Go server treats those
//! bytes as data), so the close is dropped: the session then ends when the command does.
//! A ping goes out every [`PING_INTERVAL`], like client-go.
//!
//! Incoming stdout/stderr are delivered as they come. The error channel is collected (at
//! most [`MAX_ERROR_CHANNEL_LEN`] bytes) and, when the server closes, delivered once as a v4
//! JSON status (`Status::from_error_stream`):
//!
//! * if anything was collected, whatever the way the connection ended (short of a protocol
//!   violation or limit);
//! * for v1 semantics, also after a clean close (code 1000) with nothing collected: the
//!   plain-text error channel is written only on failure, so silence is success;
//! * never otherwise: a v4+ server that closed without a status, a close code other than
//!   1000, or a dropped connection with nothing collected leave the pipeline to fail closed.
//!
//! Dropping `outgoing` cancels: a close frame with code 1000, then the closing handshake;
//! a status is then delivered only if one was already collected.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior, interval_at};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tracing::{Instrument, debug, info_span};

use super::WsProtocol;
use super::codec::{self, Decoded};
use super::conn::{
    Deliver, Sink, Source, close_message, codec_error, drive, finish, open, payload, send_data,
    ws_error,
};
use crate::channel::{Channel, Frame, Msg, StreamOptions};
use crate::peer::{DriverQueues, Peer, PeerError, PeerErrorKind};
use crate::status::Status;

/// How often the client pings the server (client-go `remotecommand/websocket.go`
/// `pingPeriod`, the apiserver translator's SPDY `PingPeriod`).
pub const PING_INTERVAL: Duration = Duration::from_secs(5);

/// The most error-channel bytes collected from a server; a status is a few hundred bytes.
pub const MAX_ERROR_CHANNEL_LEN: usize = 64 * 1024;

/// Drives `io` as the client end of a channel-protocol WebSocket negotiated as `protocol`
/// (see [`super::handshake::verify_response`]).
///
/// Spawns the driver on the current tokio runtime; see [`crate::peer`] for the contract.
/// `opts` is accepted for symmetry with [`super::serve`]: the server decides which channels
/// carry data, and the driver forwards whatever arrives on stdout and stderr.
pub fn connect<S>(io: S, protocol: WsProtocol, opts: StreamOptions) -> Peer
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let span = info_span!("ws_client", protocol = protocol.name(), tty = opts.tty);
    connect_with_ping(io, protocol, PING_INTERVAL, span)
}

/// [`connect`] with a chosen ping interval (tests use a short one).
pub(crate) fn connect_with_ping<S>(
    io: S,
    protocol: WsProtocol,
    ping_interval: Duration,
    span: tracing::Span,
) -> Peer
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (queues, driver) = Peer::channel();
    let done = tokio::spawn(run(io, protocol, ping_interval, driver).instrument(span));
    queues.with_driver(done)
}

async fn run<S>(
    io: S,
    protocol: WsProtocol,
    ping_interval: Duration,
    queues: DriverQueues,
) -> Result<(), PeerError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut sink, mut source) = open(io, Role::Client).await;
    let cancelled = AtomicBool::new(false);
    let result = drive(
        read(&mut source, protocol, queues.to_pipeline, &cancelled),
        write(
            &mut sink,
            protocol,
            queues.from_pipeline,
            ping_interval,
            &cancelled,
        ),
    )
    .await;
    finish(sink, source, &result).await;
    if let Err(err) = &result {
        debug!(error = %err, "websocket session failed");
    }
    result
}

/// How the server ended the connection.
#[derive(Debug)]
enum End {
    /// A close frame (its code, if any).
    Closed(Option<CloseCode>),
    /// The stream ended or the socket failed without a close frame.
    Dropped(PeerError),
}

async fn read<S>(
    source: &mut Source<S>,
    protocol: WsProtocol,
    to_pipeline: mpsc::Sender<Msg>,
    cancelled: &AtomicBool,
) -> Result<(), PeerError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut deliver = Deliver::new(to_pipeline);
    let mut collected = BytesMut::new();
    let end = loop {
        let message = match source.next().await {
            None => break End::Dropped(PeerError::new(PeerErrorKind::Io, "websocket ended")),
            Some(Err(err)) => match ws_error(err) {
                err if err.kind() == PeerErrorKind::Io => break End::Dropped(err),
                err => return Err(err),
            },
            Some(Ok(message)) => message,
        };
        let bytes = match payload(message) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => continue,
            Err(code) => break End::Closed(code),
        };
        let len = bytes.len();
        match codec::decode(protocol, bytes).map_err(codec_error)? {
            Decoded::Empty => {}
            Decoded::UnknownChannel(channel) => {
                debug!(channel, len, "message for an unknown channel dropped");
            }
            Decoded::Msg(Msg::Data(frame)) => match frame.channel {
                Channel::Stdout | Channel::Stderr => deliver.data(frame).await,
                Channel::Error => {
                    if collected.len() + frame.bytes.len() > MAX_ERROR_CHANNEL_LEN {
                        return Err(PeerError::new(
                            PeerErrorKind::Limit,
                            format!("error channel over {MAX_ERROR_CHANNEL_LEN} bytes"),
                        ));
                    }
                    collected.extend_from_slice(&frame.bytes);
                }
                Channel::Stdin | Channel::Resize => {
                    debug!(channel = ?frame.channel, len, "server data on an input channel dropped");
                }
            },
            Decoded::Msg(Msg::Close(channel @ (Channel::Stdout | Channel::Stderr))) => {
                deliver.send(Msg::Close(channel)).await;
            }
            Decoded::Msg(Msg::Close(channel)) => debug!(?channel, "server close dropped"),
        }
    };

    let cancelled = cancelled.load(Ordering::Acquire);
    let clean = matches!(end, End::Closed(Some(CloseCode::Normal))) && !cancelled;
    if !collected.is_empty() || (clean && !protocol.version().json_status()) {
        let status = Status::from_error_stream(protocol.version(), &collected);
        deliver
            .send(Msg::Data(Frame::new(Channel::Error, status.to_json())))
            .await;
    } else {
        debug!(?end, cancelled, "no status from the server");
    }
    match end {
        _ if cancelled => Ok(()),
        End::Closed(Some(CloseCode::Normal)) => Ok(()),
        End::Closed(code) => Err(PeerError::new(
            PeerErrorKind::Protocol,
            format!(
                "server closed the websocket with code {}",
                code.map_or(1005, u16::from)
            ),
        )),
        End::Dropped(err) => Err(err),
    }
}

async fn write<S>(
    sink: &mut Sink<S>,
    protocol: WsProtocol,
    mut from_pipeline: mpsc::Receiver<Msg>,
    ping_interval: Duration,
    cancelled: &AtomicBool,
) -> Result<(), PeerError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut ping = interval_at(Instant::now() + ping_interval, ping_interval);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            msg = from_pipeline.recv() => match msg {
                None => break,
                Some(Msg::Data(frame)) if frame.channel.is_client_to_server() => {
                    send_data(sink, protocol, frame.channel, &frame.bytes).await?;
                }
                Some(Msg::Data(frame)) => {
                    debug!(channel = ?frame.channel, "server-bound data on an output channel dropped");
                }
                Some(Msg::Close(channel)) => match codec::encode_close(protocol, channel) {
                    Some(message) => sink.send(message).await.map_err(ws_error)?,
                    None => debug!(?channel, "no half-close before v5; close dropped"),
                },
            },
            _ = ping.tick() => {
                sink.send(Message::Ping(Bytes::new())).await.map_err(ws_error)?;
            }
        }
    }
    cancelled.store(true, Ordering::Release);
    sink.send(close_message(CloseCode::Normal))
        .await
        .map_err(ws_error)
}
