//! The setup every MCP test shares: a testbed whose policy has two agents, a pod whose
//! container was OOM-killed and logs a (synthetic) secret, a config file for
//! `kubewitness mcp`, and the Python client runner.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use kubewitness_sim::testbed::{Testbed, TestbedOptions};
use kubewitness_sim::{SimConfig, SimContainer, SimPod, SimTermination};
use serde_json::Value;
use tokio::process::Command;

use crate::support::*;

/// The whole script ends well within this.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);

/// agent-a debugs `shop`: reads, logs clamped to 5 lines, a few commands. agent-b reads
/// pods and logs in `default`, three requests per burst and then slowly.
pub(crate) const POLICY: &str = r#"
apiVersion: kubewitness/v1
kind: Policy
rules:
- name: agent-a-debug
  subjects: {users: [agent-a]}
  namespaces: [shop]
  read: [pods, events, deployments.apps]
  logs: {maxTailLines: 5, maxSinceSeconds: 600}
  exec:
    commands:
      - [echo, "**"]
      - [seq, "*", "*"]
    maxDuration: 30s
- name: agent-b-read
  subjects: {users: [agent-b]}
  namespaces: [default]
  read: [pods]
  logs: {}
  rateLimit: {requestsPerSecond: 0.01, burst: 3}
"#;

/// A synthetic AWS access key id, assembled at run time.
pub(crate) fn aws_key() -> String {
    ["AK", "IA", "Q7M3W5E8R2T4Y6U9"].concat()
}

/// The demo cluster plus `shop/worker-0`: OOM-killed once, and a log with a key in it.
fn sim() -> SimConfig {
    let mut sim = SimConfig::default();
    let mut log: Vec<String> = (1..=20).map(|i| format!("worker line {i}")).collect();
    log.insert(
        17,
        format!("loaded credentials AWS_ACCESS_KEY_ID={}", aws_key()),
    );
    sim.pods.push(SimPod {
        namespace: "shop".into(),
        name: "worker-0".into(),
        containers: vec![SimContainer {
            name: "worker".into(),
            image: "ghcr.io/example/worker:1.0".into(),
            attach_command: vec!["cat".into()],
            log,
            last_termination: Some(SimTermination {
                reason: "OOMKilled".into(),
                exit_code: 137,
                restarts: 4,
            }),
            ..Default::default()
        }],
        ..Default::default()
    });
    sim
}

/// A testbed with [`POLICY`], agents `agent-a` and `agent-b` in its token file.
pub(crate) async fn testbed() -> Testbed {
    Testbed::start(TestbedOptions {
        sim: sim(),
        users: vec![("agent-a".into(), vec![]), ("agent-b".into(), vec![])],
        policy: Some(POLICY.into()),
        ..TestbedOptions::default()
    })
    .await
    .expect("testbed starts")
}

/// A config file for `kubewitness mcp` as `user`, sharing the testbed's upstream, policy,
/// recording store and signing key (its own spool and audit file).
pub(crate) fn stdio_config(bed: &Testbed, user: &str) -> PathBuf {
    let d = bed.dir();
    let yaml = format!(
        "upstream: {{kubeconfig: {up}}}\npolicy: {policy}\naudit: {{path: {audit}}}\n\
         recording: {{store: 'file://{store}', spoolDir: {spool}, signingKey: {key}}}\n\
         redaction: {{fingerprintKey: {fp}}}\nmcp: {{user: {user}}}\n",
        up = d.join("upstream.kubeconfig").display(),
        policy = d.join("policy.yaml").display(),
        audit = d.join("audit-mcp.jsonl").display(),
        store = d.join("recordings").display(),
        spool = d.join("spool-mcp").display(),
        key = d.join("recording.key").display(),
        fp = fingerprint_key_path(bed).display(),
    );
    let path = d.join(format!("mcp-{user}.yaml"));
    std::fs::write(&path, yaml).expect("writes the mcp config");
    path
}

fn fingerprint_key_path(bed: &Testbed) -> PathBuf {
    bed.config
        .redaction
        .fingerprint_key
        .clone()
        .expect("the testbed sets a fingerprint key")
}

/// Runs `client.py` with `spec` and returns what it printed.
pub(crate) async fn run_client(dir: &Path, spec: &Value) -> Value {
    let spec_path = dir.join(format!("spec-{}.json", rand_suffix()));
    std::fs::write(&spec_path, spec.to_string()).expect("writes the spec");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/client.py");
    python_json(&script, &[spec_path.as_os_str()], SCRIPT_TIMEOUT).await
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// A call's result: (isError, text). Panics on a client exception.
#[track_caller]
pub(crate) fn call<'a>(out: &'a Value, id: &str) -> (bool, &'a str) {
    let c = &out["calls"][id];
    assert!(c.get("exception").is_none(), "{id}: {}", c["exception"]);
    (
        c["isError"].as_bool().expect("isError"),
        c["text"].as_str().expect("text"),
    )
}

/// The tool names listed.
pub(crate) fn tool_names(out: &Value) -> Vec<String> {
    out["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .map(|t| t["name"].as_str().expect("name").to_string())
        .collect()
}

/// The recording id a result ends with (`[recording: ID…]`), and the linked session's.
#[track_caller]
pub(crate) fn recording_ids(text: &str) -> (String, Option<String>) {
    let last = text.lines().last().unwrap_or_default();
    let inner = last
        .strip_prefix("[recording: ")
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or_else(|| panic!("no recording line: {last:?}"));
    match inner.split_once("; session recording: ") {
        Some((id, linked)) => (id.to_string(), Some(linked.to_string())),
        None => (inner.to_string(), None),
    }
}

/// Waits for recording `id` to be sealed, then runs `kubewitness verify` on it (the seal's
/// key pinned) and returns its output; panics unless it exits 0.
pub(crate) async fn verified(bed: &Testbed, id: &str) -> String {
    sealed_session(&record_store(bed), &seal_key(bed), id).await;
    let store = &bed
        .config
        .recording
        .as_ref()
        .expect("the testbed records")
        .store;
    let public = bed.dir().join("recording.pub");
    let out = Command::new(env!("CARGO_BIN_EXE_kubewitness"))
        .args(["verify", "--store", store, "--session", id, "--public-key"])
        .arg(&public)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .expect("kubewitness runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "verify {id}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// The target (path and query) of every request the simulator received.
pub(crate) fn sim_paths(bed: &Testbed) -> Vec<String> {
    bed.sim
        .requests()
        .iter()
        .map(|r| r.uri.to_string())
        .collect()
}

/// Runs agent-b's describe over `transport` with the `initialize` handshake (up to
/// 2025-11-25) and with the 2026-07-28 protocol's `server/discover`: the same tools and
/// answers either way, at the version each negotiates.
pub(crate) async fn both_protocols(bed: &Testbed, transport: Value) {
    let mut versions = Vec::new();
    for handshake in ["initialize", "discover"] {
        let mut spec = transport.clone();
        spec["handshake"] = handshake.into();
        spec["calls"] = serde_json::json!([{"id": "describe", "tool": "k8s_describe_pod",
            "arguments": {"namespace": "default", "pod": "web-0"}}]);
        let out = run_client(bed.dir(), &spec).await;
        assert_eq!(
            tool_names(&out),
            ["k8s_get_logs", "k8s_get", "k8s_describe_pod"]
        );
        let (err, text) = call(&out, "describe");
        assert!(
            !err && text.contains("Phase:      Running"),
            "{handshake}: {text}"
        );
        versions.push(out["protocol"].as_str().expect("a version").to_string());
    }
    assert_eq!(versions, ["2025-11-25", "2026-07-28"]);
}
