//! Client PINGs that arrive before the first SYN_STREAM, for both server-role drivers.
//!
//! client-go reads the 101 through a `bufio.Reader` and would lose bytes sent before it
//! opens its first stream, so a server sends nothing until then: the echo of an early PING
//! waits, at most [`MAX_DEFERRED_PINGS`] of them (more is a limit error). PINGs with even
//! ids are echoes of our own and need no answer.

use tokio::io::{AsyncRead, AsyncWrite};

use super::conn::Conn;
use super::frame::{Frame, Ping};
use crate::peer::{PeerError, PeerErrorKind};

/// Most PINGs whose echo may wait for the first SYN_STREAM.
pub const MAX_DEFERRED_PINGS: usize = 16;

/// The echoes still waiting for the first stream; `None` once it is open.
#[derive(Debug)]
pub(crate) struct EarlyPings(Option<Vec<u32>>);

impl EarlyPings {
    pub(crate) fn new() -> EarlyPings {
        EarlyPings(Some(Vec::new()))
    }

    /// A PING from the client: echoed now, or kept until the first stream is open.
    pub(crate) fn on_ping<T: AsyncRead + AsyncWrite, M>(
        &mut self,
        conn: &mut Conn<T, M>,
        ping: Ping,
    ) -> Result<(), PeerError> {
        if ping.id.is_multiple_of(2) {
            return Ok(());
        }
        match &mut self.0 {
            Some(deferred) if deferred.len() >= MAX_DEFERRED_PINGS => Err(PeerError::new(
                PeerErrorKind::Limit,
                "too many pings before any stream",
            )),
            Some(deferred) => {
                deferred.push(ping.id);
                Ok(())
            }
            None => {
                conn.send(&Frame::Ping(ping));
                Ok(())
            }
        }
    }

    /// The first stream is open: echo what waited; later PINGs are echoed at once.
    pub(crate) fn stream_opened<T: AsyncRead + AsyncWrite, M>(&mut self, conn: &mut Conn<T, M>) {
        for id in self.0.take().unwrap_or_default() {
            conn.send(&Frame::Ping(Ping { id }));
        }
    }
}
