//! Session limits as pipeline filters: the output cap, the maximum duration and the idle
//! timeout of an exec or attach session.
//!
//! The output cap counts stdout and stderr bytes on their way to the client; it is added
//! last in the client-bound chain so it counts what the client actually receives (after
//! redaction). A frame that would cross the cap is not delivered and the session ends with
//! a `Failure` status, reason [`OUTPUT_LIMIT_REASON`], on the error channel: kubectl prints
//! the message and exits 1, never 0. So at most `maxOutputBytes` bytes reach the client.
//!
//! The timers run in one task per session holding the pipeline's [`EndHandle`]. An
//! activity filter in each direction stamps the time of the last message; the task is
//! cancelled when the pipeline drops its filters (the guard inside them goes away), so a
//! finished session leaves nothing behind.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::SessionLimits;
use crate::channel::{Channel, Msg};
use crate::pipeline::{Direction, EndHandle, EndSession, Filter, Pipeline};
use crate::status::Status;

/// The `Status` reason when the output cap ends a session.
pub const OUTPUT_LIMIT_REASON: &str = "OutputLimitExceeded";
/// The `Status` reason when the maximum duration ends a session.
pub const DURATION_REASON: &str = "MaxDurationExceeded";
/// The `Status` reason when the idle timeout ends a session.
pub const IDLE_REASON: &str = "IdleTimeout";

/// Adds the filters and timers `limits` call for. Call it after every other filter has
/// been added, so the output cap sees the bytes the client will get. Needs a Tokio runtime
/// when a timer is set.
pub fn install(pipeline: &mut Pipeline, limits: &SessionLimits) {
    if let Some(max) = limits.max_output_bytes {
        pipeline.filter(
            Direction::ToClient,
            Box::new(OutputCap {
                limit: max,
                sent: 0,
            }),
        );
    }
    if limits.max_duration.is_none() && limits.idle_timeout.is_none() {
        return;
    }
    let start = Instant::now();
    let last = Arc::new(AtomicU64::new(0));
    let (guard, cancelled) = oneshot::channel::<()>();
    let guard = Arc::new(guard);
    for dir in [Direction::ToServer, Direction::ToClient] {
        pipeline.filter(
            dir,
            Box::new(Activity {
                start,
                last: last.clone(),
                _guard: guard.clone(),
            }),
        );
    }
    tokio::spawn(timers(
        pipeline.end_handle(),
        *limits,
        start,
        last,
        cancelled,
    ));
}

/// Ends the session when the client has been sent `limit` bytes of output.
#[derive(Debug)]
pub struct OutputCap {
    limit: u64,
    sent: u64,
}

impl OutputCap {
    /// A cap of `limit` bytes.
    pub fn new(limit: u64) -> OutputCap {
        OutputCap { limit, sent: 0 }
    }
}

impl Filter for OutputCap {
    fn on_msg(&mut self, msg: Msg, out: &mut Vec<Msg>) -> Result<(), EndSession> {
        if let Msg::Data(frame) = &msg
            && matches!(frame.channel, Channel::Stdout | Channel::Stderr)
        {
            let after = self.sent + frame.bytes.len() as u64;
            if after > self.limit {
                return Err(EndSession::new(Status::failure(
                    OUTPUT_LIMIT_REASON,
                    format!(
                        "kubewitness: output limit of {} bytes exceeded; the session was ended",
                        self.limit
                    ),
                )));
            }
            self.sent = after;
        }
        out.push(msg);
        Ok(())
    }
}

/// Stamps the time of the last message.
struct Activity {
    start: Instant,
    last: Arc<AtomicU64>,
    _guard: Arc<oneshot::Sender<()>>,
}

impl Filter for Activity {
    fn on_msg(&mut self, msg: Msg, out: &mut Vec<Msg>) -> Result<(), EndSession> {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last.fetch_max(ms, Ordering::Relaxed);
        out.push(msg);
        Ok(())
    }
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, s / 60 % 60, s % 60, d.subsec_millis()) {
        (0, 0, 0, ms) => format!("{ms}ms"),
        (0, 0, s, _) => format!("{s}s"),
        (0, m, 0, _) => format!("{m}m"),
        (0, m, s, _) => format!("{m}m{s}s"),
        (h, m, _, _) => format!("{h}h{m}m"),
    }
}

