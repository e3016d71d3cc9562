//! The server role of `portforward.k8s.io`: we are the API server to kubectl.
//!
//! Each SYN_STREAM's headers are validated and joined into pairs ([`super::pairs`]) before
//! it is answered: an accepted stream gets its SYN_REPLY at once (kubectl waits for it
//! before opening the next), a refused one RST_STREAM REFUSED_STREAM, and the streams of a
//! pair left incomplete for [`super::PAIR_TIMEOUT`] RST_STREAM CANCEL. Each complete pair
//! is announced as a [`Forwarded`] whose [`Peer`] follows the peer contract: bytes from
//! kubectl on the data stream arrive as `Stdin` (FIN → `Close(Stdin)`); `Stdout` frames go
//! out on the data stream (`Close(Stdout)` → FIN); an error-channel frame (v4 JSON) is
//! written as the kubelet writes it, the failure's message as plain text, nothing for a
//! success; when the pipeline drops the pair's senders both streams get FIN. A RST from
//! kubectl on the data stream is a `Close(Stdin)` and ends the pair's `incoming`, as does
//! the connection ending (the pipeline then cancels upstream).
//!
//! Like the exec driver, nothing is sent before the first SYN_STREAM (early PING echoes
//! wait), PINGs are echoed, windows are never enforced. DATA on a stream never opened gets
//! RST_STREAM INVALID_STREAM, at most [`MAX_INVALID_STREAM_RESETS`](crate::spdy::MAX_INVALID_STREAM_RESETS) times per connection
//! (the reset is twice the frame: no amplification). Dropping [`Connection::shutdown`]
//! (the upstream side is gone) resets every stream, sends GOAWAY and closes within a
//! second.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{Instrument, debug, info_span};

use super::mux::{self, CMD_QUEUE_DEPTH, Cmd, PairKey, Routed};
use super::pairs::{Assembler, Pair, StreamHeaders, StreamKind};
use super::streams::{DataCheck, Stream, Streams, protocol_error};
use crate::channel::{Channel, Msg, Protocol};
use crate::peer::{Peer, PeerError, PeerErrorKind};
use crate::spdy::budget::InvalidStreamResets;
use crate::spdy::conn::{Conn, Event};
use crate::spdy::frame::{Frame, GoAwayStatus, RstStatus, StreamId, SynReply, SynStream};
use crate::spdy::header_block::HeaderBlock;
use crate::spdy::pings::EarlyPings;
use crate::status::Status;

/// How often pair timeouts and the shutdown signal are checked.
const HOUSEKEEPING: Duration = Duration::from_secs(1);
/// Forwarded connections announced but not yet taken by the handler.
const ANNOUNCE_DEPTH: usize = 4;

/// One forwarded TCP connection: a pair of streams, as a [`Peer`].
#[derive(Debug)]
pub struct Forwarded {
    /// The pod port.
    pub port: u16,
    /// The client's request id.
    pub request_id: String,
    /// The pair's queues (see the module docs).
    pub peer: Peer,
}

/// A served port-forward connection.
#[derive(Debug)]
pub struct Connection {
    /// Each complete pair, in order.
    pub pairs: mpsc::Receiver<Forwarded>,
    /// Drop to tear the connection down.
    pub shutdown: oneshot::Sender<()>,
    /// Resolves when the connection is closed.
    pub done: JoinHandle<Result<(), PeerError>>,
}

/// Serves one kubectl port-forward connection (after the 101). See the module docs.
pub fn serve<T>(io: T) -> Connection
where
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (pairs_tx, pairs) = mpsc::channel(ANNOUNCE_DEPTH);
    let (shutdown, stop) = oneshot::channel();
    let span = info_span!("portforward_server");
    let done = tokio::spawn(run(io, pairs_tx, stop).instrument(span));
    Connection {
        pairs,
        shutdown,
        done,
    }
}

type Commands = Cmd<std::convert::Infallible>;

