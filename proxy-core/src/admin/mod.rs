//! The admin listener: `/healthz`, `/readyz` and `/metrics`, on its own address
//! (`admin: {listen: 127.0.0.1:9090}`, `kubewitness serve --admin-listen`), plain HTTP.
//!
//! - `/healthz`: 200 `ok` while the process serves at all (a liveness probe);
//! - `/readyz`: 200 when this instance should get traffic, else 503 with a short plain
//!   reason (`ready.rs`: not draining, policy loaded, recording store writable, upstream
//!   answering);
//! - `/metrics`: every `kubewitness_*` metric in the Prometheus text format
//!   (`metrics.rs`; the list and what each means is in `docs/OPERATIONS.md`).
//!
//! It carries no credentials and serves nothing of a session: bind it where only the
//! kubelet and Prometheus reach it. It keeps answering while the main listener drains, so
//! `/readyz` reports the drain, and stops when [`AdminServer::serve`]'s signal resolves.
//!
//! An embedder that has its own HTTP server can skip this listener and serve
//! [`Metrics::encode`] (from [`crate::Proxy::metrics`]) itself.

mod ready;

pub use crate::metrics::{CONTENT_TYPE, Metrics, PREFIX, metrics};
pub use ready::{STORE_PROBE_INTERVAL, STORE_TIMEOUT, UPSTREAM_TIMEOUT};

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tracing::{debug, warn};

use crate::error::Error;
use crate::server::Proxy;
use ready::Readiness;

/// How long a request head on the admin listener may take.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The most admin connections served at once.
const MAX_CONNECTIONS: usize = 64;

/// A bound admin listener.
#[derive(Debug)]
pub struct AdminServer {
    listener: TcpListener,
    ready: Arc<Readiness>,
}

impl AdminServer {
    /// Binds `addr` for `proxy`. An address that cannot be bound is an [`Error::is_io`].
    pub async fn bind(addr: SocketAddr, proxy: Arc<Proxy>) -> Result<AdminServer, Error> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| Error::io(format!("binding the admin listener {addr}"), e))?;
        Ok(AdminServer {
            listener,
            ready: Arc::new(Readiness::new(proxy)),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
        loop {
            let (tcp, _) = tokio::select! {
                _ = &mut shutdown => return,
                accepted = self.listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        warn!(error = %e, "admin accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                debug!("admin connection limit reached; closed");
                continue;
            };
            let ready = self.ready.clone();
            tokio::spawn(async move {
                let _slot = slot;
                let service = hyper::service::service_fn(move |req| {
                    let ready = ready.clone();
                    async move { Ok::<_, std::convert::Infallible>(answer(&req, &ready).await) }
                });
                let mut builder = hyper::server::conn::http1::Builder::new();
                builder
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT);
                if let Err(e) = builder.serve_connection(TokioIo::new(tcp), service).await {
                    debug!(error = %e, "admin connection ended with an error");
                }
            });
        }
    }
}

/// Answers one admin request.
async fn answer<B>(req: &Request<B>, ready: &Readiness) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "GET only\n".into());
    }
    match req.uri().path() {
        "/healthz" | "/livez" => text(StatusCode::OK, "ok\n".into()),
        "/readyz" => match ready.check().await {
            Ok(summary) => text(StatusCode::OK, format!("{summary}\n")),
            Err(reason) => text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: {reason}\n"),
            ),
        },
        "/metrics" => {
            let mut res = Response::new(Full::new(Bytes::from(metrics().encode())));
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static(CONTENT_TYPE),
            );
            res
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n".into()),
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::from(body)));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}
