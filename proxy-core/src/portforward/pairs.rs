//! Port-forward stream headers and pair assembly, without I/O.
//!
//! kubectl opens, per forwarded TCP connection, an `error` stream and then a `data` stream;
//! both carry `streamtype`, `port` and `requestid` (cri-streaming `portforward/httpstream.go`,
//! client-go `tools/portforward/portforward.go`). [`StreamHeaders::parse`] validates one
//! stream's headers like the kubelet (`port` 1–65535, a known stream type, the request id
//! derived from the stream id when absent). [`Assembler`] joins the two streams of a request
//! id into a [`Pair`], refusing duplicates, a data stream whose port differs from its error
//! stream's, and more than [`MAX_PAIRS`] pairs per connection (pending or live). A pair left
//! incomplete for [`PAIR_TIMEOUT`] is given up ([`Assembler::expired`]).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tokio::time::Instant;

use crate::spdy::frame::StreamId;
use crate::spdy::header_block::HeaderBlock;

/// Most pairs (forwarded connections) one port-forward connection may hold at once,
/// incomplete ones included. kubectl opens one pair per local TCP connection.
pub const MAX_PAIRS: usize = 64;
/// Longest request id accepted (client-go sends a decimal counter).
pub const MAX_REQUEST_ID_LEN: usize = 64;
/// How long the second stream of a pair may take to arrive (the kubelet's
/// `streamCreationTimeout`).
pub const PAIR_TIMEOUT: Duration = Duration::from_secs(30);

/// The `streamtype` header's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StreamKind {
    /// `error`: the server writes a message here when forwarding fails.
    Error,
    /// `data`: the forwarded bytes, both ways.
    Data,
}

impl StreamKind {
    /// `error` or `data`.
    pub fn name(self) -> &'static str {
        match self {
            StreamKind::Error => "error",
            StreamKind::Data => "data",
        }
    }
}

/// Why a stream was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PairError {
    /// No `streamtype` header.
    #[error("stream has no streamtype header")]
    MissingStreamType,
    /// A `streamtype` other than `error` or `data`.
    #[error("unknown stream type")]
    UnknownStreamType,
    /// `port` missing, not a decimal number, or outside 1–65535.
    #[error("port header missing or not in 1-65535")]
    BadPort,
    /// `requestid` not printable ASCII or longer than [`MAX_REQUEST_ID_LEN`].
    #[error("invalid request id")]
    BadRequestId,
    /// A second stream of the same type for one request id.
    #[error("duplicate {} stream for request {request_id}", kind.name())]
    Duplicate {
        /// The request id.
        request_id: String,
        /// The repeated stream type.
        kind: StreamKind,
    },
    /// The pair's two streams name different ports.
    #[error("streams of request {request_id} name different ports")]
    PortMismatch {
        /// The request id.
        request_id: String,
    },
    /// More than [`MAX_PAIRS`] pairs on the connection.
    #[error("too many forwarded connections")]
    TooManyPairs,
}

/// One stream's validated headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamHeaders {
    /// `error` or `data`.
    pub kind: StreamKind,
    /// The pod port.
    pub port: u16,
    /// The request id (given, or derived from the stream id).
    pub request_id: String,
}

impl StreamHeaders {
    /// Validates the headers of stream `id` like the kubelet.
    pub fn parse(id: StreamId, headers: &HeaderBlock) -> Result<StreamHeaders, PairError> {
        let text = |name| headers.get(name).and_then(|v| std::str::from_utf8(v).ok());
        let kind = match headers.get("streamtype").map(|v| &v[..]) {
            None => return Err(PairError::MissingStreamType),
            Some(b"error") => StreamKind::Error,
            Some(b"data") => StreamKind::Data,
            Some(_) => return Err(PairError::UnknownStreamType),
        };
        let port = text("port")
            .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|p| p.parse::<u16>().ok())
            .filter(|p| *p != 0)
            .ok_or(PairError::BadPort)?;
        let request_id = match headers.get("requestid") {
            Some(v) if !v.is_empty() => {
                if v.len() > MAX_REQUEST_ID_LEN || !v.iter().all(|b| b.is_ascii_graphic()) {
                    return Err(PairError::BadRequestId);
                }
                String::from_utf8_lossy(v).into_owned()
            }
            // Older clients: the kubelet takes the error stream's id, and the data
            // stream's id minus 2 (both streams of a pair are consecutive odd ids).
            _ => match kind {
                StreamKind::Error => id.to_string(),
                StreamKind::Data => id.wrapping_sub(2).to_string(),
            },
        };
        Ok(StreamHeaders {
            kind,
            port,
            request_id,
        })
    }
}

