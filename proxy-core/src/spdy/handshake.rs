//! The HTTP/1.1 upgrade around a SPDY/3.1 connection, on `http::HeaderMap`s.
//!
//! Server side (apimachinery `httpstream.Handshake`, `spdy/upgrade.go`): [`is_upgrade`]
//! checks `Connection`/`Upgrade`, [`negotiate`] picks the `X-Stream-Protocol-Version`
//! (client's order wins; missing → 400, none in common → 403 with
//! [`rejection_headers`]), and [`response_headers`] builds the 101's headers.
//! Client side (client-go `transport/spdy`, apimachinery `spdy/roundtripper.go`):
//! [`add_request_headers`] offers protocols one header line each, [`verify_response`]
//! checks the 101. Header checks use the first value only and case-insensitive substring
//! matches, exactly like Go's `Header.Get` + `strings.Contains(strings.ToLower(..))`.

use http::header::{CONNECTION, HeaderName, HeaderValue, UPGRADE};
use http::{HeaderMap, StatusCode};

use crate::channel::Protocol;

/// `X-Stream-Protocol-Version`: one offered protocol per line (request), the chosen one
/// (response).
pub const STREAM_PROTOCOL_VERSION: HeaderName =
    HeaderName::from_static("x-stream-protocol-version");
/// `X-Accepted-Stream-Protocol-Versions`: on a 403, one supported protocol per line.
pub const ACCEPTED_STREAM_PROTOCOL_VERSIONS: HeaderName =
    HeaderName::from_static("x-accepted-stream-protocol-versions");
/// The `Upgrade` token.
pub const SPDY_31: &str = "SPDY/3.1";

/// Whether the first value of `name` contains `needle` (ASCII case-insensitive).
fn first_contains(headers: &HeaderMap, name: &HeaderName, needle: &str) -> bool {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains(needle))
}

/// Whether a request asks for a SPDY/3.1 upgrade: `Connection` contains "upgrade" and
/// `Upgrade` contains "spdy/3.1", case-insensitively.
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    first_contains(headers, &CONNECTION, "upgrade") && first_contains(headers, &UPGRADE, "spdy/3.1")
}

/// Why [`negotiate`] found no protocol.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", if self.missing { "no X-Stream-Protocol-Version offered" } else { "no common stream protocol" })]
pub struct NegotiateError {
    missing: bool,
}

impl NegotiateError {
    /// The client offered nothing: answer HTTP 400.
    pub fn is_missing(&self) -> bool {
        self.missing
    }

    /// The client offered only protocols we do not support: answer HTTP 403 with
    /// [`rejection_headers`].
    pub fn is_no_common(&self) -> bool {
        !self.missing
    }

    /// The HTTP status to answer with.
    pub fn status(&self) -> StatusCode {
        if self.missing {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::FORBIDDEN
        }
    }
}

/// The protocols a request offers, in its order: every `X-Stream-Protocol-Version` line,
/// split on commas, trimmed, empty entries dropped.
pub fn offered(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(STREAM_PROTOCOL_VERSION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Picks the first protocol in the client's offer that is in `supported`.
pub fn negotiate(headers: &HeaderMap, supported: &[Protocol]) -> Result<Protocol, NegotiateError> {
    let offer = offered(headers);
    if offer.is_empty() {
        return Err(NegotiateError { missing: true });
    }
    offer
        .iter()
        .filter_map(|name| Protocol::from_name(name))
        .find(|p| supported.contains(p))
        .ok_or(NegotiateError { missing: false })
}

/// The headers of a 403 for [`NegotiateError::is_no_common`]: one
/// `X-Accepted-Stream-Protocol-Versions` line per supported protocol.
pub fn rejection_headers(supported: &[Protocol]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for p in supported {
        h.append(
            ACCEPTED_STREAM_PROTOCOL_VERSIONS,
            HeaderValue::from_static(p.name()),
        );
    }
    h
}

/// The headers of the 101: `Connection: Upgrade`, `Upgrade: SPDY/3.1` and the chosen
/// `X-Stream-Protocol-Version` (without it kubectl silently falls back to v1).
pub fn response_headers(protocol: Protocol) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(UPGRADE, HeaderValue::from_static(SPDY_31));
    h.insert(
        STREAM_PROTOCOL_VERSION,
        HeaderValue::from_static(protocol.name()),
    );
    h
}

/// Adds the upgrade request headers: `Connection: Upgrade`, `Upgrade: SPDY/3.1` and one
/// `X-Stream-Protocol-Version` line per protocol in `offer`, in order.
pub fn add_request_headers(headers: &mut HeaderMap, offer: &[Protocol]) {
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(UPGRADE, HeaderValue::from_static(SPDY_31));
    headers.remove(STREAM_PROTOCOL_VERSION);
    for p in offer {
        headers.append(STREAM_PROTOCOL_VERSION, HeaderValue::from_static(p.name()));
    }
}

/// Why an upgrade response was refused by [`verify_response`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UpgradeError {
    /// The server answered something other than 101 (read its body for a `Status`).
    #[error("upgrade refused with HTTP {0}")]
    NotSwitching(StatusCode),
    /// A 101 without `Connection: upgrade` / `Upgrade: spdy/3.1`.
    #[error("101 response does not upgrade to SPDY/3.1")]
    NotSpdy,
    /// The server chose a protocol name we do not know.
    #[error("server chose an unknown stream protocol")]
    UnknownProtocol,
}

