//! Driver tests over `tokio::io::duplex`: `connect` against `serve`, and each driver
//! against a raw peer speaking frames by hand.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};

use super::client::{Timing, connect_with};
use super::decoder::FrameDecoder;
use super::frame::*;
use super::header_block::HeaderBlock;
use super::zlib::{HeaderCompressor, HeaderDecompressor};
use super::{connect, serve};
use crate::channel::{Channel, Frame as ChannelFrame, Msg, Protocol, StreamOptions};
use crate::peer::Peer;
use crate::status::Status;

const PIPE: usize = 64 * 1024;

fn opts(stdin: bool, stdout: bool, stderr: bool, tty: bool) -> StreamOptions {
    StreamOptions {
        stdin,
        stdout,
        stderr,
        tty,
    }
}

async fn pair(o: StreamOptions, p: Protocol) -> (Peer, Peer) {
    let (a, b) = duplex(PIPE);
    let server = serve(a, o, p);
    let client = connect(b, o, p).await.expect("connect");
    (server, client)
}

fn data(ch: Channel, b: &'static [u8]) -> Msg {
    Msg::Data(ChannelFrame::new(ch, Bytes::from_static(b)))
}

async fn drain(peer: &mut Peer) -> Vec<Msg> {
    let mut out = Vec::new();
    while let Some(m) = peer.incoming.recv().await {
        out.push(m);
    }
    out
}

/// A peer that speaks raw frames.
struct Raw {
    io: DuplexStream,
    buf: BytesMut,
    dec: FrameDecoder,
    z_out: HeaderCompressor,
    z_in: HeaderDecompressor,
}

impl Raw {
    fn new(io: DuplexStream) -> Raw {
        Raw {
            io,
            buf: BytesMut::new(),
            dec: FrameDecoder::new(),
            z_out: HeaderCompressor::new(),
            z_in: HeaderDecompressor::new(),
        }
    }

    async fn send(&mut self, f: Frame) {
        let mut out = Vec::new();
        f.encode(&mut out);
        self.io.write_all(&out).await.unwrap();
    }

    async fn recv(&mut self) -> Option<Frame> {
        loop {
            if let Some(f) = self.dec.decode(&mut self.buf).unwrap() {
                // Keep the inbound zlib stream in step.
                match &f {
                    Frame::SynStream(s) => drop(self.z_in.decompress(&s.header_block).unwrap()),
                    Frame::SynReply(s) => {
                        assert!(self.z_in.decompress(&s.header_block).unwrap().is_empty())
                    }
                    _ => {}
                }
                return Some(f);
            }
            if self.io.read_buf(&mut self.buf).await.unwrap() == 0 {
                return None;
            }
        }
    }

    fn syn_stream(&mut self, id: u32, ty: &str) -> Frame {
        let mut h = HeaderBlock::new();
        h.insert("streamtype", Bytes::copy_from_slice(ty.as_bytes()))
            .unwrap();
        Frame::SynStream(SynStream {
            stream_id: id,
            associated_to: 0,
            priority: 0,
            slot: 0,
            fin: false,
            unidirectional: false,
            header_block: self.z_out.compress(&h).unwrap(),
        })
    }

    fn syn_reply(&mut self, id: u32) -> Frame {
        Frame::SynReply(SynReply {
            stream_id: id,
            fin: false,
            header_block: self.z_out.compress(&HeaderBlock::new()).unwrap(),
        })
    }

