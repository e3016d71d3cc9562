//! Server TLS (the throwaway CA of the demo and the tests is `kubewitness_sim::TestCa`).
//!
//! The server offers ALPN `h2` and `http/1.1`: kubectl's ordinary calls use HTTP/2, while
//! its exec/attach upgrades dial without ALPN and speak HTTP/1.1. When `tls.clientCA` is
//! set, client certificates are requested and verified against it but not required, so
//! token holders can still connect; a verified certificate authenticates its holder.
//!
//! The serving certificate is reloaded when its files change ([`ReloadingCert`], a rustls
//! certificate resolver): cert-manager and the like rotate `tls.crt`/`tls.key` in place, and
//! every new handshake gets the pair in force while connections already up keep the one
//! they started with, so running sessions are not dropped. The files are polled every
//! [`CERT_POLL_INTERVAL`] (a content hash, as [`crate::watched`] does); a pair that does not
//! load or whose key does not match the certificate is logged and the previous pair stays.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::RootCertStore;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

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

/// How often the serving certificate and key files are checked for a change.
pub const CERT_POLL_INTERVAL: Duration = Duration::from_secs(5);

/// A client configuration's builder with kubewitness's crypto provider and safe protocol
/// versions, trusting `roots`; the caller picks its client authentication.
pub(crate) fn client_builder(
    roots: rustls::RootCertStore,
) -> Result<rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert>, String> {
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots))
}

/// Builds the server config from PEM files; the certificate is reloaded when the files
/// change (see [`server_config_reloading`]).
pub fn server_config(cfg: &TlsConfig) -> Result<rustls::ServerConfig, TlsError> {
    server_config_reloading(cfg).map(|(config, _)| config)
}

/// Builds the server config from PEM files, and the resolver that serves the certificate
/// (its [`ReloadingCert::not_after`] is the expiry to watch). Inside a Tokio runtime the
/// files are polled every [`CERT_POLL_INTERVAL`] for as long as the config lives; outside
/// one, [`ReloadingCert::reload`] is the caller's to call.
pub fn server_config_reloading(
    cfg: &TlsConfig,
) -> Result<(rustls::ServerConfig, Arc<ReloadingCert>), TlsError> {
    let resolver = Arc::new(ReloadingCert::load(
        &expand_home(&cfg.cert),
        &expand_home(&cfg.key),
    )?);
    let client_ca = cfg
        .client_ca
        .as_ref()
        .map(|p| load_certs(&expand_home(p)))
        .transpose()?;
    let config = with_resolver(resolver.clone(), client_ca)?;
    if tokio::runtime::Handle::try_current().is_ok() {
        resolver.watch(CERT_POLL_INTERVAL);
    }
    Ok((config, resolver))
}

/// Builds the server config from DER certificates and key.
pub fn build(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_ca: Option<Vec<CertificateDer<'static>>>,
) -> Result<rustls::ServerConfig, TlsError> {
    let key = CertifiedKey::from_der(certs, key, &provider()).map_err(|e| err("tls.cert", e))?;
    with_resolver(
        Arc::new(rustls::sign::SingleCertAndKey::from(key)),
        client_ca,
    )
}

fn with_resolver(
    resolver: Arc<dyn ResolvesServerCert>,
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
    let mut config = builder.with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// The serving certificate, reloaded from its files when they change.
#[derive(Debug)]
pub struct ReloadingCert {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
    /// Unix seconds of the current certificate's `notAfter`.
    not_after: RwLock<i64>,
    /// The hash of the files' contents last loaded or rejected.
    seen: Mutex<[u8; 32]>,
}

/// Reads the PEM pair and checks that the key is the certificate's.
fn load_pair(cert: &Path, key: &Path) -> Result<(CertifiedKey, i64, [u8; 32]), TlsError> {
    let cert_pem = std::fs::read(cert).map_err(|e| err(cert.display().to_string(), e))?;
    let key_pem = std::fs::read(key).map_err(|e| err(key.display().to_string(), e))?;
    let digest = pair_digest(&cert_pem, &key_pem);
    let certs = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(cert.display().to_string(), e))?;
    let first = certs
        .first()
        .ok_or_else(|| err(cert.display().to_string(), "no certificate found"))?;
    let not_after = x509_parser::parse_x509_certificate(first)
        .map_err(|e| err(cert.display().to_string(), e))?
        .1
        .validity()
        .not_after
        .timestamp();
    let key_der = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| err(format!("tls.key {}", key.display()), e))?;
    let certified = CertifiedKey::from_der(certs, key_der, &provider())
        .map_err(|e| err(format!("tls.cert {} with tls.key", cert.display()), e))?;
    Ok((certified, not_after, digest))
}

