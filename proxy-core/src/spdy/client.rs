//! The client role: we talk to an API server or kubelet, after the caller's HTTP 101.
//!
//! [`connect`] creates exactly the streams `opts.channels(protocol)` implies, in that
//! order, with odd ids 1, 3, 5… and priority 0, waiting up to [`STREAM_REPLY_TIMEOUT`] for
//! each SYN_REPLY before opening the next (as client-go does; the kubelet waits for the
//! exact set). It pings every [`PING_PERIOD`] with odd ids and echoes the server's.
//!
//! The error stream is collected (at most [`MAX_ERROR_STREAM`] bytes) and delivered once,
//! normalised to v4 JSON by `Status::from_error_stream`, when it ends — if it carried data
//! or ended cleanly. "Cleanly" is a FIN; for v1–v3, whose success is an *empty* error
//! stream, a RST CANCEL or the server's GOAWAY also count, because the kubelet ends a
//! successful session with `conn.Close()` (RST CANCEL on every stream, then GOAWAY). An
//! empty error stream that just vanished delivers nothing: the pipeline fails closed.
//! `incoming` ends after that frame. Dropping `outgoing` cancels: RST CANCEL on every
//! stream we did not FIN, GOAWAY, shutdown.

use std::collections::HashMap;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{Instrument, debug, info_span};

use super::conn::{Conn, Event};
use super::frame::{Frame, GoAwayStatus, Ping, RstStatus, RstStream, StreamId, SynStream};
use super::header_block::HeaderBlock;
use crate::channel::{Channel, Frame as ChannelFrame, Msg, Protocol, StreamOptions};
use crate::peer::{DriverQueues, Peer, PeerError, PeerErrorKind};
use crate::status::Status;

/// How long each SYN_STREAM waits for its SYN_REPLY (apimachinery
/// `createStreamResponseTimeout`).
pub const STREAM_REPLY_TIMEOUT: Duration = Duration::from_secs(30);
/// Interval between our PINGs (client-go `PingPeriod`).
pub const PING_PERIOD: Duration = Duration::from_secs(5);
/// Most bytes collected from the error stream.
pub const MAX_ERROR_STREAM: usize = 64 * 1024;

/// Opens a session over an upgraded connection. See the module docs.
pub async fn connect<T>(io: T, opts: StreamOptions, protocol: Protocol) -> Result<Peer, PeerError>
where
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    connect_with(io, opts, protocol, Timing::default()).await
}

/// The client's timers; tests shorten them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timing {
    /// See [`STREAM_REPLY_TIMEOUT`].
    pub(crate) reply_timeout: Duration,
    /// See [`PING_PERIOD`].
    pub(crate) ping_period: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            reply_timeout: STREAM_REPLY_TIMEOUT,
            ping_period: PING_PERIOD,
        }
    }
}

/// [`connect`] with explicit timers.
pub(crate) async fn connect_with<T>(
    io: T,
    opts: StreamOptions,
    protocol: Protocol,
    timing: Timing,
) -> Result<Peer, PeerError>
where
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (queues, driver) = Peer::channel();
    let (ready_tx, ready_rx) = oneshot::channel();
    let span = info_span!("spdy_client", protocol = protocol.name());
    let done = tokio::spawn(run(io, opts, protocol, timing, driver, ready_tx).instrument(span));
    if ready_rx.await.is_ok() {
        return Ok(queues.with_driver(done));
    }
    // The driver ended during setup: its result says why.
    match done.await {
        Ok(Err(e)) => Err(e),
        Ok(Ok(())) => Err(PeerError::new(
            PeerErrorKind::Protocol,
            "connection closed while opening streams",
        )),
        Err(e) => Err(PeerError::new(PeerErrorKind::Io, "spdy client task failed").with_source(e)),
    }
}

async fn run<T>(
    io: T,
    opts: StreamOptions,
    protocol: Protocol,
    timing: Timing,
    queues: DriverQueues,
    ready: oneshot::Sender<()>,
) -> Result<(), PeerError>
where
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let DriverQueues {
        to_pipeline,
        mut from_pipeline,
    } = queues;
    let mut conn = Conn::new(io, to_pipeline);
    let mut client = Client {
        protocol,
        timing,
        to_create: opts.channels(protocol),
        awaiting: None,
        ready: Some(ready),
        streams: HashMap::new(),
        next_ping: 1,
        error: BytesMut::new(),
        error_done: false,
    };
    let result = client.run(&mut conn, &mut from_pipeline).await;
    if let Err(e) = &result {
        debug!(error = %e, "spdy client connection failed");
        let status = match e.kind() {
            PeerErrorKind::Protocol | PeerErrorKind::Limit => GoAwayStatus::PROTOCOL_ERROR,
            _ => GoAwayStatus::OK,
        };
        conn.goaway(0, status);
    }
    let closed = conn.close().await;
    result.and(closed)
}

/// One stream we created.
#[derive(Debug)]
struct Stream {
    channel: Channel,
    replied: bool,
    local_fin: bool,
    remote_fin: bool,
    reset: bool,
}

