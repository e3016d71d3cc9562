//! The `kubewitness serve` configuration file.
//!
//! ```yaml
//! listen: 127.0.0.1:6443
//! tls: {cert: server.crt, key: server.key, clientCA: ca.crt}   # optional
//! auth: {tokenFile: tokens.csv, tokenReview: false}
//! upstream: {kubeconfig: ~/.kube/config, context: prod}        # default: inferred
//! policy: /etc/kubewitness/policy.yaml      # default: the built-in policy
//! audit: {path: /var/log/kubewitness/audit.jsonl}              # default: stdout
//! listener: {idleTimeoutSeconds: 90, maxConnectionsPerAddress: 128} # limits, all optional
//! prometheus: {url: http://127.0.0.1:9090, bearerTokenFile: prom.token}  # optional
//! admin: {listen: 127.0.0.1:9090}            # /healthz, /readyz, /metrics; optional
//! shutdownGrace: 30s                         # running sessions' time after SIGTERM
//! log: {level: info, format: auto}           # auto: JSON unless logging to a terminal
//! ```
//!
//! Keys are camelCase; an unknown key is an error naming its path (`tls.clientCa`), because a
//! misspelt security setting silently ignored is worse than a refusal to start.
//! [`Config::validate`] reports every problem at once, each with its path.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use crate::files::expand_home;
use crate::files::write_problems;

mod grants;
mod prometheus;
mod runtime;
mod sections;
pub use grants::{DEFAULT_BREAKGLASS_GROUP, GrantsConfig, NotifyConfig};
pub use prometheus::PrometheusConfig;
pub use runtime::{AdminConfig, DEFAULT_SHUTDOWN_GRACE, LogConfig, LogFormat};
pub use sections::{
    AuthConfig, DEFAULT_TOKEN_SECONDS, MIN_TOKEN_LIFETIME, OidcConfig, TlsConfig,
    TokenRequestConfig, UpstreamConfig,
};

/// The whole configuration.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Config {
    /// Where to listen. Default `127.0.0.1:6443`.
    pub listen: Option<SocketAddr>,
    /// TLS for clients. Without it kubewitness serves plain HTTP, on loopback only.
    pub tls: Option<TlsConfig>,
    /// How callers are authenticated.
    pub auth: AuthConfig,
    /// The API server kubewitness forwards to.
    pub upstream: UpstreamConfig,
    /// The policy file; reloaded on change and on SIGHUP. Default: the built-in policy.
    pub policy: Option<PathBuf>,
    /// Where decisions are audited.
    pub audit: AuditConfig,
    /// Session recording (`store`, `spoolDir`, `chunkBytes`, `chunkIntervalMs`, `windowBytes`,
    /// `signingKey`, `storeOptions`, `objectLock`); see `docs/RECORDING-FORMAT.md`.
    pub recording: Option<crate::record::RecordingConfig>,
    /// Secret redaction of session output (`enabled`, `rules`, `fingerprintKey`); on by
    /// default with the built-in detectors.
    pub redaction: crate::redaction::RedactionConfig,
    /// Connection and request limits of the listener (defaults in `server::limits`).
    pub listener: ListenerConfig,
    /// The MCP gateway for AI agents (`user`, `groups` for stdio; `maxResultBytes`).
    pub mcp: McpConfig,
    /// The Prometheus backend of the metrics gateway (`url`, `bearerTokenFile`,
    /// `clientCert`/`clientKey`, `caFile`); without it `/prometheus/` answers 404.
    pub prometheus: Option<PrometheusConfig>,
    /// The admin listener (`listen`): `/healthz`, `/readyz`, `/metrics`.
    pub admin: AdminConfig,
    /// How long running sessions may go on after SIGTERM before they are ended (`30s`,
    /// `2m`; default [`DEFAULT_SHUTDOWN_GRACE`]).
    pub shutdown_grace: Option<String>,
    /// Logging (`level`, `format`).
    pub log: LogConfig,
    /// Access requests: the breakglass group and the notification webhook.
    pub grants: GrantsConfig,
}

