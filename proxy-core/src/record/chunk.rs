//! Chunk objects: a fixed binary header, then the zstd-compressed event payload.
//!
//! ```text
//! offset len  field
//!      0   4  magic "KWRC"
//!      4   1  format version (1)
//!      5   3  reserved, zero
//!      8  16  session id (ULID, 128-bit big-endian)
//!     24   8  sequence number, u64 BE, from 0, no gaps
//!     32  32  SHA-256 of the previous chunk object (all zero for chunk 0)
//!     64   4  event count, u32 BE
//!     68   4  decompressed payload length, u32 BE (at most MAX_PAYLOAD)
//!     72   4  compressed payload length, u32 BE (the object is exactly 76 + this)
//!     76   …  one zstd frame
//! ```
//!
//! The chunk hash is SHA-256 over the whole object (header and compressed payload), so
//! flipping any bit changes it, and the next chunk's `prev` (or the seal) no longer matches.

use std::io::Read;
use std::sync::Mutex;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use sha2::{Digest, Sha256};

use super::event::{EventError, Timed};

/// The magic bytes opening every chunk object.
pub const MAGIC: &[u8; 4] = b"KWRC";
/// The format version this code writes and reads.
pub const VERSION: u8 = 1;
/// Header length.
pub const HEADER_LEN: usize = 76;
/// The largest decompressed payload a reader accepts (bounds decompression memory).
pub const MAX_PAYLOAD: usize = 16 << 20;
/// zstd level: the fastest, still a good ratio on terminal output.
pub const ZSTD_LEVEL: i32 = 1;

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// The parsed header of a chunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkHeader {
    /// The session id.
    pub session: u128,
    /// The sequence number.
    pub seq: u64,
    /// The previous chunk's hash.
    pub prev: Hash,
    /// Events in the payload.
    pub events: u32,
    /// Decompressed payload length.
    pub raw_len: u32,
    /// Compressed payload length.
    pub zlen: u32,
}

/// Why a chunk object is invalid.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChunkError {
    /// Shorter than its header or its stated payload.
    #[error("truncated: {have} bytes, need {need}")]
    Truncated {
        /// Bytes present.
        have: usize,
        /// Bytes the header promises.
        need: usize,
    },
    /// Longer than its header says.
    #[error("{0} bytes after the payload")]
    Trailing(usize),
    /// Not a chunk.
    #[error("bad magic")]
    Magic,
    /// A version this code does not read.
    #[error("unsupported version {0}")]
    Version(u8),
    /// Reserved bytes are not zero.
    #[error("reserved bytes are not zero")]
    Reserved,
    /// The stated payload length is over [`MAX_PAYLOAD`].
    #[error("payload of {0} bytes exceeds the limit")]
    TooLarge(u32),
    /// The payload does not decompress to its stated length.
    #[error("payload does not decompress: {0}")]
    Compression(String),
    /// The payload's events do not decode or do not match the count.
    #[error("events: {0}")]
    Events(#[from] EventError),
    /// The event count does not match.
    #[error("header says {want} events, payload has {have}")]
    EventCount {
        /// From the header.
        want: u32,
        /// Decoded.
        have: usize,
    },
}

/// SHA-256 of an object.
pub fn hash(object: &[u8]) -> Hash {
    Sha256::digest(object).into()
}

/// How many idle zstd contexts are kept for reuse: one per core is enough to keep every
/// core compressing without allocating.
fn pool_limit() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

/// Idle zstd contexts, reused for every chunk. A fresh context per chunk (what
/// `zstd::bulk::compress` does) allocates and faults in about a megabyte of tables each time;
/// a context per thread would keep one per blocking thread (up to tokio's 512). The pool keeps
/// at most [`pool_limit`]: more compressions at once get a context of their own, dropped after.
static COMPRESSORS: Mutex<Vec<zstd::bulk::Compressor<'static>>> = Mutex::new(Vec::new());

/// Compresses `payload` at [`ZSTD_LEVEL`] with a pooled context.
fn compress(payload: &[u8]) -> std::io::Result<Vec<u8>> {
    let pooled = COMPRESSORS.lock().unwrap_or_else(|e| e.into_inner()).pop();
    let mut compressor = match pooled {
        Some(c) => c,
        None => zstd::bulk::Compressor::new(ZSTD_LEVEL)?,
    };
    let compressed = compressor.compress(payload);
    let mut pool = COMPRESSORS.lock().unwrap_or_else(|e| e.into_inner());
    if pool.len() < pool_limit() {
        pool.push(compressor);
    }
    compressed
}

/// Encodes a chunk object from an encoded event payload.
pub fn encode(
    session: u128,
    seq: u64,
    prev: &Hash,
    events: u32,
    payload: &[u8],
) -> std::io::Result<Bytes> {
    let z = compress(payload)?;
    let mut out = BytesMut::with_capacity(HEADER_LEN + z.len());
    out.put_slice(MAGIC);
    out.put_u8(VERSION);
    out.put_slice(&[0; 3]);
    out.put_u128(session);
    out.put_u64(seq);
    out.put_slice(prev);
    out.put_u32(events);
    out.put_u32(u32::try_from(payload.len()).map_err(std::io::Error::other)?);
    out.put_u32(u32::try_from(z.len()).map_err(std::io::Error::other)?);
    out.put_slice(&z);
    Ok(out.freeze())
}

