//! The 8-byte common frame header.
//!
//! Control: `1 | version(15) | type(16) | flags(8) | length(24)`.
//! Data: `0 | stream-id(31) | flags(8) | length(24)`. All big-endian (SPDY/3.1 §2.2).

use bytes::BufMut;

use super::{STREAM_ID_MASK, StreamId};
use crate::spdy::Error;

/// Length of every frame header.
pub const HEAD_LEN: usize = 8;
/// The SPDY version we speak and accept.
pub const VERSION: u16 = 3;

/// The control frame types that exist in SPDY/3.1. NOOP (5) and CREDENTIAL (10) are absent
/// on purpose: spdystream rejects them, so we neither accept nor send them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlType {
    /// 1.
    SynStream,
    /// 2.
    SynReply,
    /// 3.
    RstStream,
    /// 4.
    Settings,
    /// 6.
    Ping,
    /// 7.
    GoAway,
    /// 8.
    Headers,
    /// 9.
    WindowUpdate,
}

impl ControlType {
    /// The wire number.
    pub fn code(self) -> u16 {
        match self {
            ControlType::SynStream => 1,
            ControlType::SynReply => 2,
            ControlType::RstStream => 3,
            ControlType::Settings => 4,
            ControlType::Ping => 6,
            ControlType::GoAway => 7,
            ControlType::Headers => 8,
            ControlType::WindowUpdate => 9,
        }
    }

    /// The type for a wire number, if it is one we speak.
    pub fn from_code(code: u16) -> Option<ControlType> {
        Some(match code {
            1 => ControlType::SynStream,
            2 => ControlType::SynReply,
            3 => ControlType::RstStream,
            4 => ControlType::Settings,
            6 => ControlType::Ping,
            7 => ControlType::GoAway,
            8 => ControlType::Headers,
            9 => ControlType::WindowUpdate,
            _ => return None,
        })
    }
}

/// What the first word of a head says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadKind {
    /// A DATA frame on `stream_id` (may be 0 here; [`super::Data::load`] rejects it).
    Data {
        /// The stream.
        stream_id: StreamId,
    },
    /// A control frame of a known type, version 3.
    Control(ControlType),
}

/// A parsed frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// Data or control (with type).
    pub kind: HeadKind,
    /// The flags byte.
    pub flags: u8,
    /// Payload length (24 bits).
    pub length: u32,
}

impl Head {
    /// Parses a header. Rejects control frames of another version or of an unknown type.
    pub fn parse(bytes: &[u8; HEAD_LEN]) -> Result<Head, Error> {
        let word = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        let flags = bytes[4];
        let length = u32::from_be_bytes([0, bytes[5], bytes[6], bytes[7]]);
        let kind = if word & 0x8000_0000 == 0 {
            HeadKind::Data {
                stream_id: word & STREAM_ID_MASK,
            }
        } else {
            let version = ((word >> 16) & 0x7fff) as u16;
            if version != VERSION {
                return Err(Error::protocol(format!(
                    "unsupported control frame version {version}"
                )));
            }
            let code = (word & 0xffff) as u16;
            let ty = ControlType::from_code(code)
                .ok_or_else(|| Error::protocol(format!("unknown control frame type {code}")))?;
            HeadKind::Control(ty)
        };
        Ok(Head {
            kind,
            flags,
            length,
        })
    }

    /// A control head.
    pub fn control(ty: ControlType, flags: u8, length: u32) -> Head {
        Head {
            kind: HeadKind::Control(ty),
            flags,
            length,
        }
    }

    /// A data head.
    pub fn data(stream_id: StreamId, flags: u8, length: u32) -> Head {
        Head {
            kind: HeadKind::Data { stream_id },
            flags,
            length,
        }
    }

    /// Writes the 8 header bytes.
    pub fn encode<B: BufMut>(&self, dst: &mut B) {
        let word = match self.kind {
            HeadKind::Data { stream_id } => stream_id & STREAM_ID_MASK,
            HeadKind::Control(ty) => {
                0x8000_0000 | (u32::from(VERSION) << 16) | u32::from(ty.code())
            }
        };
        dst.put_u32(word);
        dst.put_u32((u32::from(self.flags) << 24) | (self.length & 0x00ff_ffff));
    }
}
