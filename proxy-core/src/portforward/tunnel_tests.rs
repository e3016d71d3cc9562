use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::*;
use crate::channel::{Channel, Frame as ChannelFrame, Msg};
use crate::spdy::frame::{Data, Frame};
use crate::spdy::tests::Raw;

const PIPE: usize = 256 * 1024;

/// The bytes kubectl sends for one forwarded connection: error and data SYN_STREAMs (zlib
/// header blocks), a PING, then "hello" and a FIN on the data stream.
async fn kubectl_bytes() -> Vec<u8> {
    let (a, mut b) = duplex(PIPE);
    let mut raw = Raw::new(a);
    for (id, kind) in [(1, "error"), (3, "data")] {
        let syn = raw.syn_stream_with(
            id,
            &[("streamtype", kind), ("port", "80"), ("requestid", "0")],
        );
        raw.send(syn).await;
    }
    raw.send(Frame::Ping(crate::spdy::frame::Ping { id: 1 }))
        .await;
    for (payload, fin) in [(&b"hello"[..], false), (&b""[..], true)] {
        raw.send(Frame::Data(Data {
            stream_id: 3,
            fin,
            payload: Bytes::from_static(payload),
        }))
        .await;
    }
    drop(raw);
    let mut out = Vec::new();
    b.read_to_end(&mut out).await.unwrap();
    out
}

/// What the port-forward server makes of `messages` sent through the tunnel: the pair's
/// port and what arrived on it.
async fn serve_messages(messages: Vec<Vec<u8>>) -> (u16, Vec<Msg>) {
    let (a, b) = duplex(PIPE);
    let server = tokio::spawn(async move {
        let mut conn = super::super::serve(WsTunnel::server(a).await);
        let mut fwd = conn.pairs.recv().await.expect("a pair");
        let mut got = Vec::new();
        while let Some(m) = fwd.peer.incoming.recv().await {
            let end = m == Msg::Close(Channel::Stdin);
            got.push(m);
            if end {
                break;
            }
        }
        (fwd.port, got)
    });
    let mut client = WebSocketStream::from_raw_socket(b, Role::Client, None).await;
    for m in messages {
        client.send(Message::Binary(m.into())).await.unwrap();
    }
    let result = server.await.unwrap();
    drop(client);
    result
}

#[tokio::test]
async fn spdy_split_across_messages_at_every_offset_decodes_the_same() {
    let bytes = kubectl_bytes().await;
    let want = (
        80,
        vec![
            Msg::Data(ChannelFrame::new(Channel::Stdin, &b"hello"[..])),
            Msg::Close(Channel::Stdin),
        ],
    );
    assert_eq!(serve_messages(vec![bytes.clone()]).await, want);
    for at in 1..bytes.len() {
        let messages = vec![bytes[..at].to_vec(), bytes[at..].to_vec()];
        assert_eq!(serve_messages(messages).await, want, "split at {at}");
    }
    // One byte per message.
    let messages = bytes.iter().map(|b| vec![*b]).collect();
    assert_eq!(serve_messages(messages).await, want);
}

#[tokio::test]
async fn reads_are_message_bytes_and_writes_are_bounded_binary_messages() {
    let (a, b) = duplex(PIPE);
    let mut client = WebSocketStream::from_raw_socket(b, Role::Client, None).await;
    let mut tunnel = WsTunnel::server(a).await;
    client
        .send(Message::Binary(Bytes::from_static(b"ab")))
        .await
        .unwrap();
    client
        .send(Message::Ping(Bytes::from_static(b"p")))
        .await
        .unwrap();
    client
        .send(Message::Binary(Bytes::from_static(b"cd")))
        .await
        .unwrap();
    let mut buf = [0u8; 3];
    tunnel.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"abc");

    let big = vec![9u8; MAX_TUNNEL_WRITE + 10];
    tunnel.write_all(&big).await.unwrap();
    tunnel.flush().await.unwrap();
    let mut lens = Vec::new();
    while lens.iter().sum::<usize>() < big.len() {
        match client.next().await.unwrap().unwrap() {
            Message::Binary(b) => lens.push(b.len()),
            // The ping was answered.
            Message::Pong(p) => assert_eq!(&p[..], b"p"),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(lens, vec![MAX_TUNNEL_WRITE, 10]);

    tunnel.shutdown().await.unwrap();
    match client.next().await.unwrap().unwrap() {
        Message::Close(Some(f)) => assert_eq!(f.code, CloseCode::Normal),
        other => panic!("expected a close 1000, got {other:?}"),
    }
    let mut rest = [0u8; 1];
    assert_eq!(
        tunnel.read(&mut rest).await.unwrap(),
        1,
        "d is still readable"
    );
    drop(client);
    assert_eq!(tunnel.read(&mut rest).await.unwrap(), 0, "then EOF");
}

#[tokio::test]
async fn a_text_message_is_an_error() {
    let (a, b) = duplex(PIPE);
    let mut client = WebSocketStream::from_raw_socket(b, Role::Client, None).await;
    let mut tunnel = WsTunnel::server(a).await;
    client.send(Message::Text("x".into())).await.unwrap();
    let mut buf = [0u8; 4];
    let err = tunnel.read(&mut buf).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
}

#[tokio::test]
async fn a_close_frame_is_eof() {
    let (a, b) = duplex(PIPE);
    let mut client = WebSocketStream::from_raw_socket(b, Role::Client, None).await;
    let mut tunnel = WsTunnel::server(a).await;
    client
        .send(Message::Binary(Bytes::from_static(b"z")))
        .await
        .unwrap();
    client.close(None).await.unwrap();
    let mut out = Vec::new();
    tunnel.read_to_end(&mut out).await.unwrap();
    assert_eq!(out, b"z");
}
