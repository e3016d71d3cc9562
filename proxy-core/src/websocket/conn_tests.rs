//! Driver tests over `tokio::io::duplex`: `connect` against `serve`, and each against a
//! plain tungstenite peer.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::io::DuplexStream;
use tokio::time::timeout;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role;

use super::super::client::connect_with_ping;
use super::super::test_support::drain;
use super::*;
use crate::channel::{Channel, Frame, Msg, StreamOptions};
use crate::peer::Peer;
use crate::status::Status;
use crate::websocket::{MAX_ERROR_CHANNEL_LEN, PING_INTERVAL, WsProtocol, connect, serve};

const OPTS: StreamOptions = StreamOptions {
    stdin: true,
    stdout: true,
    stderr: false,
    tty: false,
};

const TOTAL: usize = 10 << 20;

fn pseudo_random(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 24) as u8
        })
        .collect()
}

/// The server-side pipeline of an echo session: stdin back as stdout until `total` bytes
/// (and a stdin CLOSE if `expect_close`), then `status`, then finish. Returns whether a
/// CLOSE arrived.
async fn echo_pipeline(mut peer: Peer, total: usize, status: Status, expect_close: bool) -> bool {
    let mut seen = 0;
    let mut closed = false;
    while seen < total || (expect_close && !closed) {
        match peer.incoming.recv().await {
            Some(Msg::Data(frame)) => {
                assert_eq!(frame.channel, Channel::Stdin);
                assert!(frame.bytes.len() <= crate::peer::MAX_FRAME_LEN);
                seen += frame.bytes.len();
                let out = Frame::new(Channel::Stdout, frame.bytes);
                peer.outgoing.send(Msg::Data(out)).await.unwrap();
            }
            Some(Msg::Close(channel)) => {
                assert_eq!(channel, Channel::Stdin);
                closed = true;
            }
            None => panic!("client vanished after {seen} bytes"),
        }
    }
    assert_eq!(seen, total);
    let error = Frame::new(Channel::Error, status.to_json());
    peer.outgoing.send(Msg::Data(error)).await.unwrap();
    let Peer {
        mut incoming,
        outgoing,
        done,
    } = peer;
    drop(outgoing);
    assert_eq!(incoming.recv().await, None);
    done.await.unwrap().expect("server finished cleanly");
    closed
}

