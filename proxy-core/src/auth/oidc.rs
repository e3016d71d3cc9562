//! Caller identity from OIDC ID tokens (`auth.oidc`), validated locally the way
//! kube-apiserver's `--oidc-*` flags do, so kubectl with an OIDC login plugin works against
//! kubewitness even where the API server does not trust that issuer.
//!
//! A token is a compact JWS (at most [`MAX_TOKEN_BYTES`]). It is accepted when:
//! * its header's `alg` is RS256/384/512 or ES256/384 (never `none` or HMAC) and its
//!   signature verifies with one of the issuer's keys ([`super::jwks`]), the one its `kid`
//!   names when it names one; an unknown `kid` refreshes the keys (rate limited) once;
//! * `iss` is `issuerURL` exactly, `aud` (a string or a list) contains `clientID`;
//! * `exp` is set and not past, `nbf` (if set) not in the future, each within
//!   [`CLOCK_SKEW`];
//! * the username claim (`usernameClaim`, default `sub`) is a non-empty string; for
//!   `email`, an `email_verified` claim, when present, must be true.
//!
//! The user name is the claim's value after `usernamePrefix`; without one, every claim
//! but `email` gets `issuerURL#` (as kube-apiserver does), and `-` means no prefix. Groups
//! come from `groupsClaim` (a string or a list of strings), each after `groupsPrefix`.
//!
//! A bearer token whose (unverified) `iss` is this issuer is decided here alone: rejected,
//! it is never sent to a TokenReview. Rejections are counted by reason
//! ([`OidcAuthenticator::failures`]) and logged with the reason, never with the token.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde_json::{Map, Value};

use super::Identity;
use super::jwks::{Alg, Fetcher, Jwks, KeySet, REFRESH_INTERVAL};
use crate::config::{OidcConfig, expand_home};

/// The longest bearer token parsed as a JWT.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// How far `exp` and `nbf` may be off the local clock.
pub const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// Why an OIDC token was refused; [`Reject::as_str`] names it in logs and counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reject {
    /// Not a well-formed JWT, or too long.
    Malformed,
    /// `alg` is `none`, HMAC or unknown.
    Algorithm,
    /// No key of the issuer has the token's `kid`.
    UnknownKey,
    /// The signature does not verify.
    Signature,
    /// `iss` is not the configured issuer.
    Issuer,
    /// `aud` does not contain the client id.
    Audience,
    /// `exp` is missing or past.
    Expired,
    /// `nbf` is in the future.
    NotYetValid,
    /// The username claim is missing or empty, the groups claim has the wrong type, or the
    /// email is not verified.
    Claims,
}

impl Reject {
    const ALL: [Reject; 9] = [
        Reject::Malformed,
        Reject::Algorithm,
        Reject::UnknownKey,
        Reject::Signature,
        Reject::Issuer,
        Reject::Audience,
        Reject::Expired,
        Reject::NotYetValid,
        Reject::Claims,
    ];

    /// A short stable name: `malformed`, `algorithm`, `unknown_key`, `signature`, `issuer`,
    /// `audience`, `expired`, `not_yet_valid`, `claims`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reject::Malformed => "malformed",
            Reject::Algorithm => "algorithm",
            Reject::UnknownKey => "unknown_key",
            Reject::Signature => "signature",
            Reject::Issuer => "issuer",
            Reject::Audience => "audience",
            Reject::Expired => "expired",
            Reject::NotYetValid => "not_yet_valid",
            Reject::Claims => "claims",
        }
    }
}

/// How claims become an identity.
#[derive(Clone, Debug)]
struct Mapping {
    issuer: String,
    client_id: String,
    username_claim: String,
    username_prefix: String,
    groups_claim: Option<String>,
    groups_prefix: String,
}

impl Mapping {
    fn from_config(cfg: &OidcConfig) -> Mapping {
        let username_claim = cfg.username_claim.clone().unwrap_or_else(|| "sub".into());
        let username_prefix = match cfg.username_prefix.as_deref() {
            Some("-") => String::new(),
            Some(p) => p.to_string(),
            None if username_claim == "email" => String::new(),
            None => format!("{}#", cfg.issuer_url),
        };
        Mapping {
            issuer: cfg.issuer_url.clone(),
            client_id: cfg.client_id.clone(),
            username_claim,
            username_prefix,
            groups_claim: cfg.groups_claim.clone(),
            groups_prefix: cfg.groups_prefix.clone().unwrap_or_default(),
        }
    }
}

