//! Streamable HTTP at `/mcp` on the main listener: two agents, two tokens, each itself.

use serde_json::json;

use crate::bed::*;
use crate::support::python_has;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_agents_over_http_see_their_own_tools_and_limits() {
    if !python_has("mcp").await {
        return;
    }
    let bed = testbed().await;
    let url = format!("https://{}/mcp", bed.addr);
    let ca = bed.dir().join("ca.crt").display().to_string();
    let spec = |token: &str, calls: serde_json::Value| json!({"transport": "http", "url": url, "token": token, "ca": ca, "calls": calls});
    // agent-a: the full set of cases, over HTTP this time, plus a namespace of agent-b's.
    let mut a_calls = crate::agent_a::calls();
    a_calls.as_array_mut().expect("a list").push(json!(
        {"id": "logs_b_ns", "tool": "k8s_get_logs", "arguments": {"namespace": "default", "pod": "web-0"}}
    ));
    bed.sim.clear_requests();
    let a = run_client(bed.dir(), &spec(&bed.callers[0].token, a_calls)).await;
    let b_calls = json!([
        {"id": "get1", "tool": "k8s_get", "arguments": {"resource": "pods", "namespace": "default"}},
        {"id": "logs", "tool": "k8s_get_logs", "arguments": {"namespace": "default", "pod": "web-0", "tail_lines": 2}},
        {"id": "exec", "tool": "k8s_exec_readonly", "arguments": {"namespace": "default", "pod": "web-0", "command": ["echo", "hi"]}},
        {"id": "get2", "tool": "k8s_get", "arguments": {"resource": "pods", "namespace": "default", "name": "web-0"}},
        {"id": "get3", "tool": "k8s_get", "arguments": {"resource": "pods", "namespace": "default"}},
    ]);
    // The audit file also holds the decisions of each call's Kubernetes requests.
    crate::agent_a::check(&bed, &a, &bed.dir().join("audit.jsonl")).await;
    bed.sim.clear_requests();
    let b = run_client(bed.dir(), &spec(&bed.callers[1].token, b_calls)).await;

    // Each agent sees only what its own rule can allow.
    assert_eq!(tool_names(&a).len(), 5);
    assert_eq!(
        tool_names(&b),
        ["k8s_get_logs", "k8s_get", "k8s_describe_pod"]
    );

    let (err, text) = call(&a, "logs_b_ns");
    assert!(err && text.contains("namespace default"), "{text}");

    let (err, text) = call(&b, "get1");
    assert!(!err && text.contains("web-0"), "{text}");
    let (err, text) = call(&b, "logs");
    assert!(!err, "{text}");
    assert!(text.contains("kube-probe"), "the newest 2 lines: {text}");
    // A tool agent-b was not offered is refused as a tool result, not an error.
    let (err, text) = call(&b, "exec");
    assert!(err && text.contains("not available to you"), "{text}");
    let (err, text) = call(&b, "get2");
    assert!(!err && text.contains("name: web-0"), "{text}");
    // The fourth request of a burst of three: rate limited, with when to retry.
    let (err, text) = call(&b, "get3");
    assert!(err, "{text}");
    assert!(
        text.contains("rate limited") && text.contains("Retry after "),
        "{text}"
    );
    let paths = sim_paths(&bed);
    assert!(!paths.iter().any(|p| p.contains("/exec")), "{paths:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_serves_the_handshake_and_the_discover_protocol_versions() {
    if !python_has("mcp").await {
        return;
    }
    let bed = testbed().await;
    let transport = json!({
        "transport": "http",
        "url": format!("https://{}/mcp", bed.addr),
        "token": bed.callers[1].token,
        "ca": bed.dir().join("ca.crt").display().to_string(),
    });
    both_protocols(&bed, transport).await;
}

/// A page in a browser holding an agent's client certificate must not drive the gateway:
/// a request with an `Origin` is refused before any tool runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_origin_is_refused() {
    if !python_has("mcp").await {
        return;
    }
    let bed = testbed().await;
    let spec = json!({
        "transport": "http",
        "url": format!("https://{}/mcp", bed.addr),
        "token": bed.callers[0].token,
        "ca": bed.dir().join("ca.crt").display().to_string(),
        "origin": "https://evil.example",
        "calls": [],
    });
    bed.sim.clear_requests();
    let out = run_client(bed.dir(), &spec).await;
    assert_eq!(out["status"], 403, "{out}");
    assert!(sim_paths(&bed).is_empty(), "{:?}", sim_paths(&bed));
}
