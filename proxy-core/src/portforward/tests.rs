//! Driver tests over `tokio::io::duplex`: each role against a raw peer speaking frames by
//! hand, and the two roles joined.

use bytes::Bytes;
use tokio::io::{AsyncWriteExt, duplex};

use super::*;
use crate::channel::{Channel, Frame as ChannelFrame, Msg};
use crate::spdy::frame::{Data, Frame, GoAwayStatus, RstStatus, RstStream};
use crate::spdy::tests::Raw;
use crate::status::Status;

const PIPE: usize = 256 * 1024;

fn data(id: u32, payload: &'static [u8], fin: bool) -> Frame {
    Frame::Data(Data {
        stream_id: id,
        fin,
        payload: Bytes::from_static(payload),
    })
}

fn pf_headers<'a>(kind: &'a str, port: &'a str, id: &'a str) -> [(&'a str, &'a str); 3] {
    [("streamtype", kind), ("port", port), ("requestid", id)]
}

/// The API server's side: replies to the two SYN_STREAMs of a pair.
async fn answer_pair(raw: &mut Raw) {
    let mut replied = 0;
    while replied < 2 {
        if let Some(Frame::SynStream(s)) = raw.recv().await {
            let reply = raw.syn_reply(s.stream_id);
            raw.send(reply).await;
            replied += 1;
        }
    }
}