async fn echo_session(protocol: WsProtocol) {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let server = serve(server_io, protocol, OPTS);
    let client = connect(client_io, protocol, OPTS);
    let pipeline = echo_pipeline(
        server,
        TOTAL,
        Status::exit_code(3),
        protocol.supports_close(),
    );

    let input = Bytes::from(pseudo_random(TOTAL));
    let writer_input = input.clone();
    let stdin = client.outgoing.clone();
    let writer = async move {
        let mut offset = 0;
        let mut size = 1;
        while offset < writer_input.len() {
            let end = writer_input.len().min(offset + size);
            let chunk = Frame::new(Channel::Stdin, writer_input.slice(offset..end));
            stdin.send(Msg::Data(chunk)).await.unwrap();
            offset = end;
            size = (size * 7 + 3) % 100_000 + 1;
        }
        stdin.send(Msg::Close(Channel::Stdin)).await.unwrap();
    };
    let reader = async {
        let Peer {
            mut incoming,
            outgoing,
            done,
        } = client;
        let mut stdout = Vec::with_capacity(TOTAL);
        let mut statuses = Vec::new();
        while let Some(msg) = incoming.recv().await {
            match msg {
                Msg::Data(f) if f.channel == Channel::Stdout => {
                    assert!(statuses.is_empty(), "stdout after the status");
                    stdout.extend_from_slice(&f.bytes);
                }
                Msg::Data(f) if f.channel == Channel::Error => {
                    statuses.push(Status::from_error_stream(
                        crate::channel::Protocol::V4,
                        &f.bytes,
                    ));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        drop(outgoing);
        (stdout, statuses, done.await.unwrap())
    };
    let (closed, (), (stdout, statuses, done)) = tokio::join!(pipeline, writer, reader);
    assert_eq!(closed, protocol.supports_close(), "stdin CLOSE only on v5");
    assert!(stdout == input, "stdout differs from stdin");
    assert_eq!(statuses.len(), 1);
    assert_eq!(statuses[0].exit_code_value(), Some(3));
    done.expect("client finished cleanly");
}

#[tokio::test]
async fn echo_10mib_v5() {
    echo_session(WsProtocol::V5).await;
}

#[tokio::test]
async fn echo_10mib_v4() {
    echo_session(WsProtocol::V4).await;
}

#[tokio::test]
async fn echo_10mib_v4_base64() {
    echo_session(WsProtocol::V4Base64).await;
}

async fn raw(io: DuplexStream, role: Role) -> WebSocketStream<DuplexStream> {
    WebSocketStream::from_raw_socket(io, role, None).await
}

/// The next message from a plain tungstenite peer, within a second.
async fn next(ws: &mut WebSocketStream<DuplexStream>) -> Option<Message> {
    timeout(Duration::from_secs(1), ws.next())
        .await
        .expect("message in time")
        .map(|m| m.expect("valid message"))
}

fn binary(bytes: &'static [u8]) -> Message {
    Message::Binary(Bytes::from_static(bytes))
}

fn close_code(message: Option<Message>) -> Option<u16> {
    match message {
        Some(Message::Close(Some(frame))) => Some(u16::from(frame.code)),
        other => panic!("expected a close frame, got {other:?}"),
    }
}

#[tokio::test]
async fn ping_answered_while_idle() {
    let (client_io, server_io) = tokio::io::duplex(4096);
    let server = serve(server_io, WsProtocol::V5, OPTS);
    let mut kubectl = raw(client_io, Role::Client).await;
    assert_eq!(next(&mut kubectl).await, Some(binary(b"\x01")));
    for payload in [&b"k1"[..], b"k2"] {
        let payload = Bytes::from_static(payload);
        kubectl.send(Message::Ping(payload.clone())).await.unwrap();
        // The pipeline writes nothing; the pong still arrives.
        assert_eq!(next(&mut kubectl).await, Some(Message::Pong(payload)));
    }
    drop(server);
}

#[tokio::test]
async fn server_ends_with_status_and_close_1000() {
    for (protocol, status, expected) in [
        (
            WsProtocol::V5,
            Status::exit_code(2),
            Some(Status::exit_code(2).to_json()),
        ),
        (WsProtocol::V1, Status::success(), None),
        (
            WsProtocol::V1,
            Status::failure("InternalError", "boom"),
            Some(Bytes::from_static(b"boom")),
        ),
    ] {
        let (client_io, server_io) = tokio::io::duplex(4096);
        let Peer {
            incoming,
            outgoing,
            done,
        } = serve(server_io, protocol, OPTS);
        let mut kubectl = raw(client_io, Role::Client).await;
        let stdout = Frame::new(Channel::Stdout, Bytes::from_static(b"x"));
        outgoing.send(Msg::Data(stdout)).await.unwrap();
        let error = Frame::new(Channel::Error, status.to_json());
        outgoing.send(Msg::Data(error)).await.unwrap();
        drop(outgoing);
        assert_eq!(next(&mut kubectl).await, Some(binary(b"\x01")));
        assert_eq!(next(&mut kubectl).await, Some(binary(b"\x01x")));
        if let Some(body) = expected {
            let mut wire = vec![3u8];
            wire.extend_from_slice(&body);
            assert_eq!(next(&mut kubectl).await, Some(Message::Binary(wire.into())));
        }
        assert_eq!(
            close_code(next(&mut kubectl).await),
            Some(1000),
            "{protocol:?}"
        );
        // The close reply completes the handshake; the server then hangs up.
        assert_eq!(next(&mut kubectl).await, None);
        done.await.unwrap().expect("clean finish");
        drop(incoming);
    }
}

#[tokio::test]
async fn server_sees_client_close_as_end() {
    let (client_io, server_io) = tokio::io::duplex(4096);
    let server = serve(server_io, WsProtocol::V5, OPTS);
    let mut kubectl = raw(client_io, Role::Client).await;
    kubectl.send(binary(b"\x00in")).await.unwrap();
    kubectl.close(None).await.unwrap();
    let (msgs, done) = timeout(Duration::from_secs(1), drain(server))
        .await
        .unwrap();
    assert_eq!(
        msgs,
        [Msg::Data(Frame::new(
            Channel::Stdin,
            Bytes::from_static(b"in")
        ))]
    );
    assert!(done.is_ok());
}

#[tokio::test]
async fn client_pings_every_interval() {
    assert_eq!(PING_INTERVAL, Duration::from_secs(5));
    let interval = Duration::from_millis(40);
    let (client_io, server_io) = tokio::io::duplex(4096);
    let span = tracing::Span::none();
    let client = connect_with_ping(client_io, WsProtocol::V5, interval, span);
    let mut apiserver = raw(server_io, Role::Server).await;
    let started = tokio::time::Instant::now();
    for n in 1..=3 {
        let ping = next(&mut apiserver).await;
        assert!(matches!(ping, Some(Message::Ping(_))), "{ping:?}");
        assert!(started.elapsed() >= interval * n, "ping {n} too early");
    }
    drop(client);
}

#[tokio::test]
async fn client_close_stdin_only_on_v5() {
    for (protocol, first) in [
        (WsProtocol::V5, binary(b"\xff\x00")),
        (WsProtocol::V4, binary(b"\x00a")),
        (WsProtocol::V4Base64, Message::text("0YQ==")),
    ] {
        let (client_io, server_io) = tokio::io::duplex(4096);
        let client = connect(client_io, protocol, OPTS);
        let mut apiserver = raw(server_io, Role::Server).await;
        client
            .outgoing
            .send(Msg::Close(Channel::Stdin))
            .await
            .unwrap();
        let a = Frame::new(Channel::Stdin, Bytes::from_static(b"a"));
        client.outgoing.send(Msg::Data(a)).await.unwrap();
        assert_eq!(next(&mut apiserver).await, Some(first), "{protocol:?}");
    }
}

#[tokio::test]
async fn client_cancel_sends_close_1000() {
    let (client_io, server_io) = tokio::io::duplex(4096);
    let Peer {
        incoming,
        outgoing,
        done,
    } = connect(client_io, WsProtocol::V5, OPTS);
    let mut apiserver = raw(server_io, Role::Server).await;
    drop(outgoing);
    assert_eq!(close_code(next(&mut apiserver).await), Some(1000));
    assert_eq!(next(&mut apiserver).await, None);
    drop(apiserver);
    let mut incoming = incoming;
    let mut msgs = Vec::new();
    while let Some(msg) = incoming.recv().await {
        msgs.push(msg);
    }
    assert!(
        msgs.is_empty(),
        "a cancelled session has no status: {msgs:?}"
    );
    done.await.unwrap().expect("cancel is a clean finish");
}

/// Runs `connect` against a scripted API server and returns what the pipeline got.
async fn against_server(
    protocol: WsProtocol,
    script: Vec<Message>,
    hang_up: bool,
) -> (Vec<Msg>, Result<(), PeerError>) {
    let (client_io, server_io) = tokio::io::duplex(256 * 1024);
    let client = connect(client_io, protocol, OPTS);
    let mut apiserver = raw(server_io, Role::Server).await;
    for message in script {
        apiserver.send(message).await.unwrap();
    }
    if hang_up {
        drop(apiserver);
        return drain(client).await;
    }
    let drained = tokio::spawn(drain(client));
    // Complete the closing handshake like a Go server.
    while let Some(Ok(_)) = apiserver.next().await {}
    drop(apiserver);
    drained.await.unwrap()
}

fn close(code: u16) -> Message {
    close_message(code.into())
}

fn statuses(msgs: &[Msg]) -> Vec<Status> {
    msgs.iter()
        .filter_map(|m| match m {
            Msg::Data(f) if f.channel == Channel::Error => Some(Status::from_error_stream(
                crate::channel::Protocol::V4,
                &f.bytes,
            )),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn client_status_rules() {
    let exit = Status::exit_code(7).to_json();
    let mut split_status = vec![binary(b"\x01out")];
    for chunk in exit.chunks(5) {
        let mut m = vec![3u8];
        m.extend_from_slice(chunk);
        split_status.push(Message::Binary(m.into()));
    }
    let mut with_close = split_status.clone();
    with_close.push(close(1000));

    // v5: the status, collected over several messages, arrives once after stdout.
    let (msgs, done) = against_server(WsProtocol::V5, with_close, false).await;
    assert_eq!(
        msgs[0],
        Msg::Data(Frame::new(Channel::Stdout, Bytes::from_static(b"out")))
    );
    assert_eq!(statuses(&msgs).len(), 1);
    assert_eq!(statuses(&msgs)[0].exit_code_value(), Some(7));
    assert!(matches!(msgs.last(), Some(Msg::Data(f)) if f.channel == Channel::Error));
    assert!(done.is_ok());

    // A status that arrived before a TCP drop is still delivered; the drop is an error.
    let (msgs, done) = against_server(WsProtocol::V4, split_status, true).await;
    assert_eq!(statuses(&msgs)[0].exit_code_value(), Some(7));
    assert_eq!(done.unwrap_err().kind(), PeerErrorKind::Io);

    // v4 clean close without a status, abnormal close, drop: no status.
    let (msgs, done) = against_server(WsProtocol::V4, vec![close(1000)], false).await;
    assert!(statuses(&msgs).is_empty());
    assert!(done.is_ok());
    let (msgs, done) = against_server(WsProtocol::V1, vec![close(1011)], false).await;
    assert!(statuses(&msgs).is_empty());
    assert!(done.unwrap_err().is_protocol());
    let (msgs, done) = against_server(WsProtocol::V1, vec![], true).await;
    assert!(statuses(&msgs).is_empty());
    assert_eq!(done.unwrap_err().kind(), PeerErrorKind::Io);

    // v1: silence and a clean close is success; text is a failure.
    let (msgs, _) = against_server(WsProtocol::V1, vec![close(1000)], false).await;
    assert!(statuses(&msgs)[0].is_success());
    let script = vec![binary(b"\x03boom"), close(1000)];
    let (msgs, _) = against_server(WsProtocol::Unnamed, script, false).await;
    assert_eq!(statuses(&msgs)[0].message, "boom");
    let script = vec![Message::text("3Ym9vbQ=="), close(1000)];
    let (msgs, _) = against_server(WsProtocol::V1Base64, script, false).await;
    assert_eq!(statuses(&msgs)[0].message, "boom");
}

#[tokio::test]
async fn client_error_channel_limit() {
    let mut script = Vec::new();
    let chunk = vec![b'x'; 16 * 1024];
    for _ in 0..=(MAX_ERROR_CHANNEL_LEN / chunk.len()) {
        let mut m = vec![3u8];
        m.extend_from_slice(&chunk);
        script.push(Message::Binary(m.into()));
    }
    script.push(close(1000));
    let (msgs, done) = against_server(WsProtocol::V5, script, false).await;
    assert!(statuses(&msgs).is_empty());
    assert!(done.unwrap_err().is_limit());
}

#[test]
fn close_reasons_are_cut_to_the_control_frame_limit_on_a_char_boundary() {
    let long = "é".repeat(100);
    let Message::Close(Some(frame)) = close_with_reason(CloseCode::Protocol, &long) else {
        panic!("not a close frame");
    };
    assert_eq!(frame.reason.len(), MAX_CLOSE_REASON - 1);
    assert!(long.starts_with(frame.reason.as_str()));
    let Message::Close(Some(frame)) = close_with_reason(CloseCode::Size, "short") else {
        panic!("not a close frame");
    };
    assert_eq!(
        (frame.code, frame.reason.as_str()),
        (CloseCode::Size, "short")
    );
}
