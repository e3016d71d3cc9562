//! The channel layer inside WebSocket messages: pure functions, no I/O.
//!
//! RFC 6455 framing (masking, fragmentation, control frames, size limits) is tungstenite's
//! job; this module sees whole messages (apimachinery `wsstream/conn.go` `handle`, `write`):
//!
//! * binary protocols: `[channel byte][payload…]`; decoding slices the message
//!   (`Bytes::slice(1..)`) so the payload is never copied;
//! * base64 protocols: the ASCII digit `'0' + channel`, then standard base64 with padding;
//! * v5 only: exactly `[0xFF, channel]` half-closes `channel`; any other length is a protocol
//!   error, as is a CLOSE for a channel that does not exist (the Go server drops the
//!   connection in both cases);
//! * an empty message is skipped; an unknown channel number is skipped (and logged by the
//!   caller), like the Go server does. On v1–v4 `0xFF` is just an unknown channel.
//!
//! Text and binary messages decode the same way in both encodings: the Go servers read every
//! message as bytes, and the Python client sends text frames on binary protocols.
//!
//! Encoding copies the payload once, behind the channel byte (binary) or into base64 text; a
//! message never carries more than [`MAX_SEND_PAYLOAD`] payload bytes, callers split longer
//! frames with [`chunks`].

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::{BufMut, Bytes, BytesMut};
use tokio_tungstenite::tungstenite::Message;

use super::WsProtocol;
use crate::channel::{Channel, Frame, Msg};

/// The largest WebSocket message (after reassembling fragments) and the largest single frame
/// payload accepted from a peer. kubectl writes at most 32 KiB + 1 byte per message
/// (client-go `remotecommand/websocket.go`, `io.Copy` chunks); API servers write what one
/// upstream read returned. 1 MiB leaves a wide margin while bounding what one message can pin.
pub const MAX_MESSAGE_LEN: usize = 1 << 20;

/// The most payload bytes put in one outgoing message (before base64 expansion).
pub const MAX_SEND_PAYLOAD: usize = crate::peer::MAX_FRAME_LEN;

/// The first byte of a v5 CLOSE message.
pub const CLOSE_SIGNAL: u8 = 0xFF;

/// What one incoming message means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// Data or a half-close.
    Msg(Msg),
    /// A zero-length message: skipped.
    Empty,
    /// A channel number this protocol does not have: skipped.
    UnknownChannel(u8),
}

/// Why a message could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("{kind}")]
pub struct CodecError {
    kind: CodecErrorKind,
}

#[derive(Debug, thiserror::Error)]
enum CodecErrorKind {
    #[error("message of {len} bytes exceeds the {max}-byte limit")]
    TooLong { len: usize, max: usize },
    #[error("invalid base64 in a {len}-byte message on channel {channel}")]
    Base64 { channel: u8, len: usize },
    #[error("v5 CLOSE signal must be 2 bytes, got {len}")]
    CloseLength { len: usize },
    #[error("v5 CLOSE signal for unknown channel {channel}")]
    CloseChannel { channel: u8 },
}

impl CodecError {
    fn new(kind: CodecErrorKind) -> CodecError {
        CodecError { kind }
    }

    /// Whether the message exceeded [`MAX_MESSAGE_LEN`].
    pub fn is_too_long(&self) -> bool {
        matches!(self.kind, CodecErrorKind::TooLong { .. })
    }

    /// Whether a base64 payload did not decode.
    pub fn is_invalid_base64(&self) -> bool {
        matches!(self.kind, CodecErrorKind::Base64 { .. })
    }

    /// Whether a v5 CLOSE signal was malformed (wrong length or unknown channel).
    pub fn is_bad_close(&self) -> bool {
        matches!(
            self.kind,
            CodecErrorKind::CloseLength { .. } | CodecErrorKind::CloseChannel { .. }
        )
    }
}

/// Decodes one incoming message's bytes (binary or text frame alike) under `protocol`.
pub fn decode(protocol: WsProtocol, message: Bytes) -> Result<Decoded, CodecError> {
    if message.len() > MAX_MESSAGE_LEN {
        return Err(CodecError::new(CodecErrorKind::TooLong {
            len: message.len(),
            max: MAX_MESSAGE_LEN,
        }));
    }
    let Some(&first) = message.first() else {
        return Ok(Decoded::Empty);
    };
    if protocol.is_base64() {
        decode_base64(first, &message)
    } else if first == CLOSE_SIGNAL && protocol.supports_close() {
        decode_close(&message)
    } else {
        Ok(match Channel::from_index(first) {
            Some(channel) => Decoded::Msg(Msg::Data(Frame {
                channel,
                bytes: message.slice(1..),
            })),
            None => Decoded::UnknownChannel(first),
        })
    }
}

fn decode_close(message: &[u8]) -> Result<Decoded, CodecError> {
    let &[_, index] = message else {
        return Err(CodecError::new(CodecErrorKind::CloseLength {
            len: message.len(),
        }));
    };
    match Channel::from_index(index) {
        Some(channel) => Ok(Decoded::Msg(Msg::Close(channel))),
        None => Err(CodecError::new(CodecErrorKind::CloseChannel {
            channel: index,
        })),
    }
}

fn decode_base64(first: u8, message: &[u8]) -> Result<Decoded, CodecError> {
    // Like Go's `channel - '0'` on a byte: anything that is not a known digit is unknown.
    let index = first.wrapping_sub(b'0');
    let Some(channel) = Channel::from_index(index) else {
        return Ok(Decoded::UnknownChannel(index));
    };
    let text = &message[1..];
    let bytes = STANDARD.decode(text).map_err(|_| {
        CodecError::new(CodecErrorKind::Base64 {
            channel: index,
            len: message.len(),
        })
    })?;
    Ok(Decoded::Msg(Msg::Data(Frame {
        channel,
        bytes: Bytes::from(bytes),
    })))
}

/// Encodes `payload` on `channel` as one message: binary for binary protocols, text for
/// base64 protocols. `payload` should be at most [`MAX_SEND_PAYLOAD`] bytes (see [`chunks`]).
pub fn encode(protocol: WsProtocol, channel: Channel, payload: &[u8]) -> Message {
    if protocol.is_base64() {
        let mut text = String::with_capacity(1 + payload.len().div_ceil(3) * 4);
        text.push(char::from(b'0' + channel.index()));
        STANDARD.encode_string(payload, &mut text);
        Message::text(text)
    } else {
        let mut buf = BytesMut::with_capacity(1 + payload.len());
        buf.put_u8(channel.index());
        buf.put_slice(payload);
        Message::Binary(buf.freeze())
    }
}

/// The v5 CLOSE signal for `channel`; `None` when `protocol` has no CLOSE (v1–v4: there is
/// no half-close, the caller drops the signal).
pub fn encode_close(protocol: WsProtocol, channel: Channel) -> Option<Message> {
    protocol
        .supports_close()
        .then(|| Message::Binary(Bytes::copy_from_slice(&[CLOSE_SIGNAL, channel.index()])))
}

/// Splits `bytes` into slices of at most `max` bytes (no copy). An empty input yields one
/// empty slice, so an empty frame still becomes one message (the initial message).
pub fn chunks(bytes: &Bytes, max: usize) -> impl Iterator<Item = Bytes> + '_ {
    let max = max.max(1);
    let count = bytes.len().div_ceil(max).max(1);
    (0..count).map(move |i| {
        let start = i * max;
        bytes.slice(start..bytes.len().min(start + max))
    })
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
