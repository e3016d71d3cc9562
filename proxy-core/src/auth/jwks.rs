//! The OIDC issuer's signing keys: a JWKS document parsed into keys ring can verify with, and
//! the set in force, refreshed from the issuer and from the fallback file.
//!
//! The keys come from the issuer's `/.well-known/openid-configuration` → `jwks_uri`, over TLS
//! (`auth.oidc.caFile` or the system's roots), and from `auth.oidc.jwksFile` when set. The set
//! in force is the last keys fetched plus the file's, so an air-gapped cluster (the issuer
//! never reachable) runs on the file alone, and a fetch that fails keeps the keys fetched
//! before. The set is refreshed every [`REFRESH_INTERVAL`] and, at most once per
//! [`MIN_REFRESH_INTERVAL`], when a token names a key id the set does not hold (the issuer
//! rotated its keys): unknown key ids cannot turn into a flood of fetches.
//!
//! Documents are bounded ([`MAX_JWKS_BYTES`], [`MAX_KEYS`]) before and while parsing; keys
//! of types other than RSA and EC P-256/P-384, and keys not meant for signatures, are skipped.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use base64::Engine;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde::Deserialize;
use tracing::{debug, info, warn};

/// The largest discovery or JWKS document read.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;
/// The most keys one JWKS document may hold.
pub const MAX_KEYS: usize = 64;
/// How often the keys are refreshed from the issuer and the file.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// The least time between two refreshes asked for by an unknown key id.
pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(10);
/// How long fetching the discovery document and the keys may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// The JWS algorithms accepted (`none` and the HMAC family never are).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Alg {
    Rs256,
    Rs384,
    Rs512,
    Es256,
    Es384,
}

impl Alg {
    pub(crate) fn parse(name: &str) -> Option<Alg> {
        Some(match name {
            "RS256" => Alg::Rs256,
            "RS384" => Alg::Rs384,
            "RS512" => Alg::Rs512,
            "ES256" => Alg::Es256,
            "ES384" => Alg::Es384,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Material {
    /// Modulus and exponent, big-endian.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// An uncompressed point (`04 || x || y`) on P-256 (`p384: false`) or P-384.
    Ec { p384: bool, point: Vec<u8> },
}

/// One verification key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Key {
    kid: Option<String>,
    alg: Option<String>,
    material: Material,
}

impl Key {
    /// Whether `sig` is `alg`'s signature of `msg` by this key.
    pub(crate) fn verify(&self, alg: Alg, msg: &[u8], sig: &[u8]) -> bool {
        if self
            .alg
            .as_deref()
            .is_some_and(|a| Alg::parse(a) != Some(alg))
        {
            return false;
        }
        match (&self.material, alg) {
            (Material::Rsa { n, e }, Alg::Rs256 | Alg::Rs384 | Alg::Rs512) => {
                let params = match alg {
                    Alg::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                    Alg::Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                    _ => &signature::RSA_PKCS1_2048_8192_SHA512,
                };
                RsaPublicKeyComponents { n, e }
                    .verify(params, msg, sig)
                    .is_ok()
            }
            (Material::Ec { p384: false, point }, Alg::Es256) => {
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(msg, sig)
                    .is_ok()
            }
            (Material::Ec { p384: true, point }, Alg::Es384) => {
                UnparsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, point)
                    .verify(msg, sig)
                    .is_ok()
            }
            _ => false,
        }
    }
}

#[derive(Deserialize)]
struct JwkSet {
    keys: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    n: Option<String>,
    e: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

fn b64(s: Option<&String>) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s?.trim_end_matches('='))
        .ok()
        .filter(|v| !v.is_empty())
}

impl Jwk {
    fn key(self) -> Option<Key> {
        if self.use_.as_deref().is_some_and(|u| u != "sig") {
            return None;
        }
        let material = match (self.kty.as_str(), self.crv.as_deref()) {
            ("RSA", _) => Material::Rsa {
                n: b64(self.n.as_ref())?,
                e: b64(self.e.as_ref())?,
            },
            ("EC", Some(crv @ ("P-256" | "P-384"))) => {
                let size = if crv == "P-256" { 32 } else { 48 };
                let (x, y) = (b64(self.x.as_ref())?, b64(self.y.as_ref())?);
                if x.len() != size || y.len() != size {
                    return None;
                }
                let mut point = Vec::with_capacity(1 + 2 * size);
                point.push(4);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                Material::Ec {
                    p384: crv == "P-384",
                    point,
                }
            }
            _ => return None,
        };
        Some(Key {
            kid: self.kid,
            alg: self.alg,
            material,
        })
    }
}

/// The keys of one or more JWKS documents.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct KeySet {
    keys: Vec<Key>,
}

