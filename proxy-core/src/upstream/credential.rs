//! Short-lived upstream credentials: kubewitness mints its own ServiceAccount token with the
//! TokenRequest API (`upstream.tokenRequest`) and refreshes it before it expires.
//!
//! The TokenRequest (`POST /api/v1/namespaces/{ns}/serviceaccounts/{name}/token`) is sent
//! with the bootstrap credential: whatever the kubeconfig or the in-cluster config gives
//! (the pod's projected token, or a kubeconfig exec plugin out of cluster). Every other
//! upstream request carries the minted token instead, set by [`BearerLayer`] on a client
//! that holds no other credential.
//!
//! The token is refreshed at [`REFRESH_AT`] of its lifetime; a failed refresh is retried with
//! backoff ([`RETRY_MIN`] doubling to [`RETRY_MAX`]) while the old token is kept. Once it has
//! expired, [`CredentialStatus::is_valid`] is false (readiness reads it). The token lives in
//! memory only: never written to disk, never logged (its header value is marked sensitive).

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use http::{HeaderValue, Request};
use serde::Deserialize;
use tokio::sync::watch;
use tracing::{info, warn};

use super::UpstreamError;
pub use crate::config::{DEFAULT_TOKEN_SECONDS, MIN_TOKEN_LIFETIME, TokenRequestConfig};

/// The share of a token's lifetime after which it is refreshed.
pub const REFRESH_AT: f64 = 0.8;
/// The first retry delay after a failed refresh.
pub const RETRY_MIN: Duration = Duration::from_secs(1);
/// The longest retry delay.
pub const RETRY_MAX: Duration = Duration::from_secs(60);
/// The largest TokenRequest response read.
const MAX_RESPONSE: usize = 64 * 1024;
/// Where a pod finds its namespace.
const IN_CLUSTER_NAMESPACE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// A minted token and when it expires.
#[derive(Clone)]
struct Minted {
    header: HeaderValue,
    expires: SystemTime,
}

/// Whether the upstream credential is valid, and until when: a cheap clone of a `watch`
/// receiver, for readiness and an expiry metric.
#[derive(Clone)]
pub struct CredentialStatus(watch::Receiver<Option<Minted>>);

impl std::fmt::Debug for CredentialStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialStatus")
            .field("expires_at", &self.expires_at())
            .finish()
    }
}

impl CredentialStatus {
    /// When the token in use expires.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.0.borrow().as_ref().map(|m| m.expires)
    }

    /// Whether the token in use has not expired yet.
    pub fn is_valid(&self) -> bool {
        self.expires_at().is_some_and(|t| t > SystemTime::now())
    }

    /// Waits until a new token is in use.
    pub async fn changed(&mut self) -> bool {
        self.0.changed().await.is_ok()
    }
}

/// Sets `Authorization: Bearer <minted token>` on every request.
#[derive(Clone, Debug)]
pub(crate) struct BearerLayer(CredentialStatus);

impl<S> tower_layer::Layer<S> for BearerLayer {
    type Service = Bearer<S>;
    fn layer(&self, inner: S) -> Bearer<S> {
        Bearer {
            inner,
            token: self.0.clone(),
        }
    }
}

/// [`BearerLayer`]'s service.
#[derive(Debug)]
pub(crate) struct Bearer<S> {
    inner: S,
    token: CredentialStatus,
}

impl<S, B> tower_service::Service<Request<B>> for Bearer<S>
where
    S: tower_service::Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> S::Future {
        if let Some(minted) = self.token.0.borrow().as_ref() {
            req.headers_mut()
                .insert(http::header::AUTHORIZATION, minted.header.clone());
        }
        self.inner.call(req)
    }
}

/// Mints tokens with the bootstrap client.
struct Requester {
    bootstrap: kube_client::Client,
    path: String,
    body: Vec<u8>,
}

