//! The access-request API's routing, bodies and refusals, and the breakglass-group refusal,
//! through a built proxy (its upstream is never reached: nothing here goes that far).

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Full};

use super::*;
use crate::auth::{Authenticator, TokenFile};
use crate::config::{GrantsConfig, UpstreamConfig};
use crate::policy::audit::AuditSink;
use crate::record::{RecordStore, Recorder, RecordingConfig, SealSigner};
use crate::upstream::Upstream;

#[test]
fn paths_and_methods_route_to_operations() {
    let id = "01JD8Z6Q3X4V5W6Y7Z8A9B0C1D";
    let at = |m: Method, p: &str| route(&m, p);
    assert_eq!(at(Method::GET, COLLECTION), Ok(Op::List));
    assert_eq!(at(Method::POST, COLLECTION), Ok(Op::Create));
    assert_eq!(
        at(Method::GET, &format!("{COLLECTION}/{id}")),
        Ok(Op::Get(id.into()))
    );
    for (verb, op) in [
        ("approve", Op::Approve(id.into())),
        ("deny", Op::Deny(id.into())),
        ("revoke", Op::Revoke(id.into())),
        ("execute", Op::Execute(id.into())),
    ] {
        let path = format!("{COLLECTION}/{id}/{verb}");
        assert_eq!(at(Method::POST, &path), Ok(op));
        assert_eq!(at(Method::GET, &path), Err(Unrouted::Method("POST")));
    }
    assert_eq!(
        at(Method::DELETE, COLLECTION),
        Err(Unrouted::Method("GET, POST"))
    );
    assert_eq!(
        at(Method::PUT, &format!("{COLLECTION}/{id}")),
        Err(Unrouted::Method("GET"))
    );
    for bad in [
        "/kubewitness/v2/accessrequests",
        "/kubewitness/v1/accessrequestsx",
        "/kubewitness/v1/accessrequests/",
        "/kubewitness/v1/accessrequests/../x",
        "/kubewitness/v1/accessrequests/a-b",
        "/kubewitness/v1/accessrequests/abc/approve/again",
        "/kubewitness/v1/accessrequests/abc/use",
        "/kubewitness/",
    ] {
        assert_eq!(at(Method::GET, bad), Err(Unrouted::NotFound), "{bad}");
    }
    let long = format!("{COLLECTION}/{}", "a".repeat(MAX_ID_LEN + 1));
    assert_eq!(at(Method::GET, &long), Err(Unrouted::NotFound));
    assert!(is_api_path("/kubewitness/v1/accessrequests"));
    assert!(is_api_path("/kubewitness"));
    assert!(!is_api_path("/kubewitnessx/v1"));
    assert!(!is_api_path("/api/v1/pods"));
}

