//! `grants:` in the configuration: how approved access requests reach the API server and
//! who hears about them. (What may be requested is the policy's `grants:` list.)

use serde::Deserialize;

/// The group every request made under an access grant carries upstream, besides the
/// requester's own.
pub const DEFAULT_BREAKGLASS_GROUP: &str = "kubewitness:breakglass";

/// `grants:` — access requests.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct GrantsConfig {
    /// The group added upstream to requests made under a grant (default
    /// [`DEFAULT_BREAKGLASS_GROUP`]); a minimal ClusterRole binds it.
    pub breakglass_group: Option<String>,
    /// A webhook told of every request, approval, denial, revocation, use and expiry.
    pub notify: Option<NotifyConfig>,
}

/// `grants.notify:` — a JSON webhook (Slack-compatible `text`).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct NotifyConfig {
    /// `https://…` (or `http://` on loopback).
    pub url: String,
    /// How long one delivery may take (`5s` when not set).
    pub timeout: Option<String>,
}

impl GrantsConfig {
    /// The breakglass group in force.
    pub fn breakglass_group(&self) -> &str {
        self.breakglass_group
            .as_deref()
            .unwrap_or(DEFAULT_BREAKGLASS_GROUP)
    }
}
