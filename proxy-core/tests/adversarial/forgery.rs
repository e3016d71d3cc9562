//! What a caller must not be able to make the API server believe or tell it: forged source
//! addresses and audit ids, pods outside its scope through another API group, and which
//! pods and namespaces exist behind a selector.

use kubewitness_sim::testbed::TestbedOptions;
use kubewitness_sim::{SimConfig, SimPod};

use crate::raw::{get, message};
use crate::support::*;

#[tokio::test]
async fn the_api_server_sees_the_real_client_address_and_kubewitness_audit_id() {
    let _g = shared().await;
    let bed = testbed().await;
    let forged = "X-Forwarded-For: 203.0.113.9\r\nX-Real-Ip: 203.0.113.8\r\nForwarded: for=203.0.113.7\r\nX-Forwarded-Host: evil\r\nAudit-ID: forged-audit-id\r\n";
    let res = get(
        &bed,
        "/api/v1/namespaces/default/pods",
        &bed.callers[0].token,
        forged,
    )
    .await;
    assert_eq!(res.status, 200, "{res:?}");
    still_serving(&bed, Client::WebSocket).await;
    let requests = bed.sim.requests();
    assert!(requests.len() >= 2, "{requests:?}");
    for r in &requests {
        let h = &r.headers;
        let xff: Vec<_> = h.get_all("x-forwarded-for").iter().collect();
        assert_eq!(xff, ["127.0.0.1"], "{} {}", r.method, r.uri);
        for gone in ["x-real-ip", "forwarded", "x-forwarded-host"] {
            assert!(
                h.get(gone).is_none(),
                "{gone} reached upstream: {} {}",
                r.method,
                r.uri
            );
        }
        let audit = h.get("audit-id").map(|v| v.to_str().unwrap().to_string());
        let audit = audit.unwrap_or_else(|| panic!("no Audit-ID: {} {}", r.method, r.uri));
        assert_ne!(audit, "forged-audit-id");
        assert_eq!(audit.len(), 26, "a ULID: {audit}");
    }
    // The exec's recording is named by the Audit-ID the API server saw: the trails join.
    let exec = requests
        .iter()
        .find(|r| r.uri.to_string().contains("/exec"))
        .expect("the exec reached upstream");
    let audit = exec.headers["audit-id"].to_str().unwrap().to_string();
    let rc = bed.config.recording.as_ref().expect("the testbed records");
    let store = proxy_core::record::RecordStore::open(&rc.store, &[], None).expect("store");
    let sessions = store.sessions().await.expect("sessions");
    assert!(
        sessions.contains(&audit),
        "no recording named {audit}: {sessions:?}"
    );
}

/// `agent` may read pods `web-*` only.
const SCOPED: &str = r#"
apiVersion: kubewitness/v1
kind: Policy
rules:
- name: agent
  subjects: {users: [alice]}
  namespaces: [default]
  pods: ["web-*"]
  read: [pods]
"#;

#[tokio::test]
async fn pod_metrics_outside_the_pod_scope_are_refused_before_upstream() {
    let _g = shared().await;
    let bed = testbed_with(TestbedOptions {
        policy: Some(SCOPED.into()),
        ..TestbedOptions::default()
    })
    .await;
    let token = bed.callers[0].token.clone();
    for path in [
        "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods",
        "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/db-0",
    ] {
        let res = get(&bed, path, &token, "").await;
        assert_eq!(res.status, 403, "{path}: {res:?}");
    }
    assert!(
        bed.sim.requests().is_empty(),
        "pod metrics reached upstream: {:?}",
        bed.sim.requests()
    );
}

/// `alice` may read pods labelled `exposed=yes` in namespaces labelled `debug=on`.
const SELECTED: &str = r#"
apiVersion: kubewitness/v1
kind: Policy
rules:
- name: selected
  subjects: {users: [alice]}
  namespaces: ["*"]
  namespaceSelector: {matchLabels: {debug-ai-exec: enabled}}
  pods: ["*"]
  podSelector: {matchLabels: {exposed: "yes"}}
  read: [pods]
"#;

#[tokio::test]
async fn selector_denials_are_no_existence_oracle() {
    let _g = shared().await;
    let mut sim = SimConfig::default();
    let hidden = SimPod {
        name: "hidden-1".into(),
        ..sim
            .pods
            .iter()
            .find(|p| p.namespace == "shop")
            .unwrap()
            .clone()
    };
    sim.pods.push(hidden);
    let bed = testbed_with(TestbedOptions {
        policy: Some(SELECTED.into()),
        sim,
        ..TestbedOptions::default()
    })
    .await;
    let token = bed.callers[0].token.clone();
    // A missing pod, a pod that exists but is not selected (both in a selected namespace),
    // and a pod in a namespace that is not selected.
    let cases = [
        ("shop", "nothing-1"),
        ("shop", "hidden-1"),
        ("default", "web-0"),
    ];
    let mut texts = Vec::new();
    for (ns, pod) in cases {
        let res = get(
            &bed,
            &format!("/api/v1/namespaces/{ns}/pods/{pod}"),
            &token,
            "",
        )
        .await;
        assert_eq!(res.status, 403, "{ns}/{pod}: {res:?}");
        texts.push(message(&res).replace(ns, "NS").replace(pod, "POD"));
    }
    eprintln!("denial text: {}", texts[0]);
    assert!(texts.iter().all(|t| *t == texts[0]), "{texts:#?}");
}
