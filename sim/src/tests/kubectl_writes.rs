//! Real `/usr/bin/kubectl` writes straight at the simulated server (no proxy): delete,
//! drain (eviction), rollout restart, scale and cordon/uncordon, each first with
//! `--dry-run=server` (which must change nothing) and then for real.

use super::kubectl::Kubectl;
use crate::{SimConfig, SimServer};

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The write requests received since `from` (an index into [`SimServer::writes`]), as
/// `(method, path, dry run)`.
fn writes_since(server: &SimServer, from: usize) -> Vec<(String, String, bool)> {
    server.writes()[from..]
        .iter()
        .map(|r| (r.method.to_string(), r.uri.path().to_owned(), r.dry_run()))
        .collect()
}

fn unschedulable(server: &SimServer, node: &str) -> bool {
    server.node(node).expect("node")["spec"]["unschedulable"] == true
}

#[tokio::test]
async fn kubectl_writes_with_and_without_server_dry_run() {
    let Some(k) = Kubectl::start(SimConfig::default()).await else {
        return;
    };
    let s = &k.server;
    let ok = |out: &std::process::Output| assert!(out.status.success(), "{out:?}");

    // delete pod
    let out = k
        .run(&["delete", "pod", "web-0", "--dry-run=server"], &[])
        .await;
    ok(&out);
    assert_eq!(stdout(&out), "pod \"web-0\" deleted (server dry run)\n");
    assert!(s.pod_exists("default", "web-0"));
    let out = k.run(&["delete", "pod", "web-0"], &[]).await;
    ok(&out);
    assert!(!s.pod_exists("default", "web-0"));
    let path = "/api/v1/namespaces/default/pods/web-0";
    assert_eq!(
        writes_since(s, 0),
        [
            ("DELETE".into(), path.into(), true),
            ("DELETE".into(), path.into(), false)
        ]
    );

    // drain = cordon + evict, selecting api-7 on sim-node-1
    let n = s.writes().len();
    let drain = [
        "drain",
        "sim-node-1",
        "--pod-selector",
        "app=api",
        "--force",
    ];
    let out = k
        .run(&[&drain[..], &["--dry-run=server"]].concat(), &[])
        .await;
    ok(&out);
    assert!(s.pod_exists("shop", "api-7") && !unschedulable(s, "sim-node-1"));
    let out = k.run(&drain, &[]).await;
    ok(&out);
    assert!(
        stdout(&out).contains("pod/api-7 evicted"),
        "{}",
        stdout(&out)
    );
    assert!(!s.pod_exists("shop", "api-7") && unschedulable(s, "sim-node-1"));
    let (node, evict) = (
        "/api/v1/nodes/sim-node-1",
        "/api/v1/namespaces/shop/pods/api-7/eviction",
    );
    assert_eq!(
        writes_since(s, n),
        [
            ("PATCH".into(), node.into(), true),
            ("POST".into(), evict.into(), true),
            ("PATCH".into(), node.into(), false),
            ("POST".into(), evict.into(), false),
        ]
    );

    // uncordon (dry run, then real), cordon of the other node
    let out = k
        .run(&["uncordon", "sim-node-1", "--dry-run=server"], &[])
        .await;
    ok(&out);
    assert!(unschedulable(s, "sim-node-1"));
    ok(&k.run(&["uncordon", "sim-node-1"], &[]).await);
    assert!(!unschedulable(s, "sim-node-1"));
    assert!(
        s.node("sim-node-1").unwrap()["spec"]
            .get("unschedulable")
            .is_none()
    );
    ok(&k.run(&["cordon", "node-1", "--dry-run=server"], &[]).await);
    assert!(!unschedulable(s, "node-1"));
    ok(&k.run(&["cordon", "node-1"], &[]).await);
    assert!(unschedulable(s, "node-1"));

    // scale, deployment and statefulset
    for (kind, ns, name) in [("deploy", "shop", "api"), ("sts", "default", "web")] {
        let object = || match kind {
            "deploy" => s.deployment(ns, name),
            _ => s.statefulset(ns, name),
        };
        let target = format!("{kind}/{name}");
        let args = ["-n", ns, "scale", &target, "--replicas=3"];
        let out = k
            .run(&[&args[..], &["--dry-run=server"]].concat(), &[])
            .await;
        ok(&out);
        assert!(stdout(&out).ends_with("scaled (server dry run)\n"));
        assert_eq!(object().unwrap()["spec"]["replicas"], 1);
        ok(&k.run(&args, &[]).await);
        assert_eq!(object().unwrap()["spec"]["replicas"], 3);
        let last = s.writes().pop().unwrap();
        assert!(last.uri.path().ends_with("/scale") && !last.dry_run());
    }

    // rollout restart (kubectl 1.32 has no --dry-run for it)
    let before = s.deployment("shop", "api").unwrap();
    let annotation = "kubectl.kubernetes.io/restartedAt";
    assert!(before["spec"]["template"]["metadata"]["annotations"][annotation].is_null());
    let out = k
        .run(&["-n", "shop", "rollout", "restart", "deploy/api"], &[])
        .await;
    ok(&out);
    assert_eq!(stdout(&out), "deployment.apps/api restarted\n");
    let after = s.deployment("shop", "api").unwrap();
    assert!(after["spec"]["template"]["metadata"]["annotations"][annotation].is_string());
    assert_eq!(
        after["metadata"]["generation"].as_i64(),
        before["metadata"]["generation"].as_i64().map(|g| g + 1)
    );
    let restart = s.writes().pop().unwrap();
    assert_eq!(restart.uri.query(), Some("fieldManager=kubectl-rollout"));
    assert_eq!(
        restart.headers["content-type"],
        "application/strategic-merge-patch+json"
    );
    ok(&k
        .run(&["-n", "default", "rollout", "restart", "sts/web"], &[])
        .await);
    assert!(
        s.statefulset("default", "web").unwrap()["spec"]["template"]["metadata"]["annotations"]
            [annotation]
            .is_string()
    );
    let out = k.run(&["get", "nodes"], &[]).await;
    ok(&out);
    assert!(stdout(&out).contains("node-1"));
}
