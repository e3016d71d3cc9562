//! The port-forward server driver fed a kubectl-like client, with the harness playing the
//! proxy behind it.
//!
//! The client's bytes are mostly structured ([`wire`]): SYN_STREAMs with chosen headers
//! through one compression context, DATA, RST_STREAM, PING, GOAWAY, raw runs and pauses, as
//! raw SPDY or inside the WebSocket tunnel. The harness takes every announced
//! [`Forwarded`] pair like the proxy would: it reads its `incoming`, echoes the bytes on
//! stdout for some pairs, then drops its `outgoing` (at the client's FIN, or once `incoming`
//! ends), optionally after `Close(Stdout)` and a failure status.

#[path = "portforward_wire.rs"]
mod wire;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use super::serve::{PIPE, count_read};
use crate::channel::{Channel, Frame, Msg};
use crate::peer::Peer;
use crate::portforward::pairs::StreamKind;
use crate::portforward::{Connection, Forwarded, MAX_PAIRS, Transport};
use crate::status::Status;
use wire::{Mode, Offered, Segment};

/// How long (in runtime time) the driver may take to end after the client's EOF, on top of
/// the script's pauses. On a paused-clock runtime this only fires when something is stuck.
const DEADLINE: Duration = Duration::from_secs(600);
/// A SPDY DATA frame's head: what the driver adds to each message the harness sends.
const DATA_HEAD: usize = 8;
/// The failure message the harness sends on the error channel (written as text).
const FAILURE: &str = "forwarding failed";
/// What the driver may write back beyond what the client sent and the harness answered:
/// the first SYN_REPLY's zlib header, the closing GOAWAY, the tunnel's close frame, the
/// [`MAX_INVALID_STREAM_RESETS`](crate::portforward::MAX_INVALID_STREAM_RESETS) resets (16 bytes each) for 8-byte DATA on streams never
/// opened.
const BACK_SLACK: usize = 1024;
/// What each valid stream the client opens may draw beyond a SYN_REPLY (no longer than its
/// SYN_STREAM): one more 16-byte frame, a RST_STREAM CANCEL when its pair times out or
/// the DATA FIN that ends it. Halves that time out are bounded in time: at most
/// [`MAX_PAIRS`] per [`crate::portforward::PAIR_TIMEOUT`].
const PER_STREAM: usize = 16;

/// Counters shared by the harness's tasks.
#[derive(Debug, Default)]
struct Stats {
    /// Pairs announced whose `outgoing` the harness still holds.
    live: AtomicUsize,
    /// Payload bytes delivered on the pairs' `incoming`.
    delivered: AtomicUsize,
    /// Bytes the harness sent on pairs (payload, text, plus a DATA head per message).
    answered: AtomicUsize,
}

/// Runs a kubectl-like script (see `wire`) against `portforward::serve`, over an in-memory
/// duplex. Properties: no panic; the driver ends after the client's EOF once the harness
/// has dropped what it holds (a stuck driver hits a virtual deadline); it announces at most
/// as many pairs as the client sent valid error and data streams, each matching an error
/// and a data stream sent with its port and request id, and never more than `MAX_PAIRS`
/// held at once; each pair's `incoming` is stdin data, then at most one `Close(Stdin)`; it
/// delivers at most the DATA payload sent on valid data streams; it writes back at most
/// `BACK_SLACK` plus what the client sent, what the harness answered and `PER_STREAM`
/// per valid stream (no amplification).
///
/// Call on a current-thread runtime with a paused clock.
pub async fn portforward_serve(data: &[u8]) {
    let out = run(data).await;
    tracing::trace!(
        announced = out.announced,
        delivered = out.delivered,
        back = out.back,
        "portforward_serve run"
    );
}

/// What one run saw (for the unit tests).
#[derive(Debug)]
struct Outcome {
    /// Pairs announced.
    announced: usize,
    /// Payload bytes delivered to pairs.
    delivered: usize,
    /// Bytes the driver wrote back.
    back: usize,
}

