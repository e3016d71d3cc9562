//! Graceful shutdown: the draining flag readiness reads, and the running sessions that a
//! shutdown ends once its grace period is over.
//!
//! Shutdown goes in three steps ([`super::Server::serve`]):
//!
//! 1. `Drain::begin`: `/readyz` answers 503 at once (load balancers stop sending), the
//!    listener is closed (new connections are refused) and open connections finish the
//!    requests they carry;
//! 2. running sessions get the grace period (`shutdownGrace`, default
//!    [`DEFAULT_SHUTDOWN_GRACE`]) to end on their own;
//! 3. `Drain::end_all` ends what is left with [`shutting_down`], a `Status` the client
//!    sees on its error channel (kubectl prints it and exits non-zero), and the recorder
//!    seals every recording with it before the process exits.
//!
//! Every session pipeline registers its [`EndHandle`] here when it is built
//! (`server/session.rs`); the registration is removed when the pipeline's filters are
//! dropped, so a finished session leaves nothing behind. A session that starts after step
//! 3 (a request already in flight) is ended as soon as it is registered.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::channel::Msg;
use crate::pipeline::{Direction, EndHandle, EndSession, Filter, Pipeline};
use crate::status::Status;

/// How long running sessions may go on after a shutdown begins (the `shutdownGrace` default).
pub use crate::config::DEFAULT_SHUTDOWN_GRACE;

/// The `Status` reason of a session ended by shutdown.
pub const SHUTDOWN_REASON: &str = "ServiceUnavailable";

/// The status a session still running at the end of the grace period ends with.
pub fn shutting_down() -> Status {
    Status::http(
        http::StatusCode::SERVICE_UNAVAILABLE,
        SHUTDOWN_REASON,
        "kubewitness is shutting down: the session was ended after the shutdown grace period; \
         its recording is sealed",
    )
}

/// The draining flag and the running sessions.
#[derive(Debug, Default)]
pub(crate) struct Drain {
    draining: AtomicBool,
    ended: AtomicBool,
    next: AtomicU64,
    running: Mutex<HashMap<u64, EndHandle>>,
}

impl Drain {
    /// Shutdown began: readiness is false from now on.
    pub(crate) fn begin(&self) {
        self.draining.store(true, Ordering::Release);
    }

    /// Whether shutdown began.
    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Ends every running session (and any registered later) with [`shutting_down`].
    /// Returns how many were running.
    pub(crate) fn end_all(&self) -> usize {
        let running = self.lock();
        self.ended.store(true, Ordering::Release);
        for end in running.values() {
            end.end(shutting_down());
        }
        running.len()
    }

    /// Registers `pipeline`'s session until its filters are dropped.
    pub(crate) fn install(self: &Arc<Self>, pipeline: &mut Pipeline) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let end = pipeline.end_handle();
        {
            let mut running = self.lock();
            if self.ended.load(Ordering::Acquire) {
                end.end(shutting_down());
            }
            running.insert(id, end);
        }
        pipeline.filter(
            Direction::ToServer,
            Box::new(Registered {
                drain: self.clone(),
                id,
            }),
        );
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, EndHandle>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Passes everything on; removes its session's registration when dropped.
struct Registered {
    drain: Arc<Drain>,
    id: u64,
}

impl Filter for Registered {
    fn on_msg(&mut self, msg: Msg, out: &mut Vec<Msg>) -> Result<(), EndSession> {
        out.push(msg);
        Ok(())
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.drain.lock().remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registration_goes_with_its_filters() {
        let drain = Arc::new(Drain::default());
        let mut pipeline = Pipeline::new();
        drain.install(&mut pipeline);
        assert_eq!(drain.lock().len(), 1);
        drop(pipeline);
        assert_eq!(drain.lock().len(), 0);
        assert_eq!(drain.end_all(), 0);
    }

    #[test]
    fn shutdown_status_is_a_503_failure() {
        let s = shutting_down();
        assert!(!s.is_success());
        assert!(String::from_utf8_lossy(&s.to_json()).contains(SHUTDOWN_REASON));
    }
}
