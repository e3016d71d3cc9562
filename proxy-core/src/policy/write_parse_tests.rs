//! Recognising kubectl's own writes (bodies captured with `kubectl -v=8`, kubectl 1.32),
//! and refusing look-alikes.

use http::Method;

use super::write::{Workload, WriteAction, WriteVerb};
use super::write_tests::{act, scale};
use crate::request::RequestInfo;

/// Classifies `method path?query` and recognises it.
fn recognise(method: Method, uri: &str, ct: Option<&str>, body: &str) -> Option<WriteAction> {
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    let info = RequestInfo::classify(&method, path, query).expect("classifiable");
    WriteAction::from_request(&method, &info, query, ct, body.as_bytes())
}

const JSON: Option<&str> = Some("application/json");
const SMP: Option<&str> = Some("application/strategic-merge-patch+json");
const MP: Option<&str> = Some("application/merge-patch+json");
const EVICTION: &str = r#"{"kind":"Eviction","apiVersion":"policy/v1","metadata":{"name":"web-1","namespace":"shop","creationTimestamp":null},"deleteOptions":{}}
"#;
const RESTART: &str = r#"{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2026-12-03T14:23:52Z"}}}}}"#;

#[test]
fn kubectls_requests_are_recognised() {
    let evict = recognise(
        Method::POST,
        "/api/v1/namespaces/shop/pods/web-1/eviction",
        JSON,
        EVICTION,
    );
    assert_eq!(evict, Some(act(WriteVerb::Evict, Some("shop"), "web-1")));
    let delete = recognise(
        Method::DELETE,
        "/api/v1/namespaces/shop/pods/web-1",
        JSON,
        "{\"propagationPolicy\":\"Background\"}\n",
    );
    assert_eq!(delete, Some(act(WriteVerb::Delete, Some("shop"), "web-1")));
    assert_eq!(
        recognise(
            Method::DELETE,
            "/api/v1/namespaces/shop/pods/web-1",
            None,
            ""
        ),
        delete
    );
    let restart = recognise(
        Method::PATCH,
        "/apis/apps/v1/namespaces/shop/deployments/web?fieldManager=kubectl-rollout",
        SMP,
        RESTART,
    );
    let mut want = act(WriteVerb::Restart, Some("shop"), "web");
    want.workload = Some(Workload::Deployment);
    assert_eq!(restart, Some(want.clone()));
    // The restartedAt time is not part of the action: any time is the same restart.
    assert_eq!(
        restart.unwrap().digest(),
        act(WriteVerb::Restart, Some("shop"), "web").digest()
    );
    let sts = recognise(
        Method::PATCH,
        "/apis/apps/v1/namespaces/shop/statefulsets/db?fieldManager=kubectl-rollout",
        SMP,
        RESTART,
    );
    assert_eq!(sts.unwrap().workload, Some(Workload::StatefulSet));
    let s = recognise(
        Method::PATCH,
        "/apis/apps/v1/namespaces/shop/deployments/web/scale",
        MP,
        r#"{"spec":{"replicas":3}}"#,
    );
    assert_eq!(s, Some(scale(3)));
    let s = recognise(
        Method::PATCH,
        "/apis/apps/v1/namespaces/shop/statefulsets/db/scale",
        MP,
        r#"{"spec":{"replicas":0}}"#,
    );
    assert_eq!(
        s.map(|s| (s.workload, s.replicas)),
        Some((Some(Workload::StatefulSet), Some(0)))
    );
    let c = recognise(
        Method::PATCH,
        "/api/v1/nodes/node-1",
        SMP,
        r#"{"spec":{"unschedulable":true}}"#,
    );
    assert_eq!(c, Some(act(WriteVerb::Cordon, None, "node-1")));
    let u = recognise(
        Method::PATCH,
        "/api/v1/nodes/node-2",
        SMP,
        r#"{"spec":{"unschedulable":null}}"#,
    );
    assert_eq!(u, Some(act(WriteVerb::Uncordon, None, "node-2")));
    let u = recognise(
        Method::PATCH,
        "/api/v1/nodes/node-2",
        SMP,
        r#"{"spec":{"unschedulable":false}}"#,
    );
    assert_eq!(u, Some(act(WriteVerb::Uncordon, None, "node-2")));
    // Content-type parameters do not matter.
    let s = recognise(
        Method::PATCH,
        "/apis/apps/v1/namespaces/shop/deployments/web/scale",
        Some("application/merge-patch+json; charset=utf-8"),
        r#"{"spec":{"replicas":3}}"#,
    );
    assert_eq!(s, Some(scale(3)));
}

