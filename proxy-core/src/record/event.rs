//! Session events and their binary encoding inside a chunk payload.
//!
//! A chunk's (decompressed) payload is a sequence of event records:
//!
//! ```text
//! kind: u8 | time: u64 BE (microseconds since the session started) | len: u32 BE | body[len]
//! ```
//!
//! Kinds (see `docs/RECORDING-FORMAT.md`): 1 start (JSON [`SessionMeta`]), 2 data (channel
//! byte then the bytes as the client saw or sent them), 3 close (channel byte), 4 finding
//! (JSON), 5 policy (JSON). Resizes are data on channel 4, exactly as the client sent them.
//! Decoding is bounded: a body longer than [`MAX_EVENT_BODY`] is invalid, never allocated.

use bytes::{Buf, BufMut, Bytes};
use serde::{Deserialize, Serialize};

use crate::channel::Channel;

/// The largest event body: a frame (at most `MAX_FRAME_LEN`, 64 KiB) is far below it; JSON
/// events are small.
pub const MAX_EVENT_BODY: usize = 1 << 20;
/// Bytes before an event's body.
pub const EVENT_HEADER_LEN: usize = 1 + 8 + 4;

const KIND_START: u8 = 1;
const KIND_DATA: u8 = 2;
const KIND_CLOSE: u8 = 3;
const KIND_FINDING: u8 = 4;
const KIND_POLICY: u8 = 5;

/// What is known about a session when it starts: the first event of chunk 0.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionMeta {
    /// The session id (a ULID).
    pub session: String,
    /// `exec`, `attach`, `logs`, `portforward`, `mcp` (one MCP tool call) or `metrics` (a
    /// Prometheus gateway request).
    pub kind: String,
    /// The authenticated user.
    pub user: String,
    /// The user's uid, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// The user's groups.
    pub groups: Vec<String>,
    /// The cluster (the upstream server's name or URL).
    pub cluster: String,
    /// The namespace.
    pub namespace: String,
    /// The pod.
    pub pod: String,
    /// The container, if named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// The command (exec only).
    pub argv: Vec<String>,
    /// Whether the session has a TTY.
    pub tty: bool,
    /// Whether stdin was requested.
    pub stdin: bool,
    /// The client's transport and the upstream's (`websocket`, `spdy`, `http`).
    pub protocol: String,
    /// The client's address.
    pub client_addr: String,
    /// The pod port (port-forward only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The policy rule that allowed the session, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_rule: Option<String>,
    /// Start time, Unix milliseconds.
    pub start_ms: u64,
    /// SHA-256 fingerprint (hex) of the key that will sign the seal; `None` when unsigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
    /// The kubewitness instance whose digests list the session (version 2; absent in
    /// version 1 recordings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

/// A redaction finding: where a secret was replaced. Never the secret itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// The rule that matched.
    pub rule: String,
    /// The channel.
    pub channel: u8,
    /// Offset of the secret in the channel's byte stream as upstream sent it (before
    /// redaction).
    pub offset: u64,
    /// Length of the secret (the client saw a mask instead).
    pub len: u64,
    /// A keyed fingerprint of the secret, so the same secret can be correlated.
    pub fingerprint: String,
}

/// A policy event: a cap hit, a timeout, a denial mid-session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyEvent {
    /// What happened (`capHit`, `idleTimeout`, …).
    pub kind: String,
    /// Details for humans.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// One event of a session's stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The session started.
    Start(Box<SessionMeta>),
    /// Bytes on a channel (stdin/resize from the client; stdout/stderr as the client saw them).
    Data {
        /// The channel.
        channel: Channel,
        /// The bytes.
        bytes: Bytes,
    },
    /// A channel was half-closed.
    Close(Channel),
    /// A redaction finding.
    Finding(Finding),
    /// A policy event.
    Policy(PolicyEvent),
}

/// An event with its time offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timed {
    /// Microseconds since the session started.
    pub t_us: u64,
    /// The event.
    pub event: Event,
}

/// A payload that does not decode.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventError {
    /// The payload ends inside an event.
    #[error("truncated event at payload offset {0}")]
    Truncated(usize),
    /// An event body is longer than [`MAX_EVENT_BODY`].
    #[error("event body of {0} bytes exceeds the limit")]
    TooLong(u64),
    /// An unknown event kind.
    #[error("unknown event kind {0}")]
    UnknownKind(u8),
    /// A data or close event names no channel.
    #[error("unknown channel {0}")]
    UnknownChannel(u8),
    /// A JSON body does not parse.
    #[error("malformed event body: {0}")]
    Json(String),
}

impl Timed {
    /// The encoded length.
    pub fn encoded_len(&self) -> usize {
        EVENT_HEADER_LEN + self.body_len()
    }

    fn body_len(&self) -> usize {
        match &self.event {
            Event::Data { bytes, .. } => 1 + bytes.len(),
            Event::Close(_) => 1,
            _ => self.json().len(),
        }
    }

    fn json(&self) -> Vec<u8> {
        let v = match &self.event {
            Event::Start(m) => serde_json::to_vec(m),
            Event::Finding(f) => serde_json::to_vec(f),
            Event::Policy(p) => serde_json::to_vec(p),
            Event::Data { .. } | Event::Close(_) => Ok(Vec::new()),
        };
        v.expect("plain structs serialize")
    }

