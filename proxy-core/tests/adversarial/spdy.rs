//! Hostile SPDY/3.1 clients: malformed and oversized frames, zlib bombs, header blocks over
//! the limits, DATA on streams never opened, thousands of streams, a resize flood.

use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes};
use proxy_core::spdy::MAX_STREAMS;
use proxy_core::spdy::decoder::{MAX_CONTROL_FRAME_LEN, MAX_DATA_FRAME_LEN};
use proxy_core::spdy::frame::{Data, Frame, GoAwayStatus, RstStatus, SynStream};
use proxy_core::spdy::header_block::{MAX_HEADER_NAME_LEN, MAX_HEADER_PAIRS, MAX_HEADER_VALUE_LEN};
use proxy_core::spdy::zlib::{MAX_COMPRESSED_BLOCK, MAX_DECOMPRESSED_BLOCK};

use crate::support::*;

/// A session that would run for a while if nothing ended it.
const SLEEPER: &str = "command=sleep&command=30&stdout=1&stderr=1";

/// A control frame head: version 3 (or `version`), `ty`, flags 0, `length`.
fn control_head(version: u16, ty: u16, length: u32) -> Vec<u8> {
    let mut out = Vec::new();
    out.put_u16(0x8000 | version);
    out.put_u16(ty);
    out.put_u32(length);
    out
}

/// A SYN_STREAM for stream 1 whose header block is `raw`, compressed on `z`.
fn syn_with_block(z: &mut Deflater, raw: &[u8]) -> Vec<u8> {
    let frame = Frame::SynStream(SynStream {
        stream_id: 1,
        associated_to: 0,
        priority: 0,
        slot: 0,
        fin: false,
        unidirectional: false,
        header_block: z.compress(raw),
    });
    let mut out = bytes::BytesMut::new();
    frame.encode(&mut out);
    out.to_vec()
}

/// 8 MiB of zeros in one header value: about 8 KiB compressed.
fn zlib_bomb(z: &mut Deflater) -> Vec<u8> {
    let huge = vec![0u8; 8 << 20];
    let raw = super::support::raw_block(&[(b"streamtype", &huge)]);
    let block = z.compress(&raw);
    assert!(block.len() < MAX_COMPRESSED_BLOCK, "{} bytes", block.len());
    assert!(raw.len() > 100 * MAX_DECOMPRESSED_BLOCK);
    let mut frame = control_head(3, 1, 10 + block.len() as u32);
    frame.put_u32(1);
    frame.put_u32(0);
    frame.put_u16(0);
    frame.extend_from_slice(&block);
    frame
}

/// A malformed first input and what it is.
struct Case {
    name: &'static str,
    bytes: fn(&mut Deflater) -> Vec<u8>,
}

const CASES: &[Case] = &[
    Case {
        name: "DATA length over MAX_DATA_FRAME_LEN",
        bytes: |_| {
            let mut b = vec![0, 0, 0, 1, 0];
            b.extend_from_slice(&(MAX_DATA_FRAME_LEN + 1).to_be_bytes()[1..]);
            b.extend_from_slice(&[b'x'; 4096]);
            b
        },
    },
    Case {
        name: "DATA length at the wire maximum (16 MiB)",
        bytes: |_| vec![0, 0, 0, 1, 0, 0xff, 0xff, 0xff, 1, 2, 3],
    },
    Case {
        name: "SYN_STREAM length over MAX_CONTROL_FRAME_LEN",
        bytes: |_| control_head(3, 1, MAX_CONTROL_FRAME_LEN + 1),
    },
    Case {
        name: "RST_STREAM truncated to 4 bytes",
        bytes: |_| {
            let mut b = control_head(3, 3, 4);
            b.put_u32(1);
            b
        },
    },
    Case {
        name: "SYN_STREAM shorter than its fixed fields",
        bytes: |_| {
            let mut b = control_head(3, 1, 3);
            b.extend_from_slice(&[0, 0, 1]);
            b
        },
    },
    Case {
        name: "garbage bytes",
        bytes: |_| (0..64u8).map(|i| i.wrapping_mul(97) | 0x80).collect(),
    },
    Case {
        name: "unknown control type 5 (NOOP)",
        bytes: |_| control_head(3, 5, 0),
    },
    Case {
        name: "unknown control type 0xffff",
        bytes: |_| {
            let mut b = control_head(3, 0xffff, 4);
            b.put_u32(7);
            b
        },
    },
    Case {
        name: "control frame of SPDY version 2",
        bytes: |_| {
            let mut b = control_head(2, 6, 4);
            b.put_u32(1);
            b
        },
    },
    Case {
        name: "SYN_STREAM whose block is not zlib",
        bytes: |z| {
            let _ = z;
            let mut b = control_head(3, 1, 10 + 16);
            b.put_u32(1);
            b.put_u32(0);
            b.put_u16(0);
            b.extend_from_slice(&[0x5a; 16]);
            b
        },
    },
    Case {
        name: "zlib bomb: 8 MiB header value in ~8 KiB",
        bytes: zlib_bomb,
    },
    Case {
        name: "header block with MAX_HEADER_PAIRS + 1 pairs",
        bytes: |z| {
            let names: Vec<String> = (0..=MAX_HEADER_PAIRS).map(|i| format!("h{i}")).collect();
            let pairs: Vec<(&[u8], &[u8])> =
                names.iter().map(|n| (n.as_bytes(), &b"v"[..])).collect();
            syn_with_block(z, &raw_block(&pairs))
        },
    },
    Case {
        name: "header block declaring 4 billion pairs",
        bytes: |z| syn_with_block(z, &u32::MAX.to_be_bytes()),
    },
    Case {
        name: "header name longer than MAX_HEADER_NAME_LEN",
        bytes: |z| {
            let name = vec![b'n'; MAX_HEADER_NAME_LEN + 1];
            syn_with_block(z, &raw_block(&[(&name, b"stdout")]))
        },
    },
    Case {
        name: "header name length declared as 4 GiB",
        bytes: |z| {
            let mut raw = Vec::new();
            raw.put_u32(1);
            raw.put_u32(u32::MAX);
            raw.extend_from_slice(b"streamtype");
            syn_with_block(z, &raw)
        },
    },
    Case {
        name: "header value longer than MAX_HEADER_VALUE_LEN",
        bytes: |z| {
            let value = vec![b'v'; MAX_HEADER_VALUE_LEN + 1];
            syn_with_block(z, &raw_block(&[(b"streamtype", &value)]))
        },
    },
    Case {
        name: "upper-case header name",
        bytes: |z| syn_with_block(z, &raw_block(&[(b"StreamType", b"error")])),
    },
];