/// `mcp:` — the MCP gateway.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct McpConfig {
    /// The identity of `kubewitness mcp` over stdio; the agent cannot change it. (Over
    /// HTTP every agent is whoever its credentials authenticate.)
    pub user: Option<String>,
    /// The groups of that identity.
    pub groups: Vec<String>,
    /// The most bytes of text one tool result carries. Default [`DEFAULT_MCP_RESULT_BYTES`].
    pub max_result_bytes: Option<u64>,
}

/// The default per-call result budget: 32 KiB, a few thousand tokens.
pub const DEFAULT_MCP_RESULT_BYTES: u64 = 32 * 1024;
/// The smallest and largest `mcp.maxResultBytes` accepted.
pub const MCP_RESULT_BYTES_RANGE: std::ops::RangeInclusive<u64> = 1024..=1024 * 1024;

impl McpConfig {
    /// The per-call result budget in bytes.
    pub fn result_budget(&self) -> usize {
        let bytes = self.max_result_bytes.unwrap_or(DEFAULT_MCP_RESULT_BYTES);
        usize::try_from(bytes).unwrap_or(usize::MAX)
    }

    fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if let Some(b) = self.max_result_bytes
            && !MCP_RESULT_BYTES_RANGE.contains(&b)
        {
            problems.push((
                "mcp.maxResultBytes".into(),
                format!("{b} is outside 1024..=1048576"),
            ));
        }
        if self.user.as_deref() == Some("") {
            problems.push(("mcp.user".into(), "empty user name".into()));
        }
        if self.user.is_none() && !self.groups.is_empty() {
            problems.push(("mcp.groups".into(), "groups without mcp.user".into()));
        }
        problems
    }
}

/// Listener limits; every key is optional and defaults to the `const` named beside it in
/// `server::limits`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ListenerConfig {
    /// `HEADER_READ_TIMEOUT`: seconds an HTTP/1.1 request head may take.
    pub header_read_timeout_seconds: Option<u64>,
    /// `IDLE_TIMEOUT`: seconds a connection may stay open with no request in flight.
    pub idle_timeout_seconds: Option<u64>,
    /// `BODY_READ_TIMEOUT`: seconds reading a request body may take.
    pub body_read_timeout_seconds: Option<u64>,
    /// `REQUEST_TIMEOUT`: seconds a request may take until its response head.
    pub request_timeout_seconds: Option<u64>,
    /// `MAX_BODY_BYTES`: the largest request body read.
    pub max_body_bytes: Option<usize>,
    /// `MAX_CONNECTIONS`: client connections open at once.
    pub max_connections: Option<usize>,
    /// `MAX_CONNECTIONS_PER_ADDRESS`: connections open at once from one address.
    pub max_connections_per_address: Option<usize>,
    /// `H2_MAX_CONCURRENT_STREAMS`: concurrent HTTP/2 streams per connection.
    pub http2_max_concurrent_streams: Option<u32>,
    /// `MAX_REQUEST_LINE_BYTES`: the longest request line (method and target).
    pub max_request_line_bytes: Option<usize>,
    /// `MAX_HEADER_COUNT`: the most header fields in one request.
    pub max_header_count: Option<usize>,
    /// `MAX_HEADER_BYTES`: the most bytes of header names and values in one request.
    pub max_header_bytes: Option<usize>,
}

/// The audit sink.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct AuditConfig {
    /// A file to append JSON lines to. Default: stdout.
    pub path: Option<PathBuf>,
}

/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:6443";

/// Every problem found in a configuration, each with its path.
#[derive(Debug, PartialEq, Eq)]
pub struct ConfigError {
    problems: Vec<(String, String)>,
}

impl ConfigError {
    fn one(path: impl Into<String>, problem: impl Into<String>) -> ConfigError {
        ConfigError {
            problems: vec![(path.into(), problem.into())],
        }
    }

    /// `(path, problem)` pairs.
    pub fn problems(&self) -> &[(String, String)] {
        &self.problems
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_problems(f, &self.problems)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Parses YAML; unknown keys and type errors name their path.
    pub fn from_yaml(text: &str) -> Result<Config, ConfigError> {
        let de = serde_yaml_ng::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|err| {
            let path = err.path().to_string();
            let path = if path == "." { String::new() } else { path };
            ConfigError::one(path, err.into_inner().to_string())
        })
    }

