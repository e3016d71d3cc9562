//! The server-role driver: kubewitness toward kubectl (or another WebSocket client), after
//! the caller has sent the 101.
//!
//! Right away it sends the initial empty message (on stdout, else stderr, else the error
//! channel; apiserver `pkg/util/proxy/websocket.go` `createWebSocketStreams`). It delivers
//! stdin (if requested) and resize (with a TTY) data and, on v5, the CLOSE of those
//! channels; data on other channels is dropped, like the Go server's "ignore" channels.
//! Outgoing stdout/stderr go out as they come; an error-channel frame holds a v4 JSON status
//! and is re-encoded for the negotiated version (nothing at all for a v1 success). When the
//! pipeline drops `outgoing`, it sends a close frame with code 1000, which is what makes
//! kubectl report the exit code instead of a read error.

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tracing::{Instrument, debug, info_span};

use super::WsProtocol;
use super::codec::{self, Decoded};
use super::conn::{
    Deliver, Sink, Source, close_message, codec_error, drive, finish, open, payload, send_data,
    ws_error,
};
use crate::channel::{Channel, Msg, Protocol, StreamOptions};
use crate::peer::{DriverQueues, Peer, PeerError};
use crate::status::Status;

/// Drives `io` as the server end of a channel-protocol WebSocket negotiated as `protocol`.
///
/// Spawns the driver on the current tokio runtime; see [`crate::peer`] for the contract.
pub fn serve<S>(io: S, protocol: WsProtocol, opts: StreamOptions) -> Peer
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (queues, driver) = Peer::channel();
    let span = info_span!("ws_server", protocol = protocol.name());
    let done = tokio::spawn(run(io, protocol, opts, driver).instrument(span));
    queues.with_driver(done)
}

async fn run<S>(
    io: S,
    protocol: WsProtocol,
    opts: StreamOptions,
    queues: DriverQueues,
) -> Result<(), PeerError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    use futures_util::SinkExt;

    let (mut sink, mut source) = open(io, Role::Server).await;
    // The initial empty message, so the client knows the connection is live.
    let initial = if opts.stdout {
        Channel::Stdout
    } else if opts.stderr {
        Channel::Stderr
    } else {
        Channel::Error
    };
    if let Err(err) = sink.send(codec::encode(protocol, initial, b"")).await {
        return Err(ws_error(err));
    }
    let result = drive(
        read(&mut source, protocol, opts, queues.to_pipeline),
        write(&mut sink, protocol, queues.from_pipeline),
    )
    .await;
    finish(sink, source, &result).await;
    if let Err(err) = &result {
        debug!(error = %err, "websocket session failed");
    }
    result
}

/// Whether the client may send on `channel` in a session with `opts`.
fn readable(channel: Channel, opts: StreamOptions) -> bool {
    match channel {
        Channel::Stdin => opts.stdin,
        Channel::Resize => opts.tty,
        Channel::Stdout | Channel::Stderr | Channel::Error => false,
    }
}

async fn read<S>(
    source: &mut Source<S>,
    protocol: WsProtocol,
    opts: StreamOptions,
    to_pipeline: mpsc::Sender<Msg>,
) -> Result<(), PeerError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    use futures_util::StreamExt;

    let mut deliver = Deliver::new(to_pipeline);
    while let Some(message) = source.next().await {
        let bytes = match payload(message.map_err(ws_error)?) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => continue,
            Err(code) => {
                debug!(code = ?code.map(u16::from), "client closed the websocket");
                return Ok(());
            }
        };
        let len = bytes.len();
        match codec::decode(protocol, bytes).map_err(codec_error)? {
            Decoded::Empty => {}
            Decoded::UnknownChannel(channel) => {
                debug!(channel, len, "message for an unknown channel dropped");
            }
            Decoded::Msg(Msg::Data(frame)) if readable(frame.channel, opts) => {
                deliver.data(frame).await;
            }
            Decoded::Msg(Msg::Close(channel)) if readable(channel, opts) => {
                deliver.send(Msg::Close(channel)).await;
            }
            Decoded::Msg(msg) => {
                let (what, channel) = kind(&msg);
                debug!(
                    what,
                    ?channel,
                    len,
                    "message on a channel the client may not write dropped"
                );
            }
        }
    }
    Ok(())
}

fn kind(msg: &Msg) -> (&'static str, Channel) {
    match msg {
        Msg::Data(frame) => ("data", frame.channel),
        Msg::Close(channel) => ("close", *channel),
    }
}

async fn write<S>(
    sink: &mut Sink<S>,
    protocol: WsProtocol,
    mut from_pipeline: mpsc::Receiver<Msg>,
) -> Result<(), PeerError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    use futures_util::SinkExt;

    while let Some(msg) = from_pipeline.recv().await {
        match msg {
            Msg::Data(frame) => match frame.channel {
                Channel::Stdout | Channel::Stderr => {
                    send_data(sink, protocol, frame.channel, &frame.bytes).await?;
                }
                Channel::Error => {
                    let status = Status::from_error_stream(Protocol::V4, &frame.bytes);
                    if let Some(bytes) = status.to_error_stream(protocol.version()) {
                        send_data(sink, protocol, Channel::Error, &bytes).await?;
                    }
                }
                Channel::Stdin | Channel::Resize => {
                    debug!(channel = ?frame.channel, "client-bound data on an input channel dropped");
                }
            },
            // The server never half-closes toward the client: the session ends with the
            // status and a close frame.
            Msg::Close(channel) => debug!(?channel, "close toward the client dropped"),
        }
    }
    sink.send(close_message(CloseCode::Normal))
        .await
        .map_err(ws_error)
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