/// Checks an upgrade response. `Ok(None)` means the server sent no
/// `X-Stream-Protocol-Version`: client-go then speaks v1 (`channel.k8s.io`).
pub fn verify_response(
    status: StatusCode,
    headers: &HeaderMap,
) -> Result<Option<Protocol>, UpgradeError> {
    if status != StatusCode::SWITCHING_PROTOCOLS {
        return Err(UpgradeError::NotSwitching(status));
    }
    if !is_upgrade(headers) {
        return Err(UpgradeError::NotSpdy);
    }
    let chosen = headers
        .get(STREAM_PROTOCOL_VERSION)
        .map(|v| v.to_str().map(str::trim).unwrap_or("\u{0}"));
    match chosen {
        None | Some("") => Ok(None),
        Some(name) => Protocol::from_name(name)
            .map(Some)
            .ok_or(UpgradeError::UnknownProtocol),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn upgrade_detection_is_case_insensitive_substring() {
        assert!(is_upgrade(&map(&[
            ("connection", "keep-alive, UPGRADE"),
            ("upgrade", "spdy/3.1")
        ])));
        assert!(is_upgrade(&map(&[
            ("connection", "Upgrade"),
            ("upgrade", "SPDY/3.1")
        ])));
        assert!(!is_upgrade(&map(&[
            ("connection", "Upgrade"),
            ("upgrade", "websocket")
        ])));
        assert!(!is_upgrade(&map(&[("upgrade", "SPDY/3.1")])));
        assert!(!is_upgrade(&map(&[
            ("connection", "close"),
            ("upgrade", "SPDY/3.1")
        ])));
    }

    #[test]
    fn client_order_wins_across_lines_and_commas() {
        let h = map(&[
            ("x-stream-protocol-version", "v5.channel.k8s.io"),
            (
                "x-stream-protocol-version",
                "bogus, v4.channel.k8s.io ,v3.channel.k8s.io",
            ),
        ]);
        let supported = [Protocol::V1, Protocol::V2, Protocol::V3, Protocol::V4];
        assert_eq!(negotiate(&h, &supported), Ok(Protocol::V4));
        assert_eq!(negotiate(&h, &Protocol::ALL), Ok(Protocol::V5));
        let h = map(&[(
            "x-stream-protocol-version",
            "v2.channel.k8s.io, v4.channel.k8s.io",
        )]);
        assert_eq!(negotiate(&h, &supported), Ok(Protocol::V2));
    }

    #[test]
    fn missing_and_no_common() {
        let e = negotiate(&HeaderMap::new(), &Protocol::ALL).unwrap_err();
        assert!(e.is_missing() && e.status() == StatusCode::BAD_REQUEST);
        let e = negotiate(
            &map(&[("x-stream-protocol-version", " , ")]),
            &Protocol::ALL,
        )
        .unwrap_err();
        assert!(e.is_missing());
        let h = map(&[("x-stream-protocol-version", "portforward.k8s.io")]);
        let e = negotiate(&h, &Protocol::ALL).unwrap_err();
        assert!(e.is_no_common() && e.status() == StatusCode::FORBIDDEN);
        let r = rejection_headers(&[Protocol::V4, Protocol::V3]);
        let v: Vec<_> = r
            .get_all(ACCEPTED_STREAM_PROTOCOL_VERSIONS)
            .iter()
            .collect();
        assert_eq!(v, ["v4.channel.k8s.io", "v3.channel.k8s.io"]);
    }

    #[test]
    fn request_and_response_headers_round_trip() {
        let mut req = map(&[("x-stream-protocol-version", "stale")]);
        add_request_headers(&mut req, &[Protocol::V5, Protocol::V4, Protocol::V1]);
        assert!(is_upgrade(&req));
        let lines: Vec<_> = req.get_all(STREAM_PROTOCOL_VERSION).iter().collect();
        assert_eq!(
            lines,
            ["v5.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io"]
        );
        let chosen = negotiate(&req, &[Protocol::V4, Protocol::V3]).unwrap();
        let resp = response_headers(chosen);
        assert_eq!(resp[UPGRADE], "SPDY/3.1");
        assert_eq!(
            verify_response(StatusCode::SWITCHING_PROTOCOLS, &resp),
            Ok(Some(Protocol::V4))
        );
    }

    #[test]
    fn verify_response_rules() {
        let resp = response_headers(Protocol::V4);
        assert_eq!(
            verify_response(StatusCode::FORBIDDEN, &resp),
            Err(UpgradeError::NotSwitching(StatusCode::FORBIDDEN))
        );
        let mut no_version = resp.clone();
        no_version.remove(STREAM_PROTOCOL_VERSION);
        assert_eq!(
            verify_response(StatusCode::SWITCHING_PROTOCOLS, &no_version),
            Ok(None)
        );
        let mut ws = resp.clone();
        ws.insert(UPGRADE, HeaderValue::from_static("websocket"));
        assert_eq!(
            verify_response(StatusCode::SWITCHING_PROTOCOLS, &ws),
            Err(UpgradeError::NotSpdy)
        );
        let mut unknown = resp;
        unknown.insert(
            STREAM_PROTOCOL_VERSION,
            HeaderValue::from_static("v9.channel.k8s.io"),
        );
        assert_eq!(
            verify_response(StatusCode::SWITCHING_PROTOCOLS, &unknown),
            Err(UpgradeError::UnknownProtocol)
        );
    }
}
