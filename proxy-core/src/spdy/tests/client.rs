//! `connect` against a raw kubelet-like server.

use std::time::Duration;

use tokio::io::{AsyncWriteExt, duplex};

use super::*;

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
    let (mut client, mut raw) = raw_server(opts(false, true, false, false), Protocol::V4).await;
    raw.send(data_frame(3, false, b"out")).await;
    drop(raw);
    assert_eq!(drain(&mut client).await, [data(Channel::Stdout, b"out")]);
}

#[tokio::test]
async fn kubelet_style_v4_end_delivers_the_status_once() {
    // The kubelet writes the status without FIN, then RST CANCEL on every stream, GOAWAY.
    let wire = crate::spdy::decoder::tests::capture("kubelet_exec_tty.hex");
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
    let (mut client, mut raw) = raw_server(opts(false, true, false, false), Protocol::V2).await;
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
    let (mut client, mut raw) = raw_server(opts(false, true, false, false), Protocol::V4).await;
    let big = vec![b'x'; crate::spdy::MAX_ERROR_STREAM + 1];
    raw.send(Frame::Data(Data {
        stream_id: 1,
        fin: false,
        payload: big.into(),
    }))
    .await;
    assert_eq!(drain(&mut client).await, []);
    assert!(client.done.await.unwrap().unwrap_err().is_limit());
}