/// kubectl's side: opens the error then the data stream of request `rid`.
async fn open_pair(raw: &mut Raw, error: u32, port: &str, rid: &str) {
    for (id, kind) in [(error, "error"), (error + 2, "data")] {
        let syn = raw.syn_stream_with(id, &pf_headers(kind, port, rid));
        raw.send(syn).await;
        match raw.recv().await.expect("reply") {
            Frame::SynReply(r) => assert_eq!(r.stream_id, id),
            other => panic!("expected a syn_reply, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_kubectl_pair_is_one_peer_both_ways() {
    let (a, b) = duplex(PIPE);
    let mut conn = serve(a);
    let mut raw = Raw::new(b);
    open_pair(&mut raw, 1, "8080", "0").await;
    let mut fwd = conn.pairs.recv().await.expect("announced");
    assert_eq!((fwd.port, fwd.request_id.as_str()), (8080, "0"));

    raw.send(data(3, b"GET /", false)).await;
    raw.send(data(3, b"", true)).await;
    let m = fwd.peer.incoming.recv().await.unwrap();
    assert_eq!(
        m,
        Msg::Data(ChannelFrame::new(Channel::Stdin, &b"GET /"[..]))
    );
    assert_eq!(
        fwd.peer.incoming.recv().await,
        Some(Msg::Close(Channel::Stdin))
    );

    let out = &fwd.peer.outgoing;
    out.send(Msg::Data(ChannelFrame::new(Channel::Stdout, &b"200"[..])))
        .await
        .unwrap();
    out.send(Msg::Close(Channel::Stdout)).await.unwrap();
    let failed = Status::failure("InternalError", "boom");
    out.send(Msg::Data(ChannelFrame::new(
        Channel::Error,
        failed.to_json(),
    )))
    .await
    .unwrap();
    drop(fwd.peer.outgoing);
    let mut seen = Vec::new();
    while seen.len() < 4 {
        match raw.recv().await.expect("frame") {
            Frame::Data(d) => seen.push((d.stream_id, d.payload, d.fin)),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        seen,
        vec![
            (3, Bytes::from_static(b"200"), false),
            (3, Bytes::new(), true),
            // The kubelet writes the message as text.
            (1, Bytes::from_static(b"boom"), false),
            (1, Bytes::new(), true),
        ]
    );
    // The pair is over; its incoming ends once kubectl closes the connection.
    drop(raw);
    assert_eq!(fwd.peer.incoming.recv().await, None);
    conn.done.await.unwrap().unwrap();
}

#[tokio::test]
async fn bad_streams_are_refused_and_announce_nothing() {
    let cases: &[&[(&str, &str)]] = &[
        &[("port", "80"), ("requestid", "0")],
        &[("streamtype", "stdout"), ("port", "80")],
        &[("streamtype", "data"), ("port", "0")],
        &[("streamtype", "data"), ("port", "65536")],
        &[("streamtype", "data"), ("port", "http")],
        &[("streamtype", "error")],
    ];
    let (a, b) = duplex(PIPE);
    let mut conn = serve(a);
    let mut raw = Raw::new(b);
    let mut id = 1;
    for headers in cases {
        let syn = raw.syn_stream_with(id, headers);
        raw.send(syn).await;
        match raw.recv().await.expect("answer") {
            Frame::RstStream(r) => {
                assert_eq!((r.stream_id, r.status), (id, RstStatus::REFUSED_STREAM))
            }
            other => panic!("{headers:?}: expected a reset, got {other:?}"),
        }
        id += 2;
    }
    // A duplicate error stream and a data stream on another port are refused too.
    open_pair(&mut raw, id, "80", "7").await;
    let fwd = conn.pairs.recv().await.expect("the good pair");
    for (kind, port) in [("error", "80"), ("data", "80")] {
        id += 4;
        let syn = raw.syn_stream_with(id, &pf_headers(kind, port, "7"));
        raw.send(syn).await;
        assert!(matches!(
            raw.recv().await,
            Some(Frame::RstStream(RstStream {
                status: RstStatus::REFUSED_STREAM,
                ..
            }))
        ));
    }
    id += 2;
    let syn = raw.syn_stream_with(id, &pf_headers("error", "80", "8"));
    raw.send(syn).await;
    assert!(matches!(raw.recv().await, Some(Frame::SynReply(_))));
    let syn = raw.syn_stream_with(id + 2, &pf_headers("data", "81", "8"));
    raw.send(syn).await;
    assert!(matches!(
        raw.recv().await,
        Some(Frame::RstStream(RstStream {
            status: RstStatus::REFUSED_STREAM,
            ..
        }))
    ));
    drop(fwd);
    drop(raw);
    assert!(conn.pairs.recv().await.is_none(), "nothing else announced");
}

#[tokio::test(start_paused = true)]
async fn an_incomplete_pair_is_reset_after_the_timeout() {
    let (a, b) = duplex(PIPE);
    let _conn = serve(a);
    let mut raw = Raw::new(b);
    let syn = raw.syn_stream_with(1, &pf_headers("error", "80", "0"));
    raw.send(syn).await;
    assert!(matches!(raw.recv().await, Some(Frame::SynReply(_))));
    let frame = raw.recv().await.expect("a reset");
    assert_eq!(
        frame,
        Frame::RstStream(RstStream {
            stream_id: 1,
            status: RstStatus::CANCEL
        })
    );
}

#[tokio::test]
async fn a_client_reset_ends_the_pair_only() {
    let (a, b) = duplex(PIPE);
    let mut conn = serve(a);
    let mut raw = Raw::new(b);
    open_pair(&mut raw, 1, "80", "0").await;
    open_pair(&mut raw, 5, "80", "1").await;
    let mut first = conn.pairs.recv().await.unwrap();
    let mut second = conn.pairs.recv().await.unwrap();
    raw.send(Frame::RstStream(RstStream {
        stream_id: 3,
        status: RstStatus::CANCEL,
    }))
    .await;
    assert_eq!(
        first.peer.incoming.recv().await,
        Some(Msg::Close(Channel::Stdin))
    );
    assert_eq!(first.peer.incoming.recv().await, None);
    raw.send(data(7, b"still here", false)).await;
    let m = second.peer.incoming.recv().await.unwrap();
    assert_eq!(
        m,
        Msg::Data(ChannelFrame::new(Channel::Stdin, &b"still here"[..]))
    );
}

#[tokio::test]
async fn dropping_shutdown_closes_the_client_connection() {
    let (a, b) = duplex(PIPE);
    let conn = serve(a);
    let mut raw = Raw::new(b);
    open_pair(&mut raw, 1, "80", "0").await;
    drop(conn.shutdown);
    let mut frames = Vec::new();
    while let Some(f) = raw.recv().await {
        frames.push(f);
    }
    assert!(frames.contains(&Frame::RstStream(RstStream {
        stream_id: 3,
        status: RstStatus::CANCEL
    })));
    assert!(
        matches!(frames.last(), Some(Frame::GoAway(_))),
        "{frames:?}"
    );
}

#[tokio::test]
async fn the_tunnel_opens_pairs_like_client_go() {
    let (a, b) = duplex(PIPE);
    let tunnel = connect(a);
    let mut raw = Raw::new(b);
    let opening = tokio::spawn(async move {
        let peer = tunnel.open(5432, "3").await;
        (tunnel, peer)
    });
    let mut syns = Vec::new();
    while syns.len() < 2 {
        match raw.recv().await.expect("frame") {
            Frame::SynStream(s) => {
                let h = raw.last_syn_headers.take().unwrap();
                let get = |k| String::from_utf8(h.get(k).unwrap().to_vec()).unwrap();
                syns.push((
                    s.stream_id,
                    get("streamtype"),
                    get("port"),
                    get("requestid"),
                ));
            }
            // We never write on the error stream: it is half-closed at once.
            Frame::Data(d) => assert_eq!((d.stream_id, d.payload.len(), d.fin), (1, 0, true)),
            other => panic!("unexpected {other:?}"),
        }
    }
    let want = |id, kind: &str| (id, kind.to_string(), "5432".to_string(), "3".to_string());
    assert_eq!(syns, vec![want(1, "error"), want(3, "data")]);
    for id in [1, 3] {
        let reply = raw.syn_reply(id);
        raw.send(reply).await;
    }
    let (_tunnel, peer) = opening.await.unwrap();
    let mut peer = peer.expect("the pair opens");

    peer.outgoing
        .send(Msg::Data(ChannelFrame::new(Channel::Stdin, &b"q"[..])))
        .await
        .unwrap();
    assert_eq!(raw.recv().await, Some(data(3, b"q", false)));
    raw.send(data(3, b"row", false)).await;
    raw.send(data(1, b"refused", false)).await;
    raw.send(data(1, b"", true)).await;
    raw.send(data(3, b"", true)).await;
    let mut got = Vec::new();
    while let Some(m) = peer.incoming.recv().await {
        got.push(m);
    }
    let status = Status::from_error_stream(crate::channel::Protocol::V1, b"refused");
    assert_eq!(
        got,
        vec![
            Msg::Data(ChannelFrame::new(Channel::Stdout, &b"row"[..])),
            Msg::Close(Channel::Stdout),
            Msg::Data(ChannelFrame::new(Channel::Error, status.to_json())),
        ]
    );
    // Dropping the pair cancels the data stream we did not finish.
    drop(peer.outgoing);
    assert_eq!(
        raw.recv().await,
        Some(Frame::RstStream(RstStream {
            stream_id: 3,
            status: RstStatus::CANCEL
        }))
    );
}

#[tokio::test]
async fn a_pair_whose_upstream_connection_ends_gets_no_status() {
    let (a, b) = duplex(PIPE);
    let tunnel = connect(a);
    let mut raw = Raw::new(b);
    let server = tokio::spawn(async move {
        answer_pair(&mut raw).await;
        // Vanish without FIN or status.
    });
    let mut peer = tunnel.open(80, "0").await.expect("opens");
    server.await.unwrap();
    assert_eq!(
        peer.incoming.recv().await,
        None,
        "no status: the pipeline fails closed"
    );
    tunnel.closed().await;
    assert!(tunnel.open(80, "1").await.is_err());
}

#[tokio::test]
async fn both_roles_joined_relay_a_pair() {
    let (a, b) = duplex(PIPE);
    let mut conn = serve(a);
    let tunnel = connect(b);
    let opened = tokio::spawn(async move {
        let peer = tunnel.open(80, "0").await;
        (tunnel, peer)
    });
    let mut fwd = conn.pairs.recv().await.expect("announced");
    let (_tunnel, peer) = opened.await.unwrap();
    let mut peer = peer.unwrap();
    let big = Bytes::from(vec![7u8; 300_000]);
    peer.outgoing
        .send(Msg::Data(ChannelFrame::new(Channel::Stdin, big.clone())))
        .await
        .unwrap();
    let mut got = Vec::new();
    while got.len() < big.len() {
        match fwd.peer.incoming.recv().await.unwrap() {
            Msg::Data(f) => {
                assert!(f.bytes.len() <= crate::peer::MAX_FRAME_LEN);
                got.extend_from_slice(&f.bytes)
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(got, big);
    drop(fwd.peer.outgoing);
    let mut end = Vec::new();
    while let Some(m) = peer.incoming.recv().await {
        end.push(m);
    }
    assert_eq!(
        end,
        vec![
            Msg::Close(Channel::Stdout),
            Msg::Data(ChannelFrame::new(
                Channel::Error,
                Status::success().to_json()
            )),
        ]
    );
}

#[test]
fn upgrades_are_checked() {
    use http::HeaderMap;
    let h = |pairs: &[(&'static str, &'static str)]| {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(*k, http::HeaderValue::from_static(v));
        }
        m
    };
    let spdy = [("connection", "Upgrade"), ("upgrade", "SPDY/3.1")];
    let ok = h(&[spdy[0], spdy[1], ("x-stream-protocol-version", PROTOCOL)]);
    let accepted = accept(&ok).expect("accepted");
    assert_eq!(accepted.transport, Transport::Spdy);
    assert_eq!(accepted.headers["x-stream-protocol-version"], PROTOCOL);
    assert_eq!(
        accept(&h(&spdy)).unwrap_err().status,
        http::StatusCode::BAD_REQUEST
    );
    let exec = h(&[
        spdy[0],
        spdy[1],
        ("x-stream-protocol-version", "v4.channel.k8s.io"),
    ]);
    assert_eq!(
        accept(&exec).unwrap_err().status,
        http::StatusCode::FORBIDDEN
    );
    assert_eq!(
        accept(&h(&[])).unwrap_err().status,
        http::StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn pairs_beyond_the_cap_are_refused() {
    let (a, b) = duplex(PIPE);
    let mut conn = serve(a);
    let mut raw = Raw::new(b);
    let taken = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Some(f) = conn.pairs.recv().await {
            held.push(f);
        }
        held.len()
    });
    let mut id = 1;
    for rid in 0..MAX_PAIRS {
        open_pair(&mut raw, id, "80", &rid.to_string()).await;
        id += 4;
    }
    let syn = raw.syn_stream_with(id, &pf_headers("error", "80", "one-too-many"));
    raw.send(syn).await;
    assert_eq!(
        raw.recv().await,
        Some(Frame::RstStream(RstStream {
            stream_id: id,
            status: RstStatus::REFUSED_STREAM
        }))
    );
    drop(raw);
    assert_eq!(taken.await.unwrap(), MAX_PAIRS);
}

#[tokio::test]
async fn an_error_stream_over_the_limit_fails_the_upstream_connection() {
    let (a, b) = duplex(PIPE);
    let tunnel = connect(a);
    let mut raw = Raw::new(b);
    let server = tokio::spawn(async move {
        answer_pair(&mut raw).await;
        let chunk = Bytes::from(vec![b'e'; 16 * 1024]);
        for _ in 0..=crate::spdy::MAX_ERROR_STREAM / chunk.len() {
            raw.send(Frame::Data(Data {
                stream_id: 1,
                fin: false,
                payload: chunk.clone(),
            }))
            .await;
        }
        raw
    });
    let mut peer = tunnel.open(80, "0").await.expect("opens");
    let _raw = server.await.unwrap();
    assert_eq!(
        peer.incoming.recv().await,
        None,
        "no status from a broken error stream"
    );
    tunnel.closed().await;
}

#[tokio::test]
async fn data_before_the_pair_is_complete_resets_it() {
    let (a, b) = duplex(PIPE);
    let mut conn = serve(a);
    let mut raw = Raw::new(b);
    let syn = raw.syn_stream_with(1, &pf_headers("data", "80", "0"));
    raw.send(syn).await;
    assert!(matches!(raw.recv().await, Some(Frame::SynReply(_))));
    raw.send(data(1, b"early", false)).await;
    assert_eq!(
        raw.recv().await,
        Some(Frame::RstStream(RstStream {
            stream_id: 1,
            status: RstStatus::PROTOCOL_ERROR
        }))
    );
    // The request id is free again: a proper pair with it works.
    open_pair(&mut raw, 3, "80", "0").await;
    assert_eq!(conn.pairs.recv().await.expect("announced").request_id, "0");
}

#[tokio::test]
async fn data_on_streams_never_opened_is_reset_a_bounded_number_of_times() {
    // Found by the port-forward fuzz harness: each 8-byte DATA drew a 16-byte reset.
    let (a, b) = duplex(PIPE);
    let conn = serve(a);
    let mut raw = Raw::new(b);
    for _ in 0..=MAX_INVALID_STREAM_RESETS {
        raw.send(data(99, b"", false)).await;
    }
    raw.io.shutdown().await.unwrap();
    let mut answers = Vec::new();
    while let Some(frame) = raw.recv().await {
        answers.push(frame);
    }
    let status = GoAwayStatus::PROTOCOL_ERROR;
    assert!(matches!(answers.pop(), Some(Frame::GoAway(g)) if g.status == status));
    let (stream_id, status) = (99, RstStatus::INVALID_STREAM);
    let reset = Frame::RstStream(RstStream { stream_id, status });
    assert_eq!(answers, vec![reset; MAX_INVALID_STREAM_RESETS]);
    assert!(conn.done.await.unwrap().unwrap_err().is_limit());
}
