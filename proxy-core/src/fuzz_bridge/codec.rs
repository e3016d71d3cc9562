//! The pure codecs: SPDY frames, SPDY header blocks, WebSocket channel messages.

use bytes::{Bytes, BytesMut};

use super::input::{Input, chunks};
use crate::channel::{Channel, Frame as ChannelFrame, Msg};
use crate::spdy::decoder::FrameDecoder;
use crate::spdy::frame::Frame;
use crate::spdy::header_block::{
    HeaderBlock, MAX_HEADER_NAME_LEN, MAX_HEADER_PAIRS, MAX_HEADER_VALUE_LEN,
};
use crate::spdy::zlib::{HeaderCompressor, HeaderDecompressor};
use crate::websocket::WsProtocol;
use crate::websocket::codec::{self, Decoded};

/// What decoding a byte stream produced: the frames, then how it stopped.
#[derive(Debug, PartialEq)]
struct Outcome {
    frames: Vec<Frame>,
    /// `Some(is_limit)` when it stopped on an error.
    error: Option<bool>,
    /// Bytes left in the buffer and whether the decoder was between frames (no error only).
    left: Option<(usize, bool)>,
}

fn decode_chunked(pieces: &[&[u8]]) -> Outcome {
    let mut dec = FrameDecoder::new();
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            match dec.decode(&mut buf) {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(err) => {
                    assert!(err.is_limit() != err.is_protocol(), "one error class");
                    return Outcome {
                        frames,
                        error: Some(err.is_limit()),
                        left: None,
                    };
                }
            }
        }
    }
    Outcome {
        frames,
        error: None,
        left: Some((buf.len(), dec.at_boundary())),
    }
}

/// `FrameDecoder` over arbitrary bytes: the whole input, fuzzer-chosen chunks and single
/// bytes decode alike; every frame re-encodes to itself.
pub fn spdy_decoder(data: &[u8]) {
    let mut input = Input::new(data);
    let sizes = input.short();
    let wire = input.rest();
    let whole = decode_chunked(&[wire]);
    assert_eq!(decode_chunked(&chunks(wire, sizes)), whole, "chunked");
    if wire.len() <= 4096 {
        assert_eq!(decode_chunked(&chunks(wire, &[1])), whole, "byte by byte");
    }
    for frame in &whole.frames {
        let mut buf = BytesMut::new();
        frame.encode(&mut buf);
        let again = decode_chunked(&[&buf]);
        assert_eq!(again.frames.as_slice(), std::slice::from_ref(frame));
        assert_eq!(
            again.left,
            Some((0, true)),
            "re-encoded frame has leftovers"
        );
    }
}

/// Header blocks: arbitrary compressed blocks through one decompression context stay within
/// the limits; then header maps built from the input round-trip through compression.
pub fn spdy_header_block(data: &[u8]) {
    let mut input = Input::new(data);
    let mut z = HeaderDecompressor::new();
    for _ in 0..input.byte() % 4 {
        let len = usize::from(input.u16());
        let Ok(block) = z.decompress(input.take(len)) else {
            break;
        };
        assert!(block.len() <= MAX_HEADER_PAIRS);
        for (name, value) in block.iter() {
            assert!(!name.is_empty() && name.len() <= MAX_HEADER_NAME_LEN);
            assert!(value.len() <= MAX_HEADER_VALUE_LEN);
        }
    }
    let (mut tx, mut rx) = (HeaderCompressor::new(), HeaderDecompressor::new());
    while !input.is_empty() {
        let block = header_map(&mut input);
        let mut raw = BytesMut::new();
        block.encode(&mut raw);
        assert_eq!(raw.len(), block.encoded_len());
        assert_eq!(HeaderBlock::parse(raw.freeze()).ok().as_ref(), Some(&block));
        let compressed = tx.compress(&block).expect("compress a valid block");
        let back = rx
            .decompress(&compressed)
            .expect("decompress our own block");
        assert_eq!(back, block);
    }
}

/// A header map with lowercase names from the input (pairs `insert` refuses are skipped).
fn header_map(input: &mut Input<'_>) -> HeaderBlock {
    const NAME: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-_:.";
    let mut block = HeaderBlock::new();
    for _ in 0..input.byte() % 8 {
        let name: String = input
            .short()
            .iter()
            .map(|b| char::from(NAME[usize::from(*b) % NAME.len()]))
            .collect();
        let value = Bytes::copy_from_slice(input.short());
        let _ = block.insert(&name, value);
    }
    block
}

/// WebSocket channel messages: every sub-protocol decodes the message without panicking, a
/// decoded message re-encodes to itself, and a frame built from the input round-trips.
pub fn websocket_codec(data: &[u8]) {
    let mut input = Input::new(data);
    let channel = Channel::from_index(input.byte() % 5).expect("channels 0..=4 exist");
    let message = Bytes::copy_from_slice(input.rest());
    for protocol in WsProtocol::ALL {
        if let Ok(Decoded::Msg(msg)) = codec::decode(protocol, message.clone()) {
            assert_eq!(round_trip(protocol, &msg), msg, "{protocol:?}");
        }
        let frame = Msg::Data(ChannelFrame {
            channel,
            bytes: message.clone(),
        });
        assert_eq!(round_trip(protocol, &frame), frame, "{protocol:?}");
    }
}

fn round_trip(protocol: WsProtocol, msg: &Msg) -> Msg {
    let wire = match msg {
        Msg::Data(frame) => codec::encode(protocol, frame.channel, &frame.bytes),
        Msg::Close(channel) => {
            codec::encode_close(protocol, *channel).expect("decoded a close: it has one")
        }
    };
    match codec::decode(protocol, wire.into_data()) {
        Ok(Decoded::Msg(back)) => back,
        other => panic!("{protocol:?}: encoded message decodes as {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capture(name: &str) -> Vec<u8> {
        let path = format!("{}/src/spdy/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(path).unwrap();
        hex::decode(text.split_whitespace().collect::<String>()).unwrap()
    }

    #[test]
    fn captures_hold_the_decoder_properties() {
        for name in ["kubectl_exec_tty.hex", "kubelet_exec_tty.hex"] {
            let wire = capture(name);
            for sizes in [&[3u8][..], &[1, 7, 200], &[]] {
                let mut data = vec![sizes.len() as u8];
                data.extend_from_slice(sizes);
                data.extend_from_slice(&wire);
                spdy_decoder(&data);
            }
        }
    }

    #[test]
    fn header_maps_round_trip() {
        spdy_header_block(b"\x00\x03\x0astreamtype\x05stdin\x04port\x0280\x01\x01\x00");
        spdy_header_block(&[0x01, 0x00, 0x10, 0x78, 0x9c, 0xff, 0x00]);
    }

    #[test]
    fn websocket_messages_round_trip() {
        websocket_codec(b"\x01\x01hello");
        websocket_codec(b"\x00\xff\x00");
        websocket_codec(b"\x02\x30aGVsbG8=");
        websocket_codec(b"");
    }
}
