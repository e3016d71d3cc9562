//! The audit line of one gateway request: caller, endpoint, original and rewritten query,
//! range, step, series counted, bytes returned, decision. Written to the same audit sink
//! as every other decision, one JSON line, never a credential.

use std::time::SystemTime;

use serde::Serialize;

use super::params::{Endpoint, Params};
use super::plan::{Plan, seconds};
use crate::auth::Identity;
use crate::policy::audit::rfc3339;

/// The most bytes of a caller's query written to the audit line (longer queries are
/// refused anyway; the line says how long it was).
pub const MAX_AUDITED_QUERY: usize = 1200;

fn bounded(mut q: String) -> String {
    if q.len() > MAX_AUDITED_QUERY {
        let len = q.len();
        let mut cut = MAX_AUDITED_QUERY;
        while !q.is_char_boundary(cut) {
            cut -= 1;
        }
        q.truncate(cut);
        q.push_str(&format!("… ({len} bytes)"));
    }
    q
}

/// One gateway audit line (`"verb": "promql"` tells it apart from Kubernetes decisions).
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MetricsAudit {
    /// When, RFC 3339 UTC.
    pub time: String,
    /// The caller.
    pub user: String,
    /// The caller's groups.
    pub groups: Vec<String>,
    /// Always `promql`.
    pub verb: &'static str,
    /// `query`, `query_range`, `series`, `labels`, `label_values`, `metadata`.
    pub endpoint: &'static str,
    /// The caller's query or `match[]` selectors.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub query: String,
    /// What was sent instead.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub rewritten: String,
    /// The start of the range, Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// The end (or the instant), Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// The step, seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<f64>,
    /// Series counted before the query ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series: Option<u64>,
    /// Body bytes returned.
    pub bytes: u64,
    /// Secrets masked in the answer.
    pub findings: u64,
    /// `allow` or `deny`.
    pub decision: &'static str,
    /// The rule that granted metrics.
    pub rule: Option<String>,
    /// Why it was refused.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

impl MetricsAudit {
    /// A line for `identity` calling `endpoint`, stamped now.
    pub fn new(identity: &Identity, endpoint: &Endpoint) -> MetricsAudit {
        MetricsAudit {
            time: rfc3339(SystemTime::now()),
            user: identity.user.clone(),
            groups: identity.groups.clone(),
            verb: "promql",
            endpoint: endpoint.name(),
            ..MetricsAudit::default()
        }
    }

    /// Takes the caller's query (or `match[]` selectors) from the request, before any check
    /// (a refused query is audited too), at most [`MAX_AUDITED_QUERY`] bytes of it.
    pub fn asked(&mut self, params: &Params) {
        let asked = match params.one("query") {
            Ok(Some(q)) => q.to_string(),
            _ => params.all("match[]").collect::<Vec<_>>().join("\n"),
        };
        self.query = bounded(asked);
    }

    /// Takes the query, rewrite, range and step from `plan`.
    pub fn planned(&mut self, plan: &Plan) {
        self.rewritten = plan.rewritten.clone();
        self.start = Some(seconds(plan.range.from_ms));
        self.end = Some(seconds(plan.range.to_ms));
        self.step = plan.step.map(|s| s.as_secs_f64());
    }
}
