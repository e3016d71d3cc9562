//! `pods/portforward`: terminated from kubectl, re-originated upstream, one session per
//! forwarded TCP connection.
//!
//! Port-forward is SPDY/3.1 with `X-Stream-Protocol-Version: portforward.k8s.io`
//! (PROTOCOLS.md §3). Unlike exec, one connection carries many sessions: kubectl opens an
//! `error` and a `data` stream per local TCP connection. The drivers reuse the SPDY
//! connection machinery ([`crate::spdy`]'s `Conn`, frames, header blocks) and expose each
//! pair of streams as its own [`crate::peer::Peer`], so each forwarded connection runs
//! through the ordinary session pipeline (recording included) on its own:
//!
//! * [`pairs`]: stream headers and pair assembly (pure, unit tested);
//! * [`serve`] (server role, toward kubectl): pairs announced as [`Forwarded`] peers;
//! * [`connect`] (client role, toward the API server): [`Tunnel::open`] opens a pair;
//! * `mux`: the queues between one connection and its many pairs;
//! * [`tunnel`]: kubectl's WebSocket tunnel (`SPDY/3.1+portforward.k8s.io`, its default
//!   since 1.31) as a byte stream, so the same SPDY driver serves it;
//! * [`accept`]: the client-facing upgrade, either transport.

mod client;
mod mux;
pub mod pairs;
mod server;
mod streams;
pub mod tunnel;

use http::header::{CONNECTION, HeaderValue, UPGRADE};
use http::{HeaderMap, StatusCode};
use tokio::io::{AsyncRead, AsyncWrite};

pub use crate::spdy::MAX_INVALID_STREAM_RESETS;
pub use client::{Tunnel, connect};
pub use pairs::{MAX_PAIRS, PAIR_TIMEOUT};
pub use server::{Connection, Forwarded, serve};
pub use tunnel::WsTunnel;

/// The `X-Stream-Protocol-Version` of port-forward.
pub const PROTOCOL: &str = "portforward.k8s.io";
/// The WebSocket sub-protocol of kubectl's tunnel (SPDY inside WebSocket messages).
pub const TUNNEL_PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";

/// The client-facing transport of a port-forward connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// SPDY/3.1 on the upgraded connection (`KUBECTL_PORT_FORWARD_WEBSOCKETS=false`).
    Spdy,
    /// SPDY/3.1 inside WebSocket binary messages ([`TUNNEL_PROTOCOL`], kubectl's default).
    WebSocketTunnel,
}

impl Transport {
    /// `spdy` or `websocket`.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Spdy => "spdy",
            Transport::WebSocketTunnel => "websocket",
        }
    }

    /// Serves the port-forward connection on the upgraded `io`.
    pub async fn serve<T>(self, io: T) -> Connection
    where
        T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        match self {
            Transport::Spdy => serve(io),
            Transport::WebSocketTunnel => serve(WsTunnel::server(io).await),
        }
    }
}

/// An accepted port-forward upgrade.
#[derive(Debug)]
pub struct Accepted {
    /// What was negotiated.
    pub transport: Transport,
    /// Headers for the 101 response.
    pub headers: HeaderMap,
}

/// A refused port-forward upgrade: answer with this status and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    /// The HTTP status (never 101).
    pub status: StatusCode,
    /// The `Status` reason.
    pub reason: &'static str,
    /// Shown to the client.
    pub message: String,
}

impl Refused {
    fn new(status: StatusCode, message: impl Into<String>) -> Refused {
        let reason = match status {
            StatusCode::FORBIDDEN => "Forbidden",
            StatusCode::UNAUTHORIZED => "Unauthorized",
            _ => "BadRequest",
        };
        Refused {
            status,
            reason,
            message: message.into(),
        }
    }
}

/// Checks the client's port-forward upgrade: the WebSocket tunnel must offer
/// [`TUNNEL_PROTOCOL`]; a SPDY upgrade must offer [`PROTOCOL`] (missing → 400, other
/// protocols → 403). A refusal is never a 101, so kubectl falls back from the tunnel to SPDY.
pub fn accept(headers: &HeaderMap) -> Result<Accepted, Refused> {
    if crate::websocket::handshake::is_upgrade(headers) {
        return match crate::websocket::handshake::accept_protocol(headers, TUNNEL_PROTOCOL) {
            Ok(h) => Ok(Accepted {
                transport: Transport::WebSocketTunnel,
                headers: h,
            }),
            Err(e) => Err(Refused::new(
                e.status_code(),
                format!("websocket upgrade: {e}"),
            )),
        };
    }
    if !crate::spdy::handshake::is_upgrade(headers) {
        return Err(Refused::new(
            StatusCode::BAD_REQUEST,
            "Upgrade request required",
        ));
    }
    let offered = crate::spdy::handshake::offered(headers);
    if offered.is_empty() {
        return Err(Refused::new(
            StatusCode::BAD_REQUEST,
            "missing X-Stream-Protocol-Version",
        ));
    }
    if !offered.iter().any(|p| p == PROTOCOL) {
        return Err(Refused::new(
            StatusCode::FORBIDDEN,
            format!("port-forward needs X-Stream-Protocol-Version: {PROTOCOL}"),
        ));
    }
    Ok(Accepted {
        transport: Transport::Spdy,
        headers: response_headers(),
    })
}

/// The headers of the 101 (and of the upstream request's offer).
pub fn response_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(
        UPGRADE,
        HeaderValue::from_static(crate::spdy::handshake::SPDY_31),
    );
    h.insert(
        crate::spdy::handshake::STREAM_PROTOCOL_VERSION,
        HeaderValue::from_static(PROTOCOL),
    );
    h
}

#[cfg(test)]
mod tests;
