//! Server TLS (the throwaway CA of the demo and the tests is `kubewitness_sim::TestCa`).
//!
//! The server offers ALPN `h2` and `http/1.1`: kubectl's ordinary calls use HTTP/2, while
//! its exec/attach upgrades dial without ALPN and speak HTTP/1.1. When `tls.clientCA` is
//! set, client certificates are requested and verified against it but not required, so
//! token holders can still connect; a verified certificate authenticates its holder.

use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::{TlsConfig, expand_home};

/// A TLS setup problem, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {problem}")]
pub struct TlsError {
    what: String,
    problem: String,
}

fn err(what: impl Into<String>, problem: impl ToString) -> TlsError {
    TlsError {
        what: what.into(),
        problem: problem.to_string(),
    }
}

/// The crypto provider every TLS config here uses.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the server config from PEM files.
pub fn server_config(cfg: &TlsConfig) -> Result<rustls::ServerConfig, TlsError> {
    let cert_path = expand_home(&cfg.cert);
    let key_path = expand_home(&cfg.key);
    let certs = load_certs(&cert_path)?;
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .map_err(|e| err(format!("tls.key {}", key_path.display()), e))?;
    let client_ca = cfg
        .client_ca
        .as_ref()
        .map(|p| load_certs(&expand_home(p)))
        .transpose()?;
    build(certs, key, client_ca)
}

/// Builds the server config from DER certificates and key.
pub fn build(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_ca: Option<Vec<CertificateDer<'static>>>,
) -> Result<rustls::ServerConfig, TlsError> {
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| err("tls", e))?;
    let builder = match client_ca {
        Some(cas) => {
            let mut roots = RootCertStore::empty();
            for ca in cas {
                roots.add(ca).map_err(|e| err("tls.clientCA", e))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .allow_unauthenticated()
                .build()
                .map_err(|e| err("tls.clientCA", e))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| err("tls.cert", e))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

pub(crate) fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(path.display().to_string(), e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(path.display().to_string(), e))?;
    if certs.is_empty() {
        return Err(err(path.display().to_string(), "no certificate found"));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_server_config_from_generated_pem_files() {
        let dir = tempfile::tempdir().unwrap();
        // A self-signed certificate is its own CA: enough for loading the files.
        let server = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        std::fs::write(dir.path().join("s.crt"), server.cert.pem()).unwrap();
        std::fs::write(dir.path().join("s.key"), server.signing_key.serialize_pem()).unwrap();
        std::fs::write(dir.path().join("ca.crt"), server.cert.pem()).unwrap();
        let cfg = TlsConfig {
            cert: dir.path().join("s.crt"),
            key: dir.path().join("s.key"),
            client_ca: Some(dir.path().join("ca.crt")),
        };
        let sc = server_config(&cfg).unwrap();
        assert_eq!(sc.alpn_protocols[0], b"h2");
        let missing = TlsConfig {
            key: dir.path().join("nope.key"),
            ..cfg
        };
        let e = server_config(&missing).unwrap_err();
        assert!(e.to_string().contains("nope.key"), "{e}");
    }
}
