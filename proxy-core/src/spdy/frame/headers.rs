//! HEADERS (type 8): more headers on a stream. Payload: stream-id(31), compressed header
//! block. Kubernetes never sends it, but its block must still be inflated to keep the
//! connection's zlib stream in step.

use bytes::{BufMut, Bytes};

use super::{ControlType, Head, StreamId, encode_stream_block, load_stream_block};
use crate::spdy::Error;

/// A HEADERS frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Headers {
    /// The stream (never 0).
    pub stream_id: StreamId,
    /// FLAG_FIN.
    pub fin: bool,
    /// The compressed header block.
    pub header_block: Bytes,
}

impl Headers {
    /// Builds the frame from its head and payload.
    pub fn load(head: Head, payload: Bytes) -> Result<Headers, Error> {
        let (stream_id, fin, header_block) = load_stream_block(head, payload, "headers")?;
        Ok(Headers {
            stream_id,
            fin,
            header_block,
        })
    }

    /// Writes the frame.
    pub fn encode<B: BufMut>(&self, dst: &mut B) {
        encode_stream_block(
            ControlType::Headers,
            self.stream_id,
            self.fin,
            &self.header_block,
            dst,
        );
    }
}
