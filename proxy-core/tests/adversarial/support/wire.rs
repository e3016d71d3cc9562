//! Client-side wire framing built by hand, so every field can lie: SPDY/3 header blocks
//! and frames, WebSocket frames, and the two upgrade header sets.

use base64::Engine as _;
use bytes::{BufMut, Bytes, BytesMut};
use flate2::{Compress, Compression, FlushCompress};
use proxy_core::spdy::decoder::FrameDecoder;
use proxy_core::spdy::frame::{Frame, GoAway};
use proxy_core::spdy::zlib::DICTIONARY;
use tokio::io::AsyncReadExt;

use kubewitness_sim::testbed::Testbed;

use super::{EXEC_PATH, Tls, request, timed, write_raw};

/// Deflates header blocks the way a SPDY client does: one zlib stream per connection, the
/// SPDY dictionary, a sync flush per block. Takes raw (uncompressed) blocks, so malformed
/// blocks can be built too.
pub(crate) struct Deflater(Compress);

impl Deflater {
    pub(crate) fn new() -> Deflater {
        let mut z = Compress::new(Compression::default(), true);
        z.set_dictionary(DICTIONARY).expect("dictionary");
        Deflater(z)
    }

    pub(crate) fn compress(&mut self, raw: &[u8]) -> Bytes {
        let mut out = Vec::with_capacity(raw.len() / 64 + 256);
        let mut consumed = 0;
        loop {
            let before = self.0.total_in();
            self.0
                .compress_vec(&raw[consumed..], &mut out, FlushCompress::Sync)
                .expect("deflate");
            consumed += (self.0.total_in() - before) as usize;
            if consumed == raw.len() && out.len() < out.capacity() {
                return out.into();
            }
            out.reserve(out.capacity().max(256));
        }
    }
}

/// An uncompressed SPDY/3 header block: count, then length-prefixed names and values.
pub(crate) fn raw_block(pairs: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    out.put_u32(pairs.len() as u32);
    for (name, value) in pairs {
        out.put_u32(name.len() as u32);
        out.put_slice(name);
        out.put_u32(value.len() as u32);
        out.put_slice(value);
    }
    out
}

/// The client end of a SPDY connection after a hand-made upgrade.
pub(crate) struct Spdy {
    pub(crate) io: Tls,
    buf: BytesMut,
    decoder: FrameDecoder,
    pub(crate) deflate: Deflater,
}

impl Spdy {
    /// Upgrades an exec of `query` to SPDY/3.1 (v4) and asserts the 101.
    pub(crate) async fn exec(bed: &Testbed, query: &str) -> Spdy {
        Spdy::upgrade(bed, &format!("{EXEC_PATH}?{query}"), &spdy_headers()).await
    }

    /// POSTs an upgrade of `target` with `headers` and asserts the 101.
    pub(crate) async fn upgrade(bed: &Testbed, target: &str, headers: &[(&str, String)]) -> Spdy {
        let (res, io, rest) = request(bed, "POST", target, headers).await;
        assert_eq!(res.status, 101, "{res:?}");
        Spdy {
            io,
            buf: rest,
            decoder: FrameDecoder::new(),
            deflate: Deflater::new(),
        }
    }

    /// Writes raw bytes; `false` once the server has closed the connection.
    pub(crate) async fn send_raw(&mut self, bytes: &[u8]) -> bool {
        write_raw(&mut self.io, bytes).await
    }

    pub(crate) async fn send(&mut self, frame: &Frame) -> bool {
        let mut buf = BytesMut::new();
        frame.encode(&mut buf);
        self.send_raw(&buf).await
    }

    /// A SYN_STREAM with `header_block` already compressed.
    pub(crate) fn syn_stream(&mut self, id: u32, streamtype: &str) -> Frame {
        let block = self
            .deflate
            .compress(&raw_block(&[(b"streamtype", streamtype.as_bytes())]));
        Frame::SynStream(proxy_core::spdy::frame::SynStream::new(id, block))
    }

    /// Opens streams 1, 3, 5… of `types` like kubectl: each waits for its SYN_REPLY.
    pub(crate) async fn open(&mut self, types: &[&str]) {
        for (i, ty) in types.iter().enumerate() {
            let id = 2 * i as u32 + 1;
            let syn = self.syn_stream(id, ty);
            assert!(self.send(&syn).await, "send SYN_STREAM {ty}");
            match self.next().await {
                Some(Frame::SynReply(r)) => assert_eq!(r.stream_id, id),
                other => panic!("no SYN_REPLY for {ty}: {other:?}"),
            }
        }
    }

    /// The next frame from kubewitness; `None` when it closed the connection. Fails on a hang
    /// and on bytes that are not SPDY.
    pub(crate) async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.buf).expect("valid SPDY") {
                return Some(frame);
            }
            match timed("read a SPDY frame", self.io.read_buf(&mut self.buf)).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// Reads until kubewitness closes, returning its GOAWAY (the last one) and every RST.
    pub(crate) async fn until_closed(&mut self) -> (Option<GoAway>, Vec<Frame>) {
        let (mut goaway, mut seen) = (None, Vec::new());
        while let Some(frame) = self.next().await {
            match frame {
                Frame::GoAway(g) => goaway = Some(g),
                other => seen.push(other),
            }
        }
        (goaway, seen)
    }
}

