//! The streaming frame decoder: `BytesMut` in, [`Frame`]s out.
//!
//! An explicit state machine with one function per state: `DecodeState::Head` waits for
//! the 8-byte head, validates it and checks its length against [`MAX_DATA_FRAME_LEN`] /
//! [`MAX_CONTROL_FRAME_LEN`] *before* reserving anything; `DecodeState::Payload` waits
//! for the whole payload and splits it off the buffer without copying
//! (`split_to(n).freeze()`). `Ok(None)` means "need more bytes"; `Err` means the input is
//! invalid and the connection must end. Header blocks stay compressed: inflating them is
//! the connection's job ([`super::zlib::HeaderDecompressor`]), in frame order.

use bytes::BytesMut;

use super::Error;
use super::frame::{Frame, HEAD_LEN, Head, HeadKind};

/// Largest DATA payload we buffer. The wire allows 2^24-1; Go peers write at most 32 KiB
/// per frame in practice (io.Copy buffers), so 1 MiB leaves ample room.
pub const MAX_DATA_FRAME_LEN: u32 = 1024 * 1024;
/// Largest control frame payload we buffer. kubectl's frames are tens of bytes.
pub const MAX_CONTROL_FRAME_LEN: u32 = 64 * 1024;

/// Where the decoder is within the current frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DecodeState {
    /// Waiting for the 8 head bytes.
    Head,
    /// The head is parsed and validated; waiting for `head.length` payload bytes.
    Payload {
        /// The parsed head.
        head: Head,
    },
}

/// Decodes frames from a connection's read buffer. One per connection direction.
#[derive(Debug)]
pub struct FrameDecoder {
    state: DecodeState,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder::new()
    }
}

impl FrameDecoder {
    /// A decoder at a frame boundary.
    pub fn new() -> FrameDecoder {
        FrameDecoder {
            state: DecodeState::Head,
        }
    }

    /// Whether the decoder is between frames (nothing partially consumed from `buf`).
    pub fn at_boundary(&self) -> bool {
        self.state == DecodeState::Head
    }