#[derive(Deserialize)]
struct TokenRequest {
    status: TokenRequestStatus,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenRequestStatus {
    token: String,
    expiration_timestamp: String,
}

impl Requester {
    async fn mint(&self) -> Result<Minted, String> {
        let req = http::Request::post(self.path.as_str())
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(self.body.clone())
            .map_err(|e| e.to_string())?;
        // The error text never holds the token: a failed request has none.
        let text = self
            .bootstrap
            .request_text(req)
            .await
            .map_err(|e| format!("TokenRequest {}: {e}", self.path))?;
        if text.len() > MAX_RESPONSE {
            return Err("TokenRequest response too large".into());
        }
        let answer: TokenRequest = serde_json::from_str(&text)
            .map_err(|_| "unreadable TokenRequest answer".to_string())?;
        let expires = humantime::parse_rfc3339(&answer.status.expiration_timestamp)
            .map_err(|e| format!("TokenRequest expirationTimestamp: {e}"))?;
        let mut header = HeaderValue::try_from(format!("Bearer {}", answer.status.token))
            .map_err(|_| "the minted token cannot be a header".to_string())?;
        header.set_sensitive(true);
        let unix = expires
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        crate::metrics::metrics().set_upstream_token_expiry(unix.as_secs() as i64);
        Ok(Minted { header, expires })
    }
}

/// Mints the first token (an error if that fails) and keeps it fresh in the background for
/// as long as a [`CredentialStatus`] or the layer lives.
pub(crate) async fn start(
    bootstrap: kube_client::Client,
    cfg: &TokenRequestConfig,
    min_lifetime: Duration,
) -> Result<(CredentialStatus, BearerLayer), UpstreamError> {
    let seconds = cfg.expiration_seconds.unwrap_or(DEFAULT_TOKEN_SECONDS);
    if Duration::from_secs(seconds) < min_lifetime {
        return Err(UpstreamError(format!(
            "upstream.tokenRequest.expirationSeconds: {seconds} is less than {}",
            min_lifetime.as_secs()
        )));
    }
    let namespace = match &cfg.namespace {
        Some(ns) => ns.clone(),
        None => std::fs::read_to_string(IN_CLUSTER_NAMESPACE)
            .map(|ns| ns.trim().to_string())
            .map_err(|_| {
                UpstreamError(
                    "upstream.tokenRequest.namespace: not set, and not running in a pod".into(),
                )
            })?,
    };
    let body = serde_json::json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"audiences": cfg.audiences, "expirationSeconds": seconds},
    });
    let requester = Requester {
        bootstrap,
        path: format!(
            "/api/v1/namespaces/{}/serviceaccounts/{}/token",
            crate::request::percent_encode(&namespace),
            crate::request::percent_encode(&cfg.service_account)
        ),
        body: serde_json::to_vec(&body).unwrap_or_default(),
    };
    let first = requester.mint().await.map_err(UpstreamError)?;
    info!(
        service_account = %cfg.service_account,
        %namespace,
        expires = %humantime::format_rfc3339_seconds(first.expires),
        "upstream token minted"
    );
    let (tx, rx) = watch::channel(Some(first));
    tokio::spawn(keep_fresh(Arc::new(requester), tx));
    let status = CredentialStatus(rx);
    Ok((status.clone(), BearerLayer(status)))
}

/// When to refresh a token that expires at `expires`: after [`REFRESH_AT`] of what is left.
fn refresh_delay(expires: SystemTime, now: SystemTime) -> Duration {
    expires
        .duration_since(now)
        .unwrap_or_default()
        .mul_f64(REFRESH_AT)
}

async fn keep_fresh(requester: Arc<Requester>, tx: watch::Sender<Option<Minted>>) {
    loop {
        let expires = tx.borrow().as_ref().map(|m| m.expires);
        let wait = expires.map_or(Duration::ZERO, |e| refresh_delay(e, SystemTime::now()));
        tokio::select! {
            _ = tx.closed() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        let mut backoff = RETRY_MIN;
        loop {
            match requester.mint().await {
                Ok(minted) => {
                    info!(
                        expires = %humantime::format_rfc3339_seconds(minted.expires),
                        "upstream token refreshed"
                    );
                    tx.send_replace(Some(minted));
                    break;
                }
                Err(e) => {
                    let valid = expires.is_some_and(|t| t > SystemTime::now());
                    warn!(error = %e, token_still_valid = valid, retry_in = ?backoff, "upstream token refresh failed");
                }
            }
            tokio::select! {
                _ = tx.closed() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(RETRY_MAX);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_comes_at_four_fifths_of_what_is_left() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let delay = refresh_delay(now + Duration::from_secs(3600), now);
        assert_eq!(delay, Duration::from_secs(2880));
        assert_eq!(
            refresh_delay(now - Duration::from_secs(1), now),
            Duration::ZERO
        );
    }
}
