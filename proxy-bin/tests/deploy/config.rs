//! The kubewitness configuration and policy embedded in the rendered ConfigMaps, parsed with
//! the real loaders, and checked against where the Deployment mounts things.

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Container;
use proxy_core::config::Config;
use proxy_core::policy::Policy;
use serde_yaml_ng::Value as Yaml;

/// Parses `text` with `Config::from_yaml`; `Err` is its first problem with the path.
pub(crate) fn parse_config(text: &str) -> Result<Config, String> {
    Config::from_yaml(text).map_err(|err| {
        let (path, problem) = err.problems()[0].clone();
        format!("{path}: {problem}")
    })
}

/// Parses a policy with the real loader.
pub(crate) fn parse_policy(text: &str) -> Result<Policy, String> {
    Policy::from_yaml(text).map_err(|e| e.to_string())
}

/// The file paths the configuration reads or writes, each with its key.
pub(crate) fn paths(config: &Config) -> Vec<(&'static str, PathBuf)> {
    let mut paths = Vec::new();
    if let Some(tls) = &config.tls {
        paths.push(("tls.cert", tls.cert.clone()));
        paths.push(("tls.key", tls.key.clone()));
        if let Some(ca) = &tls.client_ca {
            paths.push(("tls.clientCA", ca.clone()));
        }
    }
    if let Some(tokens) = &config.auth.token_file {
        paths.push(("auth.tokenFile", tokens.clone()));
    }
    if let Some(policy) = &config.policy {
        paths.push(("policy", policy.clone()));
    }
    if let Some(rec) = &config.recording {
        if let Some(key) = &rec.signing_key {
            paths.push(("recording.signingKey", key.clone()));
        }
        if let Some(spool) = &rec.spool_dir {
            paths.push(("recording.spoolDir", spool.clone()));
        }
    }
    paths
}

/// Every path of the configuration lies under one of the container's volume mounts: on a
/// read-only root filesystem anything else is missing or unwritable.
pub(crate) fn check_mounted(config: &Config, container: &Container) -> Result<(), String> {
    let mounts = container.volume_mounts.as_deref().unwrap_or_default();
    for (key, path) in paths(config) {
        let mounted = mounts
            .iter()
            .any(|m| path.starts_with(Path::new(&m.mount_path)));
        if !mounted {
            return Err(format!(
                "{key}: {} is under no volume mount of container {}",
                path.display(),
                container.name
            ));
        }
    }
    Ok(())
}

/// The `shutdownGrace` the configuration names (default 30 s), read from the YAML itself
/// while `Config` does not know the key.
pub(crate) fn shutdown_grace(text: &str) -> Result<std::time::Duration, String> {
    let doc: Yaml = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
    match &doc["shutdownGrace"] {
        Yaml::Null => Ok(std::time::Duration::from_secs(30)),
        Yaml::String(s) => humantime::parse_duration(s).map_err(|e| format!("shutdownGrace: {e}")),
        other => Err(format!("shutdownGrace: {other:?} is not a duration")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = include_str!("../../../deploy/base/config.yaml");

    #[test]
    fn the_base_config_parses_and_a_planted_typo_does_not() {
        parse_config(BASE).unwrap();
        let err = parse_config(&BASE.replace("spoolDir:", "spoolDirectory:")).unwrap_err();
        assert!(err.starts_with("recording.spoolDirectory: "), "{err}");
        assert!(err.contains("unknown field `spoolDirectory`"), "{err}");
        // The runtime, OIDC and TokenRequest keys are checked like every other.
        let err = parse_config(&BASE.replace("admin:", "admn:")).unwrap_err();
        assert!(err.starts_with("admn: "), "{err}");
        assert!(err.contains("unknown field `admn`"), "{err}");
    }

    #[test]
    fn the_commented_oidc_example_parses_when_switched_on() {
        let on: String = BASE
            .lines()
            .map(|l| match l.strip_prefix("  # ") {
                Some(rest) if rest.starts_with("oidc:") || rest.starts_with("  ") => {
                    format!("  {rest}")
                }
                _ => l.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n");
        let config = parse_config(&on).unwrap();
        let oidc = config.auth.oidc.expect("the example switched on");
        assert_eq!(oidc.client_id, "kubewitness");
        let err = parse_config(&on.replace("clientID:", "clientId:")).unwrap_err();
        assert!(err.contains("clientId"), "{err}");
    }

    #[test]
    fn shutdown_grace_is_read() {
        assert_eq!(shutdown_grace(BASE).unwrap().as_secs(), 30);
        assert!(shutdown_grace("shutdownGrace: soon\n").is_err());
    }
}
