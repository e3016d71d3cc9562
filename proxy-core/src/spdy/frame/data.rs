//! DATA: stream bytes. A zero-length DATA with FIN is how spdystream half-closes a stream.

use bytes::{BufMut, Bytes};

use super::{FLAG_FIN, Head, HeadKind, StreamId, check_flags, fin_bit, nonzero_stream, wire_len};
use crate::spdy::Error;

/// A DATA frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Data {
    /// The stream (never 0).
    pub stream_id: StreamId,
    /// FLAG_FIN: the last frame the sender sends on this stream.
    pub fin: bool,
    /// The bytes: a slice of the connection's read buffer.
    pub payload: Bytes,
}

impl Data {
    /// Builds the frame from its head and payload.
    pub fn load(head: Head, payload: Bytes) -> Result<Data, Error> {
        let HeadKind::Data { stream_id } = head.kind else {
            return Err(Error::protocol("not a data frame"));
        };
        check_flags(&head, FLAG_FIN, "data frame with unknown flags")?;
        Ok(Data {
            stream_id: nonzero_stream(stream_id, "data frame on stream 0")?,
            fin: head.flags & FLAG_FIN != 0,
            payload,
        })
    }

    /// The 8-byte head of this frame; write it, then `payload`, to avoid copying the payload.
    pub fn head(&self) -> Head {
        Head::data(
            self.stream_id,
            fin_bit(self.fin),
            wire_len(self.payload.len()),
        )
    }

    /// Writes head and payload (copies the payload; drivers write [`Data::head`] and the
    /// payload `Bytes` separately instead).
    pub fn encode<B: BufMut>(&self, dst: &mut B) {
        self.head().encode(dst);
        dst.put_slice(&self.payload);
    }
}
