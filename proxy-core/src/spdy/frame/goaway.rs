//! GOAWAY (type 7): the sender stops. Payload: last-good-stream-id(31), status(32); the
//! SPDY/3 form is always 8 bytes with flags 0 (spdystream rejects anything else).

use bytes::{Buf, BufMut, Bytes};

use super::{ControlType, Head, STREAM_ID_MASK, StreamId, check_flags, check_len, get_stream_id};
use crate::spdy::Error;

/// A GOAWAY status code (SPDY/3.1 §2.6.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GoAwayStatus(pub u32);

impl GoAwayStatus {
    /// 0: a normal close.
    pub const OK: GoAwayStatus = GoAwayStatus(0);
    /// 1: the peer broke the protocol.
    pub const PROTOCOL_ERROR: GoAwayStatus = GoAwayStatus(1);
    /// 2: an internal error.
    pub const INTERNAL_ERROR: GoAwayStatus = GoAwayStatus(2);
}

/// A GOAWAY frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GoAway {
    /// The highest stream id the sender received and processed (0 for none).
    pub last_good_stream_id: StreamId,
    /// Why.
    pub status: GoAwayStatus,
}

impl GoAway {
    /// Builds the frame from its head and payload.
    pub fn load(head: Head, mut payload: Bytes) -> Result<GoAway, Error> {
        check_flags(&head, 0, "goaway with flags")?;
        check_len(&head, &payload, 8, "goaway length is not 8")?;
        let last_good_stream_id = get_stream_id(&mut payload);
        let status = GoAwayStatus(payload.get_u32());
        Ok(GoAway {
            last_good_stream_id,
            status,
        })
    }

    /// Writes the frame.
    pub fn encode<B: BufMut>(&self, dst: &mut B) {
        Head::control(ControlType::GoAway, 0, 8).encode(dst);
        dst.put_u32(self.last_good_stream_id & STREAM_ID_MASK);
        dst.put_u32(self.status.0);
    }
}
