//! The client role of `portforward.k8s.io`: we talk to the API server (or kubelet).
//!
//! [`Tunnel::open`] creates a pair like client-go: an `error` stream, then a `data` stream,
//! both with `streamtype`, `port` and `requestid`, odd ids, priority 0; the error stream is
//! half-closed at once (we never write on it). It does not wait for the first SYN_REPLY
//! before sending the second SYN_STREAM (the server replies to each on its own); the pair is
//! ready when both are answered, or fails after [`STREAM_REPLY_TIMEOUT`].
//!
//! The pair's [`Peer`] keeps the peer contract of a client-role driver: data-stream bytes
//! arrive as `Stdout` (FIN or RST → `Close(Stdout)`); the error stream's text (at most
//! [`MAX_ERROR_STREAM`] bytes) is delivered once, as a v4 JSON `Status` (empty → success,
//! text → a failure with that message), when both streams have ended from the server side,
//! and `incoming` ends after it. An error stream that was reset, or a connection that ended,
//! delivers no status: the pipeline fails the pair closed. `Stdin` goes out on the data
//! stream (`Close(Stdin)` → FIN). Dropping the pair's senders RST-CANCELs what we did not
//! finish. PINGs go out every [`PING_PERIOD`]; dropping the [`Tunnel`] (and every pair)
//! ends the connection with GOAWAY.

use std::collections::HashMap;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{Instrument, debug, info_span};

use super::mux::{self, CMD_QUEUE_DEPTH, Cmd, PairKey, Routed};
use super::pairs::StreamKind;
use super::streams::{DataCheck, Stream, Streams, protocol_error};
use crate::channel::{Channel, Frame as ChannelFrame, Msg, Protocol};
use crate::peer::{Peer, PeerError, PeerErrorKind};
use crate::spdy::conn::{Conn, Event};
use crate::spdy::frame::{Frame, GoAwayStatus, Ping, RstStatus, StreamId, SynStream};
use crate::spdy::header_block::HeaderBlock;
use crate::spdy::{MAX_ERROR_STREAM, PING_PERIOD, STREAM_REPLY_TIMEOUT};
use crate::status::Status;

/// A request to open a pair.
#[derive(Debug)]
pub(crate) struct OpenPair {
    port: u16,
    request_id: String,
    reply: oneshot::Sender<Result<Peer, PeerError>>,
}

type Commands = Cmd<OpenPair>;

/// An upstream port-forward connection; open pairs with [`Tunnel::open`].
#[derive(Debug)]
pub struct Tunnel {
    cmds: mpsc::Sender<Commands>,
    closed: watch::Receiver<bool>,
}

impl Tunnel {
    /// Opens a pair for `port` with `request_id`.
    pub async fn open(&self, port: u16, request_id: &str) -> Result<Peer, PeerError> {
        let (reply, answer) = oneshot::channel();
        let req = OpenPair {
            port,
            request_id: request_id.to_owned(),
            reply,
        };
        let gone = || PeerError::new(PeerErrorKind::Io, "upstream port-forward connection closed");
        self.cmds
            .send(Cmd::Request(req))
            .await
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    /// Resolves once the connection has ended.
    pub async fn closed(&self) {
        let mut closed = self.closed.clone();
        let _ = closed.wait_for(|c| *c).await;
    }
}

/// Starts the client role on an upgraded connection.
pub fn connect<T>(io: T) -> Tunnel
where
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (cmds, cmd_rx) = mpsc::channel(CMD_QUEUE_DEPTH);
    let weak = cmds.downgrade();
    let span = info_span!("portforward_client");
    let (closed_tx, closed) = watch::channel(false);
    tokio::spawn(
        async move {
            if let Err(e) = run(io, weak, cmd_rx).await {
                debug!(error = %e, "upstream port-forward connection ended with an error");
            }
            let _ = closed_tx.send(true);
        }
        .instrument(span),
    );
    Tunnel { cmds, closed }
}