/// Validates ID tokens of one issuer. Cheap to share: the keys are behind an `Arc`.
#[derive(Debug)]
pub struct OidcAuthenticator {
    mapping: Mapping,
    jwks: Arc<Jwks>,
    failures: [AtomicU64; Reject::ALL.len()],
}

/// A decoded, not yet verified token.
struct Jwt<'a> {
    alg: Option<Alg>,
    kid: Option<String>,
    signed: &'a [u8],
    signature: Vec<u8>,
    claims: Map<String, Value>,
}

fn b64url(s: &str) -> Result<Vec<u8>, Reject> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| Reject::Malformed)
}

impl<'a> Jwt<'a> {
    fn decode(token: &'a str) -> Result<Jwt<'a>, Reject> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Reject::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Reject::Malformed);
        };
        let header: Map<String, Value> =
            serde_json::from_slice(&b64url(h)?).map_err(|_| Reject::Malformed)?;
        // RFC 7515 §4.1.11: extensions marked critical must be understood; none are here.
        if header.contains_key("crit") {
            return Err(Reject::Malformed);
        }
        let claims: Map<String, Value> =
            serde_json::from_slice(&b64url(p)?).map_err(|_| Reject::Malformed)?;
        Ok(Jwt {
            alg: header
                .get("alg")
                .and_then(Value::as_str)
                .and_then(Alg::parse),
            kid: header.get("kid").and_then(Value::as_str).map(String::from),
            signed: &token.as_bytes()[..h.len() + 1 + p.len()],
            signature: b64url(s)?,
            claims,
        })
    }

    fn verified_by(&self, keys: &KeySet) -> Result<(), Reject> {
        let alg = self.alg.ok_or(Reject::Algorithm)?;
        let mut candidates = keys.candidates(self.kid.as_deref()).peekable();
        if candidates.peek().is_none() {
            return Err(Reject::UnknownKey);
        }
        if candidates.any(|k| k.verify(alg, self.signed, &self.signature)) {
            Ok(())
        } else {
            Err(Reject::Signature)
        }
    }
}

fn seconds(v: Option<&Value>) -> Option<u64> {
    v.and_then(|v| v.as_u64().or_else(|| v.as_f64().map(|f| f.max(0.0) as u64)))
}

impl Mapping {
    /// Checks the claims of a token whose signature verified, at `now` (Unix seconds).
    fn identity(&self, claims: &Map<String, Value>, now: u64) -> Result<Identity, Reject> {
        if claims.get("iss").and_then(Value::as_str) != Some(self.issuer.as_str()) {
            return Err(Reject::Issuer);
        }
        let audience_ok = match claims.get("aud") {
            Some(Value::String(a)) => *a == self.client_id,
            Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(&self.client_id)),
            _ => false,
        };
        if !audience_ok {
            return Err(Reject::Audience);
        }
        let skew = CLOCK_SKEW.as_secs();
        match seconds(claims.get("exp")) {
            Some(exp) if now < exp.saturating_add(skew) => {}
            _ => return Err(Reject::Expired),
        }
        if seconds(claims.get("nbf")).is_some_and(|nbf| nbf > now.saturating_add(skew)) {
            return Err(Reject::NotYetValid);
        }
        let user = claims
            .get(&self.username_claim)
            .and_then(Value::as_str)
            .filter(|u| !u.is_empty())
            .ok_or(Reject::Claims)?;
        if self.username_claim == "email"
            && claims
                .get("email_verified")
                .is_some_and(|v| v.as_bool() != Some(true))
        {
            return Err(Reject::Claims);
        }
        let groups = match self.groups_claim.as_ref().and_then(|c| claims.get(c)) {
            None => Vec::new(),
            Some(Value::String(g)) => vec![g.clone()],
            Some(Value::Array(list)) => list
                .iter()
                .map(|g| g.as_str().map(String::from).ok_or(Reject::Claims))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(Reject::Claims),
        };
        Ok(Identity {
            user: format!("{}{user}", self.username_prefix),
            uid: None,
            groups: groups
                .into_iter()
                .map(|g| format!("{}{g}", self.groups_prefix))
                .collect(),
            extra: BTreeMap::new(),
        })
    }
}

