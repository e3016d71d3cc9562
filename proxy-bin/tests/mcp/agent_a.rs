//! What agent-a (the `shop` debugger of [`crate::bed::POLICY`]) must get from the gateway,
//! whichever transport carries its calls: every acceptance case but the rate limit.

use std::path::Path;

use kubewitness_sim::testbed::Testbed;
use serde_json::{Value, json};

use crate::bed::*;

/// The calls agent-a makes, by id.
pub(crate) fn calls() -> serde_json::Value {
    json!([
        {"id": "logs", "tool": "k8s_get_logs", "arguments": {"namespace": "shop", "pod": "worker-0", "tail_lines": 50}},
        {"id": "logs_huge", "tool": "k8s_get_logs", "arguments": {"namespace": "shop", "pod": "worker-0", "tail_lines": 100000}},
        {"id": "exec", "tool": "k8s_exec_readonly", "arguments": {"namespace": "shop", "pod": "worker-0", "command": ["echo", "hello", "agent"]}},
        {"id": "exec_id", "tool": "k8s_exec_readonly", "arguments": {"namespace": "shop", "pod": "worker-0", "command": ["id"]}},
        {"id": "exec_sh", "tool": "k8s_exec_readonly", "arguments": {"namespace": "shop", "pod": "worker-0", "command": ["sh", "-c", "cat /var/run/secrets/kubernetes.io/serviceaccount/token"]}},
        {"id": "exec_other_ns", "tool": "k8s_exec_readonly", "arguments": {"namespace": "default", "pod": "web-0", "command": ["echo", "hi"]}},
        {"id": "exec_big", "tool": "k8s_exec_readonly", "arguments": {"namespace": "shop", "pod": "worker-0", "command": ["seq", "1", "20000"]}},
        {"id": "get_secrets", "tool": "k8s_get", "arguments": {"resource": "secrets", "namespace": "shop"}},
        {"id": "get_configmaps", "tool": "k8s_get", "arguments": {"resource": "configmaps", "namespace": "shop", "name": "kube-root-ca.crt"}},
        {"id": "get_pods", "tool": "k8s_get", "arguments": {"resource": "pods", "namespace": "shop"}},
        {"id": "get_deploy", "tool": "k8s_get", "arguments": {"resource": "deployments.apps", "namespace": "shop", "name": "api"}},
        {"id": "events", "tool": "k8s_list_events", "arguments": {"namespace": "shop", "involved_object": "api-7"}},
        {"id": "describe", "tool": "k8s_describe_pod", "arguments": {"namespace": "shop", "pod": "worker-0"}},
    ])
}

