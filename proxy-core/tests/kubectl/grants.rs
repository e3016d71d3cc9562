//! Access requests through real kubectl and the simulated API server: an elevation asked
//! for by an on-call user over kubewitness's API, refused to its own requester as an
//! approver, approved by a lead, used with kubectl exec (upstream sees the breakglass
//! group), gone after its TTL; and an `autoApprove` group granted at once.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use kubewitness_sim::testbed::{Testbed, TestbedOptions};
use serde_json::{Value, json};

use crate::support::*;

/// alice is on call, lead approves, pat is paged (auto-approved), bot is an agent.
pub(crate) const POLICY: &str = r#"
apiVersion: kubewitness/v1
kind: Policy
agents: {groups: [ai-agents]}
rules:
- name: everyone-reads
  subjects: {groups: [oncall, sre-leads, pager, ai-agents]}
  namespaces: [default, shop]
  read: [pods, deployments.apps]
- name: oncall-nodes
  subjects: {groups: [oncall]}
  namespaces: ["*"]
  read: [nodes]
grants:
- name: shop-exec
  requesters: {groups: [oncall]}
  approvers: {groups: [sre-leads]}
  autoApprove: {groups: []}
  maxTTL: 1h
  rule: {namespaces: [shop], pods: ["*"], exec: {commands: [["**"]], stdin: true, tty: true}}
- name: shop-exec-paged
  requesters: {groups: [pager]}
  approvers: {groups: [sre-leads]}
  autoApprove: {groups: [pager]}
  maxTTL: 1h
  rule: {namespaces: [shop], pods: ["*"], exec: {commands: [["**"]]}}
- name: evict-wedged
  requesters: {groups: [ai-agents]}
  approvers: {groups: [sre-leads]}
  maxTTL: 15m
  write: {actions: [evict], namespaces: [shop]}
- name: scale-shop
  requesters: {groups: [oncall]}
  approvers: {groups: [sre-leads]}
  maxTTL: 15m
  write: {actions: [scale], namespaces: [shop]}
- name: cordon-nodes
  requesters: {groups: [oncall]}
  approvers: {groups: [sre-leads]}
  maxTTL: 15m
  write: {actions: [cordon, uncordon]}
"#;

/// The breakglass group when the configuration names none.
pub(crate) const BREAKGLASS: &str = proxy_core::config::DEFAULT_BREAKGLASS_GROUP;
/// The collection of the access-request API.
pub(crate) const REQUESTS: &str = "/kubewitness/v1/accessrequests";

/// A testbed with [`POLICY`]: alice (the kubeconfig's user), lead, pat and bot.
pub(crate) async fn bed() -> Testbed {
    testbed_with(TestbedOptions {
        users: vec![
            ("alice".into(), vec!["oncall".into()]),
            ("lead".into(), vec!["sre-leads".into()]),
            ("pat".into(), vec!["pager".into()]),
            ("bot".into(), vec!["ai-agents".into()]),
        ],
        policy: Some(POLICY.into()),
        ..TestbedOptions::default()
    })
    .await
}

/// The token of the testbed's caller `user`.
pub(crate) fn token(bed: &Testbed, user: &str) -> String {
    bed.callers
        .iter()
        .find(|c| c.user == user)
        .unwrap_or_else(|| panic!("no caller {user}"))
        .token
        .clone()
}

/// A kubeconfig for the testbed's caller `user`.
pub(crate) fn kubeconfig(bed: &Testbed, user: &str) -> PathBuf {
    bed.kubeconfig_for(user, &token(bed, user))
        .expect("writes a kubeconfig")
}

