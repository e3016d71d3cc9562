//! Who is calling.
//!
//! A caller is identified, in this order, by a TLS client certificate verified against
//! `tls.clientCA` (CN = user, O = groups), or by a bearer token: from the `Authorization`
//! header or, for browsers and some WebSocket clients, the
//! `base64url.bearer.authorization.k8s.io.<token>` sub-protocol. Tokens are looked up in
//! the static token file, then, when `auth.oidc` is set, a JWT whose `iss` is the OIDC
//! issuer is validated locally ([`OidcAuthenticator`]; it alone decides such a token), then,
//! when enabled, other tokens are asked about upstream with a `TokenReview`.
//! Any success wins; with no credential or none valid the request gets 401 and never
//! reaches upstream.
//!
//! Tokens are never logged and never stored in clear: the token file and the review cache
//! are keyed by the token's SHA-256.
//!
//! Unauthenticated traffic is rate limited per client address ([`AddressLimit`]): every
//! failed authentication and every TokenReview not answered from the cache spends a token
//! of the address's bucket, and an address with none left gets 429 before anything is asked
//! upstream, so random tokens cannot turn into a flood of TokenReviews.

mod cert;
mod jwks;
mod oidc;
mod review;
mod tokens;

pub use cert::identity_from_cert;
pub use jwks::{FETCH_TIMEOUT, MAX_JWKS_BYTES, MAX_KEYS, MIN_REFRESH_INTERVAL, REFRESH_INTERVAL};
pub use oidc::{CLOCK_SKEW, MAX_TOKEN_BYTES, OidcAuthenticator, Reject as OidcReject};
pub use review::TokenReviewer;
pub use tokens::{MAX_TOKEN_FILE, TokenFile, TokenFileError};

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use base64::Engine;
use http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::policy::RateLimit;
use crate::policy::limiter::{Limited, Limiter};
use crate::watched::Watched;

/// Unauthenticated requests and uncached TokenReviews per second, per client address.
pub const DEFAULT_UNAUTHENTICATED_PER_SECOND: f64 = 1.0;
/// The burst of [`DEFAULT_UNAUTHENTICATED_PER_SECOND`].
pub const DEFAULT_UNAUTHENTICATED_BURST: u64 = 5;

/// The per-address budget for unauthenticated traffic (`auth.unauthenticatedPerSecond`,
/// `auth.unauthenticatedBurst`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AddressLimit {
    /// Sustained rate.
    pub per_second: f64,
    /// Bucket size.
    pub burst: u64,
}

impl AddressLimit {
    /// The budget `auth:` sets, defaults for what it leaves out.
    pub fn from_config(cfg: &crate::config::AuthConfig) -> AddressLimit {
        let default = AddressLimit::default();
        AddressLimit {
            per_second: cfg
                .unauthenticated_per_second
                .map_or(default.per_second, f64::from),
            burst: cfg.unauthenticated_burst.unwrap_or(default.burst),
        }
    }
}

impl Default for AddressLimit {
    fn default() -> Self {
        AddressLimit {
            per_second: DEFAULT_UNAUTHENTICATED_PER_SECOND,
            burst: DEFAULT_UNAUTHENTICATED_BURST,
        }
    }
}

/// An authenticated caller.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Identity {
    /// The user name (`Impersonate-User` upstream).
    pub user: String,
    /// The user's uid, when known (`Impersonate-Uid`).
    pub uid: Option<String>,
    /// Groups (`Impersonate-Group`), without `system:authenticated` (the API server adds it).
    pub groups: Vec<String>,
    /// Extra attributes (`Impersonate-Extra-<key>`), from a TokenReview's `user.extra`:
    /// scopes and the like, which narrow what the identity may do upstream.
    pub extra: BTreeMap<String, Vec<String>>,
}

/// Whether `identity` claims `group` — the breakglass group, which only kubewitness adds to
/// requests made under an approved access grant. Such a caller is refused, whatever vouched
/// for the group (a certificate's O, the token file, OIDC, a TokenReview).
pub fn claims_group(identity: &Identity, group: &str) -> bool {
    identity.groups.iter().any(|g| g == group)
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
    /// Too many unauthenticated requests from this client address.
    #[error("{0}")]
    Throttled(Limited),
}

/// The token file in force, reloaded when it changes.
pub type TokenStore = Watched<TokenFile>;

/// Authenticates requests.
#[derive(Debug, Default)]
pub struct Authenticator {
    tokens: Option<Arc<TokenStore>>,
    oidc: Option<Arc<OidcAuthenticator>>,
    review: Option<TokenReviewer>,
    addresses: Arc<Limiter>,
    address_limit: AddressLimit,
}

impl Authenticator {
    /// An authenticator with fixed tokens (no file behind them) and optional TokenReview.
    pub fn new(tokens: Option<TokenFile>, review: Option<TokenReviewer>) -> Authenticator {
        let tokens = tokens.map(|t| Arc::new(TokenStore::fixed(t)));
        Authenticator::with_store(tokens, review)
    }

    /// An authenticator whose tokens come from a watched file.
    pub fn with_store(tokens: Option<Arc<TokenStore>>, review: Option<TokenReviewer>) -> Self {
        Authenticator {
            tokens,
            oidc: None,
            review,
            addresses: Limiter::new(),
            address_limit: AddressLimit::default(),
        }
    }

