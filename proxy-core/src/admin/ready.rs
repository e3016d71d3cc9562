//! `/readyz`: whether this instance should get traffic.
//!
//! Ready only when all of these hold, checked in this order (the first that fails is the
//! reason on the 503):
//!
//! 1. the process is not draining (shutdown began: see `server/drain.rs`);
//! 2. a policy is loaded (the one in force; a rejected reload keeps the old one in force);
//! 3. the recording store takes writes ([`RecordStore::probe`](crate::record::RecordStore::probe)),
//!    checked at most every [`STORE_PROBE_INTERVAL`] so a probe flood does not become a
//!    write flood;
//! 4. the upstream API server answers `GET /version` within [`UPSTREAM_TIMEOUT`].
//!
//! A reason names the failed check and never carries a credential.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::server::Proxy;

/// How long the upstream check may take.
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the store check may take.
pub const STORE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a store check's result is reused.
pub const STORE_PROBE_INTERVAL: Duration = Duration::from_secs(2);

/// Answers readiness for one proxy.
#[derive(Debug)]
pub(crate) struct Readiness {
    proxy: Arc<Proxy>,
    store: Mutex<Option<(Instant, Result<(), String>)>>,
}

impl Readiness {
    pub(crate) fn new(proxy: Arc<Proxy>) -> Readiness {
        Readiness {
            proxy,
            store: Mutex::new(None),
        }
    }

    /// `Ok` with a one-line summary, or the reason it is not ready.
    pub(crate) async fn check(&self) -> Result<String, String> {
        if self.proxy.is_draining() {
            return Err("shutting down".into());
        }
        let rules = self.proxy.policy().rules().len();
        if let Some(credential) = self.proxy.upstream_credential()
            && !credential.is_valid()
        {
            return Err("upstream credential expired (its TokenRequest refresh fails)".into());
        }
        self.store().await?;
        let version = tokio::time::timeout(
            UPSTREAM_TIMEOUT,
            self.proxy.upstream_client().apiserver_version(),
        )
        .await;
        match version {
            Ok(Ok(_)) => Ok(format!(
                "ok: policy loaded ({rules} rules), recording store writable, upstream answers"
            )),
            Ok(Err(e)) => Err(format!("upstream API server: {}", short(&e.to_string()))),
            Err(_) => Err("upstream API server: no answer in time".into()),
        }
    }

    /// The store check, reused for [`STORE_PROBE_INTERVAL`].
    async fn store(&self) -> Result<(), String> {
        let Some(recorder) = self.proxy.recorder() else {
            return Ok(());
        };
        if let Some((at, result)) = &*self.lock()
            && at.elapsed() < STORE_PROBE_INTERVAL
        {
            return result.clone();
        }
        let result = match tokio::time::timeout(STORE_TIMEOUT, recorder.store().probe()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!(
                "recording store not writable: {}",
                short(&e.to_string())
            )),
            Err(_) => Err("recording store: no answer in time".into()),
        };
        *self.lock() = Some((Instant::now(), result.clone()));
        result
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Instant, Result<(), String>)>> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The first line of an error, at most 200 characters.
fn short(s: &str) -> String {
    s.lines().next().unwrap_or("").chars().take(200).collect()
}
