//! The one frame pipeline every exec/attach session runs through.
//!
//! A session joins two `Peer`s: the *client* (kubectl, in the server role of our drivers)
//! and the *server* (the API server, or the simulated one's local process). Two pump tasks,
//! one per direction, move [`Msg`]s through that direction's chain of [`Filter`]s. The
//! directions are independent so a stalled reader on one side never blocks the other
//! direction (a single select loop would deadlock a process that writes without reading).
//!
//! # Filters
//!
//! A [`Filter`] sees every message of its direction, in order, and decides what continues:
//! it may pass the message on, rewrite its bytes, drop it, or hold bytes back and release
//! them later (the redactor's carry-over). [`Filter::on_finish`] is its last chance to
//! release held bytes, and runs before the session's final status is delivered.
//! Any filter may end the session by returning [`EndSession`] with the `Status` the client
//! sees on its error channel; so may anyone holding an [`EndHandle`] (timers, caps).
//!
//! A filter that must bound how far the client runs ahead of it (the recorder, against its
//! store) returns a [`Ready`] future from [`Filter::ready`]; the pump awaits it before handing
//! the message over, so backpressure reaches the socket instead of memory growing.
//!
//! The error channel never reaches [`Filter::on_msg`]: the pump lifts it into the
//! session's final [`Status`], which filters see through [`Filter::on_end`] and which is
//! delivered to the client after every filter has flushed.
//!
//! # Failing closed
//!
//! If the server goes away without a status, the client gets a `Failure`, never a silent
//! success (kubectl over SPDY would otherwise exit 0). If the client goes away, the server
//! side is cancelled.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::sync::watch;
use tracing::debug;

pub use crate::channel::{Channel, Frame, Msg};
use crate::peer::Peer;
use crate::status::Status;
mod pump;

use pump::{DownEnd, Release, pump_to_client, pump_to_server, release_chain};

/// How long the pipeline waits for a driver to finish its closing handshake.
pub const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// After this long without input in a direction, filters that hold bytes back release what
/// they can ([`Filter::on_idle`]): a shell prompt or a keystroke's echo must show.
pub const IDLE_FLUSH: Duration = Duration::from_millis(10);

/// Which way a message travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the client (kubectl) to the server: stdin, resize.
    ToServer,
    /// From the server to the client: stdout, stderr.
    ToClient,
}

/// A filter ended the session; the client sees the status on its error channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndSession(Box<Status>);

impl EndSession {
    /// Ends the session with `status`.
    pub fn new(status: Status) -> EndSession {
        EndSession(Box::new(status))
    }

    /// The status the client will see.
    pub fn status(&self) -> &Status {
        &self.0
    }
}

/// A future a pump awaits before giving a filter its next message (see [`Filter::ready`]).
pub type Ready = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A stage in one direction of the pipeline.
pub trait Filter: Send {
    /// Backpressure: a future that resolves when this filter can take `msg` within its bounds.
    /// The pump awaits it (while still watching for the session's end) and then calls
    /// [`Filter::on_msg`]. A filter whose bound cannot be met in time lets the future resolve
    /// anyway and refuses the message in `on_msg` (fail closed), so the future must resolve
    /// within a bounded time. Default: ready at once.
    fn ready(&mut self, msg: &Msg) -> Option<Ready> {
        let _ = msg;
        None
    }

    /// Handles one message; pushes what continues (the same, rewritten, or nothing) to `out`.
    fn on_msg(&mut self, msg: Msg, out: &mut Vec<Msg>) -> Result<(), EndSession>;

    /// Whether this filter holds bytes back that a pause should release (see [`IDLE_FLUSH`]).
    fn holds(&self) -> bool {
        false
    }

    /// Whether what this filter holds may be released as soon as its direction has no
    /// message waiting, instead of after [`IDLE_FLUSH`]: the held bytes reveal nothing (the
    /// redactor holding only the start of a trigger literal). Default: no.
    fn releases_at_any_pause(&self) -> bool {
        false
    }

    /// The direction has been quiet for [`IDLE_FLUSH`] (or has no message waiting, when
    /// [`Filter::releases_at_any_pause`] says so): push what may be shown now to `out`.
    fn on_idle(&mut self, out: &mut Vec<Msg>) {
        let _ = out;
    }

    /// No more messages will come; push anything still held back to `out`.
    fn on_finish(&mut self, out: &mut Vec<Msg>) {
        let _ = out;
    }

    /// The session is over with `status` (what the client was sent, if it was still there).
    fn on_end(&mut self, end: &SessionEnd) {
        let _ = end;
    }
}

/// Why and how a session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionEnd {
    /// What ended it.
    pub reason: EndReason,
    /// The final status (delivered to the client unless the client was gone).
    pub status: Status,
}

/// What ended a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// The server finished and sent its status.
    Completed,
    /// The server went away without a status.
    ServerLost,
    /// The client went away.
    ClientGone,
    /// A filter or an [`EndHandle`] ended it.
    Ended,
}