/// Every malformed or oversized first frame ends the connection with GOAWAY PROTOCOL_ERROR,
/// the session ends, memory stays flat, and kubectl is still served.
#[tokio::test]
async fn malformed_and_oversized_frames_end_the_connection_with_goaway() {
    let _memory = exclusive().await;
    let bed = testbed().await;
    let watch = RssWatch::start();
    for case in CASES {
        let mut spdy = Spdy::exec(&bed, SLEEPER).await;
        let bytes = (case.bytes)(&mut spdy.deflate);
        // The server may close before taking everything: that is an answer, not a failure.
        let _ = spdy.send_raw(&bytes).await;
        let (goaway, _) = spdy.until_closed().await;
        let goaway = goaway.unwrap_or_else(|| panic!("{}: no GOAWAY", case.name));
        assert_eq!(goaway.status, GoAwayStatus::PROTOCOL_ERROR, "{}", case.name);
        drop(spdy);
        sessions_end(&bed).await;
    }
    watch.finish("malformed SPDY frames incl. an 8 MiB zlib bomb");
    still_serving(&bed, Client::Spdy).await;
}

/// A connection that stops inside a frame (a truncated control frame, then EOF) is an error,
/// not a frame; the session ends.
#[tokio::test]
async fn a_frame_cut_off_by_eof_ends_the_session() {
    let _shared = shared().await;
    let bed = testbed().await;
    let mut spdy = Spdy::exec(&bed, SLEEPER).await;
    spdy.open(&["error", "stdout", "stderr"]).await;
    let mut ping = control_head(3, 6, 4);
    ping.extend_from_slice(&[0, 0]);
    assert!(spdy.send_raw(&ping).await);
    tokio::io::AsyncWriteExt::shutdown(&mut spdy.io)
        .await
        .expect("half-close");
    let (goaway, _) = spdy.until_closed().await;
    assert_eq!(goaway.map(|g| g.status), Some(GoAwayStatus::PROTOCOL_ERROR));
    drop(spdy);
    sessions_end(&bed).await;
    still_serving(&bed, Client::Spdy).await;
}

