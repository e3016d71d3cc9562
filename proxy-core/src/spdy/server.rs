//! The server role: we are the API server to kubectl, after the caller sent the HTTP 101.
//!
//! kubectl opens each stream with a SYN_STREAM carrying `streamtype` and waits up to 30 s
//! for its SYN_REPLY before opening the next, so each accepted stream is replied to at
//! once with an empty header block. Streams the session does not expect, duplicates, ids
//! out of order and more than [`MAX_STREAMS`] SYN_STREAMs are refused; DATA on a stream
//! never opened gets RST_STREAM INVALID_STREAM, at most `MAX_INVALID_STREAM_RESETS` times
//! (`budget.rs`; on a refused stream it is dropped). Nothing is sent
//! before the first SYN_STREAM (client-go reads the 101 through a `bufio.Reader` and would
//! lose early bytes), so early PING echoes wait for it. Windows are never enforced.
//!
//! Outgoing stdout/stderr become DATA; an error-channel frame (v4 JSON) is re-encoded for
//! the negotiated protocol. Nothing goes out until kubectl has opened every stream the
//! session expects (the outgoing queue pauses, up to [`STREAM_OPEN_TIMEOUT`]), as a kubelet
//! starts nothing before then. When every outgoing sender is
//! dropped we first wait (up to [`STREAM_OPEN_TIMEOUT`]) until kubectl has opened every
//! stream the session expects, as a kubelet does before it starts anything (a GOAWAY while
//! kubectl is still opening streams fails its exec); then we FIN every stream we have not
//! finished (the error stream last), send GOAWAY (OK, last-good = highest client stream id)
//! and shut the socket down.

use std::collections::HashMap;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{Instrument, debug, info_span};

use super::budget::InvalidStreamResets;
use super::conn::{Conn, Event};
use super::frame::{Frame, GoAwayStatus, RstStatus, StreamId, SynReply, SynStream};
use super::header_block::HeaderBlock;
use super::pings::EarlyPings;
use crate::channel::{Channel, Msg, Protocol, StreamOptions};
use crate::peer::{DriverQueues, Peer, PeerError, PeerErrorKind};
use crate::status::Status;

/// Most SYN_STREAMs accepted on one connection (a session needs at most five).
pub const MAX_STREAMS: usize = 16;
/// How long an outgoing frame waits for kubectl to open its stream.
pub const STREAM_OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves one kubectl SPDY connection (after the 101). See the module docs.
pub fn serve<T>(io: T, opts: StreamOptions, protocol: Protocol) -> Peer
where
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (queues, driver) = Peer::channel();
    let span = info_span!("spdy_server", protocol = protocol.name());
    let done = tokio::spawn(run(io, opts, protocol, driver).instrument(span));
    queues.with_driver(done)
}

async fn run<T>(
    io: T,
    opts: StreamOptions,
    protocol: Protocol,
    queues: DriverQueues,
) -> Result<(), PeerError>
where
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let DriverQueues {
        to_pipeline,
        mut from_pipeline,
    } = queues;
    let mut conn = Conn::new(io, to_pipeline);
    let mut server = Server {
        protocol,
        expected: opts.channels(protocol),
        streams: HashMap::new(),
        last_client_id: 0,
        syn_count: 0,
        pings: EarlyPings::new(),
        invalid_resets: InvalidStreamResets::default(),
        held: None,
        finishing: None,
    };
    let result = server.run(&mut conn, &mut from_pipeline).await;
    if let Err(e) = &result {
        debug!(error = %e, "spdy server connection failed");
        if matches!(e.kind(), PeerErrorKind::Protocol | PeerErrorKind::Limit) {
            conn.goaway(server.last_client_id, GoAwayStatus::PROTOCOL_ERROR);
        }
    }
    let closed = conn.close().await;
    result.and(closed)
}

/// One accepted stream.
#[derive(Debug)]
struct Stream {
    channel: Channel,
    /// We sent FIN.
    local_fin: bool,
    /// The client sent FIN (or reset the stream).
    remote_fin: bool,
    /// The client reset the stream: send nothing more on it.
    reset: bool,
}

#[derive(Debug)]
struct Server {
    protocol: Protocol,
    expected: Vec<Channel>,
    streams: HashMap<StreamId, Stream>,
    last_client_id: StreamId,
    syn_count: usize,
    /// Echoes that wait for the first SYN_STREAM.
    pings: EarlyPings,
    /// INVALID_STREAM resets drawn so far (bounded).
    invalid_resets: InvalidStreamResets,
    /// An outgoing message waiting for its stream, with its deadline.
    held: Option<(Msg, Instant)>,
    /// The pipeline is done; waiting until this deadline for the client's streams.
    finishing: Option<Instant>,
}

/// Where an outgoing message for a channel goes.
enum Target {
    Stream(StreamId),
    Wait,
    Drop,
}

