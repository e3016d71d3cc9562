//! The codec's error: a protocol violation or an exceeded hard limit.
//!
//! Frame, header-block and decoder errors all share this one opaque type; the drivers turn it
//! into a [`PeerError`] of the same class. Display text names lengths and ids, never payload.

use std::borrow::Cow;

use crate::peer::{PeerError, PeerErrorKind};

/// A SPDY codec error. Test the class with [`Error::is_protocol`] / [`Error::is_limit`];
/// the message is for logs only.
#[derive(Debug, thiserror::Error)]
#[error("spdy: {message}")]
pub struct Error {
    kind: Kind,
    message: Cow<'static, str>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Protocol,
    Limit,
}

impl Error {
    /// The peer sent something malformed or out of sequence.
    pub(crate) fn protocol(message: impl Into<Cow<'static, str>>) -> Error {
        Error {
            kind: Kind::Protocol,
            message: message.into(),
        }
    }

    /// The peer exceeded one of the documented limits.
    pub(crate) fn limit(message: impl Into<Cow<'static, str>>) -> Error {
        Error {
            kind: Kind::Limit,
            message: message.into(),
        }
    }

    /// Whether the input broke the protocol.
    pub fn is_protocol(&self) -> bool {
        self.kind == Kind::Protocol
    }

    /// Whether the input exceeded a hard limit.
    pub fn is_limit(&self) -> bool {
        self.kind == Kind::Limit
    }
}

impl From<Error> for PeerError {
    fn from(err: Error) -> PeerError {
        let kind = match err.kind {
            Kind::Protocol => PeerErrorKind::Protocol,
            Kind::Limit => PeerErrorKind::Limit,
        };
        PeerError::new(kind, err.message.clone()).with_source(err)
    }
}