    /// Reads and parses a file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::one("", format!("reading {}: {e}", path.display())))?;
        Config::from_yaml(&text)
    }

    /// The listen address, with the default applied.
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen
            .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("valid default"))
    }

    /// The shutdown grace period, with the default applied.
    pub fn shutdown_grace(&self) -> Result<std::time::Duration, String> {
        runtime::shutdown_grace(self.shutdown_grace.as_deref())
    }

    /// Limits set to zero, which would refuse everything: each a problem with its path.
    fn zero_limits(&self) -> Vec<(String, String)> {
        let l = &self.listener;
        let a = &self.auth;
        [
            (
                "listener.headerReadTimeoutSeconds",
                l.header_read_timeout_seconds,
            ),
            ("listener.idleTimeoutSeconds", l.idle_timeout_seconds),
            (
                "listener.bodyReadTimeoutSeconds",
                l.body_read_timeout_seconds,
            ),
            ("listener.requestTimeoutSeconds", l.request_timeout_seconds),
            (
                "listener.maxConnections",
                l.max_connections.map(|n| n as u64),
            ),
            (
                "listener.maxConnectionsPerAddress",
                l.max_connections_per_address.map(|n| n as u64),
            ),
            (
                "listener.http2MaxConcurrentStreams",
                l.http2_max_concurrent_streams.map(u64::from),
            ),
            (
                "listener.maxRequestLineBytes",
                l.max_request_line_bytes.map(|n| n as u64),
            ),
            (
                "listener.maxHeaderCount",
                l.max_header_count.map(|n| n as u64),
            ),
            (
                "listener.maxHeaderBytes",
                l.max_header_bytes.map(|n| n as u64),
            ),
            (
                "auth.unauthenticatedPerSecond",
                a.unauthenticated_per_second.map(u64::from),
            ),
            ("auth.unauthenticatedBurst", a.unauthenticated_burst),
        ]
        .into_iter()
        .filter(|(_, v)| *v == Some(0))
        .map(|(path, _)| (path.to_string(), "must be at least 1".to_string()))
        .collect()
    }

    /// Checks what parsing cannot: reports every problem with its path.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        let file = |problems: &mut Vec<(String, String)>, path: &str, p: &Path| {
            if !expand_home(p).is_file() {
                problems.push((path.to_string(), format!("{}: no such file", p.display())));
            }
        };
        match &self.tls {
            Some(tls) => {
                file(&mut problems, "tls.cert", &tls.cert);
                file(&mut problems, "tls.key", &tls.key);
                if let Some(ca) = &tls.client_ca {
                    file(&mut problems, "tls.clientCA", ca);
                }
            }
            None => {
                if !self.listen_addr().ip().is_loopback() {
                    problems.push((
                        "listen".into(),
                        "without tls, kubewitness listens on loopback addresses only".into(),
                    ));
                }
            }
        }
        if let Some(tokens) = &self.auth.token_file {
            file(&mut problems, "auth.tokenFile", tokens);
        }
        if let Some(oidc) = &self.auth.oidc {
            problems.extend(oidc.problems());
            if let Some(ca) = &oidc.ca_file {
                file(&mut problems, "auth.oidc.caFile", ca);
            }
            if let Some(jwks) = &oidc.jwks_file {
                file(&mut problems, "auth.oidc.jwksFile", jwks);
            }
        }
        if let Some(kubeconfig) = &self.upstream.kubeconfig {
            file(&mut problems, "upstream.kubeconfig", kubeconfig);
        }
        if let Some(tr) = &self.upstream.token_request {
            problems.extend(tr.problems());
        }
        let breakglass = self.grants.breakglass_group();
        if self.mcp.groups.iter().any(|g| g == breakglass) {
            problems.push((
                "mcp.groups".into(),
                format!("{breakglass} is the breakglass group: only kubewitness adds it, to requests an approved grant allows"),
            ));
        }
        let policy = self
            .policy
            .as_ref()
            .map(|p| crate::policy::Policy::load(&expand_home(p)));
        if let Some(Err(e)) = policy {
            for (at, problem) in e.problems() {
                let path = if at.is_empty() {
                    "policy".to_string()
                } else {
                    format!("policy: {at}")
                };
                problems.push((path, problem.clone()));
            }
        }
        if let Some(rules) = &self.redaction.rules
            && let Err(e) = crate::redaction::load_rules(rules)
        {
            problems.push(("redaction.rules".into(), e));
        }
        if let Some(key) = &self.redaction.fingerprint_key {
            file(&mut problems, "redaction.fingerprintKey", key);
        }
        if let Some(rec) = &self.recording {
            problems.extend(rec.problems());
            if let Some(key) = &rec.signing_key {
                file(&mut problems, "recording.signingKey", key);
            }
        }
        problems.extend(self.mcp.problems());
        if let Some(prom) = &self.prometheus {
            problems.extend(prom.problems());
        }
        let client_ca = self.tls.as_ref().and_then(|t| t.client_ca.as_ref());
        if self.auth.token_file.is_none()
            && !self.auth.token_review
            && self.auth.oidc.is_none()
            && client_ca.is_none()
        {
            problems.push((
                "auth".into(),
                "no way to authenticate callers: set auth.tokenFile, auth.tokenReview, auth.oidc or tls.clientCA"
                    .into(),
            ));
        }
        problems.extend(self.zero_limits());
        if let Err(e) = self.shutdown_grace() {
            problems.push(("shutdownGrace".into(), e));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError { problems })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let c = Config::from_yaml(
            "listen: 127.0.0.1:6443\n\
             tls: {cert: server.crt, key: server.key, clientCA: ca.crt}\n\
             auth: {tokenFile: tokens.csv, tokenReview: false}\n\
             upstream: {kubeconfig: ~/.kube/config, context: prod}\n",
        )
        .unwrap();
        assert_eq!(c.listen_addr().port(), 6443);
        assert_eq!(c.tls.unwrap().client_ca, Some(PathBuf::from("ca.crt")));
        assert_eq!(c.upstream.context.as_deref(), Some("prod"));
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_path() {
        let err = Config::from_yaml("tls: {cert: a, key: b, clientCa: c}\n").unwrap_err();
        let (path, problem) = &err.problems()[0];
        assert_eq!(path, "tls.clientCa");
        assert!(problem.contains("clientCa"), "{problem}");
        let err = Config::from_yaml("polcy: x\n").unwrap_err();
        assert!(err.to_string().contains("polcy"));
        let err = Config::from_yaml("auth: {tokenReview: maybe}\n").unwrap_err();
        assert_eq!(err.problems()[0].0, "auth.tokenReview");
    }

    #[test]
    fn validate_reports_every_problem() {
        let c = Config::from_yaml(
            "listen: 0.0.0.0:6443\nauth: {tokenFile: /nonexistent/tokens.csv}\n\
             upstream: {kubeconfig: /nonexistent/kubeconfig}\n",
        )
        .unwrap();
        let err = c.validate().unwrap_err();
        let paths: Vec<_> = err.problems().iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["listen", "auth.tokenFile", "upstream.kubeconfig"]);
    }

    #[test]
    fn the_stdio_agent_cannot_be_given_the_breakglass_group() {
        let c = Config::from_yaml(
            "auth: {tokenReview: true}\nmcp: {user: bot, groups: [ai-agents, \"kubewitness:breakglass\"]}\n",
        )
        .unwrap();
        let err = c.validate().unwrap_err();
        assert!(
            err.problems().iter().any(|(p, _)| p == "mcp.groups"),
            "{err}"
        );
        let custom = Config::from_yaml(
            "auth: {tokenReview: true}\nmcp: {user: bot, groups: [ops]}\ngrants: {breakglassGroup: ops}\n",
        )
        .unwrap();
        let err = custom.validate().unwrap_err();
        assert!(
            err.problems().iter().any(|(p, _)| p == "mcp.groups"),
            "{err}"
        );
    }

    #[test]
    fn no_authentication_at_all_is_an_error() {
        let err = Config::default().validate().unwrap_err();
        assert_eq!(err.problems()[0].0, "auth");
    }
}
