//! Connection machinery shared by both driver roles.
//!
//! One task per connection owns the read half, the decoder, both zlib contexts and the
//! queue to the pipeline; a second task owns the write half and is fed encoded frames
//! through a bounded queue, so reading never waits for a pending write to finish.
//! [`Conn::next_event`] is the single `select!`: it delivers queued messages to the
//! pipeline, reads and decodes the socket, and reports outgoing messages, timer ticks and
//! deadlines to the role's loop. While anything is waiting for the pipeline (its queue is
//! full) the socket is not read: that is how backpressure reaches the peer. Outgoing
//! messages keep flowing meanwhile, so two drivers joined by a pipeline cannot deadlock.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter, ReadHalf};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, Interval};
use tracing::debug;

use super::Error;
use super::decoder::FrameDecoder;
use super::frame::{Data, Frame, GoAway, GoAwayStatus, RstStatus, RstStream, StreamId};
use super::header_block::HeaderBlock;
use super::zlib::{HeaderCompressor, HeaderDecompressor};
use crate::channel::{Channel, Frame as ChannelFrame, Msg};
use crate::peer::{MAX_FRAME_LEN, PeerError, PeerErrorKind};

/// Encoded chunks queued for the writer task (heads and payload slices count separately).
pub(crate) const WRITE_QUEUE_DEPTH: usize = 64;
/// Minimum free space kept in the read buffer before each read.
const READ_CHUNK: usize = 16 * 1024;
/// After our GOAWAY, how long we keep reading (and discarding) so that closing the socket
/// with unread bytes cannot turn into a TCP reset that destroys our last frames.
const LINGER: Duration = Duration::from_secs(2);
/// Buffer size of the write half.
const WRITE_BUFFER: usize = 64 * 1024;
/// Above this many bytes waiting to be written, no more outgoing messages are taken from
/// the pipeline (its queue then fills up: backpressure towards the pipeline).
pub(crate) const OUT_HIGH_WATER: usize = 256 * 1024;
/// Above this many bytes waiting to be written (replies to a peer that sends but never
/// reads), the socket is not read either.
pub(crate) const OUT_HARD_LIMIT: usize = 1024 * 1024;
/// How long closing may wait for the peer to take our last frames.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// What happened on the connection.
#[derive(Debug)]
pub(crate) enum Event<O = Msg> {
    /// A frame from the peer.
    Frame(Frame),
    /// A message from the pipeline; `None` once every sender is dropped.
    Outgoing(Option<O>),
    /// The timer passed to `next_event` ticked.
    Tick,
    /// The deadline passed to `next_event` passed.
    Deadline,
    /// The peer closed its side; `clean` is false when it stopped inside a frame.
    ReadClosed {
        /// Whether the close fell on a frame boundary.
        clean: bool,
    },
}

/// One SPDY connection's state shared by both roles. `M` is what is delivered to the
/// pipeline side: a [`Msg`] for the one-session drivers, a routed message for port-forward's
/// many pairs per connection.
pub(crate) struct Conn<T, M = Msg> {
    reader: ReadHalf<T>,
    buf: BytesMut,
    decoder: FrameDecoder,
    inflate: HeaderDecompressor,
    deflate: HeaderCompressor,
    writer: Option<mpsc::Sender<Bytes>>,
    /// Encoded chunks not yet handed to the writer task, and their total length.
    out: VecDeque<Bytes>,
    out_bytes: usize,
    writer_task: Option<JoinHandle<std::io::Result<()>>>,
    pending: VecDeque<M>,
    to_pipeline: Option<mpsc::Sender<M>>,
    /// Drop `to_pipeline` once `pending` is delivered.
    ending: bool,
    /// Whether we still read and decode the socket.
    read_open: bool,
}

impl<T, M> std::fmt::Debug for Conn<T, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("buffered", &self.buf.len())
            .field("pending", &self.pending.len())
            .field("read_open", &self.read_open)
            .finish()
    }
}

impl<T: AsyncRead + AsyncWrite + Send + 'static, M> Conn<T, M> {
    /// Splits `io` and starts the writer task.
    pub(crate) fn new(io: T, to_pipeline: mpsc::Sender<M>) -> Conn<T, M> {
        let (reader, writer) = tokio::io::split(io);
        let (tx, rx) = mpsc::channel(WRITE_QUEUE_DEPTH);
        Conn {
            reader,
            buf: BytesMut::with_capacity(READ_CHUNK),
            decoder: FrameDecoder::new(),
            inflate: HeaderDecompressor::new(),
            deflate: HeaderCompressor::new(),
            writer: Some(tx),
            out: VecDeque::new(),
            out_bytes: 0,
            writer_task: Some(tokio::spawn(write_loop(writer, rx))),
            pending: VecDeque::new(),
            to_pipeline: Some(to_pipeline),
            ending: false,
            read_open: true,
        }
    }
}

