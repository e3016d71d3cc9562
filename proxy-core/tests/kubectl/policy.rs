//! The policy through kubewitness with real kubectl: allowed and denied commands, denials
//! that never reach upstream, port-forward, writes and secrets, log clamping, the output
//! cap, rate limits, audit lines and hot reload.

use kubewitness_sim::testbed::{Testbed, TestbedOptions};

use crate::support::*;

/// The testbed's caller is alice, in groups sre and oncall.
const POLICY: &str = r#"
apiVersion: kubewitness/v1
kind: Policy
rules:
- name: sre-debug
  subjects: {groups: [sre]}
  namespaces: [default, shop]
  read: [pods]
  logs: {maxTailLines: 2}
  exec:
    commands:
      - [echo, "**"]
      - [head, -c, "*", "*"]
      - [sleep, "*"]
      - [sh, -c, "sleep 1; head -c 100000 /dev/zero"]
    maxOutputBytes: 1000
"#;

async fn bed_with(policy: &str) -> Testbed {
    testbed_with(TestbedOptions {
        policy: Some(policy.to_string()),
        ..TestbedOptions::default()
    })
    .await
}

fn exec_requests(bed: &Testbed) -> Vec<String> {
    bed.sim
        .requests()
        .iter()
        .map(|r| r.uri.to_string())
        .filter(|u| u.contains("/exec"))
        .collect()
}

fn audit_lines(bed: &Testbed) -> Vec<serde_json::Value> {
    std::fs::read_to_string(bed.dir().join("audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("audit lines are JSON"))
        .collect()
}

#[tokio::test]
async fn an_allowed_command_runs_and_a_disallowed_one_never_reaches_upstream() {
    let bed = bed_with(POLICY).await;
    for client in BOTH {
        let run = kubectl(&bed, client, &["exec", "web-0", "--", "echo", "hi"]).await;
        run.ok();
        assert_eq!(run.stdout_str(), "hi\n");

        let before = exec_requests(&bed).len();
        let run = kubectl(&bed, client, &["exec", "web-0", "--", "rm", "-rf", "/"]).await;
        assert_ne!(run.code, Some(0), "{client:?}");
        assert!(
            run.stderr.contains(
                r#"kubewitness: exec of ["rm","-rf","/"] in default/web-0 denied: no rule allows this command"#
            ),
            "{client:?}: {}",
            run.stderr
        );
        assert_eq!(
            exec_requests(&bed).len(),
            before,
            "a denied exec reached upstream"
        );
    }
    let audit = audit_lines(&bed);
    let denied = audit
        .iter()
        .find(|l| l["decision"] == "deny" && l["argv"][0] == "rm")
        .expect("the denial is audited");
    assert_eq!(denied["user"], "alice");
    assert_eq!(denied["rule"], "sre-debug");
    assert_eq!(denied["pod"], "web-0");
    assert_eq!(denied["reason"], "no rule allows this command");
    let text = std::fs::read_to_string(bed.dir().join("audit.jsonl")).unwrap();
    assert!(
        !text.contains(&bed.callers[0].token),
        "a token leaked into the audit log"
    );
    assert!(
        audit
            .iter()
            .any(|l| l["decision"] == "allow" && l["argv"][0] == "echo")
    );
}

#[tokio::test]
async fn port_forward_writes_and_secrets_are_denied() {
    let bed = bed_with(POLICY).await;
    let run = kubectl(
        &bed,
        Client::WebSocket,
        &["port-forward", "web-0", "18080:80"],
    )
    .await;
    assert_ne!(run.code, Some(0));
    assert!(
        run.stderr.contains("port-forward to default/web-0 denied"),
        "{}",
        run.stderr
    );

    let run = kubectl(&bed, Client::WebSocket, &["delete", "pod", "web-0"]).await;
    assert_ne!(run.code, Some(0));
    assert!(
        run.stderr.contains("kubewitness does not allow writes"),
        "{}",
        run.stderr
    );
    assert!(
        !bed.sim
            .requests()
            .iter()
            .any(|r| r.method == http::Method::DELETE)
    );

    let run = kubectl(&bed, Client::WebSocket, &["get", "secrets"]).await;
    assert_ne!(run.code, Some(0));
    assert!(run.stderr.contains("reading secrets"), "{}", run.stderr);

    let run = kubectl(
        &bed,
        Client::WebSocket,
        &["exec", "-n", "kube-system", "x", "--", "echo"],
    )
    .await;
    assert_ne!(run.code, Some(0));
}

#[tokio::test]
async fn a_log_request_without_tail_is_clamped() {
    let bed = bed_with(POLICY).await;
    let pod = &bed.sim.config().pods[0];
    let log = &pod.containers[0].log;
    let run = kubectl(&bed, Client::WebSocket, &["logs", &pod.name]).await;
    run.ok();
    let lines: Vec<String> = run.stdout_str().lines().map(String::from).collect();
    assert_eq!(lines, log[log.len() - 2..]);
    let run = kubectl(
        &bed,
        Client::WebSocket,
        &["logs", &pod.name, "--tail", "100"],
    )
    .await;
    run.ok();
    assert_eq!(run.stdout_str().lines().count(), 2);
    let run = kubectl(&bed, Client::WebSocket, &["logs", &pod.name, "--tail", "1"]).await;
    run.ok();
    assert_eq!(run.stdout_str().lines().count(), 1);
    assert!(
        bed.sim
            .requests()
            .iter()
            .any(|r| r.uri.query().is_some_and(|q| q.contains("tailLines=2"))),
        "upstream saw the clamped tailLines"
    );
}

#[tokio::test]
async fn an_exec_over_max_output_bytes_ends_with_a_message_and_non_zero_exit() {
    let bed = bed_with(POLICY).await;
    for client in BOTH {
        let run = kubectl(
            &bed,
            client,
            &["exec", "web-0", "--", "head", "-c", "500", "/dev/zero"],
        )
        .await;
        run.ok();
        assert_eq!(run.stdout.len(), 500);
        // The cap can end a session before kubectl has opened all its SPDY streams; the
        // driver waits for them, so kubectl still gets the status at once.
        let started = std::time::Instant::now();
        let run = kubectl(
            &bed,
            client,
            &["exec", "web-0", "--", "head", "-c", "100000", "/dev/zero"],
        )
        .await;
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "{client:?}"
        );
        assert_ne!(run.code, Some(0), "{client:?}");
        assert!(
            run.stdout.len() <= 1000,
            "{client:?}: {} bytes",
            run.stdout.len()
        );
        assert!(
            run.stderr.contains("output limit of 1000 bytes exceeded"),
            "{client:?}: {}",
            run.stderr
        );
    }
}

async fn curl_status(bed: &Testbed, path: &str) -> (u16, String) {
    let out = tokio::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-D", "-", "--cacert"])
        .arg(bed.dir().join("ca.crt"))
        .arg("-H")
        .arg(format!("Authorization: Bearer {}", bed.callers[0].token))
        .arg(format!("{}{path}", bed.url()))
        .output()
        .await
        .expect("curl runs");
    let head = String::from_utf8_lossy(&out.stdout).into_owned();
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, head)
}

