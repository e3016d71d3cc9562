//! The Prometheus server behind the gateway, reached with kubewitness's own read-only
//! credential (a bearer token file or a TLS client certificate), never the caller's.
//!
//! Every request is a `GET` (every endpoint takes it; label values and metadata take
//! nothing else; a checked query is at most 1000 characters before its namespace matcher),
//! and every response body is read with a byte cap: a backend answer larger than the cap is
//! an error, never an allocation.

use std::path::PathBuf;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::StatusCode;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

use super::error::{ErrorKind, GatewayError};
use crate::files::expand_home;

/// The largest bearer token file read.
const MAX_TOKEN_FILE: u64 = 64 << 10;
/// How long to wait for the backend's TCP and TLS handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Added to a query's own `timeout` before the gateway gives up on the backend.
const TIMEOUT_SLACK: Duration = Duration::from_secs(5);

/// The `prometheus:` configuration key.
///
/// ```yaml
/// prometheus:
///   url: https://prometheus.monitoring.svc:9090
///   bearerTokenFile: /var/run/secrets/kubewitness/prometheus-token
///   caFile: /etc/kubewitness/prometheus-ca.crt
///   # or a client certificate: clientCert: …, clientKey: …
/// ```
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct PrometheusConfig {
    /// The server's base URL (`http://…` or `https://…`), without `/api/v1`.
    pub url: String,
    /// A file holding the bearer token kubewitness sends (read at start).
    pub bearer_token_file: Option<PathBuf>,
    /// PEM client certificate chain for mutual TLS.
    pub client_cert: Option<PathBuf>,
    /// PEM private key of `clientCert`.
    pub client_key: Option<PathBuf>,
    /// PEM CA bundle the server's certificate is checked against (required for https).
    pub ca_file: Option<PathBuf>,
}

impl PrometheusConfig {
    /// Problems, each with its path under `prometheus`.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut p = Vec::new();
        let https = self.url.starts_with("https://");
        if !(https || self.url.starts_with("http://")) {
            p.push((
                "prometheus.url".into(),
                "an http:// or https:// URL is required".into(),
            ));
        }
        if https && self.ca_file.is_none() {
            p.push((
                "prometheus.caFile".into(),
                "an https backend needs the CA that signed its certificate".into(),
            ));
        }
        if self.client_cert.is_some() != self.client_key.is_some() {
            p.push((
                "prometheus.clientKey".into(),
                "clientCert and clientKey go together".into(),
            ));
        }
        for (key, file) in [
            ("bearerTokenFile", &self.bearer_token_file),
            ("clientCert", &self.client_cert),
            ("clientKey", &self.client_key),
            ("caFile", &self.ca_file),
        ] {
            if let Some(f) = file
                && !expand_home(f).is_file()
            {
                p.push((
                    format!("prometheus.{key}"),
                    format!("{}: no such file", f.display()),
                ));
            }
        }
        p
    }
}

/// A connection pool to the backend and its credential.
#[derive(Debug)]
pub struct Backend {
    client: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Backend {
    /// Builds the client the configuration describes.
    pub fn from_config(cfg: &PrometheusConfig) -> Result<Backend, String> {
        if let Some((path, problem)) = cfg.problems().into_iter().next() {
            return Err(format!("{path}: {problem}"));
        }
        let token = match &cfg.bearer_token_file {
            Some(f) => Some(read_token(&expand_home(f))?),
            None => None,
        };
        // Always our own rustls config (ring): reqwest has no crypto provider of its own.
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .tls_backend_preconfigured(tls_config(cfg)?)
            .build()
            .map_err(|e| format!("prometheus client: {e}"))?;
        Ok(Backend {
            client,
            base: cfg.url.trim_end_matches('/').to_string(),
            token,
        })
    }

    /// Sends `form` to `path` (`/api/v1/…`) and reads at most `cap` bytes of the answer;
    /// `Ok(None)` when the body is longer than that.
    pub async fn fetch(
        &self,
        path: &str,
        form: &[(String, String)],
        timeout: Duration,
        cap: usize,
    ) -> Result<(StatusCode, Option<Bytes>), GatewayError> {
        let mut res = self.send(path, form, timeout).await?;
        let status = res.status();
        let mut body = BytesMut::new();
        while let Some(chunk) = res.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > cap {
                return Ok((status, None));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, Some(body.freeze())))
    }

