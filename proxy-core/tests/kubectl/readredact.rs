//! Secrets in what a read returns (an env value, an annotation, an event message, the
//! `last-applied-configuration`) are masked before kubectl sees them: `get -o yaml`,
//! `-o json`, `-o wide`, watches and events. A rule with `redact: false` turns it off.

use kubewitness_sim::SimConfig;
use kubewitness_sim::testbed::{Testbed, TestbedOptions};

use crate::support::*;

/// A synthetic AWS access key id, assembled at run time.
pub(crate) fn aws_key() -> String {
    ["AK", "IA", "R5T7Y9U1I3O5P7A9"].concat()
}

/// A synthetic database password, assembled at run time.
pub(crate) fn db_password() -> String {
    ["sim", "Pw", "-", "g7Hq2", "Xv9Lr4"].concat()
}

/// The default cluster with secrets planted in `web-0`: an env value, an annotation, the
/// `last-applied-configuration`, and a Warning event with a connection string.
pub(crate) fn leaky_cluster() -> SimConfig {
    let mut sim = SimConfig::default();
    let pod = &mut sim.pods[0];
    pod.containers[0].env = vec![
        ("LOG_LEVEL".into(), "debug".into()),
        ("DB_PASSWORD".into(), db_password()),
    ];
    let applied = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "spec": {"containers": [{"name": "app", "env": [{"name": "DB_PASSWORD", "value": db_password()}]}]},
    });
    pod.annotations.insert(
        "kubectl.kubernetes.io/last-applied-configuration".into(),
        applied.to_string(),
    );
    pod.annotations.insert("backup/aws-key".into(), aws_key());
    pod.warnings.push(format!(
        "readiness probe failed: dial postgres://shop:{}@db.shop.svc:5432/orders",
        db_password()
    ));
    sim
}

const UNREDACTED: &str = r#"
apiVersion: kubewitness/v1
kind: Policy
rules:
- name: raw-reads
  subjects: {users: [alice]}
  namespaces: ["*"]
  read: [pods, events]
  redact: false
"#;

async fn bed(policy: Option<&str>) -> Testbed {
    testbed_with(TestbedOptions {
        sim: leaky_cluster(),
        policy: policy.map(String::from),
        ..TestbedOptions::default()
    })
    .await
}

#[track_caller]
fn assert_masked(what: &str, out: &str) {
    assert!(
        !out.contains(&db_password()),
        "{what}: the password leaked:\n{out}"
    );
    assert!(!out.contains(&aws_key()), "{what}: the key leaked:\n{out}");
}

#[tokio::test]
async fn get_yaml_json_wide_and_events_show_no_secret() {
    let bed = bed(None).await;
    for format in ["yaml", "json"] {
        let run = kubectl(
            &bed,
            Client::WebSocket,
            &["get", "pod", "web-0", "-o", format],
        )
        .await;
        run.ok();
        let out = run.stdout_str();
        assert_masked(format, &out);
        assert!(
            out.contains("[REDACTED:aws-access-key-id]"),
            "{format}: {out}"
        );
        assert!(out.contains("[REDACTED:"), "{format}");
        assert!(
            out.contains("LOG_LEVEL") && out.contains("debug"),
            "{format}: {out}"
        );
        assert!(out.contains("last-applied-configuration"), "{format}");
    }
    let json = kubectl(
        &bed,
        Client::WebSocket,
        &["get", "pod", "web-0", "-o", "json"],
    )
    .await;
    let pod: serde_json::Value = serde_json::from_slice(&json.stdout).expect("still JSON");
    let env = &pod["spec"]["containers"][0]["env"][1];
    assert_eq!(env["name"], "DB_PASSWORD");
    assert!(
        env["value"].as_str().unwrap().contains("[REDACTED:"),
        "{env}"
    );
    let wide = kubectl(&bed, Client::WebSocket, &["get", "pods", "-o", "wide"]).await;
    wide.ok();
    assert!(wide.stdout_str().contains("web-0"));
    assert_masked("wide", &wide.stdout_str());
    let events = kubectl(&bed, Client::WebSocket, &["get", "events", "-o", "json"]).await;
    events.ok();
    assert!(events.stdout_str().contains("readiness probe failed"));
    assert_masked("events", &events.stdout_str());
    let describe = kubectl(&bed, Client::WebSocket, &["describe", "pod", "web-0"]).await;
    describe.ok();
    assert!(describe.stdout_str().contains("readiness probe failed"));
    assert_masked("describe", &describe.stdout_str());
    // kubewitness asked upstream for JSON, never protobuf.
    for r in bed.sim.requests() {
        let accept = r
            .headers
            .get("accept")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if r.uri.path().contains("/pods") {
            assert!(!accept.contains("protobuf"), "{} asked for {accept}", r.uri);
        }
    }
}

#[tokio::test]
async fn a_watch_is_redacted_event_by_event() {
    let bed = bed(None).await;
    let run = kubectl(
        &bed,
        Client::WebSocket,
        &["get", "pods", "-w", "-o", "json", "--request-timeout=3s"],
    )
    .await;
    let out = run.stdout_str();
    assert!(
        out.contains("\"web-0\""),
        "no watch event: {out} {}",
        run.stderr
    );
    assert!(out.contains("[REDACTED:aws-access-key-id]"), "{out}");
    assert_masked("watch", &out);
    let table = kubectl(
        &bed,
        Client::WebSocket,
        &["get", "pods", "-w", "--request-timeout=3s"],
    )
    .await;
    assert!(table.stdout_str().contains("web-0"), "{}", table.stderr);
    assert_masked("watch table", &table.stdout_str());
}

#[tokio::test]
async fn redact_false_turns_read_redaction_off() {
    let bed = bed(Some(UNREDACTED)).await;
    let run = kubectl(
        &bed,
        Client::WebSocket,
        &["get", "pod", "web-0", "-o", "json"],
    )
    .await;
    run.ok();
    assert!(
        run.stdout_str().contains(&aws_key()),
        "a raw rule still redacted"
    );
}

#[tokio::test]
async fn the_python_client_reads_no_secret() {
    if !crate::support::python_has("kubernetes").await {
        eprintln!("skipped: python kubernetes client not installed");
        return;
    }
    let bed = bed(None).await;
    let results = crate::python::run_script("reads.py", &bed.kubeconfig, "web-0").await;
    let env = &results["pod"]["spec"]["containers"][0]["env"][1];
    assert_eq!(env["name"], "DB_PASSWORD");
    assert!(
        env["value"].as_str().unwrap().contains("[REDACTED:"),
        "{env}"
    );
    let watched = results["watch"].as_array().unwrap();
    assert!(
        watched
            .iter()
            .any(|e| e["object"]["metadata"]["name"] == "web-0")
    );
    for part in ["pod", "list", "watch", "events"] {
        assert_masked(part, &results[part].to_string());
    }
    assert!(
        results["events"]
            .to_string()
            .contains("readiness probe failed")
    );
}
