//! `kubewitness mcp --config FILE`: the MCP gateway over stdio for one agent.
//!
//! The identity is the config file's `mcp: {user, groups}`; nothing the agent sends can
//! change it. Stdout carries the protocol, so audit lines that would go to stdout go to
//! stderr instead, and logs go to stderr as for every command.

use std::path::PathBuf;

use proxy_core::auth::Identity;
use proxy_core::config::Config;
use proxy_core::mcp::Gateway;
use proxy_core::server::Proxy;

use crate::Failure;
use crate::cli::McpArgs;

pub(crate) async fn run(args: McpArgs) -> Result<(), Failure> {
    let cfg = config(&args)?;
    let identity = Identity {
        user: cfg.mcp.user.clone().unwrap_or_default(),
        uid: None,
        groups: cfg.mcp.groups.clone(),
        ..Identity::default()
    };
    let proxy = Proxy::from_config(&cfg)
        .await
        .map_err(|e| Failure::usage(anyhow::anyhow!(e)))?;
    Gateway::stdio(proxy, identity)
        .serve_stdio()
        .await
        .map_err(|e| Failure::from(anyhow::anyhow!(e)))
}

/// The file's configuration, checked; the identity comes from `mcp.user`, so no client
/// authentication is needed.
fn config(args: &McpArgs) -> Result<Config, Failure> {
    let mut cfg = Config::load(&args.config).map_err(Failure::usage)?;
    if cfg.mcp.user.is_none() {
        return Err(Failure::usage(anyhow::anyhow!(
            "{}: mcp.user is required: it is the identity every tool call is made as",
            args.config.display()
        )));
    }
    if cfg.audit.path.is_none() {
        cfg.audit.path = Some(PathBuf::from("/dev/stderr"));
    }
    if let Err(e) = cfg.validate() {
        let problems: Vec<String> = e
            .problems()
            .iter()
            .filter(|(path, _)| path != "auth")
            .map(|(path, problem)| format!("{path}: {problem}"))
            .collect();
        if !problems.is_empty() {
            return Err(Failure::usage(anyhow::anyhow!(problems.join("\n"))));
        }
    }
    Ok(cfg)
}
