//! The header-block compression contexts: one continuous zlib stream per direction for the
//! whole connection, primed with the SPDY/3 dictionary, sync-flushed after every block and
//! never finished (SPDY/3.1 §2.6.10.1; spdystream `spdy/write.go`, `spdy/read.go`).
//!
//! The first block of a direction starts `78 f9 e3 c6 a7 c2` (FDICT + the dictionary's
//! Adler-32) and every block ends `00 00 ff ff`. Inflation is bounded twice: the compressed
//! block by [`MAX_COMPRESSED_BLOCK`] and the output by [`MAX_DECOMPRESSED_BLOCK`], which is
//! the zlib-bomb defence: the output buffer never grows past the limit (+1 byte to detect
//! the overflow), and inflating stops as soon as it is reached.

use bytes::Bytes;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::Error;
use super::header_block::HeaderBlock;

/// The SPDY/3 header compression dictionary (spec §2.6.10.1; spdystream
/// `spdy/dictionary.go` `headerDictionary`).
pub const DICTIONARY: &[u8; 1423] = include_bytes!("dictionary.bin");
/// Adler-32 of [`DICTIONARY`]: the DICTID in the zlib header.
pub const DICTIONARY_ADLER32: u32 = 0xe3c6_a7c2;

/// Largest compressed header block accepted in one frame.
pub const MAX_COMPRESSED_BLOCK: usize = 16 * 1024;
/// Largest decompressed header block accepted (zlib-bomb bound).
pub const MAX_DECOMPRESSED_BLOCK: usize = 64 * 1024;

/// First output allocation when inflating; doubled up to the limit.
const INITIAL_OUTPUT: usize = 1024;

/// Compresses our header blocks (one per connection, used in frame order).
pub struct HeaderCompressor {
    z: Compress,
}

impl std::fmt::Debug for HeaderCompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeaderCompressor")
            .field("total_in", &self.z.total_in())
            .finish()
    }
}

impl Default for HeaderCompressor {
    fn default() -> Self {
        HeaderCompressor::new()
    }
}

impl HeaderCompressor {
    /// A fresh context: zlib header, best compression (like Go), the SPDY dictionary.
    pub fn new() -> HeaderCompressor {
        let mut z = Compress::new(Compression::best(), true);
        // Setting a dictionary on a fresh deflate stream cannot fail.
        let adler = z.set_dictionary(DICTIONARY).ok();
        debug_assert_eq!(adler, Some(DICTIONARY_ADLER32));
        HeaderCompressor { z }
    }

    /// Compresses `block` and sync-flushes: the result is one frame's header block.
    pub fn compress(&mut self, block: &HeaderBlock) -> Result<Bytes, Error> {
        let mut raw = Vec::with_capacity(block.encoded_len());
        block.encode(&mut raw);
        let mut out = Vec::with_capacity(raw.len() + 64);
        let mut consumed = 0;
        loop {
            let before = self.z.total_in();
            self.z
                .compress_vec(&raw[consumed..], &mut out, FlushCompress::Sync)
                .map_err(|_| Error::protocol("header compression failed"))?;
            consumed += (self.z.total_in() - before) as usize;
            // Done when all input is in and deflate left room: the flush is complete.
            if consumed == raw.len() && out.len() < out.capacity() {
                return Ok(out.into());
            }
            out.reserve(out.capacity().max(64));
        }
    }
}

/// Inflates the peer's header blocks (one per connection, fed in frame order).
pub struct HeaderDecompressor {
    z: Decompress,
}

impl std::fmt::Debug for HeaderDecompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeaderDecompressor")
            .field("total_in", &self.z.total_in())
            .finish()
    }
}

impl Default for HeaderDecompressor {
    fn default() -> Self {
        HeaderDecompressor::new()
    }
}

impl HeaderDecompressor {
    /// A fresh context expecting a zlib header (with or without FDICT).
    pub fn new() -> HeaderDecompressor {
        HeaderDecompressor {
            z: Decompress::new(true),
        }
    }

    /// Inflates one frame's compressed block and parses it. Every compressed byte must be
    /// consumed and the result must be exactly one header block.
    pub fn decompress(&mut self, compressed: &[u8]) -> Result<HeaderBlock, Error> {
        if compressed.len() > MAX_COMPRESSED_BLOCK {
            return Err(Error::limit(format!(
                "compressed header block of {} bytes",
                compressed.len()
            )));
        }
        HeaderBlock::parse(self.inflate(compressed)?)
    }

    fn inflate(&mut self, input: &[u8]) -> Result<Bytes, Error> {
        let mut out = Vec::with_capacity(INITIAL_OUTPUT.min(MAX_DECOMPRESSED_BLOCK + 1));
        let mut consumed = 0;
        loop {
            let (in_before, out_before) = (self.z.total_in(), out.len());
            let result = self
                .z
                .decompress_vec(&input[consumed..], &mut out, FlushDecompress::Sync);
            // flate2 counts consumed input even when it reports an error.
            consumed += (self.z.total_in() - in_before) as usize;
            match result {
                Ok(Status::Ok) | Ok(Status::BufError) => {}
                Ok(Status::StreamEnd) => {
                    return Err(Error::protocol("peer finished its header zlib stream"));
                }
                Err(e) => match e.needs_dictionary() {
                    Some(DICTIONARY_ADLER32) => {
                        self.z
                            .set_dictionary(DICTIONARY)
                            .map_err(|_| Error::protocol("header dictionary rejected"))?;
                        continue;
                    }
                    Some(other) => {
                        return Err(Error::protocol(format!(
                            "header block wants unknown dictionary {other:#010x}"
                        )));
                    }
                    None => return Err(Error::protocol("corrupt header block")),
                },
            }
            if out.len() > MAX_DECOMPRESSED_BLOCK {
                return Err(Error::limit("decompressed header block too large"));
            }
            if out.len() == out.capacity() {
                // Grow, but never past the limit + 1 byte that detects an overflow.
                let target = (out.capacity() * 2).min(MAX_DECOMPRESSED_BLOCK + 1);
                out.reserve_exact(target - out.len());
            } else if consumed == input.len() {
                // All input in and room left over: inflate has flushed everything.
                return Ok(Bytes::from(out));
            } else if self.z.total_in() == in_before && out.len() == out_before {
                return Err(Error::protocol("header block stalled"));
            }
        }
    }
}

#[cfg(test)]
mod tests;
