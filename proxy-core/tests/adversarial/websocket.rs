//! Hostile WebSocket clients: frames over the size limit, fragmented control frames, unknown
//! channels, invalid base64, a flood of tiny frames.

use proxy_core::websocket::codec::MAX_MESSAGE_LEN;

use crate::support::*;

const SLEEPER: &str = "command=sleep&command=30&stdout=1&stderr=1";
/// RFC 6455 close codes.
const PROTOCOL_ERROR: u16 = 1002;
const TOO_BIG: u16 = 1009;

/// A malformed input and the close code it must get.
struct Case {
    name: &'static str,
    protocol: &'static str,
    bytes: fn() -> Vec<u8>,
    code: u16,
}

const CASES: &[Case] = &[
    Case {
        name: "binary frame over MAX_MESSAGE_LEN (header only)",
        protocol: "v5.channel.k8s.io",
        bytes: || ws_frame_claiming(true, BINARY, &[0; 1024], MAX_MESSAGE_LEN as u64 + 1),
        code: TOO_BIG,
    },
    Case {
        name: "frame claiming 2^63 bytes",
        protocol: "v5.channel.k8s.io",
        bytes: || ws_frame_claiming(true, BINARY, &[0; 16], 1 << 63),
        code: TOO_BIG,
    },
    Case {
        name: "message over MAX_MESSAGE_LEN in fragments",
        protocol: "v4.channel.k8s.io",
        bytes: || {
            let chunk = vec![0u8; 256 * 1024];
            let mut out = ws_frame(false, BINARY, &chunk);
            for _ in 0..4 {
                out.extend(ws_frame(false, 0x0, &chunk));
            }
            out.extend(ws_frame(true, 0x0, &chunk));
            out
        },
        code: TOO_BIG,
    },
    Case {
        name: "ping with FIN=0 (fragmented control frame)",
        protocol: "v5.channel.k8s.io",
        bytes: || ws_frame(false, PING, b"frag"),
        code: PROTOCOL_ERROR,
    },
    Case {
        name: "control frame over 125 bytes",
        protocol: "v5.channel.k8s.io",
        bytes: || ws_frame(true, PING, &[1; 126]),
        code: PROTOCOL_ERROR,
    },
    Case {
        name: "reserved opcode 0x3",
        protocol: "v5.channel.k8s.io",
        bytes: || ws_frame(true, 0x3, b"x"),
        code: PROTOCOL_ERROR,
    },
    Case {
        name: "unmasked client frame",
        protocol: "v5.channel.k8s.io",
        bytes: || vec![0x82, 0x02, 0x00, b'x'],
        code: PROTOCOL_ERROR,
    },
    Case {
        name: "v5 CLOSE signal for unknown channel 9",
        protocol: "v5.channel.k8s.io",
        bytes: || ws_frame(true, BINARY, &[0xff, 9]),
        code: PROTOCOL_ERROR,
    },
    Case {
        name: "v5 CLOSE signal of 3 bytes",
        protocol: "v5.channel.k8s.io",
        bytes: || ws_frame(true, BINARY, &[0xff, 0, 0]),
        code: PROTOCOL_ERROR,
    },
    Case {
        name: "invalid base64 on v4.base64.channel.k8s.io",
        protocol: "v4.base64.channel.k8s.io",
        bytes: || ws_frame(true, TEXT, b"0!!not base64!!"),
        code: PROTOCOL_ERROR,
    },
    Case {
        name: "invalid base64 on base64.channel.k8s.io",
        protocol: "base64.channel.k8s.io",
        bytes: || ws_frame(true, TEXT, b"0QUJD="),
        code: PROTOCOL_ERROR,
    },
    Case {
        name: "text frame that is not UTF-8",
        protocol: "v4.base64.channel.k8s.io",
        bytes: || ws_frame(true, TEXT, &[b'0', 0xff, 0xfe]),
        code: PROTOCOL_ERROR,
    },
];