pub(crate) fn spdy_headers() -> Vec<(&'static str, String)> {
    vec![
        ("Connection", "Upgrade".into()),
        ("Upgrade", "SPDY/3.1".into()),
        ("X-Stream-Protocol-Version", "v4.channel.k8s.io".into()),
        ("Content-Length", "0".into()),
    ]
}

pub(crate) fn ws_headers(protocol: &str) -> Vec<(&'static str, String)> {
    let key: [u8; 16] = rand::random();
    vec![
        ("Connection", "Upgrade".into()),
        ("Upgrade", "websocket".into()),
        ("Sec-WebSocket-Version", "13".into()),
        (
            "Sec-WebSocket-Key",
            base64::engine::general_purpose::STANDARD.encode(key),
        ),
        ("Sec-WebSocket-Protocol", protocol.into()),
    ]
}

/// WebSocket opcodes used here.
pub(crate) const TEXT: u8 = 0x1;
pub(crate) const BINARY: u8 = 0x2;
pub(crate) const CLOSE: u8 = 0x8;
pub(crate) const PING: u8 = 0x9;

/// One frame from the server.
#[derive(Debug)]
pub(crate) struct WsFrame {
    pub(crate) opcode: u8,
    pub(crate) payload: Bytes,
}

impl WsFrame {
    /// The close code and reason of a close frame.
    pub(crate) fn close(&self) -> Option<(u16, String)> {
        (self.opcode == CLOSE && self.payload.len() >= 2).then(|| {
            (
                u16::from_be_bytes([self.payload[0], self.payload[1]]),
                String::from_utf8_lossy(&self.payload[2..]).into_owned(),
            )
        })
    }
}

/// A masked client frame, built by hand (so FIN, opcode and the length can lie).
pub(crate) fn ws_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    ws_frame_claiming(fin, opcode, payload, payload.len() as u64)
}

/// Like [`ws_frame`] but with `claimed` in the length field.
pub(crate) fn ws_frame_claiming(fin: bool, opcode: u8, payload: &[u8], claimed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    out.push(if fin { 0x80 } else { 0 } | opcode);
    match claimed {
        0..=125 => out.push(0x80 | claimed as u8),
        126..=0xffff => {
            out.push(0x80 | 126);
            out.put_u16(claimed as u16);
        }
        _ => {
            out.push(0x80 | 127);
            out.put_u64(claimed);
        }
    }
    let mask: [u8; 4] = rand::random();
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// The client end of a WebSocket after a hand-made upgrade.
pub(crate) struct Ws {
    pub(crate) io: Tls,
    buf: BytesMut,
}

impl Ws {
    /// Upgrades an exec of `query` with sub-protocol `protocol` and asserts the 101.
    pub(crate) async fn exec(bed: &Testbed, query: &str, protocol: &str) -> Ws {
        let (res, io, rest) = request(
            bed,
            "GET",
            &format!("{EXEC_PATH}?{query}"),
            &ws_headers(protocol),
        )
        .await;
        assert_eq!(res.status, 101, "{res:?}");
        Ws { io, buf: rest }
    }

    /// Writes raw bytes; `false` once the server has closed the connection.
    pub(crate) async fn send_raw(&mut self, bytes: &[u8]) -> bool {
        write_raw(&mut self.io, bytes).await
    }

    /// A binary message `[channel][payload]`.
    pub(crate) async fn send_channel(&mut self, channel: u8, payload: &[u8]) -> bool {
        let mut msg = vec![channel];
        msg.extend_from_slice(payload);
        self.send_raw(&ws_frame(true, BINARY, &msg)).await
    }

    /// The next frame; `None` when the server closed the connection.
    pub(crate) async fn next(&mut self) -> Option<WsFrame> {
        loop {
            if let Some(frame) = self.parse() {
                return Some(frame);
            }
            match timed("read a websocket frame", self.io.read_buf(&mut self.buf)).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    fn parse(&mut self) -> Option<WsFrame> {
        let b = &self.buf[..];
        if b.len() < 2 {
            return None;
        }
        assert_eq!(b[1] & 0x80, 0, "server frames are not masked");
        let (len, at) = match b[1] & 0x7f {
            126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
            127 if b.len() >= 10 => (
                u64::from_be_bytes(b[2..10].try_into().expect("8 bytes")) as usize,
                10,
            ),
            126 | 127 => return None,
            n => (n as usize, 2),
        };
        if b.len() < at + len {
            return None;
        }
        let opcode = b[0] & 0x0f;
        let mut frame = self.buf.split_to(at + len);
        Some(WsFrame {
            opcode,
            payload: frame.split_off(at).freeze(),
        })
    }

    /// Reads until the server's close frame (or the connection closes): its code and reason,
    /// and the data messages seen before it.
    pub(crate) async fn until_close(&mut self) -> (Option<(u16, String)>, Vec<Bytes>) {
        let mut data = Vec::new();
        while let Some(frame) = self.next().await {
            if frame.opcode == CLOSE {
                return (frame.close(), data);
            }
            if frame.opcode == BINARY || frame.opcode == TEXT {
                data.push(frame.payload);
            }
        }
        (None, data)
    }
}