async fn run<T>(
    io: T,
    cmds: mpsc::WeakSender<Commands>,
    mut cmd_rx: mpsc::Receiver<Commands>,
) -> Result<(), PeerError>
where
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (routed, router) = mux::router::<()>(None);
    let mut conn: Conn<T, Routed<()>> = Conn::new(io, routed);
    let mut client = Client {
        cmds,
        streams: Streams::default(),
        pairs: HashMap::new(),
        next_id: 1,
        next_ping: 1,
    };
    let mut pings = tokio::time::interval_at(Instant::now() + PING_PERIOD, PING_PERIOD);
    pings.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let result = loop {
        let deadline = client
            .pairs
            .values()
            .filter_map(|p| p.opening_until())
            .min();
        let tick = conn.reading().then_some(&mut pings);
        let event = match conn.next_event(Some(&mut cmd_rx), tick, deadline).await {
            Ok(e) => e,
            Err(e) => break Err(e),
        };
        match event {
            Event::Frame(frame) => {
                if let Err(e) = client.on_frame(&mut conn, frame) {
                    break Err(e);
                }
            }
            Event::Outgoing(Some(Cmd::Request(open))) => {
                if let Err(e) = client.open(&mut conn, open) {
                    break Err(e);
                }
            }
            Event::Outgoing(Some(Cmd::Out { key, msg })) => client.on_outgoing(&mut conn, key, msg),
            Event::Outgoing(None) => break Ok(()),
            Event::Tick => {
                let id = client.next_ping;
                client.next_ping = client.next_ping.wrapping_add(2).max(1);
                conn.send(&Frame::Ping(Ping { id }));
            }
            Event::Deadline => client.expire_opening(&mut conn, Instant::now()),
            Event::ReadClosed { clean } => {
                break if clean {
                    Ok(())
                } else {
                    Err(PeerError::new(
                        PeerErrorKind::Protocol,
                        "server closed the connection inside a frame",
                    ))
                };
            }
        }
        if !conn.reading() {
            break Ok(());
        }
    };
    client.end_all(&mut conn);
    let status = match &result {
        Err(e) if matches!(e.kind(), PeerErrorKind::Protocol | PeerErrorKind::Limit) => {
            GoAwayStatus::PROTOCOL_ERROR
        }
        _ => GoAwayStatus::OK,
    };
    if let Err(e) = &result {
        debug!(error = %e, "upstream port-forward connection failed");
    }
    conn.goaway(0, status);
    let closed = conn.close().await;
    drop(conn);
    let _ = router.await;
    result.and(closed)
}

#[derive(Debug)]
struct Pair {
    error: StreamId,
    data: StreamId,
    /// Until both SYN_REPLYs arrive.
    opening: Option<Opening>,
    /// What the error stream carried.
    error_text: BytesMut,
    /// The error stream was reset (no status can be trusted).
    error_lost: bool,
    /// `incoming` was ended.
    ended: bool,
}

/// A pair waiting for its SYN_REPLYs: who waits, the peer to hand over, and until when.
#[derive(Debug)]
struct Opening {
    reply: oneshot::Sender<Result<Peer, PeerError>>,
    peer: Peer,
    until: Instant,
}

impl Pair {
    fn opening_until(&self) -> Option<Instant> {
        self.opening.as_ref().map(|o| o.until)
    }

    /// Fails a pair still opening; returns whether it was.
    fn fail_opening(&mut self, kind: PeerErrorKind, why: &'static str) -> bool {
        let Some(opening) = self.opening.take() else {
            return false;
        };
        let _ = opening.reply.send(Err(PeerError::new(kind, why)));
        true
    }
}

#[derive(Debug)]
struct Client {
    /// Weak, so that the queue closes once the [`Tunnel`] and every pair are gone.
    cmds: mpsc::WeakSender<Commands>,
    streams: Streams,
    pairs: HashMap<PairKey, Pair>,
    next_id: StreamId,
    next_ping: u32,
}

