//! Re-originating exec and attach streams upstream.
//!
//! kubewitness opens its own stream to the API server, as the caller (impersonated), with
//! the query rebuilt from what policy decided on. It offers WebSocket `v5.channel.k8s.io`
//! (and v4) first, as kubectl does, and falls back to SPDY/3.1 when the upgrade is refused,
//! so a WebSocket client works against an SPDY-only cluster and the reverse. If both are
//! refused, the SPDY attempt's answer (a `Status`, usually) goes back to the client as is.
//!
//! The fallback happens only after a refusal (an answer other than 101): once upstream has
//! switched protocols, the command may already be running, so a failure after the 101 (a
//! bad handshake answer) ends the attempt instead of starting the command a second time.

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use tracing::debug;

use super::{Origin, Upstream, impersonate};
use crate::auth::Identity;
use crate::channel::Protocol;
use crate::peer::Peer;
use crate::request::StreamRequest;
use crate::websocket::WsProtocol;
use crate::{spdy, websocket};

/// The WebSocket sub-protocols offered upstream, preferred first.
const WS_OFFER: &[WsProtocol] = &[WsProtocol::V5, WsProtocol::V4];
/// The SPDY protocol versions offered upstream, preferred first (kubelets answer v4).
const SPDY_OFFER: &[Protocol] = &[
    Protocol::V5,
    Protocol::V4,
    Protocol::V3,
    Protocol::V2,
    Protocol::V1,
];
/// The most of a refusal's body passed back to the client.
pub(crate) const MAX_REFUSAL_BODY: usize = 64 * 1024;

/// An upstream stream that is up.
#[derive(Debug)]
pub struct Opened {
    /// The running driver.
    pub peer: Peer,
    /// `websocket` or `spdy`.
    pub transport: &'static str,
    /// The negotiated remotecommand version.
    pub protocol: Protocol,
}

/// Why an upstream stream could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// Upstream answered with an HTTP error (not found, forbidden…): pass it on.
    Refused {
        /// The HTTP status.
        status: StatusCode,
        /// `Content-Type` of the body, if any.
        content_type: Option<http::HeaderValue>,
        /// The body, at most 64 KiB.
        body: Bytes,
    },
    /// Upstream could not be reached: no answer at all.
    Unreachable(String),
    /// Upstream broke the protocol after answering.
    Failed(String),
}

impl Upstream {
    /// Opens `req` upstream as `identity`.
    pub async fn open_stream(
        &self,
        req: &StreamRequest,
        identity: &Identity,
        origin: &Origin,
    ) -> Result<Opened, OpenError> {
        match self.open_websocket(req, identity, origin).await {
            Err(err @ OpenError::Refused { .. }) => {
                debug!(error = ?kind(&err), "upstream websocket refused; trying spdy");
                self.open_spdy(req, identity, origin).await
            }
            other => other,
        }
    }

    async fn open_websocket(
        &self,
        req: &StreamRequest,
        identity: &Identity,
        origin: &Origin,
    ) -> Result<Opened, OpenError> {
        let mut headers = HeaderMap::new();
        let key = websocket::handshake::add_request_headers(&mut headers, WS_OFFER);
        let res = self
            .upgrade(Method::GET, stream_uri(req), identity, origin, headers)
            .await?;
        let protocol =
            websocket::handshake::verify_response(res.status(), res.headers(), &key, WS_OFFER)
                .map_err(|e| OpenError::Failed(format!("websocket handshake: {e}")))?;
        let io = hyper::upgrade::on(res)
            .await
            .map_err(|e| OpenError::Failed(format!("websocket upgrade: {e}")))?;
        Ok(Opened {
            peer: websocket::connect(TokioIo::new(io), protocol, req.options),
            transport: "websocket",
            protocol: protocol.version(),
        })
    }

