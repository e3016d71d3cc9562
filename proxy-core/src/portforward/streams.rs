//! The per-stream state both port-forward drivers keep, and the frame checks and writes
//! that follow it: DATA after FIN is a protocol error (after a reset it is dropped), DATA
//! before our SYN_REPLY arrived is a protocol error, and nothing is written on a stream we
//! finished or that was reset.

use std::collections::HashMap;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};

use super::mux::PairKey;
use super::pairs::StreamKind;
use crate::peer::{PeerError, PeerErrorKind};
use crate::spdy::conn::Conn;
use crate::spdy::frame::{RstStatus, StreamId};

/// One stream of a pair.
#[derive(Debug)]
pub(crate) struct Stream {
    pub(crate) kind: StreamKind,
    /// The pair it belongs to (the downstream side learns it once the pair is complete).
    pub(crate) pair: Option<PairKey>,
    /// The peer answered our SYN_STREAM (always true for streams the peer opened).
    pub(crate) replied: bool,
    /// We sent FIN.
    pub(crate) local_fin: bool,
    /// The peer sent FIN (or reset the stream).
    pub(crate) remote_fin: bool,
    /// The stream was reset: send nothing more on it.
    pub(crate) reset: bool,
}

impl Stream {
    /// A stream of `kind`, in `pair` if known.
    pub(crate) fn new(kind: StreamKind, pair: Option<PairKey>, replied: bool) -> Stream {
        Stream {
            kind,
            pair,
            replied,
            local_fin: false,
            remote_fin: false,
            reset: false,
        }
    }
}

/// What to do with a DATA frame.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum DataCheck {
    /// No such stream.
    Unknown,
    /// The stream was reset: drop the bytes.
    Dropped,
    /// Take the bytes: the stream's kind and pair.
    Take(StreamKind, Option<PairKey>),
}

/// A connection's streams.
#[derive(Debug, Default)]
pub(crate) struct Streams(HashMap<StreamId, Stream>);

impl Streams {
    pub(crate) fn get(&self, id: StreamId) -> Option<&Stream> {
        self.0.get(&id)
    }

    pub(crate) fn get_mut(&mut self, id: StreamId) -> Option<&mut Stream> {
        self.0.get_mut(&id)
    }

    pub(crate) fn insert(&mut self, id: StreamId, stream: Stream) {
        self.0.insert(id, stream);
    }

    pub(crate) fn remove(&mut self, id: StreamId) -> Option<Stream> {
        self.0.remove(&id)
    }

    /// Checks a DATA frame on `id` (with `fin`) and records its FIN.
    pub(crate) fn on_data(&mut self, id: StreamId, fin: bool) -> Result<DataCheck, PeerError> {
        let Some(s) = self.0.get_mut(&id) else {
            return Ok(DataCheck::Unknown);
        };
        if !s.replied {
            return Err(protocol_error("data before syn_reply"));
        }
        if s.remote_fin {
            if s.reset {
                return Ok(DataCheck::Dropped);
            }
            return Err(protocol_error("data after FIN"));
        }
        s.remote_fin = fin;
        Ok(DataCheck::Take(s.kind, s.pair))
    }

    /// The peer reset `id`: returns the stream's kind, pair, and whether it was still open
    /// from the peer's side.
    pub(crate) fn on_reset(&mut self, id: StreamId) -> Option<(StreamKind, Option<PairKey>, bool)> {
        let s = self.0.get_mut(&id)?;
        let was_open = !s.remote_fin;
        s.reset = true;
        s.local_fin = true;
        s.remote_fin = true;
        Some((s.kind, s.pair, was_open))
    }

    /// Sends on `id` unless we finished it or it was reset.
    pub(crate) fn send<T: AsyncRead + AsyncWrite, M>(
        &mut self,
        conn: &mut Conn<T, M>,
        id: StreamId,
        payload: Bytes,
        fin: bool,
    ) {
        let Some(s) = self.0.get_mut(&id) else {
            return;
        };
        if s.local_fin || s.reset {
            return;
        }
        conn.send_data(id, payload, fin);
        s.local_fin = fin;
    }

    /// RST_STREAM `status` on each of `ids` we did not finish; forgets them.
    pub(crate) fn reset_unfinished<T: AsyncRead + AsyncWrite, M>(
        &mut self,
        conn: &mut Conn<T, M>,
        ids: impl IntoIterator<Item = StreamId>,
        status: RstStatus,
    ) {
        let mut ids: Vec<StreamId> = ids.into_iter().collect();
        ids.sort_unstable();
        for id in ids {
            if let Some(s) = self.0.remove(&id)
                && !s.local_fin
                && !s.reset
            {
                conn.reset(id, status);
            }
        }
    }

    /// Every stream id.
    pub(crate) fn ids(&self) -> Vec<StreamId> {
        self.0.keys().copied().collect()
    }
}

/// Sends RST_STREAM `status` on `stream_id`.
pub(crate) fn protocol_error(message: &'static str) -> PeerError {
    PeerError::new(PeerErrorKind::Protocol, message)
}
