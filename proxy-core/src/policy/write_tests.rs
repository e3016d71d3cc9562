//! Write actions: checks, digests, descriptions, the requests sent upstream.

use std::time::{Duration, SystemTime};

use http::Method;

use super::write::{MAX_REPLICAS, Workload, WriteAction, WriteVerb};

pub(super) fn act(verb: WriteVerb, ns: Option<&str>, name: &str) -> WriteAction {
    WriteAction {
        verb,
        namespace: ns.map(String::from),
        name: name.into(),
        workload: None,
        replicas: None,
    }
}

pub(super) fn scale(n: i32) -> WriteAction {
    WriteAction {
        replicas: Some(n),
        workload: Some(Workload::Deployment),
        ..act(WriteVerb::Scale, Some("shop"), "web")
    }
}

#[test]
fn check_accepts_well_formed_actions() {
    for a in [
        act(WriteVerb::Evict, Some("shop"), "web-1"),
        act(WriteVerb::Delete, Some("shop"), "web-1.x"),
        act(WriteVerb::Restart, Some("shop"), "web"),
        act(WriteVerb::Cordon, None, "node-1"),
        act(WriteVerb::Uncordon, None, "ip-10-0-0-1.ec2.internal"),
        scale(0),
        scale(MAX_REPLICAS),
    ] {
        assert_eq!(a.check(), Ok(()), "{a:?}");
    }
}

#[test]
fn check_refuses_malformed_actions() {
    let long = "a".repeat(254);
    let bad = [
        act(WriteVerb::Evict, None, "web-1"),
        act(WriteVerb::Cordon, Some("shop"), "node-1"),
        act(WriteVerb::Evict, Some("shop"), ""),
        act(WriteVerb::Evict, Some("shop"), ".."),
        act(WriteVerb::Evict, Some("shop"), "Web"),
        act(WriteVerb::Evict, Some("shop"), "a/b"),
        act(WriteVerb::Evict, Some("shop"), "a_b"),
        act(WriteVerb::Evict, Some("shop"), "-a"),
        act(WriteVerb::Evict, Some("shop"), &long),
        act(WriteVerb::Evict, Some("sh.op"), "web-1"),
        act(WriteVerb::Evict, Some(&"n".repeat(64)), "web-1"),
        act(WriteVerb::Scale, Some("shop"), "web"),
        scale(-1),
        scale(MAX_REPLICAS + 1),
        WriteAction {
            replicas: Some(2),
            ..act(WriteVerb::Restart, Some("shop"), "web")
        },
        WriteAction {
            workload: Some(Workload::Deployment),
            ..act(WriteVerb::Evict, Some("shop"), "web-1")
        },
    ];
    for a in bad {
        assert!(a.check().is_err(), "{a:?}");
    }
    let why = act(WriteVerb::Evict, None, "web-1").check().unwrap_err();
    assert!(why.contains("namespace"), "{why}");
}

#[test]
fn digest_is_of_the_canonical_json() {
    let a = act(WriteVerb::Evict, Some("shop"), "web-1");
    let json = serde_json::to_string(&a).unwrap();
    assert_eq!(
        json,
        r#"{"verb":"evict","namespace":"shop","name":"web-1"}"#
    );
    let want = {
        use sha2::Digest;
        format!(
            "sha256:{}",
            hex::encode(sha2::Sha256::digest(json.as_bytes()))
        )
    };
    assert_eq!(a.digest(), want);
    assert_ne!(
        a.digest(),
        act(WriteVerb::Evict, Some("shop"), "web-2").digest()
    );
    assert_ne!(
        a.digest(),
        act(WriteVerb::Delete, Some("shop"), "web-1").digest()
    );
    assert_ne!(scale(3).digest(), scale(4).digest());
    // An unnamed workload is a deployment.
    let mut implicit = scale(3);
    implicit.workload = None;
    assert_eq!(implicit.digest(), scale(3).digest());
    implicit.workload = Some(Workload::StatefulSet);
    assert_ne!(implicit.digest(), scale(3).digest());
}

#[test]
fn describe_reads_like_the_command() {
    let sts = WriteAction {
        workload: Some(Workload::StatefulSet),
        ..scale(3)
    };
    let cases = [
        (
            act(WriteVerb::Evict, Some("shop"), "web-1"),
            "evict pod shop/web-1",
        ),
        (
            act(WriteVerb::Delete, Some("shop"), "web-1"),
            "delete pod shop/web-1",
        ),
        (
            act(WriteVerb::Restart, Some("shop"), "web"),
            "restart deployment shop/web",
        ),
        (sts, "scale statefulset shop/web to 3"),
        (act(WriteVerb::Cordon, None, "node-1"), "cordon node node-1"),
        (
            act(WriteVerb::Uncordon, None, "node-1"),
            "uncordon node node-1",
        ),
    ];
    for (a, want) in cases {
        assert_eq!(a.describe(), want);
    }
}

#[test]
fn upstream_requests_are_what_kubectl_sends() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let u = act(WriteVerb::Evict, Some("shop"), "web-1").upstream(true, now);
    assert_eq!(u.method, Method::POST);
    assert_eq!(
        u.path_and_query,
        "/api/v1/namespaces/shop/pods/web-1/eviction?dryRun=All"
    );
    assert_eq!(u.content_type, Some("application/json"));
    let body: serde_json::Value = serde_json::from_slice(&u.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"apiVersion": "policy/v1", "kind": "Eviction",
            "metadata": {"name": "web-1", "namespace": "shop"}})
    );
    let u = act(WriteVerb::Delete, Some("shop"), "web-1").upstream(false, now);
    assert_eq!(
        (u.method, u.path_and_query.as_str()),
        (Method::DELETE, "/api/v1/namespaces/shop/pods/web-1")
    );
    assert!(u.body.is_empty() && u.content_type.is_none());
    let mut restart = act(WriteVerb::Restart, Some("shop"), "db");
    restart.workload = Some(Workload::StatefulSet);
    let u = restart.upstream(false, now);
    assert_eq!(u.method, Method::PATCH);
    assert_eq!(
        u.path_and_query,
        "/apis/apps/v1/namespaces/shop/statefulsets/db"
    );
    assert_eq!(
        u.content_type,
        Some("application/strategic-merge-patch+json")
    );
    assert_eq!(
        &u.body[..],
        br#"{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2027-01-15T08:00:00Z"}}}}}"#
    );
    let u = scale(3).upstream(true, now);
    assert_eq!(
        u.path_and_query,
        "/apis/apps/v1/namespaces/shop/deployments/web/scale?dryRun=All"
    );
    assert_eq!(u.content_type, Some("application/merge-patch+json"));
    assert_eq!(&u.body[..], br#"{"spec":{"replicas":3}}"#);
    let u = act(WriteVerb::Cordon, None, "node-1").upstream(false, now);
    assert_eq!(
        (u.method, u.path_and_query.as_str()),
        (Method::PATCH, "/api/v1/nodes/node-1")
    );
    assert_eq!(&u.body[..], br#"{"spec":{"unschedulable":true}}"#);
    let u = act(WriteVerb::Uncordon, None, "node-1").upstream(false, now);
    assert_eq!(&u.body[..], br#"{"spec":{"unschedulable":false}}"#);
}
