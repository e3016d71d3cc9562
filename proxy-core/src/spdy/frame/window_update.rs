//! WINDOW_UPDATE (type 9): stream-id(31, 0 = session), delta(31); length 8, flags 0.
//! Parsed and ignored: spdystream has no flow control, so windows never hold sends back.

use bytes::{Buf, BufMut, Bytes};

use super::{ControlType, Head, STREAM_ID_MASK, StreamId, check_flags, check_len, get_stream_id};
use crate::spdy::Error;

/// A WINDOW_UPDATE frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowUpdate {
    /// The stream, or 0 for the whole session.
    pub stream_id: StreamId,
    /// The window increase, 1 to 2^31-1.
    pub delta: u32,
}

impl WindowUpdate {
    /// Builds the frame from its head and payload.
    pub fn load(head: Head, mut payload: Bytes) -> Result<WindowUpdate, Error> {
        check_flags(&head, 0, "window_update with flags")?;
        check_len(&head, &payload, 8, "window_update length is not 8")?;
        let stream_id = get_stream_id(&mut payload);
        let delta = payload.get_u32() & STREAM_ID_MASK;
        if delta == 0 {
            return Err(Error::protocol("window_update delta 0"));
        }
        Ok(WindowUpdate { stream_id, delta })
    }

    /// Writes the frame.
    pub fn encode<B: BufMut>(&self, dst: &mut B) {
        Head::control(ControlType::WindowUpdate, 0, 8).encode(dst);
        dst.put_u32(self.stream_id & STREAM_ID_MASK);
        dst.put_u32(self.delta & STREAM_ID_MASK);
    }
}