/// Every malformed or oversized frame gets a close frame with the right code and a reason,
/// and the session ends; kubectl is still served.
#[tokio::test]
async fn malformed_and_oversized_frames_get_a_close_code_with_a_reason() {
    let _memory = exclusive().await;
    let bed = testbed().await;
    let watch = RssWatch::start();
    for case in CASES {
        let query = SLEEPER.replace("stderr=1", "stdin=1");
        let mut ws = Ws::exec(&bed, &query, case.protocol).await;
        let _ = ws.send_raw(&(case.bytes)()).await;
        let (close, _) = ws.until_close().await;
        let (code, reason) = close.unwrap_or_else(|| panic!("{}: no close frame", case.name));
        assert_eq!(code, case.code, "{}: reason {reason:?}", case.name);
        assert!(!reason.is_empty(), "{}: a close reason", case.name);
        eprintln!("{}: close {code} {reason:?}", case.name);
        drop(ws);
        sessions_end(&bed).await;
    }
    watch.finish("malformed WebSocket frames");
    still_serving(&bed, Client::WebSocket).await;
}

/// Messages on a channel that does not exist are dropped without reaching the command, and
/// the session goes on.
#[tokio::test]
async fn unknown_channels_go_nowhere_and_the_session_goes_on() {
    let _shared = shared().await;
    let bed = testbed().await;
    let mut ws = Ws::exec(&bed, "command=cat&stdin=1&stdout=1", "v5.channel.k8s.io").await;
    for channel in [7u8, 5, 42, 0xfe] {
        assert!(ws.send_channel(channel, b"smuggled\n").await);
    }
    // Channels the client may not write (stdout, error) are dropped as well.
    assert!(ws.send_channel(1, b"fake stdout\n").await);
    assert!(ws.send_channel(3, b"{\"status\":\"Success\"}").await);
    assert!(ws.send_channel(0, b"legit\n").await);
    assert!(ws.send_raw(&ws_frame(true, BINARY, &[0xff, 0])).await);
    let (close, data) = ws.until_close().await;
    assert_eq!(close.map(|c| c.0), Some(1000));
    let stdout = channel_bytes(&data, 1);
    assert_eq!(String::from_utf8_lossy(&stdout), "legit\n");
    let status: Vec<&bytes::Bytes> = data.iter().filter(|m| m.first() == Some(&3)).collect();
    assert_eq!(status.len(), 1);
    assert!(String::from_utf8_lossy(&status[0][1..]).contains("Success"));
    drop(ws);
    sessions_end(&bed).await;
}

/// A flood of tiny frames (one byte of stdin each, interleaved with empty and unknown-channel
/// messages) arrives exactly, with memory bounded.
#[tokio::test]
async fn a_flood_of_tiny_frames_is_bounded_and_exact() {
    let _memory = exclusive().await;
    let bed = testbed().await;
    let mut ws = Ws::exec(
        &bed,
        "command=wc&command=-c&stdin=1&stdout=1",
        "v5.channel.k8s.io",
    )
    .await;
    const FRAMES: usize = 100_000;
    let watch = RssWatch::start();
    let mut batch = Vec::with_capacity(10_000 * 8);
    for i in 0..FRAMES {
        batch.extend(ws_frame(true, BINARY, &[0, b'x']));
        if i % 10 == 0 {
            batch.extend(ws_frame(true, BINARY, &[]));
            batch.extend(ws_frame(true, BINARY, &[9, b'y']));
        }
        if batch.len() >= 64 * 1024 {
            assert!(ws.send_raw(&batch).await, "kubewitness stopped reading");
            batch.clear();
        }
    }
    batch.extend(ws_frame(true, BINARY, &[0xff, 0]));
    assert!(ws.send_raw(&batch).await);
    let (close, data) = ws.until_close().await;
    watch.finish("100k tiny WebSocket frames");
    assert_eq!(close.map(|c| c.0), Some(1000));
    let stdout = String::from_utf8_lossy(&channel_bytes(&data, 1)).into_owned();
    assert_eq!(stdout.trim(), FRAMES.to_string());
    drop(ws);
    sessions_end(&bed).await;
    still_serving(&bed, Client::WebSocket).await;
}
