//! The WebSocket sub-protocols of `pods/exec` and `pods/attach`.
//!
//! A sub-protocol fixes two things: the remotecommand [`Protocol`] version (error-channel
//! format, resize, the v5 CLOSE signal) and the message encoding (binary `[channel][payload]`
//! or base64 text `'0'+channel` then standard base64). The set is closed: the kubelet serves
//! `""`, `channel.k8s.io`, `base64.channel.k8s.io`, `v4.channel.k8s.io` and
//! `v4.base64.channel.k8s.io`; the API server's translator serves `v5.channel.k8s.io`
//! (cri-streaming `remotecommand/websocket.go`, apiserver `pkg/util/proxy/websocket.go`).
//! Modelling it as an enum makes combinations that do not exist on the wire (v2, v3, a
//! base64 v5) unrepresentable, and keeps "no sub-protocol" apart from `channel.k8s.io`: both
//! have v1 semantics, but only the latter is echoed in the 101 response.

use crate::channel::Protocol;

/// A negotiated WebSocket sub-protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WsProtocol {
    /// `v5.channel.k8s.io`: binary, JSON status, `[0xFF, ch]` CLOSE. What kubectl ≥ 1.30 offers.
    V5,
    /// `v4.channel.k8s.io`: binary, JSON status.
    V4,
    /// `v4.base64.channel.k8s.io`: base64 text, JSON status.
    V4Base64,
    /// `channel.k8s.io`: binary, plain-text error channel.
    V1,
    /// `base64.channel.k8s.io`: base64 text, plain-text error channel.
    V1Base64,
    /// No sub-protocol offered (`""`): binary with v1 semantics; no `Sec-WebSocket-Protocol`
    /// header in the 101 response.
    Unnamed,
}

impl WsProtocol {
    /// Every sub-protocol, newest first.
    pub const ALL: [WsProtocol; 6] = [
        WsProtocol::V5,
        WsProtocol::V4,
        WsProtocol::V4Base64,
        WsProtocol::V1,
        WsProtocol::V1Base64,
        WsProtocol::Unnamed,
    ];

    /// The `Sec-WebSocket-Protocol` token; `""` for [`WsProtocol::Unnamed`].
    pub fn name(self) -> &'static str {
        match self {
            WsProtocol::V5 => "v5.channel.k8s.io",
            WsProtocol::V4 => "v4.channel.k8s.io",
            WsProtocol::V4Base64 => "v4.base64.channel.k8s.io",
            WsProtocol::V1 => "channel.k8s.io",
            WsProtocol::V1Base64 => "base64.channel.k8s.io",
            WsProtocol::Unnamed => "",
        }
    }

    /// The sub-protocol named `name` (exact, case-sensitive, like the Go servers); `""` is
    /// [`WsProtocol::Unnamed`].
    pub fn from_name(name: &str) -> Option<WsProtocol> {
        WsProtocol::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The remotecommand version whose semantics this sub-protocol carries.
    pub fn version(self) -> Protocol {
        match self {
            WsProtocol::V5 => Protocol::V5,
            WsProtocol::V4 | WsProtocol::V4Base64 => Protocol::V4,
            WsProtocol::V1 | WsProtocol::V1Base64 | WsProtocol::Unnamed => Protocol::V1,
        }
    }

    /// Whether messages are base64 text rather than binary.
    pub fn is_base64(self) -> bool {
        matches!(self, WsProtocol::V4Base64 | WsProtocol::V1Base64)
    }

    /// Whether the `[0xFF, channel]` CLOSE signal exists (v5 only).
    pub fn supports_close(self) -> bool {
        self == WsProtocol::V5
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in WsProtocol::ALL {
            assert_eq!(WsProtocol::from_name(p.name()), Some(p));
        }
        assert_eq!(WsProtocol::from_name("V5.channel.k8s.io"), None);
        assert_eq!(WsProtocol::from_name("v3.channel.k8s.io"), None);
        assert_eq!(WsProtocol::from_name("binary.k8s.io"), None);
    }

    #[test]
    fn semantics() {
        assert_eq!(WsProtocol::Unnamed.version(), Protocol::V1);
        assert_eq!(WsProtocol::V4Base64.version(), Protocol::V4);
        assert!(WsProtocol::V1Base64.is_base64());
        assert!(!WsProtocol::V5.is_base64());
        assert!(WsProtocol::V5.supports_close());
        assert!(!WsProtocol::V4.supports_close());
    }
}
