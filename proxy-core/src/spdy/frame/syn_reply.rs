//! SYN_REPLY (type 2): accepts a stream. Payload: stream-id(31), compressed header block.

use bytes::{BufMut, Bytes};

use super::{ControlType, Head, StreamId, encode_stream_block, load_stream_block};
use crate::spdy::Error;

/// A SYN_REPLY frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SynReply {
    /// The accepted stream (never 0).
    pub stream_id: StreamId,
    /// FLAG_FIN.
    pub fin: bool,
    /// The compressed header block.
    pub header_block: Bytes,
}

impl SynReply {
    /// Builds the frame from its head and payload.
    pub fn load(head: Head, payload: Bytes) -> Result<SynReply, Error> {
        let (stream_id, fin, header_block) = load_stream_block(head, payload, "syn_reply")?;
        Ok(SynReply {
            stream_id,
            fin,
            header_block,
        })
    }

    /// Writes the frame.
    pub fn encode<B: BufMut>(&self, dst: &mut B) {
        encode_stream_block(
            ControlType::SynReply,
            self.stream_id,
            self.fin,
            &self.header_block,
            dst,
        );
    }
}