impl OidcAuthenticator {
    /// Sets up the issuer's keys (the first fetch is awaited; if the issuer cannot be
    /// reached the `jwksFile` keys serve) and starts their periodic refresh.
    pub async fn from_config(cfg: &OidcConfig) -> Result<OidcAuthenticator, String> {
        let roots = match &cfg.ca_file {
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in crate::tls::load_certs(&expand_home(ca)).map_err(|e| e.to_string())? {
                    roots
                        .add(cert)
                        .map_err(|e| format!("auth.oidc.caFile: {e}"))?;
                }
                roots
            }
            None => {
                let mut roots = rustls::RootCertStore::empty();
                roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
                roots
            }
        };
        let fetcher = Fetcher::new(&cfg.issuer_url, roots)?;
        let jwks = Arc::new(Jwks::new(
            Some(fetcher),
            cfg.jwks_file.as_ref().map(|p| expand_home(p)),
        ));
        let keys = jwks.refresh().await;
        tracing::info!(issuer = %cfg.issuer_url, keys, "OIDC authentication on");
        jwks.refresh_periodically(REFRESH_INTERVAL);
        Ok(OidcAuthenticator {
            mapping: Mapping::from_config(cfg),
            jwks,
            failures: Default::default(),
        })
    }

    /// Whether `token` claims to be from this issuer (its unverified `iss`), so that it is
    /// decided here and nowhere else.
    pub fn claims_issuer(&self, token: &str) -> bool {
        Jwt::decode(token).is_ok_and(|jwt| {
            jwt.claims.get("iss").and_then(Value::as_str) == Some(self.mapping.issuer.as_str())
        })
    }

    /// Validates `token` and maps its claims to an identity.
    pub async fn authenticate(&self, token: &str) -> Result<Identity, Reject> {
        let result = self.check(token).await;
        if let Err(reason) = result {
            self.failures[reason as usize].fetch_add(1, Ordering::Relaxed);
            tracing::info!(reason = reason.as_str(), "OIDC token rejected");
        }
        result
    }

    async fn check(&self, token: &str) -> Result<Identity, Reject> {
        let jwt = Jwt::decode(token)?;
        let mut verified = jwt.verified_by(&self.jwks.current());
        if verified == Err(Reject::UnknownKey) && self.jwks.refresh_for_unknown_key().await {
            verified = jwt.verified_by(&self.jwks.current());
        }
        verified?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.mapping.identity(&jwt.claims, now)
    }

    /// Rejections so far, by reason ([`Reject::as_str`]), for metrics.
    pub fn failures(&self) -> Vec<(&'static str, u64)> {
        Reject::ALL
            .iter()
            .map(|r| {
                (
                    r.as_str(),
                    self.failures[*r as usize].load(Ordering::Relaxed),
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(prefix: Option<&str>, claim: Option<&str>) -> Mapping {
        Mapping::from_config(&OidcConfig {
            issuer_url: "https://issuer.example".into(),
            client_id: "kubewitness".into(),
            username_claim: claim.map(String::from),
            groups_claim: Some("groups".into()),
            username_prefix: prefix.map(String::from),
            groups_prefix: Some("oidc:".into()),
            ..OidcConfig::default()
        })
    }

    fn claims(v: Value) -> Map<String, Value> {
        let Value::Object(mut m) = v else { panic!() };
        let base = serde_json::json!({"iss": "https://issuer.example", "aud": ["x", "kubewitness"],
            "exp": 2000, "sub": "u-1", "email": "a@example.com", "groups": ["sre", "dev"]});
        for (k, v) in base.as_object().unwrap() {
            m.entry(k.clone()).or_insert(v.clone());
        }
        m.retain(|_, v| !v.is_null());
        m
    }

    #[test]
    fn claims_map_like_kube_apiserver() {
        let id = mapping(None, None)
            .identity(&claims(serde_json::json!({})), 1000)
            .unwrap();
        assert_eq!(id.user, "https://issuer.example#u-1");
        assert_eq!(id.groups, ["oidc:sre", "oidc:dev"]);
        let email = mapping(None, Some("email"));
        let id = email
            .identity(&claims(serde_json::json!({})), 1000)
            .unwrap();
        assert_eq!(id.user, "a@example.com");
        let unverified = claims(serde_json::json!({"email_verified": false}));
        assert_eq!(email.identity(&unverified, 1000), Err(Reject::Claims));
        let id = mapping(Some("-"), None)
            .identity(&claims(serde_json::json!({})), 1000)
            .unwrap();
        assert_eq!(id.user, "u-1");
        let id = mapping(Some("corp:"), None)
            .identity(&claims(serde_json::json!({"groups": "one"})), 1000)
            .unwrap();
        assert_eq!(
            (id.user.as_str(), id.groups),
            ("corp:u-1", vec!["oidc:one".into()])
        );
    }

    #[test]
    fn each_claim_check_has_its_reason() {
        let m = mapping(None, None);
        let cases = [
            (
                serde_json::json!({"iss": "https://issuer.example/"}),
                Reject::Issuer,
            ),
            (serde_json::json!({"aud": "other"}), Reject::Audience),
            (serde_json::json!({"aud": null}), Reject::Audience),
            (serde_json::json!({"exp": 900}), Reject::Expired),
            (serde_json::json!({"exp": null}), Reject::Expired),
            (serde_json::json!({"nbf": 1100}), Reject::NotYetValid),
            (serde_json::json!({"sub": ""}), Reject::Claims),
            (serde_json::json!({"groups": [1]}), Reject::Claims),
        ];
        for (patch, want) in cases {
            assert_eq!(
                m.identity(&claims(patch.clone()), 1000),
                Err(want),
                "{patch}"
            );
        }
        // Within the clock skew both ways.
        assert!(
            m.identity(&claims(serde_json::json!({"exp": 990})), 1000)
                .is_ok()
        );
        assert!(
            m.identity(&claims(serde_json::json!({"nbf": 1030})), 1000)
                .is_ok()
        );
    }

    #[test]
    fn oidc_and_token_request_keys_are_checked() {
        let c = crate::config::Config::from_yaml(
            "auth: {oidc: {issuerURL: 'http://issuer', clientID: ''}}\n\
             upstream: {tokenRequest: {serviceAccount: '', expirationSeconds: 60}}\n",
        )
        .unwrap();
        let err = c.validate().unwrap_err();
        let paths: Vec<_> = err.problems().iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "auth.oidc.issuerURL",
                "auth.oidc.clientID",
                "upstream.tokenRequest.serviceAccount",
                "upstream.tokenRequest.expirationSeconds"
            ]
        );
        let err = crate::config::Config::from_yaml("auth: {oidc: {issuerUrl: x}}\n").unwrap_err();
        assert_eq!(err.problems()[0].0, "auth.oidc.issuerUrl");
        let ok = crate::config::Config::from_yaml(
            "auth: {oidc: {issuerURL: 'https://issuer.example', clientID: kw, usernameClaim: email}}\n",
        )
        .unwrap();
        assert!(ok.validate().is_ok(), "{:?}", ok.validate());
    }

    #[test]
    fn malformed_and_unsigned_tokens() {
        let b = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let none = format!(
            "{}.{}.",
            b(serde_json::json!({"alg": "none"})),
            b(serde_json::json!({}))
        );
        let jwt = Jwt::decode(&none).unwrap();
        assert_eq!(jwt.verified_by(&KeySet::default()), Err(Reject::Algorithm));
        for bad in [
            "",
            "a.b",
            "a.b.c.d",
            "!!.e30.",
            &"a".repeat(MAX_TOKEN_BYTES + 1),
        ] {
            assert_eq!(Jwt::decode(bad).err(), Some(Reject::Malformed), "{bad:.20}");
        }
        let crit = format!(
            "{}.{}.",
            b(serde_json::json!({"alg": "ES256", "crit": ["exp"]})),
            b(serde_json::json!({}))
        );
        assert_eq!(Jwt::decode(&crit).err(), Some(Reject::Malformed));
        let hs = format!(
            "{}.{}.",
            b(serde_json::json!({"alg": "HS256"})),
            b(serde_json::json!({}))
        );
        let jwt = Jwt::decode(&hs).unwrap();
        assert_eq!(jwt.verified_by(&KeySet::default()), Err(Reject::Algorithm));
        let es = format!(
            "{}.{}.",
            b(serde_json::json!({"alg": "ES256", "kid": "k"})),
            b(serde_json::json!({}))
        );
        let jwt = Jwt::decode(&es).unwrap();
        assert_eq!(jwt.verified_by(&KeySet::default()), Err(Reject::UnknownKey));
    }
}
