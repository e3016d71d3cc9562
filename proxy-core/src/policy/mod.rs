//! The policy: who may do what, through kubewitness, deny by default.
//!
//! A policy file (`apiVersion: kubewitness/v1`, `kind: Policy`) is a list of rules. A rule
//! names its subjects (users, groups), where it applies (namespace and pod globs, optional
//! label selectors resolved against the API server), what it allows (`read` of listed
//! resources, `logs`, `exec` of listed argv patterns, `attach`) and the limits that then
//! apply (log maxima, output cap, timeouts, rate limits). A request is allowed only if some
//! rule that matches the caller allows it; the first such rule's limits apply.
//!
//! The design keeps the decision pure: [`Policy::decide`] takes the classified request
//! and the label [`Facts`] already looked up, and returns a [`Decision`] with the rule and
//! a reason, so `kubewitness policy explain`, the server and the table tests all run the
//! same code. What needs I/O lives elsewhere: label lookups ([`labels`]), rate limits
//! ([`limiter`]), session caps and timers ([`filters`]), reload ([`store`]), audit
//! ([`audit`]).
//!
//! Parsing is strict: unknown keys, bad globs, `**` not last, zero limits, duplicate rule
//! names are errors, each reported with its path ([`PolicyError::problems`]).

mod action;
pub mod audit;
mod compile;
mod decide;
mod ephemeral;
pub mod filters;
mod glob;
pub mod grants;
mod grants_compile;
pub mod labels;
pub mod limiter;
mod logs;
pub mod metrics;
mod model;
mod reach;
mod review;
mod selector;
pub mod store;
mod units;
pub mod write;

#[cfg(test)]
mod grants_tests;
#[cfg(test)]
mod scope_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod write_parse_tests;
#[cfg(test)]
mod write_tests;

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub use compile::{
    API_VERSION, DEFAULT_LOG_IDLE_TIMEOUT, DEFAULT_LOG_MAX_DURATION,
    DEFAULT_MAX_CONCURRENT_STREAMS, DEFAULT_STREAM_SHARE, KIND, MAX_RULES,
};
pub use decide::{Action, Decision, Facts, Lookup, Needs, Request};
pub use ephemeral::{EphemeralRule, MAX_IMAGE_LEN};
pub use glob::{Glob, MAX_GLOB_LEN};
pub use grants::{Elevated, Gives, GrantDef, Subjects, WriteScope};
pub use logs::{LogQueryError, clamp_log_query};
pub use metrics::MetricsLimits;
pub use reach::Reach;
pub use review::{Permission, READ_VERBS, STREAM_VERBS};
pub use selector::{Labels, Selector};
pub use units::{MAX_DURATION, MAX_QUANTITY};
pub use write::{Workload, WriteAction, WriteVerb};