    /// Sets the per-address budget for unauthenticated traffic.
    pub fn with_address_limit(mut self, limit: AddressLimit) -> Self {
        self.address_limit = limit;
        self
    }

    /// Validates OIDC ID tokens of `oidc`'s issuer (after the token file, before
    /// TokenReview).
    pub fn with_oidc(mut self, oidc: Arc<OidcAuthenticator>) -> Self {
        self.oidc = Some(oidc);
        self
    }

    /// The OIDC authenticator, if any (its rejection counts).
    pub fn oidc(&self) -> Option<&Arc<OidcAuthenticator>> {
        self.oidc.as_ref()
    }

    /// The token file in force, if any (reloads and logging).
    pub fn tokens(&self) -> Option<&Arc<TokenStore>> {
        self.tokens.as_ref()
    }

    /// Authenticates a request from its headers, its connection's verified client
    /// certificate identity, if any, and the client's address.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        cert: Option<&Identity>,
        client: IpAddr,
    ) -> Result<Identity, AuthError> {
        if let Some(identity) = cert {
            return Ok(identity.clone());
        }
        let Some(token) = bearer_token(headers) else {
            return Err(self.refuse(client, AuthError::Missing));
        };
        let digest = token_digest(&token);
        let tokens = self.tokens.as_ref().map(|t| t.current());
        if let Some(id) = tokens.as_ref().and_then(|t| t.lookup(&digest)) {
            return Ok(id.clone());
        }
        if let Some(oidc) = &self.oidc
            && oidc.claims_issuer(&token)
        {
            return oidc
                .authenticate(&token)
                .await
                .map_err(|_| self.refuse(client, AuthError::Invalid));
        }
        let Some(review) = &self.review else {
            return Err(self.refuse(client, AuthError::Invalid));
        };
        if let Some(answer) = review.cached(&digest) {
            return answer.ok_or_else(|| self.refuse(client, AuthError::Invalid));
        }
        // An answer not in the cache costs an upstream request: the address pays first.
        self.spend(client).map_err(AuthError::Throttled)?;
        review.review(&token, digest).await
    }

    /// `err`, or [`AuthError::Throttled`] once `client` has spent its budget.
    fn refuse(&self, client: IpAddr, err: AuthError) -> AuthError {
        match self.spend(client) {
            Ok(()) => err,
            Err(limited) => AuthError::Throttled(limited),
        }
    }

    fn spend(&self, client: IpAddr) -> Result<(), Limited> {
        let rate = RateLimit {
            requests_per_second: Some(self.address_limit.per_second),
            burst: self.address_limit.burst,
            max_concurrent_streams: None,
        };
        self.addresses
            .check_request(&client.to_string(), "", &rate, Instant::now())
            .map_err(|l| Limited {
                reason: format!(
                    "too many unauthenticated requests from {client}: {}",
                    l.reason
                ),
                ..l
            })
    }
}

/// The bearer token of a request: `Authorization: Bearer …`, else the WebSocket
/// sub-protocol form.
pub fn bearer_token(headers: &HeaderMap) -> Option<String> {
    for value in headers.get_all(http::header::AUTHORIZATION) {
        let Ok(value) = value.to_str() else { continue };
        // RFC 9110: the scheme and the credential are separated by whitespace (a space or a
        // tab), the scheme is case-insensitive.
        let value = value.trim();
        let (scheme, token) = value
            .split_once([' ', '\t'])
            .map_or((value, ""), |(s, t)| (s, t.trim()));
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

    const CLIENT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));

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
        // A tab separates the scheme from the token as well as a space does.
        assert_eq!(
            bearer_token(&headers(&[("authorization", "bearer\tabc")])).as_deref(),
            Some("abc")
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
            .authenticate(&headers(&[("authorization", "Bearer tok-a")]), None, CLIENT)
            .await
            .unwrap();
        assert_eq!(id.user, "alice");
        assert_eq!(id.groups, ["sre", "oncall"]);
        let err = auth
            .authenticate(&headers(&[("authorization", "Bearer tok-b")]), None, CLIENT)
            .await
            .unwrap_err();
        assert!(matches!(err, AuthError::Invalid));
        let err = auth
            .authenticate(&HeaderMap::new(), None, CLIENT)
            .await
            .unwrap_err();
        assert!(matches!(err, AuthError::Missing));
    }

    #[tokio::test]
    async fn a_verified_certificate_wins() {
        // A token that is valid on its own competes with the certificate.
        let file = TokenFile::parse("tok-a,alice,uid-1,sre\n").unwrap();
        let auth = Authenticator::new(Some(file), None);
        let token = headers(&[("authorization", "Bearer tok-a")]);
        let alone = auth.authenticate(&token, None, CLIENT).await.unwrap();
        assert_eq!(alone.user, "alice");
        let id = Identity {
            user: "bob".into(),
            uid: None,
            groups: vec!["dev".into()],
            ..Identity::default()
        };
        assert_eq!(
            auth.authenticate(&token, Some(&id), CLIENT).await.unwrap(),
            id
        );
        // With no token at all the certificate is enough.
        assert_eq!(
            auth.authenticate(&HeaderMap::new(), Some(&id), CLIENT)
                .await
                .unwrap(),
            id
        );
    }
}
