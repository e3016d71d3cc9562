//! A complete, self-contained setup: the simulated API server, kubewitness in front of it
//! with TLS from a throwaway CA, a token file, and a kubeconfig for kubectl. `kubewitness
//! demo` runs one; the integration tests run many.
//!
//! Tokens are random per testbed and written only to files in its directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use tokio::sync::watch;

use crate::ca::TestCa;
use crate::{SimConfig, SimServer};
use proxy_core::config::{AuditConfig, AuthConfig, Config, TlsConfig, UpstreamConfig};
use proxy_core::record::{RecordingConfig, SealSigner};
use proxy_core::server::{Proxy, Server};

/// A caller known to the testbed's token file.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The user name.
    pub user: String,
    /// The groups.
    pub groups: Vec<String>,
    /// The bearer token.
    pub token: String,
}

/// How to build a testbed.
#[derive(Clone, Debug)]
pub struct TestbedOptions {
    /// The simulated API server.
    pub sim: SimConfig,
    /// Where kubewitness listens; port 0 picks one.
    pub listen: SocketAddr,
    /// Where to write files; a temporary directory when `None`.
    pub dir: Option<PathBuf>,
    /// Users in the token file, as (user, groups).
    pub users: Vec<(String, Vec<String>)>,
    /// Ask upstream (`TokenReview`) about unknown tokens.
    pub token_review: bool,
    /// Accept client certificates from the testbed CA.
    pub client_certs: bool,
    /// A policy file's YAML, written to `policy.yaml` in the testbed directory; `None` for
    /// the built-in policy. Audit lines go to `audit.jsonl` there.
    pub policy: Option<String>,
    /// Listener limits (defaults when empty).
    pub listener: proxy_core::config::ListenerConfig,
    /// The metrics gateway's Prometheus backend, when the test runs one.
    pub prometheus: Option<proxy_core::prometheus::PrometheusConfig>,
}

impl Default for TestbedOptions {
    fn default() -> Self {
        TestbedOptions {
            sim: SimConfig::default(),
            listen: "127.0.0.1:0".parse().expect("valid address"),
            dir: None,
            users: vec![("alice".into(), vec!["sre".into(), "oncall".into()])],
            token_review: false,
            client_certs: false,
            policy: None,
            listener: Default::default(),
            prometheus: None,
        }
    }
}

/// A running testbed. Dropping it stops kubewitness and the simulated server.
#[derive(Debug)]
pub struct Testbed {
    /// The simulated API server.
    pub sim: SimServer,
    /// The proxy, for inspection.
    pub proxy: Arc<Proxy>,
    /// kubewitness's address.
    pub addr: SocketAddr,
    /// The callers in the token file; the first is the kubeconfig's user.
    pub callers: Vec<Caller>,
    /// The throwaway CA.
    pub ca: Arc<TestCa>,
    /// A kubeconfig for kubectl, as the first caller.
    pub kubeconfig: PathBuf,
    /// The configuration kubewitness runs with.
    pub config: Config,
    dir: PathBuf,
    _tempdir: Option<tempfile::TempDir>,
    stop: watch::Sender<bool>,
    served: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// A testbed setup failure.
pub type TestbedError = Box<dyn std::error::Error + Send + Sync>;

impl Testbed {
    /// Starts a testbed.
    pub async fn start(opts: TestbedOptions) -> Result<Testbed, TestbedError> {
        let (tempdir, dir) = match &opts.dir {
            Some(d) => {
                std::fs::create_dir_all(d)?;
                (None, d.clone())
            }
            None => {
                let t = tempfile::Builder::new().prefix("kubewitness-").tempdir()?;
                let d = t.path().to_path_buf();
                (Some(t), d)
            }
        };
        let sim = SimServer::start(opts.sim.clone()).await?;
        let ca = Arc::new(TestCa::new("kubewitness testbed CA")?);
        let server_cert = ca.server_cert()?;
        write_private(&dir.join("ca.crt"), ca.ca_pem())?;
        write_private(&dir.join("server.crt"), &server_cert.cert_pem)?;
        write_private(&dir.join("server.key"), &server_cert.key_pem)?;
        write_private(&dir.join("upstream.kubeconfig"), &sim.kubeconfig())?;

        let callers: Vec<Caller> = opts
            .users
            .iter()
            .map(|(user, groups)| Caller {
                user: user.clone(),
                groups: groups.clone(),
                token: random_token(),
            })
            .collect();
        let mut csv = String::new();
        for (i, c) in callers.iter().enumerate() {
            csv.push_str(&format!(
                "{},{},uid-{i},\"{}\"\n",
                c.token,
                c.user,
                c.groups.join(",")
            ));
        }
        write_private(&dir.join("tokens.csv"), &csv)?;

        let policy = match &opts.policy {
            Some(yaml) => {
                write_private(&dir.join("policy.yaml"), yaml)?;
                Some(dir.join("policy.yaml"))
            }
            None => None,
        };
        let config = Config {
            listen: Some(opts.listen),
            tls: Some(TlsConfig {
                cert: dir.join("server.crt"),
                key: dir.join("server.key"),
                client_ca: opts.client_certs.then(|| dir.join("ca.crt")),
            }),
            auth: AuthConfig {
                token_file: Some(dir.join("tokens.csv")),
                token_review: opts.token_review,
                ..Default::default()
            },
            upstream: UpstreamConfig {
                kubeconfig: Some(dir.join("upstream.kubeconfig")),
                context: None,
            },
            policy,
            audit: AuditConfig {
                path: Some(dir.join("audit.jsonl")),
            },
            recording: Some(recording_config(&dir)?),
            redaction: proxy_core::redaction::RedactionConfig {
                fingerprint_key: Some(fingerprint_key(&dir)?),
                ..Default::default()
            },
            listener: opts.listener.clone(),
            mcp: Default::default(),
            prometheus: opts.prometheus.clone(),
        };
        config.validate()?;
        let proxy = Proxy::from_config(&config).await?;
        let tls = proxy_core::tls::server_config(config.tls.as_ref().expect("set above"))?;
        let server = Server::bind(config.listen_addr(), Some(tls), proxy.clone())
            .await?
            .with_limits(proxy_core::server::ListenerLimits::from_config(
                &config.listener,
            ));
        let addr = server.local_addr()?;
        let (stop, mut stopped) = watch::channel(false);
        let served = tokio::spawn(server.serve(async move {
            let _ = stopped.wait_for(|s| *s).await;
        }));

        let kubeconfig = dir.join("kubeconfig");
        let first = callers.first().ok_or("a testbed needs at least one user")?;
        write_private(
            &kubeconfig,
            &client_kubeconfig(addr, ca.ca_pem(), &first.user, &first.token),
        )?;
        Ok(Testbed {
            sim,
            proxy,
            addr,
            callers,
            ca,
            kubeconfig,
            config,
            dir,
            _tempdir: tempdir,
            stop,
            served: Some(served),
        })
    }

