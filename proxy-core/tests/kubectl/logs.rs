//! `kubectl logs` through kubewitness.

use crate::support::*;

#[tokio::test]
async fn logs_tail_and_follow() {
    let bed = testbed().await;
    let pod = &bed.sim.config().pods[0];
    let log = &pod.containers[0].log;
    let all = kubectl(&bed, Client::WebSocket, &["logs", &pod.name]).await;
    all.ok();
    let lines: Vec<String> = all.stdout_str().lines().map(String::from).collect();
    assert_eq!(&lines, log);

    let tail = kubectl(&bed, Client::WebSocket, &["logs", &pod.name, "--tail", "2"]).await;
    tail.ok();
    let lines: Vec<String> = tail.stdout_str().lines().map(String::from).collect();
    assert_eq!(lines, log[log.len() - 2..]);

    // The simulated container emits its follow lines, then exits: the follow ends.
    let follow = kubectl(&bed, Client::WebSocket, &["logs", "-f", &pod.name]).await;
    follow.ok();
    let lines: Vec<String> = follow.stdout_str().lines().map(String::from).collect();
    let mut want = log.clone();
    want.extend(pod.containers[0].follow_lines.iter().cloned());
    assert_eq!(lines, want);
}

#[tokio::test]
async fn logs_of_a_multi_container_pod_pick_the_default_container() {
    let bed = testbed().await;
    let run = kubectl(
        &bed,
        Client::WebSocket,
        &["logs", "-n", "shop", "api-7", "--tail", "1"],
    )
    .await;
    run.ok();
    assert_eq!(run.stdout_str().lines().count(), 1);
    let run = kubectl(
        &bed,
        Client::WebSocket,
        &["logs", "-n", "shop", "api-7", "-c", "nope"],
    )
    .await;
    assert_ne!(run.code, Some(0));
}