    async fn open_spdy(
        &self,
        req: &StreamRequest,
        identity: &Identity,
        origin: &Origin,
    ) -> Result<Opened, OpenError> {
        let mut headers = HeaderMap::new();
        spdy::handshake::add_request_headers(&mut headers, SPDY_OFFER);
        let res = self
            .upgrade(Method::POST, stream_uri(req), identity, origin, headers)
            .await?;
        let protocol = spdy::handshake::verify_response(res.status(), res.headers())
            .map_err(|e| OpenError::Failed(format!("spdy handshake: {e}")))?
            .unwrap_or(Protocol::V1);
        let io = hyper::upgrade::on(res)
            .await
            .map_err(|e| OpenError::Failed(format!("spdy upgrade: {e}")))?;
        let peer = spdy::connect(TokioIo::new(io), req.options, protocol)
            .await
            .map_err(|e| OpenError::Failed(format!("spdy streams: {e}")))?;
        Ok(Opened {
            peer,
            transport: "spdy",
            protocol,
        })
    }

    /// Opens `pods/portforward` of `namespace/pod` upstream as `identity`, over SPDY
    /// (`portforward.k8s.io`); pairs are then opened on the returned tunnel.
    pub async fn open_portforward(
        &self,
        namespace: &str,
        pod: &str,
        identity: &Identity,
        origin: &Origin,
    ) -> Result<crate::portforward::Tunnel, OpenError> {
        let uri = format!("/api/v1/namespaces/{namespace}/pods/{pod}/portforward");
        let headers = crate::portforward::response_headers();
        let res = self
            .upgrade(Method::POST, uri, identity, origin, headers)
            .await?;
        let chosen = res
            .headers()
            .get(spdy::handshake::STREAM_PROTOCOL_VERSION)
            .map(|v| v.as_bytes().trim_ascii());
        if !spdy::handshake::is_upgrade(res.headers())
            || chosen.is_some_and(|p| p != crate::portforward::PROTOCOL.as_bytes())
        {
            return Err(OpenError::Failed(
                "spdy handshake: not a portforward.k8s.io upgrade".into(),
            ));
        }
        let io = hyper::upgrade::on(res)
            .await
            .map_err(|e| OpenError::Failed(format!("spdy upgrade: {e}")))?;
        Ok(crate::portforward::connect(TokioIo::new(io)))
    }

    /// Sends an upgrade request; a non-101 answer becomes [`OpenError::Refused`].
    async fn upgrade(
        &self,
        method: Method,
        uri: String,
        identity: &Identity,
        origin: &Origin,
        upgrade_headers: HeaderMap,
    ) -> Result<http::Response<kube_client::client::Body>, OpenError> {
        let mut builder = Request::builder().method(method).uri(uri);
        if let Some(headers) = builder.headers_mut() {
            headers.extend(upgrade_headers);
            impersonate(headers, identity).map_err(|e| OpenError::Failed(e.to_string()))?;
            origin.apply(headers);
        }
        let request = builder
            .body(kube_client::client::Body::empty())
            .map_err(|e| OpenError::Failed(e.to_string()))?;
        let _timer = crate::metrics::metrics().upstream_timer("stream");
        let res = self
            .client
            .send(request)
            .await
            .map_err(|e| OpenError::Unreachable(e.to_string()))?;
        if res.status() == StatusCode::SWITCHING_PROTOCOLS {
            return Ok(res);
        }
        let status = res.status();
        let content_type = res.headers().get(http::header::CONTENT_TYPE).cloned();
        let body = read_bounded(res.into_body(), MAX_REFUSAL_BODY).await;
        Err(OpenError::Refused {
            status,
            content_type,
            body,
        })
    }
}

/// The exec/attach URI, query rebuilt from what was decided.
fn stream_uri(req: &StreamRequest) -> String {
    format!("{}?{}", req.upstream_path(), req.upstream_query())
}

fn kind(err: &OpenError) -> String {
    match err {
        OpenError::Refused { status, .. } => format!("refused {status}"),
        OpenError::Failed(why) | OpenError::Unreachable(why) => why.clone(),
    }
}

/// Reads at most `limit` bytes of a body; the rest is dropped.
async fn read_bounded(mut body: kube_client::client::Body, limit: usize) -> Bytes {
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { break };
        if let Ok(data) = frame.into_data() {
            let room = limit.saturating_sub(out.len());
            out.extend_from_slice(&data[..data.len().min(room)]);
            if out.len() >= limit {
                break;
            }
        }
    }
    Bytes::from(out)
}

#[cfg(test)]
mod tests;