impl Server {
    async fn run<T: AsyncRead + AsyncWrite>(
        &mut self,
        conn: &mut Conn<T>,
        from_pipeline: &mut mpsc::Receiver<Msg>,
    ) -> Result<(), PeerError> {
        loop {
            let watching = self.held.is_none() && self.finishing.is_none();
            let watch = watching.then_some(&mut *from_pipeline);
            let deadline = self.held.as_ref().map(|(_, d)| *d).or(self.finishing);
            match conn.next_event(watch, None, deadline).await? {
                Event::Frame(frame) => {
                    self.on_frame(conn, frame).await?;
                    if self.finishing.is_some() && self.all_expected_open() {
                        return self.finish(conn).await;
                    }
                }
                Event::Outgoing(Some(msg)) => self.on_outgoing(conn, msg).await?,
                Event::Outgoing(None) if self.all_expected_open() => {
                    return self.finish(conn).await;
                }
                Event::Outgoing(None) => {
                    self.finishing = Some(Instant::now() + STREAM_OPEN_TIMEOUT);
                }
                Event::Deadline if self.finishing.is_some() => {
                    debug!("client did not open every stream; finishing anyway");
                    return self.finish(conn).await;
                }
                Event::Deadline => {
                    return Err(PeerError::new(
                        PeerErrorKind::Timeout,
                        "client did not open the stream for outgoing data",
                    ));
                }
                Event::ReadClosed { clean } => {
                    conn.end_incoming();
                    if clean && self.finishing.is_some() {
                        return self.finish(conn).await;
                    }
                    if !clean {
                        return Err(PeerError::new(
                            PeerErrorKind::Protocol,
                            "client closed the connection inside a frame",
                        ));
                    }
                }
                Event::Tick => {}
            }
        }
    }

    async fn on_frame<T: AsyncRead + AsyncWrite>(
        &mut self,
        conn: &mut Conn<T>,
        frame: Frame,
    ) -> Result<(), PeerError> {
        match frame {
            Frame::SynStream(syn) => self.on_syn_stream(conn, syn).await?,
            Frame::Data(d) => {
                let Some(stream) = self.streams.get_mut(&d.stream_id) else {
                    if d.stream_id > self.last_client_id {
                        // Never opened: a stream error (SPDY/3.1 §2.2.2); the bytes go nowhere.
                        self.invalid_resets.spend()?;
                        debug!(
                            stream = d.stream_id,
                            "data for a stream never opened refused"
                        );
                        conn.reset(d.stream_id, RstStatus::INVALID_STREAM);
                    } else {
                        debug!(stream = d.stream_id, "data for a refused stream dropped");
                    }
                    return Ok(());
                };
                if stream.remote_fin {
                    if stream.reset {
                        return Ok(());
                    }
                    return Err(protocol_error("data after FIN"));
                }
                let channel = stream.channel;
                stream.remote_fin = d.fin;
                if channel.is_client_to_server() {
                    conn.deliver_data(channel, d.payload);
                    if d.fin {
                        conn.deliver(Msg::Close(channel));
                    }
                }
            }
            Frame::RstStream(rst) => {
                if let Some(stream) = self.streams.get_mut(&rst.stream_id) {
                    debug!(
                        stream = rst.stream_id,
                        status = rst.status.code(),
                        "client reset a stream"
                    );
                    stream.reset = true;
                    stream.local_fin = true;
                    if !stream.remote_fin && stream.channel.is_client_to_server() {
                        conn.deliver(Msg::Close(stream.channel));
                    }
                    stream.remote_fin = true;
                }
            }
            Frame::Ping(ping) => self.pings.on_ping(conn, ping)?,
            Frame::GoAway(g) => {
                debug!(
                    last_good = g.last_good_stream_id,
                    status = g.status.0,
                    "client sent goaway"
                );
                conn.stop_reading();
                conn.end_incoming();
            }
            Frame::SynReply(_) => return Err(protocol_error("syn_reply from the client")),
            Frame::Headers(h) => {
                conn.inflate(&h.header_block)?;
            }
            Frame::Settings(_) | Frame::WindowUpdate(_) => {}
        }
        Ok(())
    }