async fn run<T>(
    io: T,
    pairs_tx: mpsc::Sender<Forwarded>,
    mut stop: oneshot::Receiver<()>,
) -> Result<(), PeerError>
where
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (routed, router) = mux::router(Some(pairs_tx));
    let (cmd_tx, mut cmd_rx) = mpsc::channel::<Commands>(CMD_QUEUE_DEPTH);
    let mut conn: Conn<T, Routed<Forwarded>> = Conn::new(io, routed);
    let mut server = Server {
        cmds: cmd_tx,
        assembler: Assembler::new(),
        streams: Streams::default(),
        pairs: HashMap::new(),
        last_client_id: 0,
        pings: EarlyPings::new(),
        invalid_resets: InvalidStreamResets::default(),
    };
    let mut tick = tokio::time::interval_at(Instant::now() + HOUSEKEEPING, HOUSEKEEPING);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let result = loop {
        let event = match conn
            .next_event(Some(&mut cmd_rx), Some(&mut tick), None)
            .await
        {
            Ok(e) => e,
            Err(e) => break Err(e),
        };
        let step = match event {
            Event::Frame(frame) => server.on_frame(&mut conn, frame),
            Event::Outgoing(Some(Cmd::Out { key, msg })) => {
                server.on_outgoing(&mut conn, key, msg);
                Ok(true)
            }
            Event::Outgoing(Some(Cmd::Request(never))) => match never {},
            // The driver holds a sender itself: the queue never closes under it.
            Event::Outgoing(None) => Ok(true),
            Event::Tick => {
                // Dropped (or used): either way the other side is gone.
                if !matches!(stop.try_recv(), Err(oneshot::error::TryRecvError::Empty)) {
                    debug!("upstream gone; closing the client connection");
                    server.reset_all(&mut conn);
                    break Ok(());
                }
                for id in server.assembler.expired(Instant::now()) {
                    debug!(stream = id, "incomplete pair timed out");
                    server.streams.remove(id);
                    conn.reset(id, RstStatus::CANCEL);
                }
                Ok(true)
            }
            Event::Deadline => Ok(true),
            Event::ReadClosed { clean } => {
                if clean {
                    Ok(false)
                } else {
                    Err(PeerError::new(
                        PeerErrorKind::Protocol,
                        "client closed the connection inside a frame",
                    ))
                }
            }
        };
        match step {
            Ok(true) => {}
            Ok(false) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    server.end_all(&mut conn);
    if let Err(e) = &result {
        debug!(error = %e, "port-forward connection failed");
        if matches!(e.kind(), PeerErrorKind::Protocol | PeerErrorKind::Limit) {
            conn.goaway(server.last_client_id, GoAwayStatus::PROTOCOL_ERROR);
        }
    } else {
        conn.goaway(server.last_client_id, GoAwayStatus::OK);
    }
    let closed = conn.close().await;
    drop(conn);
    let _ = router.await;
    result.and(closed)
}

/// One live pair.
#[derive(Debug)]
struct Live {
    pair: Pair,
    /// Its `incoming` was ended.
    ended: bool,
}

#[derive(Debug)]
struct Server {
    cmds: mpsc::Sender<Commands>,
    assembler: Assembler,
    streams: Streams,
    pairs: HashMap<PairKey, Live>,
    last_client_id: StreamId,
    pings: EarlyPings,
    /// RST_STREAM INVALID_STREAM sent (see [`MAX_INVALID_STREAM_RESETS`](crate::spdy::MAX_INVALID_STREAM_RESETS)).
    invalid_resets: InvalidStreamResets,
}

impl Server {
    /// Handles a frame; `Ok(false)` ends the connection.
    fn on_frame<T: AsyncRead + AsyncWrite>(
        &mut self,
        conn: &mut Conn<T, Routed<Forwarded>>,
        frame: Frame,
    ) -> Result<bool, PeerError> {
        match frame {
            Frame::SynStream(syn) => self.on_syn_stream(conn, syn)?,
            Frame::Data(d) => match self.streams.on_data(d.stream_id, d.fin)? {
                DataCheck::Unknown => {
                    if d.stream_id > self.last_client_id {
                        // A 16-byte reset for an 8-byte frame: answered a bounded number
                        // of times, or a client could make us write twice what it sends.
                        self.invalid_resets.spend()?;
                        debug!(stream = d.stream_id, "data for a stream never opened");
                        conn.reset(d.stream_id, RstStatus::INVALID_STREAM);
                    }
                }
                DataCheck::Dropped => {}
                DataCheck::Take(StreamKind::Data, Some(key)) => {
                    mux::deliver_data(conn, key, Channel::Stdin, d.payload);
                    if d.fin {
                        conn.deliver(Routed::Msg {
                            key,
                            msg: Msg::Close(Channel::Stdin),
                        });
                    }
                }
                DataCheck::Take(StreamKind::Data, None) => {
                    // Bytes before the pair is complete have nowhere to go.
                    debug!(
                        stream = d.stream_id,
                        "data before the error stream; pair refused"
                    );
                    for id in self.assembler.abandon(d.stream_id) {
                        self.streams.remove(id);
                        conn.reset(id, RstStatus::PROTOCOL_ERROR);
                    }
                }
                DataCheck::Take(StreamKind::Error, _) => {
                    debug!(
                        bytes = d.payload.len(),
                        "client wrote on an error stream; dropped"
                    );
                }
            },
            Frame::RstStream(rst) => {
                debug!(
                    stream = rst.stream_id,
                    status = rst.status.code(),
                    "client reset a stream"
                );
                match self.streams.on_reset(rst.stream_id) {
                    Some((StreamKind::Data, Some(key), was_open)) => {
                        // kubectl gave the connection up: upstream gets a FIN, then the
                        // pair ends (its pipeline cancels the upstream pair).
                        if was_open {
                            conn.deliver(Routed::Msg {
                                key,
                                msg: Msg::Close(Channel::Stdin),
                            });
                        }
                        self.end_pair(conn, key);
                    }
                    Some((_, None, _)) => {
                        for id in self.assembler.abandon(rst.stream_id) {
                            if self.streams.remove(id).is_some() && id != rst.stream_id {
                                conn.reset(id, RstStatus::CANCEL);
                            }
                        }
                    }
                    Some((StreamKind::Error, Some(_), _)) | None => {}
                }
            }
            Frame::Ping(ping) => self.pings.on_ping(conn, ping)?,
            Frame::GoAway(g) => {
                debug!(last_good = g.last_good_stream_id, "client sent goaway");
                conn.stop_reading();
                return Ok(false);
            }
            Frame::SynReply(_) => return Err(protocol_error("syn_reply from the client")),
            Frame::Headers(h) => {
                conn.inflate(&h.header_block)?;
            }
            Frame::Settings(_) | Frame::WindowUpdate(_) => {}
        }
        Ok(true)
    }

    fn on_syn_stream<T: AsyncRead + AsyncWrite>(
        &mut self,
        conn: &mut Conn<T, Routed<Forwarded>>,
        syn: SynStream,
    ) -> Result<(), PeerError> {
        // Inflate first, always: the zlib stream spans every header block.
        let headers = conn.inflate(&syn.header_block)?;
        let id = syn.stream_id;
        if !conn.accept_client_stream(id, &mut self.last_client_id) {
            return Ok(());
        }
        let added = StreamHeaders::parse(id, &headers)
            .and_then(|h| Ok((h.kind, self.assembler.add(id, h, Instant::now())?)));
        let (kind, pair) = match added {
            Ok(added) => added,
            Err(why) => {
                debug!(stream = id, %why, "stream refused");
                conn.reset(id, RstStatus::REFUSED_STREAM);
                return Ok(());
            }
        };
        let block = conn.deflate(&HeaderBlock::new())?;
        conn.send(&Frame::SynReply(SynReply {
            stream_id: id,
            fin: false,
            header_block: block,
        }));
        self.pings.stream_opened(conn);
        let mut stream = Stream::new(kind, None, true);
        stream.remote_fin = syn.fin;
        self.streams.insert(id, stream);
        if let Some(pair) = pair {
            self.start_pair(conn, pair);
        }
        Ok(())
    }

    fn start_pair<T: AsyncRead + AsyncWrite>(
        &mut self,
        conn: &mut Conn<T, Routed<Forwarded>>,
        pair: Pair,
    ) {
        let key = pair.data;
        debug!(request = %pair.request_id, port = pair.port, "pair complete");
        let q = mux::pair_queues(key, &self.cmds);
        let forwarded = Forwarded {
            port: pair.port,
            request_id: pair.request_id.clone(),
            peer: Peer {
                incoming: q.incoming,
                outgoing: q.outgoing,
                done: q.done,
            },
        };
        conn.deliver(Routed::Open {
            key,
            tx: q.incoming_tx,
            announce: Some(forwarded),
        });
        for id in [pair.error, pair.data] {
            if let Some(s) = self.streams.get_mut(id) {
                s.pair = Some(key);
            }
        }
        let data_fin = self.streams.get(pair.data).is_some_and(|s| s.remote_fin);
        self.pairs.insert(key, Live { pair, ended: false });
        if data_fin {
            conn.deliver(Routed::Msg {
                key,
                msg: Msg::Close(Channel::Stdin),
            });
        }
    }

    fn on_outgoing<T: AsyncRead + AsyncWrite>(
        &mut self,
        conn: &mut Conn<T, Routed<Forwarded>>,
        key: PairKey,
        msg: Option<Msg>,
    ) {
        let Some(live) = self.pairs.get(&key) else {
            return;
        };
        let (error, data) = (live.pair.error, live.pair.data);
        match msg {
            Some(Msg::Data(f)) if f.channel == Channel::Stdout => {
                self.streams.send(conn, data, f.bytes, false)
            }
            Some(Msg::Data(f)) if f.channel == Channel::Error => {
                // The kubelet writes a failure's message as text, nothing on success.
                let status = Status::from_error_stream(Protocol::V4, &f.bytes);
                if let Some(text) = status.to_error_stream(Protocol::V1) {
                    self.streams.send(conn, error, text, false);
                }
            }
            Some(Msg::Close(Channel::Stdout)) => self.streams.send(conn, data, Bytes::new(), true),
            Some(other) => debug!(
                ?other,
                "outgoing message for no port-forward stream dropped"
            ),
            None => {
                // The pipeline is done with the pair: finish both streams, data first.
                self.streams.send(conn, data, Bytes::new(), true);
                self.streams.send(conn, error, Bytes::new(), true);
                self.end_pair(conn, key);
                if let Some(live) = self.pairs.remove(&key) {
                    self.assembler.finished(&live.pair.request_id);
                    self.streams.remove(error);
                    self.streams.remove(data);
                }
            }
        }
    }

    /// Ends the pair's `incoming` (once).
    fn end_pair<T: AsyncRead + AsyncWrite>(
        &mut self,
        conn: &mut Conn<T, Routed<Forwarded>>,
        key: PairKey,
    ) {
        if let Some(live) = self.pairs.get_mut(&key)
            && !live.ended
        {
            live.ended = true;
            conn.deliver(Routed::End { key });
        }
    }

    /// The connection is ending: every pair's `incoming` ends.
    fn end_all<T: AsyncRead + AsyncWrite>(&mut self, conn: &mut Conn<T, Routed<Forwarded>>) {
        let keys: Vec<PairKey> = self.pairs.keys().copied().collect();
        for key in keys {
            self.end_pair(conn, key);
        }
        conn.end_incoming();
    }

    /// RST CANCEL on every stream we did not finish.
    fn reset_all<T: AsyncRead + AsyncWrite>(&mut self, conn: &mut Conn<T, Routed<Forwarded>>) {
        let ids = self.streams.ids();
        self.streams.reset_unfinished(conn, ids, RstStatus::CANCEL);
    }
}