impl Client {
    fn open<T: AsyncRead + AsyncWrite>(
        &mut self,
        conn: &mut Conn<T, Routed<()>>,
        open: OpenPair,
    ) -> Result<(), PeerError> {
        let Some(cmds) = self.cmds.upgrade() else {
            return Ok(());
        };
        let error = self.next_id;
        let data = error + 2;
        if data > crate::spdy::frame::STREAM_ID_MASK - 2 {
            let _ = open.reply.send(Err(PeerError::new(
                PeerErrorKind::Limit,
                "stream ids exhausted on the upstream connection",
            )));
            return Ok(());
        }
        self.next_id = data + 2;
        let key = data;
        for (id, kind) in [(error, StreamKind::Error), (data, StreamKind::Data)] {
            let mut headers = HeaderBlock::new();
            headers.insert("streamtype", kind.name())?;
            headers.insert("port", open.port.to_string())?;
            headers.insert("requestid", open.request_id.clone())?;
            let header_block = conn.deflate(&headers)?;
            conn.send(&Frame::SynStream(SynStream::new(id, header_block)));
            let mut stream = Stream::new(kind, Some(key), false);
            if kind == StreamKind::Error {
                // We never write on the error stream (client-go closes it at once too).
                conn.send_data(id, Bytes::new(), true);
                stream.local_fin = true;
            }
            self.streams.insert(id, stream);
        }
        let q = mux::pair_queues(key, &cmds);
        conn.deliver(Routed::Open {
            key,
            tx: q.incoming_tx,
            announce: None,
        });
        let peer = Peer {
            incoming: q.incoming,
            outgoing: q.outgoing,
            done: q.done,
        };
        let until = Instant::now() + STREAM_REPLY_TIMEOUT;
        self.pairs.insert(
            key,
            Pair {
                error,
                data,
                opening: Some(Opening {
                    reply: open.reply,
                    peer,
                    until,
                }),
                error_text: BytesMut::new(),
                error_lost: false,
                ended: false,
            },
        );
        Ok(())
    }

    fn on_frame<T: AsyncRead + AsyncWrite>(
        &mut self,
        conn: &mut Conn<T, Routed<()>>,
        frame: Frame,
    ) -> Result<(), PeerError> {
        match frame {
            Frame::SynReply(reply) => {
                conn.inflate(&reply.header_block)?;
                let Some(s) = self.streams.get_mut(reply.stream_id) else {
                    return Err(protocol_error("syn_reply for a stream we did not open"));
                };
                if s.replied {
                    return Err(protocol_error("second syn_reply for a stream"));
                }
                s.replied = true;
                s.remote_fin |= reply.fin;
                let Some(key) = s.pair else { return Ok(()) };
                self.maybe_ready(key);
                self.maybe_end(conn, key);
            }
            Frame::Data(d) => {
                let (kind, key) = match self.streams.on_data(d.stream_id, d.fin)? {
                    DataCheck::Take(kind, Some(key)) => (kind, key),
                    DataCheck::Unknown => {
                        debug!(stream = d.stream_id, "data for an unknown stream dropped");
                        return Ok(());
                    }
                    DataCheck::Take(_, None) | DataCheck::Dropped => return Ok(()),
                };
                match kind {
                    StreamKind::Data => {
                        mux::deliver_data(conn, key, Channel::Stdout, d.payload);
                        if d.fin {
                            conn.deliver(Routed::Msg {
                                key,
                                msg: Msg::Close(Channel::Stdout),
                            });
                        }
                    }
                    StreamKind::Error => {
                        if let Some(p) = self.pairs.get_mut(&key) {
                            if p.error_text.len() + d.payload.len() > MAX_ERROR_STREAM {
                                return Err(PeerError::new(
                                    PeerErrorKind::Limit,
                                    "error stream too long",
                                ));
                            }
                            p.error_text.extend_from_slice(&d.payload);
                        }
                    }
                }
                if d.fin {
                    self.maybe_end(conn, key);
                }
            }
            Frame::RstStream(rst) => {
                debug!(
                    stream = rst.stream_id,
                    status = rst.status.code(),
                    "server reset a stream"
                );
                let Some((kind, Some(key), was_open)) = self.streams.on_reset(rst.stream_id) else {
                    return Ok(());
                };
                if let Some(p) = self.pairs.get_mut(&key) {
                    p.fail_opening(PeerErrorKind::Protocol, "upstream refused the stream");
                    match kind {
                        StreamKind::Error => p.error_lost = true,
                        StreamKind::Data if was_open => conn.deliver(Routed::Msg {
                            key,
                            msg: Msg::Close(Channel::Stdout),
                        }),
                        StreamKind::Data => {}
                    }
                }
                self.maybe_end(conn, key);
            }
            Frame::Ping(ping) if ping.id.is_multiple_of(2) => conn.send(&Frame::Ping(ping)),
            Frame::Ping(_) => {}
            Frame::GoAway(g) => {
                debug!(last_good = g.last_good_stream_id, "server sent goaway");
                conn.stop_reading();
            }
            Frame::SynStream(syn) => {
                conn.inflate(&syn.header_block)?;
                conn.reset(syn.stream_id, RstStatus::REFUSED_STREAM);
            }
            Frame::Headers(h) => {
                conn.inflate(&h.header_block)?;
            }
            Frame::Settings(_) | Frame::WindowUpdate(_) => {}
        }
        Ok(())
    }

