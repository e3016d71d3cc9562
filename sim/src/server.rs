//! The listener: binds `127.0.0.1:0`, optionally terminates TLS, serves HTTP/1.1 and HTTP/2
//! (hyper-util `auto`, with upgrades) and hands every request to [`super::router`].
//!
//! Everything a session spawns (connections, exec processes) is owned by the server: dropping
//! or shutting down a [`SimServer`] aborts it all and removes the scratch directory.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, Method, Uri};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use super::config::SimConfig;
use super::store::Store;
use super::{router, tls};

/// One request as the simulated server received it, before authentication.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// The request method.
    pub method: Method,
    /// The request target (path and query).
    pub uri: Uri,
    /// Every request header, as received (`Impersonate-User`, `Impersonate-Group`, …).
    pub headers: HeaderMap,
    /// The body, for the requests whose body the server reads (POST, PUT, PATCH and DELETE,
    /// except the exec, attach and port-forward upgrades); empty otherwise.
    pub body: Bytes,
}

impl RecordedRequest {
    /// Whether this is a write to the cluster's objects (or a dry run of one): a POST, PUT,
    /// PATCH or DELETE of an object or of its `eviction` or `scale` subresource. Reviews,
    /// TokenRequests, ephemeral containers and exec/attach/port-forward are not.
    pub fn is_write(&self) -> bool {
        let path = self.uri.path();
        let write_method = matches!(self.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE");
        let other = [
            "/exec",
            "/attach",
            "/portforward",
            "/ephemeralcontainers",
            "/token",
        ]
        .iter()
        .any(|s| path.ends_with(s))
            || path.starts_with("/apis/authentication.k8s.io/")
            || path.starts_with("/apis/authorization.k8s.io/");
        write_method && !other
    }

    /// Whether the request asks for a dry run: `dryRun` in the query, or a `dryRun` list
    /// in the body's `DeleteOptions` (a DELETE's body, an `Eviction`'s `deleteOptions`),
    /// which is where kubectl puts it for `delete` and `drain`.
    pub fn dry_run(&self) -> bool {
        let in_query = self
            .uri
            .query()
            .is_some_and(|q| proxy_core::channel::url_pairs(q).any(|(k, _)| k == "dryRun"));
        let body: serde_json::Value = serde_json::from_slice(&self.body).unwrap_or_default();
        let listed = |v: &serde_json::Value| v.as_array().is_some_and(|a| !a.is_empty());
        in_query || listed(&body["dryRun"]) || listed(&body["deleteOptions"]["dryRun"])
    }
}

/// A per-server scratch directory, the working directory and `HOME` of exec'd processes.
#[derive(Debug)]
pub(crate) struct Scratch(PathBuf);

impl Scratch {
    fn create() -> std::io::Result<Scratch> {
        use std::os::unix::fs::DirBuilderExt as _;
        let path = std::env::temp_dir().join(format!(
            "kubewitness-sim-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::DirBuilder::new().mode(0o700).create(&path)?;
        Ok(Scratch(path))
    }

    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What every handler shares.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) cfg: SimConfig,
    pub(crate) store: Store,
    /// When the pods "started": every `creationTimestamp`, and the base of log timestamps.
    pub(crate) created: SystemTime,
    /// `127.0.0.1:port`.
    pub(crate) address: String,
    pub(crate) scratch: Scratch,
    requests: Mutex<Vec<RecordedRequest>>,
    sessions: Mutex<Vec<AbortHandle>>,
    /// Ephemeral containers added by `kubectl debug`.
    pub(crate) ephemeral: super::ephemeral::Added,
    /// Service account tokens minted by TokenRequest.
    pub(crate) minted: super::tokenrequest::Minted,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl State {
    pub(crate) fn record(&self, r: RecordedRequest) {
        lock(&self.requests).push(r);
    }

    /// Registers a spawned session task so shutdown aborts it.
    pub(crate) fn own(&self, handle: AbortHandle) {
        let mut sessions = lock(&self.sessions);
        sessions.retain(|h| !h.is_finished());
        sessions.push(handle);
    }
}

/// Compares two secrets in time independent of where they differ.
pub(crate) fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A running simulated API server. See the [module docs](super).
#[derive(Debug)]
pub struct SimServer {
    addr: SocketAddr,
    ca_pem: Option<String>,
    state: Arc<State>,
    accept: JoinHandle<()>,
}

impl SimServer {
    /// Starts a server for `cfg` on `127.0.0.1:0`.
    pub async fn start(cfg: SimConfig) -> std::io::Result<SimServer> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let identity = if cfg.tls {
            Some(tls::generate()?)
        } else {
            None
        };
        let created = SystemTime::now() - Duration::from_secs(300);
        let state = Arc::new(State {
            store: Store::build(&cfg, created),
            cfg,
            created,
            address: addr.to_string(),
            scratch: Scratch::create()?,
            requests: Mutex::new(Vec::new()),
            sessions: Mutex::new(Vec::new()),
            ephemeral: super::ephemeral::Added::default(),
            minted: super::tokenrequest::Minted::default(),
        });
        let acceptor = identity
            .as_ref()
            .map(|i| TlsAcceptor::from(i.config.clone()));
        let accept = tokio::spawn(accept_loop(listener, state.clone(), acceptor));
        tracing::info!(%addr, tls = identity.is_some(), "sim: listening");
        Ok(SimServer {
            addr,
            ca_pem: identity.map(|i| i.ca_pem),
            state,
            accept,
        })
    }

    /// `https://127.0.0.1:port` or `http://127.0.0.1:port`.
    pub fn url(&self) -> String {
        let scheme = if self.ca_pem.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The PEM of the CA that signed the serving certificate (TLS only).
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// The configuration the server runs with.
    pub fn config(&self) -> &SimConfig {
        &self.state.cfg
    }

    /// Every request received so far, in arrival order (recorded before authentication).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state.requests).clone()
    }

    /// The write requests received so far ([`RecordedRequest::is_write`]), dry runs
    /// included ([`RecordedRequest::dry_run`] tells them apart), in arrival order.
    pub fn writes(&self) -> Vec<RecordedRequest> {
        lock(&self.state.requests)
            .iter()
            .filter(|r| r.is_write())
            .cloned()
            .collect()
    }

    /// An object as the server would serve it now, `None` when it does not exist (never
    /// created, deleted or evicted). `api_version` is `v1` or `apps/v1`, `resource` the
    /// plural (`pods`, `nodes`, `deployments`, `statefulsets`, …), `namespace` `None` for
    /// cluster-scoped objects.
    pub fn object(
        &self,
        api_version: &str,
        resource: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<serde_json::Value> {
        let group = api_version.strip_suffix("/v1").unwrap_or_default();
        let r = super::discovery::resource(group, resource)?;
        self.state.store.get(r, namespace, name)
    }

    /// Whether pod `namespace/name` exists (it is gone once deleted or evicted).
    pub fn pod_exists(&self, namespace: &str, name: &str) -> bool {
        self.object("v1", "pods", Some(namespace), name).is_some()
    }

    /// Deployment `namespace/name` as it is now (`spec.replicas`, the restart annotation
    /// in `spec.template.metadata.annotations`, …).
    pub fn deployment(&self, namespace: &str, name: &str) -> Option<serde_json::Value> {
        self.object("apps/v1", "deployments", Some(namespace), name)
    }

    /// StatefulSet `namespace/name` as it is now.
    pub fn statefulset(&self, namespace: &str, name: &str) -> Option<serde_json::Value> {
        self.object("apps/v1", "statefulsets", Some(namespace), name)
    }

    /// Node `name` as it is now (`spec.unschedulable` once cordoned). The cluster has
    /// `sim-node-1`, which every pod runs on, and `node-1`, which runs none.
    pub fn node(&self, name: &str) -> Option<serde_json::Value> {
        self.object("v1", "nodes", None, name)
    }

    /// Forgets the requests received so far (long-running tests keep the log bounded).
    pub fn clear_requests(&self) {
        lock(&self.state.requests).clear();
    }

    /// How many service account tokens TokenRequest has minted.
    pub fn minted_tokens(&self) -> usize {
        self.state.minted.count()
    }

    /// Refuses (`true`) or serves (`false`) TokenRequests from now on (a refresh that fails).
    pub fn refuse_token_requests(&self, refuse: bool) {
        self.state.minted.refuse(refuse);
    }

    /// A kubeconfig (YAML) for this server: its URL, its CA (TLS) and the bearer token.
    pub fn kubeconfig(&self) -> String {
        use base64::Engine as _;
        let mut cluster = json!({"server": self.url()});
        if let Some(pem) = &self.ca_pem {
            cluster["certificate-authority-data"] =
                json!(base64::engine::general_purpose::STANDARD.encode(pem));
        }
        let config = json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "kubewitness-sim", "cluster": cluster}],
            "users": [{"name": "kubewitness-sim", "user": {"token": self.state.cfg.token}}],
            "contexts": [{"name": "kubewitness-sim", "context": {"cluster": "kubewitness-sim", "user": "kubewitness-sim", "namespace": "default"}}],
            "current-context": "kubewitness-sim",
        });
        serde_yaml_ng::to_string(&config).unwrap_or_default()
    }

    /// Stops accepting, aborts every connection and session (killing exec'd processes).
    pub fn shutdown(&mut self) {
        self.accept.abort();
        for s in lock(&self.state.sessions).drain(..) {
            s.abort();
        }
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>, tls: Option<TlsAcceptor>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    conns.spawn(serve_connection(tcp, peer, state.clone(), tls.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "sim: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn serve_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    state: Arc<State>,
    tls: Option<TlsAcceptor>,
) {
    let service = service_fn(move |req| {
        let state = state.clone();
        async move { Ok::<_, Infallible>(router::handle(state, req).await) }
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    let result = match tls {
        Some(acceptor) => match acceptor.accept(tcp).await {
            Ok(stream) => {
                builder
                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                    .await
            }
            Err(e) => {
                tracing::debug!(%peer, error = %e, "sim: TLS handshake failed");
                return;
            }
        },
        None => {
            builder
                .serve_connection_with_upgrades(TokioIo::new(tcp), service)
                .await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "sim: connection ended with an error");
    }
}
