use bytes::Bytes;

use super::*;
use crate::channel::Protocol;
use crate::peer::DriverQueues;

fn data(channel: Channel, s: &'static str) -> Msg {
    Msg::Data(Frame::new(channel, Bytes::from_static(s.as_bytes())))
}

fn status_msg(status: &Status) -> Msg {
    Msg::Data(Frame::new(Channel::Error, status.to_json()))
}

/// Drains what the pipeline sent to a peer until it closes the queue.
async fn drain(driver: &mut DriverQueues) -> Vec<Msg> {
    let mut got = Vec::new();
    while let Some(m) = driver.from_pipeline.recv().await {
        got.push(m);
    }
    got
}

fn status_of(msgs: &[Msg]) -> Status {
    match msgs.last() {
        Some(Msg::Data(Frame {
            channel: Channel::Error,
            bytes,
        })) => Status::from_error_stream(Protocol::V4, bytes),
        other => panic!("last message is not a status: {other:?}"),
    }
}

#[tokio::test]
async fn splice_relays_both_ways_then_delivers_the_status() {
    let (client, mut c) = Peer::fake();
    let (server, mut s) = Peer::fake();
    let session = tokio::spawn(splice(client, server));

    c.to_pipeline
        .send(data(Channel::Stdin, "in"))
        .await
        .unwrap();
    c.to_pipeline
        .send(Msg::Close(Channel::Stdin))
        .await
        .unwrap();
    assert_eq!(
        s.from_pipeline.recv().await,
        Some(data(Channel::Stdin, "in"))
    );
    assert_eq!(
        s.from_pipeline.recv().await,
        Some(Msg::Close(Channel::Stdin))
    );

    s.to_pipeline
        .send(data(Channel::Stdout, "out"))
        .await
        .unwrap();
    s.to_pipeline
        .send(data(Channel::Stderr, "err"))
        .await
        .unwrap();
    s.to_pipeline
        .send(status_msg(&Status::exit_code(3)))
        .await
        .unwrap();
    drop(s.to_pipeline);

    let got = drain(&mut c).await;
    assert_eq!(got[0], data(Channel::Stdout, "out"));
    assert_eq!(got[1], data(Channel::Stderr, "err"));
    assert_eq!(status_of(&got).exit_code_value(), Some(3));
    let end = session.await.unwrap();
    assert_eq!(end.reason, EndReason::Completed);
    assert_eq!(end.status.exit_code_value(), Some(3));
}

#[tokio::test]
async fn a_server_that_vanishes_without_status_fails_the_session() {
    let (client, mut c) = Peer::fake();
    let (server, s) = Peer::fake();
    let session = tokio::spawn(splice(client, server));
    s.to_pipeline
        .send(data(Channel::Stdout, "partial"))
        .await
        .unwrap();
    drop(s);
    let got = drain(&mut c).await;
    let status = status_of(&got);
    assert!(!status.is_success());
    assert!(status.message.contains("without an exit status"));
    assert_eq!(session.await.unwrap().reason, EndReason::ServerLost);
}

#[tokio::test]
async fn a_client_that_goes_away_cancels_the_server() {
    let (client, c) = Peer::fake();
    let (server, mut s) = Peer::fake();
    let session = tokio::spawn(splice(client, server));
    drop(c);
    // The server's queue closes: its driver cancels the upstream stream.
    assert_eq!(drain(&mut s).await, []);
    assert_eq!(session.await.unwrap().reason, EndReason::ClientGone);
    drop(s);
}

/// Uppercases stdout and holds back the last byte of every frame until the next one.
#[derive(Default)]
struct HoldLast {
    held: Option<Bytes>,
    ended: Option<SessionEnd>,
}

impl Filter for HoldLast {
    fn on_msg(&mut self, msg: Msg, out: &mut Vec<Msg>) -> Result<(), EndSession> {
        match msg {
            Msg::Data(Frame {
                channel: Channel::Stdout,
                bytes,
            }) if !bytes.is_empty() => {
                if let Some(h) = self.held.take() {
                    out.push(Msg::Data(Frame::new(Channel::Stdout, h)));
                }
                let upper = Bytes::from(bytes[..bytes.len() - 1].to_ascii_uppercase());
                out.push(Msg::Data(Frame::new(Channel::Stdout, upper)));
                self.held = Some(bytes.slice(bytes.len() - 1..));
            }
            other => out.push(other),
        }
        Ok(())
    }

