//! The MCP Inspector CLI lists the tools over stdio.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::bed::*;

/// The Inspector `.ci/run` installs (`npm install --global`), and npx fetches otherwise.
const INSPECTOR: &str = "@modelcontextprotocol/inspector@2.12.0";

/// The installed `mcp-inspector`, else `npx --yes INSPECTOR`; `None` without either.
async fn inspector() -> Option<Command> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    if let Some(bin) = std::env::split_paths(&path)
        .map(|d| d.join("mcp-inspector"))
        .find(|p| p.is_file())
    {
        return Some(Command::new(bin));
    }
    let npx = Command::new("npx").arg("--version").output().await;
    if npx.is_ok_and(|o| o.status.success()) {
        let mut cmd = Command::new(PathBuf::from("npx"));
        cmd.args(["--yes", INSPECTOR]);
        return Some(cmd);
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inspector_cli_lists_the_tools_over_stdio() {
    let Some(mut cmd) = inspector().await else {
        assert!(
            std::env::var_os("CI").is_none(),
            "the MCP Inspector is required in CI (.ci/run installs it with npm)"
        );
        eprintln!(
            "skipped: neither mcp-inspector nor npx is installed (npm install -g {INSPECTOR})"
        );
        return;
    };
    let bed = testbed().await;
    let config = stdio_config(&bed, "agent-b");
    let run = cmd
        .args(["--cli", "--method", "tools/list", "--"])
        .args([env!("CARGO_BIN_EXE_kubewitness"), "mcp", "--config"])
        .arg(&config)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .expect("the inspector timed out")
        .expect("the inspector runs");
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
    // agent-b reads pods and logs: no exec, no events.
    assert_eq!(names, ["k8s_get_logs", "k8s_get", "k8s_describe_pod"]);
}