#[test]
fn look_alikes_are_not_recognised() {
    let pod = "/api/v1/namespaces/shop/pods/web-1";
    let evict = "/api/v1/namespaces/shop/pods/web-1/eviction";
    let deploy = "/apis/apps/v1/namespaces/shop/deployments/web";
    let scale_path = "/apis/apps/v1/namespaces/shop/deployments/web/scale";
    let cases: &[(Method, &str, Option<&str>, &str)] = &[
        // Dry runs and other parameters.
        (
            Method::POST,
            "/api/v1/namespaces/shop/pods/web-1/eviction?dryRun=All",
            JSON,
            EVICTION,
        ),
        (
            Method::PATCH,
            "/apis/apps/v1/namespaces/shop/deployments/web/scale?dryRun=All",
            MP,
            r#"{"spec":{"replicas":3}}"#,
        ),
        (
            Method::DELETE,
            "/api/v1/namespaces/shop/pods/web-1?gracePeriodSeconds=0",
            None,
            "",
        ),
        (
            Method::PATCH,
            "/apis/apps/v1/namespaces/shop/deployments/web?fieldManager=a&fieldManager=b",
            SMP,
            RESTART,
        ),
        // Evictions of another pod, another namespace, extra fields, other delete options.
        (
            Method::POST,
            evict,
            JSON,
            &EVICTION.replace("\"web-1\"", "\"web-2\""),
        ),
        (
            Method::POST,
            evict,
            JSON,
            &EVICTION.replace("\"shop\"", "\"other\""),
        ),
        (
            Method::POST,
            evict,
            JSON,
            &EVICTION.replace("policy/v1", "policy/v1beta1"),
        ),
        (
            Method::POST,
            evict,
            JSON,
            &EVICTION.replace(
                "\"deleteOptions\":{}",
                "\"deleteOptions\":{\"gracePeriodSeconds\":0}",
            ),
        ),
        (
            Method::POST,
            evict,
            JSON,
            &EVICTION.replace("\"creationTimestamp\":null", "\"labels\":{\"a\":\"b\"}"),
        ),
        (Method::POST, evict, None, EVICTION),
        (
            Method::POST,
            evict,
            Some("application/vnd.kubernetes.protobuf"),
            EVICTION,
        ),
        (
            Method::POST,
            "/api/v1/namespaces/shop/pods/web-1/exec",
            JSON,
            EVICTION,
        ),
        // Deletes with options beyond the default, of other things, of collections.
        (
            Method::DELETE,
            pod,
            JSON,
            r#"{"gracePeriodSeconds":0,"propagationPolicy":"Background"}"#,
        ),
        (Method::DELETE, pod, JSON, r#"{"dryRun":["All"]}"#),
        (
            Method::DELETE,
            pod,
            JSON,
            r#"{"propagationPolicy":"Orphan"}"#,
        ),
        (Method::DELETE, "/api/v1/namespaces/shop/pods", None, ""),
        (
            Method::DELETE,
            "/api/v1/namespaces/shop/secrets/web-1",
            None,
            "",
        ),
        (
            Method::DELETE,
            "/apis/apps/v1/namespaces/shop/deployments/web",
            None,
            "",
        ),
        // Restart look-alikes: another annotation, labels, replicas, the wrong patch type.
        (
            Method::PATCH,
            deploy,
            SMP,
            &RESTART.replace("kubectl.kubernetes.io/restartedAt", "x"),
        ),
        (
            Method::PATCH,
            deploy,
            SMP,
            r#"{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2026-12-03T14:23:52Z","x":"y"}}}}}"#,
        ),
        (
            Method::PATCH,
            deploy,
            SMP,
            r#"{"spec":{"template":{"metadata":{"labels":{"a":"b"},"annotations":{"kubectl.kubernetes.io/restartedAt":"2026-12-03T14:23:52Z"}}}}}"#,
        ),
        (
            Method::PATCH,
            deploy,
            SMP,
            r#"{"spec":{"replicas":3,"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2026-12-03T14:23:52Z"}}}}}"#,
        ),
        (
            Method::PATCH,
            deploy,
            SMP,
            r#"{"metadata":{"labels":{"a":"b"}}}"#,
        ),
        (
            Method::PATCH,
            deploy,
            SMP,
            &RESTART.replace("2026-12-03T14:23:52Z", "$(rm -rf)"),
        ),
        (Method::PATCH, deploy, MP, RESTART),
        (
            Method::PATCH,
            deploy,
            Some("application/json-patch+json"),
            RESTART,
        ),
        (
            Method::PATCH,
            "/apis/apps/v1/namespaces/shop/replicasets/web",
            SMP,
            RESTART,
        ),
        (Method::PUT, deploy, SMP, RESTART),
        // Scale look-alikes.
        (
            Method::PATCH,
            scale_path,
            MP,
            r#"{"spec":{"replicas":3},"metadata":{"labels":{"a":"b"}}}"#,
        ),
        (Method::PATCH, scale_path, MP, r#"{"spec":{"replicas":-1}}"#),
        (
            Method::PATCH,
            scale_path,
            MP,
            r#"{"spec":{"replicas":100000}}"#,
        ),
        (
            Method::PATCH,
            scale_path,
            MP,
            r#"{"spec":{"replicas":"3"}}"#,
        ),
        (
            Method::PATCH,
            scale_path,
            MP,
            r#"{"spec":{"replicas":3,"replicas":4}}"#,
        ),
        (Method::PATCH, scale_path, SMP, r#"{"spec":{"replicas":3}}"#),
        (Method::PATCH, deploy, MP, r#"{"spec":{"replicas":3}}"#),
        (
            Method::PATCH,
            "/apis/apps/v1/namespaces/shop/deployments/web/status",
            MP,
            r#"{"spec":{"replicas":3}}"#,
        ),
        // Node look-alikes.
        (Method::PATCH, "/api/v1/nodes/node-1", SMP, r#"{"spec":{}}"#),
        (
            Method::PATCH,
            "/api/v1/nodes/node-1",
            SMP,
            r#"{"spec":{"unschedulable":true,"taints":[]}}"#,
        ),
        (
            Method::PATCH,
            "/api/v1/nodes/node-1",
            SMP,
            r#"{"spec":{"unschedulable":true},"metadata":{"labels":{"a":"b"}}}"#,
        ),
        (
            Method::PATCH,
            "/api/v1/nodes/node-1/status",
            SMP,
            r#"{"spec":{"unschedulable":true}}"#,
        ),
        (Method::PATCH, "/api/v1/nodes/node-1", SMP, "not json"),
    ];
    for (method, uri, ct, body) in cases {
        assert_eq!(
            recognise(method.clone(), uri, *ct, body),
            None,
            "{method} {uri} {body}"
        );
    }
}
