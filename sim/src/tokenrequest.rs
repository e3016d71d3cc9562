//! `POST /api/v1/namespaces/{ns}/serviceaccounts/{name}/token` (TokenRequest): mints a
//! random token that the simulator then accepts, like [`super::SimConfig::token`], until its
//! `expirationTimestamp`. Unlike the API server (at least 600 s) any `expirationSeconds` of
//! 1 s or more is honoured, so tests can watch a refresh happen.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{Response, StatusCode};
use serde_json::{Value, json};

use super::clock::rfc3339;
use super::respond::{self, Body, bad_request};
use super::server::same_secret;

/// The lifetime of a token whose request names none.
const DEFAULT_EXPIRATION_SECONDS: u64 = 3600;

/// The tokens minted so far, and whether new requests are refused.
#[derive(Debug, Default)]
pub(crate) struct Minted {
    tokens: Mutex<Vec<(String, SystemTime)>>,
    refuse: AtomicBool,
}

impl Minted {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(String, SystemTime)>> {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `token` was minted here and has not expired.
    pub(crate) fn accepts(&self, token: &[u8]) -> bool {
        let now = SystemTime::now();
        self.lock()
            .iter()
            .any(|(t, expires)| *expires > now && same_secret(t.as_bytes(), token))
    }

    /// How many tokens were minted.
    pub(crate) fn count(&self) -> usize {
        self.lock().len()
    }

    /// Refuses (`true`) or serves (`false`) TokenRequests from now on.
    pub(crate) fn refuse(&self, refuse: bool) {
        self.refuse.store(refuse, Ordering::SeqCst);
    }

    /// Answers a TokenRequest for `namespace/name` with `body`.
    pub(crate) fn serve(&self, namespace: &str, name: &str, body: &[u8]) -> Response<Body> {
        if self.refuse.load(Ordering::SeqCst) {
            return respond::status(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                "sim: TokenRequests are refused for this test",
            );
        }
        let request: Value = match serde_json::from_slice(body) {
            Ok(v @ Value::Object(_)) => v,
            _ => return bad_request("invalid TokenRequest body"),
        };
        let spec = &request["spec"];
        let seconds = match &spec["expirationSeconds"] {
            Value::Null => DEFAULT_EXPIRATION_SECONDS,
            v => match v.as_u64().filter(|s| *s >= 1) {
                Some(s) => s,
                None => return bad_request("spec.expirationSeconds: must be at least 1"),
            },
        };
        let bytes: [u8; 24] = rand::random();
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let token = format!("sim-sa-{token}");
        // Whole seconds, as `expirationTimestamp` says: the token dies when it says it does.
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let expires = UNIX_EPOCH + Duration::from_secs(now + seconds);
        self.lock().push((token.clone(), expires));
        let body = json!({
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": name, "namespace": namespace, "creationTimestamp": null},
            "spec": {"audiences": spec["audiences"], "expirationSeconds": seconds},
            "status": {"token": token, "expirationTimestamp": rfc3339(expires)},
        });
        respond::json(StatusCode::CREATED, &body)
    }
}
