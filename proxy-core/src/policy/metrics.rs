//! A rule's `metrics:` grant, checked: which namespaces' series its subjects may query
//! through the Prometheus gateway (`crate::prometheus`), and the hard limits that apply.
//!
//! ```yaml
//! metrics:
//!   namespaces: [shop, "payments-*"]   # injected as a matcher into every selector
//!   maxRange: 30m          # end - start, plus every range/subquery/offset lookback
//!   minStep: 10s
//!   maxSeries: 50000       # counted before the query runs
//!   maxResultBytes: 1Mi
//!   timeout: 30s
//!   queriesPerMinute: 30
//! ```
//!
//! Every limit has a default ([`DEFAULT_MAX_RANGE`] and the others), so a grant without
//! them is still bounded; only `namespaces` is required.

use std::sync::Arc;
use std::time::Duration;

use super::glob::Glob;
use super::model::MetricsSpec;
use super::{Policy, units};

/// `maxRange` when the rule does not say.
pub const DEFAULT_MAX_RANGE: Duration = Duration::from_secs(3600);
/// `minStep` when the rule does not say.
pub const DEFAULT_MIN_STEP: Duration = Duration::from_secs(15);
/// `maxSeries` when the rule does not say.
pub const DEFAULT_MAX_SERIES: u64 = 10_000;
/// The largest `maxSeries` accepted.
pub const MAX_MAX_SERIES: u64 = 1_000_000;
/// `maxResultBytes` when the rule does not say.
pub const DEFAULT_MAX_RESULT_BYTES: u64 = 1 << 20;
/// The largest `maxResultBytes` accepted (the gateway holds a response in memory).
pub const MAX_MAX_RESULT_BYTES: u64 = 16 << 20;
/// `timeout` when the rule does not say.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// `queriesPerMinute` when the rule does not say.
pub const DEFAULT_QUERIES_PER_MINUTE: u64 = 30;

/// The checked `metrics:` of one rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricsLimits {
    /// The namespaces whose series may be seen.
    pub namespaces: Vec<Glob>,
    /// The longest effective lookback of a query (range plus every lookback inside it).
    pub max_range: Duration,
    /// The smallest `query_range` step.
    pub min_step: Duration,
    /// The most series the selectors of one query may match.
    pub max_series: u64,
    /// The most response bytes returned; a larger result is cut, with a warning.
    pub max_result_bytes: u64,
    /// The backend's evaluation timeout for one query.
    pub timeout: Duration,
    /// Queries per minute per identity.
    pub queries_per_minute: u64,
}

impl MetricsLimits {
    /// The namespace matcher's regular expression: the globs as one anchored alternation
    /// (Prometheus anchors `=~` itself), `*` becoming `.*`, dots escaped.
    pub fn namespace_regex(&self) -> String {
        let parts: Vec<String> = self
            .namespaces
            .iter()
            .map(|g| g.as_str().replace('.', "\\.").replace('*', ".*"))
            .collect();
        parts.join("|")
    }

    /// Whether the grant covers namespace `ns`.
    pub fn covers(&self, ns: &str) -> bool {
        self.namespaces.iter().any(|g| g.matches(ns))
    }
}

/// Checks a rule's `metrics:`; problems go to `push` with their path under the rule.
pub(crate) fn compile(
    spec: &MetricsSpec,
    push: &mut impl FnMut(&str, String),
) -> Arc<MetricsLimits> {
    if spec.namespaces.is_empty() {
        push(
            "metrics.namespaces",
            "list the namespaces whose series may be queried (names or globs)".into(),
        );
    }
    let mut namespaces = Vec::new();
    for (j, g) in spec.namespaces.iter().enumerate() {
        match Glob::new(g) {
            Ok(g) => namespaces.push(g),
            Err(e) => push(&format!("metrics.namespaces[{j}]"), e),
        }
    }
    let mut dur = |v: &Option<String>, key: &str, default: Duration| match v {
        None => default,
        Some(s) => units::duration(s)
            .map_err(|m| push(&format!("metrics.{key}"), m))
            .unwrap_or(default),
    };
    let max_range = dur(&spec.max_range, "maxRange", DEFAULT_MAX_RANGE);
    let min_step = dur(&spec.min_step, "minStep", DEFAULT_MIN_STEP);
    let timeout = dur(&spec.timeout, "timeout", DEFAULT_TIMEOUT);
    let max_series = spec.max_series.unwrap_or(DEFAULT_MAX_SERIES);
    if !(1..=MAX_MAX_SERIES).contains(&max_series) {
        push(
            "metrics.maxSeries",
            format!("must be between 1 and {MAX_MAX_SERIES}"),
        );
    }
    let max_result_bytes = match &spec.max_result_bytes {
        None => DEFAULT_MAX_RESULT_BYTES,
        Some(q) => match units::bytes(q) {
            Ok(n) if n <= MAX_MAX_RESULT_BYTES => n,
            Ok(_) => {
                push("metrics.maxResultBytes", "at most 16Mi".into());
                DEFAULT_MAX_RESULT_BYTES
            }
            Err(m) => {
                push("metrics.maxResultBytes", m);
                DEFAULT_MAX_RESULT_BYTES
            }
        },
    };
    let queries_per_minute = spec
        .queries_per_minute
        .unwrap_or(DEFAULT_QUERIES_PER_MINUTE);
    if queries_per_minute == 0 {
        push("metrics.queriesPerMinute", "must be at least 1".into());
    }
    Arc::new(MetricsLimits {
        namespaces,
        max_range,
        min_step,
        max_series,
        max_result_bytes,
        timeout,
        queries_per_minute,
    })
}

