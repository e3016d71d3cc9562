//! The API server kubewitness forwards to.
//!
//! kubewitness reaches upstream through a kube-client [`kube_client::Client`], built from a
//! kubeconfig (and context), in-cluster config, or inferred, so every TLS and auth method
//! kube-client supports works. Every upstream request carries kubewitness's own credentials
//! plus `Impersonate-User`, `Impersonate-Group` and `Impersonate-Uid` of the caller, so
//! Kubernetes RBAC and the audit log still see the real person. Whatever `Authorization` or
//! `Impersonate-*` headers the caller sent are dropped first: a caller can never act as
//! someone else.
//!
//! The same holds for what the API server writes in its audit log about where a request came
//! from: the caller's `X-Forwarded-*`, `X-Real-Ip`, `Forwarded` and `Audit-ID` are dropped,
//! and kubewitness sets `X-Forwarded-For` to the address it accepted the connection from and
//! `Audit-ID` to its own id for the request ([`Origin`]), so the audit's `sourceIPs` are true
//! and its `auditID` joins kubewitness's logs.
//!
//! With `upstream.tokenRequest`, kubewitness's own credential is a short-lived ServiceAccount
//! token it mints and refreshes ([`CredentialStatus`]); the kubeconfig or in-cluster
//! credential then serves only to mint it.
//!
//! Connections are pooled: kube-client's hyper client keeps idle HTTP/1.1 connections and
//! multiplexes HTTP/2 ones (ALPN `h2`), so ordinary requests reuse them; an exec, attach or
//! port-forward upgrade takes a connection of its own for the session's life.

mod credential;
mod origin;

mod stream;

pub use credential::{
    CredentialStatus, DEFAULT_TOKEN_SECONDS, MIN_TOKEN_LIFETIME, REFRESH_AT, RETRY_MAX, RETRY_MIN,
    TokenRequestConfig,
};
pub use origin::Origin;
pub use stream::OpenError;

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use kube_client::config::{KubeConfigOptions, Kubeconfig};

use crate::auth::Identity;
use crate::config::{UpstreamConfig, expand_home};

/// How long to wait for a TCP/TLS connection to the API server.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Headers never forwarded upstream: hop-by-hop headers, credentials and identity
/// assertions of the caller (replaced by kubewitness's own), and upgrade negotiation
/// (kubewitness terminates upgrades and negotiates its own).
const DROPPED_REQUEST_HEADERS: &[&str] = &[
    "authorization",
    "connection",
    "content-length",
    "host",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "accept-encoding",
    "x-stream-protocol-version",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-protocol",
    "sec-websocket-extensions",
    "x-remote-user",
    "x-remote-group",
    "x-real-ip",
    "forwarded",
    "audit-id",
];

/// Header name prefixes never forwarded upstream.
const DROPPED_REQUEST_PREFIXES: &[&str] = &["impersonate-", "x-remote-extra-", "x-forwarded-"];

/// Response headers not passed back to the client.
const DROPPED_RESPONSE_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// A problem reaching or configuring upstream.
#[derive(Debug, thiserror::Error)]
#[error("upstream: {0}")]
pub struct UpstreamError(String);

/// Why a forwarded request got no answer from upstream.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// The request could not be built (an identity that cannot be a header).
    #[error(transparent)]
    Request(#[from] UpstreamError),
    /// No response came back: the API server could not be reached (connection refused,
    /// TLS failure, reset before an answer).
    #[error("the API server is unreachable: {0}")]
    Unreachable(String),
}

/// The upstream API server.
#[derive(Clone)]
pub struct Upstream {
    client: kube_client::Client,
    url: String,
    credential: Option<CredentialStatus>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream").field("url", &self.url).finish()
    }
}

impl Upstream {
    /// Connects (lazily) to the API server described by `cfg`; with `tokenRequest`, mints
    /// the first token before returning.
    pub async fn from_config(cfg: &UpstreamConfig) -> Result<Upstream, UpstreamError> {
        Upstream::from_config_with_min_token_lifetime(cfg, MIN_TOKEN_LIFETIME).await
    }

