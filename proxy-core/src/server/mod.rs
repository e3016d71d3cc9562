//! The client-facing server: TLS, HTTP/1.1 and HTTP/2, upgrades, and graceful drain.
//!
//! Each accepted connection gets a span with the peer address. TLS is terminated here with
//! rustls; a client certificate verified against `tls.clientCA` becomes the connection's
//! identity. hyper-util's `auto` builder serves both HTTP versions, with upgrades, so kubectl's
//! HTTP/2 API calls and its HTTP/1.1 exec upgrades arrive at the same router.
//!
//! Shutdown (`drain.rs`) turns readiness off, stops accepting, asks every connection to
//! finish its in-flight requests, waits up to the grace period for running sessions, ends
//! the rest with a `Status` the client sees, and lets the recorder seal every recording.

mod access_api;
mod body;
mod builder;
mod downstream;
pub mod drain;
mod ephemeral;
mod exec;
mod head;
pub mod limits;
mod logs;
pub(crate) mod logstream;
#[cfg(feature = "mcp")]
pub mod mcp;
mod portforward;
mod readredact;
mod respond;
mod reviewproto;
mod route;
mod rulesreview;
mod selfreview;
mod service;
pub(crate) mod session;
mod upgrade;

pub use builder::Builder;
pub use service::{IntoRequestBody, ProxyService, ResponseFuture};
pub use session::SessionFilters;

pub use crate::bodies::{BodyError, BoxError, RequestBody, ResponseBody};
pub use limits::ListenerLimits;
pub use session::{SessionInfo, SessionKind};

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use session::FilterList;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio_rustls::TlsAcceptor;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::access::Access;
use crate::auth::{Authenticator, Identity};
use crate::config::Config;
use crate::error::Error;
use crate::policy::PolicyError;
use crate::policy::store::{PolicyStore, Reloaded};
use crate::record::Recorder;
use crate::upstream::Upstream;

/// How long a TLS handshake may take.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for running sessions by default (`shutdownGrace`).
pub const DRAIN_TIMEOUT: Duration = drain::DEFAULT_SHUTDOWN_GRACE;
/// How long sessions ended at the end of the grace period have to deliver their status and
/// seal their recordings.
pub const END_TIMEOUT: Duration = Duration::from_secs(10);

/// The proxy: what every request handler shares. Made by [`Proxy::builder`]; served by a
/// [`Server`] or, mounted in an embedder's own server, as a [`ProxyService`].
pub struct Proxy {
    auth: Authenticator,
    upstream: Upstream,
    access: Access,
    sessions: Gauge,
    drain: Arc<drain::Drain>,
    recorder: Option<Arc<Recorder>>,
    redactor: Option<redact::Redactor>,
    mcp: crate::config::McpConfig,
    prometheus: Option<crate::prometheus::Gateway>,
    filters: FilterList,
    /// The access-request broker (with recording only) and the group its grants add upstream.
    grants: Option<Arc<crate::grants::Grants>>,
    breakglass: String,
}

/// Everything a [`Proxy`] is made of ([`Builder`] puts them together).
#[derive(Debug)]
struct ProxyParts {
    /// Who callers are.
    auth: Authenticator,
    /// Where requests go.
    upstream: Upstream,
    /// What callers may do.
    access: Access,
    /// Records every session, when set.
    recorder: Option<Arc<Recorder>>,
    /// The access-request broker (built when there is a recorder) and its settings.
    grants: Option<Arc<crate::grants::Grants>>,
    grants_config: crate::config::GrantsConfig,
    /// Masks secrets in session output, when set (policy rules may opt their sessions out).
    redactor: Option<redact::Redactor>,
}

impl Proxy {
    /// A builder: from a [`Config`] or from parts. Its [`Builder::build`] runs recording
    /// crash recovery and the file watchers unless told not to.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Builds the proxy a configuration describes: shorthand for
    /// `Proxy::builder().config(cfg.clone()).build()`.
    pub async fn from_config(cfg: &Config) -> Result<Arc<Proxy>, Error> {
        Proxy::builder().config(cfg.clone()).build().await
    }

    fn assemble(
        parts: ProxyParts,
        mcp: crate::config::McpConfig,
        prometheus: Option<crate::prometheus::Gateway>,
        filters: FilterList,
    ) -> Proxy {
        Proxy {
            auth: parts.auth,
            upstream: parts.upstream,
            access: parts.access,
            sessions: Gauge::default(),
            drain: Arc::default(),
            recorder: parts.recorder,
            redactor: parts.redactor,
            mcp,
            prometheus,
            filters,
            grants: parts.grants,
            breakglass: parts.grants_config.breakglass_group().to_string(),
        }
    }

    /// The API server's client (readiness asks it for `/version`).
    pub(crate) fn upstream_client(&self) -> &kube_client::Client {
        self.upstream.client()
    }