    /// Acts as a server: replies to `n` SYN_STREAMs, returning their (id, streamtype) order.
    async fn accept(&mut self, n: usize) -> Vec<u32> {
        let mut ids = Vec::new();
        while ids.len() < n {
            match self.recv().await.expect("client closed") {
                Frame::SynStream(s) => {
                    assert_eq!(s.priority, 0);
                    ids.push(s.stream_id);
                    let reply = self.syn_reply(s.stream_id);
                    self.send(reply).await;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        ids
    }
}

fn data_frame(id: u32, fin: bool, b: &'static [u8]) -> Frame {
    Frame::Data(Data {
        stream_id: id,
        fin,
        payload: Bytes::from_static(b),
    })
}

#[tokio::test]
async fn exec_with_stdin_stdout_stderr_and_exit_code() {
    let (mut server, mut client) = pair(opts(true, true, true, false), Protocol::V4).await;
    client
        .outgoing
        .send(data(Channel::Stdin, b"echo hi"))
        .await
        .unwrap();
    client
        .outgoing
        .send(Msg::Close(Channel::Stdin))
        .await
        .unwrap();
    assert_eq!(
        server.incoming.recv().await,
        Some(data(Channel::Stdin, b"echo hi"))
    );
    assert_eq!(
        server.incoming.recv().await,
        Some(Msg::Close(Channel::Stdin))
    );
    // Half-closed stdin: output still flows the other way.
    server
        .outgoing
        .send(data(Channel::Stdout, b"hi\n"))
        .await
        .unwrap();
    server
        .outgoing
        .send(data(Channel::Stderr, b"warn\n"))
        .await
        .unwrap();
    let status = Status::exit_code(3).to_json();
    server
        .outgoing
        .send(Msg::Data(ChannelFrame::new(Channel::Error, status)))
        .await
        .unwrap();
    drop(server.outgoing);
    let got = drain(&mut client).await;
    let errors: Vec<_> = got
        .iter()
        .filter_map(|m| match m {
            Msg::Data(f) if f.channel == Channel::Error => Some(f.bytes.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 1, "{got:?}");
    let st = Status::from_error_stream(Protocol::V4, &errors[0]);
    assert_eq!(st.exit_code_value(), Some(3));
    assert!(got.contains(&data(Channel::Stdout, b"hi\n")));
    assert!(got.contains(&data(Channel::Stderr, b"warn\n")));
    let last = got.last().unwrap();
    assert!(matches!(last, Msg::Data(f) if f.channel == Channel::Error));
    drop(client.outgoing);
    client.done.await.unwrap().unwrap();
    server.done.await.unwrap().unwrap();
    assert_eq!(server.incoming.recv().await, None);
}

#[tokio::test]
async fn tty_session_carries_resize() {
    let (mut server, mut client) = pair(opts(true, true, false, true), Protocol::V4).await;
    let size = br#"{"Width":80,"Height":24}"#;
    client
        .outgoing
        .send(data(Channel::Resize, size))
        .await
        .unwrap();
    assert_eq!(
        server.incoming.recv().await,
        Some(data(Channel::Resize, size))
    );
    server
        .outgoing
        .send(data(Channel::Stdout, b"$ "))
        .await
        .unwrap();
    assert_eq!(
        client.incoming.recv().await,
        Some(data(Channel::Stdout, b"$ "))
    );
    // Stderr does not exist with a TTY: the server drops it.
    server
        .outgoing
        .send(data(Channel::Stderr, b"nope"))
        .await
        .unwrap();
    server
        .outgoing
        .send(Msg::Data(ChannelFrame::new(
            Channel::Error,
            Status::success().to_json(),
        )))
        .await
        .unwrap();
    drop(server.outgoing);
    let rest = drain(&mut client).await;
    assert!(
        !rest
            .iter()
            .any(|m| matches!(m, Msg::Data(f) if f.channel == Channel::Stderr))
    );
    let Some(Msg::Data(f)) = rest.last() else {
        panic!("{rest:?}")
    };
    assert!(Status::from_error_stream(Protocol::V4, &f.bytes).is_success());
}

fn pattern(n: usize, seed: u32) -> Bytes {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (x >> 16) as u8
        })
        .collect::<Vec<_>>()
        .into()
}

async fn collect(peer: &mut Peer, ch: Channel, n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        match peer.incoming.recv().await {
            Some(Msg::Data(f)) if f.channel == ch => {
                assert!(f.bytes.len() <= crate::peer::MAX_FRAME_LEN);
                out.extend_from_slice(&f.bytes);
            }
            Some(other) => panic!("unexpected {other:?}"),
            None => break,
        }
    }
    out
}

#[tokio::test]
async fn ten_mib_each_way_is_byte_exact() {
    const N: usize = 10 * 1024 * 1024;
    let (mut server, mut client) = pair(opts(true, true, false, false), Protocol::V4).await;
    let up = pattern(N, 1);
    let down = pattern(N, 2);
    let (c_out, s_out) = (client.outgoing.clone(), server.outgoing.clone());
    let up2 = up.clone();
    let down2 = down.clone();
    let w1 = tokio::spawn(async move {
        for chunk in up2.chunks(100_000) {
            c_out
                .send(Msg::Data(ChannelFrame::new(
                    Channel::Stdin,
                    up2.slice_ref(chunk),
                )))
                .await
                .unwrap();
        }
    });
    let w2 = tokio::spawn(async move {
        for chunk in down2.chunks(300_000) {
            s_out
                .send(Msg::Data(ChannelFrame::new(
                    Channel::Stdout,
                    down2.slice_ref(chunk),
                )))
                .await
                .unwrap();
        }
    });
    let (got_up, got_down) = tokio::join!(
        collect(&mut server, Channel::Stdin, N),
        collect(&mut client, Channel::Stdout, N)
    );
    w1.await.unwrap();
    w2.await.unwrap();
    assert!(got_up == up[..], "upstream bytes differ");
    assert!(got_down == down[..], "downstream bytes differ");
}

#[tokio::test]
async fn v2_error_stream_is_plain_text() {
    let (server, mut client) = pair(opts(false, true, false, false), Protocol::V2).await;
    let fail = Status::failure("InternalError", "boom").to_json();
    server
        .outgoing
        .send(Msg::Data(ChannelFrame::new(Channel::Error, fail)))
        .await
        .unwrap();
    drop(server.outgoing);
    let got = drain(&mut client).await;
    let Some(Msg::Data(f)) = got.last() else {
        panic!("{got:?}")
    };
    let st = Status::from_error_stream(Protocol::V4, &f.bytes);
    assert!(!st.is_success());
    assert_eq!(st.message, "boom");
}

#[tokio::test]
async fn v2_success_writes_nothing_and_reads_as_success() {
    let (server, mut client) = pair(opts(false, true, false, false), Protocol::V2).await;
    server
        .outgoing
        .send(Msg::Data(ChannelFrame::new(
            Channel::Error,
            Status::success().to_json(),
        )))
        .await
        .unwrap();
    drop(server.outgoing);
    let got = drain(&mut client).await;
    assert_eq!(got.len(), 2, "{got:?}"); // Close(Stdout), then the status
    let Some(Msg::Data(f)) = got.last() else {
        panic!("{got:?}")
    };
    assert!(Status::from_error_stream(Protocol::V4, &f.bytes).is_success());
}

#[tokio::test]
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
    // A lower id than one already seen is a protocol error on that stream.
    let syn = raw.syn_stream(1, "stdin");
    raw.send(syn).await;
    let proto = Frame::RstStream(RstStream {
        stream_id: 1,
        status: RstStatus::PROTOCOL_ERROR,
    });
    assert_eq!(raw.recv().await, Some(proto));
    // Finishing: FIN on the error stream, then GOAWAY with the highest client id.
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

#[tokio::test]
async fn server_serves_the_python_capture() {
    let wire = super::decoder::tests::capture("kubectl_exec_tty.hex");
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
async fn garbage_bytes_fail_the_client() {
    let (a, b) = duplex(PIPE);
    let task = tokio::spawn(connect(a, opts(false, true, false, false), Protocol::V4));
    let mut raw = Raw::new(b);
    raw.accept(1).await;
    raw.io
        .write_all(&[0x80, 0x03, 0x00, 0x05, 0, 0, 0, 0])
        .await
        .unwrap(); // NOOP
    let err = task.await.unwrap().unwrap_err();
    assert!(err.is_protocol(), "{err}");
}

#[tokio::test]
async fn client_pings_and_echoes_server_pings() {
    let (a, b) = duplex(PIPE);
    let timing = Timing {
        ping_period: Duration::from_millis(200),
        ..Timing::default()
    };
    let task = tokio::spawn(connect_with(
        a,
        opts(true, true, false, false),
        Protocol::V4,
        timing,
    ));
    let mut raw = Raw::new(b);
    assert_eq!(raw.accept(3).await, [1, 3, 5]);
    let client = task.await.unwrap().unwrap();
    raw.send(Frame::Ping(Ping { id: 2 })).await;
    assert_eq!(raw.recv().await, Some(Frame::Ping(Ping { id: 2 })));
    // Then the client's own pings, odd ids, one period apart.
    assert_eq!(raw.recv().await, Some(Frame::Ping(Ping { id: 1 })));
    assert_eq!(raw.recv().await, Some(Frame::Ping(Ping { id: 3 })));
    // Dropping outgoing cancels: RST CANCEL on each stream, then GOAWAY.
    drop(client.outgoing);
    for id in [1, 3, 5] {
        let rst = RstStream {
            stream_id: id,
            status: RstStatus::CANCEL,
        };
        assert_eq!(raw.recv().await, Some(Frame::RstStream(rst)));
    }
    assert!(matches!(raw.recv().await, Some(Frame::GoAway(g)) if g.status == GoAwayStatus::OK));
}

#[tokio::test]
async fn client_times_out_without_syn_reply() {
    let (a, b) = duplex(PIPE);
    let timing = Timing {
        reply_timeout: Duration::from_millis(200),
        ..Timing::default()
    };
    let task = tokio::spawn(connect_with(
        a,
        opts(false, true, false, false),
        Protocol::V4,
        timing,
    ));
    let mut raw = Raw::new(b);
    assert!(matches!(raw.recv().await, Some(Frame::SynStream(_))));
    let err = task.await.unwrap().unwrap_err();
    assert_eq!(err.kind(), crate::peer::PeerErrorKind::Timeout);
}

#[tokio::test]
async fn empty_v4_error_stream_that_vanishes_delivers_nothing() {
    let (a, b) = duplex(PIPE);
    let task = tokio::spawn(connect(a, opts(false, true, false, false), Protocol::V4));
    let mut raw = Raw::new(b);
    raw.accept(2).await;
    let mut client = task.await.unwrap().unwrap();
    raw.send(data_frame(3, false, b"out")).await;
    drop(raw);
    assert_eq!(drain(&mut client).await, [data(Channel::Stdout, b"out")]);
}

#[tokio::test]
async fn kubelet_style_v4_end_delivers_the_status_once() {
    // The kubelet writes the status without FIN, then RST CANCEL on every stream, GOAWAY.
    let wire = super::decoder::tests::capture("kubelet_exec_tty.hex");
    let (a, b) = duplex(PIPE);
    let task = tokio::spawn(connect(a, opts(true, true, false, true), Protocol::V4));
    let mut raw = Raw::new(b);
    let mut syns = 0;
    while syns < 4 {
        if let Some(Frame::SynStream(_)) = raw.recv().await {
            syns += 1;
        }
        if syns == 1 {
            // Send the whole server side at once: replies, output, status, resets, GOAWAY.
            raw.io.write_all(&wire).await.unwrap();
            syns = 4;
        }
    }
    let mut client = task.await.unwrap().unwrap();
    let got = drain(&mut client).await;
    assert_eq!(got[0], data(Channel::Stdout, b"hi\r\n"));
    let Msg::Data(f) = &got[1] else {
        panic!("{got:?}")
    };
    assert_eq!(
        Status::from_error_stream(Protocol::V4, &f.bytes).exit_code_value(),
        Some(3)
    );
    assert_eq!(got.len(), 2, "{got:?}");
}

#[tokio::test]
async fn v2_success_ended_by_reset_reads_as_success() {
    let (a, b) = duplex(PIPE);
    let task = tokio::spawn(connect(a, opts(false, true, false, false), Protocol::V2));
    let mut raw = Raw::new(b);
    raw.accept(2).await;
    let mut client = task.await.unwrap().unwrap();
    raw.send(Frame::RstStream(RstStream {
        stream_id: 1,
        status: RstStatus::CANCEL,
    }))
    .await;
    let got = drain(&mut client).await;
    let [Msg::Data(f)] = &got[..] else {
        panic!("{got:?}")
    };
    assert!(Status::from_error_stream(Protocol::V4, &f.bytes).is_success());
}

#[tokio::test]
async fn oversized_error_stream_is_a_limit_error() {
    let (a, b) = duplex(PIPE);
    let task = tokio::spawn(connect(a, opts(false, true, false, false), Protocol::V4));
    let mut raw = Raw::new(b);
    raw.accept(2).await;
    let mut client = task.await.unwrap().unwrap();
    let big = vec![b'x'; super::MAX_ERROR_STREAM + 1];
    raw.send(Frame::Data(Data {
        stream_id: 1,
        fin: false,
        payload: big.into(),
    }))
    .await;
    assert_eq!(drain(&mut client).await, []);
    assert!(client.done.await.unwrap().unwrap_err().is_limit());
}