/// The built-in policy used when no file is configured: any authenticated caller may read
/// pods and events (`kubectl describe pod` lists them), read logs, exec any command (with
/// stdin and a terminal) and attach; everything else is denied.
pub const BUILTIN_POLICY: &str = "\
apiVersion: kubewitness/v1
kind: Policy
rules:
- name: builtin
  subjects: {groups: [\"system:authenticated\"]}
  namespaces: [\"*\"]
  read: [pods, events]
  logs: {}
  exec: {commands: [[\"**\"]], stdin: true, tty: true}
  attach: true
";

/// The group every authenticated caller belongs to, as in Kubernetes.
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";

/// A checked policy.
#[derive(Clone, Debug)]
pub struct Policy {
    rules: Vec<Rule>,
    global: GlobalLimits,
    warnings: Vec<(String, String)>,
    /// `grants:`, in file order.
    grants: Vec<GrantDef>,
    /// `agents:`.
    agents: Subjects,
}

/// Limits that apply to all callers together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GlobalLimits {
    /// The most streams (exec, attach, logs, port-forward, watch) running at once, for
    /// everyone.
    pub max_concurrent_streams: u64,
    /// The most streams one identity may hold at once, whatever its rule says: a share of
    /// `max_concurrent_streams`, so no single caller can take every slot.
    pub max_concurrent_streams_per_identity: u64,
}

/// One checked rule.
#[derive(Clone, Debug)]
pub struct Rule {
    name: String,
    users: Vec<String>,
    groups: Vec<String>,
    namespaces: Vec<Glob>,
    namespace_selector: Option<Selector>,
    pods: Vec<Glob>,
    pod_selector: Option<Selector>,
    read: Vec<ResourceRef>,
    logs: bool,
    exec: Option<ExecRule>,
    attach: bool,
    port_forward: bool,
    ephemeral_containers: bool,
    limits: Arc<Limits>,
    /// `metrics:`: what the Prometheus gateway allows the rule's subjects.
    metrics: Option<Arc<MetricsLimits>>,
}

impl Rule {
    /// The rule's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The limits that apply to requests this rule allows.
    pub fn limits(&self) -> &Arc<Limits> {
        &self.limits
    }
}

/// What a rule's `exec:` allows.
#[derive(Clone, Debug)]
struct ExecRule {
    commands: Vec<Vec<ArgPattern>>,
    stdin: bool,
    tty: bool,
    limits: SessionLimits,
}

/// One element of an argv pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
enum ArgPattern {
    /// Exactly this argument.
    Literal(String),
    /// `*`: exactly one argument, any value.
    One,
    /// `**`: any remaining arguments, including none (last only).
    Rest,
}

/// Whether `argv` matches `pattern`.
fn argv_matches(pattern: &[ArgPattern], argv: &[String]) -> bool {
    match (pattern.split_first(), argv.split_first()) {
        (Some((ArgPattern::Rest, _)), _) => true,
        (None, None) => true,
        (Some((ArgPattern::One, p)), Some((_, a))) => argv_matches(p, a),
        (Some((ArgPattern::Literal(l), p)), Some((x, a))) => l == x && argv_matches(p, a),
        _ => false,
    }
}

/// A `read:` entry: `resource`, `resource.group`, optionally `/subresource`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ResourceRef {
    resource: String,
    /// `None`: any group.
    group: Option<String>,
    subresource: Option<String>,
}

impl ResourceRef {
    fn parse(s: &str) -> Result<ResourceRef, String> {
        let (main, sub) = match s.split_once('/') {
            Some((m, sub)) => (m, Some(sub)),
            None => (s, None),
        };
        let (resource, group) = match main.split_once('.') {
            Some((r, g)) => (r, Some(g)),
            None => (main, None),
        };
        let name_ok = |x: &str| {
            !x.is_empty()
                && x.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        };
        if !name_ok(resource) || !group.is_none_or(name_ok) || !sub.is_none_or(name_ok) {
            return Err(format!(
                "`{s}` is not a resource: write `pods`, `deployments.apps` or `pods/status` (lower case, no wildcards)"
            ));
        }
        if let Some(sub) = sub
            && NOT_READABLE_SUBRESOURCES.contains(&sub)
        {
            return Err(format!(
                "`{s}`: `{sub}` cannot be granted by `read` (use `logs`, `exec`, `attach`; proxy tunnels are never allowed)"
            ));
        }
        Ok(ResourceRef {
            resource: resource.into(),
            group: group.map(String::from),
            subresource: sub.map(String::from),
        })
    }

    fn matches(&self, group: &str, resource: &str, subresource: Option<&str>) -> bool {
        self.resource == resource
            && self.group.as_deref().is_none_or(|g| g == group)
            && self.subresource.as_deref() == subresource
    }
}

/// Subresources `read` can never grant.
const NOT_READABLE_SUBRESOURCES: &[&str] = &[
    "proxy",
    "exec",
    "attach",
    "portforward",
    "log",
    "ephemeralcontainers",
];

/// The limits a rule attaches to what it allows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Limits {
    /// Log request maxima.
    pub logs: LogLimits,
    /// exec/attach session limits.
    pub session: SessionLimits,
    /// Per-identity request rate and stream limits.
    pub rate: Option<RateLimit>,
    /// Output goes to the client without secret redaction (the rule says `redact: false`).
    /// `false` — redacted — unless a rule says otherwise.
    pub unredacted: bool,
    /// The ephemeral containers (`kubectl debug`) the rule allows.
    pub ephemeral: Option<EphemeralRule>,
}

/// Maxima for `pods/log` parameters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogLimits {
    /// `tailLines` at most this; a request without it gets this.
    pub max_tail_lines: Option<u64>,
    /// `sinceSeconds` at most this; a request without it gets this.
    pub max_since_seconds: Option<u64>,
    /// `limitBytes` at most this; a request without it gets this.
    pub max_bytes: Option<u64>,
    /// How long a log stream (above all `follow=true`) may run.
    pub max_duration: Option<Duration>,
    /// How long a log stream may go without a byte.
    pub idle_timeout: Option<Duration>,
}

impl LogLimits {
    /// The session limits a log stream runs under.
    pub fn session(&self) -> SessionLimits {
        SessionLimits {
            max_output_bytes: None,
            max_duration: self.max_duration,
            idle_timeout: self.idle_timeout,
        }
    }
}

/// Limits enforced while an exec or attach session runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionLimits {
    /// Bytes of stdout + stderr the client may receive.
    pub max_output_bytes: Option<u64>,
    /// How long the session may run.
    pub max_duration: Option<Duration>,
    /// How long the session may go without a byte in either direction.
    pub idle_timeout: Option<Duration>,
}

/// A per-identity token bucket and stream limit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    /// Sustained requests per second; `None` for no request rate limit.
    pub requests_per_second: Option<f64>,
    /// Bucket size.
    pub burst: u64,
    /// Concurrent exec/attach/logs streams.
    pub max_concurrent_streams: Option<u64>,
}