/// Checks agent-a's results in `out`; `audit_file` holds the audit lines of its calls. The
/// simulator's request log must hold only what these calls sent.
pub(crate) async fn check(bed: &Testbed, out: &Value, audit_file: &Path) {
    // Every tool agent-a's rule can allow, and its limits in the descriptions.
    let names = tool_names(out);
    assert_eq!(
        names,
        [
            "k8s_get_logs",
            "k8s_exec_readonly",
            "k8s_list_events",
            "k8s_get",
            "k8s_describe_pod"
        ]
    );
    let exec_desc = out["tools"][1]["description"].as_str().unwrap();
    assert!(
        exec_desc.contains(r#"["seq", *, *] (at most 30 s)"#),
        "{exec_desc}"
    );
    assert!(
        out["tools"][0]["description"]
            .as_str()
            .unwrap()
            .contains("tail_lines at most 5")
    );

    // Logs: redacted, clamped to the policy's 5 newest lines.
    let (err, text) = call(out, "logs");
    assert!(!err, "{text}");
    assert!(
        text.starts_with("[tail_lines clamped to 5 by your policy]\n"),
        "{text}"
    );
    assert!(!text.contains(&aws_key()), "the key leaked: {text}");
    assert!(text.contains("AWS_ACCESS_KEY_ID="), "{text}");
    assert!(text.contains("worker line 19\nworker line 20\n"), "{text}");
    assert!(!text.contains("worker line 15"), "not clamped: {text}");
    let (_, logs_session) = recording_ids(text);
    assert!(
        logs_session.is_some(),
        "a logs call links its logs recording"
    );

    // 100 000 lines: refused by the server's own bounds, nothing sent upstream.
    let (err, text) = call(out, "logs_huge");
    assert!(
        err && text.contains("tail_lines: 100000 is outside 1..=2000"),
        "{text}"
    );

    // An allowlisted exec: its output, and ids that `kubewitness verify` accepts.
    let (err, text) = call(out, "exec");
    assert!(!err, "{text}");
    assert!(text.starts_with("hello agent\n"), "{text}");
    let (id, linked) = recording_ids(text);
    let report = verified(bed, &id).await;
    assert!(report.contains(&id), "{report}");
    verified(bed, &linked.expect("the exec session is linked")).await;

    // Refusals that explain themselves.
    for (case, why) in [
        ("exec_id", "denied: no rule allows this command"),
        ("exec_sh", "denied: no rule allows this command"),
        ("exec_other_ns", "no rule for you covers namespace default"),
    ] {
        let (err, text) = call(out, case);
        assert!(err, "{case} was allowed: {text}");
        assert!(text.contains(why), "{case}: {text}");
        assert!(
            text.contains("Your policy allows exec only of these commands"),
            "{case}: {text}"
        );
    }

    // Over the budget: cut, with the truncation line, and still the recording id.
    let (err, text) = call(out, "exec_big");
    assert!(!err, "{text}");
    assert!(text.len() <= 32 * 1024, "{} bytes", text.len());
    assert!(
        text.contains("\n[truncated: showing the first "),
        "no truncation line"
    );
    assert!(
        text.contains("of 108894 bytes"),
        "{}",
        &text[text.len() - 300..]
    );

    // Secrets never; configmaps are not in agent-a's `read`.
    let (err, text) = call(out, "get_secrets");
    assert!(err && text.contains("never allowed"), "{text}");
    let (err, text) = call(out, "get_configmaps");
    assert!(err, "{text}");
    assert!(
        text.contains("read only [pods, events, deployments.apps]"),
        "{text}"
    );

    let (err, text) = call(out, "get_pods");
    assert!(!err && text.starts_with("NAME "), "{text}");
    assert!(text.contains("worker-0  1/1    Running  4"), "{text}");
    let (err, text) = call(out, "get_deploy");
    assert!(!err && text.contains("kind: Deployment"), "{text}");
    let (err, text) = call(out, "events");
    assert!(!err && text.contains("pod/api-7"), "{text}");

    // Describe: the OOM kill an on-call engineer looks for first.
    let (err, text) = call(out, "describe");
    assert!(!err, "{text}");
    assert!(
        text.contains("Last State:    Terminated: OOMKilled, exit code 137"),
        "{text}"
    );
    assert!(text.contains("Restart Count: 4"), "{text}");

    // One audit line per call, with its arguments.
    let audit = std::fs::read_to_string(audit_file).expect("audit");
    let lines: Vec<serde_json::Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON audit line"))
        .filter(|l: &serde_json::Value| l["verb"] == "mcp")
        .collect();
    assert_eq!(
        lines.len(),
        out["calls"].as_object().expect("calls").len(),
        "{audit}"
    );
    let sh = lines
        .iter()
        .find(|l| {
            l["argv"][0]
                .as_str()
                .unwrap_or_default()
                .contains("/var/run/secrets")
        })
        .expect("the sh call is audited with its arguments");
    assert_eq!(sh["resource"], "mcp/k8s_exec_readonly");
    assert_eq!(sh["decision"], "deny");

    // None of the refused execs or the huge log request reached the API server.
    let paths = sim_paths(bed);
    assert!(!paths.iter().any(|p| p.contains("command=id")), "{paths:?}");
    assert!(!paths.iter().any(|p| p.contains("command=sh")), "{paths:?}");
    assert!(
        !paths
            .iter()
            .any(|p| p.contains("/namespaces/default/pods/web-0/exec")),
        "{paths:?}"
    );
    assert!(
        !paths.iter().any(|p| p.contains("tailLines=100000")),
        "{paths:?}"
    );
    assert!(!paths.iter().any(|p| p.contains("/secrets")), "{paths:?}");
    assert!(
        !paths.iter().any(|p| p.contains("/configmaps")),
        "{paths:?}"
    );
    assert!(
        paths.iter().any(|p| p.contains("command=echo")),
        "{paths:?}"
    );
}
