//! Wire tests: raw masked client frames through `serve`, split at every byte offset.

use bytes::Bytes;

use super::super::test_support::*;
use super::*;
use crate::channel::Frame;

const OPTS: StreamOptions = StreamOptions {
    stdin: true,
    stdout: true,
    stderr: false,
    tty: true,
};

const RESIZE: &[u8] = b"{\"Width\":80,\"Height\":24}\n";

/// A kubectl-like v5 session from the client side, as raw bytes.
fn v5_script() -> Vec<u8> {
    let mut wire = Vec::new();
    wire.extend(client_frame(true, OP_BINARY, b"\x00hello"));
    // A fragmented message with a ping between its fragments.
    wire.extend(client_frame(false, OP_BINARY, b"\x00ab"));
    wire.extend(client_frame(true, OP_PING, b"p1"));
    wire.extend(client_frame(true, OP_CONT, b"cdef"));
    // A text frame on a binary protocol (the Python client does this).
    let mut resize = vec![4u8];
    resize.extend_from_slice(RESIZE);
    wire.extend(client_frame(true, OP_TEXT, &resize));
    // Skipped: empty, unknown channel, a channel the client may not write.
    wire.extend(client_frame(true, OP_BINARY, b""));
    wire.extend(client_frame(true, OP_BINARY, b"\x09x"));
    wire.extend(client_frame(true, OP_BINARY, b"\x01x"));
    wire.extend(client_frame(true, OP_BINARY, b"\xff\x00"));
    wire.extend(client_frame(true, OP_CLOSE, &close_payload(1000)));
    wire
}

fn v5_expected() -> Vec<Msg> {
    vec![
        Msg::Data(Frame::new(Channel::Stdin, Bytes::from_static(b"hello"))),
        Msg::Data(Frame::new(Channel::Stdin, Bytes::from_static(b"abcdef"))),
        Msg::Data(Frame::new(Channel::Resize, Bytes::from_static(RESIZE))),
        Msg::Close(Channel::Stdin),
    ]
}

async fn run_script(
    chunks: Vec<Vec<u8>>,
    protocol: WsProtocol,
) -> (Vec<Msg>, Result<(), PeerError>, Vec<u8>) {
    let (io, written) = ScriptedIo::new(chunks);
    let (msgs, done) = drain(serve(io, protocol, OPTS)).await;
    let written = written.lock().unwrap().clone();
    (msgs, done, written)
}

fn expected_output() -> Vec<u8> {
    let mut out = server_frame(OP_BINARY, &[1]);
    out.extend(server_frame(0xA, b"p1"));
    out.extend(server_frame(OP_CLOSE, &close_payload(1000)));
    out
}

#[tokio::test]
async fn v5_script_at_every_split() {
    let wire = v5_script();
    for split in 0..=wire.len() {
        let chunks = vec![wire[..split].to_vec(), wire[split..].to_vec()];
        let (msgs, done, written) = run_script(chunks, WsProtocol::V5).await;
        assert_eq!(msgs, v5_expected(), "split at {split}");
        assert!(done.is_ok(), "split at {split}: {done:?}");
        assert_eq!(written, expected_output(), "split at {split}");
    }
}

#[tokio::test]
async fn v5_script_byte_by_byte() {
    let chunks = v5_script().into_iter().map(|b| vec![b]).collect();
    let (msgs, done, written) = run_script(chunks, WsProtocol::V5).await;
    assert_eq!(msgs, v5_expected());
    assert!(done.is_ok());
    assert_eq!(written, expected_output());
}

#[tokio::test]
async fn v4_treats_close_signal_as_unknown_channel() {
    let mut wire = client_frame(true, OP_BINARY, b"\xff\x00");
    wire.extend(client_frame(true, OP_BINARY, b"\x00x"));
    wire.extend(client_frame(true, OP_CLOSE, &close_payload(1000)));
    let (msgs, done, _) = run_script(vec![wire], WsProtocol::V4).await;
    assert_eq!(
        msgs,
        [Msg::Data(Frame::new(
            Channel::Stdin,
            Bytes::from_static(b"x")
        ))]
    );
    assert!(done.is_ok());
}

#[tokio::test]
async fn base64_script_at_every_split() {
    let mut wire = client_frame(true, OP_TEXT, b"0aGVsbG8=");
    // Base64 also accepted in a binary frame.
    wire.extend(client_frame(true, OP_BINARY, b"4e30="));
    wire.extend(client_frame(true, OP_CLOSE, &close_payload(1000)));
    let expected = vec![
        Msg::Data(Frame::new(Channel::Stdin, Bytes::from_static(b"hello"))),
        Msg::Data(Frame::new(Channel::Resize, Bytes::from_static(b"{}"))),
    ];
    let mut output = server_frame(OP_TEXT, b"1");
    output.extend(server_frame(OP_CLOSE, &close_payload(1000)));
    for split in 0..=wire.len() {
        let chunks = vec![wire[..split].to_vec(), wire[split..].to_vec()];
        let (msgs, done, written) = run_script(chunks, WsProtocol::V4Base64).await;
        assert_eq!(msgs, expected, "split at {split}");
        assert!(done.is_ok(), "split at {split}");
        assert_eq!(written, output, "split at {split}");
    }
}

