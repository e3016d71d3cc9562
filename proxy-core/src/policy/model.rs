//! The policy file as written: serde types, one per YAML object, nothing interpreted yet.
//!
//! Every struct denies unknown keys, so a misspelt security setting (`maxOuputBytes`) is an
//! error naming its path instead of a silently absent limit. [`super::compile`] turns these
//! into the checked [`super::Policy`].

use std::collections::BTreeMap;

use serde::Deserialize;

/// The whole file.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct PolicyFile {
    pub(crate) api_version: String,
    pub(crate) kind: String,
    pub(crate) global: GlobalSpec,
    pub(crate) rules: Vec<RuleSpec>,
    /// `grants:` — what may be requested ([`super::grants`]).
    pub(crate) grants: Vec<GrantSpec>,
    /// `agents:` — identities that can never approve a grant.
    pub(crate) agents: SubjectsSpec,
}

/// One grant.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct GrantSpec {
    pub(crate) name: String,
    pub(crate) requesters: SubjectsSpec,
    pub(crate) approvers: SubjectsSpec,
    pub(crate) approvals: Option<u32>,
    pub(crate) auto_approve: SubjectsSpec,
    #[serde(rename = "maxTTL")]
    pub(crate) max_ttl: Option<String>,
    /// An elevation: a rule without `subjects`.
    pub(crate) rule: Option<RuleSpec>,
    /// A write.
    pub(crate) write: Option<WriteSpec>,
}

/// A write grant's scope.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct WriteSpec {
    pub(crate) actions: Vec<super::write::WriteVerb>,
    pub(crate) namespaces: Vec<String>,
    pub(crate) names: Option<Vec<String>>,
}

/// Limits that apply to everyone together.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct GlobalSpec {
    pub(crate) max_concurrent_streams: Option<u64>,
    pub(crate) max_concurrent_streams_per_identity: Option<u64>,
}

/// One rule.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RuleSpec {
    pub(crate) name: String,
    pub(crate) subjects: SubjectsSpec,
    pub(crate) namespaces: Vec<String>,
    pub(crate) namespace_selector: Option<SelectorSpec>,
    pub(crate) pods: Option<Vec<String>>,
    pub(crate) pod_selector: Option<SelectorSpec>,
    pub(crate) read: Vec<String>,
    pub(crate) logs: Option<LogsSpec>,
    pub(crate) exec: Option<ExecSpec>,
    pub(crate) attach: bool,
    pub(crate) port_forward: bool,
    pub(crate) ephemeral_containers: super::ephemeral::EphemeralSpec,
    pub(crate) rate_limit: Option<RateLimitSpec>,
    /// Mask secrets in exec/attach output and logs. Default true; only an explicit
    /// `false` turns it off.
    pub(crate) redact: Option<bool>,
    /// `metrics:` — present means the Prometheus gateway answers this rule's subjects,
    /// scoped and limited as it says ([`super::metrics`]).
    pub(crate) metrics: Option<MetricsSpec>,
}

/// Who a rule is for.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct SubjectsSpec {
    pub(crate) users: Vec<String>,
    pub(crate) groups: Vec<String>,
}

/// A Kubernetes label selector.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct SelectorSpec {
    pub(crate) match_labels: BTreeMap<String, String>,
    pub(crate) match_expressions: Vec<ExpressionSpec>,
}

/// One `matchExpressions` entry.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ExpressionSpec {
    pub(crate) key: String,
    pub(crate) operator: String,
    pub(crate) values: Vec<String>,
}

/// `logs:` — present means `pods/log` is allowed, within these maxima.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct LogsSpec {
    pub(crate) max_tail_lines: Option<u64>,
    pub(crate) max_since_seconds: Option<u64>,
    pub(crate) max_bytes: Option<Quantity>,
    pub(crate) max_duration: Option<String>,
    pub(crate) idle_timeout: Option<String>,
}

/// `exec:` — present means `pods/exec` is allowed for the listed commands.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ExecSpec {
    pub(crate) commands: Vec<Vec<String>>,
    pub(crate) stdin: bool,
    pub(crate) tty: bool,
    pub(crate) max_output_bytes: Option<Quantity>,
    pub(crate) max_duration: Option<String>,
    pub(crate) idle_timeout: Option<String>,
}

/// `rateLimit:`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RateLimitSpec {
    pub(crate) requests_per_second: Option<f64>,
    pub(crate) burst: Option<u64>,
    pub(crate) max_concurrent_streams: Option<u64>,
}

impl Eq for RateLimitSpec {}

/// A byte quantity as written: a plain number (`1048576`) or a string with a suffix (`1Mi`).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub(crate) enum Quantity {
    /// A bare integer.
    Number(u64),
    /// A string such as `10Mi`.
    Text(String),
}

/// `metrics:` — read-only PromQL through the Prometheus gateway.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct MetricsSpec {
    pub(crate) namespaces: Vec<String>,
    pub(crate) max_range: Option<String>,
    pub(crate) min_step: Option<String>,
    pub(crate) max_series: Option<u64>,
    pub(crate) max_result_bytes: Option<Quantity>,
    pub(crate) timeout: Option<String>,
    pub(crate) queries_per_minute: Option<u64>,
}