/// How the error stream ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ErrorEnd {
    Fin,
    RstCancel,
    RstOther,
    GoAway,
    Eof,
}

#[derive(Debug)]
struct Client {
    protocol: Protocol,
    timing: Timing,
    /// Channels still to open, in order (reversed consumption from the front).
    to_create: Vec<Channel>,
    /// The stream waiting for its SYN_REPLY, and until when.
    awaiting: Option<(StreamId, Instant)>,
    ready: Option<oneshot::Sender<()>>,
    streams: HashMap<StreamId, Stream>,
    next_ping: u32,
    error: BytesMut,
    error_done: bool,
}

impl Client {
    async fn run<T: AsyncRead + AsyncWrite>(
        &mut self,
        conn: &mut Conn<T>,
        from_pipeline: &mut mpsc::Receiver<Msg>,
    ) -> Result<(), PeerError> {
        self.open_next(conn).await?;
        let period = self.timing.ping_period;
        let mut pings = tokio::time::interval_at(Instant::now() + period, period);
        pings.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let ready = self.ready.is_none();
            let watch = ready.then_some(&mut *from_pipeline);
            let tick = conn.reading().then_some(&mut pings);
            let deadline = self.awaiting.map(|(_, d)| d);
            match conn.next_event(watch, tick, deadline).await? {
                Event::Frame(frame) => self.on_frame(conn, frame).await?,
                Event::Outgoing(Some(msg)) => self.on_outgoing(conn, msg).await?,
                Event::Outgoing(None) => return self.cancel(conn).await,
                Event::Tick => {
                    let id = self.next_ping;
                    self.next_ping = self.next_ping.wrapping_add(2).max(1);
                    conn.send(&Frame::Ping(Ping { id }));
                }
                Event::Deadline => {
                    return Err(PeerError::new(
                        PeerErrorKind::Timeout,
                        "server did not reply to SYN_STREAM in time",
                    ));
                }
                Event::ReadClosed { clean } => {
                    if !clean {
                        return Err(PeerError::new(
                            PeerErrorKind::Protocol,
                            "server closed the connection inside a frame",
                        ));
                    }
                    if !ready {
                        return Err(PeerError::new(
                            PeerErrorKind::Protocol,
                            "server closed the connection while streams were opening",
                        ));
                    }
                    self.end_error(conn, ErrorEnd::Eof);
                }
            }
        }
    }

    /// Opens the next stream, or reports the session ready when all are open.
    async fn open_next<T: AsyncRead + AsyncWrite>(
        &mut self,
        conn: &mut Conn<T>,
    ) -> Result<(), PeerError> {
        if self.to_create.is_empty() {
            self.awaiting = None;
            if let Some(ready) = self.ready.take() {
                // connect() may have been dropped; then the queues are gone too.
                let _ = ready.send(());
            }
            return Ok(());
        }
        let channel = self.to_create.remove(0);
        let id = 2 * self.streams.len() as StreamId + 1;
        let mut headers = HeaderBlock::new();
        headers.insert("streamtype", channel.stream_type())?;
        let syn = SynStream::new(id, conn.deflate(&headers)?);
        conn.send(&Frame::SynStream(syn));
        self.streams.insert(
            id,
            Stream {
                channel,
                replied: false,
                local_fin: false,
                remote_fin: false,
                reset: false,
            },
        );
        self.awaiting = Some((id, Instant::now() + self.timing.reply_timeout));
        Ok(())
    }

    async fn on_frame<T: AsyncRead + AsyncWrite>(
        &mut self,
        conn: &mut Conn<T>,
        frame: Frame,
    ) -> Result<(), PeerError> {
        match frame {
            Frame::SynReply(reply) => {
                conn.inflate(&reply.header_block)?;
                if self.awaiting.map(|(id, _)| id) != Some(reply.stream_id) {
                    return Err(protocol_error("syn_reply for a stream not waiting for one"));
                }
                if let Some(s) = self.streams.get_mut(&reply.stream_id) {
                    s.replied = true;
                    s.remote_fin = reply.fin;
                }
                self.open_next(conn).await?;
            }
            Frame::Data(d) => {
                let Some(stream) = self.streams.get_mut(&d.stream_id) else {
                    debug!(stream = d.stream_id, "data for an unknown stream dropped");
                    return Ok(());
                };
                if !stream.replied {
                    return Err(protocol_error("data before syn_reply"));
                }
                if stream.remote_fin {
                    if stream.reset {
                        return Ok(());
                    }
                    return Err(protocol_error("data after FIN"));
                }
                stream.remote_fin = d.fin;
                let channel = stream.channel;
                match channel {
                    Channel::Error => {
                        if self.error.len() + d.payload.len() > MAX_ERROR_STREAM {
                            return Err(PeerError::new(
                                PeerErrorKind::Limit,
                                "error stream too long",
                            ));
                        }
                        self.error.extend_from_slice(&d.payload);
                        if d.fin {
                            self.end_error(conn, ErrorEnd::Fin);
                        }
                    }
                    Channel::Stdout | Channel::Stderr => {
                        conn.deliver_data(channel, d.payload);
                        if d.fin {
                            conn.deliver(Msg::Close(channel));
                        }
                    }
                    Channel::Stdin | Channel::Resize => {}
                }
            }
            Frame::RstStream(rst) => {
                let Some(stream) = self.streams.get_mut(&rst.stream_id) else {
                    return Ok(());
                };
                debug!(
                    stream = rst.stream_id,
                    status = rst.status.code(),
                    "server reset a stream"
                );
                let was_open = !stream.remote_fin;
                stream.reset = true;
                stream.remote_fin = true;
                stream.local_fin = true;
                match stream.channel {
                    Channel::Error if rst.status == RstStatus::CANCEL => {
                        self.end_error(conn, ErrorEnd::RstCancel)
                    }
                    Channel::Error => self.end_error(conn, ErrorEnd::RstOther),
                    c @ (Channel::Stdout | Channel::Stderr) if was_open => {
                        conn.deliver(Msg::Close(c))
                    }
                    _ => {}
                }
            }
            Frame::Ping(ping) if ping.id.is_multiple_of(2) => conn.send(&Frame::Ping(ping)),
            Frame::Ping(_) => {}
            Frame::GoAway(g) => {
                debug!(
                    last_good = g.last_good_stream_id,
                    status = g.status.0,
                    "server sent goaway"
                );
                conn.stop_reading();
                if self.ready.is_some() {
                    return Err(protocol_error(
                        "server sent goaway while streams were opening",
                    ));
                }
                self.end_error(conn, ErrorEnd::GoAway);
            }
            Frame::SynStream(syn) => {
                conn.inflate(&syn.header_block)?;
                let rst = RstStream {
                    stream_id: syn.stream_id,
                    status: RstStatus::REFUSED_STREAM,
                };
                conn.send(&Frame::RstStream(rst));
            }
            Frame::Headers(h) => {
                conn.inflate(&h.header_block)?;
            }
            Frame::Settings(_) | Frame::WindowUpdate(_) => {}
        }
        Ok(())
    }

    /// The error stream (or the connection) ended: deliver the status if there is one,
    /// then end `incoming`.
    fn end_error<T: AsyncRead + AsyncWrite>(&mut self, conn: &mut Conn<T>, how: ErrorEnd) {
        if self.error_done {
            return;
        }
        self.error_done = true;
        let clean = match how {
            ErrorEnd::Fin => true,
            ErrorEnd::RstCancel | ErrorEnd::GoAway => !self.protocol.json_status(),
            ErrorEnd::RstOther | ErrorEnd::Eof => false,
        };
        debug!(bytes = self.error.len(), end = ?how, "error stream ended");
        if !self.error.is_empty() || clean {
            let status = Status::from_error_stream(self.protocol, &self.error);
            conn.deliver(Msg::Data(ChannelFrame::new(
                Channel::Error,
                status.to_json(),
            )));
        }
        conn.end_incoming();
    }

    fn stream_for(&self, channel: Channel) -> Option<StreamId> {
        self.streams
            .iter()
            .find(|(_, s)| s.channel == channel && !s.local_fin && !s.reset)
            .map(|(id, _)| *id)
    }

    async fn on_outgoing<T: AsyncRead + AsyncWrite>(
        &mut self,
        conn: &mut Conn<T>,
        msg: Msg,
    ) -> Result<(), PeerError> {
        let (channel, payload, fin) = match msg {
            Msg::Data(f) => (f.channel, f.bytes, false),
            Msg::Close(c) => (c, Bytes::new(), true),
        };
        if !channel.is_client_to_server() {
            debug!(
                channel = channel.stream_type(),
                "outgoing message on a server channel dropped"
            );
            return Ok(());
        }
        let Some(id) = self.stream_for(channel) else {
            debug!(
                channel = channel.stream_type(),
                "outgoing message for a closed stream dropped"
            );
            return Ok(());
        };
        conn.send_data(id, payload, fin);
        if fin && let Some(s) = self.streams.get_mut(&id) {
            s.local_fin = true;
        }
        Ok(())
    }

    /// Outgoing dropped: RST CANCEL every stream we did not FIN, then GOAWAY.
    async fn cancel<T: AsyncRead + AsyncWrite>(
        &mut self,
        conn: &mut Conn<T>,
    ) -> Result<(), PeerError> {
        let mut open: Vec<StreamId> = self
            .streams
            .iter()
            .filter(|(_, s)| !s.local_fin && !s.reset)
            .map(|(id, _)| *id)
            .collect();
        open.sort_unstable();
        for stream_id in open {
            let rst = RstStream {
                stream_id,
                status: RstStatus::CANCEL,
            };
            conn.send(&Frame::RstStream(rst));
        }
        conn.goaway(0, GoAwayStatus::OK);
        Ok(())
    }
}

fn protocol_error(message: &'static str) -> PeerError {
    PeerError::new(PeerErrorKind::Protocol, message)
}