    /// [`Upstream::from_config`] with another lower bound on
    /// `tokenRequest.expirationSeconds` than the API server's ten minutes: tests against the
    /// simulator, which honours seconds, watch a refresh happen.
    pub async fn from_config_with_min_token_lifetime(
        cfg: &UpstreamConfig,
        min_token_lifetime: std::time::Duration,
    ) -> Result<Upstream, UpstreamError> {
        let options = KubeConfigOptions {
            context: cfg.context.clone(),
            ..KubeConfigOptions::default()
        };
        let mut config = match &cfg.kubeconfig {
            Some(path) => {
                let path = expand_home(path);
                let kubeconfig = Kubeconfig::read_from(&path)
                    .map_err(|e| UpstreamError(format!("{}: {e}", path.display())))?;
                kube_client::Config::from_custom_kubeconfig(kubeconfig, &options)
                    .await
                    .map_err(|e| UpstreamError(e.to_string()))?
            }
            None if cfg.context.is_some() => kube_client::Config::from_kubeconfig(&options)
                .await
                .map_err(|e| UpstreamError(e.to_string()))?,
            None => kube_client::Config::infer()
                .await
                .map_err(|e| UpstreamError(e.to_string()))?,
        };
        let auth = &config.auth_info;
        if auth.impersonate.is_some()
            || auth.impersonate_groups.is_some()
            || auth.impersonate_uid.is_some()
        {
            return Err(UpstreamError(
                "the upstream kubeconfig impersonates someone itself; kubewitness must \
                 impersonate each caller, so remove `as`/`as-groups` from it"
                    .into(),
            ));
        }
        // Idle exec and `logs -f` sessions are legitimate; policy bounds them, not a socket
        // read timeout.
        config.read_timeout = None;
        config.write_timeout = None;
        config.connect_timeout = Some(CONNECT_TIMEOUT);
        let url = config.cluster_url.to_string();
        let Some(tr) = &cfg.token_request else {
            let client =
                kube_client::Client::try_from(config).map_err(|e| UpstreamError(e.to_string()))?;
            return Ok(Upstream {
                client,
                url,
                credential: None,
            });
        };
        let bootstrap = kube_client::Client::try_from(config.clone())
            .map_err(|e| UpstreamError(e.to_string()))?;
        let (status, layer) = credential::start(bootstrap, tr, min_token_lifetime).await?;
        // The minted token is the only credential: no client certificate, token or plugin.
        config.auth_info = kube_client::config::AuthInfo::default();
        let client = kube_client::client::ClientBuilder::try_from(config)
            .map_err(|e| UpstreamError(e.to_string()))?
            .with_layer(&layer)
            .build();
        Ok(Upstream {
            client,
            url,
            credential: Some(status),
        })
    }

    /// The minted upstream token's validity and expiry (`upstream.tokenRequest`); `None`
    /// when the configured credential is used as is.
    pub fn credential(&self) -> Option<&CredentialStatus> {
        self.credential.as_ref()
    }

    /// The kube-client behind this upstream (kubewitness's own identity, no impersonation).
    pub fn client(&self) -> &kube_client::Client {
        &self.client
    }

    /// The API server URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Forwards an ordinary request as `identity`; the response body streams.
    pub async fn forward(
        &self,
        parts: &http::request::Parts,
        body: Bytes,
        identity: &Identity,
        origin: &Origin,
    ) -> Result<Response<kube_client::client::Body>, ForwardError> {
        let path = parts
            .uri
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .to_string();
        let mut builder = Request::builder().method(parts.method.clone()).uri(path);
        if let Some(headers) = builder.headers_mut() {
            copy_request_headers(&parts.headers, headers);
            impersonate(headers, identity)?;
            origin.apply(headers);
        }
        let req = builder
            .body(kube_client::client::Body::from(body))
            .map_err(|e| UpstreamError(e.to_string()))?;
        let _timer = crate::metrics::metrics().upstream_timer("request");
        let mut res = self
            .client
            .send(req)
            .await
            .map_err(|e| ForwardError::Unreachable(e.to_string()))?;
        strip_response_headers(res.headers_mut());
        Ok(res)
    }
}

/// The most bytes of an answer [`Upstream::send_as`] keeps.
pub const MAX_SENT_ANSWER: usize = 1 << 20;

/// A request kubewitness built itself, and the API server's answer to it.
#[derive(Clone, Debug)]
pub struct SentAnswer {
    /// The status code.
    pub status: http::StatusCode,
    /// The content type.
    pub content_type: Option<String>,
    /// The body, at most [`MAX_SENT_ANSWER`] bytes.
    pub body: Bytes,
}

impl Upstream {
    /// Sends a request kubewitness built (an approved write, its dry run) as `identity`;
    /// the answer's body is read up to [`MAX_SENT_ANSWER`] bytes.
    pub async fn send_as(
        &self,
        identity: &Identity,
        write: &crate::policy::write::UpstreamWrite,
        origin: &Origin,
    ) -> Result<SentAnswer, ForwardError> {
        use http_body_util::{BodyExt, Limited};
        let mut builder = Request::builder()
            .method(write.method.clone())
            .uri(write.path_and_query.as_str())
            .header(http::header::ACCEPT, "application/json");
        if let Some(ct) = write.content_type {
            builder = builder.header(http::header::CONTENT_TYPE, ct);
        }
        if let Some(headers) = builder.headers_mut() {
            impersonate(headers, identity)?;
            origin.apply(headers);
        }
        let req = builder
            .body(kube_client::client::Body::from(write.body.clone()))
            .map_err(|e| UpstreamError(e.to_string()))?;
        let _timer = crate::metrics::metrics().upstream_timer("request");
        let res = self
            .client
            .send(req)
            .await
            .map_err(|e| ForwardError::Unreachable(e.to_string()))?;
        let status = res.status();
        let content_type = res
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = Limited::new(res.into_body(), MAX_SENT_ANSWER)
            .collect()
            .await
            .map_err(|e| ForwardError::Unreachable(format!("reading the answer: {e}")))?
            .to_bytes();
        Ok(SentAnswer {
            status,
            content_type,
            body,
        })
    }
}