impl ChunkHeader {
    /// Parses the header and checks the object's length against it.
    pub fn parse(object: &[u8]) -> Result<ChunkHeader, ChunkError> {
        let mut h = object.get(..HEADER_LEN).ok_or(ChunkError::Truncated {
            have: object.len(),
            need: HEADER_LEN,
        })?;
        if &h[..4] != MAGIC {
            return Err(ChunkError::Magic);
        }
        h.advance(4);
        let version = h.get_u8();
        if version != VERSION {
            return Err(ChunkError::Version(version));
        }
        if h[..3] != [0; 3] {
            return Err(ChunkError::Reserved);
        }
        h.advance(3);
        let session = h.get_u128();
        let seq = h.get_u64();
        let mut prev = [0; 32];
        h.copy_to_slice(&mut prev);
        let (events, raw_len, zlen) = (h.get_u32(), h.get_u32(), h.get_u32());
        if raw_len as usize > MAX_PAYLOAD {
            return Err(ChunkError::TooLarge(raw_len));
        }
        let need = HEADER_LEN + zlen as usize;
        if object.len() < need {
            return Err(ChunkError::Truncated {
                have: object.len(),
                need,
            });
        }
        if object.len() > need {
            return Err(ChunkError::Trailing(object.len() - need));
        }
        Ok(ChunkHeader {
            session,
            seq,
            prev,
            events,
            raw_len,
            zlen,
        })
    }
}

/// Parses a whole chunk object: header, bounded decompression, every event.
pub fn decode(object: &[u8]) -> Result<(ChunkHeader, Vec<Timed>), ChunkError> {
    let header = ChunkHeader::parse(object)?;
    // Streamed and bounded by the header's `raw_len`: memory grows with what the data really
    // inflates to, so a forged header cannot make a tiny object reserve `MAX_PAYLOAD`.
    let want = u64::from(header.raw_len);
    let mut raw = Vec::with_capacity((object.len() - HEADER_LEN).min(header.raw_len as usize));
    zstd::stream::read::Decoder::new(&object[HEADER_LEN..])
        .and_then(|d| d.take(want + 1).read_to_end(&mut raw))
        .map_err(|e| ChunkError::Compression(e.to_string()))?;
    if raw.len() != header.raw_len as usize {
        return Err(ChunkError::Compression(format!(
            "{} bytes, header says {}",
            raw.len(),
            header.raw_len
        )));
    }
    let events = Timed::decode_all(&Bytes::from(raw))?;
    if events.len() != header.events as usize {
        return Err(ChunkError::EventCount {
            want: header.events,
            have: events.len(),
        });
    }
    Ok((header, events))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::Channel;
    use crate::record::event::Event;

    fn object() -> (Bytes, Vec<Timed>) {
        let events: Vec<Timed> = (0..50)
            .map(|i| Timed {
                t_us: i,
                event: Event::Data {
                    channel: Channel::Stdout,
                    bytes: Bytes::from(format!("line {i}\n")),
                },
            })
            .collect();
        let mut payload = Vec::new();
        for e in &events {
            e.encode(&mut payload);
        }
        (encode(7, 3, &[9; 32], 50, &payload).unwrap(), events)
    }

    #[test]
    fn chunks_round_trip() {
        let (obj, events) = object();
        let (h, got) = decode(&obj).unwrap();
        assert_eq!((h.session, h.seq, h.prev, h.events), (7, 3, [9; 32], 50));
        assert_eq!(got, events);
    }

    #[test]
    fn every_truncation_and_extension_is_rejected() {
        let (obj, _) = object();
        for cut in 0..obj.len() {
            assert!(decode(&obj[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = obj.to_vec();
        longer.push(0);
        assert_eq!(decode(&longer).unwrap_err(), ChunkError::Trailing(1));
    }

    #[test]
    fn every_single_byte_flip_changes_the_hash_or_fails_to_decode() {
        let (obj, _) = object();
        let h = hash(&obj);
        for i in 0..obj.len() {
            let mut bad = obj.to_vec();
            bad[i] ^= 0x01;
            assert_ne!(hash(&bad), h);
            // Never a panic, whatever the byte.
            let _ = decode(&bad);
        }
    }

    #[test]
    fn oversized_payload_claims_are_refused_before_decompressing() {
        let (obj, _) = object();
        let mut bad = obj.to_vec();
        bad[68..72].copy_from_slice(&((MAX_PAYLOAD as u32) + 1).to_be_bytes());
        assert!(matches!(decode(&bad), Err(ChunkError::TooLarge(_))));
        let mut bad = obj.to_vec();
        bad[0] = b'X';
        assert_eq!(decode(&bad).unwrap_err(), ChunkError::Magic);
        let mut bad = obj.to_vec();
        bad[4] = 2;
        assert_eq!(decode(&bad).unwrap_err(), ChunkError::Version(2));
    }
}
