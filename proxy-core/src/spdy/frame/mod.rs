//! SPDY/3.1 frames: one type per file, each with `load(head, payload)` and
//! `encode<B: BufMut>(&self, dst)`.
//!
//! Parsing is pure: a frame is built from its 8-byte [`Head`] and the payload `Bytes`, and
//! header blocks stay compressed (the connection's zlib streams live in
//! [`crate::spdy::zlib`], because they are stateful across frames). The checks follow
//! moby/spdystream's strict reader where a Go peer would tear the connection down, so we
//! neither accept nor emit what kubectl would reject: unknown control types, RST status 0,
//! PING id 0 or flags, GOAWAY / WINDOW_UPDATE / RST lengths other than 8, stream id 0 on
//! stream frames. Only types 1–4 and 6–9 exist here, so nothing else can be emitted.

mod data;
mod goaway;
mod head;
mod headers;
mod ping;
mod rst_stream;
mod settings;
mod syn_reply;
mod syn_stream;
mod window_update;

use bytes::{Buf, BufMut, Bytes};

pub use data::Data;
pub use goaway::{GoAway, GoAwayStatus};
pub use head::{ControlType, HEAD_LEN, Head, HeadKind, VERSION};
pub use headers::Headers;
pub use ping::Ping;
pub use rst_stream::{RstStatus, RstStream};
pub use settings::{Setting, Settings};
pub use syn_reply::SynReply;
pub use syn_stream::SynStream;
pub use window_update::WindowUpdate;

use super::Error;

/// `FLAG_FIN`: the sender half-closes the stream (DATA, SYN_STREAM, SYN_REPLY, HEADERS).
pub const FLAG_FIN: u8 = 0x01;
/// `FLAG_UNIDIRECTIONAL` (SYN_STREAM only).
pub const FLAG_UNIDIRECTIONAL: u8 = 0x02;
/// `FLAG_SETTINGS_CLEAR_SETTINGS` (SETTINGS only).
pub const FLAG_CLEAR_SETTINGS: u8 = 0x01;
/// Stream ids are 31 bits; the top bit is reserved and ignored on read.
pub const STREAM_ID_MASK: u32 = 0x7fff_ffff;
/// The largest payload a DATA frame can carry on the wire (24-bit length).
pub const MAX_WIRE_LEN: u32 = 0x00ff_ffff;

/// A SPDY stream id (31 bits, odd for the client, even for the server).
pub type StreamId = u32;

/// One decoded frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// DATA.
    Data(Data),
    /// SYN_STREAM (type 1).
    SynStream(SynStream),
    /// SYN_REPLY (type 2).
    SynReply(SynReply),
    /// RST_STREAM (type 3).
    RstStream(RstStream),
    /// SETTINGS (type 4).
    Settings(Settings),
    /// PING (type 6).
    Ping(Ping),
    /// GOAWAY (type 7).
    GoAway(GoAway),
    /// HEADERS (type 8).
    Headers(Headers),
    /// WINDOW_UPDATE (type 9).
    WindowUpdate(WindowUpdate),
}

impl Frame {
    /// Builds a frame from its head and exactly `head.length` payload bytes.
    pub fn parse(head: Head, payload: Bytes) -> Result<Frame, Error> {
        if payload.len() != head.length as usize {
            return Err(Error::protocol(
                "payload length does not match the frame head",
            ));
        }
        let frame = match head.kind {
            HeadKind::Data { .. } => Frame::Data(Data::load(head, payload)?),
            HeadKind::Control(ty) => match ty {
                ControlType::SynStream => Frame::SynStream(SynStream::load(head, payload)?),
                ControlType::SynReply => Frame::SynReply(SynReply::load(head, payload)?),
                ControlType::RstStream => Frame::RstStream(RstStream::load(head, payload)?),
                ControlType::Settings => Frame::Settings(Settings::load(head, payload)?),
                ControlType::Ping => Frame::Ping(Ping::load(head, payload)?),
                ControlType::GoAway => Frame::GoAway(GoAway::load(head, payload)?),
                ControlType::Headers => Frame::Headers(Headers::load(head, payload)?),
                ControlType::WindowUpdate => {
                    Frame::WindowUpdate(WindowUpdate::load(head, payload)?)
                }
            },
        };
        Ok(frame)
    }

    /// Writes the whole frame (head and payload) to `dst`.
    pub fn encode<B: BufMut>(&self, dst: &mut B) {
        match self {
            Frame::Data(f) => f.encode(dst),
            Frame::SynStream(f) => f.encode(dst),
            Frame::SynReply(f) => f.encode(dst),
            Frame::RstStream(f) => f.encode(dst),
            Frame::Settings(f) => f.encode(dst),
            Frame::Ping(f) => f.encode(dst),
            Frame::GoAway(f) => f.encode(dst),
            Frame::Headers(f) => f.encode(dst),
            Frame::WindowUpdate(f) => f.encode(dst),
        }
    }
}

/// Reads a 31-bit stream id, ignoring the reserved bit.
fn get_stream_id(buf: &mut Bytes) -> StreamId {
    buf.get_u32() & STREAM_ID_MASK
}

/// Rejects stream id 0 on a frame that names a stream.
fn nonzero_stream(id: StreamId, what: &'static str) -> Result<StreamId, Error> {
    if id == 0 {
        return Err(Error::protocol(what));
    }
    Ok(id)
}

/// Rejects flags outside `allowed`.
fn check_flags(head: &Head, allowed: u8, what: &'static str) -> Result<(), Error> {
    if head.flags & !allowed != 0 {
        return Err(Error::protocol(what));
    }
    Ok(())
}

/// Requires both the head's length and the payload to be `expected` bytes.
fn check_len(head: &Head, payload: &Bytes, expected: u32, what: &'static str) -> Result<(), Error> {
    if head.length != expected || payload.len() != expected as usize {
        return Err(Error::protocol(what));
    }
    Ok(())
}

/// The fin flag as a bit.
fn fin_bit(fin: bool) -> u8 {
    if fin { FLAG_FIN } else { 0 }
}

/// Converts a payload length computed while encoding to the 24-bit wire field.
///
/// Encoders are only ever given payloads the drivers sized; exceeding 24 bits is a bug.
fn wire_len(len: usize) -> u32 {
    assert!(
        len <= MAX_WIRE_LEN as usize,
        "spdy frame payload over 2^24-1 bytes"
    );
    len as u32
}

/// Parses the common shape of SYN_REPLY and HEADERS: stream-id(31), compressed block.
fn load_stream_block(
    head: Head,
    mut payload: Bytes,
    what: &'static str,
) -> Result<(StreamId, bool, Bytes), Error> {
    if head.flags & !FLAG_FIN != 0 {
        return Err(Error::protocol(format!("{what} with unknown flags")));
    }
    if payload.len() < 4 {
        return Err(Error::protocol(format!("{what} shorter than 4 bytes")));
    }
    let stream_id = get_stream_id(&mut payload);
    if stream_id == 0 {
        return Err(Error::protocol(format!("{what} on stream 0")));
    }
    Ok((stream_id, head.flags & FLAG_FIN != 0, payload))
}

/// Writes the common shape of SYN_REPLY and HEADERS.
fn encode_stream_block<B: BufMut>(
    ty: ControlType,
    stream_id: StreamId,
    fin: bool,
    block: &Bytes,
    dst: &mut B,
) {
    let len = wire_len(4 + block.len());
    Head::control(ty, fin_bit(fin), len).encode(dst);
    dst.put_u32(stream_id & STREAM_ID_MASK);
    dst.put_slice(block);
}

#[cfg(test)]
mod tests;
