//! `connect` against `serve`: whole sessions end to end.

use bytes::Bytes;

use super::*;

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
        .send(error_msg(&Status::success()))
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
        .send(error_msg(&Status::success()))
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