    /// Appends the record to `dst`.
    pub fn encode<B: BufMut>(&self, dst: &mut B) {
        let (kind, json) = match &self.event {
            Event::Start(_) => (KIND_START, self.json()),
            Event::Finding(_) => (KIND_FINDING, self.json()),
            Event::Policy(_) => (KIND_POLICY, self.json()),
            Event::Data { .. } => (KIND_DATA, Vec::new()),
            Event::Close(_) => (KIND_CLOSE, Vec::new()),
        };
        dst.put_u8(kind);
        dst.put_u64(self.t_us);
        match &self.event {
            Event::Data { channel, bytes } => {
                dst.put_u32((1 + bytes.len()) as u32);
                dst.put_u8(channel.index());
                dst.put_slice(bytes);
            }
            Event::Close(channel) => {
                dst.put_u32(1);
                dst.put_u8(channel.index());
            }
            _ => {
                dst.put_u32(json.len() as u32);
                dst.put_slice(&json);
            }
        }
    }

    /// Decodes every event of a payload; data bytes are slices of `payload`.
    pub fn decode_all(payload: &Bytes) -> Result<Vec<Timed>, EventError> {
        let mut events = Vec::new();
        let mut at = 0;
        while at < payload.len() {
            let (event, used) = Timed::decode(payload, at)?;
            events.push(event);
            at += used;
        }
        Ok(events)
    }

    fn decode(payload: &Bytes, at: usize) -> Result<(Timed, usize), EventError> {
        let mut head = payload
            .get(at..at + EVENT_HEADER_LEN)
            .ok_or(EventError::Truncated(at))?;
        let kind = head.get_u8();
        let t_us = head.get_u64();
        let len = u64::from(head.get_u32());
        if len > MAX_EVENT_BODY as u64 {
            return Err(EventError::TooLong(len));
        }
        let start = at + EVENT_HEADER_LEN;
        let end = start + len as usize;
        if end > payload.len() {
            return Err(EventError::Truncated(at));
        }
        let body = payload.slice(start..end);
        let channel = || -> Result<Channel, EventError> {
            let n = *body.first().ok_or(EventError::Truncated(at))?;
            Channel::from_index(n).ok_or(EventError::UnknownChannel(n))
        };
        let json = |e: serde_json::Error| EventError::Json(e.to_string());
        let event = match kind {
            KIND_START => Event::Start(Box::new(serde_json::from_slice(&body).map_err(json)?)),
            KIND_DATA => Event::Data {
                channel: channel()?,
                bytes: body.slice(1..),
            },
            KIND_CLOSE if body.len() == 1 => Event::Close(channel()?),
            KIND_CLOSE => return Err(EventError::Json("close body is one byte".into())),
            KIND_FINDING => Event::Finding(serde_json::from_slice(&body).map_err(json)?),
            KIND_POLICY => Event::Policy(serde_json::from_slice(&body).map_err(json)?),
            other => return Err(EventError::UnknownKind(other)),
        };
        Ok((Timed { t_us, event }, EVENT_HEADER_LEN + len as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Timed> {
        vec![
            Timed {
                t_us: 0,
                event: Event::Start(Box::new(SessionMeta {
                    session: "01J".into(),
                    kind: "exec".into(),
                    user: "alice".into(),
                    ..Default::default()
                })),
            },
            Timed {
                t_us: 5,
                event: Event::Data {
                    channel: Channel::Stdout,
                    bytes: Bytes::from_static(b"hello\n"),
                },
            },
            Timed {
                t_us: 6,
                event: Event::Data {
                    channel: Channel::Stdin,
                    bytes: Bytes::new(),
                },
            },
            Timed {
                t_us: 7,
                event: Event::Close(Channel::Stdin),
            },
            Timed {
                t_us: 8,
                event: Event::Finding(Finding {
                    rule: "aws-key".into(),
                    channel: 1,
                    offset: 3,
                    len: 20,
                    fingerprint: "ab".into(),
                }),
            },
            Timed {
                t_us: 9,
                event: Event::Policy(PolicyEvent {
                    kind: "capHit".into(),
                    detail: String::new(),
                }),
            },
        ]
    }

    #[test]
    fn events_round_trip() {
        let events = sample();
        let mut buf = Vec::new();
        for e in &events {
            let before = buf.len();
            e.encode(&mut buf);
            assert_eq!(buf.len() - before, e.encoded_len());
        }
        assert_eq!(Timed::decode_all(&Bytes::from(buf)).unwrap(), events);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let mut buf = Vec::new();
        for e in sample() {
            e.encode(&mut buf);
        }
        let full = Bytes::from(buf);
        let ends = {
            let mut ends = vec![0];
            let mut at = 0;
            for e in sample() {
                at += e.encoded_len();
                ends.push(at);
            }
            ends
        };
        for cut in 0..full.len() {
            let r = Timed::decode_all(&full.slice(..cut));
            assert_eq!(r.is_ok(), ends.contains(&cut), "cut at {cut}");
        }
    }

    #[test]
    fn limits_and_unknowns_are_rejected() {
        let mut buf = vec![KIND_DATA];
        buf.extend_from_slice(&0u64.to_be_bytes());
        buf.extend_from_slice(&((MAX_EVENT_BODY + 1) as u32).to_be_bytes());
        assert_eq!(
            Timed::decode_all(&Bytes::from(buf)),
            Err(EventError::TooLong(MAX_EVENT_BODY as u64 + 1))
        );
        let mut buf = vec![99];
        buf.extend_from_slice(&[0; 12]);
        assert_eq!(
            Timed::decode_all(&Bytes::from(buf)),
            Err(EventError::UnknownKind(99))
        );
        let mut buf = vec![KIND_DATA];
        buf.extend_from_slice(&0u64.to_be_bytes());
        buf.extend_from_slice(&1u32.to_be_bytes());
        buf.push(9);
        assert_eq!(
            Timed::decode_all(&Bytes::from(buf)),
            Err(EventError::UnknownChannel(9))
        );
    }
}
