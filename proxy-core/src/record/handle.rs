//! The fail-closed front of a session's recording: a cloneable handle with a byte-bounded
//! queue, and the pipeline filter that records every frame before letting it through.
//!
//! The bound is the *window*: bytes accepted by the queue but not yet durably stored (queued,
//! in the open chunk, or being written). A frame is passed on only after the queue accepted
//! it; if the window is full (storage is behind) or storage failed, the filter ends the
//! session with a `RecordingFailed` status instead. So the client is never more than one
//! window ahead of the store.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::mpsc;

use super::event::{Event, Finding, PolicyEvent, Timed};
use super::seal::EndInfo;
use super::writer::now_ms;
use crate::channel::Msg;
use crate::pipeline::{EndReason, EndSession, Filter, SessionEnd};
use crate::status::Status;

/// What the queue carries.
pub(crate) enum Item {
    Event { timed: Timed, size: usize },
    End(EndInfo),
}

/// State shared by the handles and the writer.
#[derive(Debug)]
pub(crate) struct Shared {
    inflight: AtomicUsize,
    window: usize,
    failed: Mutex<Option<String>>,
}

impl Shared {
    pub(crate) fn new(window: usize) -> Shared {
        Shared {
            inflight: AtomicUsize::new(0),
            window,
            failed: Mutex::new(None),
        }
    }

    pub(crate) fn release(&self, n: usize) {
        self.inflight.fetch_sub(n, Ordering::AcqRel);
    }

    pub(crate) fn fail(&self, why: String) {
        let mut f = self.failed.lock().unwrap_or_else(|p| p.into_inner());
        f.get_or_insert(why);
    }

    fn failure(&self) -> Option<String> {
        self.failed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Why an event was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The window is full: storage is behind.
    #[error("the recording store is more than {0} bytes behind")]
    Behind(usize),
    /// Storage failed.
    #[error("{0}")]
    Failed(String),
    /// The recorder is gone.
    #[error("the recorder stopped")]
    Stopped,
}

/// Pushes events into one session's recording. Cloneable; other filters (redaction, policy)
/// use it to record findings and policy events.
#[derive(Clone, Debug)]
pub struct RecorderHandle {
    tx: mpsc::UnboundedSender<Item>,
    shared: Arc<Shared>,
    started: Instant,
    session: Arc<str>,
}

impl RecorderHandle {
    pub(crate) fn new(
        tx: mpsc::UnboundedSender<Item>,
        shared: Arc<Shared>,
        started: Instant,
        session: Arc<str>,
    ) -> RecorderHandle {
        RecorderHandle {
            tx,
            shared,
            started,
            session,
        }
    }

    /// The session id.
    pub fn session_id(&self) -> &str {
        &self.session
    }

    /// Queues `event`, or refuses it (fail closed) when storage failed or is behind.
    pub fn record(&self, event: Event) -> Result<(), RecordError> {
        if let Some(why) = self.shared.failure() {
            return Err(RecordError::Failed(why));
        }
        let timed = Timed {
            t_us: self.started.elapsed().as_micros() as u64,
            event,
        };
        let size = timed.encoded_len();
        let before = self.shared.inflight.fetch_add(size, Ordering::AcqRel);
        if before + size > self.shared.window {
            self.shared.release(size);
            return Err(RecordError::Behind(self.shared.window));
        }
        self.tx.send(Item::Event { timed, size }).map_err(|_| {
            self.shared.release(size);
            RecordError::Stopped
        })
    }

    /// Records a redaction finding.
    pub fn finding(&self, finding: Finding) -> Result<(), RecordError> {
        self.record(Event::Finding(finding))
    }

    /// Records a policy event.
    pub fn policy(&self, event: PolicyEvent) -> Result<(), RecordError> {
        self.record(Event::Policy(event))
    }

    /// Reports how the session ended; the recorder then seals it. Later calls are ignored.
    pub fn finish(&self, end: &SessionEnd) {
        let reason = match end.reason {
            EndReason::Completed => "completed",
            EndReason::ServerLost => "serverLost",
            EndReason::ClientGone => "clientGone",
            EndReason::Ended => "ended",
        };
        let _ = self.tx.send(Item::End(EndInfo {
            reason: reason.into(),
            status: end.status.status.clone(),
            exit_code: end.status.exit_code_value(),
            message: end.status.message.clone(),
            end_ms: now_ms(),
        }));
    }
}

/// The pipeline filter: records each message, then passes it on unchanged.
#[derive(Debug)]
pub struct RecordFilter {
    handle: RecorderHandle,
    seals: bool,
}

impl RecordFilter {
    /// A filter feeding `handle`; the one with `seals` reports the session's end.
    pub fn new(handle: RecorderHandle, seals: bool) -> RecordFilter {
        RecordFilter { handle, seals }
    }
}

/// The status a session ends with when it cannot be recorded.
pub fn recording_failed(err: &RecordError) -> Status {
    match err {
        RecordError::Failed(why) => Status::failure("RecordingFailed", why.clone()),
        other => Status::failure(
            "RecordingFailed",
            format!(
                "kubewitness: this session cannot be recorded ({other}); it was ended because \
                 unrecorded sessions are not allowed"
            ),
        ),
    }
}

impl Filter for RecordFilter {
    fn on_msg(&mut self, msg: Msg, out: &mut Vec<Msg>) -> Result<(), EndSession> {
        let event = match &msg {
            Msg::Data(frame) => Event::Data {
                channel: frame.channel,
                bytes: frame.bytes.clone(),
            },
            Msg::Close(channel) => Event::Close(*channel),
        };
        self.handle
            .record(event)
            .map_err(|e| EndSession::new(recording_failed(&e)))?;
        out.push(msg);
        Ok(())
    }

    fn on_end(&mut self, end: &SessionEnd) {
        if self.seals {
            self.handle.finish(end);
        }
    }
}
