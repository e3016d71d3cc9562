//! Who is calling.
//!
//! A caller is identified, in this order, by a TLS client certificate verified against
//! `tls.clientCA` (CN = user, O = groups), or by a bearer token: from the `Authorization`
//! header or, for browsers and some WebSocket clients, the
//! `base64url.bearer.authorization.k8s.io.<token>` sub-protocol. Tokens are looked up in
//! the static token file, then, when enabled, asked about upstream with a `TokenReview`.
//! Any success wins; with no credential or none valid the request gets 401 and never
//! reaches upstream.
//!
//! Tokens are never logged and never stored in clear: the token file and the review cache
//! are keyed by the token's SHA-256.

mod cert;
mod review;
mod tokens;

pub use cert::identity_from_cert;
pub use review::TokenReviewer;
pub use tokens::{MAX_TOKEN_FILE, TokenFile, TokenFileError};

use std::sync::Arc;

use base64::Engine;
use http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::watched::Watched;

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Identity {
    /// The user name (`Impersonate-User` upstream).
    pub user: String,
    /// The user's uid, when known (`Impersonate-Uid`).
    pub uid: Option<String>,
    /// Groups (`Impersonate-Group`), without `system:authenticated` (the API server adds it).
    pub groups: Vec<String>,
}

/// The WebSocket sub-protocol prefix that carries a bearer token.
pub const WS_BEARER_PREFIX: &str = "base64url.bearer.authorization.k8s.io.";

/// Why a caller was not authenticated.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No credential was presented.
    #[error("no credentials were presented")]
    Missing,
    /// A credential was presented and rejected.
    #[error("invalid bearer token")]
    Invalid,
    /// The credential could not be checked (TokenReview failed).
    #[error("could not verify the bearer token: {0}")]
    Unavailable(String),
}

/// The token file in force, reloaded when it changes.
pub type TokenStore = Watched<TokenFile>;

/// Authenticates requests.
#[derive(Debug, Default)]
pub struct Authenticator {
    tokens: Option<Arc<TokenStore>>,
    review: Option<TokenReviewer>,
}

impl Authenticator {
    /// An authenticator with fixed tokens (no file behind them) and optional TokenReview.
    pub fn new(tokens: Option<TokenFile>, review: Option<TokenReviewer>) -> Authenticator {
        let tokens = tokens.map(|t| Arc::new(TokenStore::fixed(t)));
        Authenticator { tokens, review }
    }

    /// An authenticator whose tokens come from a watched file.
    pub fn with_store(tokens: Option<Arc<TokenStore>>, review: Option<TokenReviewer>) -> Self {
        Authenticator { tokens, review }
    }

    /// The token file in force, if any (reloads and logging).
    pub fn tokens(&self) -> Option<&Arc<TokenStore>> {
        self.tokens.as_ref()
    }

    /// Authenticates a request from its headers and its connection's verified client
    /// certificate identity, if any.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        cert: Option<&Identity>,
    ) -> Result<Identity, AuthError> {
        if let Some(identity) = cert {
            return Ok(identity.clone());
        }
        let token = bearer_token(headers).ok_or(AuthError::Missing)?;
        let digest = token_digest(&token);
        let tokens = self.tokens.as_ref().map(|t| t.current());
        if let Some(id) = tokens.as_ref().and_then(|t| t.lookup(&digest)) {
            return Ok(id.clone());
        }
        match &self.review {
            Some(review) => review.review(&token, digest).await,
            None => Err(AuthError::Invalid),
        }
    }
}

/// The bearer token of a request: `Authorization: Bearer …`, else the WebSocket
/// sub-protocol form.
pub fn bearer_token(headers: &HeaderMap) -> Option<String> {
    for value in headers.get_all(http::header::AUTHORIZATION) {
        let Ok(value) = value.to_str() else { continue };
        let mut parts = value.trim().splitn(2, ' ');
        let scheme = parts.next().unwrap_or("");
        let token = parts.next().unwrap_or("").trim();
        if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() {
            return Some(token.to_string());
        }
    }
    ws_bearer_token(headers)
}

fn ws_bearer_token(headers: &HeaderMap) -> Option<String> {
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    headers
        .get_all(http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|p| p.trim().strip_prefix(WS_BEARER_PREFIX))
        .find_map(|b64| engine.decode(b64).ok())
        .and_then(|raw| String::from_utf8(raw).ok())
        .filter(|t| !t.is_empty())
}

/// The SHA-256 of a token: the only form in which tokens are kept.
pub fn token_digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn bearer_from_header_and_from_subprotocol() {
        assert_eq!(
            bearer_token(&headers(&[("authorization", "Bearer abc")])).as_deref(),
            Some("abc")
        );
        assert_eq!(
            bearer_token(&headers(&[("authorization", "bearer  abc ")])).as_deref(),
            Some("abc")
        );
        assert_eq!(
            bearer_token(&headers(&[("authorization", "Basic abc")])),
            None
        );
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("tok-1");
        let proto = format!("v5.channel.k8s.io, {WS_BEARER_PREFIX}{b64}");
        assert_eq!(
            bearer_token(&headers(&[("sec-websocket-protocol", &proto)])).as_deref(),
            Some("tok-1")
        );
    }

    #[tokio::test]
    async fn token_file_then_nothing() {
        let file = TokenFile::parse("tok-a,alice,uid-1,\"sre,oncall\"\n").unwrap();
        let auth = Authenticator::new(Some(file), None);
        let id = auth
            .authenticate(&headers(&[("authorization", "Bearer tok-a")]), None)
            .await
            .unwrap();
        assert_eq!(id.user, "alice");
        assert_eq!(id.groups, ["sre", "oncall"]);
        let err = auth
            .authenticate(&headers(&[("authorization", "Bearer tok-b")]), None)
            .await
            .unwrap_err();
        assert!(matches!(err, AuthError::Invalid));
        let err = auth
            .authenticate(&HeaderMap::new(), None)
            .await
            .unwrap_err();
        assert!(matches!(err, AuthError::Missing));
    }

    #[tokio::test]
    async fn a_verified_certificate_wins() {
        let auth = Authenticator::default();
        let id = Identity {
            user: "bob".into(),
            uid: None,
            groups: vec!["dev".into()],
        };
        assert_eq!(
            auth.authenticate(&HeaderMap::new(), Some(&id))
                .await
                .unwrap(),
            id
        );
    }
}
