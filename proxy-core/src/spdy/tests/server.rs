//! `serve` against a raw kubectl-like client.

use std::time::Duration;

use tokio::io::{AsyncWriteExt, duplex};

use super::*;
use crate::peer::PeerErrorKind;

// Paused time: finishing waits (up to STREAM_OPEN_TIMEOUT) for streams this client never opens.
#[tokio::test(start_paused = true)]
async fn server_replies_at_once_and_echoes_pings_only_after_first_stream() {
    let (a, b) = duplex(PIPE);
    let mut server = serve(a, opts(true, true, false, true), Protocol::V4);
    let mut raw = Raw::new(b);
    raw.send(Frame::Ping(Ping { id: 1 })).await;
    // Nothing may come back before the first SYN_STREAM.
    let early = tokio::time::timeout(Duration::from_millis(100), raw.recv()).await;
    assert!(early.is_err(), "server sent {early:?} before any stream");
    let syn = raw.syn_stream(1, "error");
    raw.send(syn).await;
    assert!(matches!(raw.recv().await, Some(Frame::SynReply(r)) if r.stream_id == 1));
    assert_eq!(raw.recv().await, Some(Frame::Ping(Ping { id: 1 })));
    raw.send(Frame::Ping(Ping { id: 3 })).await;
    assert_eq!(raw.recv().await, Some(Frame::Ping(Ping { id: 3 })));
    // Unexpected (stderr with a TTY) and duplicate stream types are refused.
    let syn = raw.syn_stream(3, "stderr");
    raw.send(syn).await;
    let refused = |id| {
        Frame::RstStream(RstStream {
            stream_id: id,
            status: RstStatus::REFUSED_STREAM,
        })
    };
    assert_eq!(raw.recv().await, Some(refused(3)));
    let syn = raw.syn_stream(5, "error");
    raw.send(syn).await;
    assert_eq!(raw.recv().await, Some(refused(5)));
    // DATA on a refused stream is dropped; on a stream never opened it is refused too.
    raw.send(data_frame(5, false, b"late")).await;
    raw.send(data_frame(9, false, b"stray")).await;
    let invalid = Frame::RstStream(RstStream {
        stream_id: 9,
        status: RstStatus::INVALID_STREAM,
    });
    assert_eq!(raw.recv().await, Some(invalid));
    // A lower id than one already seen is a protocol error on that stream.
    let syn = raw.syn_stream(1, "stdin");
    raw.send(syn).await;
    let proto = Frame::RstStream(RstStream {
        stream_id: 1,
        status: RstStatus::PROTOCOL_ERROR,
    });
    assert_eq!(raw.recv().await, Some(proto));
    // Finishing: after waiting in vain for the other streams, FIN on the error stream, then
    // GOAWAY with the highest client id.
    drop(server.outgoing);
    assert_eq!(raw.recv().await, Some(data_frame(1, true, b"")));
    let goaway = GoAway {
        last_good_stream_id: 5,
        status: GoAwayStatus::OK,
    };
    assert_eq!(raw.recv().await, Some(Frame::GoAway(goaway)));
    assert_eq!(raw.recv().await, None);
    drop(raw);
    server.done.await.unwrap().unwrap();
    assert_eq!(server.incoming.recv().await, None);
}

#[tokio::test(start_paused = true)]
async fn nothing_is_sent_before_every_expected_stream_is_open() {
    let (a, b) = duplex(PIPE);
    let server = serve(a, opts(false, true, true, false), Protocol::V4);
    let mut raw = Raw::new(b);
    let syn = raw.syn_stream(1, "error");
    raw.send(syn).await;
    assert!(matches!(raw.recv().await, Some(Frame::SynReply(r)) if r.stream_id == 1));
    let syn = raw.syn_stream(3, "stdout");
    raw.send(syn).await;
    assert!(matches!(raw.recv().await, Some(Frame::SynReply(r)) if r.stream_id == 3));
    // stdout is open, stderr is not: the output waits, like a kubelet's does.
    server
        .outgoing
        .send(data(Channel::Stdout, b"early"))
        .await
        .unwrap();
    let early = tokio::time::timeout(Duration::from_secs(1), raw.recv()).await;
    assert!(
        early.is_err(),
        "server sent {early:?} before every stream was open"
    );
    let syn = raw.syn_stream(5, "stderr");
    raw.send(syn).await;
    assert!(matches!(raw.recv().await, Some(Frame::SynReply(r)) if r.stream_id == 5));
    assert_eq!(raw.recv().await, Some(data_frame(3, false, b"early")));
}

