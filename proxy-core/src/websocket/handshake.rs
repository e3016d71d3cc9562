//! The RFC 6455 opening handshake for the channel protocols, on plain [`HeaderMap`]s.
//!
//! Server side ([`accept`]): checks the upgrade headers, version 13 and the key, negotiates
//! the sub-protocol and builds the 101 response headers. Sub-protocol offers may come as
//! several header lines and/or comma-separated; the *client's* order wins, like
//! apimachinery `wsstream/conn.go` `handshake`. With no offer the result is
//! [`WsProtocol::Unnamed`] if supported.
//!
//! A bearer token may ride in the offer as `base64url.bearer.authorization.k8s.io.<token>`
//! (apiserver `pkg/authentication/request/websocket/protocol.go`): it must come with at
//! least one other sub-protocol and at most once. [`accept`] extracts it into
//! [`ServerHandshake::bearer_token`] and never echoes or negotiates it.
//!
//! Client side: [`add_request_headers`] writes the upgrade request headers (one
//! comma-separated `Sec-WebSocket-Protocol`, like kube-rs), [`verify_response`] checks the
//! 101 (status, `Sec-WebSocket-Accept`, a chosen sub-protocol that was offered, no
//! extensions).
//!
//! HTTP status mapping of server-side errors ([`HandshakeError::status_code`]): malformed
//! upgrade requests are 400, an unusable bearer sub-protocol is 401 (as the API server's
//! authenticator), no common sub-protocol is 403 (x/net/websocket answers a failed protocol
//! handshake with 403). Any non-101 makes kubectl fall back to SPDY.
//! The request method (GET) is the caller's to check.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::header::{
    CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_EXTENSIONS, SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::{HeaderMap, HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use super::WsProtocol;

/// The sub-protocol prefix that carries a base64url (unpadded) bearer token.
pub const BEARER_PROTOCOL_PREFIX: &str = "base64url.bearer.authorization.k8s.io.";

/// The largest bearer token accepted from a sub-protocol, in decoded bytes.
pub const MAX_BEARER_TOKEN_LEN: usize = 16 * 1024;

/// The only WebSocket version there is.
const WS_VERSION: &str = "13";

/// Whether the request asks for a WebSocket upgrade: `Upgrade` has the token `websocket` and
/// `Connection` the token `upgrade` (both case-insensitive, lists allowed).
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    has_token(headers, &UPGRADE, "websocket") && has_token(headers, &CONNECTION, "upgrade")
}

/// A successful server-side handshake.
pub struct ServerHandshake {
    /// The negotiated sub-protocol.
    pub protocol: WsProtocol,
    /// The token from a `base64url.bearer.authorization.k8s.io.` sub-protocol, if offered.
    pub bearer_token: Option<String>,
    /// Headers for the `101 Switching Protocols` response.
    pub response_headers: HeaderMap,
}

impl fmt::Debug for ServerHandshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerHandshake")
            .field("protocol", &self.protocol)
            .field(
                "bearer_token",
                &self.bearer_token.as_ref().map(|_| "<redacted>"),
            )
            .field("response_headers", &self.response_headers)
            .finish()
    }
}

/// Checks a WebSocket upgrade request and negotiates one of `supported`.
pub fn accept(
    headers: &HeaderMap,
    supported: &[WsProtocol],
) -> Result<ServerHandshake, HandshakeError> {
    let offer = check_offer(headers)?;
    let protocol = if offer.protocols.is_empty() {
        supported
            .iter()
            .copied()
            .find(|p| *p == WsProtocol::Unnamed)
    } else {
        offer.protocols.iter().find_map(|name| {
            supported
                .iter()
                .copied()
                .find(|p| *p != WsProtocol::Unnamed && p.name() == *name)
        })
    }
    .ok_or(HandshakeError::new(Kind::NoCommonProtocol))?;
    let named = (protocol != WsProtocol::Unnamed).then(|| protocol.name());
    Ok(ServerHandshake {
        protocol,
        response_headers: response_headers(&offer.key, named),
        bearer_token: offer.bearer_token,
    })
}

/// Accepts an upgrade whose offer includes exactly `protocol` (one that is not a channel
/// protocol, such as port-forward's SPDY tunnel); returns the 101's headers. The bearer
/// sub-protocol is checked as in [`accept`] and never echoed.
pub fn accept_protocol(
    headers: &HeaderMap,
    protocol: &'static str,
) -> Result<HeaderMap, HandshakeError> {
    let offer = check_offer(headers)?;
    if !offer.protocols.iter().any(|p| p == protocol) {
        return Err(HandshakeError::new(Kind::NoCommonProtocol));
    }
    Ok(response_headers(&offer.key, Some(protocol)))
}

