//! `kubectl debug` through kubewitness: a rule's `ephemeralContainers` lists the images it
//! allows; the patch adding the container is checked, the attach that follows is a recorded
//! session, and other images or privileged profiles are denied with the reason.

use kubewitness_sim::testbed::{Testbed, TestbedOptions};

use crate::support::*;

const POLICY: &str = r#"
apiVersion: kubewitness/v1
kind: Policy
rules:
- name: oncall-debug
  subjects: {groups: [oncall]}
  namespaces: [default]
  read: [pods]
  exec: {commands: [["**"]], stdin: true, tty: true}
  attach: true
  ephemeralContainers: {images: ["busybox:1.36"], allowPrivileged: false}
"#;

async fn bed() -> Testbed {
    testbed_with(TestbedOptions {
        policy: Some(POLICY.to_string()),
        ..TestbedOptions::default()
    })
    .await
}

fn patches(bed: &Testbed) -> usize {
    bed.sim
        .requests()
        .iter()
        .filter(|r| r.uri.path().ends_with("/ephemeralcontainers"))
        .count()
}

#[tokio::test]
async fn debug_with_a_listed_image_attaches_and_is_recorded() {
    let bed = bed().await;
    let before = record_store(&bed).sessions().await.unwrap();
    let run = kubectl_stdin(
        &bed,
        Client::WebSocket,
        &[
            "debug",
            "-it",
            "web-0",
            "--image=busybox:1.36",
            "--target=app",
            "--",
            "sh",
        ],
        b"echo debug-ok\nexit\n".to_vec(),
    )
    .await;
    run.ok();
    assert!(run.stdout_str().contains("debug-ok"), "{run:?}");
    assert_eq!(patches(&bed), 1);
    let (_, report) = new_sealed_session(&record_store(&bed), &seal_key(&bed), &before).await;
    assert!(report.intact, "{:?}", report.problems);
    assert!(report.pinned);
    // The pod now shows the debug container, running.
    let pod = kubectl(
        &bed,
        Client::WebSocket,
        &["get", "pod", "web-0", "-o", "json"],
    )
    .await;
    let pod: serde_json::Value = serde_json::from_slice(&pod.stdout).unwrap();
    assert_eq!(
        pod["spec"]["ephemeralContainers"][0]["image"],
        "busybox:1.36"
    );
}

#[tokio::test]
async fn other_images_and_privileged_profiles_are_denied() {
    let bed = bed().await;
    let evil = kubectl(
        &bed,
        Client::WebSocket,
        &[
            "debug",
            "web-0",
            "--image=evil:latest",
            "--target=app",
            "--",
            "sh",
        ],
    )
    .await;
    assert_ne!(evil.code, Some(0));
    assert!(evil.stderr.contains("evil:latest"), "{}", evil.stderr);
    let sysadmin = kubectl(
        &bed,
        Client::WebSocket,
        &[
            "debug",
            "web-0",
            "--image=busybox:1.36",
            "--profile=sysadmin",
            "--",
            "sh",
        ],
    )
    .await;
    assert_ne!(sysadmin.code, Some(0));
    assert!(
        sysadmin.stderr.contains("privileged"),
        "{}",
        sysadmin.stderr
    );
    assert_eq!(patches(&bed), 0, "a denied patch reached upstream");
}
