//! The client-facing end of an exec/attach upgrade: which transport, which protocol version,
//! and the 101 response headers. Shared by kubewitness and the simulated API server.
//!
//! WebSocket is recognised first (kubectl ≥ 1.30 tries it first), then SPDY/3.1. Over SPDY
//! the server picks `v4.channel.k8s.io` when offered, as real clusters do (PROTOCOLS.md
//! §1.6): kubectl offers v5 first but treats v5 over SPDY as v4, and kubelets never offer v5.
//! A refused upgrade is a non-101 answer, which makes kubectl fall back from WebSocket to
//! SPDY; denials therefore happen before this point, on the path, for both transports.

use http::{HeaderMap, HeaderValue, StatusCode};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::channel::{Protocol, StreamOptions};
use crate::peer::Peer;
use crate::websocket::WsProtocol;
use crate::{spdy, websocket};

/// SPDY protocol versions served to clients, preferred… in the client's order.
pub(crate) const SPDY_SERVED: &[Protocol] =
    &[Protocol::V4, Protocol::V3, Protocol::V2, Protocol::V1];

/// The negotiated client-facing transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transport {
    /// A WebSocket channel protocol.
    WebSocket(WsProtocol),
    /// SPDY/3.1 with a remotecommand version.
    Spdy(Protocol),
}

impl Transport {
    /// `websocket` or `spdy`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Transport::WebSocket(_) => "websocket",
            Transport::Spdy(_) => "spdy",
        }
    }

    /// Starts the server-role driver on the upgraded connection.
    pub(crate) fn serve<T>(self, io: T, options: StreamOptions) -> Peer
    where
        T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        match self {
            Transport::WebSocket(p) => websocket::serve(io, p, options),
            Transport::Spdy(p) => spdy::serve(io, options, p),
        }
    }
}

/// An accepted upgrade.
#[derive(Debug)]
pub(crate) struct Accepted {
    /// What was negotiated.
    pub(crate) transport: Transport,
    /// Headers for the 101 response.
    pub(crate) headers: HeaderMap,
}

/// A refused upgrade: answer with this status, message and extra headers.
#[derive(Debug)]
pub(crate) struct Refused {
    /// The HTTP status.
    pub(crate) status: StatusCode,
    /// Shown to the client in a `Status` body.
    pub(crate) message: String,
    /// Extra headers (`X-Accepted-Stream-Protocol-Versions`).
    pub(crate) headers: HeaderMap,
}

/// Negotiates the client-facing transport from the request headers; `allow_websocket` and
/// `allow_spdy` select which transports are served.
pub(crate) fn accept(
    headers: &HeaderMap,
    allow_websocket: bool,
    allow_spdy: bool,
) -> Result<Accepted, Box<Refused>> {
    let refused = |status, message: String| {
        Box::new(Refused {
            status,
            message,
            headers: HeaderMap::new(),
        })
    };
    if websocket::handshake::is_upgrade(headers) {
        if !allow_websocket {
            return Err(refused(
                StatusCode::BAD_REQUEST,
                "websocket upgrades are not served here".into(),
            ));
        }
        return match websocket::handshake::accept(headers, &WsProtocol::ALL) {
            Ok(h) => Ok(Accepted {
                transport: Transport::WebSocket(h.protocol),
                headers: h.response_headers,
            }),
            Err(e) => Err(refused(e.status_code(), format!("websocket upgrade: {e}"))),
        };
    }
    if spdy::handshake::is_upgrade(headers) {
        if !allow_spdy {
            return Err(refused(
                StatusCode::BAD_REQUEST,
                "spdy upgrades are not served here".into(),
            ));
        }
        return match spdy::handshake::negotiate(headers, SPDY_SERVED) {
            Ok(p) => Ok(Accepted {
                transport: Transport::Spdy(p),
                headers: spdy::handshake::response_headers(p),
            }),
            Err(e) if e.is_missing() => Err(refused(
                StatusCode::BAD_REQUEST,
                "missing X-Stream-Protocol-Version".into(),
            )),
            Err(_) => {
                let mut r = refused(
                    StatusCode::FORBIDDEN,
                    "no supported X-Stream-Protocol-Version offered".into(),
                );
                for p in SPDY_SERVED {
                    r.headers.append(
                        "x-accepted-stream-protocol-versions",
                        HeaderValue::from_static(p.name()),
                    );
                }
                Err(r)
            }
        };
    }
    Err(refused(
        StatusCode::BAD_REQUEST,
        "Upgrade request required".into(),
    ))
}
