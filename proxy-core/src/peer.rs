//! A running protocol driver, seen from the session pipeline.
//!
//! Every transport (SPDY or WebSocket, server or client role, and the simulated API server's
//! local process) is driven by its own task and exposed as a [`Peer`]: two bounded queues of
//! [`Msg`]s and a handle that resolves when the driver is done. The bounded queues are the
//! only buffering between a socket and the pipeline, so backpressure reaches the socket.
//!
//! # The contract every driver keeps
//!
//! * `incoming` yields, in wire order, the data the peer sent on its channels and a
//!   [`Msg::Close`] when it half-closes one. It ends (`recv()` returns `None`) when the
//!   connection is finished, for whatever reason; the reason is in `done`.
//! * A driver in the *client* role (talking to an API server) collects the error channel and
//!   delivers it once, as a `Frame { channel: Error, .. }` holding a v4 JSON `Status`
//!   (see [`crate::status`]), before `incoming` ends. If the server vanished without a status,
//!   no error frame is delivered: the pipeline then fails the session closed.
//! * A driver in the *server* role (talking to kubectl) writes `outgoing` frames to the client;
//!   a `Frame { channel: Error, .. }` holds a v4 JSON `Status`, which the driver re-encodes for
//!   the negotiated protocol version.
//! * When every `outgoing` sender is dropped, the driver finishes cleanly: it writes what is
//!   queued, then closes the way the protocol expects (SPDY: FIN on open streams, GOAWAY;
//!   WebSocket: a close frame with code 1000) and shuts the socket.

use std::fmt;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::channel::Msg;

/// Messages held in each direction of a peer's queues. With frames of at most
/// [`MAX_FRAME_LEN`] bytes this bounds the memory a slow reader can pin per direction.
pub const QUEUE_DEPTH: usize = 8;

/// The largest payload a driver hands to the pipeline in one frame; longer wire frames are
/// delivered as several frames (slices of one buffer, no copy).
pub const MAX_FRAME_LEN: usize = 64 * 1024;

/// A running protocol driver. See the module docs for the contract.
#[derive(Debug)]
pub struct Peer {
    /// What the peer sent.
    pub incoming: mpsc::Receiver<Msg>,
    /// What to send to the peer. Drop it to finish the connection.
    pub outgoing: mpsc::Sender<Msg>,
    /// Resolves when the driver has closed the connection.
    pub done: JoinHandle<Result<(), PeerError>>,
}

impl Peer {
    /// A peer whose "driver" is the test itself: the pipeline's side and the driver's
    /// queues, for tests that play the driver by hand.
    #[cfg(test)]
    pub(crate) fn fake() -> (Peer, DriverQueues) {
        let (queues, driver) = Peer::channel();
        (queues.with_driver(tokio::spawn(async { Ok(()) })), driver)
    }

    /// Builds the queues for a driver: returns the pipeline's [`Peer`] (minus `done`) and the
    /// driver's ends. Drivers call this, spawn themselves, and fill in `done`.
    pub fn channel() -> (PeerQueues, DriverQueues) {
        let (in_tx, in_rx) = mpsc::channel(QUEUE_DEPTH);
        let (out_tx, out_rx) = mpsc::channel(QUEUE_DEPTH);
        (
            PeerQueues {
                incoming: in_rx,
                outgoing: out_tx,
            },
            DriverQueues {
                to_pipeline: in_tx,
                from_pipeline: out_rx,
            },
        )
    }
}

/// The pipeline's ends of a driver's queues, before the driver is spawned.
#[derive(Debug)]
pub struct PeerQueues {
    /// What the peer sent.
    pub incoming: mpsc::Receiver<Msg>,
    /// What to send to the peer.
    pub outgoing: mpsc::Sender<Msg>,
}

impl PeerQueues {
    /// Completes a [`Peer`] with the spawned driver's handle.
    pub fn with_driver(self, done: JoinHandle<Result<(), PeerError>>) -> Peer {
        Peer {
            incoming: self.incoming,
            outgoing: self.outgoing,
            done,
        }
    }
}

/// A driver's ends of its queues.
#[derive(Debug)]
pub struct DriverQueues {
    /// Where the driver delivers what the peer sent.
    pub to_pipeline: mpsc::Sender<Msg>,
    /// Where the driver takes what to send to the peer.
    pub from_pipeline: mpsc::Receiver<Msg>,
}

/// Why a driver stopped abnormally.
pub struct PeerError {
    kind: PeerErrorKind,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
    message: String,
}

/// The class of a [`PeerError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerErrorKind {
    /// The peer broke the protocol (malformed frame, bad sequence).
    Protocol,
    /// The peer exceeded a hard limit (frame size, header block size, stream count).
    Limit,
    /// The socket failed.
    Io,
    /// The peer did not answer in time.
    Timeout,
}

impl PeerError {
    /// A new error of `kind` with a human message (lengths and ids, never payload).
    pub fn new(kind: PeerErrorKind, message: impl Into<String>) -> PeerError {
        PeerError {
            kind,
            source: None,
            message: message.into(),
        }
    }

    /// Attaches the underlying error.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// An I/O failure.
    pub fn io(err: std::io::Error) -> PeerError {
        PeerError::new(PeerErrorKind::Io, "i/o error").with_source(err)
    }

    /// The class of the error.
    pub fn kind(&self) -> PeerErrorKind {
        self.kind
    }

    /// Whether the peer broke the protocol.
    pub fn is_protocol(&self) -> bool {
        self.kind == PeerErrorKind::Protocol
    }

    /// Whether a hard limit was exceeded.
    pub fn is_limit(&self) -> bool {
        self.kind == PeerErrorKind::Limit
    }
}

impl fmt::Debug for PeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerError")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Display for PeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PeerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as _)
    }
}