#[test]
fn bodies_are_strict() {
    let review: ReviewBody = parse(br#"{"reason":"wedged"}"#, false)
        .ok()
        .expect("a reason");
    assert_eq!(review.reason, "wedged");
    for (bad, empty_ok) in [
        (&br#"{"reason":"x","approver":"me"}"#[..], false),
        (b"", false),
        (b"  ", false),
        (b"[1]", true),
        (b"{", true),
    ] {
        assert!(
            matches!(parse::<ReviewBody>(bad, empty_ok), Err(Refusal::Body(_))),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
    let none: ExecuteBody = parse(b"", true).ok().expect("an empty execute body");
    assert!(none.write.is_none());
    let exec: ExecuteBody = parse(
        br#"{"write":{"verb":"evict","namespace":"shop","name":"web-1"}}"#,
        true,
    )
    .ok()
    .expect("a write");
    let write = exec.write.unwrap();
    assert_eq!(write.verb, crate::policy::WriteVerb::Evict);
    assert_eq!(write.namespace.as_deref(), Some("shop"));
    assert!(
        parse::<ExecuteBody>(
            br#"{"write":{"verb":"evict","name":"p","image":"x"}}"#,
            true
        )
        .is_err()
    );
    let new: NewRequest = parse(
        br#"{"grant":"evict-wedged","reason":"stuck","ttl":"10m","action":"evict","namespace":"shop","name":"web-1"}"#,
        false,
    )
    .ok()
    .expect("a new request");
    assert_eq!(new.grant, "evict-wedged");
    assert_eq!(new.ttl.as_deref(), Some("10m"));
    assert!(parse::<NewRequest>(br#"{"grant":"g","reason":"r","user":"root"}"#, false).is_err());
    let revoke: RevokeBody = parse(b"", true).ok().expect("no reason");
    assert!(revoke.reason.is_none());
}

#[test]
fn broker_errors_are_statuses() {
    let res = grant_error(&GrantError::Forbidden(
        "you may not approve your own request".into(),
    ));
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = grant_error(&GrantError::Conflict("already used".into()));
    assert_eq!(res.status(), StatusCode::CONFLICT);
}

/// The secret of test token `n`, made at run time.
fn token(n: u8) -> String {
    format!("t{}-{}", n, "k".repeat(24))
}

/// A proxy whose upstream is a closed port; with `recording`, a memory store and a key.
async fn proxy(recording: bool, dir: &std::path::Path) -> Arc<Proxy> {
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: \"http://127.0.0.1:9\"}}]\n\
         users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n\
         current-context: x\n",
    )
    .unwrap();
    let upstream = Upstream::from_config(&UpstreamConfig {
        kubeconfig: Some(kubeconfig),
        ..Default::default()
    })
    .await
    .unwrap();
    let tokens = TokenFile::parse(&format!(
        "{},ann,1,\"oncall\"\n{},eve,2,\"oncall,acme:breakglass\"\n",
        token(1),
        token(2)
    ))
    .unwrap();
    let mut b = Proxy::builder();
    b.upstream(upstream)
        .authenticator(Authenticator::new(Some(tokens), None))
        .audit(AuditSink::writer(Box::new(std::io::sink())))
        .grants(GrantsConfig {
            breakglass_group: Some("acme:breakglass".into()),
            ..Default::default()
        })
        .recovery(false)
        .watch_files(false);
    if recording {
        let config = RecordingConfig {
            store: "memory://".into(),
            ..Default::default()
        };
        let store = RecordStore::open(&config.store, &[], None).unwrap();
        let signer = SealSigner::from_seed(&[9; 32]);
        b.recorder(Recorder::new(config, store, Some(signer)));
    }
    b.build().await.unwrap()
}

/// Sends one request as token `n`: the status and the body as JSON.
async fn send(
    proxy: &Arc<Proxy>,
    n: u8,
    method: Method,
    path: &str,
    body: &[u8],
) -> (StatusCode, serde_json::Value) {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {}", token(n)))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::copy_from_slice(body)))
        .unwrap();
    let service = proxy.service("127.0.0.1:40000".parse().unwrap());
    let res = tower_service::Service::call(&mut service.clone(), req)
        .await
        .unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, json)
}

#[tokio::test]
async fn without_a_recorder_the_api_answers_503() {
    let dir = tempfile::tempdir().unwrap();
    let proxy = proxy(false, dir.path()).await;
    assert!(proxy.grants().is_none());
    let (status, body) = send(&proxy, 1, Method::GET, COLLECTION, b"").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["kind"], "Status");
    assert_eq!(body["reason"], "ServiceUnavailable");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("need a recording store"), "{message}");
}

#[tokio::test]
async fn unknown_paths_methods_and_bodies_are_refused_as_statuses() {
    let dir = tempfile::tempdir().unwrap();
    let proxy = proxy(true, dir.path()).await;
    assert!(proxy.grants().is_some());
    assert_eq!(proxy.breakglass_group(), "acme:breakglass");
    let (status, body) = send(&proxy, 1, Method::GET, "/kubewitness/v1/nothing", b"").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["reason"], "NotFound");
    let (status, body) = send(&proxy, 1, Method::DELETE, COLLECTION, b"").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["code"], 405);
    let unknown = br#"{"grant":"g","reason":"r","approver":"ann"}"#;
    let (status, body) = send(&proxy, 1, Method::POST, COLLECTION, unknown).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("unknown field `approver`"), "{message}");
    let path = format!("{COLLECTION}/01JD8Z6Q3X4V5W6Y7Z8A9B0C1D/approve");
    let (status, _) = send(&proxy, 1, Method::POST, &path, b"").await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "approve needs a reason body"
    );
    let big = format!(r#"{{"reason":"{}"}}"#, "x".repeat(MAX_API_BODY));
    let (status, body) = send(&proxy, 1, Method::POST, &path, big.as_bytes()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    let (status, _) = send(&proxy, 9, Method::GET, COLLECTION, b"").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_caller_claiming_the_breakglass_group_is_refused_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let proxy = proxy(true, dir.path()).await;
    for path in [COLLECTION, "/api/v1/namespaces/shop/pods", "/version"] {
        let (status, body) = send(&proxy, 2, Method::GET, path, b"").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains("acme:breakglass") && !message.contains('\n'),
            "{message}"
        );
    }
}
