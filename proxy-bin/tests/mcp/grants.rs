//! An agent's write over MCP (Streamable HTTP, the official Python SDK): proposed with a
//! justification, pending until a human approves, executed exactly once; a changed action,
//! a second execute and an execute after the TTL are refused; nothing but the dry run
//! reaches the API server before approval; the agent can approve nothing.

use std::time::Duration;

use kubewitness_sim::testbed::{Testbed, TestbedOptions};
use kubewitness_sim::{SimConfig, SimContainer, SimPod};
use serde_json::{Value, json};

use crate::bed::*;
use crate::support::python_has;

const POLICY: &str = r#"
apiVersion: kubewitness/v1
kind: Policy
agents: {groups: [ai-agents]}
rules:
- name: agents-read
  subjects: {groups: [ai-agents]}
  namespaces: [shop]
  read: [pods]
grants:
- name: evict-wedged
  requesters: {groups: [ai-agents]}
  approvers: {groups: [sre-leads]}
  maxTTL: 15m
  write: {actions: [evict], namespaces: [shop]}
"#;

const REQUESTS: &str = "/kubewitness/v1/accessrequests";

/// The demo cluster plus `shop/cache-0` and `shop/cache-1`.
fn sim() -> SimConfig {
    let mut sim = SimConfig::default();
    for name in ["cache-0", "cache-1"] {
        sim.pods.push(SimPod {
            namespace: "shop".into(),
            name: name.into(),
            containers: vec![SimContainer {
                name: "cache".into(),
                image: "redis:7".into(),
                attach_command: vec!["cat".into()],
                ..Default::default()
            }],
            ..Default::default()
        });
    }
    sim
}

/// bot is the agent (the MCP caller), lead approves.
async fn grants_bed() -> Testbed {
    Testbed::start(TestbedOptions {
        sim: sim(),
        users: vec![
            ("bot".into(), vec!["ai-agents".into()]),
            ("lead".into(), vec!["sre-leads".into()]),
        ],
        policy: Some(POLICY.into()),
        ..TestbedOptions::default()
    })
    .await
    .expect("testbed starts")
}

fn token<'a>(bed: &'a Testbed, user: &str) -> &'a str {
    &bed.callers
        .iter()
        .find(|c| c.user == user)
        .expect("a caller")
        .token
}