/// An `extra` key as a header name suffix: upper case and everything outside the RFC 3986
/// unreserved set percent-encoded (`scopes.example.com/x` → `scopes.example.com%2fx`).
fn percent_encode_key(key: &str) -> String {
    crate::request::percent_encode(key)
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Copies the caller's headers that may go upstream.
fn copy_request_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        let n = name.as_str();
        if DROPPED_REQUEST_HEADERS.contains(&n)
            || DROPPED_REQUEST_PREFIXES.iter().any(|p| n.starts_with(p))
        {
            continue;
        }
        to.append(name.clone(), value.clone());
    }
}

/// Drops hop-by-hop headers from an upstream response.
pub fn strip_response_headers(headers: &mut HeaderMap) {
    for name in DROPPED_RESPONSE_HEADERS {
        headers.remove(*name);
    }
}

/// Sets the impersonation headers for `identity`, replacing any present.
pub fn impersonate(headers: &mut HeaderMap, identity: &Identity) -> Result<(), UpstreamError> {
    let value = |s: &str| {
        HeaderValue::from_str(s)
            .map_err(|_| UpstreamError("identity has characters not allowed in a header".into()))
    };
    let stale: Vec<HeaderName> = headers
        .keys()
        .filter(|k| k.as_str().starts_with("impersonate-"))
        .cloned()
        .collect();
    for k in stale {
        headers.remove(k);
    }
    headers.insert("impersonate-user", value(&identity.user)?);
    for g in &identity.groups {
        headers.append("impersonate-group", value(g)?);
    }
    if let Some(uid) = &identity.uid {
        headers.insert("impersonate-uid", value(uid)?);
    }
    for (key, values) in &identity.extra {
        // Header names are case-insensitive and limited to token characters, so the key is
        // percent-encoded, as kube-apiserver decodes it.
        let name = format!("impersonate-extra-{}", percent_encode_key(key));
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| UpstreamError("an extra key cannot be a header name".into()))?;
        for v in values {
            headers.append(name.clone(), value(v)?);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_credentials_never_go_upstream() {
        let mut from = HeaderMap::new();
        for (k, v) in [
            ("authorization", "Bearer caller-token"),
            ("impersonate-user", "admin"),
            ("Impersonate-Group", "system:masters"),
            ("impersonate-extra-scopes", "x"),
            ("x-remote-user", "admin"),
            (
                "sec-websocket-protocol",
                "base64url.bearer.authorization.k8s.io.eA",
            ),
            ("accept", "application/json"),
            ("user-agent", "kubectl/v1.32"),
        ] {
            from.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        let mut to = HeaderMap::new();
        copy_request_headers(&from, &mut to);
        let id = Identity {
            user: "alice".into(),
            uid: Some("u-1".into()),
            groups: vec!["sre".into(), "oncall".into()],
            ..Identity::default()
        };
        impersonate(&mut to, &id).unwrap();
        let names: Vec<_> = to.keys().map(|k| k.as_str().to_string()).collect();
        assert!(
            !names
                .iter()
                .any(|n| n == "authorization" || n.starts_with("x-remote"))
        );
        assert!(!names.iter().any(|n| n == "sec-websocket-protocol"));
        assert_eq!(to["impersonate-user"], "alice");
        assert_eq!(to["impersonate-uid"], "u-1");
        let groups: Vec<_> = to.get_all("impersonate-group").iter().collect();
        assert_eq!(groups, ["sre", "oncall"]);
        assert!(to.get("impersonate-extra-scopes").is_none());
        assert_eq!(to["accept"], "application/json");
    }

    #[test]
    fn forged_origin_headers_are_dropped_and_the_real_client_is_told() {
        let mut from = HeaderMap::new();
        for (k, v) in [
            ("x-forwarded-for", "10.9.9.9"),
            ("X-Forwarded-Host", "evil.example"),
            ("x-real-ip", "10.8.8.8"),
            ("forwarded", "for=10.7.7.7"),
            ("audit-id", "forged-audit-id"),
            ("accept", "application/json"),
        ] {
            from.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        let mut to = HeaderMap::new();
        copy_request_headers(&from, &mut to);
        let origin = Origin::new("192.0.2.7".parse().unwrap());
        origin.apply(&mut to);
        assert_eq!(
            to.get_all("x-forwarded-for").iter().collect::<Vec<_>>(),
            ["192.0.2.7"]
        );
        assert_eq!(to["audit-id"], origin.audit_id.as_str());
        for gone in ["x-forwarded-host", "x-real-ip", "forwarded"] {
            assert!(to.get(gone).is_none(), "{gone} went upstream");
        }
        assert_ne!(Origin::new(origin.client).audit_id, origin.audit_id);
    }

    #[test]
    fn identities_that_cannot_be_headers_are_refused() {
        let id = Identity {
            user: "bad\nname".into(),
            uid: None,
            groups: vec![],
            ..Identity::default()
        };
        assert!(impersonate(&mut HeaderMap::new(), &id).is_err());
    }
}