/// A checked upgrade request: its key, the offered sub-protocols other than the bearer one,
/// and the bearer token.
struct Offer {
    key: String,
    protocols: Vec<String>,
    bearer_token: Option<String>,
}

fn check_offer(headers: &HeaderMap) -> Result<Offer, HandshakeError> {
    if !is_upgrade(headers) {
        return Err(HandshakeError::new(Kind::NotUpgrade));
    }
    let version = single_value(headers, &SEC_WEBSOCKET_VERSION);
    if version.map(str::trim) != Some(WS_VERSION) {
        return Err(HandshakeError::new(Kind::Version));
    }
    let key = single_value(headers, &SEC_WEBSOCKET_KEY)
        .map(str::trim)
        .filter(|k| STANDARD.decode(k).is_ok_and(|raw| raw.len() == 16))
        .ok_or(HandshakeError::new(Kind::Key))?;

    let offers = offered_protocols(headers)?;
    let mut bearer_token = None;
    let mut protocols = Vec::with_capacity(offers.len());
    for offer in offers {
        match offer.strip_prefix(BEARER_PROTOCOL_PREFIX) {
            Some(_) if bearer_token.is_some() => return Err(HandshakeError::new(Kind::Bearer)),
            Some(encoded) => bearer_token = Some(decode_bearer(encoded)?),
            None => protocols.push(offer),
        }
    }
    if bearer_token.is_some() && protocols.is_empty() {
        return Err(HandshakeError::new(Kind::Bearer));
    }
    Ok(Offer {
        key: key.to_owned(),
        protocols,
        bearer_token,
    })
}

/// The 101's headers: upgrade, the accept key for `key`, and the chosen sub-protocol.
fn response_headers(key: &str, protocol: Option<&'static str>) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(
        SEC_WEBSOCKET_ACCEPT,
        header_value(&derive_accept_key(key.as_bytes())),
    );
    if let Some(p) = protocol {
        h.insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(p));
    }
    h
}

/// Writes the upgrade request headers offering `offer` (in order; [`WsProtocol::Unnamed`]
/// adds no token) and returns the `Sec-WebSocket-Key` to pass to [`verify_response`].
/// Replaces any `Sec-WebSocket-Protocol` already present (which could hold a client's bearer
/// token) and removes `Sec-WebSocket-Extensions`: no extension is supported.
pub fn add_request_headers(headers: &mut HeaderMap, offer: &[WsProtocol]) -> String {
    let key = STANDARD.encode(rand::random::<[u8; 16]>());
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static(WS_VERSION));
    headers.insert(SEC_WEBSOCKET_KEY, header_value(&key));
    headers.remove(SEC_WEBSOCKET_EXTENSIONS);
    let names: Vec<&str> = offer
        .iter()
        .filter(|p| **p != WsProtocol::Unnamed)
        .map(|p| p.name())
        .collect();
    if names.is_empty() {
        headers.remove(SEC_WEBSOCKET_PROTOCOL);
    } else {
        headers.insert(SEC_WEBSOCKET_PROTOCOL, header_value(&names.join(", ")));
    }
    key
}

/// Checks the server's answer to a request made with [`add_request_headers`]: status 101,
/// the upgrade headers, `Sec-WebSocket-Accept` for `key`, no extensions, and a sub-protocol
/// that was in `offered` (none chosen means [`WsProtocol::Unnamed`], which must have been
/// offered too).
pub fn verify_response(
    status: StatusCode,
    headers: &HeaderMap,
    key: &str,
    offered: &[WsProtocol],
) -> Result<WsProtocol, HandshakeError> {
    if status != StatusCode::SWITCHING_PROTOCOLS {
        return Err(HandshakeError::new(Kind::Refused { status }));
    }
    if !is_upgrade(headers) {
        return Err(HandshakeError::new(Kind::BadResponse {
            what: "missing Upgrade/Connection headers",
        }));
    }
    let expected = derive_accept_key(key.as_bytes());
    if single_value(headers, &SEC_WEBSOCKET_ACCEPT).map(str::trim) != Some(expected.as_str()) {
        return Err(HandshakeError::new(Kind::BadResponse {
            what: "wrong Sec-WebSocket-Accept",
        }));
    }
    if headers.contains_key(SEC_WEBSOCKET_EXTENSIONS) {
        return Err(HandshakeError::new(Kind::BadResponse {
            what: "unrequested extension",
        }));
    }
    let chosen = match headers.get_all(SEC_WEBSOCKET_PROTOCOL).iter().count() {
        0 => Some(WsProtocol::Unnamed),
        1 => single_value(headers, &SEC_WEBSOCKET_PROTOCOL)
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .and_then(WsProtocol::from_name),
        _ => None,
    };
    chosen
        .filter(|p| offered.contains(p))
        .ok_or(HandshakeError::new(Kind::BadResponse {
            what: "sub-protocol not offered",
        }))
}