    /// The directory holding the testbed's files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// kubewitness's URL.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Writes a kubeconfig for `token` (any token, valid or not) and returns its path.
    pub fn kubeconfig_for(&self, name: &str, token: &str) -> std::io::Result<PathBuf> {
        let path = self.dir.join(format!("{name}.kubeconfig"));
        write_private(
            &path,
            &client_kubeconfig(self.addr, self.ca.ca_pem(), name, token),
        )?;
        Ok(path)
    }

    /// Stops kubewitness, draining sessions, and waits for it.
    pub async fn shutdown(&mut self) {
        let _ = self.stop.send(true);
        if let Some(served) = self.served.take() {
            let _ = served.await;
        }
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Records to `file://DIR/recordings`, spooling in `DIR/spool`, signing with
/// `DIR/recording.key` (its public half in `DIR/recording.pub` for `verify --public-key`).
/// The key is made on first start and kept on restarts, so the sessions a crash left are
/// sealed by the key they declared.
fn recording_config(dir: &Path) -> Result<RecordingConfig, TestbedError> {
    let key = dir.join("recording.key");
    let signer = if key.exists() {
        SealSigner::load(&key)?
    } else {
        let signer = SealSigner::from_seed(&rand::random());
        write_private(&key, &signer.to_pkcs8_pem())?;
        signer
    };
    write_private(&dir.join("recording.pub"), &signer.public_key_pem())?;
    Ok(RecordingConfig {
        store: format!("file://{}", dir.join("recordings").display()),
        spool_dir: Some(dir.join("spool")),
        signing_key: Some(dir.join("recording.key")),
        ..RecordingConfig::default()
    })
}

/// Writes a random key for redaction fingerprints.
fn fingerprint_key(dir: &Path) -> std::io::Result<PathBuf> {
    let path = dir.join("fingerprint.key");
    let key: [u8; 32] = rand::random();
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    write_private(&path, &hex)?;
    Ok(path)
}

/// A kubeconfig for kubectl pointing at `addr` with `ca_pem` and a bearer token.
pub fn client_kubeconfig(addr: SocketAddr, ca_pem: &str, user: &str, token: &str) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1\nkind: Config\n\
         clusters:\n- name: kubewitness\n  cluster:\n    server: https://{addr}\n    certificate-authority-data: {ca}\n\
         users:\n- name: {user}\n  user:\n    token: {token}\n\
         contexts:\n- name: kubewitness\n  context:\n    cluster: kubewitness\n    user: {user}\n    namespace: default\n\
         current-context: kubewitness\n"
    )
}

fn random_token() -> String {
    let bytes: [u8; 24] = rand::random();
    format!(
        "kw-{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// Writes a file readable only by its owner (it may hold keys or tokens).
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents.as_bytes())
}
