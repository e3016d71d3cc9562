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
//! * [`accept`]: the client-facing upgrade.
//!
//! kubectl 1.31+ first tries the WebSocket tunnel (`SPDY/3.1+portforward.k8s.io`); that
//! upgrade is refused with a non-101 answer, which client-go's fallback dialer treats as an
//! upgrade failure, so kubectl retries over SPDY at once.

mod client;
mod mux;
pub mod pairs;
mod server;
mod streams;

use http::header::{CONNECTION, HeaderValue, UPGRADE};
use http::{HeaderMap, StatusCode};

pub use client::{Tunnel, connect};
pub use pairs::{MAX_PAIRS, PAIR_TIMEOUT};
pub use server::{Connection, Forwarded, serve};

/// The `X-Stream-Protocol-Version` of port-forward.
pub const PROTOCOL: &str = "portforward.k8s.io";
/// The WebSocket sub-protocol of kubectl's tunnel (SPDY inside WebSocket messages).
pub const TUNNEL_PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";

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

/// Checks the client's port-forward upgrade; returns the 101's headers.
///
/// A WebSocket upgrade (kubectl's tunnel) is refused with 400, which makes kubectl fall back
/// to SPDY. A SPDY upgrade must offer [`PROTOCOL`] (missing → 400, other protocols → 403).
pub fn accept(headers: &HeaderMap) -> Result<HeaderMap, Refused> {
    if crate::websocket::handshake::is_upgrade(headers) {
        return Err(Refused {
            status: StatusCode::BAD_REQUEST,
            reason: "BadRequest",
            message: "kubewitness: port-forward is served over SPDY only; retry without the WebSocket tunnel".into(),
        });
    }
    if !crate::spdy::handshake::is_upgrade(headers) {
        return Err(Refused {
            status: StatusCode::BAD_REQUEST,
            reason: "BadRequest",
            message: "Upgrade request required".into(),
        });
    }
    let offered = crate::spdy::handshake::offered(headers);
    if offered.is_empty() {
        return Err(Refused {
            status: StatusCode::BAD_REQUEST,
            reason: "BadRequest",
            message: "missing X-Stream-Protocol-Version".into(),
        });
    }
    if !offered.iter().any(|p| p == PROTOCOL) {
        return Err(Refused {
            status: StatusCode::FORBIDDEN,
            reason: "Forbidden",
            message: format!("port-forward needs X-Stream-Protocol-Version: {PROTOCOL}"),
        });
    }
    Ok(response_headers())
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