    /// Sends `form` and hands each body chunk to `f` until it returns false.
    pub async fn fetch_streaming(
        &self,
        path: &str,
        form: &[(String, String)],
        timeout: Duration,
        mut f: impl FnMut(&[u8]) -> bool,
    ) -> Result<StatusCode, GatewayError> {
        let mut res = self.send(path, form, timeout).await?;
        let status = res.status();
        while let Some(chunk) = res.chunk().await.map_err(transport)? {
            if !f(&chunk) {
                break;
            }
        }
        Ok(status)
    }

    async fn send(
        &self,
        path: &str,
        form: &[(String, String)],
        timeout: Duration,
    ) -> Result<reqwest::Response, GatewayError> {
        let body: Vec<String> = form
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    crate::request::percent_encode(k),
                    crate::request::percent_encode(v)
                )
            })
            .collect();
        let mut req = self
            .client
            .get(format!("{}{path}?{}", self.base, body.join("&")))
            .timeout(timeout + TIMEOUT_SLACK);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        req.send().await.map_err(transport)
    }
}

fn transport(e: reqwest::Error) -> GatewayError {
    if e.is_timeout() {
        GatewayError::new(ErrorKind::Timeout, "the Prometheus backend timed out")
    } else {
        // The error text can hold the backend URL, which is not the caller's business.
        tracing::warn!(error = %e, "prometheus backend request failed");
        GatewayError::new(
            ErrorKind::Unavailable,
            "the Prometheus backend is unavailable",
        )
    }
}

fn read_token(path: &std::path::Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.len() > MAX_TOKEN_FILE {
        return Err(format!("{}: larger than 64 KiB", path.display()));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(format!("{}: empty token", path.display()));
    }
    Ok(token.to_string())
}

fn tls_config(cfg: &PrometheusConfig) -> Result<rustls::ClientConfig, String> {
    // Without caFile (plain http, checked by `problems`) no server certificate is trusted.
    let mut roots = rustls::RootCertStore::empty();
    if let Some(ca) = &cfg.ca_file {
        for cert in crate::tls::load_certs(&expand_home(ca)).map_err(|e| e.to_string())? {
            roots
                .add(cert)
                .map_err(|e| format!("prometheus.caFile: {e}"))?;
        }
    }
    let builder = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    match (&cfg.client_cert, &cfg.client_key) {
        (Some(cert), Some(key)) => {
            let certs: Vec<CertificateDer<'static>> =
                crate::tls::load_certs(&expand_home(cert)).map_err(|e| e.to_string())?;
            let key = PrivateKeyDer::from_pem_file(expand_home(key))
                .map_err(|e| format!("prometheus.clientKey: {e}"))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| format!("prometheus.clientCert: {e}"))
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_key_is_checked_with_paths() {
        let cfg = crate::config::Config::from_yaml(
            "prometheus: {url: 'https://prom:9090', clientCert: /nonexistent/c.pem}\n",
        )
        .unwrap();
        let prom = cfg.prometheus.expect("parsed");
        let paths: Vec<String> = prom.problems().into_iter().map(|(p, _)| p).collect();
        assert_eq!(
            paths,
            [
                "prometheus.caFile",
                "prometheus.clientKey",
                "prometheus.clientCert"
            ]
        );
        let err = crate::config::Config::from_yaml("prometheus: {url: x, token: y}\n").unwrap_err();
        assert_eq!(err.problems()[0].0, "prometheus.token");
        let plain = PrometheusConfig {
            url: "http://127.0.0.1:9090".into(),
            ..PrometheusConfig::default()
        };
        assert!(plain.problems().is_empty());
        assert!(Backend::from_config(&plain).is_ok());
        let bad = PrometheusConfig {
            url: "ftp://x".into(),
            ..PrometheusConfig::default()
        };
        assert!(
            Backend::from_config(&bad)
                .unwrap_err()
                .contains("prometheus.url")
        );
    }
}