/// One call of kubewitness's API as `user` (with curl, the testbed's CA): the status code
/// and the JSON body (`Null` when it is not JSON).
pub(crate) async fn api(
    bed: &Testbed,
    user: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut cmd = tokio::process::Command::new("curl");
    cmd.args(["-s", "-w", "\n%{http_code}", "-X", method, "--cacert"])
        .arg(bed.dir().join("ca.crt"))
        .arg("-H")
        .arg(format!("Authorization: Bearer {}", token(bed, user)));
    if let Some(b) = body {
        cmd.args(["-H", "Content-Type: application/json", "--data-binary"])
            .arg(b.to_string());
    }
    let out = cmd
        .arg(format!("{}{path}", bed.url()))
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

/// Files a request as `user`; panics unless it is created.
pub(crate) async fn request(bed: &Testbed, user: &str, body: Value) -> Value {
    let (code, req) = api(bed, user, "POST", REQUESTS, Some(body)).await;
    assert_eq!(code, 201, "{req}");
    assert!(req["id"].as_str().is_some_and(|id| !id.is_empty()), "{req}");
    req
}

/// Approves request `id` as `user`: the status code and the answer.
pub(crate) async fn approve(bed: &Testbed, user: &str, id: &str) -> (u16, Value) {
    let path = format!("{REQUESTS}/{id}/approve");
    let reason = json!({"reason": "looked at it, go ahead"});
    api(bed, user, "POST", &path, Some(reason)).await
}

/// `kubectl exec -n shop api-7 -- echo hi` as `user`.
async fn exec_as(bed: &Testbed, user: &str) -> Run {
    let args = ["exec", "-n", "shop", "api-7", "--", "echo", "hi"];
    kubectl_with(bed, &kubeconfig(bed, user), Client::WebSocket, &args, None).await
}

/// Runs the exec as `user` until it succeeds (`want_ok`) or is denied, within `within`.
async fn exec_until(bed: &Testbed, user: &str, want_ok: bool, within: Duration) -> Run {
    let start = Instant::now();
    loop {
        let run = exec_as(bed, user).await;
        if (run.code == Some(0)) == want_ok || start.elapsed() > within {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The exec requests of api-7 the simulator received, with their impersonated groups.
fn upstream_execs(bed: &Testbed) -> Vec<(String, Vec<String>)> {
    bed.sim
        .requests()
        .iter()
        .filter(|r| r.uri.path().ends_with("/pods/api-7/exec"))
        .map(|r| {
            let user = r
                .headers
                .get("impersonate-user")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let groups = r
                .headers
                .get_all("impersonate-group")
                .iter()
                .filter_map(|v| v.to_str().ok().map(str::to_string))
                .collect();
            (user, groups)
        })
        .collect()
}

fn audit_lines(bed: &Testbed) -> Vec<Value> {
    std::fs::read_to_string(bed.dir().join("audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[tokio::test]
async fn an_approved_elevation_lets_the_requester_exec_until_its_ttl_ends() {
    let bed = bed().await;
    // Denied, and the denial names the grant and the command that asks for it.
    let run = exec_as(&bed, "alice").await;
    assert_ne!(run.code, Some(0));
    assert!(
        run.stderr.contains(r#"grant "shop-exec" could allow this"#)
            && run
                .stderr
                .contains("kubewitness access request shop-exec --reason"),
        "{}",
        run.stderr
    );
    assert!(
        upstream_execs(&bed).is_empty(),
        "a denied exec went upstream"
    );

    let req = request(
        &bed,
        "alice",
        json!({"grant": "shop-exec", "reason": "INC-42: api-7 wedged", "ttl": "10s"}),
    )
    .await;
    let id = req["id"].as_str().unwrap().to_string();
    assert_eq!(req["state"], "pending", "{req}");
    assert_eq!(req["kind"], "elevation");
    assert_eq!(req["requester"], "alice");
    assert_eq!(req["ttlSeconds"], 10);
    // Still denied while pending.
    assert_ne!(exec_as(&bed, "alice").await.code, Some(0));

    // The requester cannot approve their own request; an agent never can.
    let (code, body) = approve(&bed, "alice", &id).await;
    assert_eq!(code, 403, "{body}");
    assert_eq!(body["kind"], "Status");
    let (code, body) = approve(&bed, "bot", &id).await;
    assert!(
        code == 403 || code == 404,
        "an agent approved: {code} {body}"
    );
    // The approver sees it in their list.
    let (code, list) = api(&bed, "lead", "GET", REQUESTS, None).await;
    assert_eq!(code, 200, "{list}");
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == id.as_str()),
        "{list}"
    );

    let (code, approved) = approve(&bed, "lead", &id).await;
    assert_eq!(code, 200, "{approved}");
    assert_eq!(approved["state"], "approved", "{approved}");
    assert_eq!(approved["approvals"][0]["user"], "lead");
    assert!(approved["expiresAt"].as_str().is_some(), "{approved}");
    let approved_at = Instant::now();

    let run = exec_until(&bed, "alice", true, Duration::from_secs(6)).await;
    run.ok();
    assert_eq!(run.stdout_str(), "hi\n");
    // Upstream saw alice, with the breakglass group added, and only after the approval.
    let execs = upstream_execs(&bed);
    assert!(!execs.is_empty());
    for (user, groups) in &execs {
        assert_eq!(user, "alice");
        assert!(
            groups.iter().any(|g| g == BREAKGLASS) && groups.iter().any(|g| g == "oncall"),
            "{groups:?}"
        );
    }
    let rule = format!("grant:shop-exec:{id}");
    assert!(
        audit_lines(&bed)
            .iter()
            .any(|l| l["decision"] == "allow" && l["rule"] == rule.as_str()),
        "no allow line under {rule}"
    );
    // Someone else in the same group gains nothing from alice's grant.
    assert_ne!(exec_as(&bed, "pat").await.code, Some(0));

    // A session the elevation allowed ends with it; after the TTL (10 s from the
    // approval) it stops working.
    let long = [
        "exec",
        "-n",
        "shop",
        "api-7",
        "--",
        "sh",
        "-c",
        "sleep 40; echo never",
    ];
    let alice = kubeconfig(&bed, "alice");
    let left = Duration::from_secs(10).saturating_sub(approved_at.elapsed());
    let started = Instant::now();
    let (long, ()) = tokio::join!(
        kubectl_with(&bed, &alice, Client::WebSocket, &long, None),
        tokio::time::sleep(left + Duration::from_millis(500)),
    );
    assert_ne!(long.code, Some(0), "{}", long.stdout_str());
    assert!(!long.stdout_str().contains("never"));
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the session outlived the elevation"
    );
    let run = exec_until(&bed, "alice", false, Duration::from_secs(15)).await;
    assert_ne!(run.code, Some(0), "the elevation outlived its TTL");
    let (code, seen) = api(&bed, "alice", "GET", &format!("{REQUESTS}/{id}"), None).await;
    assert_eq!(code, 200, "{seen}");
    assert_eq!(seen["state"], "expired", "{seen}");
}

#[tokio::test]
async fn an_auto_approve_group_is_granted_at_once() {
    let bed = bed().await;
    assert_ne!(exec_as(&bed, "pat").await.code, Some(0));
    let req = request(
        &bed,
        "pat",
        json!({"grant": "shop-exec-paged", "reason": "paged: api-7 latency"}),
    )
    .await;
    assert_eq!(req["state"], "approved", "{req}");
    assert_eq!(req["approvals"][0]["user"], "kubewitness:auto", "{req}");
    assert_eq!(
        req["ttlSeconds"], 3600,
        "the default TTL is the grant's maxTTL"
    );
    let run = exec_until(&bed, "pat", true, Duration::from_secs(6)).await;
    run.ok();
    assert_eq!(run.stdout_str(), "hi\n");
    // A grant pat may not request is refused, and so is a TTL over the grant's maxTTL.
    let (code, body) = api(
        &bed,
        "pat",
        "POST",
        REQUESTS,
        Some(json!({"grant": "shop-exec", "reason": "r"})),
    )
    .await;
    assert_eq!(code, 403, "{body}");
    let (code, body) = api(
        &bed,
        "pat",
        "POST",
        REQUESTS,
        Some(json!({"grant": "shop-exec-paged", "reason": "r", "ttl": "2h"})),
    )
    .await;
    assert!(code == 400 || code == 422, "{code} {body}");
}

#[tokio::test]
async fn a_caller_claiming_the_breakglass_group_is_refused_and_audited() {
    let bed = testbed_with(TestbedOptions {
        users: vec![("mallory".into(), vec![BREAKGLASS.into()])],
        policy: Some(POLICY.into()),
        ..TestbedOptions::default()
    })
    .await;
    let run = kubectl(&bed, Client::WebSocket, &["get", "pods", "-n", "shop"]).await;
    assert_ne!(run.code, Some(0));
    // Discovery is refused too, so kubectl can only say "Forbidden"; the Status says why.
    assert!(run.stderr.contains("Forbidden"), "{}", run.stderr);
    let (code, body) = api(&bed, "mallory", "GET", REQUESTS, None).await;
    assert_eq!(code, 403, "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains(BREAKGLASS)),
        "{body}"
    );
    assert!(
        bed.sim
            .requests()
            .iter()
            .all(|r| !r.uri.path().contains("/namespaces/shop/pods")),
        "a refused caller reached upstream"
    );
    assert!(
        audit_lines(&bed)
            .iter()
            .any(|l| l["user"] == "mallory" && l["decision"] == "deny"),
        "the refusal is audited"
    );
}
