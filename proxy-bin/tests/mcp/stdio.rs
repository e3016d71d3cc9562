//! `kubewitness mcp` over stdio, as agent-a (fixed by the config file), driven by the
//! official Python SDK: every acceptance case but the rate limit (see `http.rs`).

use serde_json::json;

use crate::bed::*;
use crate::support::python_has;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_agent_gets_redacted_clamped_recorded_results_and_explained_denials() {
    if !python_has("mcp").await {
        return;
    }
    let bed = testbed().await;
    let config = stdio_config(&bed, "agent-a");
    let spec = json!({
        "transport": "stdio",
        "command": env!("CARGO_BIN_EXE_kubewitness"),
        "args": ["mcp", "--config", config.display().to_string()],
        "calls": crate::agent_a::calls(),
    });
    bed.sim.clear_requests();
    let out = run_client(bed.dir(), &spec).await;

    crate::agent_a::check(&bed, &out, &bed.dir().join("audit-mcp.jsonl")).await;
}

/// Both ways the Python SDK speaks: the `initialize` handshake (up to 2025-11-25) and the
/// 2026-07-28 protocol's `server/discover`; the same tools and answers either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_serves_the_handshake_and_the_discover_protocol_versions() {
    if !python_has("mcp").await {
        return;
    }
    let bed = testbed().await;
    let config = stdio_config(&bed, "agent-b");
    let transport = json!({
        "transport": "stdio",
        "command": env!("CARGO_BIN_EXE_kubewitness"),
        "args": ["mcp", "--config", config.display().to_string()],
    });
    crate::bed::both_protocols(&bed, transport).await;
}