impl KeySet {
    /// Parses a JWKS document (at most [`MAX_JWKS_BYTES`], [`MAX_KEYS`] keys); keys that
    /// cannot verify signatures here are skipped.
    pub(crate) fn parse(doc: &[u8]) -> Result<KeySet, String> {
        if doc.len() > MAX_JWKS_BYTES {
            return Err(format!("larger than {MAX_JWKS_BYTES} bytes"));
        }
        let set: JwkSet = serde_json::from_slice(doc).map_err(|e| format!("not a JWKS: {e}"))?;
        if set.keys.len() > MAX_KEYS {
            return Err(format!("more than {MAX_KEYS} keys"));
        }
        let keys = set
            .keys
            .into_iter()
            .filter_map(|v| serde_json::from_value::<Jwk>(v).ok()?.key())
            .collect();
        Ok(KeySet { keys })
    }

    /// The keys a token whose header names `kid` may be signed with: that key, or every key
    /// when the header names none.
    pub(crate) fn candidates<'a>(&'a self, kid: Option<&'a str>) -> impl Iterator<Item = &'a Key> {
        self.keys
            .iter()
            .filter(move |k| kid.is_none() || k.kid.as_deref() == kid)
    }

    fn union(&self, other: &KeySet) -> KeySet {
        let mut keys = self.keys.clone();
        keys.extend(
            other
                .keys
                .iter()
                .filter(|k| !self.keys.contains(k))
                .cloned(),
        );
        KeySet { keys }
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }
}

/// Reads the issuer's keys over HTTPS.
#[derive(Debug)]
pub(crate) struct Fetcher {
    client: reqwest::Client,
    issuer: String,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

impl Fetcher {
    /// A fetcher for `issuer`, trusting `roots`.
    pub(crate) fn new(issuer: &str, roots: rustls::RootCertStore) -> Result<Fetcher, String> {
        let tls = crate::tls::client_builder(roots)?.with_no_client_auth();
        let client = reqwest::Client::builder()
            .connect_timeout(FETCH_TIMEOUT)
            .timeout(FETCH_TIMEOUT)
            .https_only(true)
            .redirect(reqwest::redirect::Policy::limited(3))
            .tls_backend_preconfigured(tls)
            .build()
            .map_err(|e| format!("OIDC client: {e}"))?;
        Ok(Fetcher {
            client,
            issuer: issuer.to_string(),
        })
    }

    /// Discovery, then the JWKS it names.
    pub(crate) async fn fetch(&self) -> Result<KeySet, String> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        let discovery: Discovery = serde_json::from_slice(&self.get(&url).await?)
            .map_err(|e| format!("discovery document: {e}"))?;
        if discovery.issuer != self.issuer {
            return Err(format!(
                "discovery names issuer {:?}, not the configured one",
                discovery.issuer
            ));
        }
        KeySet::parse(&self.get(&discovery.jwks_uri).await?)
    }