#[tokio::test]
async fn the_rate_limit_answers_429_with_retry_after() {
    let policy = format!("{POLICY}  rateLimit: {{requestsPerSecond: 0.2, burst: 2}}\n");
    let bed = bed_with(&policy).await;
    let path = "/api/v1/namespaces/default/pods/web-0";
    assert_eq!(curl_status(&bed, path).await.0, 200);
    assert_eq!(curl_status(&bed, path).await.0, 200);
    let (code, head) = curl_status(&bed, path).await;
    assert_eq!(code, 429, "{head}");
    assert!(
        head.to_ascii_lowercase().contains("retry-after: 5"),
        "{head}"
    );
}

#[tokio::test]
async fn reload_applies_a_valid_policy_keeps_sessions_and_rejects_an_invalid_one() {
    let bed = bed_with(POLICY).await;
    let file = bed.dir().join("policy.yaml");
    // A session that outlives the reload.
    let long = kubectl(
        &bed,
        Client::WebSocket,
        &["exec", "web-0", "--", "sleep", "3"],
    );
    let before = bed.proxy.policy();
    let reload = async {
        eventually("the session to reach the API server", || {
            !exec_requests(&bed).is_empty()
        })
        .await;
        let narrower = POLICY.replace("      - [echo, \"**\"]\n", "");
        std::fs::write(&file, narrower).unwrap();
        // The watcher polls every second.
        eventually("the watcher to reload the policy", || {
            !std::sync::Arc::ptr_eq(&bed.proxy.policy(), &before)
        })
        .await;
    };
    let (run, ()) = tokio::join!(long, reload);
    run.ok();
    let run = kubectl(
        &bed,
        Client::WebSocket,
        &["exec", "web-0", "--", "echo", "hi"],
    )
    .await;
    assert_ne!(run.code, Some(0));
    assert!(
        run.stderr.contains("no rule allows this command"),
        "{}",
        run.stderr
    );

    std::fs::write(&file, "apiVersion: kubewitness/v1\nkind: Policy\nrules:\n- name: x\n  subjects: {}\n  namespaces: [\"Bad\"]\n").unwrap();
    let err = bed.proxy.reload_policy().unwrap_err();
    let paths: Vec<&str> = err.problems().iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        ["rules[0].subjects", "rules[0].namespaces[0]", "rules[0]"]
    );
    // The old (narrower) policy is still in force.
    let run = kubectl(
        &bed,
        Client::WebSocket,
        &["exec", "web-0", "--", "echo", "hi"],
    )
    .await;
    assert!(
        run.stderr.contains("no rule allows this command"),
        "{}",
        run.stderr
    );
    let run = kubectl(
        &bed,
        Client::WebSocket,
        &["exec", "web-0", "--", "sleep", "0"],
    )
    .await;
    run.ok();
}
