//! The writes over HTTP: patches with and without `dryRun`, bad bodies, refusals, invalid
//! `dryRun` values and what the recorded requests show; the subresources (eviction, scale)
//! and pod deletes are in [`super::subresources`].

use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Reply, bearer, get, send, start};
use crate::SimServer;

pub(super) const SMP: &str = "application/strategic-merge-patch+json";
pub(super) const MERGE: &str = "application/merge-patch+json";
pub(super) const DEPLOY: &str = "/apis/apps/v1/namespaces/shop/deployments/api";
const NODE: &str = "/api/v1/nodes/node-1";
pub(super) const EVICT: &str = "/api/v1/namespaces/shop/pods/api-7/eviction";

/// An authenticated write with `content_type` and `body`.
pub(super) async fn write(
    s: &SimServer,
    method: Method,
    path: &str,
    content_type: &str,
    body: &str,
) -> Reply {
    let auth = bearer(s);
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", content_type),
    ];
    let body = Some(Bytes::copy_from_slice(body.as_bytes()));
    send(s, method, path, &headers, body, false).await
}

/// `reply`'s body without `metadata.resourceVersion` (a dry run leaves it as it was).
pub(super) fn sans_version(reply: &Reply) -> Value {
    let mut v = reply.json();
    v["metadata"]
        .as_object_mut()
        .map(|m| m.remove("resourceVersion"));
    v
}

pub(super) fn assert_status(reply: &Reply, code: u16, reason: &str) {
    assert_eq!(reply.status.as_u16(), code, "{:?}", reply.body);
    let s = reply.json();
    assert_eq!(
        (s["kind"].as_str(), s["reason"].as_str()),
        (Some("Status"), Some(reason))
    );
    assert_eq!(s["code"], code);
}

#[tokio::test]
async fn patches_answer_the_same_with_dry_run_and_change_only_without() {
    let s = start().await;
    let restart = r#"{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2026-12-03T14:00:00Z"}}}}}"#;
    let cordon = r#"{"spec":{"unschedulable":true}}"#;
    let sts = "/apis/apps/v1/namespaces/default/statefulsets/web";
    for (path, body) in [(DEPLOY, restart), (sts, restart), (NODE, cordon)] {
        let before = get(&s, path).await.json();
        let dry = write(&s, Method::PATCH, &format!("{path}?dryRun=All"), SMP, body).await;
        assert_eq!(dry.status, StatusCode::OK, "{path}");
        assert_eq!(
            get(&s, path).await.json(),
            before,
            "a dry run changes nothing"
        );
        assert_eq!(
            dry.json()["metadata"]["resourceVersion"],
            before["metadata"]["resourceVersion"]
        );
        let real = write(&s, Method::PATCH, path, SMP, body).await;
        assert_eq!(real.status, StatusCode::OK);
        assert_eq!(sans_version(&dry), sans_version(&real), "{path}");
        assert_ne!(
            real.json()["metadata"]["resourceVersion"],
            before["metadata"]["resourceVersion"]
        );
        assert_eq!(
            get(&s, path).await.json(),
            real.json(),
            "stored as answered"
        );
        let again = write(&s, Method::PATCH, path, SMP, body).await;
        assert_eq!(
            again.json(),
            real.json(),
            "a patch that changes nothing is not a write"
        );
    }
    let d = s.deployment("shop", "api").unwrap();
    assert_eq!(d["metadata"]["generation"], 2);
    assert_eq!(d["status"]["replicas"], 1, "status kept");
    assert_eq!(s.node("node-1").unwrap()["spec"]["unschedulable"], true);
    let uncordon = r#"{"spec":{"unschedulable":null}}"#;
    write(&s, Method::PATCH, NODE, SMP, uncordon).await;
    assert!(
        s.node("node-1").unwrap()["spec"]
            .get("unschedulable")
            .is_none()
    );
    // A JSON patch, a patch that tries to rename or change status, a stale version.
    let json_patch = r#"[{"op":"add","path":"/spec/unschedulable","value":true}]"#;
    let r = write(
        &s,
        Method::PATCH,
        NODE,
        "application/json-patch+json",
        json_patch,
    )
    .await;
    assert_eq!(r.json()["spec"]["unschedulable"], true);
    let rename = r#"{"metadata":{"name":"other"},"status":{"replicas":9}}"#;
    let r = write(&s, Method::PATCH, DEPLOY, MERGE, rename).await;
    assert_eq!(
        (
            r.json()["metadata"]["name"].as_str(),
            r.json()["status"]["replicas"].as_i64()
        ),
        (Some("api"), Some(1))
    );
    let stale = r#"{"metadata":{"resourceVersion":"1"},"spec":{"paused":true}}"#;
    assert_status(
        &write(&s, Method::PATCH, DEPLOY, MERGE, stale).await,
        409,
        "Conflict",
    );
}