impl<T: AsyncRead + AsyncWrite> Conn<T, Msg> {
    /// Queues `payload` for the pipeline as frames of at most [`MAX_FRAME_LEN`] bytes
    /// (slices of the same buffer).
    pub(crate) fn deliver_data(&mut self, channel: Channel, mut payload: Bytes) {
        while !payload.is_empty() {
            let chunk = payload.split_to(payload.len().min(MAX_FRAME_LEN));
            self.deliver(Msg::Data(ChannelFrame::new(channel, chunk)));
        }
    }
}

impl<T: AsyncRead + AsyncWrite, M> Conn<T, M> {
    /// Waits for the next event. `outgoing`, `tick` and `deadline` are only watched when
    /// given; the socket only while nothing waits for the pipeline.
    pub(crate) async fn next_event<O>(
        &mut self,
        outgoing: Option<&mut mpsc::Receiver<O>>,
        tick: Option<&mut Interval>,
        deadline: Option<Instant>,
    ) -> Result<Event<O>, PeerError> {
        let mut outgoing = outgoing;
        let mut tick = tick;
        loop {
            if self.pending.is_empty() {
                if self.ending {
                    self.to_pipeline = None;
                }
                if self.read_open
                    && let Some(frame) = self.decoder.decode(&mut self.buf)?
                {
                    return Ok(Event::Frame(frame));
                }
            }
            if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
                self.buf.reserve(READ_CHUNK);
            }
            let delivering = !self.pending.is_empty();
            let reading = !delivering && self.read_open && self.out_bytes < OUT_HARD_LIMIT;
            let writing = !self.out.is_empty() && self.writer.is_some();
            let taking = outgoing.is_some() && self.out_bytes < OUT_HIGH_WATER;
            let mut pipeline_gone = false;
            let mut writer_gone = false;
            tokio::select! {
                permit = reserve_write(&self.writer), if writing => match permit {
                    Some(permit) => {
                        if let Some(bytes) = self.out.pop_front() {
                            self.out_bytes -= bytes.len();
                            permit.send(bytes);
                        }
                    }
                    None => writer_gone = true,
                },
                permit = reserve(&self.to_pipeline), if delivering => match permit {
                    Some(permit) => {
                        if let Some(msg) = self.pending.pop_front() {
                            permit.send(msg);
                        }
                    }
                    None => pipeline_gone = true,
                },
                read = self.reader.read_buf(&mut self.buf), if reading => match read {
                    Ok(0) => {
                        self.read_open = false;
                        let clean = self.decoder.at_boundary() && self.buf.is_empty();
                        return Ok(Event::ReadClosed { clean });
                    }
                    Ok(_) => {}
                    Err(e) => return Err(PeerError::io(e)),
                },
                msg = recv(outgoing.as_deref_mut()), if taking => {
                    return Ok(Event::Outgoing(msg));
                }
                _ = ticked(tick.as_deref_mut()), if tick.is_some() => return Ok(Event::Tick),
                _ = expired(deadline), if deadline.is_some() => return Ok(Event::Deadline),
                else => return Err(PeerError::new(PeerErrorKind::Io, "spdy connection has nothing left to wait for")),
            }
            if writer_gone {
                self.writer_failed().await?;
            }
            if pipeline_gone {
                // The pipeline stopped listening: nothing more to deliver.
                self.pending.clear();
                self.to_pipeline = None;
            }
        }
    }

    /// Inflates a header block in frame order (every block must pass through here).
    pub(crate) fn inflate(&mut self, block: &[u8]) -> Result<HeaderBlock, Error> {
        self.inflate.decompress(block)
    }

    /// Compresses a header block for our next SYN_STREAM / SYN_REPLY.
    pub(crate) fn deflate(&mut self, block: &HeaderBlock) -> Result<Bytes, PeerError> {
        Ok(self.deflate.compress(block)?)
    }

    /// Queues a message for the pipeline (dropped once incoming has ended).
    pub(crate) fn deliver(&mut self, msg: M) {
        if self.to_pipeline.is_some() && !self.ending {
            self.pending.push_back(msg);
        }
    }

    /// Ends `incoming` once what is queued has been delivered.
    pub(crate) fn end_incoming(&mut self) {
        self.ending = true;
    }

    /// Stops reading the socket (after the peer's GOAWAY, like spdystream).
    pub(crate) fn stop_reading(&mut self) {
        self.read_open = false;
    }

    /// Whether the socket is still read.
    pub(crate) fn reading(&self) -> bool {
        self.read_open
    }

    /// Encodes and queues a control frame.
    pub(crate) fn send(&mut self, frame: &Frame) {
        let mut out = BytesMut::with_capacity(64);
        frame.encode(&mut out);
        self.write(out.freeze());
    }

    /// Answers `stream_id` with RST_STREAM `status`.
    pub(crate) fn reset(&mut self, stream_id: StreamId, status: RstStatus) {
        self.send(&Frame::RstStream(RstStream { stream_id, status }));
    }

    /// Takes `id` as the client's newest stream when it is odd and above `last` (client
    /// stream ids only increase, SPDY/3.1 §2.3.2); otherwise resets it with PROTOCOL_ERROR
    /// and returns false.
    pub(crate) fn accept_client_stream(&mut self, id: StreamId, last: &mut StreamId) -> bool {
        if id.is_multiple_of(2) || id <= *last {
            debug!(stream = id, "stream id out of order");
            self.reset(id, RstStatus::PROTOCOL_ERROR);
            return false;
        }
        *last = id;
        true
    }

    /// Queues DATA frames carrying `payload` (split at [`MAX_FRAME_LEN`], FIN on the last);
    /// the payload goes to the writer as the same `Bytes`, never copied.
    pub(crate) fn send_data(&mut self, stream_id: StreamId, mut payload: Bytes, fin: bool) {
        loop {
            let chunk = payload.split_to(payload.len().min(MAX_FRAME_LEN));
            let last = payload.is_empty();
            if chunk.is_empty() && !(last && fin) {
                return;
            }
            let data = Data {
                stream_id,
                fin: fin && last,
                payload: chunk,
            };
            let mut head = BytesMut::with_capacity(8);
            data.head().encode(&mut head);
            self.write(head.freeze());
            if !data.payload.is_empty() {
                self.write(data.payload);
            }
            if last {
                return;
            }
        }
    }

    fn write(&mut self, bytes: Bytes) {
        if self.writer.is_some() {
            self.out_bytes += bytes.len();
            self.out.push_back(bytes);
        }
    }

    /// The writer task ended early: the socket failed. That is an error only while the
    /// peer had not closed its side (late writes failing after it left are expected).
    async fn writer_failed(&mut self) -> Result<(), PeerError> {
        self.writer = None;
        self.out.clear();
        self.out_bytes = 0;
        let err = self.join_writer().await;
        if self.read_open {
            return Err(err.unwrap_or_else(|| PeerError::new(PeerErrorKind::Io, "writer stopped")));
        }
        Ok(())
    }

    async fn join_writer(&mut self) -> Option<PeerError> {
        match self.writer_task.take()?.await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(PeerError::io(e)),
            Err(e) => Some(PeerError::new(PeerErrorKind::Io, "writer task failed").with_source(e)),
        }
    }

    /// Sends GOAWAY.
    pub(crate) fn goaway(&mut self, last_good_stream_id: StreamId, status: GoAwayStatus) {
        let frame = Frame::GoAway(GoAway {
            last_good_stream_id,
            status,
        });
        self.send(&frame);
    }

    /// Hands every queued chunk to the writer, then waits for it to flush and shut down.
    async fn flush_out(&mut self) -> Option<PeerError> {
        if let Some(writer) = self.writer.take() {
            for bytes in self.out.drain(..) {
                if writer.send(bytes).await.is_err() {
                    break;
                }
            }
            self.out_bytes = 0;
        }
        self.join_writer().await
    }

    /// Ends incoming, flushes and shuts down the write half, then lingers reading (and
    /// discarding) until the peer closes or [`LINGER`] passes. Write errors count only
    /// while the peer was still there.
    pub(crate) async fn close(&mut self) -> Result<(), PeerError> {
        self.pending.clear();
        self.to_pipeline = None;
        let flushed = tokio::time::timeout(CLOSE_TIMEOUT, self.flush_out()).await;
        let err = match flushed {
            Ok(err) => err,
            Err(_) => Some(PeerError::new(
                PeerErrorKind::Timeout,
                "peer did not take our last frames",
            )),
        };
        if self.read_open {
            let reader = &mut self.reader;
            let mut scratch = vec![0u8; READ_CHUNK];
            let _ = tokio::time::timeout(LINGER, async {
                while matches!(reader.read(&mut scratch).await, Ok(n) if n > 0) {}
            })
            .await;
        }
        match err {
            Some(e) if self.read_open => Err(e),
            _ => Ok(()),
        }
    }
}

