//! The MCP Inspector CLI lists the tools over stdio.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::bed::*;

/// The Inspector version `.ci/run` installs.
const INSPECTOR: &str = "@modelcontextprotocol/inspector@2.12.0";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inspector_cli_lists_the_tools_over_stdio() {
    let npx = Command::new("npx").arg("--version").output().await;
    if !npx.is_ok_and(|o| o.status.success()) {
        assert!(
            std::env::var_os("CI").is_none(),
            "npx is required in CI (.ci/run installs node and the inspector)"
        );
        eprintln!("skipped: npx is not installed");
        return;
    }
    let bed = testbed().await;
    let config = stdio_config(&bed, "agent-b");
    let run = Command::new("npx")
        .args(["--yes", INSPECTOR, "--cli", "--method", "tools/list", "--"])
        .args([env!("CARGO_BIN_EXE_kubewitness"), "mcp", "--config"])
        .arg(&config)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .expect("the inspector timed out")
        .expect("npx runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let names: Vec<&str> = listed["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["k8s_get_logs", "k8s_get", "k8s_describe_pod"]);
}