/// Runs `wire` and expects the driver to fail with `pred`, delivering `before` first and
/// answering with a close frame carrying `code`.
async fn expect_failure(
    protocol: WsProtocol,
    wire: Vec<u8>,
    before: usize,
    pred: fn(&PeerError) -> bool,
    code: u16,
) {
    let (msgs, done, written) = run_script(vec![wire], protocol).await;
    assert_eq!(msgs.len(), before, "{msgs:?}");
    let err = done.expect_err("fails");
    assert!(pred(&err), "{err:?}");
    // The last frame written is a close with `code` and a reason naming the violation.
    let close = (0..written.len().saturating_sub(1))
        .filter(|&i| written[i] == 0x80 | OP_CLOSE)
        .find(|&i| usize::from(written[i + 1]) + i + 2 == written.len())
        .map(|i| &written[i + 2..])
        .unwrap_or_else(|| panic!("no close frame at the end: {written:?}"));
    assert_eq!(close[..2], close_payload(code)[..], "{written:?}");
    assert!(
        close.len() > 2,
        "the close frame has no reason: {written:?}"
    );
}

#[tokio::test]
async fn oversized_frame_is_rejected_before_its_payload() {
    let mut wire = client_frame(true, OP_BINARY, b"\x00ok");
    wire.extend(frame_header(
        true,
        OP_BINARY,
        codec::MAX_MESSAGE_LEN as u64 + 1,
        true,
    ));
    wire.extend([0, 0, 0, 0]);
    expect_failure(WsProtocol::V5, wire, 1, PeerError::is_limit, 1009).await;
}

#[tokio::test]
async fn oversized_fragmented_message_is_rejected() {
    let half = vec![0u8; codec::MAX_MESSAGE_LEN / 2 + 1];
    let mut wire = client_frame(false, OP_BINARY, &half);
    wire.extend(client_frame(true, OP_CONT, &half));
    expect_failure(WsProtocol::V5, wire, 0, PeerError::is_limit, 1009).await;
}

#[tokio::test]
async fn largest_message_is_delivered_in_pipeline_frames() {
    let mut message = vec![0u8; codec::MAX_MESSAGE_LEN];
    message[1..]
        .iter_mut()
        .enumerate()
        .for_each(|(i, b)| *b = i as u8);
    let mut wire = client_frame(true, OP_BINARY, &message);
    wire.extend(client_frame(true, OP_CLOSE, &close_payload(1000)));
    let (msgs, done, _) = run_script(vec![wire], WsProtocol::V5).await;
    assert!(done.is_ok());
    let mut got = Vec::new();
    for msg in msgs {
        let Msg::Data(frame) = msg else {
            panic!("data")
        };
        assert!(frame.bytes.len() <= crate::peer::MAX_FRAME_LEN);
        got.extend_from_slice(&frame.bytes);
    }
    assert_eq!(got, message[1..]);
}

#[tokio::test]
async fn fragmented_control_frame_is_rejected() {
    let wire = client_frame(false, OP_PING, b"p");
    expect_failure(WsProtocol::V5, wire, 0, PeerError::is_protocol, 1002).await;
}

#[tokio::test]
async fn unmasked_client_frame_is_rejected() {
    let wire = server_frame(OP_BINARY, b"\x00x");
    expect_failure(WsProtocol::V5, wire, 0, PeerError::is_protocol, 1002).await;
}

#[tokio::test]
async fn bad_channel_messages_fail_the_session() {
    let wire = client_frame(true, OP_BINARY, b"\xff\x00\x00");
    expect_failure(WsProtocol::V5, wire, 0, PeerError::is_protocol, 1002).await;
    let wire = client_frame(true, OP_TEXT, b"0!!!");
    expect_failure(WsProtocol::V4Base64, wire, 0, PeerError::is_protocol, 1002).await;
    let wire = client_frame(true, OP_TEXT, b"\x00\xff");
    expect_failure(WsProtocol::V5, wire, 0, PeerError::is_protocol, 1002).await;
}

#[tokio::test]
async fn peer_vanishing_ends_incoming() {
    let wire = client_frame(true, OP_BINARY, b"\x00x");
    let (msgs, done, _) = run_script(vec![wire], WsProtocol::V5).await;
    assert_eq!(msgs.len(), 1);
    let err = done.expect_err("dropped");
    assert_eq!(err.kind(), crate::peer::PeerErrorKind::Io);
}

#[tokio::test]
async fn unrequested_channels_are_dropped() {
    let opts = StreamOptions {
        stdin: false,
        stdout: true,
        stderr: true,
        tty: false,
    };
    let mut wire = client_frame(true, OP_BINARY, b"\x00x");
    wire.extend(client_frame(true, OP_BINARY, b"\x04{}"));
    wire.extend(client_frame(true, OP_BINARY, b"\xff\x00"));
    wire.extend(client_frame(true, OP_CLOSE, &close_payload(1000)));
    let (io, _) = ScriptedIo::new(vec![wire]);
    let (msgs, done) = drain(serve(io, WsProtocol::V5, opts)).await;
    assert!(msgs.is_empty(), "{msgs:?}");
    assert!(done.is_ok());
}