async fn reserve_write(tx: &Option<mpsc::Sender<Bytes>>) -> Option<mpsc::Permit<'_, Bytes>> {
    match tx {
        Some(tx) => tx.reserve().await.ok(),
        None => None,
    }
}

async fn reserve<M>(tx: &Option<mpsc::Sender<M>>) -> Option<mpsc::Permit<'_, M>> {
    match tx {
        Some(tx) => tx.reserve().await.ok(),
        None => None,
    }
}

async fn recv<O>(rx: Option<&mut mpsc::Receiver<O>>) -> Option<O> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn ticked(tick: Option<&mut Interval>) {
    match tick {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}

async fn expired(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// The writer task: writes queued chunks, flushing whenever the queue runs dry, and shuts
/// the write half down once every sender is gone.
async fn write_loop<W: AsyncWrite>(
    writer: W,
    mut rx: mpsc::Receiver<Bytes>,
) -> std::io::Result<()> {
    let w = BufWriter::with_capacity(WRITE_BUFFER, writer);
    let mut w = std::pin::pin!(w);
    while let Some(bytes) = rx.recv().await {
        w.write_all(&bytes).await?;
        while let Ok(more) = rx.try_recv() {
            w.write_all(&more).await?;
        }
        w.flush().await?;
    }
    w.shutdown().await
}