/// Why the gateway answers nobody with this identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoMetricsGrant(pub String);

impl Policy {
    /// The first rule that applies to the caller and has a `metrics:` grant: its name and
    /// limits. Deny by default: no such rule, no metrics.
    pub fn metrics_grant(
        &self,
        user: &str,
        groups: &[String],
    ) -> Result<(String, Arc<MetricsLimits>), NoMetricsGrant> {
        self.rules
            .iter()
            .filter(|r| super::decide::applies_to_caller(r, user, groups))
            .find_map(|r| r.metrics.as_ref().map(|m| (r.name.clone(), m.clone())))
            .ok_or_else(|| NoMetricsGrant(format!("no rule grants metrics to user {user}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(metrics: &str) -> Result<Policy, super::super::PolicyError> {
        Policy::from_yaml(&format!(
            "apiVersion: kubewitness/v1\nkind: Policy\nrules:\n\
             - name: shop-metrics\n  subjects: {{groups: [sre]}}\n  metrics: {metrics}\n"
        ))
    }

    #[test]
    fn a_metrics_only_rule_compiles_with_defaults() {
        let p = policy("{namespaces: [shop, \"payments-*\"]}").unwrap();
        let groups = ["sre".to_string()];
        let (rule, m) = p.metrics_grant("alice", &groups).unwrap();
        assert_eq!(rule, "shop-metrics");
        assert_eq!(m.max_range, DEFAULT_MAX_RANGE);
        assert_eq!(m.max_series, DEFAULT_MAX_SERIES);
        assert_eq!(m.namespace_regex(), "shop|payments-.*");
        assert!(m.covers("payments-eu") && !m.covers("other"));
        let err = p.metrics_grant("bob", &[]).unwrap_err();
        assert!(err.0.contains("bob"), "{err:?}");
    }

    #[test]
    fn every_limit_is_read_and_checked_with_its_path() {
        let p = policy(
            "{namespaces: [shop], maxRange: 30m, minStep: 10s, maxSeries: 50000, \
             maxResultBytes: 1Mi, timeout: 30s, queriesPerMinute: 30}",
        )
        .unwrap();
        let (_, m) = p.metrics_grant("x", &["sre".into()]).unwrap();
        assert_eq!(m.max_range, Duration::from_secs(1800));
        assert_eq!(m.min_step, Duration::from_secs(10));
        assert_eq!(m.max_series, 50_000);
        assert_eq!(m.max_result_bytes, 1 << 20);
        assert_eq!(m.queries_per_minute, 30);
        let err = policy(
            "{namespaces: [], maxRange: 3x, maxSeries: 0, maxResultBytes: 1Gi, \
             queriesPerMinute: 0, maxSeriez: 1}",
        )
        .unwrap_err();
        assert!(err.problems()[0].0.contains("maxSeriez"), "{err}");
        let err = policy("{namespaces: [], maxRange: 3x, maxSeries: 0, queriesPerMinute: 0}")
            .unwrap_err();
        let paths: Vec<&str> = err.problems().iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "rules[0].metrics.namespaces",
                "rules[0].metrics.maxRange",
                "rules[0].metrics.maxSeries",
                "rules[0].metrics.queriesPerMinute"
            ]
        );
    }
}