#[tokio::test]
async fn patch_refusals() {
    let s = start().await;
    let body = r#"{"spec":{"unschedulable":true}}"#;
    for (ct, code, reason) in [
        ("application/json", 415, "UnsupportedMediaType"),
        ("application/apply-patch+yaml", 415, "UnsupportedMediaType"),
        ("", 415, "UnsupportedMediaType"),
    ] {
        assert_status(
            &write(&s, Method::PATCH, NODE, ct, body).await,
            code,
            reason,
        );
    }
    for bad in [
        "{",
        "[1]",
        r#"{"spec":{"unschedulable":"yes"}}"#,
        r#"{"spec":null}"#,
    ] {
        let r = write(&s, Method::PATCH, NODE, SMP, bad).await;
        assert!(r.status == 400 || r.status == 422, "{bad}: {:?}", r.status);
    }
    let negative = r#"{"spec":{"replicas":-1}}"#;
    let r = write(&s, Method::PATCH, DEPLOY, MERGE, negative).await;
    assert_status(&r, 422, "Invalid");
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("Deployment.apps \"api\" is invalid")
    );
    let r = write(
        &s,
        Method::PATCH,
        "/apis/apps/v1/namespaces/shop/deployments/nope",
        SMP,
        body,
    )
    .await;
    assert_status(&r, 404, "NotFound");
    assert_eq!(r.json()["message"], "deployments.apps \"nope\" not found");
    let pod = "/api/v1/namespaces/shop/pods/api-7";
    assert_status(
        &write(&s, Method::PATCH, pod, SMP, "{}").await,
        405,
        "MethodNotAllowed",
    );
    assert_status(
        &write(&s, Method::PUT, DEPLOY, "application/json", "{}").await,
        405,
        "MethodNotAllowed",
    );
    assert_status(
        &write(&s, Method::DELETE, DEPLOY, "", "").await,
        405,
        "MethodNotAllowed",
    );
    // Over the bound: refused before it is buffered, and nothing changes.
    let huge = format!(
        r#"{{"spec":{{"unschedulable":true}},"pad":"{}"}}"#,
        "x".repeat(1 << 20)
    );
    let r = write(&s, Method::PATCH, NODE, SMP, &huge).await;
    assert_status(&r, 413, "RequestEntityTooLarge");
    // Without credentials: 401, recorded, nothing changes.
    let r = send(
        &s,
        Method::PATCH,
        NODE,
        &[("content-type", SMP)],
        Some(Bytes::from(body)),
        true,
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(s.node("node-1").unwrap()["spec"]["unschedulable"].is_null());
    assert_eq!(
        s.writes().len(),
        14,
        "every write is recorded, refused or not"
    );
}

#[tokio::test]
async fn dry_run_values_other_than_all_are_invalid() {
    let s = start().await;
    let eviction =
        json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "api-7"}})
            .to_string();
    let pod = "/api/v1/namespaces/shop/pods/api-7";
    for (method, path, ct, body) in [
        (
            Method::PATCH,
            format!("{NODE}?dryRun=true"),
            SMP,
            r#"{"spec":{"unschedulable":true}}"#.to_owned(),
        ),
        (
            Method::PATCH,
            format!("{DEPLOY}/scale?dryRun=All&dryRun=x"),
            MERGE,
            r#"{"spec":{"replicas":2}}"#.into(),
        ),
        (
            Method::DELETE,
            format!("{pod}?dryRun=Yes"),
            "",
            String::new(),
        ),
        (
            Method::DELETE,
            pod.into(),
            "application/json",
            r#"{"dryRun":["Some"]}"#.into(),
        ),
        (
            Method::POST,
            format!("{EVICT}?dryRun="),
            "application/json",
            eviction.clone(),
        ),
    ] {
        let r = write(&s, method, &path, ct, &body).await;
        assert_status(&r, 422, "Invalid");
        assert!(
            r.json()["message"]
                .as_str()
                .unwrap()
                .contains("supported values: \"All\"")
        );
    }
    assert!(
        s.pod_exists("shop", "api-7")
            && s.node("node-1").unwrap()["spec"]["unschedulable"].is_null()
    );
    assert_eq!(s.deployment("shop", "api").unwrap()["spec"]["replicas"], 1);
    assert!(
        s.writes().iter().all(|w| w.dry_run()),
        "each asked for a dry run, however badly"
    );
}

#[tokio::test]
async fn writes_are_recorded_with_impersonation_headers() {
    let s = start().await;
    let auth = bearer(&s);
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", SMP),
        ("impersonate-user", "alice"),
        ("impersonate-group", "kubewitness:breakglass"),
    ];
    let body = Bytes::from_static(br#"{"spec":{"unschedulable":true}}"#);
    let r = send(
        &s,
        Method::PATCH,
        &format!("{NODE}?dryRun=All"),
        &headers,
        Some(body.clone()),
        true,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    get(&s, NODE).await;
    let w = s.writes();
    assert_eq!(w.len(), 1, "reads are not writes");
    assert!(w[0].dry_run() && w[0].body == body);
    assert_eq!(w[0].uri.query(), Some("dryRun=All"));
    assert_eq!(w[0].headers["impersonate-user"], "alice");
    assert_eq!(w[0].headers["impersonate-group"], "kubewitness:breakglass");
}
