//! The proxy as a hyper and tower `Service`, for embedders who serve connections themselves.
//!
//! [`Server`](super::Server) is kubewitness's own listener (TLS, connection limits, idle
//! timeouts, drain). An embedder with a server of their own (their TLS, their router) mounts
//! a [`ProxyService`] instead: one per connection, made with the client's address and, when
//! their TLS verified one, the client certificate. Serve it with upgrades on (exec, attach
//! and port-forward are HTTP upgrades), e.g. hyper-util's
//! `auto::Builder::serve_connection_with_upgrades(io, service)`, or mount it in a router
//! that strips its prefix: kubectl's `server:` URL then carries the prefix and the proxy
//! sees the API paths.
//!
//! The listener limits (request body size and read time) are [`ListenerLimits::default`]
//! unless [`ProxyService::with_limits`] says otherwise; connection counts and idle timeouts
//! are the embedder's server's business.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;

use super::limits::{Activity, ListenerLimits};
use super::respond::{BodyError, BoxError, ResponseBody};
use super::{Conn, Proxy, route};
use crate::auth::identity_from_cert;

/// The proxy serving one client connection, for a server of the embedder's own; made by
/// [`Proxy::service`].
///
/// Serve it with upgrades on (exec, attach and port-forward are HTTP upgrades), e.g.
/// hyper-util's `auto::Builder::serve_connection_with_upgrades(io, service)`, or mount it
/// in a router that strips its prefix: kubectl's `server:` URL then carries the prefix and
/// the proxy sees the API paths. It is a `hyper::service::Service` and a
/// `tower_service::Service` over any request body of `Bytes`.
#[derive(Clone, Debug)]
pub struct ProxyService {
    proxy: Arc<Proxy>,
    conn: Conn,
    activity: Arc<Activity>,
}

/// The future of one request: the response (never an error; failures are `Status` answers).
pub type ResponseFuture =
    Pin<Box<dyn Future<Output = Result<Response<ResponseBody>, Infallible>> + Send>>;

impl Proxy {
    /// The proxy as a service for one connection from `remote`.
    pub fn service(self: &Arc<Self>, remote: SocketAddr) -> ProxyService {
        ProxyService::new(self.clone(), remote, ListenerLimits::default())
    }
}

impl ProxyService {
    pub(super) fn new(
        proxy: Arc<Proxy>,
        remote: SocketAddr,
        limits: ListenerLimits,
    ) -> ProxyService {
        ProxyService {
            proxy,
            conn: Conn {
                remote,
                cert: None,
                limits,
            },
            activity: Arc::default(),
        }
    }

    /// The connection's client certificate (DER), verified by the embedder's TLS: its
    /// subject becomes the caller's identity, as with `tls.clientCA`. Only pass a
    /// certificate your TLS verified against a CA you trust for identities.
    pub fn with_client_certificate(mut self, der: &[u8]) -> ProxyService {
        self.conn.cert = identity_from_cert(der);
        self
    }

    /// Request body limits other than the defaults.
    pub fn with_limits(mut self, limits: ListenerLimits) -> ProxyService {
        self.conn.limits = limits;
        self
    }

    /// Requests in flight on this connection (for idle tracking).
    pub(super) fn activity(&self) -> &Arc<Activity> {
        &self.activity
    }

    /// Handles one request as [`Server`](super::Server) does, in place (no task of its own).
    pub(super) fn handle(
        &self,
        req: Request<super::RequestBody>,
    ) -> impl Future<Output = Result<Response<ResponseBody>, Infallible>> + Send + use<> {
        route::handle(
            req,
            self.proxy.clone(),
            self.conn.clone(),
            self.activity.start(),
        )
    }

    fn call_boxed(&self, req: Request<super::RequestBody>) -> ResponseFuture {
        Box::pin(self.handle(req))
    }
}

/// A request body [`ProxyService`] takes: chunks of `Bytes`, an error that boxes.
pub trait IntoRequestBody:
    http_body::Body<Data = Bytes, Error: Into<BoxError>> + Send + Sync + 'static
{
}

impl<B> IntoRequestBody for B where
    B: http_body::Body<Data = Bytes, Error: Into<BoxError>> + Send + Sync + 'static
{
}

/// Boxes any request body whose chunks are `Bytes`.
pub(super) fn boxed<B: IntoRequestBody>(req: Request<B>) -> Request<super::RequestBody> {
    req.map(|b| b.map_err(|e| BodyError(e.into())).boxed())
}

impl<B: IntoRequestBody> hyper::service::Service<Request<B>> for ProxyService {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn call(&self, req: Request<B>) -> ResponseFuture {
        self.call_boxed(boxed(req))
    }
}

impl<B: IntoRequestBody> tower_service::Service<Request<B>> for ProxyService {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> ResponseFuture {
        self.call_boxed(boxed(req))
    }
}
