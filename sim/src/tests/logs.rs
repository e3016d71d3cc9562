use std::time::Duration;

use http::StatusCode;

use super::super::{SimConfig, SimServer};
use super::get;

const WEB_LOG: &str = "/api/v1/namespaces/default/pods/web-0/log";

#[tokio::test]
async fn tail_timestamps_and_limits() {
    let server = super::start().await;
    let all = get(&server, WEB_LOG).await;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(all.headers["content-type"], "text/plain");
    let lines = server.config().pods[0].containers[0].log.clone();
    assert_eq!(all.body, format!("{}\n", lines.join("\n")).into_bytes());
    let tail = get(&server, &format!("{WEB_LOG}?tailLines=2")).await;
    assert_eq!(
        tail.body,
        format!("{}\n{}\n", lines[3], lines[4]).into_bytes()
    );
    let ts = get(&server, &format!("{WEB_LOG}?tailLines=1&timestamps=true")).await;
    let text = String::from_utf8(ts.body.to_vec()).unwrap();
    let (stamp, rest) = text.split_once(' ').unwrap();
    assert!(
        super::super::clock::parse_rfc3339(stamp).is_some(),
        "{stamp}"
    );
    assert_eq!(rest, format!("{}\n", lines[4]));
    let limited = get(&server, &format!("{WEB_LOG}?limitBytes=10")).await;
    assert_eq!(limited.body, lines[0].as_bytes()[..10]);
    // Pods were created 5 minutes ago; their fixture lines are older than 60 s.
    let recent = get(&server, &format!("{WEB_LOG}?sinceSeconds=60")).await;
    assert!(recent.body.is_empty());
    assert_eq!(
        get(&server, &format!("{WEB_LOG}?tailLines=-1"))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn container_errors_match_the_api_server() {
    let server = super::start().await;
    let r = get(&server, "/api/v1/namespaces/shop/pods/api-7/log").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json()["message"],
        "a container name must be specified for pod api-7, choose one of: [api sidecar]"
    );
    let r = get(
        &server,
        "/api/v1/namespaces/shop/pods/api-7/log?container=nope",
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = get(
        &server,
        "/api/v1/namespaces/shop/pods/api-7/log?container=api&previous=true",
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["reason"], "BadRequest");
    let r = get(&server, "/api/v1/namespaces/shop/pods/gone/log").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = get(
        &server,
        "/api/v1/namespaces/shop/pods/api-7/log?container=sidecar",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn follow_streams_one_chunk_per_line_then_ends() {
    let cfg = SimConfig {
        follow_interval: Duration::from_millis(30),
        ..SimConfig::default()
    };
    let server = SimServer::start(cfg).await.unwrap();
    let r = get(
        &server,
        "/api/v1/namespaces/shop/pods/api-7/log?container=api&follow=true&tailLines=1",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["transfer-encoding"], "chunked");
    let c = &server.config().pods[1].containers[0];
    // The tail, then one frame per followed line.
    assert_eq!(r.frames.len(), 1 + c.follow_lines.len());
    assert_eq!(
        r.frames[0],
        format!("{}\n", c.log.last().unwrap()).into_bytes()
    );
    for (frame, line) in r.frames[1..].iter().zip(&c.follow_lines) {
        assert_eq!(*frame, format!("{line}\n").into_bytes());
    }
}
