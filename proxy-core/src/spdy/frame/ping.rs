//! PING (type 6): id(32); length 4, flags 0, id never 0. Clients use odd ids, servers even;
//! a peer echoes pings of the other parity.

use bytes::{Buf, BufMut, Bytes};

use super::{ControlType, Head, check_flags, check_len};
use crate::spdy::Error;

/// A PING frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ping {
    /// The ping id (never 0).
    pub id: u32,
}

impl Ping {
    /// Builds the frame from its head and payload.
    pub fn load(head: Head, mut payload: Bytes) -> Result<Ping, Error> {
        check_flags(&head, 0, "ping with flags")?;
        check_len(&head, &payload, 4, "ping length is not 4")?;
        let id = payload.get_u32();
        if id == 0 {
            return Err(Error::protocol("ping id 0"));
        }
        Ok(Ping { id })
    }

    /// Writes the frame.
    pub fn encode<B: BufMut>(&self, dst: &mut B) {
        Head::control(ControlType::Ping, 0, 4).encode(dst);
        dst.put_u32(self.id);
    }
}