fn pair_digest(cert: &[u8], key: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update((cert.len() as u64).to_be_bytes());
    h.update(cert);
    h.update(key);
    h.finalize().into()
}

impl ReloadingCert {
    /// Loads the pair; fails if it does not load or the key is not the certificate's.
    pub fn load(cert: &Path, key: &Path) -> Result<ReloadingCert, TlsError> {
        let (certified, not_after, digest) = load_pair(cert, key)?;
        crate::metrics::metrics().set_serving_certificate_expiry(not_after);
        Ok(ReloadingCert {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            current: RwLock::new(Arc::new(certified)),
            not_after: RwLock::new(not_after),
            seen: Mutex::new(digest),
        })
    }

    /// Re-reads the files; if their contents changed and the new pair is good, it serves
    /// every handshake from now on. `Ok(true)`: replaced; `Ok(false)`: unchanged; an error:
    /// the new pair is bad (or unreadable) and the previous one stays.
    pub fn reload(&self) -> Result<bool, TlsError> {
        let cert_pem =
            std::fs::read(&self.cert).map_err(|e| err(self.cert.display().to_string(), e))?;
        let key_pem =
            std::fs::read(&self.key).map_err(|e| err(self.key.display().to_string(), e))?;
        {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            let digest = pair_digest(&cert_pem, &key_pem);
            if *seen == digest {
                return Ok(false);
            }
            // A bad pair is reported once, not every poll; a later change is tried again.
            *seen = digest;
        }
        let (certified, not_after, _) = load_pair(&self.cert, &self.key)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(certified);
        *self.not_after.write().unwrap_or_else(|e| e.into_inner()) = not_after;
        crate::metrics::metrics().set_serving_certificate_expiry(not_after);
        Ok(true)
    }

    /// The `notAfter` of the certificate in force.
    pub fn not_after(&self) -> SystemTime {
        let secs = *self.not_after.read().unwrap_or_else(|e| e.into_inner());
        if secs >= 0 {
            UNIX_EPOCH + Duration::from_secs(secs as u64)
        } else {
            UNIX_EPOCH
        }
    }

    /// The certificate chain in force (DER, leaf first).
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .cert
            .clone()
    }

    /// Polls the files every `every` until the resolver is dropped, logging each reload
    /// and each rejected pair.
    pub fn watch(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let weak: Weak<ReloadingCert> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(this) = weak.upgrade() else { return };
                match this.reload() {
                    Ok(true) => tracing::info!(
                        cert = %this.cert.display(),
                        not_after = %humantime::format_rfc3339_seconds(this.not_after()),
                        "serving certificate reloaded"
                    ),
                    Ok(false) => {}
                    Err(e) => tracing::warn!(
                        error = %e,
                        "serving certificate rejected; the previous one stays in force"
                    ),
                }
            }
        })
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
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

    #[test]
    fn a_rotated_pair_is_served_and_a_mismatched_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (crt, key) = (dir.path().join("s.crt"), dir.path().join("s.key"));
        let first = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        std::fs::write(&crt, first.cert.pem()).unwrap();
        std::fs::write(&key, first.signing_key.serialize_pem()).unwrap();
        let resolver = ReloadingCert::load(&crt, &key).unwrap();
        assert!(resolver.not_after() > SystemTime::now());
        assert!(!resolver.reload().unwrap(), "nothing changed");
        let second = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        // The new certificate with the old key: refused, the first pair stays.
        std::fs::write(&crt, second.cert.pem()).unwrap();
        assert!(resolver.reload().is_err());
        assert_eq!(resolver.chain()[0].as_ref(), first.cert.der().as_ref());
        std::fs::write(&key, second.signing_key.serialize_pem()).unwrap();
        assert!(resolver.reload().unwrap());
        assert_eq!(resolver.chain()[0].as_ref(), second.cert.der().as_ref());
        std::fs::write(&key, "not a key").unwrap();
        assert!(resolver.reload().is_err());
        assert_eq!(resolver.chain()[0].as_ref(), second.cert.der().as_ref());
    }
}
