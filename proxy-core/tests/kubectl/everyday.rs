//! Everyday kubectl through kubewitness under the built-in policy: `--request-timeout` on
//! logs, exec and get, and `kubectl describe pod` listing the pod's events.

use crate::support::*;

#[tokio::test]
async fn request_timeout_works_for_logs_exec_and_get() {
    let bed = testbed().await;
    let pod = &bed.sim.config().pods[0];
    let logs = kubectl(
        &bed,
        Client::WebSocket,
        &["--request-timeout=5s", "logs", &pod.name, "--tail", "1"],
    )
    .await;
    logs.ok();
    assert_eq!(logs.stdout_str().lines().count(), 1);
    for client in BOTH {
        let exec = kubectl(
            &bed,
            client,
            &[
                "--request-timeout=5s",
                "exec",
                &pod.name,
                "--",
                "echo",
                "hi",
            ],
        )
        .await;
        exec.ok();
        assert_eq!(exec.stdout_str(), "hi\n");
    }
    let get = kubectl(
        &bed,
        Client::WebSocket,
        &[
            "--request-timeout=5s",
            "get",
            "pod",
            &pod.name,
            "-o",
            "name",
        ],
    )
    .await;
    get.ok();
    assert_eq!(get.stdout_str().trim(), format!("pod/{}", pod.name));
    // The timeout reached upstream on the log request, as the caller gave it.
    let forwarded = bed.sim.requests().iter().any(|r| {
        r.uri.path().ends_with("/log") && r.uri.query().unwrap_or("").contains("timeout=5s")
    });
    assert!(forwarded, "the log request lost its timeout");
}

#[tokio::test]
async fn describe_pod_lists_its_events_under_the_builtin_policy() {
    let bed = testbed().await;
    let run = kubectl(
        &bed,
        Client::WebSocket,
        &["describe", "pod", "-n", "shop", "api-7"],
    )
    .await;
    run.ok();
    let out = run.stdout_str();
    let events = out
        .split_once("Events:")
        .map(|(_, e)| e.to_string())
        .unwrap_or_default();
    assert!(
        events.contains("Started") && events.contains("kubelet"),
        "no events in: {out}"
    );
    let get = kubectl(
        &bed,
        Client::WebSocket,
        &["get", "events", "-n", "shop", "-o", "json"],
    )
    .await;
    get.ok();
    assert!(get.stdout_str().contains("Started"), "{}", get.stdout_str());
}
