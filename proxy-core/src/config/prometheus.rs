//! `prometheus:` — the backend of the metrics gateway (`crate::prometheus` reads it).

use std::path::PathBuf;

use serde::Deserialize;

use crate::files::expand_home;

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
