use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};

use super::*;
use crate::pipeline::{EndReason, Pipeline};

const LOG: &[u8] =
    b"2026-11-22T10:00:00Z INFO start\nGET /healthz 200\npartial line without newline";

#[test]
fn framer_output_is_the_input_split_at_line_ends_for_every_split() {
    for at in 0..=LOG.len() {
        let mut framer = LineFramer::default();
        let mut out = Vec::new();
        let input = Bytes::from_static(LOG);
        framer.push(input.slice(..at), &mut out);
        framer.push(input.slice(at..), &mut out);
        let before_flush: Vec<u8> = out.iter().flat_map(|b| b.to_vec()).collect();
        // Everything up to the last newline has gone on; the partial line is held.
        let last_nl = LOG.iter().rposition(|&b| b == b'\n').unwrap();
        assert_eq!(before_flush, &LOG[..=last_nl], "split at {at}");
        framer.flush(&mut out);
        let all: Vec<u8> = out.iter().flat_map(|b| b.to_vec()).collect();
        assert_eq!(all, LOG, "split at {at}");
        assert!(framer.deadline().is_none());
    }
}

#[test]
fn a_long_partial_line_is_released_at_the_bound() {
    let mut framer = LineFramer::default();
    let mut out = Vec::new();
    framer.push(Bytes::from(vec![b'a'; MAX_HELD - 1]), &mut out);
    assert!(out.is_empty());
    framer.push(Bytes::from_static(b"b"), &mut out);
    assert_eq!(out.iter().map(Bytes::len).sum::<usize>(), MAX_HELD);
}

fn body_of(
    chunks: Vec<Result<&'static [u8], &'static str>>,
) -> impl Body<Data = Bytes, Error = String> + Unpin {
    let stream = futures_util::stream::iter(chunks.into_iter().map(|c| {
        c.map(|b| hyper::body::Frame::data(Bytes::from_static(b)))
            .map_err(String::from)
    }));
    StreamBody::new(stream)
}

#[tokio::test]
async fn a_log_body_streams_through_the_pipeline_unchanged() {
    let server = source(body_of(vec![
        Ok(b"line one\nline "),
        Ok(b"two\n"),
        Ok(b"tail"),
    ]));
    let (client, body) = sink();
    let session = tokio::spawn(Pipeline::new().run(client, server));
    let got = body.collect().await.unwrap().to_bytes();
    assert_eq!(got, Bytes::from_static(b"line one\nline two\ntail"));
    assert_eq!(session.await.unwrap().reason, EndReason::Completed);
}

#[tokio::test]
async fn a_broken_upstream_body_breaks_the_client_body() {
    let server = source(body_of(vec![Ok(b"line one\n"), Err("reset")]));
    let (client, body) = sink();
    let session = tokio::spawn(Pipeline::new().run(client, server));
    let err = body.collect().await.unwrap_err();
    assert!(err.to_string().contains("without an exit status"), "{err}");
    assert_eq!(session.await.unwrap().reason, EndReason::ServerLost);
}

#[tokio::test]
async fn a_client_that_leaves_stops_the_upstream_read() {
    // An upstream body that never ends.
    let stream = futures_util::stream::pending::<Result<hyper::body::Frame<Bytes>, Infallible>>();
    let server = source(StreamBody::new(stream));
    let (client, body) = sink();
    let session = tokio::spawn(Pipeline::new().run(client, server));
    drop(body);
    let end = tokio::time::timeout(std::time::Duration::from_secs(5), session)
        .await
        .expect("session ends when the client leaves")
        .unwrap();
    assert_eq!(end.reason, EndReason::ClientGone);
}

#[tokio::test(start_paused = true)]
async fn a_partial_line_is_flushed_after_a_pause() {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<hyper::body::Frame<Bytes>, Infallible>>(4);
    let stream =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|i| (i, rx)) });
    let server = source(StreamBody::new(Box::pin(stream)));
    let (client, mut body) = sink();
    let _session = tokio::spawn(Pipeline::new().run(client, server));
    tx.send(Ok(hyper::body::Frame::data(Bytes::from_static(
        b"$ prompt",
    ))))
    .await
    .unwrap();
    let frame = body.frame().await.unwrap().unwrap();
    assert_eq!(frame.into_data().unwrap(), Bytes::from_static(b"$ prompt"));
}