    async fn on_syn_stream<T: AsyncRead + AsyncWrite>(
        &mut self,
        conn: &mut Conn<T>,
        syn: SynStream,
    ) -> Result<(), PeerError> {
        // Inflate first, always: the zlib stream spans every header block.
        let headers = conn.inflate(&syn.header_block)?;
        self.syn_count += 1;
        if self.syn_count > MAX_STREAMS {
            return Err(PeerError::new(PeerErrorKind::Limit, "too many streams"));
        }
        let id = syn.stream_id;
        if !conn.accept_client_stream(id, &mut self.last_client_id) {
            return Ok(());
        }
        let channel = headers
            .get("streamtype")
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(Channel::from_stream_type);
        let accepted = channel.filter(|c| {
            self.expected.contains(c) && !self.streams.values().any(|s| s.channel == *c)
        });
        let Some(channel) = accepted else {
            debug!(stream = id, "unexpected or duplicate stream refused");
            conn.reset(id, RstStatus::REFUSED_STREAM);
            return Ok(());
        };
        debug!(
            stream = id,
            channel = channel.stream_type(),
            "stream accepted"
        );
        let block = conn.deflate(&HeaderBlock::new())?;
        let reply = SynReply {
            stream_id: id,
            fin: false,
            header_block: block,
        };
        conn.send(&Frame::SynReply(reply));
        self.streams.insert(
            id,
            Stream {
                channel,
                local_fin: false,
                remote_fin: syn.fin,
                reset: false,
            },
        );
        if syn.fin && channel.is_client_to_server() {
            conn.deliver(Msg::Close(channel));
        }
        self.pings.stream_opened(conn);
        if let Some((msg, deadline)) = self.held.take() {
            if matches!(self.target(msg_channel(&msg)), Target::Wait) {
                self.held = Some((msg, deadline));
            } else {
                self.on_outgoing(conn, msg).await?;
            }
        }
        Ok(())
    }

    /// Whether the client has opened every stream the session expects.
    fn all_expected_open(&self) -> bool {
        self.expected
            .iter()
            .all(|c| self.streams.values().any(|s| s.channel == *c))
    }

    fn stream_for(&self, channel: Channel) -> Option<StreamId> {
        self.streams
            .iter()
            .find(|(_, s)| s.channel == channel)
            .map(|(id, _)| *id)
    }

    fn target(&self, channel: Channel) -> Target {
        // Like a kubelet, send nothing until kubectl has opened every stream: kubectl reads
        // none of them before then, and data on an early stream backs up until kubectl's
        // frame workers stop reading, so the next SYN_STREAM would never be seen.
        if self.expected.contains(&channel) && !self.all_expected_open() {
            return Target::Wait;
        }
        match self.stream_for(channel) {
            Some(id) => {
                let s = &self.streams[&id];
                if s.local_fin || s.reset {
                    Target::Drop
                } else {
                    Target::Stream(id)
                }
            }
            None if self.expected.contains(&channel) => Target::Wait,
            None => Target::Drop,
        }
    }

    async fn on_outgoing<T: AsyncRead + AsyncWrite>(
        &mut self,
        conn: &mut Conn<T>,
        msg: Msg,
    ) -> Result<(), PeerError> {
        let channel = msg_channel(&msg);
        if channel.is_client_to_server() {
            debug!(
                channel = channel.stream_type(),
                "outgoing message on a client channel dropped"
            );
            return Ok(());
        }
        let id = match self.target(channel) {
            Target::Stream(id) => id,
            Target::Wait => {
                self.held = Some((msg, Instant::now() + STREAM_OPEN_TIMEOUT));
                return Ok(());
            }
            Target::Drop => {
                debug!(
                    channel = channel.stream_type(),
                    "outgoing message for a finished stream dropped"
                );
                return Ok(());
            }
        };
        match msg {
            Msg::Data(frame) if channel == Channel::Error => {
                let status = Status::from_error_stream(Protocol::V4, &frame.bytes);
                if let Some(bytes) = status.to_error_stream(self.protocol) {
                    conn.send_data(id, bytes, false);
                }
            }
            Msg::Data(frame) => conn.send_data(id, frame.bytes, false),
            Msg::Close(_) => {
                conn.send_data(id, bytes::Bytes::new(), true);
                if let Some(s) = self.streams.get_mut(&id) {
                    s.local_fin = true;
                }
            }
        }
        Ok(())
    }

    async fn finish<T: AsyncRead + AsyncWrite>(
        &mut self,
        conn: &mut Conn<T>,
    ) -> Result<(), PeerError> {
        let mut open: Vec<(bool, StreamId)> = self
            .streams
            .iter()
            .filter(|(_, s)| !s.local_fin && !s.reset)
            .map(|(id, s)| (s.channel == Channel::Error, *id))
            .collect();
        // Error stream last: a client that sees it end may stop reading the others.
        open.sort_unstable();
        for (_, id) in open {
            conn.send_data(id, bytes::Bytes::new(), true);
            if let Some(s) = self.streams.get_mut(&id) {
                s.local_fin = true;
            }
        }
        conn.goaway(self.last_client_id, GoAwayStatus::OK);
        Ok(())
    }
}

fn msg_channel(msg: &Msg) -> Channel {
    match msg {
        Msg::Data(f) => f.channel,
        Msg::Close(c) => *c,
    }
}

fn protocol_error(message: &'static str) -> PeerError {
    PeerError::new(PeerErrorKind::Protocol, message)
}
