//! Approved writes with real kubectl: a denied `kubectl scale` / `kubectl cordon` names the
//! grant and the command that asks for it; after a lead approves that exact action, the
//! same kubectl command works once (kubewitness sends its own request, as alice plus the
//! breakglass group) and is denied again after.

use kubewitness_sim::testbed::Testbed;
use serde_json::{Value, json};

use crate::grants::{BREAKGLASS, REQUESTS, api, approve, bed, request};
use crate::support::*;

/// The writes (dry runs included) the simulator received, as (method, path, dry run).
fn writes(bed: &Testbed) -> Vec<(String, String, bool)> {
    bed.sim
        .writes()
        .iter()
        .map(|r| (r.method.to_string(), r.uri.path().to_string(), r.dry_run()))
        .collect()
}

/// The impersonated user and groups of the last real (not dry-run) write upstream.
fn last_write_identity(bed: &Testbed) -> (String, Vec<String>) {
    let all = bed.sim.writes();
    let w = all
        .iter()
        .rev()
        .find(|r| !r.dry_run())
        .expect("a real write");
    let user = w
        .headers
        .get("impersonate-user")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let groups = w
        .headers
        .get_all("impersonate-group")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    (user, groups)
}

/// Requests `body` as alice, checks only its dry run (of the object at `path` or one of its
/// subresources) reached upstream, approves it as lead.
async fn requested_and_approved(bed: &Testbed, body: Value, path: &str) -> String {
    let before = writes(bed).len();
    let req = request(bed, "alice", body).await;
    let id = req["id"].as_str().unwrap().to_string();
    assert_eq!(req["state"], "pending", "{req}");
    assert_eq!(req["kind"], "write");
    assert!(
        req["digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:")),
        "{req}"
    );
    assert!(
        req["dryRun"]["code"].as_u64().is_some_and(|c| c < 300),
        "the dry run's answer is kept: {req}"
    );
    let since: Vec<_> = writes(bed)[before..].to_vec();
    assert!(
        !since.is_empty() && since.iter().all(|(_, p, dry)| *dry && p.starts_with(path)),
        "only the dry run went upstream before approval: {since:?}"
    );
    let (code, approved) = approve(bed, "lead", &id).await;
    assert_eq!(code, 200, "{approved}");
    assert_eq!(approved["state"], "approved", "{approved}");
    id
}

#[tokio::test]
async fn an_approved_kubectl_scale_works_once() {
    let bed = bed().await;
    let scale = ["scale", "deployment", "api", "-n", "shop", "--replicas=3"];
    let run = kubectl(&bed, Client::WebSocket, &scale).await;
    assert_ne!(run.code, Some(0));
    assert!(
        run.stderr
            .contains(r#"grant "scale-shop" could allow this"#)
            && run.stderr.contains(
                "kubewitness access request scale-shop --action scale --namespace shop --name api"
            )
            && run.stderr.contains("--replicas 3"),
        "{}",
        run.stderr
    );
    assert!(
        writes(&bed).is_empty(),
        "a denied write reached upstream: {:?}",
        writes(&bed)
    );

    let path = "/apis/apps/v1/namespaces/shop/deployments/api";
    let body = json!({"grant": "scale-shop", "reason": "INC-7: traffic spike",
        "action": "scale", "namespace": "shop", "name": "api", "workload": "deployment", "replicas": 3});
    let id = requested_and_approved(&bed, body, path).await;
    assert_eq!(
        bed.sim.deployment("shop", "api").unwrap()["spec"]["replicas"],
        1
    );

    // Another replica count is not what was approved.
    let other = ["scale", "deployment", "api", "-n", "shop", "--replicas=4"];
    assert_ne!(kubectl(&bed, Client::WebSocket, &other).await.code, Some(0));

    let run = kubectl(&bed, Client::WebSocket, &scale).await;
    run.ok();
    assert!(run.stdout_str().contains("scaled"), "{}", run.stdout_str());
    assert_eq!(
        bed.sim.deployment("shop", "api").unwrap()["spec"]["replicas"],
        3
    );
    let real: Vec<_> = writes(&bed).into_iter().filter(|w| !w.2).collect();
    assert_eq!(real.len(), 1, "{real:?}");
    assert!(real[0].1.starts_with(path), "{real:?}");
    let (user, groups) = last_write_identity(&bed);
    assert_eq!(user, "alice");
    assert!(groups.iter().any(|g| g == BREAKGLASS), "{groups:?}");

    // Once only.
    let run = kubectl(&bed, Client::WebSocket, &scale).await;
    assert_ne!(run.code, Some(0), "a one-use grant was used twice");
    assert_eq!(writes(&bed).iter().filter(|w| !w.2).count(), 1);
    let (code, seen) = api(&bed, "alice", "GET", &format!("{REQUESTS}/{id}"), None).await;
    assert_eq!(code, 200);
    assert_eq!(seen["state"], "used", "{seen}");
    assert!(
        seen["result"]["code"].as_u64().is_some_and(|c| c < 300),
        "{seen}"
    );
}

#[tokio::test]
async fn an_approved_kubectl_cordon_works_once() {
    let bed = bed().await;
    let cordon = ["cordon", "node-1"];
    // kubectl 1.32 exits 0 when the cordon patch is refused; its stderr says so.
    let run = kubectl(&bed, Client::WebSocket, &cordon).await;
    assert!(run.stderr.contains("unable to cordon"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains(r#"grant "cordon-nodes" could allow this"#)
            && run
                .stderr
                .contains("kubewitness access request cordon-nodes --action cordon --name node-1"),
        "{}",
        run.stderr
    );
    let body = json!({"grant": "cordon-nodes", "reason": "bad disk", "action": "cordon", "name": "node-1"});
    requested_and_approved(&bed, body, "/api/v1/nodes/node-1").await;
    assert_ne!(
        bed.sim.node("node-1").unwrap()["spec"]["unschedulable"],
        true
    );
    let run = kubectl(&bed, Client::WebSocket, &cordon).await;
    run.ok();
    assert!(
        run.stdout_str().contains("cordoned"),
        "{}",
        run.stdout_str()
    );
    assert_eq!(
        bed.sim.node("node-1").unwrap()["spec"]["unschedulable"],
        true
    );
    // uncordon was never approved.
    let run = kubectl(&bed, Client::WebSocket, &["uncordon", "node-1"]).await;
    assert!(
        run.stderr.contains("unable to uncordon") && run.stderr.contains("denied"),
        "{}",
        run.stderr
    );
    assert_eq!(
        bed.sim.node("node-1").unwrap()["spec"]["unschedulable"],
        true
    );
}