fn decode_bearer(encoded: &str) -> Result<String, HandshakeError> {
    let bad = || HandshakeError::new(Kind::Bearer);
    // Bound before decoding: base64 is 4 characters per 3 bytes.
    if encoded.is_empty() || encoded.len() > MAX_BEARER_TOKEN_LEN.div_ceil(3) * 4 {
        return Err(bad());
    }
    let raw = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| bad())?;
    let token = String::from_utf8(raw).map_err(|_| bad())?;
    // The token goes into an `Authorization` header: refuse anything that cannot.
    if token.is_empty() || token.len() > MAX_BEARER_TOKEN_LEN || token.chars().any(char::is_control)
    {
        return Err(bad());
    }
    Ok(token)
}

/// Every sub-protocol token offered, in order, over all header lines.
fn offered_protocols(headers: &HeaderMap) -> Result<Vec<String>, HandshakeError> {
    let mut out = Vec::new();
    for value in headers.get_all(SEC_WEBSOCKET_PROTOCOL) {
        let text = value
            .to_str()
            .map_err(|_| HandshakeError::new(Kind::BadProtocolHeader))?;
        out.extend(
            text.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned),
        );
    }
    Ok(out)
}

fn has_token(headers: &HeaderMap, name: &http::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// The value of a header that must appear exactly once, as text.
fn single_value<'h>(headers: &'h HeaderMap, name: &http::HeaderName) -> Option<&'h str> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    if values.next().is_some() {
        return None;
    }
    first.to_str().ok()
}

fn header_value(text: &str) -> HeaderValue {
    // Only called with base64 text and sub-protocol names: always visible ASCII.
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Why a WebSocket handshake failed.
#[derive(Debug, thiserror::Error)]
#[error("{kind}")]
pub struct HandshakeError {
    kind: Kind,
}

#[derive(Debug, thiserror::Error)]
enum Kind {
    #[error("not a WebSocket upgrade request")]
    NotUpgrade,
    #[error("unsupported Sec-WebSocket-Version (need 13)")]
    Version,
    #[error("missing or malformed Sec-WebSocket-Key")]
    Key,
    #[error("Sec-WebSocket-Protocol is not visible ASCII")]
    BadProtocolHeader,
    #[error("invalid bearer token sub-protocol")]
    Bearer,
    #[error("no offered sub-protocol is supported")]
    NoCommonProtocol,
    #[error("upgrade refused with HTTP {status}")]
    Refused { status: StatusCode },
    #[error("bad upgrade response: {what}")]
    BadResponse { what: &'static str },
}

impl HandshakeError {
    fn new(kind: Kind) -> HandshakeError {
        HandshakeError { kind }
    }

    /// The HTTP status a server answers the failed upgrade with: 400 for malformed requests,
    /// 401 for a bad bearer sub-protocol, 403 for no common sub-protocol, and 502 for a bad
    /// response from an upstream server.
    pub fn status_code(&self) -> StatusCode {
        match self.kind {
            Kind::NotUpgrade | Kind::Version | Kind::Key | Kind::BadProtocolHeader => {
                StatusCode::BAD_REQUEST
            }
            Kind::Bearer => StatusCode::UNAUTHORIZED,
            Kind::NoCommonProtocol => StatusCode::FORBIDDEN,
            Kind::Refused { .. } | Kind::BadResponse { .. } => StatusCode::BAD_GATEWAY,
        }
    }

    /// Whether the request was not a WebSocket upgrade at all.
    pub fn is_not_upgrade(&self) -> bool {
        matches!(self.kind, Kind::NotUpgrade)
    }

    /// Whether the request was malformed (version, key or sub-protocol header; 400).
    pub fn is_bad_request(&self) -> bool {
        self.status_code() == StatusCode::BAD_REQUEST
    }

    /// Whether the bearer-token sub-protocol was unusable (401).
    pub fn is_bad_bearer(&self) -> bool {
        matches!(self.kind, Kind::Bearer)
    }

    /// Whether no offered sub-protocol is supported (403).
    pub fn is_no_common_protocol(&self) -> bool {
        matches!(self.kind, Kind::NoCommonProtocol)
    }

    /// The upstream's status when it answered the upgrade with something other than 101.
    pub fn refused_status(&self) -> Option<StatusCode> {
        match self.kind {
            Kind::Refused { status } => Some(status),
            _ => None,
        }
    }

    /// Whether the upstream's 101 response was invalid.
    pub fn is_bad_response(&self) -> bool {
        matches!(self.kind, Kind::BadResponse { .. })
    }
}

#[cfg(test)]
#[path = "handshake_tests.rs"]
mod tests;
