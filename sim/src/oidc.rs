//! [`TestIssuer`]: a throwaway OIDC issuer for the tests. It serves
//! `/.well-known/openid-configuration` and its JWKS over HTTPS (a CA generated at start) and
//! mints ID tokens signed with its keys: ES256 (ring) and RS256 (a 2048-bit key made at
//! start by `openssl genpkey`; ring cannot generate RSA keys). No key is ever written down.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// The algorithms a [`TestIssuer`] signs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestAlg {
    /// RSA PKCS#1 v1.5 with SHA-256; key id `rsa-1`.
    Rs256,
    /// ECDSA P-256 with SHA-256; key id `ec-1`.
    Es256,
}

/// A running OIDC issuer. Dropping it stops serving.
pub struct TestIssuer {
    url: String,
    ca_pem: String,
    rsa: RsaKeyPair,
    ec: EcdsaKeyPair,
    jwks: String,
    fetches: Arc<AtomicUsize>,
    accept: JoinHandle<()>,
}

impl std::fmt::Debug for TestIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestIssuer")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn other(e: impl std::fmt::Debug) -> io::Error {
    io::Error::other(format!("{e:?}"))
}

/// A fresh 2048-bit RSA key from the `openssl` command (DER output is PKCS#1).
fn rsa_key() -> io::Result<RsaKeyPair> {
    let out = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .args(["-outform", "DER"])
        .stderr(std::process::Stdio::null())
        .output()?;
    if !out.status.success() {
        return Err(io::Error::other("openssl genpkey failed"));
    }
    RsaKeyPair::from_der(&out.stdout).map_err(other)
}

/// A fresh P-256 key.
fn ec_key() -> io::Result<EcdsaKeyPair> {
    let rng = SystemRandom::new();
    let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).map_err(other)?;
    EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).map_err(other)
}

fn jwks(rsa: &RsaKeyPair, ec: &EcdsaKeyPair) -> String {
    let rsa_public = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(rsa.public());
    let point = ec.public_key().as_ref();
    json!({"keys": [
        {"kty": "RSA", "kid": "rsa-1", "alg": "RS256", "use": "sig",
         "n": b64(&rsa_public.n), "e": b64(&rsa_public.e)},
        {"kty": "EC", "kid": "ec-1", "alg": "ES256", "use": "sig", "crv": "P-256",
         "x": b64(&point[1..33]), "y": b64(&point[33..65])},
    ]})
    .to_string()
}

impl TestIssuer {
    /// Starts serving on `127.0.0.1:0` with fresh keys.
    pub async fn start() -> io::Result<TestIssuer> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let url = format!("https://{addr}");
        let identity = super::tls::generate()?;
        let (rsa, ec) = (rsa_key()?, ec_key()?);
        let jwks = jwks(&rsa, &ec);
        let fetches = Arc::new(AtomicUsize::new(0));
        let discovery = json!({"issuer": url, "jwks_uri": format!("{url}/keys")}).to_string();
        let accept = tokio::spawn(serve(
            listener,
            TlsAcceptor::from(identity.config.clone()),
            Arc::new((discovery, jwks.clone())),
            fetches.clone(),
        ));
        Ok(TestIssuer {
            url,
            ca_pem: identity.ca_pem,
            rsa,
            ec,
            jwks,
            fetches,
            accept,
        })
    }

    /// `https://127.0.0.1:port`: the issuer URL and every token's `iss`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The CA that signed the issuer's serving certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The JWKS document served (for a `jwksFile`).
    pub fn jwks(&self) -> &str {
        &self.jwks
    }

    /// How many times the JWKS was fetched.
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// Valid claims for `sub` and audience `client_id`, good for ten minutes; tests change
    /// what they need.
    pub fn claims(&self, sub: &str, client_id: &str) -> Value {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        json!({"iss": self.url, "aud": client_id, "sub": sub, "iat": now, "nbf": now,
               "exp": now + 600})
    }

    /// A compact JWS of `claims` signed with the issuer's `alg` key.
    pub fn sign(&self, alg: TestAlg, claims: &Value) -> String {
        let kid = match alg {
            TestAlg::Rs256 => "rsa-1",
            TestAlg::Es256 => "ec-1",
        };
        self.sign_as(alg, kid, claims)
    }

    /// Like [`TestIssuer::sign`] but naming key id `kid` in the header, whatever key signs.
    pub fn sign_as(&self, alg: TestAlg, kid: &str, claims: &Value) -> String {
        let name = match alg {
            TestAlg::Rs256 => "RS256",
            TestAlg::Es256 => "ES256",
        };
        let signed = signing_input(&json!({"alg": name, "kid": kid, "typ": "JWT"}), claims);
        let sig = match alg {
            TestAlg::Rs256 => {
                let mut sig = vec![0; self.rsa.public().modulus_len()];
                self.rsa
                    .sign(
                        &signature::RSA_PKCS1_SHA256,
                        &SystemRandom::new(),
                        signed.as_bytes(),
                        &mut sig,
                    )
                    .expect("RSA signing");
                sig
            }
            TestAlg::Es256 => es256(&self.ec, &signed),
        };
        format!("{signed}.{}", b64(&sig))
    }

    /// An ES256 token naming the issuer's key id `ec-1` but signed with another key.
    pub fn sign_with_a_foreign_key(&self, claims: &Value) -> io::Result<String> {
        let signed = signing_input(
            &json!({"alg": "ES256", "kid": "ec-1", "typ": "JWT"}),
            claims,
        );
        Ok(format!("{signed}.{}", b64(&es256(&ec_key()?, &signed))))
    }

    /// An unsigned token (`alg: none`) of `claims`.
    pub fn unsigned(claims: &Value) -> String {
        format!(
            "{}.",
            signing_input(&json!({"alg": "none", "typ": "JWT"}), claims)
        )
    }
}

/// `base64url(header) . base64url(claims)`.
fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

fn es256(key: &EcdsaKeyPair, signed: &str) -> Vec<u8> {
    key.sign(&SystemRandom::new(), signed.as_bytes())
        .expect("ECDSA signing")
        .as_ref()
        .to_vec()
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn serve(
    listener: TcpListener,
    tls: TlsAcceptor,
    docs: Arc<(String, String)>,
    fetches: Arc<AtomicUsize>,
) {
    loop {
        let Ok((tcp, _)): io::Result<(_, SocketAddr)> = listener.accept().await else {
            continue;
        };
        let (tls, docs, fetches) = (tls.clone(), docs.clone(), fetches.clone());
        tokio::spawn(async move {
            let Ok(stream) = tls.accept(tcp).await else {
                return;
            };
            let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let (status, body) = match req.uri().path() {
                    "/.well-known/openid-configuration" => (StatusCode::OK, docs.0.clone()),
                    "/keys" => {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        (StatusCode::OK, docs.1.clone())
                    }
                    _ => (StatusCode::NOT_FOUND, "{}".to_string()),
                };
                let res = Response::builder()
                    .status(status)
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(Full::new(Bytes::from(body)));
                async move { Ok::<_, Infallible>(res.unwrap_or_default()) }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