async fn timers(
    end: EndHandle,
    limits: SessionLimits,
    start: Instant,
    last: Arc<AtomicU64>,
    mut cancelled: oneshot::Receiver<()>,
) {
    let far = start + super::MAX_DURATION;
    let deadline = limits.max_duration.map(|d| start + d).unwrap_or(far);
    loop {
        let seen = last.load(Ordering::Relaxed);
        let idle_at = limits
            .idle_timeout
            .map(|t| start + Duration::from_millis(seen) + t)
            .unwrap_or(far);
        tokio::select! {
            _ = &mut cancelled => return,
            _ = tokio::time::sleep_until(deadline), if deadline <= idle_at => {
                let d = limits.max_duration.unwrap_or_default();
                end.end(Status::failure(
                    DURATION_REASON,
                    format!("kubewitness: the session reached its maximum duration of {}; it was ended", human(d)),
                ));
                return;
            }
            _ = tokio::time::sleep_until(idle_at), if idle_at < deadline => {
                if last.load(Ordering::Relaxed) == seen {
                    let t = limits.idle_timeout.unwrap_or_default();
                    end.end(Status::failure(
                        IDLE_REASON,
                        format!("kubewitness: the session was idle for {}; it was ended", human(t)),
                    ));
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use tokio::task::JoinHandle;

    use super::*;
    use crate::channel::{Frame, Protocol};
    use crate::peer::{DriverQueues, Peer};
    use crate::pipeline::SessionEnd;

    fn data(channel: Channel, n: usize) -> Msg {
        Msg::Data(Frame {
            channel,
            bytes: Bytes::from(vec![b'x'; n]),
        })
    }

    #[test]
    fn the_cap_counts_stdout_and_stderr_only() {
        let mut cap = OutputCap::new(10);
        let mut out = Vec::new();
        cap.on_msg(data(Channel::Stdout, 4), &mut out).unwrap();
        cap.on_msg(data(Channel::Stderr, 4), &mut out).unwrap();
        cap.on_msg(data(Channel::Resize, 100), &mut out).unwrap();
        cap.on_msg(data(Channel::Stdout, 2), &mut out).unwrap();
        assert_eq!(out.len(), 4);
        let end = cap.on_msg(data(Channel::Stdout, 1), &mut out).unwrap_err();
        assert_eq!(end.status().reason, OUTPUT_LIMIT_REASON);
        assert!(end.status().message.contains("10 bytes"));
        assert!(!end.status().is_success());
    }

    /// Runs a pipeline with `limits` between two test-driven peers.
    fn session(limits: SessionLimits) -> (JoinHandle<SessionEnd>, DriverQueues, DriverQueues) {
        let (client, c) = Peer::fake();
        let (server, s) = Peer::fake();
        let mut pipeline = Pipeline::new();
        install(&mut pipeline, &limits);
        (tokio::spawn(pipeline.run(client, server)), c, s)
    }

    /// The status the client got: the last message before its queue closed.
    async fn client_status(c: &mut DriverQueues) -> Status {
        let mut last = None;
        while let Some(m) = c.from_pipeline.recv().await {
            last = Some(m);
        }
        match last {
            Some(Msg::Data(Frame {
                channel: Channel::Error,
                bytes,
            })) => Status::from_error_stream(Protocol::V4, &bytes),
            other => panic!("no status: {other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_busy_session_is_ended_at_its_maximum_duration() {
        let limits = SessionLimits {
            max_duration: Some(Duration::from_secs(60)),
            idle_timeout: Some(Duration::from_secs(5)),
            ..SessionLimits::default()
        };
        let (session, mut c, s) = session(limits);
        let started = Instant::now();
        // Output every second keeps the idle timer away; the duration still ends it.
        let busy = tokio::spawn(async move {
            while s.to_pipeline.send(data(Channel::Stdout, 1)).await.is_ok() {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        let status = client_status(&mut c).await;
        assert_eq!(status.reason, DURATION_REASON);
        assert!(
            status.message.contains("maximum duration of 1m"),
            "{status:?}"
        );
        assert!(!status.is_success());
        let took = started.elapsed();
        assert!(
            took >= Duration::from_secs(60) && took < Duration::from_secs(62),
            "{took:?}"
        );
        session.await.unwrap();
        busy.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_session_is_ended_after_its_idle_timeout_counted_from_the_last_byte() {
        let limits = SessionLimits {
            idle_timeout: Some(Duration::from_secs(30)),
            ..SessionLimits::default()
        };
        let (session, mut c, _s) = session(limits);
        let started = Instant::now();
        // Stdin at 20 s, in the client-to-server direction, counts as activity.
        tokio::time::sleep(Duration::from_secs(20)).await;
        c.to_pipeline.send(data(Channel::Stdin, 1)).await.unwrap();
        let status = client_status(&mut c).await;
        assert_eq!(status.reason, IDLE_REASON);
        assert!(status.message.contains("idle for 30s"), "{status:?}");
        let took = started.elapsed();
        assert!(
            took >= Duration::from_secs(50) && took < Duration::from_secs(51),
            "{took:?}"
        );
        session.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_finished_session_leaves_no_timer_behind() {
        let limits = SessionLimits {
            max_duration: Some(Duration::from_secs(3600)),
            idle_timeout: Some(Duration::from_secs(600)),
            ..SessionLimits::default()
        };
        let (session, mut c, s) = session(limits);
        let success = Frame {
            channel: Channel::Error,
            bytes: Status::success().to_json(),
        };
        s.to_pipeline.send(Msg::Data(success)).await.unwrap();
        drop(s);
        assert!(client_status(&mut c).await.is_success());
        session.await.unwrap();
        // The timer task saw its guard go and returned: no task is left.
        tokio::task::yield_now().await;
        let alive = tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks();
        assert_eq!(alive, 0, "a timer task outlived its session");
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human(Duration::from_secs(120)), "2m");
        assert_eq!(human(Duration::from_secs(30)), "30s");
        assert_eq!(human(Duration::from_secs(90)), "1m30s");
        assert_eq!(human(Duration::from_millis(250)), "250ms");
        assert_eq!(human(Duration::from_secs(5400)), "1h30m");
    }
}