    /// Hands the pair's peer to whoever opened it once both streams are answered.
    fn maybe_ready(&mut self, key: PairKey) {
        let Some(p) = self.pairs.get_mut(&key) else {
            return;
        };
        let replied = |id| self.streams.get(id).is_some_and(|s| s.replied);
        if replied(p.error)
            && replied(p.data)
            && let Some(Opening { reply, peer, .. }) = p.opening.take()
        {
            let _ = reply.send(Ok(peer));
        }
    }

    /// Once both streams ended from the server side: the status, then the end of `incoming`.
    fn maybe_end<T: AsyncRead + AsyncWrite>(
        &mut self,
        conn: &mut Conn<T, Routed<()>>,
        key: PairKey,
    ) {
        let Some(p) = self.pairs.get_mut(&key) else {
            return;
        };
        let ended = |id| self.streams.get(id).is_none_or(|s| s.remote_fin);
        if p.ended || !ended(p.error) || !ended(p.data) {
            return;
        }
        p.ended = true;
        if !p.error_lost {
            let status = Status::from_error_stream(Protocol::V1, &p.error_text);
            debug!(
                bytes = p.error_text.len(),
                success = status.is_success(),
                "pair ended"
            );
            conn.deliver(Routed::Msg {
                key,
                msg: Msg::Data(ChannelFrame::new(Channel::Error, status.to_json())),
            });
        }
        conn.deliver(Routed::End { key });
    }

    fn on_outgoing<T: AsyncRead + AsyncWrite>(
        &mut self,
        conn: &mut Conn<T, Routed<()>>,
        key: PairKey,
        msg: Option<Msg>,
    ) {
        let Some(p) = self.pairs.get(&key) else {
            return;
        };
        let (error, data) = (p.error, p.data);
        match msg {
            Some(Msg::Data(f)) if f.channel == Channel::Stdin => {
                self.streams.send(conn, data, f.bytes, false)
            }
            Some(Msg::Close(Channel::Stdin)) => self.streams.send(conn, data, Bytes::new(), true),
            Some(other) => debug!(
                ?other,
                "outgoing message for no port-forward stream dropped"
            ),
            None => {
                // The pipeline is done: cancel what we did not finish, forget the pair.
                self.streams
                    .reset_unfinished(conn, [error, data], RstStatus::CANCEL);
                if let Some(p) = self.pairs.remove(&key)
                    && !p.ended
                {
                    conn.deliver(Routed::End { key });
                }
            }
        }
    }

    /// Pairs still waiting for SYN_REPLYs past their deadline fail.
    fn expire_opening<T: AsyncRead + AsyncWrite>(
        &mut self,
        conn: &mut Conn<T, Routed<()>>,
        now: Instant,
    ) {
        for (key, p) in self.pairs.iter_mut() {
            if p.opening_until().is_some_and(|d| d <= now)
                && p.fail_opening(PeerErrorKind::Timeout, "upstream did not answer in time")
            {
                p.ended = true;
                conn.deliver(Routed::End { key: *key });
            }
        }
    }

    /// The connection is ending: pending opens fail, every pair's `incoming` ends.
    fn end_all<T: AsyncRead + AsyncWrite>(&mut self, conn: &mut Conn<T, Routed<()>>) {
        for (key, p) in self.pairs.iter_mut() {
            p.fail_opening(PeerErrorKind::Io, "upstream port-forward connection closed");
            if !p.ended {
                p.ended = true;
                conn.deliver(Routed::End { key: *key });
            }
        }
        conn.end_incoming();
    }
}
