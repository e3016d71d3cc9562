//! Frame codec throughput: SPDY/3.1 DATA frames and WebSocket channel messages, decode and
//! encode, on 16 MiB of log text cut into 32 KiB frames (what Go peers write per frame).
//!
//! * `spdy/decode`: `FrameDecoder::decode` over one `BytesMut` holding the whole wire image
//!   (payloads split off without copying), then `Frame` matching.
//! * `spdy/encode_head`: what the drivers do: write the 8-byte head, the payload `Bytes`
//!   goes out as is (vectored write). `spdy/encode_copy`: `Data::encode`, head and payload
//!   copied into one buffer, for comparison.
//! * `ws/decode_v5`: tungstenite reading unmasked server frames (client role, as kubewitness
//!   reads an API server), then `codec::decode` (channel byte sliced off, no copy).
//! * `ws/encode_v5`: `codec::encode` (one copy behind the channel byte), then tungstenite
//!   writing server frames (as kubewitness writes to kubectl).
//! * `ws/decode_v4_base64` / `ws/encode_v4_base64`: the channel layer of the base64 protocol
//!   alone (decode and encode base64), the slowest protocol a client can pick.
//!
//! Run: `CARGO_TARGET_DIR=/work/target-bench2 cargo bench -p kubewitness-benches --bench codec`
//! Medians on the 2-core shared machine (2026-11-22, load ~4.5; `BENCHMARKS.md`, "codec"):
//! spdy/decode 41 µs per 16 MiB (per-frame cost only), ws/decode_v5 9.0 GiB/s,
//! ws/encode_v5 4.3 GiB/s, v4 base64 decode 1.84 GiB/s, encode 1.44 GiB/s.

use std::hint::black_box;
use std::io::{Cursor, Read, Write};

use bytes::{Bytes, BytesMut};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use kubewitness_benches::corpus::clean;
use proxy_core::channel::{Channel, Msg};
use proxy_core::spdy::decoder::FrameDecoder;
use proxy_core::spdy::frame::{Data, Frame};
use proxy_core::websocket::WsProtocol;
use proxy_core::websocket::codec::{self, Decoded};
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocket, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

const TOTAL: usize = 16 << 20;
const FRAME: usize = 32 << 10;

fn payloads() -> Vec<Bytes> {
    let text = Bytes::from(clean(TOTAL));
    let text = text.slice(..TOTAL);
    (0..TOTAL / FRAME)
        .map(|i| text.slice(i * FRAME..(i + 1) * FRAME))
        .collect()
}

fn spdy(c: &mut Criterion, payloads: &[Bytes]) {
    let mut wire = BytesMut::new();
    for p in payloads {
        Data {
            stream_id: 3,
            fin: false,
            payload: p.clone(),
        }
        .encode(&mut wire);
    }
    let mut group = c.benchmark_group("spdy");
    group.throughput(Throughput::Bytes(TOTAL as u64));
    group.sample_size(20);
    group.bench_function("decode", |b| {
        b.iter_batched(
            || wire.clone(),
            |mut buf| {
                let mut dec = FrameDecoder::new();
                let mut n = 0;
                while let Some(frame) = dec.decode(&mut buf).expect("valid wire") {
                    if let Frame::Data(d) = frame {
                        n += d.payload.len();
                    }
                }
                assert_eq!(n, TOTAL);
                n
            },
            BatchSize::LargeInput,
        )
    });
    let mut out = BytesMut::with_capacity(TOTAL + payloads.len() * 8);
    group.bench_function("encode_head", |b| {
        b.iter(|| {
            out.clear();
            let mut sent = 0;
            for p in payloads {
                let data = Data {
                    stream_id: 3,
                    fin: false,
                    payload: p.clone(),
                };
                data.head().encode(&mut out);
                sent += black_box(&data.payload).len();
            }
            sent
        })
    });
    group.bench_function("encode_copy", |b| {
        b.iter(|| {
            out.clear();
            for p in payloads {
                Data {
                    stream_id: 3,
                    fin: false,
                    payload: p.clone(),
                }
                .encode(&mut out);
            }
            out.len()
        })
    });
    group.finish();
}

/// A socket made of an input buffer and an output buffer.
struct Mem {
    input: Cursor<Bytes>,
    output: Vec<u8>,
}

impl Read for Mem {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.input.read(buf)
    }
}

impl Write for Mem {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(codec::MAX_MESSAGE_LEN))
        .max_frame_size(Some(codec::MAX_MESSAGE_LEN))
}

fn socket(input: Bytes, role: Role) -> WebSocket<Mem> {
    let mem = Mem {
        input: Cursor::new(input),
        output: Vec::with_capacity(TOTAL + TOTAL / 64),
    };
    WebSocket::from_raw_socket(mem, role, Some(ws_config()))
}

fn payload_len(decoded: Decoded) -> usize {
    match decoded {
        Decoded::Msg(Msg::Data(f)) => f.bytes.len(),
        _ => 0,
    }
}

fn websocket(c: &mut Criterion, payloads: &[Bytes]) {
    let v5 = WsProtocol::V5;
    let mut server = socket(Bytes::new(), Role::Server);
    for p in payloads {
        server
            .send(codec::encode(v5, Channel::Stdout, p))
            .expect("in-memory write");
    }
    let wire = Bytes::from(std::mem::take(&mut server.get_mut().output));

    let mut group = c.benchmark_group("ws");
    group.throughput(Throughput::Bytes(TOTAL as u64));
    group.sample_size(20);
    group.bench_function("decode_v5", |b| {
        b.iter(|| {
            let mut client = socket(wire.clone(), Role::Client);
            let mut n = 0;
            for _ in 0..payloads.len() {
                let msg = client.read().expect("valid wire");
                let Message::Binary(bytes) = msg else {
                    panic!("binary messages only");
                };
                n += payload_len(codec::decode(v5, bytes).expect("valid message"));
            }
            assert_eq!(n, TOTAL);
            n
        })
    });
    group.bench_function("encode_v5", |b| {
        b.iter(|| {
            server.get_mut().output.clear();
            for p in payloads {
                server
                    .send(codec::encode(v5, Channel::Stdout, p))
                    .expect("in-memory write");
            }
            server.get_ref().output.len()
        })
    });

    let b64 = WsProtocol::V4Base64;
    let texts: Vec<Bytes> = payloads
        .iter()
        .map(|p| match codec::encode(b64, Channel::Stdout, p) {
            Message::Text(t) => Bytes::from(t),
            _ => unreachable!("base64 protocols send text"),
        })
        .collect();
    group.bench_function("decode_v4_base64", |b| {
        b.iter(|| {
            let n: usize = texts
                .iter()
                .map(|t| payload_len(codec::decode(b64, t.clone()).expect("valid base64")))
                .sum();
            assert_eq!(n, TOTAL);
            n
        })
    });
    group.bench_function("encode_v4_base64", |b| {
        b.iter(|| {
            payloads
                .iter()
                .map(|p| match codec::encode(b64, Channel::Stdout, p) {
                    Message::Text(t) => black_box::<Utf8Bytes>(t).len(),
                    other => other.len(),
                })
                .sum::<usize>()
        })
    });
    group.finish();
}

fn bench(c: &mut Criterion) {
    let payloads = payloads();
    spdy(c, &payloads);
    websocket(c, &payloads);
}

criterion_group!(benches, bench);
criterion_main!(benches);