/// Two streams joined: one forwarded connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pair {
    /// The request id.
    pub request_id: String,
    /// The pod port.
    pub port: u16,
    /// The error stream.
    pub error: StreamId,
    /// The data stream.
    pub data: StreamId,
}

/// Half a pair, waiting for its other stream.
#[derive(Debug)]
struct Half {
    port: u16,
    error: Option<StreamId>,
    data: Option<StreamId>,
    since: Instant,
}

/// Joins streams into pairs. See the module docs.
#[derive(Debug, Default)]
pub struct Assembler {
    pending: HashMap<String, Half>,
    live: HashSet<String>,
}

impl Assembler {
    /// An empty assembler.
    pub fn new() -> Assembler {
        Assembler::default()
    }

    /// Adds stream `id`; returns the pair it completes, if any. On `Err` the stream is not
    /// added (refuse it) and the pair it would have joined is unchanged.
    pub fn add(
        &mut self,
        id: StreamId,
        headers: StreamHeaders,
        now: Instant,
    ) -> Result<Option<Pair>, PairError> {
        let StreamHeaders {
            kind,
            port,
            request_id,
        } = headers;
        if self.live.contains(&request_id) {
            return Err(PairError::Duplicate { request_id, kind });
        }
        let Some(half) = self.pending.get_mut(&request_id) else {
            if self.pending.len() + self.live.len() >= MAX_PAIRS {
                return Err(PairError::TooManyPairs);
            }
            let (error, data) = match kind {
                StreamKind::Error => (Some(id), None),
                StreamKind::Data => (None, Some(id)),
            };
            let half = Half {
                port,
                error,
                data,
                since: now,
            };
            self.pending.insert(request_id, half);
            return Ok(None);
        };
        let slot = match kind {
            StreamKind::Error => &mut half.error,
            StreamKind::Data => &mut half.data,
        };
        if slot.is_some() {
            return Err(PairError::Duplicate { request_id, kind });
        }
        if half.port != port {
            return Err(PairError::PortMismatch { request_id });
        }
        *slot = Some(id);
        let (Some(error), Some(data)) = (half.error, half.data) else {
            return Ok(None);
        };
        self.pending.remove(&request_id);
        self.live.insert(request_id.clone());
        Ok(Some(Pair {
            request_id,
            port,
            error,
            data,
        }))
    }

    /// The pair with `request_id` is over: its id may be used again.
    pub fn finished(&mut self, request_id: &str) {
        self.live.remove(request_id);
    }

    /// Removes the incomplete pair holding stream `id`; returns its streams.
    pub fn abandon(&mut self, id: StreamId) -> Vec<StreamId> {
        let key = self
            .pending
            .iter()
            .find(|(_, h)| h.error == Some(id) || h.data == Some(id))
            .map(|(k, _)| k.clone());
        key.and_then(|k| self.pending.remove(&k))
            .map(|h| h.error.into_iter().chain(h.data).collect())
            .unwrap_or_default()
    }

    /// Removes the pairs incomplete for longer than [`PAIR_TIMEOUT`]; returns their streams.
    pub fn expired(&mut self, now: Instant) -> Vec<StreamId> {
        let mut streams = Vec::new();
        self.pending.retain(|_, h| {
            let keep = now.duration_since(h.since) < PAIR_TIMEOUT;
            if !keep {
                streams.extend(h.error.into_iter().chain(h.data));
            }
            keep
        });
        streams
    }

    /// Pairs assembled and not finished.
    pub fn live(&self) -> usize {
        self.live.len()
    }

    /// Pairs waiting for their second stream.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
#[path = "pairs_tests.rs"]
mod tests;