#[tokio::test]
async fn server_serves_the_python_capture() {
    let wire = crate::spdy::decoder::tests::capture("kubectl_exec_tty.hex");
    let (a, b) = duplex(PIPE);
    let mut server = serve(a, opts(true, true, false, true), Protocol::V4);
    let mut raw = Raw::new(b);
    raw.io.write_all(&wire).await.unwrap();
    let mut replies = Vec::new();
    let mut pings = Vec::new();
    for _ in 0..6 {
        match raw.recv().await.unwrap() {
            Frame::SynReply(r) => replies.push(r.stream_id),
            Frame::Ping(p) => pings.push(p.id),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(replies, [1, 3, 5, 7]);
    assert_eq!(pings, [1, 3]);
    let got = drain(&mut server).await;
    assert_eq!(
        got,
        [
            data(Channel::Resize, b"{\"Width\":80,\"Height\":24}\n"),
            data(Channel::Stdin, b"echo hi; exit 3\n"),
            Msg::Close(Channel::Stdin),
        ]
    );
}

#[tokio::test]
async fn client_vanishing_mid_stream_ends_incoming() {
    let (a, b) = duplex(PIPE);
    let mut server = serve(a, opts(true, true, false, false), Protocol::V4);
    let mut raw = Raw::new(b);
    for (id, ty) in [(1, "error"), (3, "stdin"), (5, "stdout")] {
        let syn = raw.syn_stream(id, ty);
        raw.send(syn).await;
    }
    raw.send(data_frame(3, false, b"partial")).await;
    for _ in 0..3 {
        assert!(matches!(raw.recv().await, Some(Frame::SynReply(_))));
    }
    drop(raw);
    assert_eq!(
        server.incoming.recv().await,
        Some(data(Channel::Stdin, b"partial"))
    );
    assert_eq!(server.incoming.recv().await, None);
    // Writing to a gone client is not an error once it has closed.
    let _ = server.outgoing.send(data(Channel::Stdout, b"late")).await;
    drop(server.outgoing);
    let done = tokio::time::timeout(Duration::from_secs(5), server.done).await;
    assert!(done.expect("driver finished").is_ok());
}

#[tokio::test]
async fn garbage_bytes_fail_the_server_and_end_incoming() {
    let (a, mut b) = duplex(PIPE);
    let mut server = serve(a, opts(true, true, false, false), Protocol::V4);
    b.write_all(b"\xff\xff\xff\xff garbage that is not spdy")
        .await
        .unwrap();
    assert_eq!(server.incoming.recv().await, None);
    let err = server.done.await.unwrap().unwrap_err();
    assert!(err.is_protocol(), "{err}");
    // The client is told with GOAWAY PROTOCOL_ERROR.
    let mut raw = Raw::new(b);
    let goaway = GoAway {
        last_good_stream_id: 0,
        status: GoAwayStatus::PROTOCOL_ERROR,
    };
    assert_eq!(raw.recv().await, Some(Frame::GoAway(goaway)));
}

#[tokio::test]
async fn a_slow_pipeline_stops_the_socket_being_read() {
    let (a, b) = duplex(PIPE);
    let mut server = serve(a, opts(true, false, false, false), Protocol::V4);
    let mut raw = Raw::new(b);
    for (id, ty) in [(1, "error"), (3, "stdin")] {
        let syn = raw.syn_stream(id, ty);
        raw.send(syn).await;
    }
    let chunk = bytes::Bytes::from(vec![7u8; 32 * 1024]);
    let mut wire = Vec::new();
    for _ in 0..256 {
        Frame::Data(Data {
            stream_id: 3,
            fin: false,
            payload: chunk.clone(),
        })
        .encode(&mut wire);
    }
    // 8 MiB cannot fit in the queues and buffers while nobody drains `incoming`.
    let (mut rd, mut wr) = tokio::io::split(raw.io);
    let writer = tokio::spawn(async move { wr.write_all(&wire).await.map(|()| wr) });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !writer.is_finished(),
        "the server read everything without delivering it"
    );
    // Draining the pipeline side lets the rest through.
    let sink = tokio::spawn(async move {
        let mut scratch = vec![0u8; 4096];
        while tokio::io::AsyncReadExt::read(&mut rd, &mut scratch)
            .await
            .unwrap_or(0)
            > 0
        {}
    });
    let mut total = 0;
    while total < 256 * chunk.len() {
        match server.incoming.recv().await {
            Some(Msg::Data(f)) => total += f.bytes.len(),
            other => panic!("unexpected {other:?}"),
        }
    }
    let mut wr = writer.await.unwrap().unwrap();
    // The read half lives on in `sink`: shut the write direction down explicitly.
    wr.shutdown().await.unwrap();
    assert_eq!(server.incoming.recv().await, None);
    drop(server.outgoing);
    server.done.await.unwrap().unwrap();
    sink.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn data_on_streams_never_opened_is_reset_a_bounded_number_of_times() {
    // Found by the port-forward fuzz harness in its driver; the exec driver answered the same
    // way: each 8-byte DATA drew a 16-byte reset, without a bound.
    let (a, b) = duplex(PIPE);
    let server = serve(a, opts(false, true, false, false), Protocol::V4);
    let mut raw = Raw::new(b);
    let syn = raw.syn_stream(1, "error");
    raw.send(syn).await;
    for _ in 0..=crate::spdy::MAX_INVALID_STREAM_RESETS {
        raw.send(data_frame(99, false, b"")).await;
    }
    raw.io.shutdown().await.unwrap();
    let invalid = Frame::RstStream(RstStream {
        stream_id: 99,
        status: RstStatus::INVALID_STREAM,
    });
    let mut resets = 0;
    while let Some(frame) = raw.recv().await {
        resets += usize::from(frame == invalid);
    }
    assert_eq!(resets, crate::spdy::MAX_INVALID_STREAM_RESETS);
    let ended = server.done.await.unwrap();
    assert!(
        ended
            .as_ref()
            .is_err_and(|e| e.kind() == PeerErrorKind::Limit),
        "{ended:?}"
    );
}
