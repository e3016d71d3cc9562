//! SYN_STREAM (type 1): opens a stream. Payload: stream-id(31), associated-stream-id(31),
//! priority(3) + 5 unused bits, slot(8), compressed header block.

use bytes::{Buf, BufMut, Bytes};

use super::{
    ControlType, FLAG_FIN, FLAG_UNIDIRECTIONAL, Head, STREAM_ID_MASK, StreamId, check_flags,
    fin_bit, get_stream_id, nonzero_stream, wire_len,
};
use crate::spdy::Error;

/// Fixed bytes before the header block.
const FIXED_LEN: usize = 10;

/// A SYN_STREAM frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SynStream {
    /// The new stream (never 0).
    pub stream_id: StreamId,
    /// The stream this one is associated with (0 for none).
    pub associated_to: StreamId,
    /// 0 (highest) to 7. Kubernetes always uses 0.
    pub priority: u8,
    /// The credential slot (0).
    pub slot: u8,
    /// FLAG_FIN.
    pub fin: bool,
    /// FLAG_UNIDIRECTIONAL.
    pub unidirectional: bool,
    /// The compressed header block (decompress with the connection's
    /// [`crate::spdy::zlib::HeaderDecompressor`]).
    pub header_block: Bytes,
}

impl SynStream {
    /// A SYN_STREAM as Kubernetes clients send it: priority 0 (spdystream orders frames by
    /// priority, so anything else can reorder a stream against its RST), no association,
    /// not finished, bidirectional.
    pub fn new(stream_id: StreamId, header_block: Bytes) -> SynStream {
        SynStream {
            stream_id,
            associated_to: 0,
            priority: 0,
            slot: 0,
            fin: false,
            unidirectional: false,
            header_block,
        }
    }

    /// Builds the frame from its head and payload.
    pub fn load(head: Head, mut payload: Bytes) -> Result<SynStream, Error> {
        check_flags(
            &head,
            FLAG_FIN | FLAG_UNIDIRECTIONAL,
            "syn_stream with unknown flags",
        )?;
        if payload.len() < FIXED_LEN {
            return Err(Error::protocol("syn_stream shorter than 10 bytes"));
        }
        let stream_id = nonzero_stream(get_stream_id(&mut payload), "syn_stream on stream 0")?;
        let associated_to = get_stream_id(&mut payload);
        let priority = payload.get_u8() >> 5;
        let slot = payload.get_u8();
        Ok(SynStream {
            stream_id,
            associated_to,
            priority,
            slot,
            fin: head.flags & FLAG_FIN != 0,
            unidirectional: head.flags & FLAG_UNIDIRECTIONAL != 0,
            header_block: payload,
        })
    }

    /// Writes the frame.
    pub fn encode<B: BufMut>(&self, dst: &mut B) {
        let mut flags = fin_bit(self.fin);
        if self.unidirectional {
            flags |= FLAG_UNIDIRECTIONAL;
        }
        let len = wire_len(FIXED_LEN + self.header_block.len());
        Head::control(ControlType::SynStream, flags, len).encode(dst);
        dst.put_u32(self.stream_id & STREAM_ID_MASK);
        dst.put_u32(self.associated_to & STREAM_ID_MASK);
        dst.put_u8((self.priority & 0x07) << 5);
        dst.put_u8(self.slot);
        dst.put_slice(&self.header_block);
    }
}
