//! The Prometheus server behind the gateway, reached with kubewitness's own read-only
//! credential (a bearer token file or a TLS client certificate), never the caller's.
//!
//! Every request is a `GET` (every endpoint takes it; label values and metadata take
//! nothing else; a checked query is at most 1000 characters before its namespace matcher),
//! and every response body is read with a byte cap: a backend answer larger than the cap is
//! an error, never an allocation.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::StatusCode;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::error::{ErrorKind, GatewayError};
use crate::config::PrometheusConfig;
use crate::files::expand_home;

/// The largest bearer token file read.
const MAX_TOKEN_FILE: u64 = 64 << 10;
/// How long to wait for the backend's TCP and TLS handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Added to a query's own `timeout` before the gateway gives up on the backend.
const TIMEOUT_SLACK: Duration = Duration::from_secs(5);

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
    let builder = crate::tls::client_builder(roots)?;
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