    fn on_finish(&mut self, out: &mut Vec<Msg>) {
        if let Some(h) = self.held.take() {
            out.push(Msg::Data(Frame::new(Channel::Stdout, h)));
        }
    }

    fn on_end(&mut self, end: &SessionEnd) {
        self.ended = Some(end.clone());
    }
}

#[tokio::test]
async fn filters_rewrite_hold_back_and_flush_before_the_status() {
    let (client, mut c) = Peer::fake();
    let (server, s) = Peer::fake();
    let mut pipeline = Pipeline::new();
    pipeline.filter(Direction::ToClient, Box::new(HoldLast::default()));
    let session = tokio::spawn(pipeline.run(client, server));
    s.to_pipeline
        .send(data(Channel::Stdout, "abc"))
        .await
        .unwrap();
    s.to_pipeline
        .send(data(Channel::Stdout, "de"))
        .await
        .unwrap();
    s.to_pipeline
        .send(status_msg(&Status::success()))
        .await
        .unwrap();
    drop(s);
    let got = drain(&mut c).await;
    let text: Vec<u8> = got
        .iter()
        .filter_map(|m| match m {
            Msg::Data(Frame {
                channel: Channel::Stdout,
                bytes,
            }) => Some(bytes.to_vec()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(text, b"ABcDe");
    assert!(status_of(&got).is_success());
    assert_eq!(session.await.unwrap().reason, EndReason::Completed);
}

/// Ends the session on the first stdin byte.
struct DenyStdin;

impl Filter for DenyStdin {
    fn on_msg(&mut self, msg: Msg, out: &mut Vec<Msg>) -> Result<(), EndSession> {
        match msg {
            Msg::Data(Frame {
                channel: Channel::Stdin,
                ..
            }) => Err(EndSession::new(Status::failure(
                "Forbidden",
                "stdin is not allowed",
            ))),
            other => {
                out.push(other);
                Ok(())
            }
        }
    }
}

#[tokio::test]
async fn a_filter_can_end_the_session_and_the_client_sees_why() {
    let (client, mut c) = Peer::fake();
    let (server, mut s) = Peer::fake();
    let mut pipeline = Pipeline::new();
    pipeline.filter(Direction::ToServer, Box::new(DenyStdin));
    let session = tokio::spawn(pipeline.run(client, server));
    c.to_pipeline
        .send(data(Channel::Stdin, "rm -rf /"))
        .await
        .unwrap();
    let got = drain(&mut c).await;
    assert_eq!(status_of(&got).message, "stdin is not allowed");
    // Nothing reached the server, and its side was cancelled.
    assert_eq!(drain(&mut s).await, []);
    assert_eq!(session.await.unwrap().reason, EndReason::Ended);
}

#[tokio::test]
async fn an_end_handle_ends_a_quiet_session() {
    let (client, mut c) = Peer::fake();
    let (server, _s) = Peer::fake();
    let pipeline = Pipeline::new();
    let handle = pipeline.end_handle();
    let session = tokio::spawn(pipeline.run(client, server));
    handle.end(Status::failure("Timeout", "maxDuration reached"));
    let got = drain(&mut c).await;
    assert_eq!(status_of(&got).reason, "Timeout");
    assert_eq!(session.await.unwrap().reason, EndReason::Ended);
}

#[tokio::test]
async fn a_server_that_never_reads_stdin_does_not_block_stdout() {
    let (client, mut c) = Peer::fake();
    let (server, s) = Peer::fake();
    let session = tokio::spawn(splice(client, server));
    // Fill the server's inbound queue and more: the stdin pump blocks…
    let writer = tokio::spawn({
        let tx = c.to_pipeline.clone();
        async move {
            for _ in 0..100 {
                if tx.send(data(Channel::Stdin, "x")).await.is_err() {
                    break;
                }
            }
        }
    });
    // …while stdout still flows.
    for _ in 0..50 {
        s.to_pipeline
            .send(data(Channel::Stdout, "y"))
            .await
            .unwrap();
        assert_eq!(
            c.from_pipeline.recv().await,
            Some(data(Channel::Stdout, "y"))
        );
    }
    s.to_pipeline
        .send(status_msg(&Status::success()))
        .await
        .unwrap();
    drop(s);
    let got = drain(&mut c).await;
    assert!(status_of(&got).is_success());
    assert_eq!(session.await.unwrap().reason, EndReason::Completed);
    writer.abort();
}
