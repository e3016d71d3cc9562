//! Bearer tokens checked upstream with a `TokenReview`
//! (`POST /apis/authentication.k8s.io/v1/tokenreviews`, needs `system:auth-delegator`).
//!
//! Answers are cached by token digest for a short time so a burst of kubectl requests costs
//! one review; rejections are cached too. The cache is bounded; when full, expired entries
//! go first, then everything.
//!
//! The reviewed user's `extra` attributes (scopes, credential ids) are kept and sent upstream
//! as `Impersonate-Extra-*`, so a scoped token stays scoped. With configured audiences
//! (`auth.audiences`) the review asks for them and a token whose answer names none of them
//! is not authenticated.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::{AuthError, Identity};

/// How long a positive answer is trusted.
pub(crate) const REVIEW_TTL: Duration = Duration::from_secs(10);
/// How long a negative answer is remembered.
pub(crate) const REVIEW_NEGATIVE_TTL: Duration = Duration::from_secs(2);
/// The most answers cached.
pub(crate) const REVIEW_CACHE_MAX: usize = 10_000;
/// The largest TokenReview response read.
pub(crate) const REVIEW_MAX_RESPONSE: usize = 1 << 20;

/// Cached answers by token digest: when asked, and who (`None`: not authenticated).
type ReviewCache = HashMap<[u8; 32], (Instant, Option<Identity>)>;

/// Asks the upstream API server who a token belongs to.
pub struct TokenReviewer {
    client: kube_client::Client,
    audiences: Vec<String>,
    cache: Mutex<ReviewCache>,
}

impl std::fmt::Debug for TokenReviewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenReviewer").finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Review {
    #[serde(default)]
    status: ReviewStatus,
}

#[derive(Default, Deserialize)]
struct ReviewStatus {
    #[serde(default)]
    authenticated: bool,
    #[serde(default)]
    user: ReviewUser,
    #[serde(default)]
    audiences: Vec<String>,
}

#[derive(Default, Deserialize)]
struct ReviewUser {
    #[serde(default)]
    username: String,
    #[serde(default)]
    uid: String,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    extra: BTreeMap<String, Vec<String>>,
}

impl TokenReviewer {
    /// A reviewer that uses `client` (kubewitness's own upstream credentials).
    pub fn new(client: kube_client::Client) -> TokenReviewer {
        TokenReviewer {
            client,
            audiences: Vec::new(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Asks for these audiences and accepts only tokens valid for one of them.
    pub fn with_audiences(mut self, audiences: Vec<String>) -> TokenReviewer {
        self.audiences = audiences;
        self
    }

    /// Asks upstream about `token` (whose digest is `digest`) and caches the answer.
    pub(super) async fn review(
        &self,
        token: &str,
        digest: [u8; 32],
    ) -> Result<Identity, AuthError> {
        let answer = self.ask(token).await?;
        self.remember(digest, answer.clone());
        answer.ok_or(AuthError::Invalid)
    }

    /// The cached answer for `digest`, if still fresh: `Some(None)` for a rejected token.
    pub(super) fn cached(&self, digest: &[u8; 32]) -> Option<Option<Identity>> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let (at, answer) = cache.get(digest)?;
        let ttl = if answer.is_some() {
            REVIEW_TTL
        } else {
            REVIEW_NEGATIVE_TTL
        };
        (at.elapsed() < ttl).then(|| answer.clone())
    }

    fn remember(&self, digest: [u8; 32], answer: Option<Identity>) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= REVIEW_CACHE_MAX {
            cache.retain(|_, (at, _)| at.elapsed() < REVIEW_TTL);
            if cache.len() >= REVIEW_CACHE_MAX {
                cache.clear();
            }
        }
        cache.insert(digest, (Instant::now(), answer));
    }

    async fn ask(&self, token: &str) -> Result<Option<Identity>, AuthError> {
        let body = serde_json::json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {"token": token, "audiences": self.audiences},
        });
        let req = http::Request::post("/apis/authentication.k8s.io/v1/tokenreviews")
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(&body).unwrap_or_default())
            .map_err(|e| AuthError::Unavailable(e.to_string()))?;
        let text = self
            .client
            .request_text(req)
            .await
            .map_err(|e| AuthError::Unavailable(e.to_string()))?;
        if text.len() > REVIEW_MAX_RESPONSE {
            return Err(AuthError::Unavailable(
                "TokenReview response too large".into(),
            ));
        }
        let review: Review = serde_json::from_str(&text)
            .map_err(|e| AuthError::Unavailable(format!("unreadable TokenReview: {e}")))?;
        let status = review.status;
        if !status.authenticated || status.user.username.is_empty() {
            return Ok(None);
        }
        if !self.audiences.is_empty()
            && !status.audiences.iter().any(|a| self.audiences.contains(a))
        {
            tracing::info!("a reviewed token is not valid for the configured audiences");
            return Ok(None);
        }
        let groups = status
            .user
            .groups
            .into_iter()
            .filter(|g| g != "system:authenticated")
            .collect();
        Ok(Some(Identity {
            user: status.user.username,
            uid: (!status.user.uid.is_empty()).then_some(status.user.uid),
            groups,
            extra: status.user.extra,
        }))
    }
}