/// Every problem found in a policy, each with its path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyError {
    problems: Vec<(String, String)>,
}

impl PolicyError {
    /// `(path, problem)` pairs, in file order.
    pub fn problems(&self) -> &[(String, String)] {
        &self.problems
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::files::write_problems(f, &self.problems)
    }
}

impl std::error::Error for PolicyError {}

/// The largest policy file read.
pub const MAX_POLICY_FILE: u64 = 4 << 20;

impl Policy {
    /// Parses and checks YAML.
    pub fn from_yaml(text: &str) -> Result<Policy, PolicyError> {
        let de = serde_yaml_ng::Deserializer::from_str(text);
        let file: model::PolicyFile = serde_path_to_error::deserialize(de).map_err(|err| {
            let path = err.path().to_string();
            let path = if path == "." { String::new() } else { path };
            PolicyError {
                problems: vec![(path, err.into_inner().to_string())],
            }
        })?;
        let (mut problems, mut warnings) = (Vec::new(), Vec::new());
        let (grants, agents) = grants_compile::compile(&file, &mut problems, &mut warnings);
        match compile::compile(&file) {
            Ok(mut policy) if problems.is_empty() => {
                policy.grants = grants;
                policy.agents = agents;
                policy.warnings.extend(warnings);
                Ok(policy)
            }
            Ok(_) => Err(PolicyError { problems }),
            Err(mut first) => {
                first.extend(problems);
                Err(PolicyError { problems: first })
            }
        }
    }

    /// Reads and checks a file.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let text = <Policy as crate::watched::FromFile>::read(path)?;
        Policy::from_yaml(&text)
    }

    /// The built-in policy ([`BUILTIN_POLICY`]).
    pub fn builtin() -> Policy {
        Policy::from_yaml(BUILTIN_POLICY).expect("the built-in policy is valid")
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The global limits.
    pub fn global(&self) -> GlobalLimits {
        self.global
    }

    /// Settings that are accepted but do not do what a reader might expect, with paths.
    pub fn warnings(&self) -> &[(String, String)] {
        &self.warnings
    }
}