    /// Takes the next whole frame from `buf`: `Ok(None)` when more bytes are needed.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, Error> {
        loop {
            let next = match self.state {
                DecodeState::Head => self.decode_head(buf)?,
                DecodeState::Payload { head } => return self.decode_payload(buf, head),
            };
            if !next {
                return Ok(None);
            }
        }
    }

    /// Parses and bounds the head; returns whether it moved on to the payload.
    fn decode_head(&mut self, buf: &mut BytesMut) -> Result<bool, Error> {
        let Some(bytes) = buf.first_chunk::<HEAD_LEN>() else {
            return Ok(false);
        };
        let head = Head::parse(bytes)?;
        let max = match head.kind {
            HeadKind::Data { .. } => MAX_DATA_FRAME_LEN,
            HeadKind::Control(_) => MAX_CONTROL_FRAME_LEN,
        };
        if head.length > max {
            return Err(Error::limit(format!(
                "frame of {} bytes exceeds {max}",
                head.length
            )));
        }
        let _ = buf.split_to(HEAD_LEN);
        // Room for the rest of the payload only (bounded above); no-op when it is here.
        buf.reserve((head.length as usize).saturating_sub(buf.len()));
        self.state = DecodeState::Payload { head };
        Ok(true)
    }

    /// Waits for the whole payload, then builds the frame.
    fn decode_payload(&mut self, buf: &mut BytesMut, head: Head) -> Result<Option<Frame>, Error> {
        let len = head.length as usize;
        if buf.len() < len {
            return Ok(None);
        }
        let payload = buf.split_to(len).freeze();
        self.state = DecodeState::Head;
        Frame::parse(head, payload).map(Some)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::spdy::frame::{Data, GoAway, GoAwayStatus, Ping, RstStatus};
    use crate::spdy::zlib::HeaderDecompressor;

    /// Loads a hex capture from `testdata/` (made by `testdata/make_capture.py`).
    pub(crate) fn capture(name: &str) -> Vec<u8> {
        let path = format!("{}/src/spdy/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(path).unwrap();
        let hex: String = text.split_whitespace().collect();
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Feeds `chunks` one after another, collecting every frame.
    fn decode_chunks<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Vec<Frame> {
        let mut dec = FrameDecoder::new();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            while let Some(f) = dec.decode(&mut buf).unwrap() {
                out.push(f);
            }
        }
        assert!(buf.is_empty() && dec.at_boundary());
        out
    }

    fn every_split_is_identical(name: &str) -> Vec<Frame> {
        let wire = capture(name);
        let whole = decode_chunks([&wire[..]]);
        for at in 0..=wire.len() {
            let (a, b) = wire.split_at(at);
            assert_eq!(decode_chunks([a, b]), whole, "split at {at}");
        }
        assert_eq!(decode_chunks(wire.chunks(1)), whole, "byte by byte");
        assert_eq!(decode_chunks(wire.chunks(7)), whole, "7-byte chunks");
        whole
    }

    #[test]
    fn kubectl_capture_splits_at_every_offset() {
        let frames = every_split_is_identical("kubectl_exec_tty.hex");
        assert_eq!(frames.len(), 10);
        let mut z = HeaderDecompressor::new();
        let mut types = Vec::new();
        for f in &frames {
            if let Frame::SynStream(s) = f {
                assert_eq!(s.priority, 0);
                let h = z.decompress(&s.header_block).unwrap();
                types.push((s.stream_id, h.get("streamtype").unwrap().clone()));
            }
        }
        assert_eq!(
            types,
            [
                (1, "error".into()),
                (3, "stdin".into()),
                (5, "stdout".into()),
                (7, "resize".into())
            ]
        );
        assert_eq!(
            frames[7],
            Frame::Data(Data {
                stream_id: 3,
                fin: true,
                payload: Bytes::new()
            })
        );
        assert_eq!(frames[8], Frame::Ping(Ping { id: 3 }));
        assert_eq!(
            frames[9],
            Frame::GoAway(GoAway {
                last_good_stream_id: 0,
                status: GoAwayStatus::OK
            })
        );
    }

    #[test]
    fn kubelet_capture_splits_at_every_offset() {
        let frames = every_split_is_identical("kubelet_exec_tty.hex");
        let mut z = HeaderDecompressor::new();
        for f in &frames {
            if let Frame::SynReply(r) = f {
                assert!(z.decompress(&r.header_block).unwrap().is_empty());
            }
        }
        let resets: Vec<_> = frames
            .iter()
            .filter_map(|f| match f {
                Frame::RstStream(r) => Some((r.stream_id, r.status)),
                _ => None,
            })
            .collect();
        assert_eq!(resets, [(1, RstStatus::CANCEL), (5, RstStatus::CANCEL)]);
    }

    #[test]
    fn data_payload_is_a_slice_of_the_read_buffer() {
        let mut buf = BytesMut::new();
        Data {
            stream_id: 1,
            fin: false,
            payload: Bytes::from_static(b"zero-copy"),
        }
        .encode(&mut buf);
        let base = buf.as_ptr() as usize;
        let Some(Frame::Data(d)) = FrameDecoder::new().decode(&mut buf).unwrap() else {
            panic!("not data");
        };
        assert_eq!(d.payload.as_ptr() as usize, base + HEAD_LEN);
    }

    #[test]
    fn need_more_is_not_an_error() {
        let mut dec = FrameDecoder::new();
        let mut buf = BytesMut::from(&[0x80, 0x03, 0x00][..]);
        assert_eq!(dec.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(&[0x06, 0, 0, 0, 4, 0, 0]);
        assert_eq!(dec.decode(&mut buf).unwrap(), None);
        assert!(!dec.at_boundary());
        buf.extend_from_slice(&[0, 9]);
        assert_eq!(
            dec.decode(&mut buf).unwrap(),
            Some(Frame::Ping(Ping { id: 9 }))
        );
    }

    #[test]
    fn oversized_frames_fail_from_the_head_alone() {
        let mut dec = FrameDecoder::new();
        let len = MAX_DATA_FRAME_LEN + 1;
        let mut buf = BytesMut::from(&[0, 0, 0, 1][..]);
        buf.extend_from_slice(&len.to_be_bytes());
        assert!(dec.decode(&mut buf).unwrap_err().is_limit());
        // Exactly the limit is accepted (and waits for the payload).
        let mut dec = FrameDecoder::new();
        let mut buf = BytesMut::from(&[0, 0, 0, 1][..]);
        buf.extend_from_slice(&MAX_DATA_FRAME_LEN.to_be_bytes());
        assert_eq!(dec.decode(&mut buf).unwrap(), None);
        let mut dec = FrameDecoder::new();
        let mut buf = BytesMut::from(&[0x80, 0x03, 0x00, 0x01][..]);
        buf.extend_from_slice(&(MAX_CONTROL_FRAME_LEN + 1).to_be_bytes());
        assert!(dec.decode(&mut buf).unwrap_err().is_limit());
    }

    #[test]
    fn garbage_is_invalid() {
        let mut dec = FrameDecoder::new();
        let mut buf = BytesMut::from(&b"GET / HTTP/1.1\r\n"[..]);
        // "GET " reads as a data head whose length " HT" (2 MiB) is over the limit.
        assert!(dec.decode(&mut buf).unwrap_err().is_limit());
        let mut dec = FrameDecoder::new();
        let mut buf = BytesMut::from(&[0xff; 16][..]);
        assert!(dec.decode(&mut buf).unwrap_err().is_protocol());
    }
}
