//! Many [`Peer`]s over one SPDY connection: the queues between a port-forward driver and
//! its pairs' pipelines.
//!
//! A port-forward connection carries one pair of streams per forwarded TCP connection, and
//! each pair is its own session with its own pipeline. The driver's [`Conn`] delivers
//! [`Routed`] messages (tagged with the pair's key) into one bounded queue read by a small
//! router task, which hands each to its pair's bounded `incoming` queue. A pair whose
//! pipeline is slow therefore stops the router, then the connection's reads: backpressure
//! reaches the socket (there are no SPDY windows with Go peers, so a slow pair holds the
//! others back, as it does in spdystream). Pipelines send to a pair's own `outgoing` queue; a
//! forwarder task per pair tags those messages into the driver's one command queue
//! ([`Cmd::Out`]) and, once every sender of the pair is dropped, reports it finished
//! (`Cmd::Out` with `msg: None`). The forwarder's handle is the pair peer's `done`.
//!
//! [`Conn`]: crate::spdy::conn
//! [`Peer`]: crate::peer::Peer

use std::collections::HashMap;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::channel::{Channel, Frame, Msg};
use crate::peer::{MAX_FRAME_LEN, PeerError, QUEUE_DEPTH};
use crate::spdy::conn::Conn;

/// Identifies a pair on its connection (its data stream's id on the downstream side, a
/// counter on the upstream side).
pub(crate) type PairKey = u32;

/// Commands queued for the command queue a driver watches.
pub(crate) const CMD_QUEUE_DEPTH: usize = 64;
/// [`Routed`] messages the router may have waiting.
pub(crate) const ROUTE_QUEUE_DEPTH: usize = 64;

/// What a driver delivers toward its pairs, in wire order.
#[derive(Debug)]
pub(crate) enum Routed<A> {
    /// A new pair: its `incoming` sender, and a value to announce once it is registered.
    Open {
        key: PairKey,
        tx: mpsc::Sender<Msg>,
        announce: Option<A>,
    },
    /// A message for a pair.
    Msg { key: PairKey, msg: Msg },
    /// The pair's `incoming` ends.
    End { key: PairKey },
}

/// What a driver's command queue carries.
#[derive(Debug)]
pub(crate) enum Cmd<R> {
    /// A pair's pipeline sent `msg`; `None` once it dropped every sender.
    Out { key: PairKey, msg: Option<Msg> },
    /// A role-specific request (the upstream side's "open a pair").
    Request(R),
}

/// Starts the router; announcements go to `announce` (awaited: a slow taker slows the
/// connection). It ends when the driver drops its sender, dropping every pair's `incoming`
/// sender with it.
pub(crate) fn router<A: Send + 'static>(
    announce_to: Option<mpsc::Sender<A>>,
) -> (mpsc::Sender<Routed<A>>, JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<Routed<A>>(ROUTE_QUEUE_DEPTH);
    let task = tokio::spawn(async move {
        let mut pairs: HashMap<PairKey, mpsc::Sender<Msg>> = HashMap::new();
        while let Some(routed) = rx.recv().await {
            match routed {
                Routed::Open { key, tx, announce } => {
                    pairs.insert(key, tx);
                    if let (Some(value), Some(to)) = (announce, &announce_to) {
                        // A taker that is gone drops the pair: its queues close.
                        if to.send(value).await.is_err() {
                            pairs.remove(&key);
                        }
                    }
                }
                Routed::Msg { key, msg } => {
                    let gone = match pairs.get(&key) {
                        Some(tx) => tx.send(msg).await.is_err(),
                        None => false,
                    };
                    if gone {
                        pairs.remove(&key);
                    }
                }
                Routed::End { key } => {
                    pairs.remove(&key);
                }
            }
        }
    });
    (tx, task)
}

/// A new pair's queues: the pipeline's `incoming` receiver and `outgoing` sender, the
/// `incoming` sender to register with the router, and the forwarder's handle.
pub(crate) struct PairQueues {
    pub(crate) incoming: mpsc::Receiver<Msg>,
    pub(crate) incoming_tx: mpsc::Sender<Msg>,
    pub(crate) outgoing: mpsc::Sender<Msg>,
    pub(crate) done: JoinHandle<Result<(), PeerError>>,
}

/// Builds a pair's queues and spawns its forwarder into `cmds`.
pub(crate) fn pair_queues<R: Send + 'static>(
    key: PairKey,
    cmds: &mpsc::Sender<Cmd<R>>,
) -> PairQueues {
    let (incoming_tx, incoming) = mpsc::channel(QUEUE_DEPTH);
    let (outgoing, mut out_rx) = mpsc::channel::<Msg>(QUEUE_DEPTH);
    let cmds = cmds.clone();
    let done = tokio::spawn(async move {
        while let Some(msg) = out_rx.recv().await {
            let out = Cmd::Out {
                key,
                msg: Some(msg),
            };
            if cmds.send(out).await.is_err() {
                // The driver is gone; the pair is over.
                return Ok(());
            }
        }
        let _ = cmds.send(Cmd::Out { key, msg: None }).await;
        Ok(())
    });
    PairQueues {
        incoming,
        incoming_tx,
        outgoing,
        done,
    }
}

/// Delivers `payload` to pair `key` on `channel`, as frames of at most [`MAX_FRAME_LEN`]
/// bytes (slices of the same buffer).
pub(crate) fn deliver_data<T: AsyncRead + AsyncWrite, A>(
    conn: &mut Conn<T, Routed<A>>,
    key: PairKey,
    channel: Channel,
    mut payload: Bytes,
) {
    while !payload.is_empty() {
        let chunk = payload.split_to(payload.len().min(MAX_FRAME_LEN));
        conn.deliver(Routed::Msg {
            key,
            msg: Msg::Data(Frame::new(channel, chunk)),
        });
    }
}
