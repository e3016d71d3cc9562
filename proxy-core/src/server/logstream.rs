//! `pods/log` bodies as pipeline peers, so logs pass the same filters as exec output.
//!
//! [`source`] turns a streaming HTTP body into a server-role [`Peer`] that delivers
//! line-aware stdout frames and, at a clean end, a success status. [`sink`] turns a
//! client-role [`Peer`] back into a streaming HTTP body.
//!
//! Line-aware means a frame ends at a newline whenever one has arrived: complete lines go
//! on at once, while a trailing partial line is held back until its newline, until
//! [`PARTIAL_LINE_FLUSH`] passes (follow mode must show a prompt without a newline), or
//! until [`MAX_HELD`] bytes are held. Frames are slices of the received chunks: nothing is
//! copied.

use std::time::Duration;

use bytes::Bytes;
use http_body::Body;
use http_body_util::{BodyExt, StreamBody};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::channel::{Channel, Frame, Msg, Protocol};
use crate::peer::{MAX_FRAME_LEN, Peer, PeerError, PeerErrorKind};
use crate::server::{BoxError, ResponseBody};
use crate::status::Status;

/// How long a partial line may wait for its newline.
pub(crate) const PARTIAL_LINE_FLUSH: Duration = Duration::from_millis(100);
/// The most bytes of a partial line held back.
pub(crate) const MAX_HELD: usize = MAX_FRAME_LEN;

/// Splits a byte stream into frames that end at line boundaries where possible.
#[derive(Debug, Default)]
pub(crate) struct LineFramer {
    held: Vec<Bytes>,
    held_len: usize,
    held_since: Option<Instant>,
}

impl LineFramer {
    /// Takes a chunk; appends what may go on now to `out`.
    pub(crate) fn push(&mut self, chunk: Bytes, out: &mut Vec<Bytes>) {
        if chunk.is_empty() {
            return;
        }
        match chunk.iter().rposition(|&b| b == b'\n') {
            Some(pos) => {
                self.flush(out);
                out.push(chunk.slice(..=pos));
                if pos + 1 < chunk.len() {
                    self.hold(chunk.slice(pos + 1..));
                }
            }
            None => {
                self.hold(chunk);
                if self.held_len >= MAX_HELD {
                    self.flush(out);
                }
            }
        }
    }

    /// Releases everything held.
    pub(crate) fn flush(&mut self, out: &mut Vec<Bytes>) {
        out.append(&mut self.held);
        self.held_len = 0;
        self.held_since = None;
    }

    /// When the held partial line is due, if any.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.held_since.map(|t| t + PARTIAL_LINE_FLUSH)
    }

    fn hold(&mut self, bytes: Bytes) {
        self.held_len += bytes.len();
        self.held.push(bytes);
        self.held_since.get_or_insert_with(Instant::now);
    }
}

/// A server-role peer reading a log body.
pub(crate) fn source<B>(body: B) -> Peer
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: std::fmt::Display + Send,
{
    let (queues, driver) = Peer::channel();
    let handle = tokio::spawn(async move {
        let mut body = body;
        let to_pipeline = driver.to_pipeline;
        let mut from_pipeline = driver.from_pipeline;
        let mut framer = LineFramer::default();
        let mut out = Vec::new();
        loop {
            let deadline = framer.deadline();
            tokio::select! {
                frame = body.frame() => match frame {
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            framer.push(data, &mut out);
                        }
                    }
                    Some(Err(e)) => {
                        // No status: the pipeline fails the session closed.
                        let why = format!("log stream broke: {e}");
                        framer.flush(&mut out);
                        send_all(&to_pipeline, &mut out).await;
                        return Err(PeerError::new(PeerErrorKind::Io, why));
                    }
                    None => {
                        framer.flush(&mut out);
                        send_all(&to_pipeline, &mut out).await;
                        let status = Frame::new(Channel::Error, Status::success().to_json());
                        let _ = to_pipeline.send(Msg::Data(status)).await;
                        return Ok(());
                    }
                },
                _ = sleep_until(deadline), if deadline.is_some() => framer.flush(&mut out),
                // The pipeline ended the session: stop reading upstream.
                msg = from_pipeline.recv() => if msg.is_none() { return Ok(()) },
            }
            if !send_all(&to_pipeline, &mut out).await {
                return Ok(());
            }
        }
    });
    queues.with_driver(handle)
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

async fn send_all(to: &mpsc::Sender<Msg>, out: &mut Vec<Bytes>) -> bool {
    for bytes in out.drain(..) {
        if to
            .send(Msg::Data(Frame::new(Channel::Stdout, bytes)))
            .await
            .is_err()
        {
            return false;
        }
    }
    true
}

/// A client-role peer writing an HTTP body, and that body.
///
/// A session that ends in failure (a cap, upstream lost) appends a last line naming the
/// reason and then aborts the body, so the client sees a broken stream and not a clean end.
pub(crate) fn sink() -> (Peer, ResponseBody) {
    let (queues, driver) = Peer::channel();
    let (body_tx, body_rx) =
        mpsc::channel::<Result<hyper::body::Frame<Bytes>, BoxError>>(crate::peer::QUEUE_DEPTH);
    let handle = tokio::spawn(async move {
        // Held until the client goes away or the session ends: dropping it says "client gone".
        let _to_pipeline = driver.to_pipeline;
        let mut from_pipeline = driver.from_pipeline;
        loop {
            let msg = tokio::select! {
                msg = from_pipeline.recv() => msg,
                _ = body_tx.closed() => break,
            };
            match msg {
                Some(Msg::Data(Frame {
                    channel: Channel::Stdout | Channel::Stderr,
                    bytes,
                })) => {
                    if body_tx
                        .send(Ok(hyper::body::Frame::data(bytes)))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
                Some(Msg::Data(Frame {
                    channel: Channel::Error,
                    bytes,
                })) => {
                    let status = Status::from_error_stream(Protocol::V4, &bytes);
                    if !status.is_success() {
                        let line = format!("\n{}\n", status.message);
                        let _ = body_tx
                            .send(Ok(hyper::body::Frame::data(line.into())))
                            .await;
                        let _ = body_tx.send(Err(status.message.into())).await;
                    }
                }
                Some(_) => {}
                None => break,
            }
        }
        Ok(())
    });
    let stream = futures_util::stream::unfold(body_rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    (
        queues.with_driver(handle),
        StreamBody::new(stream).boxed_unsync(),
    )
}

#[cfg(test)]
mod tests;
