//! The body types every handler shares: what a request brings and what a response sends,
//! for the kubectl routes, the MCP endpoint and the Prometheus gateway alike.

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;

/// A boxed error for response bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every request the proxy handles: hyper's own body when kubewitness serves the
/// connection, the embedder's when it is mounted as a [`ProxyService`](crate::ProxyService).
pub type RequestBody = http_body_util::combinators::BoxBody<Bytes, BodyError>;

/// Why a request body could not be read (the client's connection failed, or the embedder's
/// body type reported an error).
#[derive(Debug)]
pub struct BodyError(pub(crate) BoxError);

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for BodyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// The body of every response kubewitness sends.
pub type ResponseBody = UnsyncBoxBody<Bytes, BoxError>;