    async fn get(&self, url: &str) -> Result<Vec<u8>, String> {
        let mut res = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !res.status().is_success() {
            return Err(format!("{url}: HTTP {}", res.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(|e| e.to_string())? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(format!("{url}: larger than {MAX_JWKS_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// The keys in force and where they come from.
#[derive(Debug)]
pub(crate) struct Jwks {
    fetcher: Option<Fetcher>,
    file: Option<PathBuf>,
    fetched: Mutex<KeySet>,
    keys: RwLock<Arc<KeySet>>,
    last_refresh: Mutex<Option<Instant>>,
    refreshing: tokio::sync::Mutex<()>,
}

impl Jwks {
    pub(crate) fn new(fetcher: Option<Fetcher>, file: Option<PathBuf>) -> Jwks {
        Jwks {
            fetcher,
            file,
            fetched: Mutex::default(),
            keys: RwLock::default(),
            last_refresh: Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    /// The keys in force now.
    pub(crate) fn current(&self) -> Arc<KeySet> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Fetches from the issuer and re-reads the file; whatever fails keeps what it gave
    /// before. Returns the number of keys in force.
    pub(crate) async fn refresh(&self) -> usize {
        let _one_at_a_time = self.refreshing.lock().await;
        *self.last_refresh.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        if let Some(fetcher) = &self.fetcher {
            match fetcher.fetch().await {
                Ok(keys) => {
                    debug!(keys = keys.len(), "OIDC keys fetched from the issuer");
                    *self.fetched.lock().unwrap_or_else(|e| e.into_inner()) = keys;
                }
                Err(e) => warn!(error = %e, "OIDC keys could not be fetched; the keys held stay"),
            }
        }
        let mut keys = self
            .fetched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(path) = &self.file {
            match crate::watched::read_bounded(path, MAX_JWKS_BYTES as u64)
                .map_err(|e| e.to_string())
                .and_then(|text| KeySet::parse(text.as_bytes()))
            {
                Ok(file) => keys = keys.union(&file),
                Err(e) => {
                    warn!(path = %path.display(), error = %e, "OIDC jwksFile unreadable; its keys held stay");
                    keys = keys.union(&self.file_keys_held());
                }
            }
        }
        let n = keys.len();
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
        n
    }

    /// The keys in force that did not come from the last fetch (the file's last good keys).
    fn file_keys_held(&self) -> KeySet {
        let fetched = self
            .fetched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let keys = self
            .current()
            .keys
            .iter()
            .filter(|k| !fetched.keys.contains(k))
            .cloned()
            .collect();
        KeySet { keys }
    }

    /// Refreshes for a key id not in force, unless the last refresh was less than
    /// [`MIN_REFRESH_INTERVAL`] ago. Whether a refresh ran.
    pub(crate) async fn refresh_for_unknown_key(&self) -> bool {
        let recent = self
            .last_refresh
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|at| at.elapsed() < MIN_REFRESH_INTERVAL);
        if recent {
            return false;
        }
        let n = self.refresh().await;
        info!(keys = n, "OIDC keys refreshed for an unknown key id");
        true
    }

    /// Refreshes every `every` until the keys are dropped.
    pub(crate) fn refresh_periodically(self: &Arc<Self>, every: Duration) {
        let weak: Weak<Jwks> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(jwks) = weak.upgrade() else { return };
                jwks.refresh().await;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rsa_and_ec_keys_and_skips_the_rest() {
        let b = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let doc = serde_json::json!({"keys": [
            {"kty": "RSA", "kid": "r", "n": b(&[0xc5; 256]), "e": b(&[1, 0, 1])},
            {"kty": "EC", "kid": "e", "crv": "P-256", "x": b(&[1; 32]), "y": b(&[2; 32])},
            {"kty": "EC", "kid": "short", "crv": "P-256", "x": b(&[1; 31]), "y": b(&[2; 32])},
            {"kty": "oct", "kid": "h", "k": b(b"shared")},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": b(&[0xc5; 256]), "e": b(&[3])},
        ]});
        let set = KeySet::parse(doc.to_string().as_bytes()).unwrap();
        assert_eq!(set.len(), 2);
        assert_eq!(set.candidates(Some("e")).count(), 1);
        assert_eq!(set.candidates(Some("h")).count(), 0);
        assert_eq!(set.candidates(None).count(), 2);
        let big = vec![b' '; MAX_JWKS_BYTES + 1];
        assert!(KeySet::parse(&big).unwrap_err().contains("larger"));
        let many: Vec<_> = (0..=MAX_KEYS)
            .map(|_| serde_json::json!({"kty": "x"}))
            .collect();
        let doc = serde_json::json!({ "keys": many }).to_string();
        assert!(KeySet::parse(doc.as_bytes()).unwrap_err().contains("keys"));
        assert_eq!(Alg::parse("none"), None);
        assert_eq!(Alg::parse("HS256"), None);
    }

    #[tokio::test]
    async fn the_file_is_reread_and_unknown_key_refreshes_are_rate_limited() {
        let b = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let key = |kid: &str| serde_json::json!({"kty": "EC", "kid": kid, "crv": "P-256", "x": b(&[1; 32]), "y": b(&[2; 32])});
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwks.json");
        std::fs::write(&path, serde_json::json!({"keys": [key("a")]}).to_string()).unwrap();
        let jwks = Jwks::new(None, Some(path.clone()));
        assert_eq!(jwks.refresh().await, 1);
        std::fs::write(
            &path,
            serde_json::json!({"keys": [key("a"), key("b")]}).to_string(),
        )
        .unwrap();
        // Just refreshed: an unknown key id does not refresh again.
        assert!(!jwks.refresh_for_unknown_key().await);
        assert_eq!(jwks.current().candidates(Some("b")).count(), 0);
        *jwks.last_refresh.lock().unwrap() = Instant::now().checked_sub(MIN_REFRESH_INTERVAL);
        assert!(jwks.refresh_for_unknown_key().await);
        assert_eq!(jwks.current().candidates(Some("b")).count(), 1);
        // A broken file keeps the keys it gave before.
        std::fs::write(&path, "{").unwrap();
        assert_eq!(jwks.refresh().await, 2);
    }
}
