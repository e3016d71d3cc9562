//! The fail-closed front of a session's recording: a cloneable handle with a byte-bounded
//! queue, and the pipeline filter that records every frame before letting it through.
//!
//! The bound is the *window*: bytes accepted by the queue but not yet durably stored (queued,
//! in the open chunk, or being written). A frame is passed on only after the queue accepted
//! it. When the window is full the filter's [`Filter::ready`] future waits for the store to
//! catch up — backpressure, the client slows down — for at most [`STALL_TIMEOUT`]; if storage
//! failed, or stays behind that long, the filter ends the session with a `RecordingFailed`
//! status instead. So the client is never more than one window ahead of the store.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc};

use super::event::{Event, Finding, PolicyEvent, Timed};
use super::seal::{EndInfo, now_ms};
use crate::channel::Msg;
use crate::pipeline::{EndReason, EndSession, Filter, Ready, SessionEnd};
use crate::status::Status;

/// How long a frame may wait for the store to make room in the window before the session
/// is ended as unrecordable.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(10);

/// An upper bound on an event's encoding beyond its payload (kind, time, length, channel).
const EVENT_OVERHEAD: usize = 64;

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
    /// Woken whenever bytes leave the window or storage fails.
    room: Notify,
}

impl Shared {
    pub(crate) fn new(window: usize) -> Shared {
        Shared {
            inflight: AtomicUsize::new(0),
            window,
            failed: Mutex::new(None),
            room: Notify::new(),
        }
    }

    pub(crate) fn release(&self, n: usize) {
        self.inflight.fetch_sub(n, Ordering::AcqRel);
        crate::metrics::metrics().queue_bytes(-(n as i64));
        self.room.notify_waiters();
    }

    pub(crate) fn fail(&self, why: String) {
        let mut f = self.failed.lock().unwrap_or_else(|p| p.into_inner());
        f.get_or_insert(why);
        drop(f);
        self.room.notify_waiters();
    }

    /// Reserves `n` bytes of the window, waiting up to `stall` for room. False if storage
    /// failed or the window stayed full.
    async fn reserve(&self, n: usize, stall: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + stall;
        loop {
            let notified = self.room.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.failure().is_some() {
                return false;
            }
            let cur = self.inflight.load(Ordering::Acquire);
            if cur + n <= self.window {
                if self
                    .inflight
                    .compare_exchange(cur, cur + n, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    crate::metrics::metrics().queue_bytes(n as i64);
                    return true;
                }
                continue;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return false;
            }
        }
    }

    /// Why storage failed, if it did.
    pub(crate) fn failure(&self) -> Option<String> {
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
        self.record_reserved(event, 0)
    }

    /// Queues `event` into window space already `reserved` (see [`Shared::reserve`]); with
    /// nothing reserved the window is checked now.
    fn record_reserved(&self, event: Event, reserved: usize) -> Result<(), RecordError> {
        if let Some(why) = self.shared.failure() {
            self.shared.release(reserved);
            return Err(RecordError::Failed(why));
        }
        let timed = Timed {
            t_us: self.started.elapsed().as_micros() as u64,
            event,
        };
        let size = timed.encoded_len();
        let before = self.shared.inflight.fetch_add(size, Ordering::AcqRel);
        crate::metrics::metrics().queue_bytes(size as i64);
        self.shared.release(reserved);
        if reserved == 0 && before + size > self.shared.window {
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
    /// Window bytes the last [`Filter::ready`] reserved for the next message.
    reserved: Arc<AtomicUsize>,
}

impl RecordFilter {
    /// A filter feeding `handle`; the one with `seals` reports the session's end.
    pub fn new(handle: RecorderHandle, seals: bool) -> RecordFilter {
        RecordFilter {
            handle,
            seals,
            reserved: Arc::new(AtomicUsize::new(0)),
        }
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
    fn ready(&mut self, msg: &Msg) -> Option<Ready> {
        let need = match msg {
            Msg::Data(frame) => frame.bytes.len() + EVENT_OVERHEAD,
            Msg::Close(_) => EVENT_OVERHEAD,
        };
        let shared = self.handle.shared.clone();
        let reserved = self.reserved.clone();
        Some(Box::pin(async move {
            if shared.reserve(need, STALL_TIMEOUT).await {
                // Hand back any reservation a stopped session left unused.
                let stale = reserved.swap(need, Ordering::AcqRel);
                shared.release(stale);
            }
        }))
    }

    fn on_msg(&mut self, msg: Msg, out: &mut Vec<Msg>) -> Result<(), EndSession> {
        let event = match &msg {
            Msg::Data(frame) => Event::Data {
                channel: frame.channel,
                bytes: frame.bytes.clone(),
            },
            Msg::Close(channel) => Event::Close(*channel),
        };
        let reserved = self.reserved.swap(0, Ordering::AcqRel);
        self.handle
            .record_reserved(event, reserved)
            .map_err(|e| EndSession::new(recording_failed(&e)))?;
        out.push(msg);
        Ok(())
    }

    fn on_end(&mut self, end: &SessionEnd) {
        self.handle
            .shared
            .release(self.reserved.swap(0, Ordering::AcqRel));
        if self.seals {
            self.handle.finish(end);
        }
    }
}
