//! The sections of the configuration that identity and the upstream connection read:
//! `tls`, `auth` (with `auth.oidc`) and `upstream` (with `upstream.tokenRequest`). They are
//! defined here, not in the modules that use them, so `config` depends on none of those.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// Server TLS.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
    /// PEM CA bundle; when set, client certificates signed by it authenticate their holder
    /// (CN = user, O = groups).
    #[serde(rename = "clientCA")]
    pub client_ca: Option<PathBuf>,
}

/// Caller authentication.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct AuthConfig {
    /// Static bearer tokens in kube-apiserver `--token-auth-file` CSV format:
    /// `token,user,uid,"group1,group2"`.
    pub token_file: Option<PathBuf>,
    /// Ask the upstream API server (`TokenReview`) about bearer tokens not in the file.
    pub token_review: bool,
    /// TokenReview audiences: when set, a token is accepted only if its review names one.
    pub audiences: Vec<String>,
    /// Unauthenticated requests (and uncached TokenReviews) per second per client address;
    /// default `auth::DEFAULT_UNAUTHENTICATED_PER_SECOND`.
    pub unauthenticated_per_second: Option<u32>,
    /// The burst of `unauthenticatedPerSecond`; default `auth::DEFAULT_UNAUTHENTICATED_BURST`.
    pub unauthenticated_burst: Option<u64>,
    /// OIDC ID tokens validated locally, like kube-apiserver's `--oidc-*` flags.
    pub oidc: Option<OidcConfig>,
}

/// `auth.oidc:` — ID tokens of one OIDC issuer, checked against its published keys.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct OidcConfig {
    /// The issuer (`https://…`): the tokens' `iss`, exactly, and where
    /// `/.well-known/openid-configuration` is read from.
    #[serde(rename = "issuerURL")]
    pub issuer_url: String,
    /// The client id every token's `aud` must contain.
    #[serde(rename = "clientID")]
    pub client_id: String,
    /// The claim holding the user name. Default `sub`.
    pub username_claim: Option<String>,
    /// The claim holding the groups (a string or a list of strings). Default: no groups.
    pub groups_claim: Option<String>,
    /// Put before every user name; `-` for none. Default: `issuerURL#`, except for the
    /// `email` claim.
    pub username_prefix: Option<String>,
    /// Put before every group. Default: none.
    pub groups_prefix: Option<String>,
    /// PEM CA bundle for the issuer's TLS certificate. Default: the system's roots.
    pub ca_file: Option<PathBuf>,
    /// A JWKS document with the issuer's keys, used when the issuer cannot be reached (an
    /// air-gapped cluster) and re-read on every key refresh.
    pub jwks_file: Option<PathBuf>,
}

/// The upstream API server.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct UpstreamConfig {
    /// A kubeconfig file; `~/` is expanded. Default: inferred (`$KUBECONFIG`,
    /// `~/.kube/config`, then in-cluster).
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use. Default: its current context.
    pub context: Option<String>,
    /// Mint a short-lived ServiceAccount token (TokenRequest) for every upstream request
    /// but the TokenRequest itself, which uses the credential above.
    pub token_request: Option<TokenRequestConfig>,
}

/// The API server's own lower bound on `expirationSeconds`.
pub const MIN_TOKEN_LIFETIME: Duration = Duration::from_secs(600);
/// `expirationSeconds` when `upstream.tokenRequest` sets none.
pub const DEFAULT_TOKEN_SECONDS: u64 = 3600;
/// `upstream.tokenRequest:` — kubewitness's own short-lived ServiceAccount token.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct TokenRequestConfig {
    /// The ServiceAccount the token is for (kubewitness's own).
    pub service_account: String,
    /// Its namespace. Default: the pod's namespace, in a cluster.
    pub namespace: Option<String>,
    /// The token's lifetime; at least 600 (the API server's minimum). Default 3600.
    pub expiration_seconds: Option<u64>,
    /// The token's audiences. Default: the API server's own.
    pub audiences: Vec<String>,
}

impl TokenRequestConfig {
    /// Every problem, with its path.
    pub(crate) fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if self.service_account.is_empty() {
            problems.push((
                "upstream.tokenRequest.serviceAccount".into(),
                "must be set".into(),
            ));
        }
        if self
            .expiration_seconds
            .is_some_and(|s| Duration::from_secs(s) < MIN_TOKEN_LIFETIME)
        {
            problems.push((
                "upstream.tokenRequest.expirationSeconds".into(),
                "must be at least 600 (the API server's minimum)".into(),
            ));
        }
        problems
    }
}

impl OidcConfig {
    pub(super) fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        match http::Uri::try_from(self.issuer_url.as_str()) {
            Ok(u) if u.scheme_str() == Some("https") && u.query().is_none() => {}
            _ => problems.push((
                "auth.oidc.issuerURL".into(),
                format!("{:?} is not an https URL without a query", self.issuer_url),
            )),
        }
        if self.client_id.is_empty() {
            problems.push(("auth.oidc.clientID".into(), "must be set".into()));
        }
        for (path, claim) in [
            ("auth.oidc.usernameClaim", &self.username_claim),
            ("auth.oidc.groupsClaim", &self.groups_claim),
        ] {
            if claim.as_deref() == Some("") {
                problems.push((path.into(), "empty claim name".into()));
            }
        }
        problems
    }
}
