//! Answers a server owes a misbehaving client, bounded so that a client cannot make us
//! write more than it sends.
//!
//! DATA on a stream the client never opened is a stream error answered with RST_STREAM
//! INVALID_STREAM (SPDY/3.1 §2.2.2): 16 bytes for an 8-byte frame. kubectl never sends such
//! frames, so after [`MAX_INVALID_STREAM_RESETS`] of them the connection ends instead (found
//! by fuzzing the port-forward driver, `fuzz/README.md`).

use crate::peer::{PeerError, PeerErrorKind};

/// DATA frames on streams never opened answered with RST_STREAM INVALID_STREAM per
/// connection; the next one is a connection error.
pub const MAX_INVALID_STREAM_RESETS: usize = 16;

/// How many INVALID_STREAM resets a connection has drawn.
#[derive(Debug, Default)]
pub(crate) struct InvalidStreamResets(usize);

impl InvalidStreamResets {
    /// Allows one more reset, or fails once the client has drawn its share.
    pub(crate) fn spend(&mut self) -> Result<(), PeerError> {
        if self.0 >= MAX_INVALID_STREAM_RESETS {
            return Err(PeerError::new(
                PeerErrorKind::Limit,
                "too much data for streams never opened",
            ));
        }
        self.0 += 1;
        Ok(())
    }
}