/// Ends a running session from outside the pumps (timers, caps).
#[derive(Clone)]
pub struct EndHandle {
    tx: watch::Sender<Option<Stop>>,
}

impl fmt::Debug for EndHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndHandle").finish_non_exhaustive()
    }
}

impl EndHandle {
    /// Ends the session with `status`, unless it already ended.
    pub fn end(&self, status: Status) {
        self.stop(Stop::Ended(status));
    }

    fn stop(&self, stop: Stop) {
        self.tx.send_if_modified(|cur| {
            if cur.is_none() {
                *cur = Some(stop);
                true
            } else {
                false
            }
        });
    }
}

#[derive(Clone, Debug)]
enum Stop {
    ServerDone,
    ClientGone,
    Ended(Status),
}

/// A session's filters, built before it runs.
pub struct Pipeline {
    to_server: Vec<Box<dyn Filter>>,
    to_client: Vec<Box<dyn Filter>>,
    end: EndHandle,
}

impl fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field("to_server", &self.to_server.len())
            .field("to_client", &self.to_client.len())
            .finish()
    }
}

impl Default for Pipeline {
    fn default() -> Self {
        Pipeline::new()
    }
}

impl Pipeline {
    /// A pipeline with no filters.
    pub fn new() -> Pipeline {
        let (tx, _) = watch::channel(None);
        Pipeline {
            to_server: Vec::new(),
            to_client: Vec::new(),
            end: EndHandle { tx },
        }
    }

    /// Appends `filter` to the chain of `dir`; filters run in the order added.
    pub fn filter(&mut self, dir: Direction, filter: Box<dyn Filter>) -> &mut Self {
        match dir {
            Direction::ToServer => self.to_server.push(filter),
            Direction::ToClient => self.to_client.push(filter),
        }
        self
    }

    /// A handle that ends the session from outside.
    pub fn end_handle(&self) -> EndHandle {
        self.end.clone()
    }

    /// Runs the session to its end and reports how it ended.
    pub async fn run(self, client: Peer, server: Peer) -> SessionEnd {
        let Pipeline {
            to_server,
            to_client,
            end,
        } = self;
        let Peer {
            incoming: client_in,
            outgoing: client_out,
            done: client_done,
        } = client;
        let Peer {
            incoming: server_in,
            outgoing: server_out,
            done: server_done,
        } = server;

        let up = tokio::spawn(pump_to_server(
            client_in,
            server_out,
            to_server,
            end.clone(),
        ));
        let down = tokio::spawn(pump_to_client(
            server_in,
            client_out,
            to_client,
            end.clone(),
        ));

        // Both pumps stop once any stop is recorded; a panicked pump is a lost session.
        let (up, down) = tokio::join!(up, down);
        let stop = end.tx.borrow().clone();
        let Ok(mut up) = up else {
            return lost("the client pump failed");
        };
        let Ok(down) = down else {
            return lost("the server pump failed");
        };
        // Cancel the server side unless it already finished: dropping its sender does that.
        drop(up.server_out.take());

        let DownEnd {
            mut filters,
            client_out,
            status,
        } = down;
        let end = match stop {
            Some(Stop::ServerDone) => match status {
                Some(status) => SessionEnd {
                    reason: EndReason::Completed,
                    status,
                },
                None => SessionEnd {
                    reason: EndReason::ServerLost,
                    status: Status::failure(
                        "InternalError",
                        "kubewitness: the upstream connection ended without an exit status",
                    ),
                },
            },
            Some(Stop::Ended(status)) => SessionEnd {
                reason: EndReason::Ended,
                status,
            },
            Some(Stop::ClientGone) | None => SessionEnd {
                reason: EndReason::ClientGone,
                status: Status::failure("ClientGone", "kubewitness: the client went away"),
            },
        };

        if end.reason != EndReason::ClientGone {
            // Release what the filters hold, then the status, then close.
            let mut out = Vec::new();
            release_chain(&mut filters, &mut out, Release::Finish).await;
            for msg in out {
                if client_out.send(msg).await.is_err() {
                    break;
                }
            }
            let status = Frame::new(Channel::Error, end.status.to_json());
            let _ = client_out.send(Msg::Data(status)).await;
        }
        drop(client_out);
        for f in filters.iter_mut().chain(up.filters.iter_mut()) {
            f.on_end(&end);
        }
        for (side, done) in [("client", client_done), ("server", server_done)] {
            match tokio::time::timeout(CLOSE_GRACE, done).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(err))) => debug!(side, error = %err, "peer driver ended with an error"),
                Ok(Err(_)) => debug!(side, "peer driver panicked"),
                Err(_) => debug!(side, "peer driver did not close in time"),
            }
        }
        end
    }
}

/// Relays `client` and `server` both ways with no filters until the session ends.
pub async fn splice(client: Peer, server: Peer) -> SessionEnd {
    Pipeline::new().run(client, server).await
}

fn lost(what: &str) -> SessionEnd {
    SessionEnd {
        reason: EndReason::ServerLost,
        status: Status::failure("InternalError", format!("kubewitness: {what}")),
    }
}

#[cfg(test)]
mod tests;