/// DATA on a stream the client never opened is refused with RST_STREAM INVALID_STREAM and its
/// bytes go nowhere; the session itself goes on and ends normally.
#[tokio::test]
async fn data_on_an_unopened_stream_is_refused_and_goes_nowhere() {
    let _shared = shared().await;
    let bed = testbed().await;
    let mut spdy = Spdy::exec(&bed, "command=cat&stdin=1&stdout=1&stderr=1").await;
    spdy.open(&["error", "stdin", "stdout", "stderr"]).await;
    let stray = Frame::Data(Data {
        stream_id: 99,
        fin: false,
        payload: Bytes::from_static(b"smuggled\n"),
    });
    assert!(spdy.send(&stray).await);
    match spdy.next().await {
        Some(Frame::RstStream(rst)) => {
            assert_eq!((rst.stream_id, rst.status), (99, RstStatus::INVALID_STREAM));
        }
        other => panic!("expected RST_STREAM for stream 99, got {other:?}"),
    }
    let stdin = Frame::Data(Data {
        stream_id: 3,
        fin: true,
        payload: Bytes::from_static(b"legit\n"),
    });
    assert!(spdy.send(&stdin).await);
    let mut stdout = Vec::new();
    let mut goaway = None;
    while let Some(frame) = spdy.next().await {
        match frame {
            Frame::Data(d) if d.stream_id == 5 => stdout.extend_from_slice(&d.payload),
            Frame::GoAway(g) => goaway = Some(g.status),
            _ => {}
        }
    }
    assert_eq!(stdout, b"legit\n");
    assert_eq!(goaway, Some(GoAwayStatus::OK));
    drop(spdy);
    sessions_end(&bed).await;
}

/// Thousands of SYN_STREAMs on one connection: at most [`MAX_STREAMS`] are answered, then the
/// connection ends with GOAWAY PROTOCOL_ERROR.
#[tokio::test]
async fn thousands_of_syn_streams_hit_the_stream_limit() {
    let _shared = shared().await;
    let bed = testbed().await;
    let mut spdy = Spdy::exec(&bed, SLEEPER).await;
    let mut burst = bytes::BytesMut::new();
    for i in 0..5000u32 {
        let ty = ["error", "stdout", "stderr", "bogus"][i as usize % 4];
        spdy.syn_stream(2 * i + 1, ty).encode(&mut burst);
    }
    let _ = spdy.send_raw(&burst).await;
    let (goaway, seen) = spdy.until_closed().await;
    assert_eq!(goaway.map(|g| g.status), Some(GoAwayStatus::PROTOCOL_ERROR));
    let answered = seen
        .iter()
        .filter(|f| matches!(f, Frame::SynReply(_) | Frame::RstStream(_)))
        .count();
    assert!(answered <= MAX_STREAMS, "{answered} streams answered");
    drop(spdy);
    sessions_end(&bed).await;
    still_serving(&bed, Client::Spdy).await;
}

/// Thousands of resize messages per second on a TTY session: memory stays flat (no unbounded
/// queue), and the session still works and ends cleanly afterwards.
#[tokio::test]
async fn a_resize_flood_is_bounded_and_the_tty_session_survives() {
    let _memory = exclusive().await;
    let bed = testbed().await;
    let mut spdy = Spdy::exec(&bed, "command=cat&stdin=1&stdout=1&tty=1").await;
    spdy.open(&["error", "stdin", "stdout", "resize"]).await;
    let watch = RssWatch::start();
    let started = Instant::now();
    let mut sent = 0u64;
    let mut batch = bytes::BytesMut::new();
    // 250 messages every 25 ms: 10,000 a second for 2 s. (Unpaced, the kernel's socket
    // buffers alone hold ~100k of them: a bounded queue, but slow to drain on a busy host.)
    let mut pace = tokio::time::interval(Duration::from_millis(25));
    while started.elapsed() < Duration::from_secs(2) {
        pace.tick().await;
        batch.clear();
        for i in 0..250u64 {
            let json = format!("{{\"Width\":{},\"Height\":{}}}", 80 + (sent + i) % 50, 24);
            Frame::Data(Data {
                stream_id: 7,
                fin: false,
                payload: json.into(),
            })
            .encode(&mut batch);
        }
        assert!(spdy.send_raw(&batch).await, "kubewitness stopped reading");
        sent += 250;
    }
    let rate = sent as f64 / started.elapsed().as_secs_f64();
    eprintln!("resize flood: {sent} messages, {rate:.0}/s");
    assert!(sent >= 2000, "only {sent} resize messages went out");
    let stdin = |payload: &'static [u8]| {
        Frame::Data(Data {
            stream_id: 3,
            fin: false,
            payload: Bytes::from_static(payload),
        })
    };
    assert!(spdy.send(&stdin(b"survived\n")).await);
    let mut stdout = Vec::new();
    while !String::from_utf8_lossy(&stdout).contains("survived\r\nsurvived") {
        match spdy.next().await {
            Some(Frame::Data(d)) if d.stream_id == 5 => stdout.extend_from_slice(&d.payload),
            Some(_) => {}
            None => panic!("the session ended: {:?}", String::from_utf8_lossy(&stdout)),
        }
    }
    watch.finish("SPDY resize flood");
    // ^D on an empty line: cat sees EOF and exits 0.
    assert!(spdy.send(&stdin(b"\x04")).await);
    let (goaway, _) = spdy.until_closed().await;
    assert_eq!(goaway.map(|g| g.status), Some(GoAwayStatus::OK));
    drop(spdy);
    sessions_end(&bed).await;
    still_serving(&bed, Client::Spdy).await;
}
