//! Answers that failed safe but said the wrong thing: each must now be the precise one.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::raw::{get, message, send, tls_from};
use crate::support::*;

#[tokio::test]
async fn malformed_log_parameters_are_a_bad_request() {
    let _g = shared().await;
    let bed = testbed().await;
    let token = bed.callers[0].token.clone();
    for query in ["tailLines=abc", "sinceSeconds=-5", "limitBytes=1e9"] {
        let path = format!("/api/v1/namespaces/default/pods/web-0/log?{query}");
        let res = get(&bed, &path, &token, "").await;
        assert_eq!(res.status, 400, "{query}: {res:?}");
        assert!(message(&res).contains("invalid log parameters"), "{res:?}");
    }
    assert!(bed.sim.requests().is_empty());
}

#[tokio::test]
async fn odd_names_methods_and_authorization_spacing_get_precise_answers() {
    let _g = shared().await;
    let bed = testbed().await;
    let token = bed.callers[0].token.clone();
    let local = "127.0.0.1".parse().unwrap();
    // A name no Kubernetes object can have never reaches upstream.
    let res = get(&bed, "/api/v1/namespaces/default/pods/web-0;x", &token, "").await;
    assert_eq!(res.status, 400, "{res:?}");
    assert!(
        message(&res).contains("`;` cannot appear in a Kubernetes name"),
        "{res:?}"
    );
    // A method spelt differently is another method.
    let head = format!(
        "GeT /apis/apps HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    let res = send(&bed, local, &head).await;
    assert_eq!(res.status, 400, "{res:?}");
    assert!(
        message(&res).contains("method GeT is not part of the Kubernetes API"),
        "{res:?}"
    );
    assert!(bed.sim.requests().is_empty(), "{:?}", bed.sim.requests());
    // A tab between the scheme and the token is whitespace like a space.
    let head = format!(
        "GET /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: x\r\nAuthorization: bearer\t{token}\r\nConnection: close\r\n\r\n"
    );
    let res = send(&bed, local, &head).await;
    assert_eq!(res.status, 200, "{res:?}");
}

#[tokio::test]
async fn an_unreachable_api_server_is_a_503_that_says_so() {
    let _g = shared().await;
    let mut bed = testbed().await;
    bed.sim.shutdown();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let res = get(
        &bed,
        "/api/v1/namespaces/default/pods",
        &bed.callers[0].token.clone(),
        "",
    )
    .await;
    assert_eq!(res.status, 503, "{res:?}");
    assert!(
        message(&res).contains("the API server is unreachable"),
        "{res:?}"
    );
}

#[tokio::test]
async fn a_denied_http2_request_with_a_small_body_is_read_before_the_answer() {
    let _g = shared().await;
    let bed = testbed().await;
    let io = tls_from(&bed, "127.0.0.1".parse().unwrap(), true)
        .await
        .expect("TLS");
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
            .await
            .expect("h2 handshake");
    tokio::spawn(conn);
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
    let body = StreamBody::new(Box::pin(futures_util::stream::unfold(
        rx,
        |mut rx| async move {
            rx.recv()
                .await
                .map(|b| (Ok::<_, std::convert::Infallible>(Frame::data(b)), rx))
        },
    )));
    let req = http::Request::post("https://localhost/api/v1/namespaces/default/pods")
        .header("authorization", format!("Bearer {}", bed.callers[0].token))
        .header("content-type", "application/json")
        .body(body)
        .unwrap();
    let response = tokio::spawn(async move { sender.send_request(req).await });
    // A 16 KiB body in four parts: every part must be taken, none refused by a reset.
    for i in 0..4 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let sent = tx.send(Bytes::from(vec![b' '; 4096])).await;
        assert!(
            sent.is_ok(),
            "part {i} of the body was refused: the stream was reset"
        );
    }
    drop(tx);
    let res = timed("response", response)
        .await
        .unwrap()
        .expect("a response");
    assert_eq!(res.status(), 403);
    let body = res.into_body().collect().await.expect("body").to_bytes();
    let status: serde_json::Value = serde_json::from_slice(&body).expect("a Status");
    assert_eq!(status["reason"], "Forbidden", "{status}");
}