    /// Where requests go (the MCP gateway re-originates through it, like every handler).
    #[cfg(feature = "mcp")]
    pub(crate) fn upstream(&self) -> &Upstream {
        &self.upstream
    }

    /// What callers may do (the MCP gateway decides every tool call through it).
    #[cfg(feature = "mcp")]
    pub(crate) fn access(&self) -> &Access {
        &self.access
    }

    /// The Prometheus gateway, when `prometheus:` is configured (the MCP `prom_query` tool
    /// answers through it).
    #[cfg(feature = "mcp")]
    pub(crate) fn prometheus(&self) -> Option<&crate::prometheus::Gateway> {
        self.prometheus.as_ref()
    }

    /// The MCP gateway's settings.
    pub fn mcp_config(&self) -> &crate::config::McpConfig {
        &self.mcp
    }

    /// The redactor, when session output is redacted.
    pub fn redactor(&self) -> Option<&redact::Redactor> {
        self.redactor.as_ref()
    }

    /// Re-reads the policy file (SIGHUP). An invalid file is rejected with every problem
    /// and the policy in force stays.
    pub fn reload_policy(&self) -> Result<Reloaded, PolicyError> {
        self.access.store().reload()
    }

    /// Re-reads the watched files (SIGHUP): the policy and the token file, each logged. An
    /// invalid file is rejected with every problem and the one in force stays.
    pub fn reload(&self) {
        let store = self.access.store();
        store.log_reload(store.reload());
        if let Some(tokens) = self.auth.tokens() {
            tokens.log_reload(tokens.reload());
        }
    }

    /// The policy in force now.
    pub fn policy(&self) -> Arc<crate::policy::Policy> {
        self.access.store().current()
    }

    /// The policy store (reloads and logging).
    pub fn policy_store(&self) -> &Arc<PolicyStore> {
        self.access.store()
    }

    /// The recorder, when sessions are recorded.
    pub fn recorder(&self) -> Option<&Recorder> {
        self.recorder.as_deref()
    }

    /// Sessions (exec, attach, logs) running now.
    pub fn active_sessions(&self) -> usize {
        self.sessions.count.load(Ordering::Relaxed)
    }

    /// The process's metrics, for an embedder that serves `/metrics` itself or registers
    /// its own beside them ([`crate::admin`] serves them on the admin listener).
    ///
    /// ```
    /// # fn show(proxy: &proxy_core::Proxy) {
    /// let text = proxy.metrics().encode();
    /// assert!(text.contains("kubewitness_sessions_active"));
    /// # }
    /// let text = proxy_core::admin::metrics().encode();
    /// assert!(text.contains("# TYPE kubewitness_auth_failures_total counter"));
    /// ```
    pub fn metrics(&self) -> &'static crate::metrics::Metrics {
        crate::metrics::metrics()
    }

    /// Whether shutdown began ([`Proxy::begin_drain`]): readiness is false.
    pub fn is_draining(&self) -> bool {
        self.drain.is_draining()
    }

    /// Begins shutdown: `/readyz` answers 503 from now on. [`Server::serve`] calls it when
    /// its shutdown signal resolves; an embedder serving [`ProxyService`] itself calls it,
    /// then [`Proxy::end_sessions`] when its own grace period is over.
    pub fn begin_drain(&self) {
        self.drain.begin();
    }

    /// Ends every running session with [`drain::shutting_down`] (the client sees it on its
    /// error channel; recordings are sealed with it); returns how many were running.
    pub fn end_sessions(&self) -> usize {
        self.drain.end_all()
    }

    /// Resolves once no session runs.
    async fn sessions_idle(&self) {
        loop {
            let idle = self.sessions.idle.notified();
            if self.active_sessions() == 0 {
                break;
            }
            idle.await;
        }
    }
}

/// Counts running sessions so shutdown can wait for them.
#[derive(Debug, Default)]
struct Gauge {
    count: AtomicUsize,
    idle: Notify,
}

/// Held while a session runs.
pub(crate) struct SessionGuard(Arc<Proxy>);

impl SessionGuard {
    pub(crate) fn new(proxy: &Arc<Proxy>) -> SessionGuard {
        proxy.sessions.count.fetch_add(1, Ordering::Relaxed);
        SessionGuard(proxy.clone())
    }
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        if self.0.sessions.count.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.0.sessions.idle.notify_waiters();
        }
    }
}

/// Per-connection facts handlers need.
#[derive(Clone, Debug)]
struct Conn {
    remote: SocketAddr,
    cert: Option<Identity>,
    limits: ListenerLimits,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("upstream", &self.upstream)
            .field("recording", &self.recorder.is_some())
            .field("redaction", &self.redactor.is_some())
            .field("session_filters", &self.filters.len())
            .field("sessions", &self.active_sessions())
            .finish_non_exhaustive()
    }
}

