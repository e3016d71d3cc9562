//! RST_STREAM (type 3): aborts a stream. Payload: stream-id(31), status(32); length 8,
//! flags 0, status never 0 (spdystream tears the connection down otherwise).

use bytes::{Buf, BufMut, Bytes};

use super::{
    ControlType, Head, STREAM_ID_MASK, StreamId, check_flags, check_len, get_stream_id,
    nonzero_stream,
};
use crate::spdy::Error;

/// An RST_STREAM status code (SPDY/3.1 §2.6.3). Never 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RstStatus(u32);

impl RstStatus {
    /// 1: the peer broke the protocol on this stream.
    pub const PROTOCOL_ERROR: RstStatus = RstStatus(1);
    /// 2: a frame for a stream that is not active.
    pub const INVALID_STREAM: RstStatus = RstStatus(2);
    /// 3: the stream was refused before any processing.
    pub const REFUSED_STREAM: RstStatus = RstStatus(3);
    /// 5: the stream is no longer needed (what k8s `stream.Reset()` sends).
    pub const CANCEL: RstStatus = RstStatus(5);
    /// 6: a generic internal error.
    pub const INTERNAL_ERROR: RstStatus = RstStatus(6);
    /// 8: SYN_STREAM for a stream already open.
    pub const STREAM_IN_USE: RstStatus = RstStatus(8);
    /// 9: data on a half-closed stream.
    pub const STREAM_ALREADY_CLOSED: RstStatus = RstStatus(9);

    /// A status from its wire value; `None` for the invalid 0.
    pub fn new(code: u32) -> Option<RstStatus> {
        (code != 0).then_some(RstStatus(code))
    }

    /// The wire value.
    pub fn code(self) -> u32 {
        self.0
    }
}

/// An RST_STREAM frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RstStream {
    /// The stream (never 0).
    pub stream_id: StreamId,
    /// Why.
    pub status: RstStatus,
}

impl RstStream {
    /// Builds the frame from its head and payload.
    pub fn load(head: Head, mut payload: Bytes) -> Result<RstStream, Error> {
        check_flags(&head, 0, "rst_stream with flags")?;
        check_len(&head, &payload, 8, "rst_stream length is not 8")?;
        let stream_id = nonzero_stream(get_stream_id(&mut payload), "rst_stream on stream 0")?;
        let status = RstStatus::new(payload.get_u32())
            .ok_or_else(|| Error::protocol("rst_stream status 0"))?;
        Ok(RstStream { stream_id, status })
    }

    /// Writes the frame.
    pub fn encode<B: BufMut>(&self, dst: &mut B) {
        Head::control(ControlType::RstStream, 0, 8).encode(dst);
        dst.put_u32(self.stream_id & STREAM_ID_MASK);
        dst.put_u32(self.status.0);
    }
}