async fn run(data: &[u8]) -> Outcome {
    let script = wire::script(data);
    let offered = Offered::read(&script.spdy);
    let mode = script.mode;
    let sent = script.sent;
    let deadline = DEADLINE + script.paused;
    let transport = if mode.tunnel() {
        Transport::WebSocketTunnel
    } else {
        Transport::Spdy
    };
    let (client, server) = tokio::io::duplex(PIPE);
    let Connection {
        mut pairs,
        shutdown,
        done,
    } = transport.serve(server).await;
    let (rd, mut wr) = tokio::io::split(client);
    let segments = script.segments;
    let writer = tokio::spawn(async move {
        let mut shutdown = Some(shutdown);
        for segment in segments {
            match segment {
                // The driver may stop reading (error, GOAWAY); a failed write is expected.
                Segment::Bytes(bytes) => {
                    if wr.write_all(&bytes).await.is_err() {
                        break;
                    }
                }
                Segment::Pause(pause) => tokio::time::sleep(pause).await,
                Segment::Shutdown => shutdown = None,
            }
        }
        let _ = wr.shutdown().await;
        // Held until the driver is done unless the script dropped it.
        shutdown
    });
    let reader = count_read(rd);
    let stats = Arc::new(Stats::default());
    let run = async {
        let mut tasks = tokio::task::JoinSet::new();
        let mut announced = 0;
        while let Some(fwd) = pairs.recv().await {
            for kind in [StreamKind::Error, StreamKind::Data] {
                let stream = (kind, fwd.port, fwd.request_id.clone());
                assert!(
                    offered.streams.contains(&stream),
                    "pair {}:{} has no {} stream",
                    fwd.request_id,
                    fwd.port,
                    kind.name()
                );
            }
            let live = stats.live.fetch_add(1, Ordering::SeqCst) + 1;
            assert!(live <= MAX_PAIRS, "{live} pairs live at once");
            if mode.drop_pairs() {
                drop(fwd);
                stats.live.fetch_sub(1, Ordering::SeqCst);
            } else {
                tasks.spawn(forward(fwd, mode, announced, Arc::clone(&stats)));
            }
            announced += 1;
        }
        assert!(
            announced <= offered.max_pairs(),
            "{announced} pairs announced from {} error and {} data streams",
            offered.error_streams,
            offered.data_streams
        );
        while let Some(task) = tasks.join_next().await {
            task.expect("pair task panicked");
        }
        let _ = done.await.expect("driver task panicked");
        drop(writer.await.expect("writer"));
        (announced, reader.await.expect("reader"))
    };
    let (announced, back) = tokio::time::timeout(deadline, run)
        .await
        .unwrap_or_else(|_| panic!("{mode:?}: driver did not end after EOF"));
    let delivered = stats.delivered.load(Ordering::SeqCst);
    assert!(
        delivered <= offered.data_bytes,
        "delivered {delivered} bytes; {} sent on data streams",
        offered.data_bytes
    );
    let answered = stats.answered.load(Ordering::SeqCst);
    let streams = offered.error_streams + offered.data_streams;
    assert!(
        back <= BACK_SLACK + sent + answered + PER_STREAM * streams,
        "{mode:?}: wrote {back} bytes back for {sent} sent, {answered} answered, \
         {streams} streams"
    );
    Outcome {
        announced,
        delivered,
        back,
    }
}

/// The harness's side of one pair: reads `incoming`, echoes on stdout if `mode` says so for
/// the `n`th pair, and drops `outgoing` at the client's FIN (or when `incoming` ends).
async fn forward(fwd: Forwarded, mode: Mode, n: usize, stats: Arc<Stats>) {
    let Peer {
        mut incoming,
        outgoing,
        done,
    } = fwd.peer;
    let mut outgoing = Some(outgoing);
    let mut closed = false;
    while let Some(msg) = incoming.recv().await {
        match msg {
            Msg::Data(frame) => {
                assert_eq!(frame.channel, Channel::Stdin, "pair data not on stdin");
                assert!(!closed, "pair data after Close(Stdin)");
                stats
                    .delivered
                    .fetch_add(frame.bytes.len(), Ordering::SeqCst);
                if let (true, Some(out)) = (mode.echo(n), &outgoing) {
                    let len = frame.bytes.len();
                    let echo = Msg::Data(Frame::new(Channel::Stdout, frame.bytes));
                    answer(out, echo, len, &stats).await;
                }
            }
            Msg::Close(channel) => {
                assert_eq!(channel, Channel::Stdin, "pair closed a channel not stdin");
                assert!(!closed, "Close(Stdin) twice");
                closed = true;
                if !mode.hold() {
                    finish(&mut outgoing, mode, &stats).await;
                }
            }
        }
    }
    finish(&mut outgoing, mode, &stats).await;
    let _ = done.await.expect("pair forwarder panicked");
}

/// Sends `msg` (`len` bytes on the wire before the DATA head) and counts it.
async fn answer(out: &mpsc::Sender<Msg>, msg: Msg, len: usize, stats: &Stats) {
    if out.send(msg).await.is_ok() {
        stats.answered.fetch_add(len + DATA_HEAD, Ordering::SeqCst);
    }
}

/// Drops the pair's `outgoing` (once), after `Close(Stdout)` and a failure if `mode` says.
async fn finish(outgoing: &mut Option<mpsc::Sender<Msg>>, mode: Mode, stats: &Stats) {
    let Some(out) = outgoing.take() else {
        return;
    };
    if mode.close_stdout() {
        answer(&out, Msg::Close(Channel::Stdout), 0, stats).await;
    }
    if mode.fail() {
        let status = Status::failure("InternalError", FAILURE).to_json();
        let failure = Msg::Data(Frame::new(Channel::Error, status));
        answer(&out, failure, FAILURE.len(), stats).await;
    }
    drop(out);
    stats.live.fetch_sub(1, Ordering::SeqCst);
}

#[cfg(test)]
#[path = "portforward_tests.rs"]
mod tests;