/// A bound server.
pub struct Server {
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    proxy: Arc<Proxy>,
    limits: ListenerLimits,
    connections: Arc<limits::Connections>,
    grace: Duration,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.listener.local_addr().ok())
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Server {
    /// Binds `addr`; with `tls`, serves HTTPS. An address that cannot be bound is an
    /// [`Error::is_io`] naming it.
    pub async fn bind(
        addr: SocketAddr,
        tls: Option<rustls::ServerConfig>,
        proxy: Arc<Proxy>,
    ) -> Result<Server, Error> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| Error::io(format!("binding {addr}"), e))?;
        Ok(Server::new(listener, tls, proxy))
    }

    /// Serves `proxy` on a listener the caller bound; with `tls`, serves HTTPS.
    pub fn new(
        listener: TcpListener,
        tls: Option<rustls::ServerConfig>,
        proxy: Arc<Proxy>,
    ) -> Server {
        Server {
            listener,
            tls: tls.map(|c| TlsAcceptor::from(Arc::new(c))),
            proxy,
            limits: ListenerLimits::default(),
            connections: Arc::default(),
            grace: DRAIN_TIMEOUT,
        }
    }

    /// How long running sessions may go on once shutdown begins (default
    /// [`DRAIN_TIMEOUT`], `shutdownGrace` in the configuration).
    pub fn with_shutdown_grace(mut self, grace: Duration) -> Server {
        self.grace = grace;
        self
    }

    /// Serves under `limits` instead of the defaults.
    pub fn with_limits(mut self, limits: ListenerLimits) -> Server {
        self.limits = limits;
        self
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then drains.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let (tcp, remote) = tokio::select! {
                _ = &mut shutdown => break,
                accepted = self.listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of descriptors and the like: back off instead of spinning.
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let Some(slot) = self.connections.admit(remote.ip(), &self.limits) else {
                debug!(%remote, open = self.connections.open(), "connection limit reached; closed");
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let span = info_span!("conn", %remote);
            let (proxy, tls, stop) = (self.proxy.clone(), self.tls.clone(), stop_rx.clone());
            let limits = self.limits;
            tokio::spawn(
                async move {
                    let _slot = slot;
                    serve_conn(tcp, remote, limits, tls, proxy, stop).await
                }
                .instrument(span),
            );
        }
        self.proxy.begin_drain();
        drop(self.listener);
        info!(
            sessions = self.proxy.active_sessions(),
            grace_seconds = self.grace.as_secs(),
            "shutting down: not ready, no new connections; draining sessions"
        );
        let _ = stop_tx.send(true);
        let drained = tokio::time::timeout(self.grace, self.proxy.sessions_idle()).await;
        if drained.is_err() {
            let ended = self.proxy.end_sessions();
            warn!(
                sessions = ended,
                "shutdown grace period over: ending the sessions still running"
            );
            if tokio::time::timeout(END_TIMEOUT, self.proxy.sessions_idle())
                .await
                .is_err()
            {
                warn!(
                    sessions = self.proxy.active_sessions(),
                    "sessions did not end in time"
                );
            }
        }
        if let Some(recorder) = self.proxy.recorder() {
            recorder.close().await;
        }
        info!("drained");
        Ok(())
    }
}

async fn serve_conn(
    tcp: TcpStream,
    remote: SocketAddr,
    limits: ListenerLimits,
    tls: Option<TlsAcceptor>,
    proxy: Arc<Proxy>,
    stop: watch::Receiver<bool>,
) {
    let service = ProxyService::new(proxy, remote, limits);
    match tls {
        None => serve_http(TokioIo::new(tcp), service, limits, stop).await,
        Some(acceptor) => {
            let stream =
                match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => return debug!(error = %e, "tls handshake failed"),
                    Err(_) => return debug!("tls handshake timed out"),
                };
            let service = match stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
            {
                Some(leaf) => service.with_client_certificate(leaf),
                None => service,
            };
            serve_http(TokioIo::new(stream), service, limits, stop).await
        }
    }
}

async fn serve_http<I>(
    io: I,
    service: ProxyService,
    limits: ListenerLimits,
    mut stop: watch::Receiver<bool>,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let activity = service.activity().clone();
    let builder = limits::builder(&limits);
    let handler = hyper::service::service_fn(move |req| service.handle(service::boxed(req)));
    let conn = builder.serve_connection_with_upgrades(io, handler);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        res = conn.as_mut() => {
            if let Err(e) = res {
                debug!(error = %e, "connection ended with an error");
            }
            return;
        }
        _ = activity.idle_for(limits.idle_timeout) => return debug!("idle connection closed"),
        _ = stop.wait_for(|s| *s) => conn.as_mut().graceful_shutdown(),
    }
    if let Err(e) = conn.await {
        debug!(error = %e, "connection ended with an error while draining");
    }
}
