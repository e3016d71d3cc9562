//! The resize channel's payload: a stream of `{"Width":<u16>,"Height":<u16>}` JSON objects
//! (client-go `TerminalSize`, written by `json.Encoder`, so usually newline-separated).
//!
//! It is a *stream*, not one object per frame: an object may span frames and a frame may hold
//! several. Like Go's `json.Decoder`, keys match case-insensitively. Bytes of an unfinished
//! object are kept (at most [`MAX_RESIZE_PENDING`]) until the rest arrives.

use bytes::{Buf, BytesMut};
use serde_json::Value;

/// The most bytes of an unfinished resize object kept between frames.
pub const MAX_RESIZE_PENDING: usize = 4096;

/// A terminal size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TerminalSize {
    /// Columns.
    pub width: u16,
    /// Rows.
    pub height: u16,
}

/// Why the resize stream is unusable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ResizeError {
    /// Not a JSON object of two `uint16` sizes.
    #[error("invalid resize message at byte {offset}")]
    Invalid {
        /// The offset of the bad object in the stream.
        offset: u64,
    },
    /// An object grew beyond [`MAX_RESIZE_PENDING`] bytes without ending.
    #[error("resize message longer than {MAX_RESIZE_PENDING} bytes")]
    TooLong,
}

/// Decodes a resize stream incrementally.
#[derive(Debug, Default)]
pub struct ResizeDecoder {
    pending: BytesMut,
    consumed: u64,
}

fn size_field(object: &serde_json::Map<String, Value>, name: &str) -> Option<u16> {
    let (_, v) = object.iter().find(|(k, _)| k.eq_ignore_ascii_case(name))?;
    u16::try_from(v.as_u64()?).ok()
}

impl ResizeDecoder {
    /// Feeds `bytes` and returns every size they complete, in order.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<TerminalSize>, ResizeError> {
        self.pending.extend_from_slice(bytes);
        let mut sizes = Vec::new();
        let mut stream = serde_json::Deserializer::from_slice(&self.pending).into_iter::<Value>();
        let mut done = 0;
        loop {
            match stream.next() {
                None => {
                    done = stream.byte_offset();
                    break;
                }
                Some(Ok(Value::Object(o))) => {
                    done = stream.byte_offset();
                    // Missing fields decode as zero in Go.
                    let (width, height) = (size_field(&o, "width"), size_field(&o, "height"));
                    let valid = |k: &str, f: Option<u16>| {
                        f.is_some() || !o.keys().any(|x| x.eq_ignore_ascii_case(k))
                    };
                    if !valid("width", width) || !valid("height", height) {
                        return Err(ResizeError::Invalid {
                            offset: self.consumed,
                        });
                    }
                    sizes.push(TerminalSize {
                        width: width.unwrap_or(0),
                        height: height.unwrap_or(0),
                    });
                }
                Some(Err(e)) if e.is_eof() => break,
                Some(_) => {
                    return Err(ResizeError::Invalid {
                        offset: self.consumed + done as u64,
                    });
                }
            }
        }
        self.pending.advance(done);
        self.consumed += done as u64;
        if self.pending.len() > MAX_RESIZE_PENDING {
            return Err(ResizeError::TooLong);
        }
        Ok(sizes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &[u8] = b"{\"Width\":80,\"Height\":24}\n{\"width\":132,\"HEIGHT\":43}\n";

    #[test]
    fn decodes_the_same_at_every_split() {
        let want = vec![
            TerminalSize {
                width: 80,
                height: 24,
            },
            TerminalSize {
                width: 132,
                height: 43,
            },
        ];
        for a in 0..=STREAM.len() {
            for b in a..=STREAM.len() {
                let mut d = ResizeDecoder::default();
                let mut got = d.push(&STREAM[..a]).unwrap();
                got.extend(d.push(&STREAM[a..b]).unwrap());
                got.extend(d.push(&STREAM[b..]).unwrap());
                assert_eq!(got, want, "split at {a}/{b}");
            }
        }
    }

    #[test]
    fn rejects_bad_and_oversized_messages() {
        let mut d = ResizeDecoder::default();
        assert!(matches!(
            d.push(b"{\"Width\":80}\n[1]"),
            Err(ResizeError::Invalid { .. })
        ));
        let mut d = ResizeDecoder::default();
        assert!(matches!(
            d.push(b"{\"Width\":70000,\"Height\":1}"),
            Err(ResizeError::Invalid { .. })
        ));
        let mut d = ResizeDecoder::default();
        let mut long = b"{\"Width\":".to_vec();
        long.extend(std::iter::repeat_n(b' ', MAX_RESIZE_PENDING + 1));
        assert_eq!(d.push(&long), Err(ResizeError::TooLong));
    }
}
