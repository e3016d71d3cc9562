//! The runtime keys of the configuration: the admin listener, the shutdown grace period
//! and logging.
//!
//! ```yaml
//! admin: {listen: 127.0.0.1:9090}      # /healthz, /readyz, /metrics; default: none
//! shutdownGrace: 30s                   # running sessions' time after SIGTERM
//! log: {level: info, format: auto}     # auto: JSON unless logging to a terminal
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

/// The default `shutdownGrace`: how long running sessions may go on after a shutdown begins.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// `admin:` — the admin listener (`/healthz`, `/readyz`, `/metrics`).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct AdminConfig {
    /// Where it listens (plain HTTP; keep it off the public network). Without it there is
    /// no admin listener.
    pub listen: Option<SocketAddr>,
}

/// `log:` — what `kubewitness serve` logs and how. `KUBEWITNESS_LOG` (then `RUST_LOG`)
/// overrides the level.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct LogConfig {
    /// A tracing filter: `info`, `debug`, `proxy_core=debug,info`. Default `info`.
    pub level: Option<String>,
    /// `json`, `text`, or `auto` (the default): JSON lines unless the log goes to a
    /// terminal. Text written to a file or a pipe never carries colour codes.
    pub format: LogFormat,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// JSON lines unless the log goes to a terminal.
    #[default]
    Auto,
    /// One JSON object a line.
    Json,
    /// Human-readable text (coloured only on a terminal).
    Text,
}

/// Parses a `shutdownGrace` value (`30s`, `2m`); `None` is the default.
pub(super) fn shutdown_grace(value: Option<&str>) -> Result<Duration, String> {
    match value {
        Some(s) => humantime::parse_duration(s).map_err(|e| format!("{s}: {e}")),
        None => Ok(DEFAULT_SHUTDOWN_GRACE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grace_parses_and_defaults() {
        assert_eq!(shutdown_grace(None), Ok(DEFAULT_SHUTDOWN_GRACE));
        assert_eq!(shutdown_grace(Some("2s")), Ok(Duration::from_secs(2)));
        assert!(shutdown_grace(Some("soon")).is_err());
    }
}