/// One call of kubewitness's access-request API as `user`: status code and JSON body.
async fn api(bed: &Testbed, user: &str, path: &str, body: Value) -> (u16, Value) {
    let out = tokio::process::Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", "-X", "POST", "--cacert"])
        .arg(bed.dir().join("ca.crt"))
        .arg("-H")
        .arg(format!("Authorization: Bearer {}", token(bed, user)))
        .args(["-H", "Content-Type: application/json", "--data-binary"])
        .arg(body.to_string())
        .arg(format!("https://{}{path}", bed.addr))
        .output()
        .await
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').expect("curl printed the status");
    (
        code.trim().parse().expect("a status code"),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

async fn approve(bed: &Testbed, user: &str, id: &str) -> (u16, Value) {
    let path = format!("{REQUESTS}/{id}/approve");
    api(bed, user, &path, json!({"reason": "checked the pod, go"})).await
}

/// Runs `calls` as bot over `/mcp`.
async fn as_bot(bed: &Testbed, calls: Value) -> Value {
    let spec = json!({"transport": "http", "url": format!("https://{}/mcp", bed.addr),
        "token": token(bed, "bot"), "ca": bed.dir().join("ca.crt").display().to_string(),
        "calls": calls});
    run_client(bed.dir(), &spec).await
}

/// The access request id a `k8s_request_write` result names (`id: …`).
#[track_caller]
fn request_id(text: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix("id: "))
        .unwrap_or_else(|| panic!("no id in {text}"))
        .trim()
        .to_string()
}

fn evict(pod: &str) -> Value {
    json!({"action": "evict", "namespace": "shop", "name": pod,
           "justification": format!("{pod} is wedged: readiness failing for 20 minutes")})
}

/// The real (not dry-run) writes the simulator received.
fn real_writes(bed: &Testbed) -> Vec<String> {
    bed.sim
        .writes()
        .iter()
        .filter(|w| !w.dry_run())
        .map(|w| format!("{} {}", w.method, w.uri.path()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_eviction_runs_once_after_a_human_approves() {
    if !python_has("mcp").await {
        return;
    }
    let bed = grants_bed().await;
    let out = as_bot(
        &bed,
        json!([{"id": "request", "tool": "k8s_request_write", "arguments": evict("api-7")}]),
    )
    .await;
    let names = tool_names(&out);
    for tool in [
        "k8s_request_write",
        "k8s_request_status",
        "k8s_request_execute",
    ] {
        assert!(names.iter().any(|n| n == tool), "{names:?}");
    }
    assert!(
        !names.iter().any(|n| n.contains("approve")),
        "an approve tool: {names:?}"
    );
    let (err, text) = call(&out, "request");
    assert!(!err, "{text}");
    assert!(text.contains("state: pending"), "{text}");
    assert!(text.contains("dry run: HTTP 2"), "{text}");
    let id = request_id(text);
    assert!(
        text.contains(&format!("kubewitness access approve {id} --reason")),
        "{text}"
    );
    // Only the dry run reached the API server.
    let writes = bed.sim.writes();
    assert!(!writes.is_empty(), "no dry run");
    assert!(
        writes
            .iter()
            .all(|w| w.dry_run() && w.uri.path() == "/api/v1/namespaces/shop/pods/api-7/eviction"),
        "{:?}",
        writes.iter().map(|w| w.uri.to_string()).collect::<Vec<_>>()
    );
    assert!(bed.sim.pod_exists("shop", "api-7"));

    // Pending: execute is refused; the agent cannot approve (itself or anything).
    let out = as_bot(
        &bed,
        json!([{"id": "early", "tool": "k8s_request_execute", "arguments": {"id": id}},
               {"id": "status", "tool": "k8s_request_status", "arguments": {"id": id}}]),
    )
    .await;
    let (err, text) = call(&out, "early");
    assert!(err, "executed before approval: {text}");
    let (err, text) = call(&out, "status");
    assert!(!err && text.contains("state: pending"), "{text}");
    let (code, body) = approve(&bed, "bot", &id).await;
    assert_eq!(code, 403, "an agent approved: {body}");
    assert!(real_writes(&bed).is_empty());

    let (code, body) = approve(&bed, "lead", &id).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["state"], "approved");
    let out = as_bot(
        &bed,
        json!([{"id": "exec1", "tool": "k8s_request_execute", "arguments": {"id": id}},
               {"id": "exec2", "tool": "k8s_request_execute", "arguments": {"id": id}},
               {"id": "status", "tool": "k8s_request_status", "arguments": {"id": id}}]),
    )
    .await;
    let (err, text) = call(&out, "exec1");
    assert!(!err, "{text}");
    assert!(text.contains("the API server answered HTTP 2"), "{text}");
    let (err, text) = call(&out, "exec2");
    assert!(err, "a second execute ran: {text}");
    let (_, text) = call(&out, "status");
    assert!(text.contains("state: used"), "{text}");
    assert!(
        !bed.sim.pod_exists("shop", "api-7"),
        "the pod was not evicted"
    );
    assert_eq!(
        real_writes(&bed),
        ["POST /api/v1/namespaces/shop/pods/api-7/eviction"],
        "evicted exactly once"
    );
    // The eviction went as bot, plus the breakglass group.
    let all = bed.sim.writes();
    let real = all.iter().find(|w| !w.dry_run()).expect("the eviction");
    assert_eq!(real.headers["impersonate-user"], "bot");
    assert!(
        real.headers
            .get_all("impersonate-group")
            .iter()
            .any(|g| g == proxy_core::config::DEFAULT_BREAKGLASS_GROUP)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_action_and_an_expired_approval_are_refused() {
    if !python_has("mcp").await {
        return;
    }
    let bed = grants_bed().await;
    // A changed body: the approval is bound to evicting cache-0, not cache-1.
    let out = as_bot(
        &bed,
        json!([{"id": "request", "tool": "k8s_request_write", "arguments": evict("cache-0")}]),
    )
    .await;
    let (err, text) = call(&out, "request");
    assert!(!err, "{text}");
    let id = request_id(text);
    assert_eq!(approve(&bed, "lead", &id).await.0, 200);
    let changed = json!({"write": {"verb": "evict", "namespace": "shop", "name": "cache-1"}});
    let (code, body) = api(&bed, "bot", &format!("{REQUESTS}/{id}/execute"), changed).await;
    assert!(
        (400..500).contains(&code),
        "a changed action ran: {code} {body}"
    );
    assert!(bed.sim.pod_exists("shop", "cache-1") && bed.sim.pod_exists("shop", "cache-0"));
    assert!(real_writes(&bed).is_empty(), "{:?}", real_writes(&bed));

    // An approval whose TTL ended: filed with a 2 s TTL over the API, approved, then late.
    let (code, req) = api(
        &bed,
        "bot",
        REQUESTS,
        json!({"grant": "evict-wedged", "reason": "cache-1 wedged", "ttl": "2s",
               "action": "evict", "namespace": "shop", "name": "cache-1"}),
    )
    .await;
    assert_eq!(code, 201, "{req}");
    let late = req["id"].as_str().expect("an id").to_string();
    assert_eq!(approve(&bed, "lead", &late).await.0, 200);
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let out = as_bot(
        &bed,
        json!([{"id": "late", "tool": "k8s_request_execute", "arguments": {"id": late}},
               {"id": "status", "tool": "k8s_request_status", "arguments": {"id": late}}]),
    )
    .await;
    let (err, text) = call(&out, "late");
    assert!(err, "an expired approval ran: {text}");
    let (_, text) = call(&out, "status");
    assert!(text.contains("state: expired"), "{text}");
    assert!(bed.sim.pod_exists("shop", "cache-1"));
    assert!(real_writes(&bed).is_empty(), "{:?}", real_writes(&bed));
}
